import Foundation
import GRDB
import OkraEnvelope
import OkraIngest
import OkraOperations
import OkraRouting

/// What became of a request, as its entry says: routed to its records, sent to the dead-letter
/// topic (and why), or dropped by a route (which one). Kept in `deadletter`, `reason` and
/// `dropped_by` (layout 7; before it a drop was a `reason` of `dropped:<route>`).
enum LogOutcome: Sendable, Equatable {
    case routed
    case deadLettered(reason: String)
    case dropped(by: String)

    /// The columns `deadletter`, `reason`, `dropped_by`.
    var columns: (deadletter: Int, reason: String?, droppedBy: String?) {
        switch self {
        case .routed: (0, nil, nil)
        case .deadLettered(let reason): (1, reason, nil)
        case .dropped(let route): (0, nil, route)
        }
    }
}

/// One row of `event_log` as written: the indexed attributes, the body, and the routed records
/// (topic, key, route) in order. The records' states are not here: they follow from the publish
/// mark and `parked` when the entry is read (decision 0009).
struct EventLogRow: Sendable {
    var id: String?
    var recordedAt: Int64
    var envelope: CanonicalEvent?
    var tokenEnvironment: OkraEnvironment?
    var outcome: LogOutcome
    var body: [UInt8]
    /// The body as stored: in clear, or sealed under `keyID`.
    var storedBody: Data
    var keyID: String?
    /// `traceparent`, `tracestate` (in clear: ids, no personal data).
    var trace: TraceContext?
    /// `[[topic, key, route], ...]`.
    var records: String
    /// What retention by size counts: the body, the records' description, and a fixed 160
    /// bytes for the row's other columns and its index entries.
    var bytes: Int64

    init(provenance: Provenance, records: [RoutedRecord], receivedAtMilliseconds: Int64, id: String?, cipher: StoreCipher?) throws(StoreCipherFailure) {
        self.id = id
        recordedAt = receivedAtMilliseconds
        envelope = provenance.envelope
        tokenEnvironment = provenance.tokenEnvironment
        trace = provenance.trace
        outcome = if let reason = provenance.deadLetterReason { .deadLettered(reason: reason) }
            else if let route = provenance.droppedBy { .dropped(by: route) }
            else { .routed }
        body = provenance.envelope?.data ?? provenance.body
        if let cipher {
            storedBody = try cipher.seal(body, .body)
            keyID = cipher.currentKeyID
        } else {
            storedBody = Data(body)
            keyID = nil
        }
        self.records = Self.describe(records)
        bytes = Int64(body.count + self.records.utf8.count + 160 + (trace?.traceParent.utf8.count ?? 0) + (trace?.traceState?.utf8.count ?? 0))
        bindColumns()
    }

    /// `records` as the log keeps them: `[[topic, key, route], ...]`.
    static func describe(_ records: [RoutedRecord]) -> String {
        var out: [UInt8] = [UInt8(ascii: "[")]
        for (index, record) in records.enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            out.append(UInt8(ascii: "["))
            JSONWriter.writeString(record.topic, into: &out)
            out.append(UInt8(ascii: ","))
            if let key = record.key { JSONWriter.writeString(key, into: &out) } else { out += Array("null".utf8) }
            out.append(UInt8(ascii: ","))
            if let route = record.routeName { JSONWriter.writeString(route, into: &out) } else { out += Array("null".utf8) }
            out.append(UInt8(ascii: "]"))
        }
        out.append(UInt8(ascii: "]"))
        return String(decoding: out, as: UTF8.self)
    }

    /// What a replay of an entry adds to the entry's size as retention counts it: its records'
    /// description and a fixed 40 bytes for the rest of its row.
    static func replayBytes(_ description: String) -> Int64 { Int64(description.utf8.count + 40) }

    /// The values of every column but `entry` and `first_seq`, gathered before the writer runs
    /// (``BoundValues``: the writer binds them without a copy).
    private(set) var columnValues = BoundValues(count: 0, bytes: 0)

    mutating func bindColumns() {
        let event = envelope
        let (deadletter, reason, droppedBy) = outcome.columns
        // The texts' room: the ids and trace are at most a few hundred bytes; a guess too small
        // only grows the buffer.
        var values = BoundValues(count: 22, bytes: storedBody.count + records.utf8.count + 512)
        values.append(id)
        values.append(recordedAt)
        values.append(event?.time)
        values.append(event?.product.rawValue)
        values.append(event?.outcome.rawValue)
        values.append(event?.code)
        values.append(event?.environment.rawValue)
        values.append(tokenEnvironment?.rawValue)
        values.append(event?.record)
        values.append(event?.customer)
        values.append(event?.account)
        values.append(event?.bank)
        values.append(event?.shape.rawValue)
        values.append(deadletter)
        values.append(reason)
        values.append(droppedBy)
        values.append(blob: storedBody)
        values.append(records)
        values.append(bytes)
        values.append(keyID)
        values.append(trace?.traceParent)
        values.append(trace?.traceState)
        columnValues = values
    }

    func insert(_ db: Database, entry: Int64, firstSeq: Int64) throws {
        try columnValues.execute(db.cachedStatement(sql: StoreSchema.SQL.insertEntry), in: db, leading: entry, firstSeq)
    }
}

