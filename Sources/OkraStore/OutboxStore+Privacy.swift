import Foundation
import GRDB
import OkraEnvelope
import OkraOperations

// The audit trail and erasure (§9), in the store beside the event log they are about.
extension OutboxStore {
    /// Appends `record` to the audit trail; returns it with its place.
    @discardableResult
    public func appendAudit(_ record: AuditRecord) async throws -> AuditRecord {
        let filter = try record.filter.map { String(decoding: try JSONEncoder.sorted.encode($0), as: UTF8.self) }
        let ids = try record.ids.map { String(decoding: try JSONEncoder.sorted.encode($0), as: UTF8.self) }
        let seq = try await committer.maintenanceWrite { db -> Int64 in
            try db.execute(sql: "INSERT INTO audit_log(at, token, scope, action, filter, ids, count, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                           arguments: [record.atMilliseconds, record.token, record.scope?.rawValue, record.action.rawValue, filter, ids, record.count,
                                       record.error])
            return db.lastInsertedRowID
        }
        var stored = record
        stored.seq = seq
        return stored
    }

    /// Audit lines recorded in `since..<until`, newest first, at most `limit`, before `cursor`.
    public func auditTrail(since: Date?, until: Date?, limit: Int, before cursor: Int64?) async throws -> (records: [AuditRecord], next: Int64?) {
        var conditions: [String] = []
        var arguments: [(any DatabaseValueConvertible)?] = []
        if let since { conditions.append("at >= ?"); arguments.append(Int64(since.timeIntervalSince1970 * 1000)) }
        if let until { conditions.append("at < ?"); arguments.append(Int64(until.timeIntervalSince1970 * 1000)) }
        if let cursor { conditions.append("seq < ?"); arguments.append(cursor) }
        let condition = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
        let sql = "SELECT seq, at, token, scope, action, filter, ids, count, error FROM audit_log \(condition) ORDER BY seq DESC LIMIT \(limit + 1)"
        let values = arguments.map { $0?.databaseValue ?? .null }
        let rows = try await pool.read { db -> [AuditRecord] in
            let decoder = JSONDecoder()
            return try Row.fetchAll(db, sql: sql, arguments: StatementArguments(values)).map { row -> AuditRecord in
                let filter: String? = row[5]
                let ids: String? = row[6]
                guard let action = AuditAction(rawValue: row[4]) else { throw UnknownAuditAction(action: row[4]) }
                return AuditRecord(seq: row[0], atMilliseconds: row[1], token: row[2], scope: (row[3] as String?).flatMap(AdminScope.init(rawValue:)),
                                   action: action, filter: try filter.map { try decoder.decode([String: String].self, from: Data($0.utf8)) },
                                   ids: try ids.map { try decoder.decode([String].self, from: Data($0.utf8)) }, count: row[7], error: row[8])
            }
        }
        let records = Array(rows.prefix(limit))
        return (records, rows.count > limit ? records.last?.seq : nil)
    }

    /// An audit line of an action this version does not know (written by a newer bridge).
    struct UnknownAuditAction: Error, CustomStringConvertible {
        let action: String
        var description: String { "the audit trail holds an action this version does not know (\(action)): read it with the bridge that wrote it" }
    }

    /// Removes `customer`'s entries whose records are delivered (or parked), and their parked
    /// records; the rest once delivered (``finishErasures(now:)``). Freed pages are zeroed
    /// (`secure_delete`) and the WAL truncated.
    public func erase(customer: String, now: Date = Date()) async throws -> Erasure {
        let erasure = try await committer.erase(customer: customer, now: Int64(now.timeIntervalSince1970 * 1000))
        erasuresWaiting.store(erasure.waiting > 0 || erasuresWaiting.load(ordering: .relaxed), ordering: .relaxed)
        return erasure
    }

    /// Goes on with the erasures that waited for delivery; returns the entries removed.
    @discardableResult
    public func finishErasures(now: Date = Date()) async throws -> Int {
        await committer.truncateWALIfWanted()
        guard erasuresWaiting.load(ordering: .relaxed) else { return 0 }
        let customers = try await pool.read { db in try String.fetchAll(db, sql: "SELECT customer FROM erasures") }
        var removed = 0
        var stillWaiting = false
        for customer in customers {
            let erasure = try await committer.erase(customer: customer, now: Int64(now.timeIntervalSince1970 * 1000))
            removed += erasure.erased
            stillWaiting = stillWaiting || erasure.waiting > 0
        }
        erasuresWaiting.store(stillWaiting, ordering: .relaxed)
        return removed
    }

    /// Audit lines older than the trail's retention; returns how many were removed.
    func pruneAudit(now: Int64) async throws -> Int {
        let horizon = now - Int64(auditRetain.components.seconds) * 1000
        var removed = 0
        while true {
            let deleted = try await committer.maintenanceWrite { db in
                try db.execute(sql: "DELETE FROM audit_log WHERE seq IN (SELECT seq FROM audit_log WHERE at < ? ORDER BY seq LIMIT 1000)", arguments: [horizon])
                return db.changesCount
            }
            removed += deleted
            if deleted < 1000 { return removed }
        }
    }
}

extension JSONEncoder {
    /// Keys sorted, so the same value is the same text.
    static var sorted: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }
}

/// One erasure's transaction (``GroupCommitter/erase(customer:now:)`` runs it on the writer):
/// the customer's entries whose records are out of the outbox, their replays and parked records,
/// the parked records naming the customer, and the dead letters whose body holds the id.
struct ErasureWrite {
    let db: Database
    let customer: String
    let cipher: StoreCipher?
    private var erased = 0, waiting = 0, stillParked = 0, parkedRows = 0
    private var bytes: Int64 = 0

