import Foundation
import OkraEnvelope

// The operations port (the contract's §9): what the admin API and the CLI ask of the event
// log. The durable store implements it; direct mode has none.

/// Which event log entries an operation is about. Every field that is set must match.
public struct EventFilter: Sendable, Equatable {
    /// `recordedtime` at or after.
    public var since: Date?
    /// `recordedtime` before.
    public var until: Date?
    /// The event id.
    public var id: String?
    /// `okrarecord`.
    public var record: String?
    /// `okracustomer`.
    public var customer: String?
    /// `okraaccount`.
    public var account: String?
    /// `type`, `*` matching any run of characters.
    public var type: String?
    /// `okraproduct`.
    public var product: OkraProduct?
    /// `okraoutcome`.
    public var outcome: OkraOutcome?
    /// `okraenv`.
    public var env: OkraEnvironment?
    /// `okracode`, `*` matching any run of characters.
    public var code: String?
    /// Entries with at least one record in this state.
    public var state: LoggedRecord.State?
    /// Dead letters only (true) or events only (false).
    public var deadletter: Bool?

    /// No condition: every entry.
    public init() {}

    /// `value` as one of `T`'s words, or an error naming the filter and every word it takes (the
    /// API answers it with 400, the command line exits 2 with it): a misspelt word never
    /// quietly matches nothing.
    public static func word<T: RawRepresentable & CaseIterable>(_ value: String, for key: String, as type: T.Type = T.self) throws(OperationsError) -> T
        where T.RawValue == String {
        guard let word = T(rawValue: value) else {
            let words = T.allCases.map(\.rawValue)
            throw OperationsError("\(key) takes \(words.dropLast().joined(separator: ", ")) or \(words.last ?? ""), got \(value)")
        }
        return word
    }
}

/// One routed record of an entry and what became of it.
public struct LoggedRecord: Sendable, Equatable {
    /// What became of a record.
    public enum State: String, Sendable, CaseIterable, Codable {
        /// In the outbox, not yet confirmed by Kafka.
        case pending
        /// Confirmed by Kafka.
        case published
        /// Refused by Kafka for good; kept in the store (§6).
        case parked
        /// Not published: discarded by an operator, or the event was dropped by a route.
        case dropped
    }

    /// The topic (nil when a route dropped the event).
    public var topic: String?
    /// The key.
    public var key: String?
    /// The route that produced it (nil for the defaults and dead letters).
    public var route: String?
    /// Its state now.
    public var state: State
    /// Kafka's error, when parked.
    public var error: String?

    /// A record on `topic` in `state`.
    public init(topic: String?, key: String?, route: String?, state: State, error: String? = nil) {
        self.topic = topic
        self.key = key
        self.route = route
        self.state = state
        self.error = error
    }
}

/// One entry of the event log: an accepted request, as the bridge made it.
public struct LogEntry: Sendable, Equatable {
    /// Its place in the log (increasing; also the cursor of listings).
    public var entry: Int64
    /// The envelope's id (nil for a dead letter of a body that is no event).
    public var id: String?
    /// When the bridge received it (milliseconds since 1970).
    public var recordedAtMilliseconds: Int64
    /// The envelope (its `data` the body as received); nil for a dead letter without one.
    public var envelope: CanonicalEvent?
    /// The environment of the token it came with (nil without tokens).
    public var tokenEnvironment: OkraEnvironment?
    /// Whether it went to the dead-letter topic.
    public var deadletter: Bool
    /// Why, for a dead letter (`malformed-json`, `not-an-object`, `unrecognized`).
    public var reason: String?
    /// The body as received.
    public var body: [UInt8]
    /// How many later deliveries of the same id were answered as duplicates.
    public var duplicates: Int
    /// Each routed record, in order, with its state.
    public var records: [LoggedRecord]
    /// Each time an operator replayed it, oldest first: the records routed then, with their states.
    public var replays: [LoggedReplay]
    /// The trace context it arrived with (also the envelope's, when it has one): a replay keeps it.
    public var trace: TraceContext?

    /// An entry.
    public init(entry: Int64, id: String?, recordedAtMilliseconds: Int64, envelope: CanonicalEvent?, tokenEnvironment: OkraEnvironment?,
                deadletter: Bool, reason: String?, body: [UInt8], duplicates: Int, records: [LoggedRecord], replays: [LoggedReplay] = [],
                trace: TraceContext? = nil) {
        self.entry = entry
        self.id = id
        self.recordedAtMilliseconds = recordedAtMilliseconds
        self.envelope = envelope
        self.tokenEnvironment = tokenEnvironment
        self.deadletter = deadletter
        self.reason = reason
        self.body = body
        self.duplicates = duplicates
        self.records = records
        self.replays = replays
        self.trace = trace ?? envelope?.trace
    }

    /// Whether one of its records, first or replayed, is in `state`.
    public func hasRecord(in state: LoggedRecord.State) -> Bool {
        records.contains { $0.state == state } || replays.contains { $0.records.contains { $0.state == state } }
    }
}

/// One replay of a log entry: when, and the records it appended, with their states.
public struct LoggedReplay: Sendable, Equatable {
    /// When the replay appended them (milliseconds since 1970).
    public var replayedAtMilliseconds: Int64
    /// The records, in order, with their states.
    public var records: [LoggedRecord]

