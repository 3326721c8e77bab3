import GRDB

// What tests read of the store and nothing else does (internal: `@testable import OkraStore`).
extension OutboxStore {
    /// `PRAGMA synchronous` as the writer connection runs it (2 is FULL); tests read it here,
    /// since a reader connection answers for itself only.
    var writerSynchronous: Int? {
        get async throws { try await pool.writeWithoutTransaction { db in try Int.fetchOne(db, sql: "PRAGMA synchronous") } }
    }
}
