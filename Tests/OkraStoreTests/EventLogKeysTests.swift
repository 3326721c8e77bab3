import Foundation
import GRDB
import OkraOperations
@testable import OkraStore
import Testing

/// The event log's search keys (`event_log_keys`, layout 10): record, customer and account ids
/// kept by bucket of entries, written and removed with their entries by SQLite's triggers.
@Suite("Event log search keys")
struct EventLogKeysTests {
    typealias Harness = EventLogTests.Harness

    static func payment(_ index: Int) -> String {
        #"{"type":"CALLBACK","method":"PAYMENT","code":"PAYMENT_SUCCESS","env":"production","record":"rec-K-\#(index)","customerId":"cus-\#(index % 3)","accountId":"acc-\#(index % 5)"}"#
    }

    /// `count` payments, one at a time (entries numbered 1 to `count`), with their ids by index.
    static func filled(_ harness: Harness, count: Int) async throws -> [String] {
        var ids: [String] = []
        for index in 0..<count { ids.append(try harness.id(await harness.post(payment(index)))) }
        return ids
    }

    static func keyCount(_ harness: Harness, _ condition: String = "1") async throws -> Int {
        try await harness.store.pool.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM event_log_keys WHERE \(condition)") ?? -1 }
    }

    /// Whether `event_log_keys` holds exactly the keys of the log's rows: one per non-null id
    /// column of each row, and none of a row that is gone.
    static func keysMatchRows(_ harness: Harness) async throws -> Bool {
        try await harness.store.pool.read { db in
            try Bool.fetchOne(db, sql: """
                SELECT NOT EXISTS (
                    SELECT entry >> \(StoreSchema.keyBucketShift), 0, record, entry FROM event_log WHERE record IS NOT NULL
                    UNION ALL SELECT entry >> \(StoreSchema.keyBucketShift), 1, customer, entry FROM event_log WHERE customer IS NOT NULL
                    UNION ALL SELECT entry >> \(StoreSchema.keyBucketShift), 2, account, entry FROM event_log WHERE account IS NOT NULL
                    EXCEPT SELECT bucket, kind, value, entry FROM event_log_keys
                ) AND (SELECT COUNT(*) FROM event_log_keys) = (SELECT COUNT(record) + COUNT(customer) + COUNT(account) FROM event_log)
                """) ?? false
        }
    }

    @Test("searches by record, customer and account find every entry of theirs across the key buckets, and only those, page by page")
    func searchesSpanBuckets() async throws {
        let harness = try Harness()
        defer { harness.remove() }
        // 700 entries: buckets 0, 1 and 2 of 256 entries each.
        let ids = try await Self.filled(harness, count: 700)
        func all(_ filter: EventFilter, page: Int) async throws -> [String] {
            var found: [String] = []
            var cursor: Int64?
            repeat {
                let (entries, next) = try await harness.store.logEntries(filter, limit: page, before: cursor, withData: false)
                found += entries.compactMap(\.id)
                cursor = next
            } while cursor != nil
            return found
        }
        var byCustomer = EventFilter()
        byCustomer.customer = "cus-1"
        let customers = try await all(byCustomer, page: 50)
        #expect(customers == ids.indices.filter { $0 % 3 == 1 }.reversed().map { ids[$0] })
        var byAccount = EventFilter()
        byAccount.account = "acc-4"
        #expect(try await all(byAccount, page: 1000) == ids.indices.filter { $0 % 5 == 4 }.reversed().map { ids[$0] })
        for index in [0, 255, 256, 511, 512, 699] {
            var byRecord = EventFilter()
            byRecord.record = "rec-K-\(index)"
            #expect(try await all(byRecord, page: 10) == [ids[index]], "record \(index)")
        }
        var both = EventFilter()
        both.customer = "cus-2"
        both.account = "acc-0"
        #expect(try await all(both, page: 10) == ids.indices.filter { $0 % 15 == 5 }.reversed().map { ids[$0] })
        var unknown = EventFilter()
        unknown.customer = "cus-none"
        #expect(try await all(unknown, page: 10).isEmpty)
        // An export goes oldest first, each page after the last.
        var exported: [String] = []
        try await harness.store.exportLog(byCustomer) { exported += $0.id.map { [$0] } ?? [] }
        #expect(exported == customers.reversed())
        #expect(try await Self.keyCount(harness) == 3 * 700)
        #expect(try await Self.keysMatchRows(harness))
    }

    @Test("a row that INSERT OR REPLACE removes takes its keys with it, and the new row's are written")
    func replacedRowsLeaveNoKeys() async throws {
        let harness = try Harness()
        defer { harness.remove() }
        _ = try await Self.filled(harness, count: 3)
        try await harness.store.pool.write { db in
            try db.execute(sql: """
                INSERT OR REPLACE INTO event_log(entry, recorded_at, deadletter, body, first_seq, records, bytes, customer)
                VALUES (2, 0, 0, x'', 2, '[]', 0, 'cus-replacing')
                """)
        }
        #expect(try await Self.keyCount(harness, "value IN ('cus-1', 'rec-K-1', 'acc-1')") == 0)
        #expect(try await Self.keyCount(harness, "value = 'cus-replacing' AND entry = 2") == 1)
        #expect(try await Self.keysMatchRows(harness))
    }

