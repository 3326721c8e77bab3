import OkraEnvelope
import Testing

@Suite("trace context (the CloudEvents distributed-tracing extension)")
struct TraceContextTests {
    static let parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

    @Test("a version-00 traceparent is kept; a malformed one is not", arguments: [
        ("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", true),
        ("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", true),
        ("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", false),
        ("00-00000000000000000000000000000000-00f067aa0ba902b7-01", false),
        ("00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", false),
        ("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", false),
        ("00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01", false),
        ("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-", false),
        ("00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", false),
        ("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902bz-01", false),
        ("", false),
    ])
    func wellFormed(text: String, kept: Bool) {
        #expect((TraceContext(traceParent: text) != nil) == kept)
    }

    @Test("its parts, and tracestate only when it may be an attribute")
    func parts() throws {
        let trace = try #require(TraceContext(traceParent: Self.parent, traceState: "congo=t61rcWkgMzE"))
        #expect(trace.traceID == "4bf92f3577b34da6a3ce929d0e0e4736")
        #expect(trace.parentID == "00f067aa0ba902b7")
        #expect(trace.traceState == "congo=t61rcWkgMzE")
        #expect(TraceContext(traceParent: Self.parent, traceState: "a=1\r\nx: y")?.traceState == nil)
        #expect(TraceContext(traceParent: Self.parent, traceState: String(repeating: "a", count: 513))?.traceState == nil)
        #expect(TraceContext(traceParent: Self.parent, traceState: "")?.traceState == nil)
        #expect(TraceContext(traceParent: Self.parent, traceState: "a=caf\u{E9}")?.traceState == nil)
    }

    @Test("the event carries traceparent and tracestate as its last attributes, and its id does not change")
    func onTheEvent() throws {
        let body = Array(#"{"type":"CALLBACK","method":"PAYMENT","code":"PAYMENT_SUCCESS","env":"production","record":"rec-1"}"#.utf8)
        let plain = try Normalizer.normalize(body, receivedAt: .init(timeIntervalSince1970: 1_767_225_600)).get()
        var traced = plain
        traced.trace = TraceContext(traceParent: Self.parent, traceState: "congo=t61rcWkgMzE")
        #expect(traced.id == plain.id)
        #expect(traced.attributes.suffix(2).map(\.name) == ["traceparent", "tracestate"])
        #expect(!plain.attributes.contains { $0.name == "traceparent" })
        let json = try JSONParser.parse(traced.jsonBytes()).value
        #expect(json["traceparent"] == .string(Self.parent))
        #expect(json["tracestate"] == .string("congo=t61rcWkgMzE"))
        // The envelope's schema knows both attributes, and the pattern refuses a malformed one.
        #expect(SchemaValidator.problems(json, schema: try Fixtures.schema) == [])
        var forged = try JSONParser.parse(traced.jsonBytes()).value
        if case .object(var members) = forged, let index = members.firstIndex(where: { $0.key == "traceparent" }) {
            members[index].value = .string("00-xyz")
            forged = .object(members)
        }
        #expect(SchemaValidator.problems(forged, schema: try Fixtures.schema) != [])
    }
}
