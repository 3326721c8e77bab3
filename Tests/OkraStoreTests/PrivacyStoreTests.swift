import Foundation
import GRDB
import GRDBSQLite
import OkraEnvelope
import OkraIngest
import OkraOperations
@testable import OkraStore
import Testing

/// The audit trail and erasure (§9) against a real SQLite file.
@Suite("Audit trail and erasure")
struct PrivacyStoreTests {
    typealias Harness = EventLogTests.Harness

    static func payment(record: String, customer: String, secret: String) -> String {
        #"{"type":"CALLBACK","method":"PAYMENT","code":"PAYMENT_SUCCESS","env":"production","record":"\#(record)","customerId":"\#(customer)","#
            + #""accountId":"acc-1","nuban":"\#(secret)","customerName":"\#(secret)-name"}"#
    }

    /// The bytes of the store's file and its WAL.
    static func fileBytes(_ harness: Harness) -> Data {
        var bytes = Data()
        for suffix in ["", "-wal"] {
            if let data = FileManager.default.contents(atPath: harness.store.path + suffix) { bytes += data }
        }
        return bytes
    }

    @Test("audit lines are kept in order with token, scope, action, filter, ids and count; listed newest first in pages; pruned past --audit-retain")
    func auditTrail() async throws {
        let harness = try Harness(auditRetain: .seconds(86400))
        defer { harness.remove() }
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        try await harness.operations.audit(AuditRecord(atMilliseconds: now - 2 * 86_400_000, token: "old", scope: .operate, action: .discard, count: 1))
        for index in 0..<3 {
            try await harness.operations.audit(AuditRecord(atMilliseconds: now + Int64(index), token: "support", scope: .readPII, action: .export,
                                                           filter: ["customer": "cus-\(index)", "deadletter": "false"], count: index))
        }
        try await harness.operations.audit(AuditRecord(atMilliseconds: now + 5, token: "/etc/okra/admin-tokens", scope: nil, action: .adminTokensReload,
                                                       ids: ["ops", "prometheus"], count: 2))
        let (first, next) = try await harness.operations.auditTrail(since: nil, until: nil, limit: 2, before: nil)
        #expect(first.map(\.token) == ["/etc/okra/admin-tokens", "support"])
        #expect(first[0].ids == ["ops", "prometheus"] && first[0].scope == nil && first[0].action == .adminTokensReload)
        #expect(first[1].filter == ["customer": "cus-2", "deadletter": "false"] && first[1].count == 2 && first[1].scope == .readPII)
        let (rest, end) = try await harness.operations.auditTrail(since: nil, until: nil, limit: 10, before: next)
        #expect(rest.map(\.count) == [1, 0, 1] && end == nil)
        let recent = try await harness.operations.auditTrail(since: Date(timeIntervalSince1970: Double(now) / 1000 - 60), until: nil, limit: 10, before: nil)
        #expect(recent.records.count == 4)
        try await harness.store.prune()
        let kept = try await harness.operations.auditTrail(since: nil, until: nil, limit: 10, before: nil).records
        #expect(kept.count == 4 && !kept.contains { $0.token == "old" }, "the line past retention is pruned")
    }

    @Test("with the event log off (--retain 0) the audit trail is still pruned past --audit-retain")
    func auditTrailWithTheLogOff() async throws {
        let harness = try Harness(eventLog: nil, auditRetain: .seconds(86400))
        defer { harness.remove() }
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        try await harness.operations.audit(AuditRecord(atMilliseconds: now - 2 * 86_400_000, token: "old", scope: .operate, action: .redrive, count: 1))
        try await harness.operations.audit(AuditRecord(atMilliseconds: now, token: "new", scope: .operate, action: .discard, count: 1))
        try await harness.store.prune()
        let kept = try await harness.operations.auditTrail(since: nil, until: nil, limit: 10, before: nil).records
        #expect(kept.map(\.token) == ["new"], "the line past retention is pruned with the log off too")
    }