    @Test("a search by customer looks the keys up by their primary key, bucket by bucket: it scans neither the keys nor the log")
    func searchUsesTheKeys() async throws {
        let harness = try Harness()
        defer { harness.remove() }
        _ = try await Self.filled(harness, count: 10)
        var customer = EventFilter()
        customer.customer = "cus-1"
        let filter = customer
        let plan = try await harness.store.pool.read { db in
            let (condition, arguments) = try EventLogQuery.condition(db, filter)
            return try Row.fetchAll(db, sql: "EXPLAIN QUERY PLAN SELECT entry FROM event_log WHERE \(condition) ORDER BY entry DESC",
                                    arguments: StatementArguments(arguments)).map { $0["detail"] as String }
        }
        #expect(plan.contains { $0.contains("SEARCH keys USING PRIMARY KEY (bucket=? AND kind=? AND value=?)") }, "\(plan)")
        #expect(!plan.contains { $0.hasPrefix("SCAN event_log") || $0.hasPrefix("SCAN keys") }, "\(plan)")
    }

    @Test("the first and last entry of the log and of its replays are read from the ends of their tables, not by a scan (as SELECT MIN, MAX did)")
    func boundsAreLookUps() async throws {
        let harness = try Harness()
        defer { harness.remove() }
        _ = try await Self.filled(harness, count: 3)
        for table in ["event_log", "event_log_replays"] {
            let plan = try await harness.store.pool.read { db in
                try Row.fetchAll(db, sql: "EXPLAIN QUERY PLAN " + EventLogQuery.boundsSQL(of: table)).map { $0["detail"] as String }
            }
            #expect(plan.filter { $0.hasPrefix("SEARCH \(table)") }.count == 2, "\(plan)")
            #expect(!plan.contains { $0.hasPrefix("SCAN \(table)") }, "\(plan)")
        }
        let bounds = try await harness.store.pool.read { db in try EventLogQuery.bounds(db, of: "event_log") }
        #expect(bounds?.low == 1 && bounds?.high == 3)
    }

    @Test("an entry's keys leave with it: retention and erasure leave no key of a removed entry, and no trace of an erased customer's id")
    func keysFollowTheirEntries() async throws {
        let harness = try Harness(eventLog: EventLogPolicy(retain: .seconds(3600), retainBytes: 60_000))
        defer { harness.remove() }
        _ = try await Self.filled(harness, count: 600)
        try await harness.publishAll()
        try await harness.store.prune()
        let kept = try await harness.store.pool.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM event_log") ?? 0 }
        #expect(kept > 0 && kept < 600, "retention removed the oldest entries")
        #expect(try await Self.keyCount(harness) == 3 * kept)
        #expect(try await Self.keyCount(harness, "entry NOT IN (SELECT entry FROM event_log)") == 0)

        let erasure = try await harness.operations.erase(customer: "cus-2")
        #expect(erasure.erased > 0)
        #expect(try await Self.keyCount(harness, "value = 'cus-2'") == 0)
        #expect(try await Self.keyCount(harness, "entry NOT IN (SELECT entry FROM event_log)") == 0)
        #expect(try await Self.keyCount(harness) == 3 * (kept - erasure.erased))
        #expect(try await Self.keysMatchRows(harness))
    }

    @Test("a store file of version 9 (three indexes of the log) is upgraded in place: its entries' keys are filled, the indexes go, searches find old and new entries, an erasure removes old ones",
          arguments: [true, false])
    func upgradeFromVersion9(withIndexes: Bool) async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("okra-log-v9-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let old: [String]
        do {
            let harness = try Harness(directory: directory)
            old = try await Self.filled(harness, count: 300)
        }
        do {
            // The version 9 layout: the three indexes (or, as in a file repaired by hand, none),
            // no keys table, no triggers.
            let queue = try EventLogTests.plainConnection(directory)
            try await queue.write { db in
                try db.execute(sql: """
                    DROP TRIGGER event_log_keys_added; DROP TRIGGER event_log_keys_removed; DROP TRIGGER event_log_keys_changed;
                    DROP TABLE event_log_keys;
                    PRAGMA user_version = 9;
                    """)
                if withIndexes {
                    try db.execute(sql: """
                        CREATE INDEX event_log_record ON event_log(record) WHERE record IS NOT NULL;
                        CREATE INDEX event_log_customer ON event_log(customer) WHERE customer IS NOT NULL;
                        CREATE INDEX event_log_account ON event_log(account) WHERE account IS NOT NULL;
                        """)
                }
            }
            try queue.close()
        }
        let harness = try Harness(directory: directory)
        defer { harness.remove() }
        #expect(try await harness.store.pool.read { db in try Int.fetchOne(db, sql: "PRAGMA user_version") } == StoreSchema.version)
        let indexes = try await harness.store.pool.read { db in
            try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'index' AND name LIKE 'event_log_%'")
        }
        #expect(indexes == ["event_log_anonymous_deadletters"], "only the dead letters' partial index: \(indexes)")
        #expect(try await Self.keyCount(harness) == 3 * 300)
        let new = try harness.id(await harness.post(Self.payment(301)))
        var filter = EventFilter()
        filter.customer = "cus-1"
        let found = try await harness.store.logEntries(filter, limit: 1000, before: nil, withData: false).entries.compactMap(\.id)
        #expect(found == [new] + old.indices.filter { $0 % 3 == 1 }.reversed().map { old[$0] })
        #expect(try await Self.keysMatchRows(harness))
        try await harness.publishAll()
        let erasure = try await harness.operations.erase(customer: "cus-1")
        #expect(erasure.erased == 101)
        #expect(try await Self.keyCount(harness, "value = 'cus-1'") == 0)
        #expect(try await Self.keysMatchRows(harness))
    }
}
