import Foundation
import GRDB
import OkraIngest
import OkraOperations
import OkraRouting

/// How long the event log keeps entries, and how much of them (§9).
public struct EventLogPolicy: Sendable, Equatable {
    /// Entries older than this are dropped (`--retain`, default 168 h).
    public var retain: Duration
    /// The log's size at most, oldest dropped first (`--retain-size`, default 1 GiB).
    public var retainBytes: Int64

    /// A log kept `retain`, at most `retainBytes`.
    public init(retain: Duration = .seconds(168 * 3600), retainBytes: Int64 = 1 << 30) {
        self.retain = retain
        self.retainBytes = retainBytes
    }

    var retainMilliseconds: Int64 { Int64(retain.components.seconds) * 1000 }
}

extension OutboxStore {
    /// The event log's size as retention counts it.
    public var eventLogBytes: Int64 { get async { await committer.logBytes } }

    /// Removes the oldest entries while the log is over `--retain-size`, for about `budget` at
    /// most (what is left waits for the next call). The upkeep calls it every second, so the log
    /// passes its size by about a second of webhooks, where the minute's prune let it pass by a
    /// minute's (a gigabyte at 4,000 webhooks a second) and then removed all of that in one pass;
    /// the budget keeps a log far over its size (a lowered `--retain-size`) from holding up the
    /// rest of the upkeep. Returns how many entries it removed.
    @discardableResult
    public func pruneLogToSize(budget: Duration = .milliseconds(500)) async throws -> Int {
        guard let eventLog, await committer.logBytes > eventLog.retainBytes else { return 0 }
        return try await committer.pruneLog(olderThan: nil, maxBytes: eventLog.retainBytes, until: .now + budget)
    }

    /// Entries matching `filter`, newest first, at most `limit`, before entry `cursor`; with
    /// the cursor of the next page. Without `withData` no body is read; with it a page also ends
    /// once its bodies pass ``EventLogQuery/pageBodyBytes``. A `state` filter is applied to the
    /// entries read, reading at most 100,000 rows a call (the next cursor goes on from there).
    public func logEntries(_ filter: EventFilter, limit: Int, before cursor: Int64?, withData: Bool = true) async throws -> (entries: [LogEntry], next: Int64?) {
        let mark = await publishedThrough
        return try await pool.read { db in
            let replayed = try EventLogQuery.replayedEntries(db)
            let (condition, arguments) = try EventLogQuery.condition(db, filter, before: cursor)
            let columns = withData ? EventLogQuery.columns : EventLogQuery.columnsWithoutBody
            let scanLimit = filter.state == nil ? limit + 1 : 100_000
            // A cursor, not fetchAll: the rows are read one by one and dropped once made into entries.
            let rows = try Row.fetchCursor(db, sql: "SELECT \(columns) FROM event_log WHERE \(condition) ORDER BY entry DESC LIMIT ?",
                                           arguments: StatementArguments(arguments + [scanLimit]))
            var entries: [LogEntry] = []
            var bodyBytes = 0
            var scanned = 0
            var position = cursor
            while let row = try rows.next() {
                scanned += 1
                let entry = try EventLogQuery.entry(db, row: row, mark: mark, replayed: replayed, cipher: self.cipher)
                if let state = filter.state, !entry.hasRecord(in: state) {
                    position = entry.entry
                    continue
                }
                // Another match: the page is full, and the next one starts after its last entry.
                if entries.count == limit || (!entries.isEmpty && bodyBytes >= EventLogQuery.pageBodyBytes) { return (entries, entries.last?.entry) }
                entries.append(entry)
                bodyBytes += entry.body.count
                position = entry.entry
            }
            // Stopped scanning with rows left: the caller goes on from where it stopped.
            return (entries, scanned >= scanLimit && filter.state != nil ? position : nil)
        }
    }

    /// The entries of an event id, one per environment it arrived in (dedupe is per
    /// environment, §2), newest first, only `environment`'s when given; or the entry of an entry
    /// number. Empty when unknown or pruned.
    public func logEntries(_ key: String, environment: String? = nil) async throws -> [LogEntry] {
        let mark = await publishedThrough
        return try await pool.read { db in
            let rows: [Row]
            if let number = Int64(key) {
                rows = try Row.fetchAll(db, sql: "SELECT \(EventLogQuery.columns) FROM event_log WHERE entry = ?", arguments: [number])
            } else {
                let scope = environment == nil ? "" : " AND env = ?"
                rows = try Row.fetchAll(db, sql: """
                    SELECT \(EventLogQuery.columns) FROM event_log WHERE entry IN (SELECT entry FROM event_ids WHERE id = ?\(scope)) ORDER BY entry DESC
                    """, arguments: StatementArguments([StoreSchema.storedID(key)] + (environment.map { [$0.databaseValue] } ?? [])))
            }
            let replayed = try EventLogQuery.replayedEntries(db)
            return try rows.map { try EventLogQuery.entry(db, row: $0, mark: mark, replayed: replayed, cipher: self.cipher) }
        }
    }