    @Test("erase removes a customer's entries and parked records and nothing else; the customer's id and data are gone from the file and the WAL")
    func eraseDelivered() async throws {
        let harness = try Harness()
        defer { harness.remove() }
        let at = Date(timeIntervalSince1970: 1_796_083_200)
        let gone = try harness.id(await harness.post(Self.payment(record: "rec-A", customer: "cus-ERASEME-7781", secret: "SECRETA9911"), at: at))
        _ = try harness.id(await harness.post(Self.payment(record: "rec-B", customer: "cus-ERASEME-7781", secret: "SECRETB9922"), at: at))
        let kept = try harness.id(await harness.post(Self.payment(record: "rec-C", customer: "cus-keep", secret: "SECRETC9933"), at: at))
        // rec-B's record is parked: it leaves with the erasure too.
        let pending = try await harness.store.pending(after: 0, limit: 100)
        try await harness.store.markPublished(through: pending.last!.seq, parking: [
            OutboxStore.Parking(seq: pending[1].seq, reason: "message_too_large", error: "too large"),
        ])
        #expect(await harness.store.parkedCount == 1)
        #expect(Self.fileBytes(harness).range(of: Data("SECRETA9911".utf8)) != nil, "the data is in the file before (the log is not encrypted here)")

        let erasure = try await harness.operations.erase(customer: "cus-ERASEME-7781")
        #expect(erasure == Erasure(erased: 2, waiting: 0, parked: 1))
        #expect(try await harness.operations.event(gone, environment: nil).isEmpty)
        #expect(try await harness.operations.event(kept, environment: nil).count == 1)
        #expect(await harness.store.parkedCount == 0)
        #expect(try await harness.operations.parked(limit: 10).isEmpty)
        let bytes = Self.fileBytes(harness)
        for text in ["cus-ERASEME-7781", "SECRETA9911", "SECRETB9922"] {
            #expect(bytes.range(of: Data(text.utf8)) == nil, "\(text) is still in the file or the WAL")
        }
        #expect(bytes.range(of: Data("SECRETC9933".utf8)) != nil, "another customer's entry stays")
        // The id is still known: a redelivery is a duplicate, not a new event.
        guard case .accepted(_, let duplicate) = await harness.post(Self.payment(record: "rec-A", customer: "cus-ERASEME-7781", secret: "SECRETA9911"), at: at) else {
            Issue.record("not accepted"); return
        }
        #expect(duplicate)
    }

