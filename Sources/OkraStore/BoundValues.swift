import GRDB
import GRDBSQLite

/// A hot insert's values, gathered where the row is made (the request's task) into one byte
/// buffer, so the store's one writer binds them to SQLite without copying or allocating:
/// `SQLITE_STATIC` pointers into the buffer, then one step. GRDB builds an argument array for
/// every execution on the writer, and past 20 arguments (the event log's insert has 24) binds
/// each string and blob as a transient copy (docs/benchmarks.md, "Allocations a webhook"). The
/// store's hot inserts (the log's row, the outbox's record, the dedupe id) run this way.
///
/// What GRDB's `execute` does around a statement and this does not: it tells no transaction
/// observer (the store has none), and it does not refuse to run after SQLite rolled the
/// transaction back on its own (a full disk, an I/O error): the writer must not go on after an
/// error, as ``BatchWriter`` does not (the first error ends the batch's transaction).
struct BoundValues: Sendable {
    private enum Slot {
        case null
        case integer(Int64)
        case text(start: Int, count: Int)
        case blob(start: Int, count: Int)
    }

    /// The texts and blobs, after one byte that keeps the buffer's address valid when all are
    /// empty (a null pointer would bind NULL, not an empty text).
    private var bytes: [UInt8] = [0]
    private var slots: [Slot] = []

    /// Room for `count` values and `bytes` bytes of text and blobs.
    init(count: Int, bytes: Int) {
        slots.reserveCapacity(count)
        self.bytes.reserveCapacity(bytes + 1)
    }

    /// How many values were added.
    var count: Int { slots.count }

    mutating func append(_ value: Int64?) {
        slots.append(value.map { .integer($0) } ?? .null)
    }

    mutating func append(_ value: Int) {
        slots.append(.integer(Int64(value)))
    }

    /// A text, up to its first NUL if it has one, as GRDB binds it (SQLite reads a C string).
    mutating func append(_ text: String?) {
        guard let text else { return slots.append(.null) }
        let start = bytes.count
        let utf8 = text.utf8
        if let nul = utf8.firstIndex(of: 0) { bytes.append(contentsOf: utf8[..<nul]) } else { bytes.append(contentsOf: utf8) }
        slots.append(.text(start: start, count: bytes.count - start))
    }

    mutating func append(blob: some Collection<UInt8>) {
        let start = bytes.count
        bytes.append(contentsOf: blob)
        slots.append(.blob(start: start, count: bytes.count - start))
    }

    /// Runs `statement` (an INSERT or UPDATE: no rows) with `leading` integers (nil: NULL) bound
    /// first, then these values. Its bindings are cleared before returning: nothing points into the buffer
    /// once it is gone. A failure is GRDB's `DatabaseError`, as `execute(arguments:)` throws.
    func execute(_ statement: Statement, in db: Database, leading: Int64?...) throws {
        let handle = statement.sqliteStatement
        precondition(Int(sqlite3_bind_parameter_count(handle)) == leading.count + slots.count, "\(statement.sql): wrong number of values")
        sqlite3_reset(handle)
        defer { sqlite3_clear_bindings(handle) }
        let code = bytes.withUnsafeBufferPointer { buffer -> CInt in
            var index: CInt = 0
            for value in leading {
                index += 1
                let code = if let value { sqlite3_bind_int64(handle, index, value) } else { sqlite3_bind_null(handle, index) }
                guard code == SQLITE_OK else { return code }
            }
            let base = buffer.baseAddress!
            for slot in slots {
                index += 1
                let code = switch slot {
                case .null: sqlite3_bind_null(handle, index)
                case .integer(let value): sqlite3_bind_int64(handle, index, value)
                case .text(let start, let count):
                    (base + start).withMemoryRebound(to: CChar.self, capacity: count) { sqlite3_bind_text(handle, index, $0, CInt(count), nil) }
                case .blob(let start, let count): sqlite3_bind_blob(handle, index, base + start, CInt(count), nil)
                }
                guard code == SQLITE_OK else { return code }
            }
            return sqlite3_step(handle)
        }
        guard code == SQLITE_DONE else {
            let message = String(cString: sqlite3_errmsg(db.sqliteConnection))
            sqlite3_reset(handle)
            throw DatabaseError(resultCode: ResultCode(rawValue: code), message: message, sql: statement.sql)
        }
    }
}
