import Foundation
import Hummingbird
import InMemoryTracing
import Instrumentation
import Logging
import OkraEnvelope
import OkraHTTP
import OkraIngest
import OkraRouting
import OkraTestSupport
import Testing
import Tracing

/// The webhook path with tracing off and on, over real HTTP on loopback, with a counting tracer.
///
/// The tracer is also the process's global one (`InstrumentationSystem`, bootstrapped once for
/// every suite of this process), so a span made off the bridge's own switch (Hummingbird's
/// tracing middleware, a library's default tracer) is counted too.
@Suite("tracing on the webhook path (loopback, in-memory sink, counting tracer)", .serialized)
struct TracingTests {
    static let tracer: InMemoryTracer = {
        let tracer = InMemoryTracer()
        InstrumentationSystem.bootstrap(tracer)
        return tracer
    }()
    static let callerParent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

    /// Whether a span's name is one of this suite's webhooks: the bridge's names, and any that says webhook.
    static func isWebhookSpan(_ name: String) -> Bool {
        ["POST /webhooks/okra", "accept", "store commit", "kafka delivery"].contains(name) || name.contains("webhooks")
    }

    /// The finished spans of this suite's webhooks.
    static func webhookSpans() -> [FinishedInMemorySpan] {
        tracer.finishedSpans.filter { isWebhookSpan($0.operationName) }
    }

    /// One POST with the caller's `traceparent` to a pipeline traced as `tracing` says; the sink's events.
    static func post(tracing: EventTracing) async throws -> [RoutedEvent] {
        let sink = InMemorySink()
        let check = try SenderCheck(tokens: ["production=\(HTTPAnswerTests.token)"], allowIPs: [], trustedProxies: [], allowUnauthenticated: false)
        let table = try RouteTable.load(Array(HTTPAnswerTests.routes.utf8))
        var logger = Logger(label: "tracing-test")
        logger.logLevel = .warning
        let ingest = Ingest(senderCheck: check, routes: FixedRoutes(table), sink: sink, logger: logger, tracing: tracing)
        let webhook = WebhookRoute(ingest: ingest, maxBody: 1 << 20)
        let router = Routers.ingest(webhook, metrics: nil)
        try await Loopback.serve([
            { running in Application(router: router, server: .http1(gate: nil, webhook: webhook),
                                     configuration: .init(address: .hostname("127.0.0.1", port: 0)), onServerRunning: running, logger: logger) },
        ], logger: logger) { ports in
            let answer = try await HTTPAnswerTests.request(ports[0], "POST", "/webhooks/okra", body: HTTPAnswerTests.payment,
                                                           headers: ["Okra-Auth": HTTPAnswerTests.token, "traceparent": callerParent])
            #expect(answer.status == 200)
        }
        return sink.accepted
    }

    @Test("off: no span is made and no tracer is asked; the caller's traceparent still reaches the event and its record")
    func off() async throws {
        _ = Self.tracer
        Self.tracer.clearAll()
        let events = try await Self.post(tracing: .off)
        #expect(Self.webhookSpans().isEmpty, "\(Self.webhookSpans().map(\.operationName))")
        // Only this suite's: other suites' HTTP clients make spans of their own on the global tracer meanwhile.
        #expect(Self.tracer.activeSpans.filter { Self.isWebhookSpan($0.operationName) }.isEmpty)
        #expect(Self.tracer.performedContextExtractions.isEmpty)
        let event = try #require(events.first)
        #expect(event.provenance?.envelope?.trace?.traceParent == Self.callerParent)
        #expect(event.records.first?.headers.contains { $0.name == "traceparent" && $0.value == Self.callerParent } == true)
    }

    @Test("on: the webhook is a server span continuing the caller's trace, the sink's work its child")
    func on() async throws {
        _ = Self.tracer
        Self.tracer.clearAll()
        let events = try await Self.post(tracing: .on(Self.tracer))
        let spans = Self.webhookSpans()
        let request = try #require(spans.first { $0.operationName == "POST /webhooks/okra" })
        let accept = try #require(spans.first { $0.operationName == "accept" })
        #expect(request.kind == .server)
        #expect(accept.spanContext.parentSpanID == request.spanContext.spanID)
        #expect(accept.spanContext.traceID == request.spanContext.traceID)
        #expect(request.attributes["okra.event.id"]?.toSpanAttribute() == .string(events.first?.id ?? "-"))
        // The caller's headers were offered to the tracer's propagator.
        #expect(!Self.tracer.performedContextExtractions.isEmpty)
        // This tracer writes no W3C header: the event keeps the caller's traceparent.
        #expect(events.first?.provenance?.envelope?.trace?.traceParent == Self.callerParent)
    }
}
