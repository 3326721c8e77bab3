import Foundation
import Synchronization
import GRDB
import OkraEnvelope
import OkraRouting

/// The durable store of `--delivery durable`: a SQLite file (WAL, `synchronous=FULL`, so a
/// commit is on disk when it returns) holding the outbox of routed records and the dedupe
/// index of event ids.
///
/// Concurrent ``accept(eventID:records:receivedAt:)`` calls are committed together (group
/// commit): whoever arrives while a transaction is being written joins the next one, so one
/// fsync acknowledges many requests.
public final class OutboxStore: Sendable {
    /// What happened to an accepted request.
    public enum Acceptance: Sendable, Equatable {
        /// Stored; its records will be published.
        case accepted
        /// The id was seen within the dedupe window; nothing stored.
        case duplicate
    }

    /// One stored record waiting to be published.
    public struct PendingRecord: Sendable, Equatable {
        /// Position in the outbox: publish order.
        public var seq: Int64
        public var eventID: String?
        public var topic: String
        public var key: [UInt8]?
        public var headers: [(name: String, value: String)]
        public var value: [UInt8]
        /// When it was stored (milliseconds since 1970).
        public var createdAtMilliseconds: Int64

        public static func == (lhs: PendingRecord, rhs: PendingRecord) -> Bool {
            lhs.seq == rhs.seq && lhs.eventID == rhs.eventID && lhs.topic == rhs.topic && lhs.key == rhs.key
                && lhs.value == rhs.value && lhs.headers.map(\.name) == rhs.headers.map(\.name) && lhs.headers.map(\.value) == rhs.headers.map(\.value)
        }
    }

    /// The store is at its bound; the request was not stored (answer 503 with Retry-After).
    public struct Full: Error, CustomStringConvertible {
        public let pending: Int
        public var description: String { "the outbox holds \(pending) unpublished records, its bound" }
    }

    let pool: DatabasePool
    private let newRecords = WakeUp()
    private let committer: GroupCommitter
    /// The file's path.
    public let path: String
    /// The most unpublished records it holds before refusing new ones.
    public let maxPending: Int
    /// How long an id is remembered for dedupe.
    public let dedupeWindow: Duration