    @Test("erase finds a parked record whose entry retention removed, and a dead letter whose body holds the customer's id")
    func eraseBeyondEntries() async throws {
        let harness = try Harness(eventLog: EventLogPolicy(retain: .seconds(60)), cipher: try StoreEncryptionTests.cipher("k1"))
        defer { harness.remove() }
        let old = Date().addingTimeInterval(-3600)
        _ = try harness.id(await harness.post(Self.payment(record: "rec-P", customer: "cus-PARKED-5150", secret: "SECRETP5150"), at: old))
        _ = try harness.id(await harness.post(Self.payment(record: "rec-Q", customer: "cus-other", secret: "SECRETQ1234"), at: old))
        _ = await harness.post(#"{"customerId":"cus-PARKED-5150","identity":{"bvn":"SECRETDEAD77"#, at: old)
        let pending = try await harness.store.pending(after: 0, limit: 10)
        try await harness.store.markPublished(through: pending.last!.seq, parking: pending.prefix(2).map {
            OutboxStore.Parking(seq: $0.seq, reason: "message_too_large", error: "too large")
        })
        try await harness.store.prune()
        #expect(try await harness.operations.events(EventFilter(), limit: 10, before: nil, withData: false).entries.count == 0, "retention removed the entries")
        #expect(await harness.store.parkedCount == 2)
        // The dead letter is younger than retention here: posted again now. Its record reads the
        // body from the entry, so the erasure waits for it.
        _ = await harness.post(#"{"customerId":"cus-PARKED-5150","identity":{"bvn":"SECRETDEAD77"#)
        #expect(try await harness.operations.erase(customer: "cus-PARKED-5150") == Erasure(erased: 0, waiting: 1, parked: 1))
        try await harness.publishAll()
        let erasure = try await harness.operations.erase(customer: "cus-PARKED-5150")
        #expect(erasure == Erasure(erased: 1, waiting: 0, parked: 0), "the dead letter's entry, once delivered")
        #expect(try await harness.operations.parked(limit: 10).map(\.eventID).count == 1, "the other customer's parked record stays")
        #expect(try await harness.operations.events(EventFilter(), limit: 10, before: nil, withData: false).entries.isEmpty)
    }

    @Test("an entry whose records are still pending is erased once they are delivered, also after a restart")
    func eraseWaitsForDelivery() async throws {
        let harness = try Harness()
        let directory = harness.directory
        defer { harness.remove() }
        let id = try harness.id(await harness.post(Self.payment(record: "rec-W", customer: "cus-WAIT-4410", secret: "SECRETW4410")))
        let erasure = try await harness.operations.erase(customer: "cus-WAIT-4410")
        #expect(erasure == Erasure(erased: 0, waiting: 1, parked: 0))
        #expect(try await harness.operations.event(id, environment: nil).count == 1, "kept while its record waits for Kafka")
        #expect(try await harness.store.finishErasures() == 0)

        // A restart keeps the erasure waiting.
        let reopened = try Harness(directory: directory)
        #expect(try await reopened.store.finishErasures() == 0)
        try await reopened.publishAll()
        #expect(try await reopened.store.finishErasures() == 1)
        #expect(try await reopened.operations.event(id, environment: nil).isEmpty)
        let bytes = Self.fileBytes(reopened)
        #expect(bytes.range(of: Data("cus-WAIT-4410".utf8)) == nil && bytes.range(of: Data("SECRETW4410".utf8)) == nil)
        #expect(try await reopened.store.finishErasures() == 0, "nothing waits any more")
    }

    @Test("with the event log off an erasure removes the customer's parked records, found by their values, and nothing else")
    func eraseParkedWithTheLogOff() async throws {
        let harness = try Harness(eventLog: nil)
        defer { harness.remove() }
        _ = try harness.id(await harness.post(Self.payment(record: "rec-O", customer: "cus-OFF-8120", secret: "SECRETO8120")))
        _ = try harness.id(await harness.post(Self.payment(record: "rec-K", customer: "cus-keep", secret: "SECRETK8120")))
        let pending = try await harness.store.pending(after: 0, limit: 10)
        try await harness.store.markPublished(through: pending.last!.seq, parking: pending.map {
            OutboxStore.Parking(seq: $0.seq, reason: "message_too_large", error: "too large")
        })
        #expect(await harness.store.parkedCount == 2)
        #expect(try await harness.operations.erase(customer: "cus-OFF-8120") == Erasure(erased: 0, waiting: 0, parked: 1))
        #expect(await harness.store.parkedCount == 1, "the other customer's parked record stays")
        let bytes = Self.fileBytes(harness)
        #expect(bytes.range(of: Data("SECRETO8120".utf8)) == nil && bytes.range(of: Data("cus-OFF-8120".utf8)) == nil)
    }

    @Test("a record parked and redriven ten times: its entry shows it pending, and an erasure waits for its last copy")
    func longRedriveChain() async throws {
        let harness = try Harness()
        defer { harness.remove() }
        let id = try harness.id(await harness.post(Self.payment(record: "rec-L", customer: "cus-LOOP-7007", secret: "SECRETL7007")))
        for _ in 0..<10 {
            let pending = try await harness.store.pending(after: await harness.store.publishedThrough, limit: 10)
            try await harness.store.markPublished(through: pending.last!.seq, parking: [
                OutboxStore.Parking(seq: pending.last!.seq, reason: "message_too_large", error: "too large"),
            ])
            #expect(try await harness.operations.redrive(.all) == 1)
        }
        let entry = try #require(try await harness.operations.event(id, environment: nil).first)
        #expect(entry.records.map(\.state) == [.pending], "\(entry.records)")
        #expect(try await harness.operations.erase(customer: "cus-LOOP-7007") == Erasure(erased: 0, waiting: 1, parked: 0))
        #expect(try await harness.store.finishErasures() == 0, "the chain of redrives is still there at the next look")
        try await harness.publishAll()
        #expect(try await harness.store.finishErasures() == 1)
        #expect(try await harness.store.pool.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM parked") } == 0,
                "the ten redriven rows went with the entry")
    }

    @Test("an erasure waits for an entry's replayed records and for a redriven copy of its parked record, as for its own")
    func eraseWaitsForReplayAndRedrive() async throws {
        let harness = try Harness()
        defer { harness.remove() }
        let replayed = try harness.id(await harness.post(Self.payment(record: "rec-R", customer: "cus-AGAIN-6620", secret: "SECRETR6620")))
        let redriven = try harness.id(await harness.post(Self.payment(record: "rec-D", customer: "cus-AGAIN-6620", secret: "SECRETD6620")))
        // The first delivered, the second parked.
        let pending = try await harness.store.pending(after: 0, limit: 10)
        try await harness.store.markPublished(through: pending.last!.seq, parking: [
            OutboxStore.Parking(seq: pending.last!.seq, reason: "message_too_large", error: "too large"),
        ])
        _ = try await harness.operations.replay(nil, ids: [replayed], execute: true)
        #expect(try await harness.operations.redrive(.all) == 1)
        #expect(try await harness.operations.erase(customer: "cus-AGAIN-6620") == Erasure(erased: 0, waiting: 2, parked: 0),
                "the replay's record and the redriven copy are in the outbox")
        #expect(try await harness.store.finishErasures() == 0, "and still are at the next look")
        try await harness.publishAll()
        #expect(try await harness.store.finishErasures() == 2)
        #expect(try await harness.operations.event(replayed, environment: nil).isEmpty)
        #expect(try await harness.operations.event(redriven, environment: nil).isEmpty)
    }

