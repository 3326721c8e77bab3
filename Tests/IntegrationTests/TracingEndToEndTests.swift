import Foundation
import Hummingbird
import Logging
import OkraEnvelope
import OkraIngest
import OkraKafka
import OkraRouting
import OkraTestSupport
import Synchronization
import Testing

/// Traces end to end: `serve` as a process, a webhook with a caller's `traceparent`, the record
/// on the real broker, and the spans at a collector stand-in (OTLP/HTTP on loopback, here).
@Suite("traces end to end (real broker, OTLP collector stand-in)", .enabled(if: DevBroker.enabled), .serialized)
struct TracingEndToEndTests {
    typealias Bridge = ServeEndToEndTests.Bridge
    static let callerTraceID = "4bf92f3577b34da6a3ce929d0e0e4736"
    static let callerSpanID = "00f067aa0ba902b7"
    static let callerParent = "00-\(callerTraceID)-\(callerSpanID)-01"
    static let collectorSecret = "collector-secret-0123456789"

    /// A span as the collector received it (OTLP JSON: ids in base64, as protobuf's JSON writes bytes).
    struct ReceivedSpan: CustomStringConvertible {
        let name: String, traceID: String, spanID: String, parentSpanID: String
        var description: String { "\(name) \(traceID)/\(spanID)<-\(parentSpanID)" }
    }

    /// Every span in the OTLP/HTTP JSON bodies received.
    static func spans(in bodies: [Data]) -> [ReceivedSpan] {
        func hex(_ value: Any?) -> String {
            guard let text = value as? String, !text.isEmpty else { return "" }
            if text.count == 32 || text.count == 16, text.allSatisfy(\.isHexDigit) { return text.lowercased() }
            return Data(base64Encoded: text).map { $0.map { String(format: "%02x", $0) }.joined() } ?? text
        }
        var found: [ReceivedSpan] = []
        for body in bodies {
            let json = (try? JSONSerialization.jsonObject(with: body)) as? [String: Any]
            for resource in json?["resourceSpans"] as? [[String: Any]] ?? [] {
                for scope in resource["scopeSpans"] as? [[String: Any]] ?? [] {
                    for span in scope["spans"] as? [[String: Any]] ?? [] {
                        found.append(ReceivedSpan(name: span["name"] as? String ?? "", traceID: hex(span["traceId"]),
                                                  spanID: hex(span["spanId"]), parentSpanID: hex(span["parentSpanId"])))
                    }
                }
            }
        }
        return found
    }