/// Reading the event log: filters to SQL, rows to ``LogEntry`` with their records' states.
enum EventLogQuery {
    /// The columns every read selects, in this order.
    /// The columns every read selects, named: ``columns`` is made from these cases, in their
    /// order, so a row is read by name at the speed of an index (GRDB's lookup by name string
    /// made a million-entry export about 20% slower).
    enum Column: Int, CaseIterable {
        case entry, id, recorded_at, time, product, outcome, code, env, token_env, record, customer, account, bank, shape,
             deadletter, reason, dropped_by, body, first_seq, records, duplicates, key_id, traceparent, tracestate
    }

    static let columns = Column.allCases.map { "\($0)" }.joined(separator: ", ")

    /// ``columns`` with the body left out (`NULL` in its place): a listing without data reads
    /// no body from the file.
    static let columnsWithoutBody = columns.replacingOccurrences(of: " body,", with: " NULL AS body,")

    /// The most body bytes one page of a listing with data, or of an export, holds: a page ends
    /// at the entry that passes it (one entry larger than this is a page of its own), so what an
    /// operator reads never holds the log's bodies in memory at once (§9).
    static let pageBodyBytes = 8 << 20

    /// The WHERE clause (without `WHERE`) and its arguments for `filter`; the entry number
    /// bound by `before`/`after` when given.
    static func condition(_ db: Database, _ filter: EventFilter, before: Int64? = nil, after: Int64? = nil) throws -> (sql: String, arguments: [(any DatabaseValueConvertible)?]) {
        var clauses: [String] = []
        var arguments: [(any DatabaseValueConvertible)?] = []
        func add(_ clause: String, _ values: (any DatabaseValueConvertible)?...) {
            clauses.append(clause)
            arguments += values
        }
        // The entries the clauses leave, as far as numbers tell: the key look-ups search only
        // the buckets within them.
        var lowest = Int64.min, highest = Int64.max
        if let before {
            add("entry < ?", before)
            highest = min(highest, before - 1)
        }
        if let after {
            add("entry > ?", after)
            lowest = max(lowest, after + 1)
        }
        // No index on the time: entries are numbered in the order they were stored, which is the
        // order they were received give or take the time a request takes, so a time maps to an
        // entry number found by bisection, widened by a margin, and the exact test runs within.
        if let since = filter.since {
            let milliseconds = Int64((since.timeIntervalSince1970 * 1000).rounded(.down))
            let first = try firstEntry(db, recordedAtOrAfter: milliseconds - timeMargin)
            add("entry >= ?", first)
            add("recorded_at >= ?", milliseconds)
            lowest = max(lowest, first)
        }
        if let until = filter.until {
            let milliseconds = Int64((until.timeIntervalSince1970 * 1000).rounded(.down))
            let end = try firstEntry(db, recordedAtOrAfter: milliseconds + timeMargin)
            add("entry < ?", end)
            add("recorded_at < ?", milliseconds)
            highest = min(highest, end - 1)
        }
        if let id = filter.id {
            // Through the dedupe index, which remembers each id's entry.
            add("entry IN (SELECT entry FROM event_ids WHERE id = ?)", StoreSchema.storedID(id))
        }
        for (key, value) in [(StoreSchema.LogKey.record, filter.record), (.customer, filter.customer), (.account, filter.account)] {
            guard let value else { continue }
            let (clause, values) = try keyed(db, key, value, within: lowest, highest)
            clauses.append(clause)
            arguments += values
        }
        if let type = filter.type { add("('okra.' || product || '.' || outcome) GLOB ?", globPattern(type)) }
        if let product = filter.product { add("product = ?", product.rawValue) }
        if let outcome = filter.outcome { add("outcome = ?", outcome.rawValue) }
        if let env = filter.env { add("env = ?", env.rawValue) }
        if let code = filter.code { add("code GLOB ?", globPattern(code)) }
        if let deadletter = filter.deadletter { add("deadletter = ?", deadletter ? 1 : 0) }
        return (clauses.isEmpty ? "1" : clauses.joined(separator: " AND "), arguments)
    }