    /// A replay.
    public init(replayedAtMilliseconds: Int64, records: [LoggedRecord]) {
        self.replayedAtMilliseconds = replayedAtMilliseconds
        self.records = records
    }
}

/// What a replay would publish, or published.
public struct ReplayPlan: Sendable, Equatable {
    /// Entries replayed.
    public var events: Int
    /// Records, in all.
    public var records: Int
    /// Records per topic.
    public var topics: [String: Int]
    /// Dead letters that are events under the current code.
    public var recovered: Int
    /// Entries the current code refuses (an event for another environment than its token's):
    /// nothing published for them.
    public var refused: Int
    /// Whether the records were appended to the outbox (false: a dry run).
    public var executed: Bool
    /// Whether more entries matched than one call replays (`--max-replay`).
    public var truncated: Bool

    /// A plan.
    public init(events: Int = 0, records: Int = 0, topics: [String: Int] = [:], recovered: Int = 0, refused: Int = 0, executed: Bool, truncated: Bool = false) {
        self.events = events
        self.refused = refused
        self.records = records
        self.topics = topics
        self.recovered = recovered
        self.executed = executed
        self.truncated = truncated
    }
}

/// A record Kafka refused for good, as the operations API lists it.
public struct ParkedEntry: Sendable, Equatable {
    /// Its id in the parked list (its outbox position when it was parked).
    public var seq: Int64
    /// The event's id.
    public var eventID: String?
    /// The topic.
    public var topic: String
    /// The key.
    public var key: String?
    /// The record's size in bytes (value, key and headers).
    public var bytes: Int
    /// When it was received and when it was parked (milliseconds since 1970).
    public var createdAtMilliseconds: Int64
    /// When it was parked (milliseconds since 1970).
    public var parkedAtMilliseconds: Int64
    /// The short reason (`message_too_large`, `topic`, `authorization`...).
    public var reason: String
    /// Kafka's error.
    public var error: String

    /// A parked record.
    public init(seq: Int64, eventID: String?, topic: String, key: String?, bytes: Int, createdAtMilliseconds: Int64,
                parkedAtMilliseconds: Int64, reason: String, error: String) {
        self.seq = seq
        self.eventID = eventID
        self.topic = topic
        self.key = key
        self.bytes = bytes
        self.createdAtMilliseconds = createdAtMilliseconds
        self.parkedAtMilliseconds = parkedAtMilliseconds
        self.reason = reason
        self.error = error
    }
}

/// Which parked records a redrive or discard is about.
public enum ParkedSelection: Sendable, Equatable {
    /// These (by ``ParkedEntry/seq``).
    case ids([Int64])
    /// Every parked record.
    case all
}

/// The event log and the parked records, for operators (§9).
public protocol Operations: AuditTrail {
    /// Entries matching `filter`, newest first, at most `limit`, before the entry `cursor`;
    /// and the cursor of the next page (nil when this was the last). Without `withData` the
    /// entries carry no body (nor envelope data); with it a page also ends once its bodies make
    /// a few MiB, so a listing never holds the log in memory.
    func events(_ filter: EventFilter, limit: Int, before cursor: Int64?, withData: Bool) async throws -> (entries: [LogEntry], next: Int64?)
    /// The entries of an event id, one per environment it arrived in (newest first; only
    /// `environment`'s when given), or the entry of an entry number; empty when unknown or past
    /// retention.
    func event(_ key: String, environment: String?) async throws -> [LogEntry]
    /// Every entry matching `filter`, oldest first, handed to `body` one at a time (read in
    /// pages, so memory does not grow with the result).
    func export(_ filter: EventFilter, _ body: (LogEntry) async throws -> Void) async throws
    /// Routes the matching entries (and `ids`) again through the current routes: a plan, and
    /// with `execute` the records appended to the outbox with the replay header.
    func replay(_ filter: EventFilter?, ids: [String], execute: Bool) async throws -> ReplayPlan
    /// Parked records, oldest first.
    func parked(limit: Int) async throws -> [ParkedEntry]
    /// What the store holds now (`GET /admin/status`).
    func status() async throws -> StoreStatus
    /// Puts parked records back at the end of the outbox; returns how many.
    func redrive(_ selection: ParkedSelection) async throws -> Int
    /// Gives parked records up (their state becomes `dropped`); returns how many.
    func discard(_ selection: ParkedSelection) async throws -> Int
}

/// The store refused to take more while an operation ran (answered 503 with Retry-After).
public struct OperationsUnavailable: Error, CustomStringConvertible {
    /// One line: what was done before the store refused, and what to do.
    public var description: String
    /// An error saying `description`.
    public init(_ description: String) { self.description = description }
}

/// What an operation names is not in the log: unknown, or past retention (answered 404).
public struct OperationsNotFound: Error, CustomStringConvertible {
    /// One line.
    public var description: String
    /// An error saying `description`.
    public init(_ description: String) { self.description = description }
}

/// A request of the operations API that cannot be served as asked (answered 400).
public struct OperationsError: Error, CustomStringConvertible {
    /// One line.
    public var description: String
    /// An error saying `description`.
    public init(_ description: String) { self.description = description }
}
