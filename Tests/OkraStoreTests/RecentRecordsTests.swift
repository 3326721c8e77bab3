import Foundation
import OkraEnvelope
@testable import OkraStore
import OkraRouting
import Testing

/// The publisher's rounds take what was just committed from memory (``RecentRecords``), and the
/// file for the rest, against a real SQLite file.
@Suite("Recent records")
struct RecentRecordsTests {
    typealias Harness = EventLogTests.Harness

    static func record(_ seq: Int64, bytes: Int = 4) -> OutboxStore.PendingRecord {
        OutboxStore.PendingRecord(seq: seq, eventID: "e-\(seq)", topic: "t", key: nil, headers: [],
                                  value: Array(repeating: UInt8(seq % 256), count: bytes), createdAtMilliseconds: seq)
    }

    @Test("records committed since the last round come from memory, equal to what the file gives after a restart (sealed, the body in the entry)")
    func fromMemoryAsTheFileHasThem() async throws {
        let cipher = try StoreCipher(keys: [(id: "k1", bytes: Array(repeating: 7, count: 32))])
        let harness = try Harness(cipher: cipher)
        defer { harness.remove() }
        for index in 0..<3 {
            _ = try harness.id(await harness.post(#"{"type":"CALLBACK","method":"PAYMENT","code":"PAYMENT_SUCCESS","env":"production","record":"rec-\#(index)","customerId":"cus-\#(index)"}"#))
        }
        let fromMemory = try await harness.store.pending(after: 0, limit: 100)
        #expect(harness.store.fileReads.load(ordering: .relaxed) == 0, "the round read nothing from the file")
        #expect(fromMemory.map(\.seq) == [1, 2, 3])

        let reopened = try OutboxStore(directory: harness.directory, reserveBytes: 0, cipher: cipher)
        let fromFile = try await reopened.pending(after: 0, limit: 100)
        #expect(reopened.fileReads.load(ordering: .relaxed) == 1, "after a restart nothing is in memory")
        #expect(fromFile == fromMemory)
        #expect(fromFile.map(\.createdAtMilliseconds) == fromMemory.map(\.createdAtMilliseconds))
        #expect(!fromMemory.isEmpty && fromMemory.allSatisfy { !$0.value.isEmpty })
    }

    @Test("what is older than the window comes from the file: every record once, in order; the mark empties the window")
    func olderThanTheWindow() async throws {
        let directory = OutboxStoreTests.directory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = try OutboxStore(directory: directory, reserveBytes: 0, freeSpace: nil, recentRecords: 4)
        for index in 0..<10 {
            _ = try await store.accept(eventID: "w-\(index)", records: [OutboxStoreTests.record("t", "\(index)")], receivedAt: Date())
        }
        #expect(store.recent.count == 4)
        let all = try await store.pending(after: 0, limit: 100)
        #expect(all.map(\.seq) == Array(1...10) && all.map { String(decoding: $0.value, as: UTF8.self) } == (0..<10).map { "\($0)" })
        #expect(store.fileReads.load(ordering: .relaxed) == 1)
        let newest = try await store.pending(after: 6, limit: 100)
        #expect(newest.map(\.seq) == [7, 8, 9, 10] && store.fileReads.load(ordering: .relaxed) == 1, "the window's records from memory")
        #expect(newest == Array(all[6...]))
        try await store.markPublished(through: 8)
        #expect(store.recent.count == 2)
        // A mark that parks is a write of its own: it empties the window as well.
        try await store.markPublished(through: 9, parking: [.init(seq: 9, reason: "topic", error: "refused")])
        #expect(store.recent.count == 1 && store.fileReads.load(ordering: .relaxed) == 1)
        #expect(try await store.pending(after: 9, limit: 100).map(\.seq) == [10])
        #expect(try await store.pending(after: 10, limit: 100).isEmpty && store.fileReads.load(ordering: .relaxed) == 1,
                "caught up: nothing, without reading the file")
    }

    @Test("a batch that fails puts nothing in the window; the numbers it had are handed out again and the window follows on")
    func failedBatchAddsNothing() async throws {
        let directory = OutboxStoreTests.directory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = try OutboxStore(directory: directory, reserveBytes: 0, freeSpace: nil)
        _ = try await store.accept(eventID: "w-0", records: [OutboxStoreTests.record("t", "0")], receivedAt: Date())
        // The writer's next transaction fails inside, after its records were inserted.
        let plain = try EventLogTests.plainConnection(directory)
        try await plain.write { db in
            try db.execute(sql: "CREATE TRIGGER fail_next AFTER INSERT ON records WHEN NEW.seq = 2 BEGIN SELECT RAISE(ABORT, 'disk says no'); END")
        }
        await #expect(throws: (any Error).self) {
            _ = try await store.accept(eventID: "w-1", records: [OutboxStoreTests.record("t", "1")], receivedAt: Date())
        }
        #expect(store.recent.count == 1, "nothing of the failed batch in memory")
        #expect(try await store.pending(after: 0, limit: 10).map(\.seq) == [1])
        try await plain.write { db in try db.execute(sql: "DROP TRIGGER fail_next") }
        _ = try await store.accept(eventID: "w-2", records: [OutboxStoreTests.record("t", "2")], receivedAt: Date())
        let pending = try await store.pending(after: 0, limit: 10)
        #expect(pending.map(\.seq) == [1, 2] && pending.map(\.eventID) == ["w-0", "w-2"] && store.fileReads.load(ordering: .relaxed) == 0)
        let fromFile = try await OutboxStore(directory: directory, reserveBytes: 0).pending(after: 0, limit: 10)
        #expect(fromFile == pending, "memory and the file agree after the failure")
    }

