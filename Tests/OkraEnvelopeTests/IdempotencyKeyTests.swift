import Foundation
import OkraEnvelope
import Testing

/// The idempotency key: the documented vectors, and the properties §2 promises.
@Suite("Idempotency key")
struct IdempotencyKeyTests {
    struct Vector: Decodable, Sendable, CustomTestStringConvertible {
        var name: String
        var payload: String
        var canonical: String
        var id: String
        /// For an untimed payload (§2): when it was received, whose minute the key covers.
        var received_at: String?
        var testDescription: String { name }
    }

    /// Computed independently (Python's json.dumps with sorted keys and hashlib); listed in
    /// docs/envelope.md.
    static let vectors: [Vector] = {
        let data = try! Data(contentsOf: Fixtures.directory.appendingPathComponent("idempotency-vectors.json"))
        return try! JSONDecoder().decode([Vector].self, from: data)
    }()

    @Test("the documented test vectors", arguments: vectors)
    func vector(_ vector: Vector) throws {
        let document = try JSONParser.document(Array(vector.payload.utf8))
        if let text = vector.received_at {
            let formatter = ISO8601DateFormatter()
            formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
            let receivedAt = try #require(formatter.date(from: text))
            #expect(IdempotencyKey.make(document, receivedAt: receivedAt) == vector.id)
            #expect(String(decoding: IdempotencyKey.canonicalBytes(document, receivedAt: receivedAt), as: UTF8.self) == vector.canonical)
            // The normalizer takes this key for a payload with no time of its own.
            #expect(try Normalizer.normalize(Array(vector.payload.utf8), receivedAt: receivedAt).get().id == vector.id)
            return
        }
        #expect(IdempotencyKey.make(document) == vector.id)
        #expect(String(decoding: IdempotencyKey.canonicalBytes(document), as: UTF8.self) == vector.canonical)
        // The value-tree entry point agrees.
        #expect(IdempotencyKey.make(document.value) == vector.id)
    }

    @Test("arrays copied whole when their text is canonical, and rewritten when it is not (whitespace, escapes, objects inside, nesting)", arguments: [
        #"{"a":[1,2,[3,[4,"x"]],true,null,-0.5e3,[]]}"#,
        #"{"a":[1, 2,[3]]}"#, #"{"a":[ 1,2]}"#, #"{"a":[1,2 ]}"#, #"{"a":[ ]}"#, #"{"a":[[[[]]],[ ]]}"#,
        #"{"a":["caf\u00e9","b"]}"#, #"{"a":[["x\n"]]}"#, #"{"a":[{"b":1,"a":2}]}"#, #"{"a":[[{"z":[1],"y":[2, 3]}]]}"#,
        #"[[1,2],[3]]"#, #"[ [1] ]"#,
    ])
    func verbatimArrays(_ payload: String) throws {
        let document = try JSONParser.document(Array(payload.utf8))
        let canonical = String(decoding: IdempotencyKey.canonicalBytes(document), as: UTF8.self)
        #expect(canonical == Self.referenceCanonical(document.value))
    }

