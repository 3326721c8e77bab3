import Foundation
import GRDB
import OkraEnvelope
import OkraIngest
import OkraOperations
@testable import OkraStore
import Testing

/// The event log, the outbox and the parked records sealed at rest (§9), against a real SQLite file.
@Suite("Encryption at rest")
struct StoreEncryptionTests {
    typealias Harness = EventLogTests.Harness

    static func key(_ byte: UInt8) -> [UInt8] { [UInt8](repeating: byte, count: 31) + [0x5A] }
    static func cipher(_ ids: String...) throws -> StoreCipher {
        try StoreCipher(keys: ids.map { ($0, key(UInt8($0.utf8.last!))) })
    }

    static func payment(record: String, secret: String) -> String {
        #"{"type":"CALLBACK","method":"PAYMENT","code":"PAYMENT_SUCCESS","env":"production","record":"\#(record)","customerId":"cus-1","#
            + #""nuban":"\#(secret)","customerName":"\#(secret)-name"}"#
    }

    static func fileBytes(_ harness: Harness) -> Data { PrivacyStoreTests.fileBytes(harness) }

    @Test("bodies, values and headers are sealed: no sentinel in the file or its WAL; the publisher, the log, parking and redrive read them in clear",
          arguments: EventLogTests.ReadsFrom.allCases)
    func sealed(_ window: EventLogTests.ReadsFrom) async throws {
        let harness = try Harness(cipher: try Self.cipher("k1"), window: window)
        defer { harness.remove() }
        let id = try harness.id(await harness.post(Self.payment(record: "rec-S1", secret: "SENTINEL-SEALED-1")))
        _ = try harness.id(await harness.post(Self.payment(record: "rec-S2", secret: "SENTINEL-SEALED-2")))
        _ = await harness.post(#"{"not json SENTINEL-SEALED-DEAD"#)
        let bytes = Self.fileBytes(harness)
        for sentinel in ["SENTINEL-SEALED-1", "SENTINEL-SEALED-2", "SENTINEL-SEALED-DEAD", "customerName", "ce_okrarecord"] {
            #expect(bytes.range(of: Data(sentinel.utf8)) == nil, "\(sentinel) is in the file in clear")
        }
        #expect(bytes.range(of: Data("rec-S1".utf8)) != nil && bytes.range(of: Data("PAYMENT_SUCCESS".utf8)) != nil,
                "the indexed Okra ids and codes stay in clear for the filters")

        let pending = try await harness.store.pending(after: 0, limit: 10)
        #expect(pending.count == 3)
        #expect(String(decoding: pending[0].value, as: UTF8.self).contains("SENTINEL-SEALED-1"), "the publisher reads the whole value")
        let entry = try #require(try await harness.store.logEntry(id))
        #expect(String(decoding: entry.body, as: UTF8.self).contains("SENTINEL-SEALED-1"))

        // Parked whole (sealed again), then redriven: the same value comes back.
        try await harness.store.markPublished(through: pending[2].seq, parking: [OutboxStore.Parking(seq: pending[1].seq, reason: "message_too_large", error: "too large")])
        let parked = try await harness.store.parked(limit: 10)
        #expect(parked.first?.record.value == pending[1].value)
        #expect(parked.first?.record.headers.map(\.name) == pending[1].headers.map(\.name))
        #expect(Self.fileBytes(harness).range(of: Data("SENTINEL-SEALED-2".utf8)) == nil)
        #expect(try await harness.operations.redrive(.all) == 1)
        let redriven = try await harness.store.pending(after: pending[2].seq, limit: 10)
        #expect(redriven.map(\.value) == [pending[1].value])
    }

