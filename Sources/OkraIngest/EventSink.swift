import OkraEnvelope

/// Where ``Ingest`` hands accepted events: the port between the pipeline and the delivery
/// mode. The durable store (`OkraStore`) and direct delivery (`OkraPublisher`) implement it; the
/// pipeline's tests use one in memory.
public protocol EventSink: Sendable {
    /// Makes the event's records durable (or delivered) and returns once they are; a 200 is
    /// answered only after it returned.
    /// - Throws: any error when that could not be done; the request is answered 503.
    func accept(_ event: RoutedEvent) async throws -> SinkAcceptance

    /// The sink's part of `/readyz`.
    func readiness() async -> SinkReadiness

    /// The name of the span ``accept(_:)`` is traced as (a child of the webhook's span).
    var acceptSpanName: String { get }
}

extension EventSink {
    /// `accept`, for a sink that names its work no better.
    public var acceptSpanName: String { "accept" }
}

/// What a sink did with an event.
public enum SinkAcceptance: Sendable, Equatable {
    /// Durable (or delivered); its records will be (or were) published.
    case accepted
    /// Its id was seen within the dedupe window; nothing stored.
    case duplicate
}

/// A sink's part of `/readyz`: its store, its Kafka connection, and what keeps it from being
/// ready (nothing when ready).
public struct SinkReadiness: Sendable, Equatable {
    /// The store's state.
    public enum Store: String, Sendable {
        /// No store (direct delivery).
        case none
        /// Open and below its bound.
        case accepting
        /// At its bound: new events are answered 503.
        case full
        /// The data volume is full: new events are answered 503 until the publisher freed space.
        case volumeFull = "volume full"
        /// It could not be read.
        case unreadable
    }

    /// What is known of the connection to Kafka: `{"state":...,"kind":...,"reason":...}` in
    /// `/readyz`. In durable mode a failing connection does not make the bridge unready (the
    /// store rides it out); in direct mode it does.
    public struct Kafka: Sendable, Equatable {
        /// The connection's state.
        public enum State: String, Sendable {
            /// Nothing delivered, nothing failed, no broker asked yet.
            case unknown
            /// The last delivery succeeded, or a broker answered.
            case ok
            /// The last thing seen was a failure of the connection.
            case failing
        }

        /// The state.
        public var state: State
        /// The kind of failure (`tls`, `authentication`, `transport`...), when failing.
        public var kind: String?
        /// What failed, in librdkafka's words, when failing.
        public var reason: String?

        /// A state, with its kind and reason when failing.
        public init(_ state: State, kind: String? = nil, reason: String? = nil) {
            self.state = state
            self.kind = kind
            self.reason = reason
        }

        /// Nothing known yet.
        public static let unknown = Kafka(.unknown)
        /// Working.
        public static let ok = Kafka(.ok)
    }

    /// The store's state.
    public var store: Store
    /// Kafka's state.
    public var kafka: Kafka
    /// One line per reason the sink is not ready.
    public var problems: [String]
    /// Records Kafka refused for good, kept in the store (nil without a store). They do not
    /// make the bridge unready: everything after them is delivered.
    public var parked: Int?

    /// A sink's readiness.
    public init(store: Store, kafka: Kafka, problems: [String] = [], parked: Int? = nil) {
        self.store = store
        self.kafka = kafka
        self.problems = problems
        self.parked = parked
    }
}

/// The whole of `/readyz`: the active routes and the sink.
public struct Readiness: Sendable, Equatable {
    /// SHA-256 of the active routes file.
    public var routesSHA256: String
    /// The sink's part.
    public var sink: SinkReadiness

    /// Ready when nothing keeps the sink from accepting.
    public var isReady: Bool { sink.problems.isEmpty }
}