    @Test("a repeated key keeps its members in received order, in small and large objects")
    func repeatedKeys() throws {
        let small = try JSONParser.document(Array(#"{"b":0,"a":1,"c":[],"a":2}"#.utf8))
        #expect(String(decoding: IdempotencyKey.canonicalBytes(small), as: UTF8.self) == #"{"a":1,"a":2,"b":0,"c":[]}"#)
        // Past the insertion-sort size, with the repeated key escaped once.
        let filler = (0..<30).map { #""k\#($0 % 10)\#($0)":\#($0)"# }
        let large = try JSONParser.document(Array(("{\"r\":1," + filler.joined(separator: ",") + #","\u0072":2,"r":3}"#).utf8))
        let canonical = String(decoding: IdempotencyKey.canonicalBytes(large), as: UTF8.self)
        #expect(canonical.hasSuffix(#""r":1,"r":2,"r":3}"#))
        #expect(canonical == Self.referenceCanonical(large.value))
    }

    @Test("the canonical writer agrees with a plain tree-sorting reference on every fixture", arguments: GoldenFixtureTests.valid)
    func canonicalMatchesReference(_ name: String) throws {
        let document = try JSONParser.document(try Fixtures.payload(name))
        var bytes: [UInt8] = []
        document.writeCanonical(into: &bytes)
        #expect(String(decoding: bytes, as: UTF8.self) == Self.referenceCanonical(document.value))
    }

    /// Canonical JSON the slow, obvious way: sort a tree's members by the UTF-8 of their keys
    /// (ties by position) and write strings with JSONWriter's escaping.
    static func referenceCanonical(_ value: JSONValue) -> String {
        switch value {
        case .object(let members):
            let sorted = members.enumerated().sorted { lhs, rhs in
                let (l, r) = (Array(lhs.element.key.utf8), Array(rhs.element.key.utf8))
                return l == r ? lhs.offset < rhs.offset : l.lexicographicallyPrecedes(r)
            }
            return "{" + sorted.map { referenceCanonical(.string($0.element.key)) + ":" + referenceCanonical($0.element.value) }.joined(separator: ",") + "}"
        case .array(let elements):
            return "[" + elements.map(referenceCanonical).joined(separator: ",") + "]"
        default:
            var bytes: [UInt8] = []
            JSONWriter.compact(value, into: &bytes)
            return String(decoding: bytes, as: UTF8.self)
        }
    }

    @Test("SHA-256 matches the FIPS 180-4 examples")
    func sha256() {
        #expect(SHA256.hex([]) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(SHA256.hex(Array("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(SHA256.hex(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)) == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        #expect(SHA256.hex([UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000)) == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    @Test("reordered keys, changed whitespace and another callbackURL give the same id", arguments: GoldenFixtureTests.valid)
    func redeliveryKeepsId(_ name: String) throws {
        let original = try Fixtures.event(name)
        let value = try JSONParser.parse(try Fixtures.payload(name)).value
        guard case .object(let members) = value else { return }
        var reordered = JSONValue.object(Self.reverseDeep(members))
        if case .object(var top) = reordered {
            top.removeAll { IdempotencyKey.deliveryOnlyFields.contains($0.key) }
            top.append(JSONMember(key: "callbackURL", value: .string("https://another.example/hooks")))
            reordered = .object(top)
        }
        var spaced: [UInt8] = []
        JSONWriter.pretty(reordered, into: &spaced)
        // Within the minute it was first received: an untimed payload's id covers that minute.
        let redelivered = try Normalizer.normalize(spaced, receivedAt: Fixtures.receivedAt.addingTimeInterval(59)).get()
        #expect(redelivered.id == original.id)
        #expect(redelivered.type == original.type)
        // Minutes later: the same id when the payload has a time of its own, else a new event.
        let later = try Normalizer.normalize(spaced, receivedAt: Fixtures.receivedAt.addingTimeInterval(120)).get()
        #expect((later.id == original.id) == (original.time != nil), "time \(original.time ?? "absent")")
    }

    @Test("any change to another field gives a different id", arguments: GoldenFixtureTests.valid)
    func changeGivesNewId(_ name: String) throws {
        let value = try JSONParser.parse(try Fixtures.payload(name)).value
        let original = IdempotencyKey.make(value)
        var seen: Set<String> = [original]
        for path in Self.leafPaths(value) where !(path.count == 1 && IdempotencyKey.deliveryOnlyFields.contains(path[0])) {
            let changed = Self.replacing(value, at: path, with: .string("changed-\(path.joined(separator: "."))"))
            let id = IdempotencyKey.make(changed)
            #expect(id != original, "changing \(path) kept the id")
            seen.insert(id)
        }
    }

    @Test("unknown extra fields never change the classification", arguments: GoldenFixtureTests.valid)
    func extraFieldsKeepClassification(_ name: String) throws {
        let original = try Fixtures.event(name)
        let value = try JSONParser.parse(try Fixtures.payload(name)).value
        guard case .object(var members) = value else { return }
        members.insert(JSONMember(key: "x_new_field", value: .object([JSONMember(key: "nested", value: .number("1"))])), at: 0)
        members.append(JSONMember(key: "zz_future", value: .array([.string("a"), .null])))
        var bytes: [UInt8] = []
        JSONWriter.canonical(.object(members), into: &bytes)
        let extended = try Normalizer.normalize(bytes, receivedAt: Fixtures.receivedAt).get()
        #expect(extended.type == original.type)
        #expect(extended.shape == original.shape)
        #expect(extended.environment == original.environment)
        #expect(extended.code == original.code)
        #expect(extended.subject == original.subject)
        #expect(extended.id != original.id)
    }

    static func reverseDeep(_ members: [JSONMember]) -> [JSONMember] {
        members.reversed().map { member in
            if case .object(let inner) = member.value { return JSONMember(key: member.key, value: .object(reverseDeep(inner))) }
            return member
        }
    }

    static func leafPaths(_ value: JSONValue, prefix: [String] = []) -> [[String]] {
        guard case .object(let members) = value else { return [prefix] }
        if members.isEmpty { return [prefix] }
        return members.flatMap { leafPaths($0.value, prefix: prefix + [$0.key]) }
    }

    static func replacing(_ value: JSONValue, at path: [String], with replacement: JSONValue) -> JSONValue {
        guard let head = path.first else { return replacement }
        guard case .object(let members) = value else { return value }
        return .object(members.map { member in
            member.key == head ? JSONMember(key: head, value: replacing(member.value, at: Array(path.dropFirst()), with: replacement)) : member
        })
    }
}

/// No input of any bytes crashes the normalizer.
@Suite("Robustness")
struct RobustnessTests {
    /// A small deterministic generator, so a failure can be reproduced.
    struct SplitMix64: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    @Test("10,000+ truncated, corrupted and random bodies never crash, and are accepted only as objects")
    func malformedBodies() throws {
        var rng = SplitMix64(state: 42)
        let seeds = try GoldenFixtureTests.valid.map(Fixtures.payload) + GoldenFixtureTests.invalid.map { try Fixtures.bytes("payloads/\($0).invalid.json") }
        var bodies: [[UInt8]] = []
        for seed in seeds {
            // Every truncation point of the first 120 bytes and a spread of later ones.
            for cut in stride(from: 0, to: seed.count, by: max(1, seed.count / 150)) { bodies.append(Array(seed.prefix(cut))) }
            // Single-byte corruptions.
            for _ in 0..<60 {
                var copy = seed
                copy[Int.random(in: 0..<copy.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
                bodies.append(copy)
            }
        }
        for length in 0..<500 {
            bodies.append((0..<length).map { _ in UInt8.random(in: 0...255, using: &rng) })
        }
        #expect(bodies.count >= 10_000)
        var accepted = 0
        for body in bodies {
            switch Normalizer.normalize(body, receivedAt: Fixtures.receivedAt) {
            case .success(let event):
                accepted += 1
                // Whatever is accepted is a JSON object whose envelope is valid JSON again.
                #expect((try? JSONParser.parse(event.jsonBytes())) != nil)
            case .failure(let rejection):
                #expect(rejection.reason == .malformedJSON || rejection.reason == .notAnObject)
                #expect(!rejection.message.isEmpty)
            }
        }
        #expect(accepted > 0)
    }

    @Test("deeply nested JSON is rejected with a clear message, not a stack overflow", arguments: [JSONParser.maxDepth + 1, 10_000, 200_000])
    func deepNesting(_ depth: Int) {
        for open in ["[", "{\"a\":"] {
            let body = Array(String(repeating: open, count: depth).utf8)
            guard case .failure(let rejection) = Normalizer.normalize(body, receivedAt: Date()) else {
                Issue.record("accepted nesting of \(depth)")
                continue
            }
            #expect(rejection.message.contains("nesting deeper than"))
        }
    }

    @Test("nesting up to the limit is accepted")
    func nestingAtLimit() throws {
        let depth = JSONParser.maxDepth - 1
        let body = "{\"a\":" + String(repeating: "[", count: depth) + String(repeating: "]", count: depth) + "}"
        #expect((try? Normalizer.normalize(Array(body.utf8), receivedAt: Date()).get()) != nil)
    }

    @Test("the parser accepts exactly the strings that are valid UTF-8, as the standard library judges them")
    func utf8MatchesStandardLibrary() {
        var rng = SplitMix64(state: 7)
        // Random short byte runs biased towards multi-byte lead and continuation bytes.
        let pool: [UInt8] = [0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC1, 0xC2, 0xDF, 0xE0, 0xED, 0xEE, 0xEF, 0xF0, 0xF4, 0xF5, 0xFF]
        for _ in 0..<20_000 {
            let text = (0..<Int.random(in: 1...6, using: &rng)).map { _ in pool.randomElement(using: &rng)! }
            let body = Array(#"{"a":""#.utf8) + text + Array(#""}"#.utf8)
            let accepted = (try? JSONParser.document(body)) != nil
            #expect(accepted == (String(validating: text, as: UTF8.self) != nil), "\(text.map { String($0, radix: 16) })")
        }
    }

    @Test("invalid UTF-8 in a string is malformed-json")
    func invalidUTF8() {
        let body: [UInt8] = Array(#"{"a":""#.utf8) + [0xC3, 0x28] + Array(#""}"#.utf8)
        guard case .failure(let rejection) = Normalizer.normalize(body, receivedAt: Date()) else {
            Issue.record("accepted invalid UTF-8")
            return
        }
        #expect(rejection.message.contains("UTF-8"))
    }
}
