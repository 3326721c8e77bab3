import Foundation
import GRDB
import GRDBSQLite
@testable import OkraStore
import Testing

/// The hot inserts' values bound straight to SQLite (``BoundValues``): what is stored is what
/// GRDB would store, errors are GRDB's, and no binding outlives the call.
@Suite("Values bound without copies")
struct BoundValuesTests {
    static let insert = "INSERT INTO t(a, b, c, d, e, f, g) VALUES (?, ?, ?, ?, ?, ?, ?)"

    /// `count` times the same text.
    static func texts(_ text: String, count: Int) -> BoundValues {
        var values = BoundValues(count: count, bytes: 0)
        for _ in 0..<count { values.append(text) }
        return values
    }

    static func database() throws -> DatabaseQueue {
        let queue = try DatabaseQueue()
        try queue.write { db in
            try db.execute(sql: "CREATE TABLE t(a INTEGER PRIMARY KEY, b, c, d, e, f, g)")
        }
        return queue
    }

    @Test("every kind of value is stored as GRDB stores it: null, integers, texts (empty, small, long, not ASCII), blobs (empty too)")
    func kinds() throws {
        let queue = try Self.database()
        let long = String(repeating: "é-long text ", count: 200)
        try queue.write { db in
            var values = BoundValues(count: 6, bytes: 0)  // too little room: the buffer grows
            values.append(nil as String?)
            values.append(42 as Int64?)
            values.append("")
            values.append("kobo ₦")
            values.append(long)
            values.append(blob: [0, 1, 2, 255] as [UInt8])
            #expect(values.count == 6)
            try values.execute(db.cachedStatement(sql: Self.insert), in: db, leading: 7)

            var empty = BoundValues(count: 6, bytes: 0)
            for _ in 0..<5 { empty.append(nil as Int64?) }
            empty.append(blob: Data())
            try empty.execute(db.cachedStatement(sql: Self.insert), in: db, leading: 8)

            try db.execute(sql: Self.insert, arguments: [9, nil, 42, "", "kobo ₦", long, Data([0, 1, 2, 255])])
        }
        try queue.read { db in
            let rows = try Row.fetchAll(db, sql: "SELECT a, b, c, d, e, f, g, typeof(b), typeof(c), typeof(d), typeof(g) FROM t ORDER BY a")
            #expect(rows.count == 3)
            let (ours, grdb) = (rows[0], rows[2])
            for column in 1...10 { #expect(ours[column] as DatabaseValue == grdb[column] as DatabaseValue, "column \(column)") }
            #expect(ours[3] as String == "")
            #expect(ours[4] as String == "kobo ₦")
            #expect(ours[5] as String == long)
            #expect(ours[6] as Data == Data([0, 1, 2, 255]))
            #expect(rows[1][6] as DatabaseValue == Data().databaseValue)
        }
    }

    @Test("a leading nil binds NULL, a leading number an integer")
    func leading() throws {
        let queue = try Self.database()
        try queue.write { db in
            try Self.texts("x", count: 5).execute(db.cachedStatement(sql: "INSERT INTO t(b, c, d, e, f, g) VALUES (?, ?, ?, ?, ?, ?)"), in: db, leading: nil)
            try Self.texts("y", count: 5).execute(db.cachedStatement(sql: "INSERT INTO t(b, c, d, e, f, g) VALUES (?, ?, ?, ?, ?, ?)"), in: db, leading: 41)
        }
        // `b` has no type of its own: what is stored is what was bound.
        let rows = try queue.read { db in try Row.fetchAll(db, sql: "SELECT typeof(b), b, c FROM t ORDER BY c") }
        #expect(rows.count == 2)
        #expect(rows[0][0] as String == "null" && rows[0][2] as String == "x")
        #expect(rows[1][0] as String == "integer" && rows[1][1] as Int64 == 41 && rows[1][2] as String == "y")
    }

    @Test("a text with a NUL is cut at it, as GRDB binds it (a dedupe id inserted here is looked up through GRDB)")
    func nul() throws {
        let queue = try Self.database()
        try queue.write { db in
            try Self.texts("evt\u{0}1", count: 6).execute(db.cachedStatement(sql: Self.insert), in: db, leading: 1)
            try db.execute(sql: Self.insert, arguments: [2, "evt\u{0}1", "evt\u{0}1", "evt\u{0}1", "evt\u{0}1", "evt\u{0}1", "evt\u{0}1"])
        }
        let rows = try queue.read { db in try Row.fetchAll(db, sql: "SELECT b, length(b), c FROM t ORDER BY a") }
        #expect(rows.count == 2)
        for column in 0..<3 { #expect(rows[0][column] as DatabaseValue == rows[1][column] as DatabaseValue, "column \(column)") }
        #expect(try queue.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM t WHERE b = ?", arguments: ["evt\u{0}1"]) } == 2)
    }

    @Test("a failing statement throws GRDB's DatabaseError with SQLite's code, and the statement runs again after it")
    func errors() throws {
        let queue = try Self.database()
        try queue.write { db in
            let values = Self.texts("x", count: 6)
            try values.execute(db.cachedStatement(sql: Self.insert), in: db, leading: 1)
            do {
                try values.execute(db.cachedStatement(sql: Self.insert), in: db, leading: 1)
                Issue.record("a second row with the same key was stored")
            } catch let error as DatabaseError {
                #expect(error.resultCode == .SQLITE_CONSTRAINT)
                #expect(error.sql == Self.insert)
            }
            try values.execute(db.cachedStatement(sql: Self.insert), in: db, leading: 2)
            #expect(try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM t") == 2)
        }
    }

    @Test("no binding is left pointing into the values once the call returns")
    func bindingsCleared() throws {
        let queue = try Self.database()
        try queue.write { db in
            let statement = try db.cachedStatement(sql: Self.insert)
            var values = BoundValues(count: 6, bytes: 64)
            for index in 0..<6 { values.append("value-\(index)") }
            try values.execute(statement, in: db, leading: 1)
            // What the statement would run with now: every parameter NULL.
            let pointer = try #require(sqlite3_expanded_sql(statement.sqliteStatement))
            defer { sqlite3_free(pointer) }
            let expanded = String(cString: pointer)
            #expect(expanded == "INSERT INTO t(a, b, c, d, e, f, g) VALUES (NULL, NULL, NULL, NULL, NULL, NULL, NULL)")
        }
    }
}