    init(db: Database, customer: String, cipher: StoreCipher?) {
        self.db = db
        self.customer = customer
        self.cipher = cipher
    }

    /// Erases what can be now; returns the counts, the log bytes freed and the parked rows removed.
    mutating func run(now: Int64) throws -> (Erasure, Int64, Int) {
        let (ofCustomer, arguments) = try EventLogQuery.keyed(db, .customer, customer)
        let entries = try Row.fetchAll(db, sql: "SELECT entry, id, bytes, first_seq, records FROM event_log WHERE \(ofCustomer)",
                                       arguments: StatementArguments(arguments))
        // The key look-up (one a bucket of the log) runs once, on the writer, for every waiting
        // erasure every second; whether an entry's records are still in the outbox is read by
        // their numbers, as the log shows their states, never by a scan of the outbox.
        let mark = try Int64.fetchOne(db, sql: "SELECT published_through FROM publish_progress") ?? 0
        var waitingIDs: [String] = []
        for row in entries {
            if try hasPendingRecords(entry: row[0], firstSeq: row[3], description: row[4], mark: mark) {
                waiting += 1
                if let id = row[1] as String? { waitingIDs.append(id) }
                continue
            }
            if let id = row[1] as String? { try removeParked("event_id = ?", [id]) }
            try removeEntry(row[0], size: row[2])
        }
        // A waiting entry's redriven rows lead from its records to their copies in the outbox:
        // they go with the entry, so that the next look (every second) still finds the copies.
        let links = String(decoding: try JSONEncoder().encode(waitingIDs), as: UTF8.self)
        let notALink = "NOT (redriven_to IS NOT NULL AND event_id IS NOT NULL AND event_id IN (SELECT value FROM json_each(?)))"
        try removeParked("customer = ? AND \(notALink)", [customer, links])
        try eraseBodiesNamingCustomer(mark: mark, notALink: notALink, links: links)
        if waiting > 0 {
            try db.execute(sql: "INSERT OR IGNORE INTO erasures(customer, requested_at) VALUES (?, ?)", arguments: [customer, now])
        } else {
            try db.execute(sql: "DELETE FROM erasures WHERE customer = ?", arguments: [customer])
        }
        return (Erasure(erased: erased, waiting: waiting, parked: stillParked), bytes, parkedRows)
    }

    /// Bodies with no envelope have no customer column: a dead letter is erased when its body
    /// holds the id (once its record is out of the outbox), and a parked record without a
    /// customer when its value does: a dead letter's, or an event's whose entry was gone when it
    /// was parked (always so with the log off, where nothing gives a parked record its customer).
    private mutating func eraseBodiesNamingCustomer(mark: Int64, notALink: String, links: String) throws {
        let needle = Data(customer.utf8)
        for row in try Row.fetchAll(db, sql: "SELECT entry, body, key_id, bytes, first_seq, records FROM event_log WHERE deadletter = 1 AND customer IS NULL") {
            let body = try OutboxStore.opened(row[1] as Data?, .body, keyID: row[2], cipher: cipher)
            guard Data(body).range(of: needle) != nil else { continue }
            // Its record reads the body from the entry until Kafka has it.
            if try hasPendingRecords(entry: row[0], firstSeq: row[4], description: row[5], mark: mark) {
                waiting += 1
            } else {
                try removeEntry(row[0], size: row[3])
            }
        }
        for row in try Row.fetchAll(db, sql: "SELECT seq, value, key_id FROM parked WHERE customer IS NULL AND \(notALink)", arguments: [links]) {
            let value = try OutboxStore.opened(row[1] as Data?, .value, keyID: row[2], cipher: cipher)
            if Data(value).range(of: needle) != nil { try removeParked("seq = ?", [row[0] as Int64]) }
        }
    }

    /// Whether a record of the entry, or of one of its replays, is still in the outbox: pending
    /// as the event log shows it (``EventLogQuery/state(_:seq:mark:)``: above the publish mark,
    /// a redrive followed to its copy), each found by its number.
    private func hasPendingRecords(entry: Int64, firstSeq: Int64, description: String, mark: Int64) throws -> Bool {
        var runs = [(firstSeq, description)]
        let replays = try db.cachedStatement(sql: "SELECT first_seq, records FROM event_log_replays WHERE entry = ?")
        for replay in try Row.fetchAll(replays, arguments: [entry]) { runs.append((replay[0], replay[1])) }
        for (first, description) in runs {
            // A description that cannot be read counts as pending: the entry stays, rather than
            // leave a record that reads its body from it without one.
            guard case .array? = try? JSONParser.parse(Array(description.utf8)).value else { return true }
            for record in try EventLogQuery.records(db, description: description, firstSeq: first, mark: mark, droppedBy: nil)
            where record.state == .pending {
                return true
            }
        }
        return false
    }

    private mutating func removeEntry(_ entry: Int64, size: Int64) throws {
        try db.execute(sql: "UPDATE event_ids SET entry = NULL WHERE entry = ?", arguments: [entry])
        try db.execute(sql: "DELETE FROM event_log_replays WHERE entry = ?", arguments: [entry])
        try db.execute(sql: "DELETE FROM event_log WHERE entry = ?", arguments: [entry])
        erased += 1
        bytes += size
    }

    private mutating func removeParked(_ condition: String, _ arguments: StatementArguments) throws {
        stillParked += try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM parked WHERE (\(condition)) AND redriven_to IS NULL AND discarded_at IS NULL",
                                        arguments: arguments) ?? 0
        try db.execute(sql: "DELETE FROM parked WHERE \(condition)", arguments: arguments)
        parkedRows += db.changesCount
    }
}
