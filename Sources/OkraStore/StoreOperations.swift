import CoreMetrics
import Foundation
import Logging
import OkraEnvelope
import OkraIngest
import OkraOperations
import OkraRouting

/// The operations of §9 over the durable store: the event log's reads, replay through the
/// current routes, and the parked records' redrive and discard.
public final class StoreOperations: Operations {
    private let store: OutboxStore
    private let routes: any RouteSource
    private let logger: Logger
    /// The most entries one replay call routes again (`--max-replay`).
    public let maxReplay: Int
    private let redriven: Counter
    private let discarded: Counter
    private let replayed: Counter

    /// Operations on `store`, replaying through the routes `routes` holds at the time.
    public init(store: OutboxStore, routes: any RouteSource, maxReplay: Int = 100_000, logger: Logger,
                metrics: MetricsFactory = MetricsSystem.factory) {
        self.store = store
        self.routes = routes
        self.maxReplay = maxReplay
        self.logger = logger
        redriven = Counter(label: "okra_bridge_parked_redriven_total", factory: metrics)
        discarded = Counter(label: "okra_bridge_parked_discarded_total", factory: metrics)
        replayed = Counter(label: "okra_bridge_replayed_records_total", factory: metrics)
    }

    /// Entries matching `filter`, newest first (``OutboxStore/logEntries(_:limit:before:)``).
    public func events(_ filter: EventFilter, limit: Int, before cursor: Int64?, withData: Bool) async throws -> (entries: [LogEntry], next: Int64?) {
        try await store.logEntries(filter, limit: limit, before: cursor, withData: withData)
    }

    /// The entries of an id (one per environment, or `environment`'s only), or of an entry number.
    public func event(_ key: String, environment: String?) async throws -> [LogEntry] {
        try await store.logEntries(key, environment: environment)
    }

    /// Every matching entry, oldest first, in pages.
    public func export(_ filter: EventFilter, _ body: (LogEntry) async throws -> Void) async throws {
        try await store.exportLog(filter, body)
    }

    /// Stops an export early once a replay has its fill.
    private struct Enough: Error {}

    /// Routes entries again through the current routes: a plan, or with `execute` the records appended.
    public func replay(_ filter: EventFilter?, ids: [String], execute: Bool) async throws -> ReplayPlan {
        guard filter != nil || !ids.isEmpty else { throw OperationsError("a replay names a filter or ids") }
        // An empty filter would be the whole log: a replay names what it is about.
        guard filter != EventFilter() else { throw OperationsError("a replay's filter names at least one condition (since, type, record...)") }
        // Every id is looked up before anything is appended: an unknown one refuses the replay whole.
        for id in ids where try await store.logEntries(id).isEmpty {
            throw OperationsNotFound("no entry for \(id) (unknown, or past retention); nothing was replayed")
        }
        let table = routes.table
        var plan = ReplayPlan(executed: execute)
        var pending: [(eventID: String?, entry: Int64?, records: [RoutedRecord])] = []
        var seen = Set<Int64>()
        var appendedEvents = 0
        var appendedRecords = 0
        var pendingBytes = 0
        func flush() async throws {
            guard !pending.isEmpty else { return }
            let batch = pending
            pending = []
            pendingBytes = 0
            do {
                try await store.append(batch)
                appendedEvents += batch.count
                appendedRecords += batch.reduce(0) { $0 + $1.records.count }
            } catch let partial as OutboxStore.PartialAppend {
                appendedEvents += partial.groups
                appendedRecords += partial.records
                replayed.increment(by: appendedRecords)
                logger.error("replay stopped: the store refused more records", metadata: [
                    "events.appended": "\(appendedEvents)", "records.appended": "\(appendedRecords)", "error": "\(partial.cause)",
                ])
                throw OperationsUnavailable("the replay stopped after \(appendedEvents) events (\(appendedRecords) records) were appended: \(partial.cause). "
                    + "The rest were not: wait until the outbox drains (okra_bridge_outbox_depth) and replay again; the events already appended go out twice, consumers dedupe by id")
            }
        }
        func consider(_ entry: LogEntry) async throws {
            guard seen.insert(entry.entry).inserted else { return }
            guard plan.events < maxReplay else {
                plan.truncated = true
                throw Enough()
            }
            guard case .records(let records, let recovered, let id) = Self.reroute(entry, table: table) else {
                plan.refused += 1
                return
            }
            plan.events += 1
            plan.records += records.count
            if recovered { plan.recovered += 1 }
            for record in records { plan.topics[record.topic, default: 0] += 1 }
            guard execute else { return }
            pending.append((id, entry.entry, records))
            pendingBytes += records.reduce(0) { $0 + $1.value.count }
            // Appended in batches of at most 500 events or a few MiB of records, whichever comes first.
            if pending.count >= 500 || pendingBytes >= 8 << 20 { try await flush() }
        }
        do {
            for id in ids {
                // Every environment's entry of the id (dedupe, and so the log, is per environment).
                for entry in try await store.logEntries(id) { try await consider(entry) }
            }
            if let filter { try await store.exportLog(filter) { try await consider($0) } }
        } catch is Enough {}
        try await flush()
        if execute {
            replayed.increment(by: plan.records)
            logger.notice("replayed events through the current routes", metadata: [
                "events": "\(plan.events)", "records": "\(plan.records)", "recovered": "\(plan.recovered)", "routes.sha256": "\(table.sha256)",
            ])
        }
        return plan
    }

    /// What a replay makes of one entry under the current routes.
    enum Rerouted: Equatable {
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
    static func reroute(_ entry: LogEntry, table: RouteTable) -> Rerouted {
        let receivedAt = Date(timeIntervalSince1970: Double(entry.recordedAtMilliseconds) / 1000)
        let sender = VerifiedSender(environment: entry.tokenEnvironment)
        let decision = if !entry.deadletter, let envelope = entry.envelope {
            // Stored by an older bridge, an attribute may hold what CloudEvents forbids: left out here too.
            decide(event: envelope.droppingForbiddenAttributes(), sender: sender, receivedAt: receivedAt, routes: table)
        } else {
            decide(body: entry.body, sender: sender, receivedAt: receivedAt, routes: table)
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

    /// Parked records, oldest first.
    public func parked(limit: Int) async throws -> [ParkedEntry] {
        try await store.parkedEntries(limit: limit)
    }

    /// Puts parked records back at the end of the outbox; logged and counted.
    public func redrive(_ selection: ParkedSelection) async throws -> Int {
        let count: Int
        do {
            count = try await store.redrive(selection)
        } catch let partial as OutboxStore.PartialAppend {
            redriven.increment(by: partial.records)
            logger.error("redrive stopped: the store refused more records", metadata: ["records.redriven": "\(partial.records)", "error": "\(partial.cause)"])
            throw OperationsUnavailable("the redrive stopped after \(partial.records) records were put back in the outbox: \(partial.cause). "
                + "The rest are still parked: wait until the outbox drains (okra_bridge_outbox_depth) and redrive again")
        }
        redriven.increment(by: count)
        logger.notice("parked records redriven to the end of the outbox", metadata: ["records": "\(count)"])
        return count
    }

    /// Gives parked records up; logged and counted.
    public func discard(_ selection: ParkedSelection) async throws -> Int {
        let count: Int
        do {
            count = try await store.discard(selection)
        } catch let error as OutboxStore.VolumeFull {
            throw OperationsUnavailable("nothing was discarded: \(error)")
        }
        discarded.increment(by: count)
        logger.notice("parked records discarded", metadata: ["records": "\(count)"])
        return count
    }
}