    /// Opens (or creates) `directory/okra-bridge.sqlite`.
    public init(directory: String, maxPending: Int = 1_000_000, dedupeWindow: Duration = .seconds(73 * 3600)) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        path = (directory as NSString).appendingPathComponent("okra-bridge.sqlite")
        var configuration = Configuration()
        configuration.prepareDatabase { db in
            // Small pages for a new file: each insert into the dedupe index lands on a random
            // page, and the WAL receives that whole page; 1 KiB pages cut the WAL written per
            // webhook and the commit stalls of checkpoints (docs/benchmarks.md). An existing
            // file keeps its page size.
            try db.execute(sql: "PRAGMA page_size = 1024")
            try db.execute(sql: "PRAGMA synchronous = FULL")
        }
        configuration.busyMode = .timeout(10)
        pool = try DatabasePool(path: path, configuration: configuration)
        try pool.write { db in
            try db.execute(sql: """
                CREATE TABLE IF NOT EXISTS events (
                    id TEXT PRIMARY KEY NOT NULL,
                    received_at INTEGER NOT NULL
                ) WITHOUT ROWID;
                CREATE INDEX IF NOT EXISTS events_received_at ON events(received_at);
                CREATE TABLE IF NOT EXISTS outbox (
                    seq INTEGER PRIMARY KEY AUTOINCREMENT,
                    event_id TEXT,
                    topic TEXT NOT NULL,
                    key BLOB,
                    headers TEXT NOT NULL,
                    value BLOB NOT NULL,
                    created_at INTEGER NOT NULL,
                    published_at INTEGER
                );
                CREATE INDEX IF NOT EXISTS outbox_pending ON outbox(seq) WHERE published_at IS NULL;
                """)
        }
        let pending = try pool.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM outbox WHERE published_at IS NULL") ?? 0 }
        self.maxPending = maxPending
        self.dedupeWindow = dedupeWindow
        committer = GroupCommitter(pool: pool, pending: pending, maxPending: maxPending,
                                   windowMilliseconds: Int64(dedupeWindow.components.seconds) * 1000)
    }

    /// Stores an event's records durably (or recognizes a duplicate id) and returns once the
    /// transaction is on disk. A nil id (a dead letter without one) is never a duplicate.
    /// - Throws: ``Full`` at the bound; a database error if the disk fails.
    public func accept(eventID: String?, records: [RoutedRecord], receivedAt: Date) async throws -> Acceptance {
        let outcome = try await committer.submit(.init(eventID: eventID, records: records, receivedAtMilliseconds: Int64(receivedAt.timeIntervalSince1970 * 1000)))
        if outcome == .accepted && !records.isEmpty { newRecords.signal() }
        return outcome
    }

    /// Returns when records were stored since the last call returned, or after `timeout`:
    /// the publisher waits here instead of polling an empty outbox.
    public func waitForNewRecords(timeout: Duration) async {
        await newRecords.wait(timeout: timeout)
    }

    /// Unpublished records after `seq`, oldest first.
    public func pending(after seq: Int64, limit: Int) async throws -> [PendingRecord] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: """
                SELECT seq, event_id, topic, key, headers, value, created_at FROM outbox
                WHERE published_at IS NULL AND seq > ? ORDER BY seq LIMIT ?
                """, arguments: [seq, limit]).map { row in
                PendingRecord(
                    seq: row["seq"], eventID: row["event_id"], topic: row["topic"],
                    key: (row["key"] as Data?).map { Array($0) },
                    headers: Self.decodeHeaders(row["headers"]),
                    value: Array(row["value"] as Data), createdAtMilliseconds: row["created_at"]
                )
            }
        }
    }

    /// Marks records published (after their delivery reports).
    public func markPublished(_ seqs: [Int64], at date: Date = Date()) async throws {
        guard !seqs.isEmpty else { return }
        try await committer.markPublished(seqs, atMilliseconds: Int64(date.timeIntervalSince1970 * 1000))
    }

    /// Unpublished records, and the age of the oldest in seconds (0 when none).
    public func depth(now: Date = Date()) async throws -> (count: Int, oldestAgeSeconds: Double) {
        try await pool.read { db in
            let count = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM outbox WHERE published_at IS NULL") ?? 0
            let oldest = try Int64.fetchOne(db, sql: "SELECT MIN(created_at) FROM outbox WHERE published_at IS NULL")
            let age = oldest.map { max(0, now.timeIntervalSince1970 - Double($0) / 1000) } ?? 0
            return (count, age)
        }
    }

    /// Deletes published records and ids older than the dedupe window. Returns what it removed.
    @discardableResult
    public func prune(now: Date = Date()) async throws -> (records: Int, ids: Int) {
        let horizon = Int64(now.timeIntervalSince1970 * 1000) - Int64(dedupeWindow.components.seconds) * 1000
        return try await pool.write { db in
            try db.execute(sql: "DELETE FROM outbox WHERE published_at IS NOT NULL")
            let records = db.changesCount
            try db.execute(sql: "DELETE FROM events WHERE received_at < ?", arguments: [horizon])
            return (records, db.changesCount)
        }
    }

    /// How many transactions group commit has written (for tests and benchmarks).
    public var commitCount: Int { get async { await committer.commits } }

    /// Headers as a JSON array of `[name, value]` pairs.
    static func encodeHeaders(_ headers: [(name: String, value: String)]) -> String {
        var out: [UInt8] = [UInt8(ascii: "[")]
        for (index, header) in headers.enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            out.append(UInt8(ascii: "["))
            JSONWriter.writeString(header.name, into: &out)
            out.append(UInt8(ascii: ","))
            JSONWriter.writeString(header.value, into: &out)
            out.append(UInt8(ascii: "]"))
        }
        out.append(UInt8(ascii: "]"))
        return String(decoding: out, as: UTF8.self)
    }

    static func decodeHeaders(_ text: String) -> [(name: String, value: String)] {
        guard case .array(let pairs)? = try? JSONParser.parse(Array(text.utf8)).value else { return [] }
        return pairs.compactMap { pair in
            guard case .array(let parts) = pair, parts.count == 2, case .string(let name) = parts[0], case .string(let value) = parts[1] else { return nil }
            return (name, value)
        }
    }
}

