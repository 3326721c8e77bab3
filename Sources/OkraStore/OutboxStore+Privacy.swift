import Foundation
import GRDB
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
        guard let retain = eventLog?.auditRetain else { return 0 }
        let horizon = now - Int64(retain.components.seconds) * 1000
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
