import Foundation
import OkraBridge
import OkraRouting
import Testing

/// The durable store against a real SQLite file.
@Suite("Outbox store")
struct OutboxStoreTests {
    static func directory() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("okra-store-\(UUID().uuidString)").path
    }

    static func record(_ topic: String, _ value: String, key: String? = "k") -> RoutedRecord {
        RoutedRecord(topic: topic, key: key, headers: [("content-type", "application/json"), ("idempotency-key", "id")],
                     value: Array(value.utf8), routeName: nil)
    }

    @Test("headers come back exactly as stored, quotes, backslashes, control characters and non-ASCII included")
    func headersRoundTrip() async throws {
        let dir = Self.directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try OutboxStore(directory: dir)
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

        try await reopened.markPublished([pending[0].seq, pending[1].seq])
        #expect(try await reopened.pending(after: 0, limit: 10).map(\.topic) == ["dead"])
        #expect(try await reopened.depth().count == 1)
        #expect(try await reopened.pending(after: pending[2].seq, limit: 10).isEmpty)
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
        try await store.markPublished(try await store.pending(after: 0, limit: 10).map(\.seq))
        #expect(try await store.accept(eventID: "2", records: [Self.record("a", "3"), Self.record("a", "4")], receivedAt: Date()) == .accepted)
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

    @Test("pruning removes published records and expired ids, never pending ones")
    func prune() async throws {
        let dir = Self.directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try OutboxStore(directory: dir, dedupeWindow: .seconds(60))
        let old = Date().addingTimeInterval(-3600)
        _ = try await store.accept(eventID: "old", records: [Self.record("a", "1")], receivedAt: old)
        _ = try await store.accept(eventID: "new", records: [Self.record("a", "2")], receivedAt: Date())
        try await store.markPublished([try await store.pending(after: 0, limit: 1)[0].seq])
        let removed = try await store.prune()
        #expect(removed.records == 1 && removed.ids == 1)
        #expect(try await store.pending(after: 0, limit: 10).map { String(decoding: $0.value, as: UTF8.self) } == ["2"])
        #expect(try await store.accept(eventID: "old", records: [Self.record("a", "1")], receivedAt: Date()) == .accepted)
        #expect(try await store.accept(eventID: "new", records: [Self.record("a", "2")], receivedAt: Date()) == .duplicate)
    }
}
