import Foundation
import GRDB

// What tests read of the store and nothing else does (internal: `@testable import OkraStore`).
extension OutboxStore {
    /// `PRAGMA synchronous` as the writer connection runs it (2 is FULL); tests read it here,
    /// since a reader connection answers for itself only.
    var writerSynchronous: Int? {
        get async throws { try await pool.writeWithoutTransaction { db in try Int.fetchOne(db, sql: "PRAGMA synchronous") } }
    }

    /// `PRAGMA integrity_check` on the writer: `["ok"]` for a whole file.
    var integrityCheck: [String] {
        get async throws { try await pool.writeWithoutTransaction { db in try String.fetchAll(db, sql: "PRAGMA integrity_check") } }
    }

    /// Runs a checkpoint pass now, as the one queued after a commit does: the WAL's length and
    /// the frames copied, nil when it failed.
    func checkpointPass() async -> (walFrameCount: Int, checkpointedFrameCount: Int)? {
        await committer.checkpoint()
    }

    /// Keeps the writer in a write transaction until `release()` returns true (looked at every
    /// millisecond), calling `entered()` once inside.
    func holdWriter(entered: @escaping @Sendable () -> Void, release: @escaping @Sendable () -> Bool) async throws {
        try await pool.write { db in
            try db.execute(sql: "UPDATE publish_progress SET published_through = published_through")
            entered()
            while !release() { usleep(1000) }
        }
    }

    /// Keeps a reader in a read transaction (a snapshot of the file) until `release()` returns
    /// true, calling `entered()` once its snapshot is taken.
    func holdReader(entered: @escaping @Sendable () -> Void, release: @escaping @Sendable () -> Bool) async throws {
        try await pool.read { db in
            _ = try Int.fetchOne(db, sql: "SELECT count(*) FROM records")
            entered()
            while !release() { usleep(1000) }
        }
    }
}
