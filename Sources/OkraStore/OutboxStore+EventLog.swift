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

    /// Entries matching `filter`, newest first, at most `limit`, before entry `cursor`; with
    /// the cursor of the next page. A `state` filter is applied to the entries read, reading at
    /// most 100,000 rows a call (the next cursor goes on from there).
    public func logEntries(_ filter: EventFilter, limit: Int, before cursor: Int64?) async throws -> (entries: [LogEntry], next: Int64?) {
        let mark = await publishedThrough
        return try await pool.read { db in
            let replayed = try EventLogQuery.replayedEntries(db)
            var entries: [LogEntry] = []
            var position = cursor
            var scanned = 0
            let page = filter.state == nil ? limit + 1 : 500
            while entries.count <= limit && scanned < 100_000 {
                let (condition, arguments) = try EventLogQuery.condition(db, filter, before: position)
                let rows = try Row.fetchAll(db, sql: "SELECT \(EventLogQuery.columns) FROM event_log WHERE \(condition) ORDER BY entry DESC LIMIT ?",
                                            arguments: StatementArguments(arguments + [page]))
                for row in rows {
                    let entry = try EventLogQuery.entry(db, row: row, mark: mark, replayed: replayed)
                    position = entry.entry
                    if let state = filter.state, !entry.hasRecord(in: state) { continue }
                    entries.append(entry)
                    if entries.count > limit { break }
                }
                scanned += rows.count
                if rows.count < page { break }
            }
            if entries.count > limit {
                entries.removeLast()
                return (entries, entries.last?.entry)
            }
            // Stopped scanning with rows left: the caller goes on from where it stopped.
            return (entries, scanned >= 100_000 ? position : nil)
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
            return try rows.map { try EventLogQuery.entry(db, row: $0, mark: mark, replayed: replayed) }
        }
    }

    /// The entry of an event id (the newest, when it arrived in both environments), or of an
    /// entry number; nil when unknown or pruned.
    public func logEntry(_ key: String) async throws -> LogEntry? {
        try await logEntries(key).first
    }

    /// Every entry matching `filter`, oldest first, read 500 at a time, each handed to `body`.
    public func exportLog(_ filter: EventFilter, _ body: (LogEntry) async throws -> Void) async throws {
        var after: Int64 = 0
        while true {
            let mark = await publishedThrough
            let start = after
            let page = try await pool.read { db -> [LogEntry] in
                let (condition, arguments) = try EventLogQuery.condition(db, filter, after: start)
                let replayed = try EventLogQuery.replayedEntries(db)
                return try Row.fetchAll(db, sql: "SELECT \(EventLogQuery.columns) FROM event_log WHERE \(condition) ORDER BY entry LIMIT 500",
                                        arguments: StatementArguments(arguments)).map { try EventLogQuery.entry(db, row: $0, mark: mark, replayed: replayed) }
            }
            for entry in page where filter.state.map(entry.hasRecord(in:)) ?? true {
                try await body(entry)
            }
            guard let last = page.last, page.count == 500 else { return }
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
                        _ = try await self.committer.submit(.init(eventID: eventID, records: records, receivedAtMilliseconds: milliseconds, checkDuplicate: false,
                                                                  replayOf: entry.map { ($0, EventLogRow.describe(records)) }))
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
        let rows = try await pool.read { db -> [(Int64, PendingRecord)] in
            let base = "SELECT seq, event_id, topic, key, headers, value, created_at FROM parked WHERE redriven_to IS NULL AND discarded_at IS NULL"
            let fetched: [Row]
            switch selection {
            case .all: fetched = try Row.fetchAll(db, sql: base + " ORDER BY seq")
            case .ids(let ids):
                fetched = try Row.fetchAll(db, sql: base + " AND seq IN (\(ids.map { _ in "?" }.joined(separator: ","))) ORDER BY seq",
                                           arguments: StatementArguments(ids))
            }
            return fetched.map { ($0[0], Self.pendingRecord($0)) }
        }
        var count = 0
        for (seq, record) in rows {
            let routed = RoutedRecord(topic: record.topic, key: record.key.map { String(decoding: $0, as: UTF8.self) },
                                      headers: record.headers, value: record.value, routeName: nil)
            let outcome: Acceptance
            do {
                outcome = try await committer.submit(.init(eventID: record.eventID, records: [routed], receivedAtMilliseconds: Int64(Date().timeIntervalSince1970 * 1000),
                                                           checkDuplicate: false, redriveOf: seq))
            } catch {
                // Those put back stay put back (each went in on its own); say how many.
                if count > 0 { newRecords.signal() }
                throw PartialAppend(groups: count, records: count, cause: error)
            }
            if outcome == .accepted { count += 1 }
        }
        if count > 0 { newRecords.signal() }
        return count
    }

    /// Gives parked records up: they stay in the store as `dropped` until retention removes
    /// them. Returns how many.
    public func discard(_ selection: ParkedSelection, now: Date = Date()) async throws -> Int {
        try await committer.discard(selection, now: Int64(now.timeIntervalSince1970 * 1000))
    }
}
