import Foundation
import OkraEnvelope
import OkraRouting
import Testing

@Suite("Router")
struct RouterTests {
    static let received = Date(timeIntervalSince1970: 1_767_225_600)

    static func table(_ routes: String, defaults: String = #"{"topic":"okra.{env}.{product}.{outcome}"}"#) throws -> RouteTable {
        try RouteTable.load(Array(#"{"version":1,"defaults":\#(defaults),"deadLetter":{"topic":"okra.deadletter"},"routes":\#(routes)}"#.utf8))
    }

    static func event(_ json: String) throws -> CanonicalEvent {
        try Normalizer.normalize(Array(json.utf8), receivedAt: received).get()
    }

    static let paymentFailed = #"{"type":"CALLBACK","method":"PAYMENT","callback_type":"PAYMENT","code":"PAYMENT_FAILED","env":"production","record":"rec-1","customerId":"cus-1","accountId":"acc-1","bankSlug":"access-bank"}"#

    @Test("no route matches: the defaults apply")
    func defaults() throws {
        let decision = Router.route(try Self.event(Self.paymentFailed), table: try Self.table("[]"), receivedAt: Self.received)
        #expect(decision.matchedRoutes == [])
        #expect(decision.records.map(\.topic) == ["okra.production.payment.failed"])
        #expect(decision.records.first?.key == "rec-1")
    }

    @Test("the first match decides")
    func firstMatch() throws {
        let table = try Self.table(#"[{"name":"one","match":{"product":"payment"},"topic":"first"},{"name":"two","match":{"product":"payment"},"topic":"second"}]"#)
        let decision = Router.route(try Self.event(Self.paymentFailed), table: table, receivedAt: Self.received)
        #expect(decision.matchedRoutes == ["one"])
        #expect(decision.records.map(\.topic) == ["first"])
    }

    @Test("continue fans out to later matches, and to the defaults when nothing ends evaluation")
    func continueFansOut() throws {
        let table = try Self.table(#"[{"name":"tap","match":{"outcome":"failed"},"topic":"failures","continue":true},{"name":"other","match":{"product":"auth"},"topic":"auth"},{"name":"pay","match":{"product":"payment"},"topic":"payments"}]"#)
        let decision = Router.route(try Self.event(Self.paymentFailed), table: table, receivedAt: Self.received)
        #expect(decision.matchedRoutes == ["tap", "pay"])
        #expect(decision.records.map(\.topic) == ["failures", "payments"])

        let onlyTap = try Self.table(#"[{"name":"tap","match":{"outcome":"failed"},"topic":"failures","continue":true}]"#)
        let fellThrough = Router.route(try Self.event(Self.paymentFailed), table: onlyTap, receivedAt: Self.received)
        #expect(fellThrough.records.map(\.topic) == ["failures", "okra.production.payment.failed"])
        #expect(fellThrough.records.map(\.routeName) == ["tap", nil])
    }

    @Test("drop acknowledges and publishes nothing")
    func drop() throws {
        let repository = try RouteTable.load(path: RouteTableValidationTests.repositoryRoot.appendingPathComponent("routes.json").path)
        let sandboxWidget = try Self.event(#"{"event_name":"user_connected","event_type":"DATA_EVENT","event_data":{},"env":"production-sandbox"}"#)
        let decision = Router.route(sandboxWidget, table: repository, receivedAt: Self.received)
        #expect(decision.dropped)
        #expect(decision.records.isEmpty)
        #expect(decision.matchedRoutes == ["drop-sandbox-widget-events"])
    }

    @Test("globs in code and type")
    func globs() throws {
        let table = try Self.table(#"[{"name":"codes","match":{"code":"PAY*_FAIL*"},"topic":"by-code"},{"name":"types","match":{"type":"okra.*.success"},"topic":"by-type"}]"#)
        #expect(Router.route(try Self.event(Self.paymentFailed), table: table, receivedAt: Self.received).records.map(\.topic) == ["by-code"])
        let auth = try Self.event(#"{"callback_type":"AUTH","callback_code":"AUTH_SUCCESS"}"#)
        #expect(Router.route(auth, table: table, receivedAt: Self.received).records.map(\.topic) == ["by-type"])
        let income = try Self.event(#"{"callback_type":"INCOME","callback_code":"INCOME_FAILED"}"#)
        #expect(Router.route(income, table: table, receivedAt: Self.received).matchedRoutes == [])
    }

    @Test("every match key must match; arrays match any of their values")
    func allKeysMustMatch() throws {
        let table = try Self.table(#"[{"name":"r","match":{"product":["auth","payment"],"env":"production","bank":"access-bank","shape":"callback-v2"},"topic":"hit"}]"#)
        #expect(Router.route(try Self.event(Self.paymentFailed), table: table, receivedAt: Self.received).records.map(\.topic) == ["hit"])
        let otherBank = try Self.event(Self.paymentFailed.replacingOccurrences(of: "access-bank", with: "kuda-bank"))
        #expect(Router.route(otherBank, table: table, receivedAt: Self.received).matchedRoutes == [])
    }

    @Test("product unknown goes to the dead letter unless a route names it")
    func unknownProduct() throws {
        let catchAll = try Self.table(#"[{"name":"everything","topic":"all"}]"#)
        let unknown = try Self.event(#"{"status":"success","data":{}}"#)
        let decision = Router.route(unknown, table: catchAll, receivedAt: Self.received)
        #expect(decision.deadLettered)
        #expect(decision.records.map(\.topic) == ["okra.deadletter"])
        let record = try #require(decision.records.first)
        #expect(record.value == Array(#"{"status":"success","data":{}}"#.utf8))
        #expect(record.headers.map(\.name) == ["okra-bridge-reason", "okra-bridge-received-at", "ce_id"])
        #expect(record.headers[0].value == "unrecognized" && record.headers[2].value == unknown.id)

        let named = try Self.table(#"[{"name":"unknowns","match":{"product":"unknown"},"topic":"okra.unknown-payloads"}]"#)
        #expect(Router.route(unknown, table: named, receivedAt: Self.received).records.map(\.topic) == ["okra.unknown-payloads"])
    }

    @Test("keys: each choice, and a missing field falls back to the id", arguments: [
        ("record", "rec-1"), ("customer", "cus-1"), ("account", "acc-1"), ("id", "ID"), ("none", nil),
    ] as [(String, String?)])
    func keys(_ choice: String, _ expected: String?) throws {
        let event = try Self.event(Self.paymentFailed)
        let table = try Self.table("[]", defaults: #"{"topic":"t","key":"\#(choice)"}"#)
        let record = try #require(Router.route(event, table: table, receivedAt: Self.received).records.first)
        #expect(record.key == (expected == "ID" ? event.id : expected))

        let bare = try Self.event(#"{"callback_type":"AUTH","callback_code":"AUTH_SUCCESS"}"#)
        let fallback = try #require(Router.route(bare, table: table, receivedAt: Self.received).records.first)
        #expect(fallback.key == (choice == "none" ? nil : bare.id))
    }

    @Test("sender text can never change a topic name: templates expand from closed vocabularies")
    func templatesUseClosedVocabularies() throws {
        let hostile = try Self.event(#"{"type":"CALLBACK","method":"../../etc","callback_type":"PAY MENT","code":"X_SUCCESS","env":"../production"}"#)
        let decision = Router.route(hostile, table: try Self.table("[]"), receivedAt: Self.received)
        #expect(decision.deadLettered)
        let weirdEnv = try Self.event(#"{"type":"CALLBACK","method":"AUTH","code":"AUTH_SUCCESS","env":"prod uction/.."}"#)
        let topics = Router.route(weirdEnv, table: try Self.table("[]"), receivedAt: Self.received).records.map(\.topic)
        #expect(topics == ["okra.unknown.auth.success"])
        #expect(topics.allSatisfy { KafkaTopicName.problem($0) == nil })
    }

    @Test("structured records: the envelope with partitionkey, and the two headers")
    func structured() throws {
        let event = try Self.event(Self.paymentFailed)
        let record = try #require(Router.route(event, table: try Self.table("[]"), receivedAt: Self.received).records.first)
        #expect(record.headers.map(\.name) == ["content-type", "idempotency-key"])
        #expect(record.headers[0].value == "application/cloudevents+json; charset=UTF-8")
        #expect(record.headers[1].value == event.id)
        let envelope = try JSONParser.parse(record.value).value
        #expect(envelope["partitionkey"] == .string("rec-1"))
        #expect(envelope["id"] == .string(event.id))
    }

    @Test("binary records: the payload as received and exactly the CloudEvents Kafka binding's headers")
    func binary() throws {
        let event = try Self.event(Self.paymentFailed)
        let table = try Self.table("[]", defaults: #"{"topic":"t","format":"binary"}"#)
        let record = try #require(Router.route(event, table: table, receivedAt: Self.received).records.first)
        #expect(record.value == Array(Self.paymentFailed.utf8))
        var routed = event
        routed.partitionKey = "rec-1"
        let expected = ["content-type"] + routed.attributes.map(\.name).filter { $0 != "datacontenttype" }.map { "ce_" + $0 }
        #expect(record.headers.map(\.name) == expected)
        #expect(record.headers.first?.value == "application/json")
        for (name, value) in routed.attributes where name != "datacontenttype" {
            #expect(record.headers.contains { $0.name == "ce_\(name)" && $0.value == value })
        }
        // Absent attributes have no header.
        #expect(!record.headers.contains { $0.name == "ce_time" })
    }

    static let trace = TraceContext(traceParent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", traceState: "congo=t61rcWkgMzE")

    @Test("an event in a trace: every record carries traceparent and tracestate; binary ones the ce_ pair as well")
    func traceHeaders() throws {
        var event = try Self.event(Self.paymentFailed)
        event.trace = Self.trace
        func headers(_ format: String) throws -> [(name: String, value: String)] {
            let table = try Self.table("[]", defaults: #"{"topic":"t","format":"\#(format)"}"#)
            return try #require(Router.route(event, table: table, receivedAt: Self.received).records.first).headers
        }
        let parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        for format in ["structured", "binary"] {
            let found = try headers(format)
            #expect(found.filter { $0.name == "traceparent" }.map(\.value) == [parent], "\(format)")
            #expect(found.filter { $0.name == "tracestate" }.map(\.value) == ["congo=t61rcWkgMzE"], "\(format)")
        }
        let binary = try headers("binary")
        #expect(binary.filter { $0.name == "ce_traceparent" }.map(\.value) == [parent])
        #expect(binary.filter { $0.name == "ce_tracestate" }.map(\.value) == ["congo=t61rcWkgMzE"])
        // The structured record's value carries it as an attribute.
        let structured = try #require(Router.route(event, table: try Self.table("[]"), receivedAt: Self.received).records.first)
        #expect(try JSONParser.parse(structured.value).value["traceparent"] == .string(parent))
        // Without a trace there is no such header.
        let plain = try #require(Router.route(try Self.event(Self.paymentFailed), table: try Self.table("[]"), receivedAt: Self.received).records.first)
        #expect(!plain.headers.contains { $0.name.hasSuffix("traceparent") })
    }

    @Test("a dead letter in a trace carries traceparent too")
    func deadLetterTrace() throws {
        let record = Router.deadLetter(body: Array("{".utf8), reason: .malformedJSON, receivedAt: Self.received, id: nil, topic: "d", trace: Self.trace)
        #expect(record.headers.contains { $0.name == "traceparent" && $0.value == Self.trace?.traceParent })
    }
}
