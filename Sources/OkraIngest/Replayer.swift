import CoreMetrics
import Foundation
import Logging
import OkraEnvelope
import OkraOperations
import OkraRouting

/// What a replay needs of the event log: its entries, and a way to append records under them.
/// The durable store implements it; the replay's orchestration is ``Replayer``'s, not the store's.
public protocol ReplayLog: Sendable {
    /// The entries of an event id (one per environment it arrived in), or of an entry number.
    func entries(of key: String) async throws -> [LogEntry]
    /// Every entry matching `filter`, oldest first, read in pages.
    func export(_ filter: EventFilter, _ body: (LogEntry) async throws -> Void) async throws
    /// Appends each group's records to the outbox (listed under the group's entry); throws
    /// ``ReplayStopped`` when some groups could not be, after the others went in.
    func appendReplayed(_ groups: [ReplayGroup]) async throws
}

/// The records a replay appends for one entry.
public struct ReplayGroup: Sendable {
    /// The event's id (the same as first published).
    public var eventID: String?
    /// The entry replayed (its replays list them).
    public var entry: Int64?
    /// The records, each with the replay header.
    public var records: [RoutedRecord]

    /// A group.
    public init(eventID: String?, entry: Int64?, records: [RoutedRecord]) {
        self.eventID = eventID
        self.entry = entry
        self.records = records
    }
}

/// Some groups of a replay went in, the others did not (the outbox or the volume full).
public struct ReplayStopped: Error, CustomStringConvertible {
    /// Groups appended, and their records.
    public var groups: Int, records: Int
    /// Why the others were not.
    public var cause: any Error
    /// A stop after `groups` groups of `records` records, for `cause`.
    public init(groups: Int, records: Int, cause: any Error) {
        self.groups = groups
        self.records = records
        self.cause = cause
    }
    /// One line.
    public var description: String { "\(groups) groups (\(records) records) appended, then: \(cause)" }
}

/// A replay (§9): each matching entry through the pipeline's decision again under the current
/// routes, a plan of what it publishes, and with `execute` its records appended in batches.
public struct Replayer: Sendable {
    private let log: any ReplayLog
    private let routes: any RouteSource
    private let maxReplay: Int
    private let logger: Logger
    private let replayed: Counter

    /// Replays from `log`, routing with what `routes` holds at the time, at most `maxReplay` entries a call.
    public init(log: any ReplayLog, routes: any RouteSource, maxReplay: Int, logger: Logger, metrics: MetricsFactory = MetricsSystem.factory) {
        self.log = log
        self.routes = routes
        self.maxReplay = maxReplay
        self.logger = logger
        replayed = Counter(label: "okra_bridge_replayed_records_total", factory: metrics)
    }

    /// The plan for `filter`'s entries and `ids`'; with `execute`, their records appended.
    public func replay(_ filter: EventFilter?, ids: [String], execute: Bool) async throws -> ReplayPlan {
        guard filter != nil || !ids.isEmpty else { throw OperationsError("a replay names a filter or ids") }
        // An empty filter would be the whole log: a replay names what it is about.
        guard filter != EventFilter() else { throw OperationsError("a replay's filter names at least one condition (since, type, record...)") }
        // Every id is looked up before anything is appended: an unknown one refuses the replay whole.
        for id in ids where try await log.entries(of: id).isEmpty {
            throw OperationsNotFound("no entry for \(id) (unknown, or past retention); nothing was replayed")
        }
        let table = routes.table
        var run = ReplayRun(log: log, table: table, execute: execute, maxReplay: maxReplay)
        do {
            do {
                for id in ids {
                    // Every environment's entry of the id (dedupe, and so the log, is per environment).
                    for entry in try await log.entries(of: id) { try await run.consider(entry) }
                }
                if let filter { try await log.export(filter) { try await run.consider($0) } }
            } catch is ReplayRun.Enough {}
            try await run.flush()
        } catch let stopped as ReplayStopped {
            replayed.increment(by: stopped.records)
            logger.error("replay stopped: the store refused more records", metadata: [
                "events.appended": "\(stopped.groups)", "records.appended": "\(stopped.records)", "error": "\(stopped.cause)",
            ])
            throw OperationsUnavailable("the replay stopped after \(stopped.groups) events (\(stopped.records) records) were appended: \(stopped.cause). "
                + "The rest were not: wait until the outbox drains (okra_bridge_outbox_depth) and replay again; the events already appended go out twice, consumers dedupe by id")
        }
        if execute {
            replayed.increment(by: run.plan.records)
            logger.notice("replayed events through the current routes", metadata: [
                "events": "\(run.plan.events)", "records": "\(run.plan.records)", "recovered": "\(run.plan.recovered)", "routes.sha256": "\(table.sha256)",
            ])
        }
        return run.plan
    }