    /// `entry IN (...)` with its arguments: the entries whose `key` column is `value`, found in
    /// `event_log_keys` by one look-up in each bucket from the oldest entry's to the newest's,
    /// within `lowest...highest` when narrower (``StoreSchema/logKeys``); the column is tested
    /// again, so the clause is exact either way.
    static func keyed(_ db: Database, _ key: StoreSchema.LogKey, _ value: String,
                      within lowest: Int64 = .min, _ highest: Int64 = .max) throws -> (sql: String, arguments: [(any DatabaseValueConvertible)?]) {
        guard let entries = try bounds(db, of: "event_log") else { return ("0", []) }
        let low = max(entries.low, lowest), high = min(entries.high, highest)
        guard low <= high else { return ("0", []) }
        let shift = StoreSchema.keyBucketShift
        return ("""
            entry IN (WITH RECURSIVE buckets(bucket) AS (SELECT ? UNION ALL SELECT bucket + 1 FROM buckets WHERE bucket < ?)
                      SELECT keys.entry FROM buckets CROSS JOIN event_log_keys AS keys
                      WHERE keys.bucket = buckets.bucket AND keys.kind = ? AND keys.value = ?) AND \(key) = ?
            """, [low >> shift, high >> shift, key.rawValue, value, value])
    }

    /// The lowest and highest entry in `table` (nil when empty). Two look-ups of the index's
    /// ends: SQLite takes that shortcut only for a query of one `MIN` or one `MAX`, and scans
    /// the whole table for `SELECT MIN(entry), MAX(entry)` (170 ms over a million entries).
    static func bounds(_ db: Database, of table: String) throws -> (low: Int64, high: Int64)? {
        guard let row = try Row.fetchOne(db, sql: boundsSQL(of: table)), let low: Int64 = row[0], let high: Int64 = row[1] else { return nil }
        return (low, high)
    }

    static func boundsSQL(of table: String) -> String {
        "SELECT (SELECT MIN(entry) FROM \(table)), (SELECT MAX(entry) FROM \(table))"
    }

    /// How far out of order entries can be stored (milliseconds): longer than any request's
    /// body deadline and store wait.
    static let timeMargin: Int64 = 10 * 60 * 1000

    /// The first entry recorded at or after `milliseconds` (one past the last when none), by
    /// bisection over the entry numbers, assuming they are stored in time order.
    static func firstEntry(_ db: Database, recordedAtOrAfter milliseconds: Int64) throws -> Int64 {
        guard let entries = try bounds(db, of: "event_log") else { return 0 }
        var low = entries.low, high = entries.high + 1
        let probe = try db.cachedStatement(sql: "SELECT recorded_at FROM event_log WHERE entry >= ? ORDER BY entry LIMIT 1")
        while low < high {
            let middle = low + (high - low) / 2
            let recorded = try Int64.fetchOne(probe, arguments: [middle]) ?? .max
            if recorded >= milliseconds { high = middle } else { low = middle + 1 }
        }
        return low
    }

    /// The contract's globs take `*` only: every other GLOB character is matched as itself.
    static func globPattern(_ text: String) -> String {
        var out = ""
        for character in text {
            switch character {
            case "?": out += "[?]"
            case "[": out += "[[]"
            default: out.append(character)
            }
        }
        return out
    }

    /// The states of the records `firstSeq...` of one entry, from the publish mark and the
    /// parked table (following redrives to the record's new position).
    static func records(_ db: Database, description: String, firstSeq: Int64, mark: Int64, droppedBy: String?) throws -> [LoggedRecord] {
        guard case .array(let items)? = try? JSONParser.parse(Array(description.utf8)).value else { return [] }
        if items.isEmpty, let droppedBy {
            return [LoggedRecord(topic: nil, key: nil, route: droppedBy, state: .dropped)]
        }
        var out: [LoggedRecord] = []
        for (index, item) in items.enumerated() {
            guard case .array(let parts) = item, parts.count == 3, case .string(let topic) = parts[0] else { continue }
            let key: String? = if case .string(let value) = parts[1] { value } else { nil }
            let route: String? = if case .string(let value) = parts[2] { value } else { nil }
            let (state, error) = try self.state(db, seq: firstSeq + Int64(index), mark: mark)
            out.append(LoggedRecord(topic: topic, key: key, route: route, state: state, error: error))
        }
        return out
    }