    /// Runs a collector stand-in that keeps each POST /v1/traces body and its `x-collector-token`
    /// headers; `body` gets its port and what it received so far.
    static func withCollector(_ body: (_ port: Int, _ received: @escaping @Sendable () -> [Data], _ credentials: @escaping @Sendable () -> [String]) async throws -> Void) async throws {
        let bodies = Mutex<[Data]>([])
        let tokens = Mutex<[String]>([])
        var logger = Logger(label: "collector")
        logger.logLevel = .warning
        let router = Router()
        router.post("/v1/traces") { request, _ -> Response in
            var request = request
            let buffer = try await request.collectBody(upTo: 16 << 20)
            bodies.withLock { $0.append(Data(buffer.readableBytesView)) }
            tokens.withLock { $0 += request.headers[values: .init("x-collector-token")!] }
            return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: "{}")))
        }
        try await Loopback.serve([
            { running in Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)), onServerRunning: running, logger: logger) },
        ], logger: logger) { ports in
            try await body(ports[0], { bodies.withLock { $0 } }, { tokens.withLock { $0 } })
        }
    }

    /// The topic the bridge's routes send a production `body` to.
    static func topic(of body: Data, routes: RouteTable) throws -> String {
        guard case .routed(_, let decision) = decide(body: Array(body), sender: VerifiedSender(environment: .production), receivedAt: Date(), routes: routes),
              let topic = decision.records.first?.topic else { throw Unexpected("the fixture routes nowhere") }
        return topic
    }

    struct Unexpected: Error, CustomStringConvertible { let description: String; init(_ text: String) { description = text } }

    static func header(_ record: KafkaConsumerRecord, _ name: String) -> [String] {
        record.headers.filter { $0.name == name }.map { String(decoding: $0.value ?? [], as: UTF8.self) }
    }

    @Test("a caller's trace continues: its trace id on the record, the webhook span its child at the collector, the store commit and the Kafka delivery children of that; its log line has the id and the trace id")
    func traced() async throws {
        let bootstrap = try await DevBroker.bootstrap()
        try await Self.withCollector { port, received, credentials in
            let bridge = try await Bridge.start(bootstrap: bootstrap, extraArguments: ["--otlp-endpoint", "http://127.0.0.1:\(port)", "--log-level", "debug"],
                                                environment: ["OTEL_EXPORTER_OTLP_PROTOCOL": "http/json", "OTEL_BSP_SCHEDULE_DELAY": "100",
                                                              "OTEL_EXPORTER_OTLP_HEADERS": "x-collector-token=\(Self.collectorSecret)"])
            let body = try Data(contentsOf: ServeEndToEndTests.fixtures.appendingPathComponent("v2-payment-success.json"))
            let (status, answer) = try await bridge.post(body, headers: ["Okra-Auth": ServeEndToEndTests.productionToken, "traceparent": Self.callerParent])
            #expect(status == 200, "\(answer)")
            let id = try #require((try JSONSerialization.jsonObject(with: Data(answer.utf8)) as? [String: Any])?["id"] as? String)

            let records = try await DevBroker.consumeAll(topic: try Self.topic(of: body, routes: bridge.routes), bootstrap: bootstrap, count: 1)
            let record = try #require(records.first)
            let parent = try #require(Self.header(record, "traceparent").first.flatMap { TraceContext(traceParent: $0) })
            #expect(parent.traceID == Self.callerTraceID)
            #expect(parent.parentID != Self.callerSpanID, "the record names the bridge's span, not the caller's")
            let envelope = try JSONSerialization.jsonObject(with: Data(record.value ?? [])) as? [String: Any]
            #expect(envelope?["traceparent"] as? String == parent.traceParent)

            var spans: [ReceivedSpan] = []
            for _ in 0..<100 {
                spans = Self.spans(in: received())
                if spans.contains(where: { $0.name == "kafka delivery" }) { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            let request = try #require(spans.first { $0.name == "POST /webhooks/okra" }, "\(spans)")
            #expect(request.traceID == Self.callerTraceID)
            #expect(request.parentSpanID == Self.callerSpanID)
            #expect(request.spanID == parent.parentID)
            for child in ["store commit", "kafka delivery"] {
                let span = try #require(spans.first { $0.name == child }, "\(child): \(spans)")
                #expect(span.traceID == Self.callerTraceID, "\(child)")
                #expect(span.parentSpanID == request.spanID, "\(child)")
            }

            let stored = bridge.process.log.split(separator: "\n").compactMap { line in
                (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: String]
            }.filter { $0["event.id"] == id }
            #expect(!stored.isEmpty, "no log line names \(id)")
            #expect(stored.allSatisfy { $0["trace.id"] == Self.callerTraceID }, "\(stored)")
            #expect(await bridge.stop() == 0)
            // The collector's credential was sent to it, and is nowhere in the log.
            #expect(credentials().contains(Self.collectorSecret))
            #expect(!bridge.process.log.contains(Self.collectorSecret))
            #expect(bridge.process.log.contains("OTEL_EXPORTER_OTLP_TRACES_HEADERS"), "swift-otel's line about the variable, its value left out")
        }
    }

    @Test("tracing off, binary records: the caller's traceparent unchanged in traceparent and ce_traceparent; a replay carries it again")
    func untracedBinaryAndReplay() async throws {
        let bootstrap = try await DevBroker.bootstrap()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("okra-trace-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let prefix = "tr\(UUID().uuidString.prefix(6).lowercased())"
        let routesText = #"{"version":1,"defaults":{"topic":"\#(prefix).{env}.{product}.{outcome}","format":"binary"},"deadLetter":{"topic":"\#(prefix).deadletter"},"routes":[]}"#
        try routesText.write(to: directory.appendingPathComponent("routes.json"), atomically: true, encoding: .utf8)
        let adminPort = try Bridge.freePort(), adminToken = "trace-admin-token-0123456789"
        let routes = try RouteTable.load(Array(routesText.utf8))
        let bridge = try await Bridge.launch(port: try Bridge.freePort(), prefix: prefix, routes: routes, directory: directory, bootstrap: bootstrap,
                                             extraArguments: ["--admin-listen", "127.0.0.1:\(adminPort)", "--admin-token", adminToken], log: "serve.log")
        let admin = Bridge(process: bridge.process, port: adminPort, prefix: prefix, routes: routes, directory: directory)
        let body = try Data(contentsOf: ServeEndToEndTests.fixtures.appendingPathComponent("v2-payment-success.json"))
        let state = "okra=bridge-test"
        let (status, answer) = try await bridge.post(body, headers: ["Okra-Auth": ServeEndToEndTests.productionToken,
                                                                     "traceparent": Self.callerParent, "tracestate": state])
        #expect(status == 200, "\(answer)")
        let id = try #require((try JSONSerialization.jsonObject(with: Data(answer.utf8)) as? [String: Any])?["id"] as? String)
        let topic = try Self.topic(of: body, routes: routes)
        let first = try await DevBroker.consumeAll(topic: topic, bootstrap: bootstrap, count: 1)
        let record = try #require(first.first)
        #expect(Self.header(record, "traceparent") == [Self.callerParent])
        #expect(Self.header(record, "ce_traceparent") == [Self.callerParent])
        #expect(Self.header(record, "tracestate") == [state])
        #expect(Self.header(record, "ce_tracestate") == [state])

        let replay = try JSONSerialization.data(withJSONObject: ["ids": [id], "execute": true])
        let (replayStatus, replayAnswer) = try await admin.request("POST", "/admin/replay", body: replay,
                                                                   headers: ["Authorization": "Bearer \(adminToken)", "Content-Type": "application/json"])
        #expect(replayStatus == 200, "\(replayAnswer)")
        let both = try await DevBroker.consumeAll(topic: topic, bootstrap: bootstrap, count: 2)
        #expect(both.count == 2)
        for copy in both {
            #expect(Self.header(copy, "traceparent") == [Self.callerParent])
            #expect(Self.header(copy, "ce_traceparent") == [Self.callerParent])
        }
        #expect(await bridge.stop() == 0)
    }
}
