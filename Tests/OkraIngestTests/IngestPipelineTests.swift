import Foundation
import Logging
import MetricsTestKit
import OkraEnvelope
import OkraIngest
import OkraRouting
import OkraTestSupport
import Testing

/// The pipeline from a verified sender to the sink, with no HTTP, no SQLite and no broker.
@Suite("Ingest pipeline (in-memory sink)")
struct IngestPipelineTests {
    static let productionToken = "pipeline-production-token-0123"
    static let sandboxToken = "pipeline-sandbox-token-0123456"
    static let received = Date(timeIntervalSince1970: 1_767_225_600)

    static let routes = #"""
    {"version":1,"defaults":{"topic":"okra.{env}.{product}.{outcome}","key":"record"},"deadLetter":{"topic":"okra.deadletter"},
     "routes":[{"name":"drop-widgets","match":{"product":"widget"},"drop":true},
               {"name":"payment-problems","match":{"product":"payment","outcome":"failed"},"topic":"okra.payments.problems","key":"customer","continue":true}]}
    """#

    static let paymentFailed = #"{"type":"CALLBACK","method":"PAYMENT","code":"PAYMENT_FAILED","env":"production","record":"rec-1","customerId":"cus-1"}"#
    static let userDisconnect = #"{"event":"USER_DISCONNECT","data":{"customer":"cus-2"}}"#

    struct Fixture {
        let ingest: Ingest
        let sink: InMemorySink
        let metrics: TestMetrics

        init(allowIPs: [String] = [], allowUnauthenticated: Bool = false, tokens: [String]? = nil) throws {
            sink = InMemorySink()
            metrics = TestMetrics()
            let check = try SenderCheck(tokens: tokens ?? ["production=\(IngestPipelineTests.productionToken)", "sandbox=\(IngestPipelineTests.sandboxToken)"],
                                        allowIPs: allowIPs, trustedProxies: [], allowUnauthenticated: allowUnauthenticated)
            let table = try RouteTable.load(Array(IngestPipelineTests.routes.utf8))
            ingest = Ingest(senderCheck: check, routes: FixedRoutes(table), sink: sink, logger: Logger(label: "test"), metrics: metrics)
        }

        /// Verifies `token` from `peer`, then ingests `body` when the check passed.
        func post(_ body: String, token: String?, peer: String = "127.0.0.1") async -> IngestAnswer {
            switch ingest.verify(DeliveryRequest(peer: peer, okraAuth: token, authorization: nil)) {
            case .refused(let answer): return answer
            case .verified(let sender):
                return await ingest.ingest(VerifiedDelivery(sender: sender, body: Array(body.utf8), receivedAt: IngestPipelineTests.received))
            }
        }

        func count(_ result: String) throws -> Int64 {
            try metrics.expectCounter("okra_bridge_requests_total", [("listener", "ingest"), ("result", result)]).totalValue
        }
    }

    @Test("no token or an unknown one is refused before the body is read; nothing reaches the sink")
    func unauthorized() async throws {
        let fixture = try Fixture()
        #expect(await fixture.post(Self.paymentFailed, token: nil) == .refused(.unauthorized))
        #expect(await fixture.post(Self.paymentFailed, token: "not-a-token-of-ours-at-all") == .refused(.unauthorized))
        #expect(fixture.sink.accepted.isEmpty)
        #expect(try fixture.count("unauthorized") == 2)
    }

    @Test("an address outside the allowlist is refused even with a good token")
    func addressRefused() async throws {
        let fixture = try Fixture(allowIPs: ["okra"])
        #expect(await fixture.post(Self.paymentFailed, token: Self.productionToken, peer: "198.51.100.7") == .refused(.addressNotAllowed("198.51.100.7")))
        let allowed = await fixture.post(Self.paymentFailed, token: Self.productionToken, peer: "13.39.179.188")
        let event = try Normalizer.normalize(Array(Self.paymentFailed.utf8), receivedAt: Self.received).get()
        #expect(allowed == .accepted(id: event.id, duplicate: false), "one of Okra's addresses gets in")
        #expect(try fixture.count("forbidden") == 1)
        #expect(fixture.sink.accepted.map(\.id) == [event.id])
    }

    @Test("a payload of the other environment is refused; one naming none takes any valid token")
    func environmentBinding() async throws {
        let fixture = try Fixture()
        #expect(await fixture.post(Self.paymentFailed, token: Self.sandboxToken) == .refused(.environmentMismatch(token: .sandbox, payload: .production)))
        #expect(fixture.sink.accepted.isEmpty)
        guard case .accepted = await fixture.post(Self.userDisconnect, token: Self.sandboxToken) else {
            Issue.record("a user event names no environment and is accepted")
            return
        }
        #expect(fixture.sink.accepted.count == 1)
    }

    @Test("the token decides the environment: a sandbox token's user event, v1 callback and odd env land on sandbox topics",
          arguments: [
              #"{"event":"USER_DISCONNECT","data":{"customer":"cus-9"}}"#,
              #"{"callback_type":"BALANCE","callback_code":"BALANCE_SUCCESS","record":"rec-9"}"#,
              #"{"type":"CALLBACK","method":"AUTH","code":"AUTH_SUCCESS","env":"Production ","record":"rec-8"}"#,
              #"{"type":"CALLBACK","method":"AUTH","code":"AUTH_SUCCESS","env":["production"],"record":"rec-7"}"#,
          ])
    func environmentFromToken(_ payload: String) async throws {
        let fixture = try Fixture()
        let unbound = try Normalizer.normalize(Array(payload.utf8), receivedAt: Self.received).get()
        #expect(unbound.environment == .unknown)
        #expect(await fixture.post(payload, token: Self.sandboxToken) == .accepted(id: unbound.id, duplicate: false), "the id is the content's")
        let record = try #require(fixture.sink.accepted.first?.records.last)
        #expect(record.topic.hasPrefix("okra.sandbox."), "\(record.topic)")
        let envelope = try JSONParser.parse(record.value).value
        #expect(envelope["okraenv"] == .string("sandbox"))
        #expect(envelope["source"] == .string("okra/sandbox"))
    }

    @Test("an accepted event reaches the sink as its routed records, in route order, with its id")
    func routing() async throws {
        let fixture = try Fixture()
        let answer = await fixture.post(Self.paymentFailed, token: Self.productionToken)
        let event = try Normalizer.normalize(Array(Self.paymentFailed.utf8), receivedAt: Self.received).get()
        #expect(answer == .accepted(id: event.id, duplicate: false))
        let routed = try #require(fixture.sink.accepted.first)
        #expect(routed.id == event.id)
        #expect(routed.receivedAt == Self.received)
        #expect(routed.records.map(\.topic) == ["okra.payments.problems", "okra.production.payment.failed"])
        #expect(routed.records.map(\.key) == ["cus-1", "rec-1"])
        #expect(try fixture.count("accepted") == 1)
    }

    @Test("a record id and a bank slug with CR, LF, NUL or ESC are left out of the envelope and its headers, counted; subject and key fall back", arguments: [
        "\\r\\nX-Injected: 1", "\\n", "\\u0000", "\\u001b[31m", "\\u0085",
    ])
    func forbiddenCharactersInAttributes(_ escape: String) async throws {
        let fixture = try Fixture()
        let body = #"{"type":"CALLBACK","method":"PAYMENT","code":"PAYMENT_FAILED","env":"production","record":"rec\#(escape)-1","customerId":"cus-7","bankSlug":"gtb\#(escape)"}"#
        let answer = await fixture.post(body, token: Self.productionToken)
        guard case .accepted(let id, duplicate: false) = answer else { Issue.record("\(answer)"); return }
        let routed = try #require(fixture.sink.accepted.first)
        let envelope = try #require(routed.provenance?.envelope)
        #expect(envelope.record == nil && envelope.bank == nil)
        #expect(envelope.subject == "cus-7", "subject falls back to the customer id")
        #expect(envelope.droppedAttributes == ["okrarecord", "okrabank"])
        // key "record" falls back to the id; the customer route keeps its key.
        #expect(routed.records.map(\.key) == ["cus-7", id])
        for record in routed.records {
            for header in record.headers {
                #expect(CloudEventsString.isValid(header.value), "\(header.name)")
            }
            // The envelope JSON carries the payload in data, but no attribute with the text.
            let value = try JSONParser.parse(record.value).value
            #expect(value["okrarecord"] == nil && value["okrabank"] == nil && value["subject"] == .string("cus-7"))
            #expect(value["data"]?["record"] == .string(try #require(JSONParser.parse(Array(body.utf8)).value["record"]?.nonEmptyString)))
        }
        #expect(try fixture.metrics.expectCounter("okra_bridge_attributes_dropped_total", [("attribute", "okrarecord")]).totalValue == 1)
        #expect(try fixture.metrics.expectCounter("okra_bridge_attributes_dropped_total", [("attribute", "okrabank")]).totalValue == 1)
        #expect(try fixture.metrics.expectCounter("okra_bridge_attributes_dropped_total", [("attribute", "okracustomer")]).totalValue == 0)
    }

    @Test("binary mode: no ce_ header carries a forbidden character")
    func binaryHeadersClean() async throws {
        let table = try RouteTable.load(Array(#"{"version":1,"defaults":{"topic":"okra.{env}.{product}.{outcome}","key":"record","format":"binary"},"deadLetter":{"topic":"okra.deadletter"},"routes":[]}"#.utf8))
        let body = #"{"type":"CALLBACK","method":"PAYMENT","code":"PAYMENT_\r\nFAILED","env":"production","record":"rec\r\n-1","accountId":"a\u0007","bankSlug":"gtb\u001b"}"#
        let event = try Normalizer.normalize(Array(body.utf8), receivedAt: Self.received).get()
        #expect(event.droppedAttributes == ["okracode", "okrarecord", "okraaccount", "okrabank"])
        let record = try #require(Router.route(event, table: table, receivedAt: Self.received).records.first)
        #expect(record.headers.allSatisfy { CloudEventsString.isValid($0.value) })
        #expect(!record.headers.contains { ["ce_okracode", "ce_okrarecord", "ce_okraaccount", "ce_okrabank"].contains($0.name) })
        #expect(record.key == event.id)
    }

    @Test("a duplicate is answered 200 with duplicate true and counted apart")
    func duplicates() async throws {
        let fixture = try Fixture()
        guard case .accepted(let id, false) = await fixture.post(Self.paymentFailed, token: Self.productionToken) else {
            Issue.record("the first delivery is accepted")
            return
        }
        // The same content with another key order is the same event.
        let reordered = #"{"env":"production","code":"PAYMENT_FAILED","method":"PAYMENT","type":"CALLBACK","customerId":"cus-1","record":"rec-1"}"#
        #expect(await fixture.post(reordered, token: Self.productionToken) == .accepted(id: id, duplicate: true))
        #expect(fixture.sink.accepted.count == 1)
        #expect(try fixture.count("duplicate") == 1)
        // This is the pipeline's half: a sink's .duplicate becomes the answer and the count. That
        // the store recognizes the id (per environment, within the window) is tested on a real
        // SQLite file (OutboxStoreTests.dedupe, EventLogTests.upgradeFromVersion5) and over HTTP
        // (ServeEndToEndTests.dedupePerEnvironment).
    }

    @Test("a body that is not JSON is answered 400 and its raw bytes go to the dead-letter topic")
    func malformedIsDeadLettered() async throws {
        let fixture = try Fixture()
        let answer = await fixture.post("{not json", token: Self.productionToken)
        guard case .rejected(let rejection) = answer else {
            Issue.record("expected a rejection, got \(answer)")
            return
        }
        #expect(rejection.reason == .malformedJSON)
        let routed = try #require(fixture.sink.accepted.first)
        #expect(routed.id == nil)
        #expect(routed.records.count == 1)
        #expect(routed.records[0].topic == "okra.deadletter")
        #expect(routed.records[0].value == Array("{not json".utf8))
        #expect(routed.records[0].headers.first { $0.name == "okra-bridge-reason" }?.value == "malformed-json")
        #expect(try fixture.count("malformed") == 1)
    }

    @Test("an object of no Okra shape is accepted and dead-lettered as unrecognized, with its id")
    func unrecognizedIsDeadLettered() async throws {
        let fixture = try Fixture()
        guard case .accepted(let id, false) = await fixture.post(#"{"hello":"world"}"#, token: Self.productionToken) else {
            Issue.record("an unrecognized object is accepted")
            return
        }
        let record = try #require(fixture.sink.accepted.first?.records.first)
        #expect(record.topic == "okra.deadletter")
        #expect(record.headers.first { $0.name == "okra-bridge-reason" }?.value == "unrecognized")
        #expect(record.headers.first { $0.name == "ce_id" }?.value == id)
    }

    @Test("a drop route acknowledges with no record to publish; the sink still gets the event, for the log and dedupe, with the route that dropped it")
    func dropped() async throws {
        let fixture = try Fixture()
        let widget = #"{"event_name":"LOGIN_ATTEMPTED","record_id":"r"}"#
        guard case .accepted(_, false) = await fixture.post(widget, token: Self.productionToken) else {
            Issue.record("a dropped event is acknowledged")
            return
        }
        let handed = try #require(fixture.sink.accepted.first)
        #expect(handed.records.isEmpty)
        #expect(handed.provenance?.droppedBy == "drop-widgets")
        guard case .accepted(_, true) = await fixture.post(widget, token: Self.productionToken) else {
            Issue.record("a dropped event's repeat is a duplicate")
            return
        }
    }

    @Test("when the sink cannot take an event, or a dead letter, the answer is 503 with Retry-After and nothing is counted accepted")
    func sinkFailureIsUnavailable() async throws {
        let fixture = try Fixture()
        fixture.sink.setFailing(true)
        #expect(await fixture.post(Self.paymentFailed, token: Self.productionToken) == .unavailable(retryAfterSeconds: 5))
        #expect(await fixture.post("{not json", token: Self.productionToken) == .unavailable(retryAfterSeconds: 5))
        #expect(try fixture.count("unavailable") == 2)
        #expect(try fixture.count("accepted") == 0)
        // Once the sink takes events again, the retried delivery is accepted.
        fixture.sink.setFailing(false)
        guard case .accepted(_, false) = await fixture.post(Self.paymentFailed, token: Self.productionToken) else {
            Issue.record("a retry after the outage is accepted")
            return
        }
    }

    @Test("without tokens and with --allow-unauthenticated any sender gets in, and the payload's env is not checked")
    func unauthenticated() async throws {
        let fixture = try Fixture(allowUnauthenticated: true, tokens: [])
        guard case .accepted = await fixture.post(Self.paymentFailed, token: nil) else {
            Issue.record("an unauthenticated bridge accepts a request without a token")
            return
        }
        #expect(fixture.sink.accepted.first?.records.last?.topic == "okra.production.payment.failed")
    }

    @Test("readiness is the active routes' SHA-256 and the sink's state")
    func readiness() async throws {
        let fixture = try Fixture()
        let table = try RouteTable.load(Array(Self.routes.utf8))
        var readiness = await fixture.ingest.readiness()
        #expect(readiness.routesSHA256 == table.sha256)
        #expect(readiness.isReady)
        fixture.sink.setReadiness(SinkReadiness(store: .full, kafka: .unknown, problems: ["the outbox is full"]))
        readiness = await fixture.ingest.readiness()
        #expect(!readiness.isReady)
        #expect(readiness.sink.store == .full)
    }

    @Test("an answer over the size limit is counted as too_large")
    func tooLarge() throws {
        let fixture = try Fixture()
        #expect(fixture.ingest.tooLarge(limit: 10) == .tooLarge(limit: 10))
        #expect(try fixture.count("too_large") == 1)
    }
}