/// Serializes writers and batches concurrent submissions into one transaction each.
actor GroupCommitter {
    struct Submission: Sendable {
        var eventID: String?
        var records: [RoutedRecord]
        var receivedAtMilliseconds: Int64
    }

    private let pool: DatabasePool
    private let maxPending: Int
    private let windowMilliseconds: Int64
    private var queued: [(Submission, CheckedContinuation<OutboxStore.Acceptance, any Error>)] = []
    private var writing = false
    private(set) var pending: Int
    private(set) var commits = 0

    init(pool: DatabasePool, pending: Int, maxPending: Int, windowMilliseconds: Int64) {
        self.pool = pool
        self.pending = pending
        self.maxPending = maxPending
        self.windowMilliseconds = windowMilliseconds
    }

    func submit(_ submission: Submission) async throws -> OutboxStore.Acceptance {
        if pending + submission.records.count > maxPending {
            throw OutboxStore.Full(pending: pending)
        }
        return try await withCheckedThrowingContinuation { continuation in
            queued.append((submission, continuation))
            if !writing {
                writing = true
                Task { await self.drain() }
            }
        }
    }

    func markPublished(_ seqs: [Int64], atMilliseconds: Int64) async throws {
        let changed = try await pool.write { db -> Int in
            var changed = 0
            for chunk in stride(from: 0, to: seqs.count, by: 500) {
                let slice = Array(seqs[chunk..<min(chunk + 500, seqs.count)])
                let marks = databaseQuestionMarks(count: slice.count)
                try db.execute(sql: "UPDATE outbox SET published_at = ? WHERE published_at IS NULL AND seq IN (\(marks))",
                               arguments: StatementArguments([atMilliseconds] + slice))
                changed += db.changesCount
            }
            return changed
        }
        pending -= changed
    }

    private func drain() async {
        while !queued.isEmpty {
            let batch = queued
            queued = []
            let submissions = batch.map(\.0)
            let window = windowMilliseconds
            do {
                let outcomes = try await pool.write { db -> [OutboxStore.Acceptance] in
                    try submissions.map { submission in
                        if let id = submission.eventID {
                            let lookup = try db.cachedStatement(sql: "SELECT received_at FROM events WHERE id = ?")
                            let seen = try Int64.fetchOne(lookup, arguments: [id])
                            if let seen, seen >= submission.receivedAtMilliseconds - window {
                                return .duplicate
                            }
                            try db.cachedStatement(sql: "INSERT INTO events(id, received_at) VALUES (?, ?) ON CONFLICT(id) DO UPDATE SET received_at = excluded.received_at")
                                .execute(arguments: [id, submission.receivedAtMilliseconds])
                        }
                        let insert = try db.cachedStatement(sql: "INSERT INTO outbox(event_id, topic, key, headers, value, created_at) VALUES (?, ?, ?, ?, ?, ?)")
                        for record in submission.records {
                            try insert.execute(arguments: [submission.eventID, record.topic, record.key.map { Data($0.utf8) },
                                                           OutboxStore.encodeHeaders(record.headers), Data(record.value), submission.receivedAtMilliseconds])
                        }
                        return .accepted
                    }
                }
                commits += 1
                for (index, (submission, continuation)) in batch.enumerated() {
                    if outcomes[index] == .accepted { pending += submission.records.count }
                    continuation.resume(returning: outcomes[index])
                }
            } catch {
                for (_, continuation) in batch { continuation.resume(throwing: error) }
            }
        }
        writing = false
    }
}

/// A wake-up call for one waiter: ``signal()`` wakes the waiter, or the next ``wait(timeout:)``
/// if nobody waits yet.
final class WakeUp: Sendable {
    private struct State {
        var signalled = false
        var waiter: CheckedContinuation<Void, Never>?
    }

    private let state = Mutex(State())

    func signal() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard let waiter = state.waiter else {
                state.signalled = true
                return nil
            }
            state.waiter = nil
            return waiter
        }
        waiter?.resume()
    }

    /// Returns when signalled since the previous wait returned, or after `timeout`.
    func wait(timeout: Duration) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.waitForSignal() }
            group.addTask { try? await Task.sleep(for: timeout) }
            await group.next()
            group.cancelAll()
        }
    }

    private func waitForSignal() async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let now = state.withLock { state -> Bool in
                    // Cancelled before registering (the timeout won): onCancel found no waiter
                    // to resume. Leave a pending signal for the next wait.
                    if Task.isCancelled { return true }
                    if state.signalled {
                        state.signalled = false
                        return true
                    }
                    state.waiter = continuation
                    return false
                }
                if now { continuation.resume() }
            }
        } onCancel: {
            let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
                defer { state.waiter = nil }
                return state.waiter
            }
            waiter?.resume()
        }
    }
}