    /// The entry of an event id (the newest, when it arrived in both environments), or of an
    /// entry number; nil when unknown or pruned.
    public func logEntry(_ key: String) async throws -> LogEntry? {
        try await logEntries(key).first
    }

    /// Every entry matching `filter`, oldest first, each handed to `body`; read in pages of at
    /// most 500 entries and about ``EventLogQuery/pageBodyBytes`` of bodies, so memory does not
    /// grow with the log.
    public func exportLog(_ filter: EventFilter, _ body: (LogEntry) async throws -> Void) async throws {
        var after: Int64 = 0
        while true {
            let mark = await publishedThrough
            let start = after
            let (page, more) = try await pool.read { db -> ([LogEntry], Bool) in
                let (condition, arguments) = try EventLogQuery.condition(db, filter, after: start)
                let replayed = try EventLogQuery.replayedEntries(db)
                let rows = try Row.fetchCursor(db, sql: "SELECT \(EventLogQuery.columns) FROM event_log WHERE \(condition) ORDER BY entry LIMIT 500",
                                               arguments: StatementArguments(arguments))
                var page: [LogEntry] = []
                var bodyBytes = 0
                while let row = try rows.next() {
                    let entry = try EventLogQuery.entry(db, row: row, mark: mark, replayed: replayed, cipher: self.cipher)
                    page.append(entry)
                    bodyBytes += entry.body.count
                    if bodyBytes >= EventLogQuery.pageBodyBytes { return (page, true) }
                }
                return (page, page.count == 500)
            }
            for entry in page where filter.state.map(entry.hasRecord(in:)) ?? true {
                try await body(entry)
            }
            guard more, let last = page.last else { return }
            after = last.entry
        }
    }

    /// Appends records to the outbox without the dedupe check and without new log entries (a
    /// replay), one submission per group so they share group commits; a group naming its log
    /// `entry` is listed under that entry's replays. Returns when every group is stored; when
    /// some could not be (the outbox or the volume full, a disk error), throws ``PartialAppend``
    /// once the others finished, saying how many did go in.
    public func append(_ groups: [(eventID: String?, entry: Int64?, records: [RoutedRecord])], receivedAt: Date = Date()) async throws {
        let milliseconds = Int64(receivedAt.timeIntervalSince1970 * 1000)
        let outcomes = await withTaskGroup(of: Result<Int, any Error>.self) { group in
            for (eventID, entry, records) in groups {
                group.addTask {
                    do {
                        let stored = try records.map { record throws(StoreCipherFailure) in
                            try StoredRecord(record, value: record.value, eventID: eventID, createdAtMilliseconds: milliseconds, cipher: self.cipher)
                        }
                        _ = try await self.committer.submit(.replay(.init(eventID: eventID, records: stored, receivedAtMilliseconds: milliseconds,
                                                                          entry: entry, description: EventLogRow.describe(records))))
                        return .success(records.count)
                    } catch {
                        return .failure(error)
                    }
                }
            }
            var all: [Result<Int, any Error>] = []
            for await outcome in group { all.append(outcome) }
            return all
        }
        let stored = outcomes.compactMap { try? $0.get() }
        if stored.contains(where: { $0 > 0 }) { newRecords.signal() }
        for case .failure(let error) in outcomes {
            throw PartialAppend(groups: stored.count, records: stored.reduce(0, +), cause: error)
        }
    }

    /// Some groups of an ``append(_:receivedAt:)`` (or records of a ``redrive(_:)``) went in, the others did not.
    public struct PartialAppend: Error, CustomStringConvertible {
        /// Groups stored.
        public let groups: Int
        /// Their records.
        public let records: Int
        /// Why the others were not (``Full``, ``VolumeFull``, a database error).
        public let cause: any Error
        /// One line.
        public var description: String { "\(groups) groups (\(records) records) were appended before the store refused: \(cause)" }
    }