    static func state(_ db: Database, seq: Int64, mark: Int64) throws -> (LoggedRecord.State, String?) {
        var seq = seq
        // A redriven record's state is its new copy's, followed to the end (each hop is an
        // operator's redrive of a copy parked again); past 64 hops it is not known, and counts
        // as pending, so that an erasure waits rather than finish early.
        for _ in 0..<64 {
            guard let row = try Row.fetchOne(db.cachedStatement(sql: "SELECT error, redriven_to, discarded_at FROM parked WHERE seq = ?"), arguments: [seq]) else {
                return (seq > mark ? .pending : .published, nil)
            }
            if let next: Int64 = row["redriven_to"] { seq = next; continue }
            if (row["discarded_at"] as Int64?) != nil { return (.dropped, row["error"]) }
            return (.parked, row["error"])
        }
        return (.pending, nil)
    }

    /// The entries that have replays lie within this range (nil: none has): read once per
    /// transaction, so that entries outside it skip the look-up (an export of a log without
    /// replays was 10 to 18% slower with one look-up per entry).
    static func replayedEntries(_ db: Database) throws -> ClosedRange<Int64>? {
        guard let replayed = try bounds(db, of: "event_log_replays") else { return nil }
        return replayed.low...replayed.high
    }

    /// A row of ``columns`` as an entry; `replayed` from ``replayedEntries(_:)``.
    static func entry(_ db: Database, row: Row, mark: Int64, replayed: ClosedRange<Int64>?, cipher: StoreCipher?) throws -> LogEntry {
        func value<T: DatabaseValueConvertible>(_ column: Column) -> T? { row[column.rawValue] }
        let body = try OutboxStore.opened(row.dataNoCopy(atIndex: Column.body.rawValue), .body, keyID: value(.key_id), cipher: cipher)
        let deadletter = (value(.deadletter) as Int?) != 0
        let recordedAt: Int64 = value(.recorded_at) ?? 0
        let entry: Int64 = value(.entry) ?? 0
        let trace = (value(.traceparent) as String?).flatMap { TraceContext(traceParent: $0, traceState: value(.tracestate)) }
        var envelope: CanonicalEvent?
        if let id: String = value(.id), let product = (value(.product) as String?).flatMap(OkraProduct.init(rawValue:)),
           let outcome = (value(.outcome) as String?).flatMap(OkraOutcome.init(rawValue:)) {
            envelope = CanonicalEvent(
                id: id, time: value(.time), recordedTime: RFC3339.milliseconds(sinceEpoch: recordedAt), product: product, outcome: outcome,
                code: value(.code), environment: (value(.env) as String?).flatMap(OkraEnvironment.init(rawValue:)) ?? .unknown,
                record: value(.record), customer: value(.customer), account: value(.account), bank: value(.bank),
                shape: (value(.shape) as String?).flatMap(OkraShape.init(rawValue:)) ?? .unknown, partitionKey: nil, data: body)
            envelope?.trace = trace
        }
        return LogEntry(
            entry: entry, id: value(.id), recordedAtMilliseconds: recordedAt, envelope: envelope,
            tokenEnvironment: (value(.token_env) as String?).flatMap(OkraEnvironment.init(rawValue:)),
            deadletter: deadletter, reason: deadletter ? value(.reason) : nil, body: body, duplicates: value(.duplicates) ?? 0,
            records: try records(db, description: value(.records) ?? "[]", firstSeq: value(.first_seq) ?? 0, mark: mark, droppedBy: value(.dropped_by)),
            replays: replayed?.contains(entry) == true ? try replays(db, entry: entry, mark: mark) : [], trace: trace)
    }

    /// The replays of `entry`, oldest first, with their records' states.
    static func replays(_ db: Database, entry: Int64, mark: Int64) throws -> [LoggedReplay] {
        let statement = try db.cachedStatement(sql: "SELECT first_seq, replayed_at, records FROM event_log_replays WHERE entry = ? ORDER BY first_seq")
        return try Row.fetchAll(statement, arguments: [entry]).map { row in
            LoggedReplay(replayedAtMilliseconds: row["replayed_at"],
                         records: try records(db, description: row["records"], firstSeq: row["first_seq"], mark: mark, droppedBy: nil))
        }
    }
}
