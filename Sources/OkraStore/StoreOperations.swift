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
    private let replayer: Replayer
    private let logger: Logger
    private let redriven: Counter
    private let discarded: Counter

    /// Operations on `store`, replaying through the routes `routes` holds at the time.
    public init(store: OutboxStore, routes: any RouteSource, maxReplay: Int = 100_000, logger: Logger,
                metrics: MetricsFactory = MetricsSystem.factory) {
        self.store = store
        replayer = Replayer(log: store, routes: routes, maxReplay: maxReplay, logger: logger, metrics: metrics)
        self.logger = logger
        redriven = Counter(label: "okra_bridge_parked_redriven_total", factory: metrics)
        discarded = Counter(label: "okra_bridge_parked_discarded_total", factory: metrics)
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

    /// Routes entries again through the current routes: a plan, or with `execute` the records
    /// appended (``Replayer``; the store only reads and appends).
    public func replay(_ filter: EventFilter?, ids: [String], execute: Bool) async throws -> ReplayPlan {
        try await replayer.replay(filter, ids: ids, execute: execute)
    }

    /// The store's snapshot, as its gauges show it.
    public func status() async throws -> StoreStatus {
        await store.status()
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

    /// Writes `record` to the process log as one `audit` line (the token's name, never its
    /// secret; ids and filters are Okra's ids), then appends it to the audit trail in the store.
    /// The log line comes first, so an action is on record even when the store cannot keep it.
    public func audit(_ record: AuditRecord) async throws {
        Self.log(record, to: logger)
        do {
            try await store.appendAudit(record)
        } catch {
            logger.error("the audit trail could not keep an action; it is in this log only", metadata: ["audit.action": "\(record.action.rawValue)", "error": "\(error)"])
            throw OperationsUnavailable("the audit trail could not be written: \(error)")
        }
    }

    /// Writes an audit line to the process log.
    public static func log(_ record: AuditRecord, to logger: Logger) {
        let line = AdminAPI.AuditLine(record)
        let json = (try? AdminJSONEncoder().encode(line)).map { String(decoding: $0, as: UTF8.self) } ?? ""
        logger.notice("audit", metadata: ["audit.action": "\(record.action.rawValue)", "audit.token": "\(record.token)", "audit": "\(json)"])
    }

    /// The audit trail, newest first.
    public func auditTrail(since: Date?, until: Date?, limit: Int, before cursor: Int64?) async throws -> (records: [AuditRecord], next: Int64?) {
        try await store.auditTrail(since: since, until: until, limit: limit, before: cursor)
    }

    /// Removes one customer's entries (``OutboxStore/erase(customer:now:)``); logged.
    public func erase(customer: String) async throws -> Erasure {
        let erasure: Erasure
        do {
            erasure = try await store.erase(customer: customer)
        } catch let error as OutboxStore.VolumeFull {
            throw OperationsUnavailable("nothing was erased: \(error)")
        }
        logger.notice("customer entries erased", metadata: ["entries.erased": "\(erasure.erased)", "entries.waiting": "\(erasure.waiting)",
                                                            "parked.erased": "\(erasure.parked)"])
        return erasure
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