    @Test("a waiting erasure reads neither the whole outbox nor the whole log: its work does not grow with them")
    func waitingErasureReadsNoOutbox() async throws {
        let harness = try Harness()
        defer { harness.remove() }
        _ = try harness.id(await harness.post(Self.payment(record: "rec-S", customer: "cus-SCAN-3301", secret: "SECRETS3301")))
        // SQLite's instructions on the writer, counted ten at a time (sqlite3_progress_handler).
        let counter = UnsafeMutablePointer<Int>.allocate(capacity: 1)
        counter.initialize(to: 0)
        defer { counter.deallocate() }
        let address = Int(bitPattern: counter)
        try await harness.store.pool.writeWithoutTransaction { db in
            sqlite3_progress_handler(db.sqliteConnection, 10, { context in
                context!.assumingMemoryBound(to: Int.self).pointee += 1
                return 0
            }, UnsafeMutableRawPointer(bitPattern: address))
        }
        func counted() async throws -> Int {
            counter.pointee = 0
            #expect(try await harness.operations.erase(customer: "cus-SCAN-3301") == Erasure(erased: 0, waiting: 1, parked: 0))
            return counter.pointee * 10
        }
        let before = try await counted()
        let added = 3000
        await withTaskGroup(of: Void.self) { group in
            for index in 0..<added {
                group.addTask { _ = await harness.post(Self.payment(record: "rec-o\(index)", customer: "cus-o\(index)", secret: "S\(index)")) }
            }
        }
        #expect(try await harness.store.pending(after: 0, limit: 10_000).count == added + 1)
        let after = try await counted()
        // Reading the outbox, or every entry of the log for its dead letters, would take a few
        // instructions a row; the log's few more buckets take some tens each.
        #expect(after - before < added, "\(before) instructions with one record waiting, \(after) with \(added) more")
    }
}