    /// Parked records that are still parked (neither redriven nor discarded), oldest first.
    public func parkedEntries(limit: Int = 1000) async throws -> [ParkedEntry] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: """
                SELECT seq, event_id, topic, key, length(value) + COALESCE(length(key), 0) + length(headers), created_at, parked_at, reason, error
                FROM parked WHERE redriven_to IS NULL AND discarded_at IS NULL ORDER BY seq LIMIT ?
                """, arguments: [limit]).map { row in
                ParkedEntry(seq: row[0], eventID: row[1], topic: row[2], key: (row[3] as Data?).map { String(decoding: $0, as: UTF8.self) },
                            bytes: row[4], createdAtMilliseconds: row[5], parkedAtMilliseconds: row[6], reason: row[7], error: row[8])
            }
        }
    }

    /// Puts parked records back at the end of the outbox, each in the transaction that marks it
    /// redriven (so one is never redriven twice); returns how many went back.
    public func redrive(_ selection: ParkedSelection) async throws -> Int {
        // The records parked now: one parked again during this redrive (a higher seq) waits
        // for the next, so a call never loops over its own records.
        let through = try await pool.read { db in try Int64.fetchOne(db, sql: "SELECT MAX(seq) FROM parked") } ?? 0
        return try await redrive(selection, through: through)
    }

    /// ``redrive(_:)`` of the parked records up to `through` (by seq) only.
    func redrive(_ selection: ParkedSelection, through: Int64) async throws -> Int {
        // A page of parked records at a time (their values are whole records), ids in chunks
        // well under SQLite's limit on variables a statement takes.
        let chunks: [[Int64]?] = switch selection {
        case .all: [nil]
        case .ids(let ids): ids.chunked(500).map { Array($0) }
        }
        var count = 0
        for chunk in chunks {
            var after: Int64 = 0
            while true {
                let rows = try await parkedPage(ids: chunk, after: after, through: through)
                for (seq, record) in rows {
                    let routed = RoutedRecord(topic: record.topic, key: record.key.map { String(decoding: $0, as: UTF8.self) },
                                              headers: record.headers, value: record.value, routeName: nil)
                    let outcome: Acceptance
                    let now = Int64(Date().timeIntervalSince1970 * 1000)
                    do {
                        let stored = try StoredRecord(routed, value: routed.value, eventID: record.eventID, createdAtMilliseconds: now, cipher: cipher)
                        outcome = try await committer.submit(.redrive(.init(eventID: record.eventID, record: stored, parkedSeq: seq,
                                                                            receivedAtMilliseconds: now)))
                    } catch {
                        // Those put back stay put back (each went in on its own); say how many.
                        if count > 0 { newRecords.signal() }
                        throw PartialAppend(groups: count, records: count, cause: error)
                    }
                    if outcome == .accepted { count += 1 }
                }
                guard let last = rows.last, rows.count == Self.parkedPageSize else { break }
                after = last.0
            }
        }
        if count > 0 { newRecords.signal() }
        return count
    }

    static let parkedPageSize = 100

    /// Parked records not yet redriven or discarded, after `after` and up to `through` by seq,
    /// among `ids` when given.
    private func parkedPage(ids: [Int64]?, after: Int64, through: Int64) async throws -> [(Int64, PendingRecord)] {
        try await pool.read { db in
            var sql = "SELECT seq, event_id, topic, key, headers, value, created_at, key_id FROM parked WHERE redriven_to IS NULL AND discarded_at IS NULL AND seq > ? AND seq <= ?"
            var arguments: [Int64] = [after, through]
            if let ids {
                sql += " AND seq IN (\(ids.map { _ in "?" }.joined(separator: ",")))"
                arguments += ids
            }
            return try Row.fetchAll(db, sql: sql + " ORDER BY seq LIMIT \(Self.parkedPageSize)", arguments: StatementArguments(arguments))
                .map { ($0[0], try Self.pendingRecord($0, cipher: self.cipher)) }
        }
    }

    /// Gives parked records up: they stay in the store as `dropped` until retention removes
    /// them. Returns how many.
    public func discard(_ selection: ParkedSelection, now: Date = Date()) async throws -> Int {
        try await committer.discard(selection, now: Int64(now.timeIntervalSince1970 * 1000))
    }
}

/// The event log as a replay reads and appends to it (``Replayer`` orchestrates).
extension OutboxStore: ReplayLog {
    /// ``logEntries(_:environment:)`` of every environment.
    public func entries(of key: String) async throws -> [LogEntry] {
        try await logEntries(key)
    }

    /// ``exportLog(_:_:)``.
    public func export(_ filter: EventFilter, _ body: (LogEntry) async throws -> Void) async throws {
        try await exportLog(filter, body)
    }

    /// ``append(_:receivedAt:)``, a stop said as ``ReplayStopped``.
    public func appendReplayed(_ groups: [ReplayGroup]) async throws {
        do {
            try await append(groups.map { ($0.eventID, $0.entry, $0.records) })
        } catch let partial as PartialAppend {
            throw ReplayStopped(groups: partial.groups, records: partial.records, cause: partial.cause)
        }
    }
}