    @Test("with the event log off and a key, the outbox and parked records are still sealed")
    func logOffStillSealed() async throws {
        let harness = try Harness(eventLog: nil, cipher: try Self.cipher("k1"))
        defer { harness.remove() }
        _ = try harness.id(await harness.post(Self.payment(record: "rec-O1", secret: "SENTINEL-NOLOG-1")))
        _ = try harness.id(await harness.post(Self.payment(record: "rec-O2", secret: "SENTINEL-NOLOG-2")))
        let pending = try await harness.store.pending(after: 0, limit: 10)
        #expect(String(decoding: pending[0].value, as: UTF8.self).contains("SENTINEL-NOLOG-1"))
        try await harness.store.markPublished(through: pending[0].seq, parking: [OutboxStore.Parking(seq: pending[0].seq, reason: "message_too_large", error: "x")])
        #expect(try await harness.store.parked(limit: 1).first?.record.value == pending[0].value)
        let bytes = Self.fileBytes(harness)
        for sentinel in ["SENTINEL-NOLOG-1", "SENTINEL-NOLOG-2"] { #expect(bytes.range(of: Data(sentinel.utf8)) == nil, "\(sentinel)") }
    }

    @Test("a log written under key 1 reads after key 2 is added first; new values take key 2; dropping key 1 while used refuses to open, naming it")
    func rotation() async throws {
        let first = try Harness(cipher: try Self.cipher("k1"))
        defer { first.remove() }
        let old = try first.id(await first.post(Self.payment(record: "rec-R1", secret: "SENTINEL-ROT-1")))
        try await first.store.markPublished(through: 0)
        let directory = first.directory

        let rotated = try Harness(directory: directory, cipher: try Self.cipher("k2", "k1"))
        let new = try rotated.id(await rotated.post(Self.payment(record: "rec-R2", secret: "SENTINEL-ROT-2")))
        #expect(String(decoding: try #require(try await rotated.store.logEntry(old)).body, as: UTF8.self).contains("SENTINEL-ROT-1"))
        #expect(String(decoding: try #require(try await rotated.store.logEntry(new)).body, as: UTF8.self).contains("SENTINEL-ROT-2"))
        let keys = try await rotated.store.pool.read { db in try String.fetchAll(db, sql: "SELECT key_id FROM event_log ORDER BY entry") }
        #expect(keys == ["k1", "k2"])
        #expect(try await rotated.store.pending(after: 0, limit: 10).count == 2, "the publisher reads both keys' records")

        do {
            _ = try Harness(directory: directory, cipher: try Self.cipher("k2"))
            Issue.record("opened without a key in use")
        } catch let error as OutboxStore.MissingKey {
            #expect(error.keyID == "k1")
        }
        do {
            _ = try Harness(directory: directory)
            Issue.record("opened in clear over sealed values")
        } catch let error as OutboxStore.MissingKey {
            #expect(["k1", "k2"].contains(error.keyID))
        }
        #expect(try OutboxStore.keyIDsInUse(directory: directory).sorted() == ["k1", "k2"])
    }

    @Test("another key with the same id is refused at open, naming the id; a value changed in the file is refused on read, never read as something else")
    func notAuthentic() async throws {
        let harness = try Harness(cipher: try Self.cipher("k1"))
        defer { harness.remove() }
        let id = try harness.id(await harness.post(Self.payment(record: "rec-A", secret: "SENTINEL-AUTH")))
        let impostor = try StoreCipher(keys: [("k1", Self.key(9))])
        do {
            _ = try Harness(directory: harness.directory, cipher: impostor)
            Issue.record("opened with another key of the same id")
        } catch let error as OutboxStore.WrongKey {
            #expect(error.keyID == "k1")
        }
        #expect(try OutboxStore.keyThatDoesNotOpen(directory: harness.directory, cipher: impostor) == "k1")
        #expect(try OutboxStore.keyThatDoesNotOpen(directory: harness.directory, cipher: try Self.cipher("k1")) == nil)
        // One byte of the stored body changed: its entry does not read.
        try await harness.store.pool.write { db in try db.execute(sql: "UPDATE event_log SET body = substr(body, 1, 20) || X'00' || substr(body, 22)") }
        await #expect(throws: StoreCipherFailure.self) { try await harness.store.logEntry(id) }
    }

    @Test("no nonce repeats: within a cipher (the counter), between two made with the same key (the prefix), and across the counter's wrap (a new prefix)")
    func noncesNeverRepeat() throws {
        let first = try Self.cipher("k1"), second = try Self.cipher("k1")
        var nonces: Set<Data> = []
        for cipher in [first, second] {
            for index in 0..<5000 { nonces.insert(try cipher.seal(Data([UInt8(index & 0xFF)]), .value).prefix(12)) }
        }
        #expect(nonces.count == 10_000)
        first.setNonceCounterForTesting(.max - 1)
        let aroundWrap = try (0..<3).map { _ in try first.seal(Data([1]), .value).prefix(12) }
        #expect(Set(aroundWrap).count == 3 && nonces.isDisjoint(with: aroundWrap))
        // The counter's last value is used once; the next nonce has a new prefix and starts over.
        #expect(aroundWrap[0].prefix(8) != aroundWrap[1].prefix(8) && aroundWrap[1].prefix(8) == aroundWrap[2].prefix(8), "a new prefix after the wrap")
        // Each still opens.
        #expect(try first.open(first.seal(Data("x".utf8), .body), .body, keyID: "k1") == Array("x".utf8))
    }

    @Test("a key file: ID=BASE64 lines of 32-byte keys, the first sealing; errors name the line, never the key")
    func keyFile() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("okra-keys-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("keys").path
        let k2 = Data(Self.key(2)).base64EncodedString(), k1 = Data(Self.key(1)).base64EncodedString()
        try "# newest first\n2026-12=\(k2)\n\n2026-11=\(k1)\n".write(toFile: path, atomically: true, encoding: .utf8)
        let cipher = try StoreCipher.read(file: path)
        #expect(cipher.currentKeyID == "2026-12" && cipher.keyIDs == ["2026-12", "2026-11"])
        let short = Data([UInt8](repeating: 7, count: 16)).base64EncodedString()
        for (text, message) in [("a=\(short)\n", "\(path):1: the key must be the base64 of 32 bytes"), ("\(k1)\n", "\(path):1: the key must be the base64 of 32 bytes"), ("\(k1.dropLast())\n", "\(path):1: takes ID=BASE64"),
                                ("a b=\(k1)\n", "\(path):1: a key id is"), ("a=\(k1)\na=\(k2)\n", "\(path):2: the id of line 1 again"), ("#\n", "\(path): no keys")] {
            try text.write(toFile: path, atomically: true, encoding: .utf8)
            do {
                _ = try StoreCipher.read(file: path)
                Issue.record("accepted \(text)")
            } catch {
                #expect(error.description.hasPrefix(message), "\(error.description)")
                #expect(!error.description.contains(k1) && !error.description.contains(short))
            }
        }
    }
}
