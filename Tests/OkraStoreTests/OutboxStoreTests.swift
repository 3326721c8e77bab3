import Foundation
import GRDB
import MetricsTestKit
import OkraIngest
@testable import OkraStore
import OkraRouting
import OkraTestSupport
import Synchronization
import Testing

/// The durable store against a real SQLite file.
@Suite("Outbox store")
struct OutboxStoreTests {
    static func directory() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("okra-store-\(UUID().uuidString)").path
    }

    /// Accepts `count` one-record events at once; how many were taken.
    static func acceptConcurrently(_ count: Int, into store: OutboxStore) async -> Int {
        await withTaskGroup(of: Bool.self) { group in
            for index in 0..<count {
                group.addTask { (try? await store.accept(eventID: "c-\(index)", records: [Self.record("a", "\(index)")], receivedAt: Date())) != nil }
            }
            var accepted = 0
            for await ok in group where ok { accepted += 1 }
            return accepted
        }
    }

    static func record(_ topic: String, _ value: String, key: String? = "k") -> RoutedRecord {
        RoutedRecord(topic: topic, key: key, headers: [("content-type", "application/json"), ("idempotency-key", "id")],
                     value: Array(value.utf8), routeName: nil)
    }

    @Test("the writer that commits runs synchronous=FULL, read back through the writer itself (a reader shows its own)")
    func writerSyncsEveryCommit() async throws {
        let dir = Self.directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try OutboxStore(directory: dir)
        #expect(try await store.writerSynchronous == 2)
        // After a commit and a reopen too: the setting is the connection's, made at every open.
        _ = try await store.accept(eventID: "okra-s", records: [Self.record("a", "1")], receivedAt: Date())
        let reopened = try OutboxStore(directory: dir)
        #expect(try await reopened.writerSynchronous == 2)
    }

    /// Per committed transaction: whether it stored records, and whether it moved the publish mark.
    /// Records are seen by the outbox's highest sequence number at each commit: the store binds
    /// their inserts straight to SQLite (``BoundValues``), which GRDB's observation does not see.
    final class TransactionKinds: TransactionObserver, @unchecked Sendable {
        private let state = Mutex((lastSeq: Int64(0), marked: false, committed: [(inserted: Bool, marked: Bool)]()))
        var committed: [(inserted: Bool, marked: Bool)] { state.withLock { $0.committed } }
        init(lastSeq: Int64) { state.withLock { $0.lastSeq = lastSeq } }
        func observes(eventsOfKind eventKind: DatabaseEventKind) -> Bool {
            switch eventKind {
            case .update(let table, _): table == "publish_progress"
            case .insert, .delete: false
            }
        }
        func databaseDidChange(with event: DatabaseEvent) {
            state.withLock { $0.marked = true }
        }
        func databaseDidCommit(_ db: Database) {
            let seq = (try? Int64.fetchOne(db, sql: "SELECT MAX(seq) FROM records")) ?? nil
            state.withLock { state in
                let inserted = (seq ?? 0) > state.lastSeq
                if inserted { state.lastSeq = seq ?? 0 }
                if inserted || state.marked { state.committed.append((inserted, state.marked)) }
                state.marked = false
            }
        }
        func databaseDidRollback(_ db: Database) { state.withLock { $0.marked = false } }
    }

    @Test("a publish mark with nothing to park rides in the transaction of the webhooks written with it: no commit and no sync of its own")
    func markRidesWithWebhooks() async throws {
        let dir = Self.directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try OutboxStore(directory: dir)
        _ = try await store.accept(eventID: "okra-1", records: [Self.record("a", "1")], receivedAt: Date())
        let kinds = TransactionKinds(lastSeq: 1)
        store.pool.add(transactionObserver: kinds, extent: .observerLifetime)
        // The writer held; a webhook taken into a batch that waits for it; then another webhook
        // and the mark over the first record queue up behind that batch.
        let release = DispatchSemaphore(value: 0)
        let held = Mutex(false)
        let holding = Task { try await store.pool.write { _ in held.withLock { $0 = true }; _ = release.wait(timeout: .now() + 30) } }
        for _ in 0..<3000 where !held.withLock({ $0 }) { try await Task.sleep(for: .milliseconds(10)) }
        let second = Task { try await store.accept(eventID: "okra-2", records: [Self.record("a", "2")], receivedAt: Date()) }
        for _ in 0..<3000 where await store.committer.queue != (0, true) { try await Task.sleep(for: .milliseconds(10)) }
        let third = Task { try await store.accept(eventID: "okra-3", records: [Self.record("a", "3")], receivedAt: Date()) }
        let mark = Task { try await store.markPublished(through: 1) }
        for _ in 0..<3000 where await store.committer.queue.waiting < 2 { try await Task.sleep(for: .milliseconds(10)) }
        #expect(await store.committer.queue == (2, true))
        release.signal()
        try await holding.value
        _ = try await second.value
        _ = try await third.value
        try await mark.value
        let committed = kinds.committed
        #expect(committed.count == 2 && committed[0] == (inserted: true, marked: false) && committed[1] == (inserted: true, marked: true),
                "transactions (records stored, mark moved): \(committed)")
        #expect(await store.publishedThrough == 1)
        #expect(try await store.pending(after: 0, limit: 10).map(\.seq) == [2, 3])
        // And durable: a reopened store starts from the mark.
        let reopened = try await store.pool.read { db in try Int64.fetchOne(db, sql: "SELECT published_through FROM publish_progress") }
        #expect(reopened == 1)
    }

    @Test("a mark committed in a batch of its own does not say the volume has room: new events stay refused until one is stored")
    func markAloneKeepsTheVolumeFull() async throws {
        let dir = Self.directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try OutboxStore(directory: dir, reserveBytes: 0)
        _ = try await store.accept(eventID: "okra-1", records: [Self.record("a", "1")], receivedAt: Date())
        // The writer held; the mark queued while the volume had room; then the volume fills.
        let release = DispatchSemaphore(value: 0)
        let held = Mutex(false)
        let holding = Task { try await store.pool.write { _ in held.withLock { $0 = true }; _ = release.wait(timeout: .now() + 30) } }
        for _ in 0..<3000 where !held.withLock({ $0 }) { try await Task.sleep(for: .milliseconds(10)) }
        let mark = Task { try await store.markPublished(through: 1) }
        for _ in 0..<3000 where await store.committer.queue != (0, true) { try await Task.sleep(for: .milliseconds(10)) }
        store.volume.noRoom(pending: 1)
        release.signal()
        try await holding.value
        try await mark.value
        #expect(await store.publishedThrough == 1)
        #expect(store.volumeIsFull, "the mark's commit is no sign of room")
    }

    @Test("headers come back exactly as stored, quotes, backslashes, control characters and non-ASCII included",
          arguments: EventLogTests.ReadsFrom.allCases)
    func headersRoundTrip(_ window: EventLogTests.ReadsFrom) async throws {
        let dir = Self.directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try OutboxStore(directory: dir, freeSpace: nil, recentRecords: window.recentRecords)
        let headers: [(name: String, value: String)] = [("ce_subject", "a\"b\\c\nd\u{1}é😀"), ("empty", ""), ("okra-bridge-reason", "malformed-json")]
        _ = try await store.accept(eventID: "okra-h", records: [RoutedRecord(topic: "t", key: nil, headers: headers, value: [1, 2], routeName: nil)], receivedAt: Date())
        let stored = try await store.pending(after: 0, limit: 1)[0].headers
        #expect(stored.map(\.name) == headers.map(\.name))
        #expect(stored.map(\.value) == headers.map(\.value))
    }

    @Test("a stored record wakes a waiting publisher at once; with nothing stored the wait ends at its timeout")
    func newRecordsWakeTheWaiter() async throws {
        let dir = Self.directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try OutboxStore(directory: dir)
        let clock = ContinuousClock()

        // Nothing stored: the wait lasts its timeout.
        var started = clock.now
        await store.waitForNewRecords(timeout: .milliseconds(200))
        #expect(clock.now - started >= .milliseconds(200))

        // Stored before anyone waits: the next wait returns at once, the one after does not.
        _ = try await store.accept(eventID: "okra-early", records: [Self.record("a", "1")], receivedAt: Date())
        started = clock.now
        await store.waitForNewRecords(timeout: .seconds(60))
        #expect(clock.now - started < .seconds(30))
        started = clock.now
        await store.waitForNewRecords(timeout: .milliseconds(200))
        #expect(clock.now - started >= .milliseconds(200))

        // Stored while waiting: the waiter wakes long before its timeout.
        async let waited: Duration = {
            let start = clock.now
            await store.waitForNewRecords(timeout: .seconds(60))
            return clock.now - start
        }()
        try await Task.sleep(for: .milliseconds(100))
        _ = try await store.accept(eventID: "okra-late", records: [Self.record("a", "2")], receivedAt: Date())
        #expect(await waited < .seconds(30))
    }

    @Test("a stored record wakes every waiter, not only the last one to wait")
    func newRecordsWakeEveryWaiter() async throws {
        let dir = Self.directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try OutboxStore(directory: dir)
        // Unstructured, so a waiter that is never woken fails the test instead of hanging it.
        final class Woken: Sendable { let count = Mutex(0) }
        let woken = Woken()
        for _ in 0..<2 {
            Task {
                await store.waitForNewRecords(timeout: .seconds(600))
                woken.count.withLock { $0 += 1 }
            }
        }
        try await Task.sleep(for: .milliseconds(200))
        _ = try await store.accept(eventID: "okra-both", records: [Self.record("a", "1")], receivedAt: Date())
        let deadline = ContinuousClock.now + .seconds(10)
        while woken.count.withLock({ $0 }) < 2 && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(woken.count.withLock { $0 } == 2)
    }

    @Test("accepted records survive closing and reopening the file, in order, until marked published")
    func durableAcrossReopen() async throws {
        let dir = Self.directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        do {
            let store = try OutboxStore(directory: dir)
            #expect(try await store.accept(eventID: "okra-1", records: [Self.record("a", "1"), Self.record("b", "2", key: nil)], receivedAt: Date()) == .accepted)
            #expect(try await store.accept(eventID: nil, records: [Self.record("dead", "raw")], receivedAt: Date()) == .accepted)
        }
        let reopened = try OutboxStore(directory: dir)
        let pending = try await reopened.pending(after: 0, limit: 10)
        #expect(pending.map(\.topic) == ["a", "b", "dead"])
        #expect(pending.map { String(decoding: $0.value, as: UTF8.self) } == ["1", "2", "raw"])
        #expect(pending[0].key == Array("k".utf8) && pending[1].key == nil)
        #expect(pending[0].headers.map(\.name) == ["content-type", "idempotency-key"])
        #expect(pending[0].eventID == "okra-1" && pending[2].eventID == nil)

        try await reopened.markPublished(through: pending[1].seq)
        #expect(try await reopened.pending(after: 0, limit: 10).map(\.topic) == ["dead"])
        #expect(try await reopened.depth().count == 1)
        #expect(try await reopened.pending(after: pending[2].seq, limit: 10).isEmpty)
        // A mark behind the current one changes nothing.
        try await reopened.markPublished(through: pending[0].seq)
        #expect(await reopened.publishedThrough == pending[1].seq)
    }

    @Test("the publish mark survives reopening, and records stored after it are numbered after it")
    func markAcrossReopen() async throws {
        let dir = Self.directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var mark: Int64 = 0
        do {
            let store = try OutboxStore(directory: dir)
            _ = try await store.accept(eventID: "okra-a", records: [Self.record("a", "1"), Self.record("a", "2")], receivedAt: Date())
            mark = try await store.pending(after: 0, limit: 10).last!.seq
            try await store.markPublished(through: mark)
            #expect(try await store.depth().count == 0)
        }
        // Every record was published and deleted: numbering must not start over below the mark.
        let reopened = try OutboxStore(directory: dir)
        #expect(await reopened.publishedThrough == mark)
        _ = try await reopened.accept(eventID: "okra-b", records: [Self.record("b", "3")], receivedAt: Date())
        let pending = try await reopened.pending(after: await reopened.publishedThrough, limit: 10)
        try #require(pending.map(\.topic) == ["b"])
        #expect(pending[0].seq == mark + 1)
        #expect(try await reopened.depth().count == 1)
    }

    @Test("the same id within the window is a duplicate and stores nothing; after the window it is new")
    func dedupe() async throws {
        let dir = Self.directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try OutboxStore(directory: dir, dedupeWindow: .seconds(3600))
        let now = Date()
        #expect(try await store.accept(eventID: "okra-x", records: [Self.record("a", "1")], receivedAt: now) == .accepted)
        #expect(try await store.accept(eventID: "okra-x", records: [Self.record("a", "1")], receivedAt: now.addingTimeInterval(60)) == .duplicate)
        #expect(try await store.depth().count == 1)
        #expect(try await store.accept(eventID: "okra-x", records: [Self.record("a", "1")], receivedAt: now.addingTimeInterval(7200)) == .accepted)
        #expect(try await store.depth().count == 2)
        // Dead letters without an id are never duplicates.
        #expect(try await store.accept(eventID: nil, records: [Self.record("d", "x")], receivedAt: now) == .accepted)
        #expect(try await store.accept(eventID: nil, records: [Self.record("d", "x")], receivedAt: now) == .accepted)
    }

    @Test("a full store refuses new records instead of growing, and accepts again once drained")
    func bounded() async throws {
        let dir = Self.directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try OutboxStore(directory: dir, maxPending: 3)
        #expect(try await store.accept(eventID: "1", records: [Self.record("a", "1"), Self.record("a", "2")], receivedAt: Date()) == .accepted)
        await #expect(throws: OutboxStore.Full.self) {
            _ = try await store.accept(eventID: "2", records: [Self.record("a", "3"), Self.record("a", "4")], receivedAt: Date())
        }
        try await store.markPublished(through: try await store.pending(after: 0, limit: 10).last!.seq)
        #expect(try await store.accept(eventID: "2", records: [Self.record("a", "3"), Self.record("a", "4")], receivedAt: Date()) == .accepted)
    }

    @Test("concurrent accepts cannot overshoot the bound: records on their way into a commit count against it")
    func boundedUnderConcurrency() async throws {
        let dir = Self.directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try OutboxStore(directory: dir, maxPending: 10)
        let outcomes = await Self.acceptConcurrently(40, into: store)
        #expect(outcomes == 10, "accepted \(outcomes) of 40 with a bound of 10")
        #expect(try await store.depth().count == 10)
    }

    @Test("the bound holds too while the volume check waits for the file's free pages (a nearly full volume)")
    func boundedWhileVolumeCheckWaits() async throws {
        let dir = Self.directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let reserve = 64 << 10
        let free = Mutex(Int.max / 2)
        let store = try OutboxStore(directory: dir, maxPending: 10, reserveBytes: reserve, freeSpace: { free.withLock { $0 } })
        // Pages free inside the file: ten large records stored, published and deleted.
        for index in 0..<10 {
            _ = try await store.accept(eventID: "big-\(index)", records: [Self.record("a", String(repeating: "x", count: 8192))], receivedAt: Date())
        }
        try await store.markPublished(through: try await store.pending(after: 0, limit: 10).last!.seq)
        // Less free space on the volume than the reserve: every submission now reads the file's
        // free pages (an await) before it is taken, and they make the room.
        free.withLock { $0 = reserve - 1 }
        let outcomes = await Self.acceptConcurrently(40, into: store)
        #expect(outcomes == 10, "accepted \(outcomes) of 40 with a bound of 10")
        #expect(try await store.depth().count == 10)
        #expect(!store.volumeIsFull)
    }

    @Test("a volume found full is marked as having room once it has, with no webhook to find it (behind a Service an unready pod gets none): the upkeep checks every second")
    func fullVolumeReadyAgainWithoutAWebhook() async throws {
        let dir = Self.directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let reserve = 64 << 10
        let free = Mutex(Int.max / 2)
        let store = try OutboxStore(directory: dir, reserveBytes: reserve, freeSpace: { free.withLock { $0 } })
        free.withLock { $0 = reserve - 1 }
        await #expect(throws: OutboxStore.VolumeFull.self) {
            _ = try await store.accept(eventID: "refused", records: [Self.record("a", "1")], receivedAt: Date())
        }
        #expect(store.volumeIsFull)
        #expect(await DurableSink(store: store).readiness().store == .volumeFull)

        // The volume is grown; no webhook comes.
        free.withLock { $0 = 4 * reserve }
        let (logger, _) = CapturingLogHandler.logger()
        let running = Task { try await StoreUpkeep(store: store, logger: logger, pruneInterval: .seconds(3600)).run() }
        defer { running.cancel() }
        for _ in 0..<50 where store.volumeIsFull { try await Task.sleep(for: .milliseconds(100)) }
        #expect(!store.volumeIsFull, "still full 5 s after the volume had room")
        #expect(await DurableSink(store: store).readiness().store == .accepting)
    }

    @Test("short of room, the store truncates a long WAL before refusing: space the WAL holds is given back and the event is taken")
    func walTruncatedBeforeRefusing() async throws {
        let dir = Self.directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let reserve = 1 << 20
        // A volume whose free space is what the test sets, less what the WAL takes.
        let volume = Mutex(Int.max / 2)
        let wal = dir + "/okra-bridge.sqlite-wal"
        var policy = OutboxStore.CheckpointPolicy()
        policy.interval = .seconds(3600) // no checkpoint pass: the WAL only grows
        let store = try OutboxStore(directory: dir, checkpoints: policy, reserveBytes: reserve, freeSpace: {
            let walBytes = (try? FileManager.default.attributesOfItem(atPath: wal)[.size] as? Int) ?? 0
            return max(0, volume.withLock { $0 } - walBytes)
        })
        for index in 0..<300 {
            _ = try await store.accept(eventID: "w-\(index)", records: [Self.record("a", String(repeating: "x", count: 4096))], receivedAt: Date())
        }
        let walBytes = store.walBytes
        try #require(walBytes > 2 * reserve, "the WAL grew to \(walBytes) bytes")
        // Without the WAL's space the volume is below the reserve; with it given back, above.
        volume.withLock { $0 = walBytes + reserve / 2 }
        #expect(try await store.accept(eventID: "after", records: [Self.record("a", "1")], receivedAt: Date()) == .accepted)
        #expect(store.walBytes < walBytes / 10, "the WAL was truncated: \(store.walBytes) bytes")
        #expect(!store.volumeIsFull)
    }

    @Test("concurrent accepts are group-committed: fewer transactions than requests, none lost")
    func groupCommit() async throws {
        let dir = Self.directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try OutboxStore(directory: dir)
        let count = 400
        try await withThrowingTaskGroup(of: OutboxStore.Acceptance.self) { group in
            for index in 0..<count {
                group.addTask { try await store.accept(eventID: "okra-\(index)", records: [Self.record("t", "\(index)")], receivedAt: Date()) }
            }
            for try await outcome in group { #expect(outcome == .accepted) }
        }
        #expect(try await store.depth().count == count)
        let commits = await store.commitCount
        #expect(commits < count)
        #expect(commits >= 1)
    }

    @Test("pruning removes expired ids, a thousand per transaction, and never a pending record")
    func prune() async throws {
        let dir = Self.directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // The event log off: with it, ids are kept for its retention too.
        let store = try OutboxStore(directory: dir, dedupeWindow: .seconds(60), eventLog: nil)
        let old = Date().addingTimeInterval(-3600)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<2500 {
                group.addTask { _ = try await store.accept(eventID: "okra-old-\(index)", records: [], receivedAt: old) }
            }
            try await group.waitForAll()
        }
        _ = try await store.accept(eventID: "old", records: [Self.record("a", "1")], receivedAt: old)
        _ = try await store.accept(eventID: "new", records: [Self.record("a", "2")], receivedAt: Date())
        try await store.markPublished(through: try await store.pending(after: 0, limit: 1)[0].seq)
        #expect(try await store.prune() == 2501)
        #expect(try await store.prune() == 0)
        #expect(try await store.pending(after: 0, limit: 10).map { String(decoding: $0.value, as: UTF8.self) } == ["2"])
        #expect(try await store.accept(eventID: "old", records: [Self.record("a", "1")], receivedAt: Date()) == .accepted)
        #expect(try await store.accept(eventID: "new", records: [Self.record("a", "2")], receivedAt: Date()) == .duplicate)
    }

    @Test("ids of the envelope's form and any other id are both remembered exactly")
    func idForms() async throws {
        let dir = Self.directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try OutboxStore(directory: dir)
        let canonical = "okra-8797f56984c46b18368487db9347ad1a"
        let others = ["okra-8797F56984C46B18368487DB9347AD1A", "okra-8797f56984c46b18368487db9347ad1", "okra-8797f56984c46b18368487db9347ad1a0", "evt_123", ""]
        #expect(try await store.accept(eventID: canonical, records: [Self.record("a", "1")], receivedAt: Date()) == .accepted)
        for other in others {
            #expect(try await store.accept(eventID: other, records: [Self.record("a", "1")], receivedAt: Date()) == .accepted, "\(other)")
        }
        for id in [canonical] + others {
            #expect(try await store.accept(eventID: id, records: [Self.record("a", "1")], receivedAt: Date()) == .duplicate, "\(id)")
        }
        #expect(try await store.accept(eventID: "okra-8797f56984c46b18368487db9347ad1b", records: [Self.record("a", "1")], receivedAt: Date()) == .accepted)
        // The file keeps an envelope id as its 16 bytes, in the digits' order: files written by
        // earlier versions hold that form, so a change of it would leave their ids unfound.
        let blobs = try await store.pool.read { db in try String.fetchAll(db, sql: "SELECT lower(hex(id)) FROM event_ids WHERE typeof(id) = 'blob' ORDER BY 1") }
        #expect(blobs == ["8797f56984c46b18368487db9347ad1a", "8797f56984c46b18368487db9347ad1b"])
    }

    @Test("a file of the first layout is upgraded: unpublished records keep their order, published ones are gone, ids still dedupe")
    func upgradeFromFirstLayout() async throws {
        let dir = Self.directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let sql = """
            PRAGMA journal_mode = WAL;
            CREATE TABLE events (id TEXT PRIMARY KEY NOT NULL, received_at INTEGER NOT NULL) WITHOUT ROWID;
            CREATE INDEX events_received_at ON events(received_at);
            CREATE TABLE outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, event_id TEXT, topic TEXT NOT NULL, key BLOB,
                headers TEXT NOT NULL, value BLOB NOT NULL, created_at INTEGER NOT NULL, published_at INTEGER);
            CREATE INDEX outbox_pending ON outbox(seq) WHERE published_at IS NULL;
            INSERT INTO events VALUES ('okra-00000000000000000000000000000001', \(now)), ('legacy-id', \(now));
            INSERT INTO outbox(seq, event_id, topic, key, headers, value, created_at, published_at) VALUES
                (3, 'okra-00000000000000000000000000000001', 'a', X'6B', '[["content-type","application/json"]]', X'31', \(now), \(now)),
                (7, 'okra-00000000000000000000000000000001', 'b', NULL, '[]', X'32', \(now), NULL),
                (9, NULL, 'dead', NULL, '[["okra-bridge-reason","malformed-json"]]', X'33', \(now), NULL);
            """
        // Written with plain SQL on a connection of its own, as the first layout's code did.
        do {
            let legacy = try DatabaseQueue(path: dir + "/okra-bridge.sqlite")
            try legacy.inDatabase { db in try db.execute(sql: sql) }
            try legacy.close()
        }

        let store = try OutboxStore(directory: dir)
        let pending = try await store.pending(after: await store.publishedThrough, limit: 10)
        try #require(pending.map(\.topic) == ["b", "dead"])
        #expect(pending.map { String(decoding: $0.value, as: UTF8.self) } == ["2", "3"])
        #expect(pending[1].headers.map(\.value) == ["malformed-json"])
        #expect(pending[0].seq < pending[1].seq)
        #expect(try await store.depth().count == 2)
        #expect(try await store.accept(eventID: "okra-00000000000000000000000000000001", records: [Self.record("a", "1")], receivedAt: Date()) == .duplicate)
        #expect(try await store.accept(eventID: "legacy-id", records: [Self.record("a", "1")], receivedAt: Date()) == .duplicate)
        #expect(try await store.pending(after: pending[1].seq, limit: 10).isEmpty)
    }

    @Test("under a steady stream of commits the WAL is checkpointed between them and starts over instead of growing")
    func walStaysBounded() async throws {
        let value = String(repeating: "x", count: 3000)
        let commits = 800
        // The same commits with checkpoints as good as off: how far the WAL grows without them
        // (about five 4 KiB frames a commit here).
        var never = OutboxStore.CheckpointPolicy()
        never.interval = .seconds(3600)
        never.restartFrames = .max
        let unchecked = Self.directory()
        defer { try? FileManager.default.removeItem(atPath: unchecked) }
        let uncheckedBytes: Int
        do {
            // Measured while the store is open: closing it checkpoints and removes the WAL.
            let store = try OutboxStore(directory: unchecked, checkpoints: never)
            for index in 0..<commits {
                _ = try await store.accept(eventID: "okra-wal-\(index)", records: [Self.record("t", value)], receivedAt: Date())
            }
            uncheckedBytes = try Self.fileSize(unchecked + "/okra-bridge.sqlite-wal")
        }

        let dir = Self.directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var policy = OutboxStore.CheckpointPolicy()
        policy.interval = .milliseconds(5)
        let store = try OutboxStore(directory: dir, checkpoints: policy)
        for index in 0..<commits {
            _ = try await store.accept(eventID: "okra-wal-\(index)", records: [Self.record("t", value)], receivedAt: Date())
        }
        // With checkpoints the WAL starts over again and again and stays far below that; on a
        // machine busy with other tests the passes come later and the WAL grows more between
        // restarts (up to a third of the unchecked size was seen), so the bound is half.
        let walBytes = try Self.fileSize(dir + "/okra-bridge.sqlite-wal")
        #expect(walBytes < uncheckedBytes / 2, "WAL of \(walBytes) bytes after \(commits) commits; \(uncheckedBytes) without checkpoints")
        #expect(try await store.depth().count == commits)

        // Marks alone (the publisher catching up, no webhooks) are checkpointed the same way:
        // without that, each adds about seven frames; with it, under every suite in parallel, up
        // to two were seen, so the bound is three.
        let records = try await store.pending(after: 0, limit: commits)
        for record in records {
            try await store.markPublished(through: record.seq)
        }
        #expect(try await store.depth().count == 0)
        let sizeAfterMarks = try Self.fileSize(dir + "/okra-bridge.sqlite-wal")
        #expect(sizeAfterMarks < records.count * 4096 * 3, "WAL of \(sizeAfterMarks) bytes after \(records.count) marks")
    }

    @Test("a checkpoint pass waits for the writer's transaction to end: it runs on the writer's connection, never beside a commit (SQLite before 3.51.3 can corrupt the file when a checkpoint on another connection meets a commit that starts the WAL over)")
    func checkpointWaitsForTheWriter() async throws {
        let dir = Self.directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var policy = OutboxStore.CheckpointPolicy()
        policy.interval = .seconds(3600)
        let store = try OutboxStore(directory: dir, checkpoints: policy)
        for index in 0..<20 {
            _ = try await store.accept(eventID: "okra-hold-\(index)", records: [Self.record("t", "v\(index)")], receivedAt: Date())
        }
        let entered = Flag(), released = Flag(), passed = Flag()
        defer { released.set() }
        let holding = Task { try await store.holdWriter(entered: { entered.set() }, release: { released.isSet }) }
        try await Self.wait(for: entered)
        let pass = Task {
            let result = await store.checkpointPass()
            passed.set()
            return result
        }
        try await Task.sleep(for: .milliseconds(300))
        #expect(!passed.isSet, "a checkpoint ran while the writer was in a transaction")
        released.set()
        try await holding.value
        let result = try #require(await pass.value)
        #expect(result.walFrameCount > 0)
        #expect(result.checkpointedFrameCount == result.walFrameCount)
        #expect(try await store.integrityCheck == ["ok"])
    }

    @Test("readers holding a long WAL: the next pass is a RESTART that waits for them restartWait at most (not the 10 s busy timeout), passes stay PASSIVE for the backoff, and once they go a pass copies it all")
    func restartWaitsBoundedForReaders() async throws {
        let dir = Self.directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var policy = OutboxStore.CheckpointPolicy()
        policy.interval = .seconds(3600)
        policy.restartFrames = 8
        policy.restartWait = .milliseconds(200)
        policy.restartBackoff = .seconds(3600)
        let store = try OutboxStore(directory: dir, checkpoints: policy)
        _ = try await store.accept(eventID: "okra-r-first", records: [Self.record("t", "v")], receivedAt: Date())
        let entered = Flag(), released = Flag()
        defer { released.set() }
        let reading = Task { try await store.holdReader(entered: { entered.set() }, release: { released.isSet }) }
        try await Self.wait(for: entered)
        for index in 0..<40 {
            _ = try await store.accept(eventID: "okra-r-\(index)", records: [Self.record("t", String(repeating: "r", count: 2000))], receivedAt: Date())
        }
        let held = try #require(await store.checkpointPass())
        #expect(held.walFrameCount >= 8)
        #expect(held.checkpointedFrameCount < held.walFrameCount, "the reader keeps part of the WAL")

        let started = ContinuousClock.now
        #expect(await store.checkpointPass() == nil, "the RESTART gives up while the reader stays")
        #expect(ContinuousClock.now - started < .seconds(5), "waited \(ContinuousClock.now - started); the busy timeout is 10 s")
        let backedOff = try #require(await store.checkpointPass(), "within the backoff the pass is PASSIVE again")
        #expect(backedOff.checkpointedFrameCount < backedOff.walFrameCount)

        released.set()
        try await reading.value
        let after = try #require(await store.checkpointPass())
        #expect(after.checkpointedFrameCount == after.walFrameCount)
        #expect(try await store.integrityCheck == ["ok"])
        #expect(await store.checkpointFailures.count == 0, "waiting for readers is no failure")
    }

    @Test("a checkpoint that fails on a full volume is counted, shown by a gauge and logged once; the store stays ready; the WAL is copied once there is room",
          .enabled(if: getuid() == 0 || ProcessInfo.processInfo.environment["CI"] == "true"))
    func checkpointFailureOnAFullVolume() async throws {
        try await SmallVolume.with(megabytes: 16) { volume in
            var policy = OutboxStore.CheckpointPolicy()
            policy.interval = .seconds(3600)
            policy.restartFrames = .max
            let directory = volume.appendingPathComponent("store")
            let store = try OutboxStore(directory: directory.path, checkpoints: policy, reserveBytes: 1 << 20)
            _ = try await store.accept(eventID: "okra-full-first", records: [Self.record("t", "v")], receivedAt: Date())
            // A reader keeps the WAL from being copied while it grows.
            let entered = Flag(), released = Flag()
            defer { released.set() }
            let reading = Task { try await store.holdReader(entered: { entered.set() }, release: { released.isSet }) }
            try await Self.wait(for: entered)
            for index in 0..<150 {
                _ = try await store.accept(eventID: "okra-full-\(index)", records: [Self.record("t", String(repeating: "f", count: 8000))],
                                           receivedAt: Date())
            }
            let filler = try SmallVolume.fill(volume)
            released.set()
            try await reading.value

            let metrics = TestMetrics()
            let (logger, logs) = CapturingLogHandler.logger()
            let upkeep = StoreUpkeep(store: store, logger: logger, metrics: metrics)
            let failures = { try metrics.expectCounter("okra_bridge_store_checkpoint_failures_total").totalValue }
            let failing = { try metrics.expectGauge("okra_bridge_store_checkpoint_failing").lastValue }
            let lines = { (text: String) in logs.captured.filter { $0.message.contains(text) }.count }
            #expect(await store.checkpointPass() == nil, "the file cannot grow to take the WAL")
            let failed = await upkeep.noteCheckpoints(since: .init())
            #expect(failed.failing && failed.count >= 1)
            #expect(failed.lastError?.contains("disk is full") == true, "\(failed.lastError ?? "none")")
            #expect(try failures() == Int64(failed.count))
            #expect(try failing() == 1)
            #expect(lines("a WAL checkpoint failed") == 1)
            // A commit decides whether the volume is full, not a checkpoint: the store is ready
            // (an unready bridge gets no webhook that could make it ready again).
            #expect(!store.volumeIsFull)

            // Failing on: counted again, not logged again.
            #expect(await store.checkpointPass() == nil)
            let still = await upkeep.noteCheckpoints(since: failed)
            #expect(still.count > failed.count)
            #expect(try failures() == Int64(still.count))
            #expect(lines("a WAL checkpoint failed") == 1)

            try FileManager.default.removeItem(atPath: filler)
            let copied = try #require(await store.checkpointPass())
            #expect(copied.checkpointedFrameCount == copied.walFrameCount)
            let recovered = await upkeep.noteCheckpoints(since: still)
            #expect(!recovered.failing)
            #expect(try failing() == 0)
            #expect(lines("WAL checkpoints succeed again") == 1)

            // Failures that came and went between two looks are logged too, both lines.
            let (quickLogger, quickLogs) = CapturingLogHandler.logger()
            _ = await StoreUpkeep(store: store, logger: quickLogger, metrics: TestMetrics()).noteCheckpoints(since: .init())
            #expect(quickLogs.captured.map(\.message) == ["a WAL checkpoint failed; the WAL grows until one succeeds", "WAL checkpoints succeed again"])
            #expect(try await store.depth().count == 151)
            #expect(try await store.integrityCheck == ["ok"])
        }
    }

    @Test("a parked record leaves the outbox with the mark, keeps its fields and error, and survives reopening")
    func parking() async throws {
        let dir = Self.directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        do {
            let store = try OutboxStore(directory: dir)
            _ = try await store.accept(eventID: "okra-p1", records: [Self.record("a", "1")], receivedAt: Date())
            _ = try await store.accept(eventID: "okra-p2", records: [Self.record("big", "2", key: "kk")], receivedAt: Date())
            _ = try await store.accept(eventID: "okra-p3", records: [Self.record("a", "3"), Self.record("a", "4")], receivedAt: Date())
            let pending = try await store.pending(after: 0, limit: 10)
            // Parking above the mark is ignored: that record is sent again and parked later.
            try await store.markPublished(through: pending[2].seq, parking: [
                .init(seq: pending[1].seq, reason: "message_too_large", error: "KafkaError(messageTooLarge): too large"),
                .init(seq: pending[3].seq, reason: "topic", error: "not yet"),
            ])
            #expect(await store.parkedCount == 1)
            #expect(try await store.pending(after: await store.publishedThrough, limit: 10).map(\.seq) == [pending[3].seq])
        }
        let reopened = try OutboxStore(directory: dir)
        #expect(await reopened.parkedCount == 1)
        let parked = try #require(try await reopened.parked().first)
        #expect(parked.record.eventID == "okra-p2")
        #expect(parked.record.topic == "big")
        #expect(parked.record.key == Array("kk".utf8))
        #expect(parked.record.value == Array("2".utf8))
        #expect(parked.record.headers.map(\.name) == ["content-type", "idempotency-key"])
        #expect(parked.reason == "message_too_large")
        #expect(parked.error.contains("too large"))
        #expect(parked.parkedAtMilliseconds >= parked.record.createdAtMilliseconds)
        #expect(try await reopened.depth().count == 1)
    }

    @Test("a file of the previous layout (no parked table) is upgraded in place")
    func upgradeAddsParked() async throws {
        let dir = Self.directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        do {
            let store = try OutboxStore(directory: dir)
            _ = try await store.accept(eventID: "okra-v2", records: [Self.record("a", "1"), Self.record("a", "2")], receivedAt: Date())
        }
        do {
            // Waiting for locks: the store just released may still be closing.
            var waiting = Configuration()
            waiting.busyMode = .timeout(10)
            let plain = try DatabaseQueue(path: dir + "/okra-bridge.sqlite", configuration: waiting)
            try plain.inDatabase { db in try db.execute(sql: "DROP TABLE parked; PRAGMA user_version = 2") }
            try plain.close()
        }
        let store = try OutboxStore(directory: dir)
        let pending = try await store.pending(after: 0, limit: 10)
        try #require(pending.count == 2)
        try await store.markPublished(through: pending[1].seq, parking: [.init(seq: pending[0].seq, reason: "topic", error: "e")])
        #expect(await store.parkedCount == 1)
        #expect(try await store.accept(eventID: "okra-v2", records: [Self.record("a", "1")], receivedAt: Date()) == .duplicate)
    }

    @Test("a file of a newer layout is refused, untouched: an older bridge never publishes records it cannot read")
    func newerLayoutRefused() async throws {
        let dir = Self.directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        do {
            let store = try OutboxStore(directory: dir)
            _ = try await store.accept(eventID: "okra-newer", records: [Self.record("a", "1")], receivedAt: Date())
        }
        let newer = 99
        // The first store's last checkpoint pass may still hold the file for a moment.
        var waiting = Configuration()
        waiting.busyMode = .timeout(10)
        do {
            let plain = try DatabaseQueue(path: dir + "/okra-bridge.sqlite", configuration: waiting)
            try plain.inDatabase { db in try db.execute(sql: "PRAGMA user_version = \(newer)") }
            try plain.close()
        }
        let error = #expect(throws: OutboxStore.NewerLayout.self) { _ = try OutboxStore(directory: dir) }
        #expect(error?.found == newer)
        let plain = try DatabaseQueue(path: dir + "/okra-bridge.sqlite", configuration: waiting)
        let version = try plain.inDatabase { db in try Int.fetchOne(db, sql: "PRAGMA user_version") }
        #expect(version == newer, "the file keeps its version")
    }

    @Test("a read of pending records is bounded by bytes as well as by count, and always returns the first",
          arguments: EventLogTests.ReadsFrom.allCases)
    func pendingBoundedByBytes(_ window: EventLogTests.ReadsFrom) async throws {
        let dir = Self.directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try OutboxStore(directory: dir, freeSpace: nil, recentRecords: window.recentRecords)
        let big = String(repeating: "v", count: 100_000)
        for index in 0..<10 {
            _ = try await store.accept(eventID: "okra-bytes-\(index)", records: [Self.record("t", big)], receivedAt: Date())
        }
        #expect(try await store.pending(after: 0, limit: 100, maxBytes: 250_000).count == 2)
        #expect(try await store.pending(after: 0, limit: 100, maxBytes: 1).count == 1, "one record larger than the bound still comes")
        #expect(try await store.pending(after: 0, limit: 3).count == 3)
        #expect(try await store.pending(after: 0, limit: 100).count == 10)
    }

    /// Waits until `flag` is set, 10 s at most.
    static func wait(for flag: Flag) async throws {
        let deadline = ContinuousClock.now + .seconds(10)
        while !flag.isSet {
            guard ContinuousClock.now < deadline else { throw CancellationError() }
            try await Task.sleep(for: .milliseconds(1))
        }
    }

    static func fileSize(_ path: String) throws -> Int {
        try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int ?? 0
    }
}

/// A flag set once, read from any thread.
final class Flag: Sendable {
    private let value = Atomic<Bool>(false)
    func set() { value.store(true, ordering: .releasing) }
    var isSet: Bool { value.load(ordering: .acquiring) }
}
