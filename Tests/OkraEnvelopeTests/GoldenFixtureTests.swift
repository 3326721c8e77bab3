import Foundation
import OkraEnvelope
import Testing

/// Every payload in Okra's docs gives its expected envelope; every invalid one its rejection.
@Suite("Golden fixtures from Okra's docs")
struct GoldenFixtureTests {
    static let valid = Fixtures.names(invalid: false)
    static let invalid = Fixtures.names(invalid: true)

    @Test("the fixture set is complete")
    func fixtureSetIsComplete() {
        #expect(Self.valid.count >= 36)
        #expect(Self.invalid.count == 8)
        // Each invalid sample has a repaired twin (or two, where Okra shows alternatives).
        for name in Self.invalid {
            #expect(Self.valid.contains { $0 == name || $0.hasPrefix(name + "-") }, "\(name) has no repaired fixture")
        }
    }

    @Test("the envelope matches the golden file", arguments: valid)
    func envelopeMatchesGolden(_ name: String) throws {
        let event = try Fixtures.event(name)
        let expected = try Fixtures.bytes("envelopes/\(name).json")
        let actual = event.prettyJSONBytes() + [UInt8(ascii: "\n")]
        #expect(String(decoding: actual, as: UTF8.self) == String(decoding: expected, as: UTF8.self))
    }

    @Test("docs/envelope.schema.json is the schema the code makes from the domain (okra-bridge normalize --schema writes it), byte for byte")
    func schemaFileIsTheCodes() throws {
        var made: [UInt8] = []
        JSONWriter.pretty(EnvelopeSchema.structured, into: &made)
        made.append(UInt8(ascii: "\n"))
        let file = try Data(contentsOf: Fixtures.repositoryRoot.appendingPathComponent("docs/envelope.schema.json"))
        #expect(String(decoding: made, as: UTF8.self) == String(decoding: file, as: UTF8.self),
                "regenerate it: swift run okra-bridge normalize --schema > docs/envelope.schema.json")
    }

    @Test("the structured JSON is valid against docs/envelope.schema.json and carries the payload byte for byte", arguments: valid)
    func structuredJSONIsValid(_ name: String) throws {
        let event = try Fixtures.event(name)
        let json = event.jsonBytes()
        let parsed = try JSONParser.parse(json).value
        #expect(SchemaValidator.problems(parsed, schema: try Fixtures.schema) == [])
        // `data` is the received bytes, not a re-encoding.
        let raw = try Fixtures.payload(name)
        let trimmed = try JSONParser.parse(raw).range
        #expect(event.data == Array(raw[trimmed]))
        #expect(parsed["data"] == (try JSONParser.parse(raw).value))
    }

    /// `envelopes-env/NAME.ENV.json`: the envelope of `payloads/NAME.json` arriving with a token of ENV.
    static let withEnvironment: [String] = ((try? FileManager.default.contentsOfDirectory(atPath: Fixtures.directory.appendingPathComponent("envelopes-env").path)) ?? [])
        .filter { $0.hasSuffix(".json") }.map { String($0.dropLast(5)) }.sorted()

    @Test("with a token's environment (normalize --env), the envelope matches its golden file", arguments: withEnvironment)
    func envelopeWithEnvironment(_ file: String) throws {
        let name = String(file[..<file.lastIndex(of: ".")!])
        let environment = try #require(OkraEnvironment(rawValue: String(file[file.index(after: file.lastIndex(of: ".")!)...])))
        let event = try #require(try Fixtures.event(name).bound(to: environment))
        #expect(event.id == (try Fixtures.event(name)).id, "the id is the content's alone")
        let expected = try Fixtures.bytes("envelopes-env/\(file).json")
        #expect(String(decoding: event.prettyJSONBytes() + [UInt8(ascii: "\n")], as: UTF8.self) == String(decoding: expected, as: UTF8.self))
    }

    @Test("there are golden envelopes with a token's environment, for each shape that names none")
    func environmentFixturesExist() {
        #expect(Self.withEnvironment.count >= 4)
    }

    @Test("an invalid sample is rejected as malformed-json with the position", arguments: invalid)
    func invalidSampleIsRejected(_ name: String) throws {
        let body = try Fixtures.bytes("payloads/\(name).invalid.json")
        let expected = String(decoding: try Fixtures.bytes("rejections/\(name).txt"), as: UTF8.self)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        guard case .failure(let rejection) = Normalizer.normalize(body, receivedAt: Fixtures.receivedAt) else {
            Issue.record("\(name) was accepted")
            return
        }
        #expect(rejection.reason == .malformedJSON)
        #expect(rejection.description == expected)
        #expect(rejection.syntaxError != nil)
    }

    @Test("the fixtures cover every product, outcome seen in the docs, shape and environment")
    func coverage() throws {
        let events = try Self.valid.map(Fixtures.event)
        #expect(Set(events.map(\.product.rawValue)) == ["auth", "identity", "accounts", "balance", "transactions", "income", "payment", "record", "user", "widget", "unknown"])
        #expect(Set(events.map(\.outcome.rawValue)) == ["success", "failed", "cancelled", "deleted", "updated", "disconnected", "reauth_required", "event", "unknown"])
        #expect(Set(events.map(\.shape.rawValue)) == Set(["callback-v2", "callback-v1", "user-event", "widget-event", "widget-success", "unknown"]))
        #expect(Set(events.map(\.environment.rawValue)) == ["production", "sandbox", "unknown"])
        #expect(events.contains { $0.code == "PDOCUT_IS_READY" && $0.outcome == .success })
    }

    @Test("API responses that merely carry a callback_url are unknown, not product events")
    func apiResponsesAreUnknown() throws {
        for name in ["api-async-callback-url", "api-trigger-response", "api-trigger-response-overview", "api-trigger-request"] {
            let event = try Fixtures.event(name)
            #expect(event.type == "okra.unknown.unknown", "\(name)")
            #expect(event.shape == .unknown)
        }
        let body = Array(#"{"status":"success","data":{"callback_url":"https://api.okra.ng/v2/callback?record=1&method=BALANCE"}}"#.utf8)
        let event = try Normalizer.normalize(body, receivedAt: Fixtures.receivedAt).get()
        #expect(event.type == "okra.unknown.unknown")
    }
}