    @Test("a replay's records come from memory as the file has them")
    func replayFromMemory() async throws {
        let harness = try Harness()
        defer { harness.remove() }
        _ = try harness.id(await harness.post(#"{"type":"CALLBACK","method":"PAYMENT","code":"PAYMENT_SUCCESS","env":"production","record":"rec-r","customerId":"cus-r"}"#))
        try await harness.publishAll()
        try await harness.store.append([(eventID: "okra-replayed", entry: 1, records: [OutboxStoreTests.record("replays", "again", key: "rec-r")])])
        let after = await harness.store.publishedThrough
        let fromMemory = try await harness.store.pending(after: after, limit: 10)
        #expect(fromMemory.count == 1 && harness.store.fileReads.load(ordering: .relaxed) == 0)
        let reopened = try OutboxStore(directory: harness.directory, reserveBytes: 0)
        let fromFile = try await reopened.pending(after: after, limit: 10)
        #expect(fromFile == fromMemory && fromFile.map(\.createdAtMilliseconds) == fromMemory.map(\.createdAtMilliseconds))
    }

    @Test("a window never holds a gap (numbers that do not follow start it over); bounded by records and bytes; limit and bytes as a round asks")
    func window() {
        let recent = RecentRecords(next: 1, maxRecords: 3, maxBytes: 100)
        #expect(recent.records(after: 0, limit: 10, maxBytes: .max) == [], "empty at the next number: nothing committed")
        recent.add([Self.record(1), Self.record(2)])
        #expect(recent.records(after: 0, limit: 10, maxBytes: .max)?.map(\.seq) == [1, 2])
        // A guard: the writer adds only what follows (a failed batch adds nothing), but numbers
        // that do not follow start the window over rather than leave a gap or a repeat.
        recent.add([Self.record(2), Self.record(3)])
        #expect(recent.records(after: 0, limit: 10, maxBytes: .max) == nil, "1 is no longer here")
        #expect(recent.records(after: 1, limit: 10, maxBytes: .max)?.map(\.seq) == [2, 3])
        recent.add([Self.record(4), Self.record(5)])
        #expect(recent.count == 3 && recent.records(after: 2, limit: 10, maxBytes: .max)?.map(\.seq) == [3, 4, 5])
        #expect(recent.records(after: 2, limit: 2, maxBytes: .max)?.map(\.seq) == [3, 4])
        #expect(recent.records(after: 2, limit: 10, maxBytes: 5)?.map(\.seq) == [3], "past the first record, at most maxBytes")
        recent.add([Self.record(6, bytes: 95)])
        #expect(recent.count == 2 && recent.records(after: 4, limit: 10, maxBytes: .max)?.map(\.seq) == [5, 6], "bounded by bytes too")
        recent.add([Self.record(7, bytes: 200)])
        #expect(recent.count == 0 && recent.records(after: 6, limit: 10, maxBytes: .max) == nil, "a record over the bound is read from the file")
        #expect(recent.records(after: 7, limit: 10, maxBytes: .max) == [])
        recent.add([Self.record(8), Self.record(9)])
        recent.drop(through: 8)
        #expect(recent.count == 1 && recent.records(after: 8, limit: 10, maxBytes: .max)?.map(\.seq) == [9])
    }
}
