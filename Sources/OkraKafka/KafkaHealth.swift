import CoreMetrics
import Logging
import Synchronization

/// What the bridge knows of its connection to Kafka, across every producer it makes (a producer
/// that turned fatal is replaced; the health stays).
///
/// Producers report each failure (an error event, a failed delivery report, a refused enqueue)
/// and each successful delivery. The health counts failures by ``KafkaErrorKind`` in
/// `okra_bridge_kafka_errors_total{kind}` (every kind present from the start, at 0), keeps the
/// connection's state for `/readyz`, and logs each kind at most once per `logInterval` with the
/// number of failures since its last line, so an outage that retries every few milliseconds
/// writes one line a minute, not one per retry.
public final class KafkaHealth: Sendable {
    /// The connection's state.
    public enum State: String, Sendable {
        /// Nothing delivered and nothing failed yet.
        case unknown
        /// The last thing that happened was a delivery, or a broker answered.
        case ok
        /// The last thing that happened was a failure of the connection.
        case failing
    }

    /// The state, and for a failing connection the kind and librdkafka's words for it.
    public struct Status: Sendable, Equatable {
        /// The state.
        public var state: State
        /// The kind of the failure, when failing.
        public var kind: KafkaErrorKind?
        /// What failed, when failing: librdkafka's text (it names the broker and, for TLS, what
        /// did not verify), with the configured secrets masked in case a client put one there.
        public var reason: String?

        /// A status.
        public init(state: State, kind: KafkaErrorKind? = nil, reason: String? = nil) {
            self.state = state
            self.kind = kind
            self.reason = reason
        }
    }

    /// The kinds that name why a connection failed. librdkafka follows a failed handshake or
    /// login with a `transport` error ("1/1 brokers are down"), which must not hide it.
    static let causes: Set<KafkaErrorKind> = [.tls, .authentication, .clusterAuthorization]

    private struct Tally {
        var status = Status(state: .unknown)
        /// Per kind: when its last line was written, and the failures since.
        var lines: [KafkaErrorKind: (at: ContinuousClock.Instant, since: Int)] = [:]
    }

    private let tally = Mutex(Tally())
    private let counters: [KafkaErrorKind: Counter]
    private let logger: Logger
    private let logInterval: Duration
    private let now: @Sendable () -> ContinuousClock.Instant
    private let secrets: [String]

    /// - Parameters:
    ///   - secrets: values that must never be shown (`sasl.password` and the like): masked in
    ///     every reason this health stores or logs.
    ///   - logInterval: the shortest time between two log lines of one kind.
    ///   - now: the clock (tests move it).
    public init(
        logger: Logger,
        metrics: MetricsFactory = MetricsSystem.factory,
        secrets: [String] = [],
        logInterval: Duration = .seconds(60),
        now: @escaping @Sendable () -> ContinuousClock.Instant = { .now }
    ) {
        self.logger = logger
        self.secrets = secrets.filter { $0.count >= 4 }
        self.logInterval = logInterval
        self.now = now
        var counters: [KafkaErrorKind: Counter] = [:]
        for kind in KafkaErrorKind.allCases {
            let counter = Counter(label: "okra_bridge_kafka_errors_total", dimensions: [("kind", kind.rawValue)], factory: metrics)
            counter.increment(by: 0)
            counters[kind] = counter
        }
        self.counters = counters
    }

    /// The connection's state now.
    public var status: Status { tally.withLock { $0.status } }

    /// Counts `count` failures like `error` (errors without a kind, such as a full local queue or
    /// a shutdown, are not Kafka's and are ignored), and logs the kind unless it was logged
    /// within `logInterval`. A failure of the connection makes the state failing; a refusal of
    /// one record or topic leaves it as it is.
    public func failed(_ error: KafkaError, count: Int = 1) {
        guard let kind = error.kind, count > 0 else { return }
        let reason = secrets.reduce(error.reason) { $0.replacingOccurrences(of: $1, with: "***") }
        counters[kind]?.increment(by: count)
        let instant = now()
        let line: Int? = tally.withLock { tally in
            if tally.status.namesCause(over: kind) {
                // "All brokers are down" after a failed handshake: counted, and said with the
                // next line of its own kind, but the cause's line already told the operator.
                tally.lines[kind, default: (instant - logInterval, 0)].since += count
                return nil
            }
            if kind.isConnectionFailure { tally.status = Status(state: .failing, kind: kind, reason: reason) }
            if let last = tally.lines[kind], instant - last.at < logInterval {
                tally.lines[kind] = (last.at, last.since + count)
                return nil
            }
            let since = (tally.lines[kind]?.since ?? 0) + count
            tally.lines[kind] = (instant, 0)
            return since
        }
        guard let line else { return }
        let metadata: Logger.Metadata = [
            "kafka.kind": "\(kind)", "kafka.error": "\(error.librdkafkaName ?? "-")", "kafka.reason": "\(reason)",
            "kafka.errors_since_last_line": "\(line)", "kafka.next_line_after": "\(logInterval)",
        ]
        if kind.isConnectionFailure {
            logger.warning("Kafka connection failing; records stay pending and are retried in order", metadata: metadata)
        } else {
            logger.warning("Kafka refused a record or its topic; such records are parked", metadata: metadata)
        }
    }

    /// A delivery succeeded: the connection is ok. The first success after a failure is logged once.
    public func succeeded() { clear { _ in true } }

    /// A broker answered a metadata request: the connection works, so a failure of the network,
    /// TLS or SASL is over. One of authorization or of the producer is not (metadata needs no
    /// producer id), and stays until a delivery succeeds.
    public func reachable() {
        clear { [.transport, .tls, .authentication, .timeout, .broker].contains($0) }
    }

    /// Makes the state ok unless it is failing with a kind `clears` keeps.
    private func clear(_ clears: (KafkaErrorKind) -> Bool) {
        let recovered: Status? = tally.withLock { tally in
            guard tally.status.state != .ok else { return nil }
            if tally.status.state == .failing, let kind = tally.status.kind, !clears(kind) { return nil }
            defer { tally.status = Status(state: .ok) }
            return tally.status.state == .failing ? tally.status : nil
        }
        if let recovered {
            logger.notice("Kafka connection working again", metadata: ["kafka.kind": "\(recovered.kind.map { "\($0)" } ?? "-")"])
        }
    }
}

extension KafkaHealth.Status {
    /// Whether this state already names the cause of a `transport` error (one that follows a
    /// failed TLS handshake or login). Every other kind, `fatal` included, has its own line.
    fileprivate func namesCause(over kind: KafkaErrorKind) -> Bool {
        guard kind == .transport, state == .failing, let current = self.kind else { return false }
        return KafkaHealth.causes.contains(current)
    }
}