    /// What a replay makes of one entry under the current routes.
    public enum Rerouted: Equatable, Sendable {
        /// These records (each marked as a replay) under the event's id; `recovered` when a dead
        /// letter is an event under the current code.
        case records([RoutedRecord], recovered: Bool, id: String?)
        /// An event for another environment than its token's: nothing (a dead letter of an
        /// older bridge that the current code reads as such an event).
        case refused
    }

    /// One entry through the pipeline's decision again (``decide(body:sender:receivedAt:routes:)``),
    /// as of its receipt, so an untimed payload keeps the id it had (§2): a dead letter from its
    /// body, normalized by the code running now; an event from the envelope the bridge accepted,
    /// so its id is unchanged.
    public static func reroute(_ entry: LogEntry, table: RouteTable) -> Rerouted {
        let receivedAt = Date(timeIntervalSince1970: Double(entry.recordedAtMilliseconds) / 1000)
        let sender = VerifiedSender(environment: entry.tokenEnvironment)
        let decision = if !entry.deadletter, let envelope = entry.envelope {
            // Stored by an older bridge, an attribute may hold what CloudEvents forbids: left out here too.
            decide(event: envelope.droppingForbiddenAttributes(), sender: sender, receivedAt: receivedAt, routes: table)
        } else {
            decide(body: entry.body, sender: sender, receivedAt: receivedAt, routes: table, trace: entry.trace)
        }
        var records: [RoutedRecord]
        var recovered = false
        var id = entry.id ?? entry.envelope?.id
        switch decision {
        case .refused:
            return .refused
        case .rejected(_, let record):
            records = [record]
        case .routed(let event, let routing):
            records = routing.records
            id = event.id
            recovered = entry.deadletter && !routing.deadLettered
        }
        for index in records.indices { records[index].headers.append(("okra-bridge-replay", "true")) }
        return .records(records, recovered: recovered, id: id)
    }
}

/// One replay call in progress: the plan so far, and the groups waiting to be appended.
struct ReplayRun {
    /// Stops reading entries once a call has its fill.
    struct Enough: Error {}

    let log: any ReplayLog
    let table: RouteTable
    let maxReplay: Int
    private(set) var plan: ReplayPlan
    private var seen = Set<Int64>()
    private var pending: [ReplayGroup] = []
    private var pendingBytes = 0

    init(log: any ReplayLog, table: RouteTable, execute: Bool, maxReplay: Int) {
        self.log = log
        self.table = table
        self.maxReplay = maxReplay
        plan = ReplayPlan(executed: execute)
    }

    /// Counts `entry` in the plan and, when executing, queues its records.
    mutating func consider(_ entry: LogEntry) async throws {
        guard seen.insert(entry.entry).inserted else { return }
        guard plan.events < maxReplay else {
            plan.truncated = true
            throw Enough()
        }
        guard case .records(let records, let recovered, let id) = Replayer.reroute(entry, table: table) else {
            plan.refused += 1
            return
        }
        plan.events += 1
        plan.records += records.count
        if recovered { plan.recovered += 1 }
        for record in records { plan.topics[record.topic, default: 0] += 1 }
        guard plan.executed else { return }
        pending.append(ReplayGroup(eventID: id, entry: entry.entry, records: records))
        pendingBytes += records.reduce(0) { $0 + $1.value.count }
        // Appended in batches of at most 500 events or a few MiB of records, whichever comes first.
        if pending.count >= 500 || pendingBytes >= 8 << 20 { try await flush() }
    }

    /// Appends the queued groups; a stop counts what went in so far.
    mutating func flush() async throws {
        guard !pending.isEmpty else { return }
        let batch = pending
        pending = []
        pendingBytes = 0
        do {
            try await log.appendReplayed(batch)
            appended.groups += batch.count
            appended.records += batch.reduce(0) { $0 + $1.records.count }
        } catch let stopped as ReplayStopped {
            throw ReplayStopped(groups: appended.groups + stopped.groups, records: appended.records + stopped.records, cause: stopped.cause)
        }
    }

    private var appended = (groups: 0, records: 0)
}
