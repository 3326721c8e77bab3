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
    public func events(_ filter: EventFilter, limit: Int, before cursor: Int64?) async throws -> (entries: [LogEntry], next: Int64?) {
        try await store.logEntries(filter, limit: limit, before: cursor)
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
        let table = routes.table
        var plan = ReplayPlan(executed: execute)
        var pending: [(eventID: String?, entry: Int64?, records: [RoutedRecord])] = []
        var seen = Set<Int64>()
        var appendedEvents = 0
        var appendedRecords = 0
        func flush() async throws {
            guard !pending.isEmpty else { return }
            let batch = pending
            pending = []
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
            let (records, recovered, id) = Self.reroute(entry, table: table)
            plan.events += 1
            plan.records += records.count
            if recovered { plan.recovered += 1 }
            for record in records { plan.topics[record.topic, default: 0] += 1 }
            guard execute else { return }
            pending.append((id, entry.entry, records))
            if pending.count >= 500 { try await flush() }
        }
        do {
            for id in ids {
                // Every environment's entry of the id (dedupe, and so the log, is per environment).
                let entries = try await store.logEntries(id)
                guard !entries.isEmpty else { throw OperationsNotFound("no entry for \(id) (unknown, or past retention)") }
                for entry in entries { try await consider(entry) }
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

    /// One entry routed again under `table`, each record marked as a replay; whether a dead
    /// letter became an event under the current code; and the event's id. A dead letter is
    /// normalized as of its original receipt, so an untimed payload keeps the id it had (§2).
    static func reroute(_ entry: LogEntry, table: RouteTable) -> (records: [RoutedRecord], recovered: Bool, id: String?) {
        let receivedAt = Date(timeIntervalSince1970: Double(entry.recordedAtMilliseconds) / 1000)
        var records: [RoutedRecord]
        var recovered = false
        var id = entry.id ?? entry.envelope?.id
        if !entry.deadletter, let envelope = entry.envelope {
            // Stored by an older bridge, an attribute may hold what CloudEvents forbids: left out here too.
            records = Router.route(envelope.droppingForbiddenAttributes(), table: table, receivedAt: receivedAt).records
        } else {
            // Normalized again by the code running now: an older bridge's dead letter may be an event today.
            switch Normalizer.normalize(entry.body, receivedAt: receivedAt) {
            case .failure(let rejection):
                records = [Router.deadLetter(body: entry.body, rejection: rejection, receivedAt: receivedAt, table: table)]
            case .success(var event):
                id = event.id
                if let token = entry.tokenEnvironment {
                    guard let bound = event.bound(to: token) else {
                        records = [Router.deadLetter(body: entry.body, reason: .unrecognized, receivedAt: receivedAt, id: event.id, topic: table.deadLetterTopic)]
                        break
                    }
                    event = bound
                }
                let decision = Router.route(event, table: table, receivedAt: receivedAt)
                records = decision.records
                recovered = !decision.deadLettered
            }
        }
        for index in records.indices { records[index].headers.append(("okra-bridge-replay", "true")) }
        return (records, recovered, id)
    }

    /// Parked records, oldest first.
    public func parked(limit: Int) async throws -> [ParkedEntry] {
        try await store.parkedEntries(limit: limit)
    }

    /// Puts parked records back at the end of the outbox; logged and counted.
    public func redrive(_ selection: ParkedSelection) async throws -> Int {
        let count = try await store.redrive(selection)
        redriven.increment(by: count)
        logger.notice("parked records redriven to the end of the outbox", metadata: ["records": "\(count)"])
        return count
    }

    /// Gives parked records up; logged and counted.
    public func discard(_ selection: ParkedSelection) async throws -> Int {
        let count = try await store.discard(selection)
        discarded.increment(by: count)
        logger.notice("parked records discarded", metadata: ["records": "\(count)"])
        return count
    }
}
