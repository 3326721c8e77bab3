import CoreMetrics
import Foundation
import Logging
import OkraEnvelope
import OkraRouting
import Tracing

/// The webhook pipeline: verified delivery -> canonical event -> routed records -> sink, with an
/// answer at the end. The event is durable (or delivered) before a 200.
///
/// It talks to the rest of the bridge through ports only: the ``EventSink`` it hands records
/// to, and the ``RouteSource`` it takes the active routes from. No HTTP, no SQLite, no Kafka.
public final class Ingest: Sendable {
    /// Who may send.
    public let senderCheck: SenderCheck
    private let routes: any RouteSource
    private let sink: any EventSink
    private let logger: Logger
    private let requests: [ListenerName: [String: Counter]]
    private let droppedAttributes: [String: Counter]
    private let ackLatency: CoreMetrics.Timer
    /// Refused requests in the log, once a minute per reason and address.
    private let refusalLines: RefusalLines
    /// Spans, when tracing is on.
    private let tracing: EventTracing

    /// The attributes taken from the payload's text, which are left out when CloudEvents
    /// forbids their characters (`okra_bridge_attributes_dropped_total{attribute}`).
    public static let textAttributes = ["okracode", "okrarecord", "okracustomer", "okraaccount", "okrabank"]

    /// A pipeline from the sender check, through the active routes, into `sink`.
    public init(senderCheck: SenderCheck, routes: any RouteSource, sink: any EventSink, logger: Logger,
                metrics: MetricsFactory = MetricsSystem.factory, tracing: EventTracing = .off) {
        self.tracing = tracing
        self.senderCheck = senderCheck
        self.routes = routes
        self.sink = sink
        self.logger = logger
        // Every known pair made now, so each series exists at 0 before its first event (a first
        // refusal is then seen by increase(), and by a scrape check): the webhook's answers on the
        // ingest listener, the listeners' own answers on both.
        var requests: [ListenerName: [String: Counter]] = [:]
        for listener in ListenerName.allCases {
            let results = listener == .ingest ? IngestAnswer.results : ListenerRefusal.allCases.map(\.rawValue)
            requests[listener] = results.reduce(into: [:]) {
                $0[$1] = Counter(label: "okra_bridge_requests_total", dimensions: [("listener", listener.rawValue), ("result", $1)], factory: metrics)
            }
        }
        self.requests = requests
        self.droppedAttributes = Self.textAttributes.reduce(into: [:]) {
            $0[$1] = Counter(label: "okra_bridge_attributes_dropped_total", dimensions: [("attribute", $1)], factory: metrics)
        }
        self.ackLatency = CoreMetrics.Timer(label: "okra_bridge_ack_latency_seconds", factory: metrics)
        self.refusalLines = RefusalLines(logger: logger)
    }

    /// The first stage: the sender's address and token. A refusal is counted and answered;
    /// the body of a refused request is never read.
    public func verify(_ request: DeliveryRequest) -> Verification {
        let address = senderCheck.clientAddress(peer: request.peer, forwardedFor: request.forwardedFor)
        if let refusal = senderCheck.checkAddress(address) {
            refusalLines.refused(refusal.logReason, address: address)
            return .refused(counted(.refused(refusal)))
        }
        switch senderCheck.authenticate(okraAuth: request.okraAuth, authorization: request.authorization) {
        case .failure(let refusal):
            refusalLines.refused(refusal.logReason, address: address)
            return .refused(counted(.refused(refusal)))
        case .success(let environment): return .verified(VerifiedSender(environment: environment))
        }
    }

    /// How the sender check ended.
    public enum Verification: Sendable, Equatable {
        /// Go on: read the body and ``ingest(_:)`` it.
        case verified(VerifiedSender)
        /// Answer this (401 or 403) without reading the body.
        case refused(IngestAnswer)
    }

    /// The answer when the bodies in flight already use the whole budget: 503, retry in a second.
    public func overloaded() -> IngestAnswer {
        counted(.unavailable(retryAfterSeconds: 1))
    }

    /// The answer to a body over `limit` bytes, counted.
    public func tooLarge(limit: Int) -> IngestAnswer {
        counted(.tooLarge(limit: limit))
    }

    /// Normalizes, routes and hands one verified body to the sink; with tracing on, as a span.
    public func ingest(_ delivery: VerifiedDelivery) async -> IngestAnswer {
        let started = ContinuousClock.now
        let answer: IngestAnswer
        if let span = tracing.start("POST /webhooks/okra", kind: .server, parent: delivery.trace) {
            // The event carries the webhook's span, in the caller's trace when it sent one.
            answer = counted(await process(delivery, trace: span.trace ?? delivery.trace, span: span))
            span.describe(answer)
            span.span.end()
        } else {
            answer = counted(await process(delivery, trace: delivery.trace, span: nil))
        }
        if case .accepted = answer {
            let elapsed = ContinuousClock.now - started
            ackLatency.recordNanoseconds(elapsed.components.seconds * 1_000_000_000 + elapsed.components.attoseconds / 1_000_000_000)
        }
        return answer
    }

    /// Counts an answer `listener` made by itself (404 or 405, 408, 400, 503 over capacity, 500).
    public func count(_ refusal: ListenerRefusal, on listener: ListenerName) {
        requests[listener]?[refusal.rawValue]?.increment()
    }

    /// Readiness: the active routes and the sink's state.
    public func readiness() async -> Readiness {
        Readiness(routesSHA256: routes.table.sha256, sink: await sink.readiness())
    }

    private func counted(_ answer: IngestAnswer) -> IngestAnswer {
        requests[.ingest]?[answer.result]?.increment()
        return answer
    }

    private func process(_ delivery: VerifiedDelivery, trace: TraceContext?, span: EventSpan?) async -> IngestAnswer {
        let table = routes.table
        let receivedAt = delivery.receivedAt
        switch decide(body: delivery.body, sender: delivery.sender, receivedAt: receivedAt, routes: table, trace: trace) {
        case .rejected(let rejection, let record):
            // Not an event: the raw body still goes to the dead-letter topic, durably.
            let provenance = Provenance(envelope: nil, body: delivery.body, tokenEnvironment: delivery.sender.environment,
                                        deadLetterReason: rejection.reason.rawValue, trace: trace)
            if case .failed(let answer) = await hand(RoutedEvent(id: nil, records: [record], receivedAt: receivedAt, provenance: provenance), span: span) { return answer }
            logger.notice("rejected body sent to the dead-letter topic",
                          metadata: Self.metadata(id: nil, trace: trace, ["reason": "\(rejection.reason)", "topic": "\(record.topic)"]))
            return .rejected(rejection)
        case .refused(let refusal, let event):
            logger.warning("refused: environment mismatch", metadata: Self.metadata(id: event.id, trace: trace))
            return .refused(refusal)
        case .routed(let event, let decision):
            countDroppedAttributes(of: event)
            let provenance = Provenance(envelope: event, body: delivery.body, tokenEnvironment: delivery.sender.environment,
                                        deadLetterReason: decision.deadLettered ? Rejection.Reason.unrecognized.rawValue : nil,
                                        droppedBy: decision.dropped ? decision.matchedRoutes.last : nil)
            if decision.dropped {
                // Nothing to publish, but the event log keeps it, and its id dedupes like any other.
                logger.info("event dropped by route", metadata: Self.metadata(id: event.id, trace: trace, ["routes": "\(decision.matchedRoutes)"]))
            }
            switch await hand(RoutedEvent(id: event.id, environment: event.environment, records: decision.records, receivedAt: receivedAt, provenance: provenance), span: span) {
            case .failed(let answer):
                return answer
            case .taken(let acceptance):
                logger.debug("event stored", metadata: Self.metadata(id: event.id, trace: trace, ["event.type": "\(event.type)", "duplicate": "\(acceptance == .duplicate)"]))
                return .accepted(id: event.id, duplicate: acceptance == .duplicate)
            }
        }
    }

    private func countDroppedAttributes(of event: CanonicalEvent) {
        for attribute in event.droppedAttributes {
            droppedAttributes[attribute]?.increment()
            logger.notice("attribute left out: its text has characters CloudEvents forbids", metadata: Self.metadata(id: event.id, trace: event.trace, ["attribute": "\(attribute)"]))
        }
    }

    private enum Handed {
        case taken(SinkAcceptance)
        case failed(IngestAnswer)
    }

    /// Hands records to the sink, in a child span of the webhook's when tracing is on; the 503
    /// answer when it could not take them.
    private func hand(_ routed: RoutedEvent, span parent: EventSpan?) async -> Handed {
        let span = parent.flatMap { tracing.start(sink.acceptSpanName, kind: .internal, parentSpan: $0.context) }
        defer { span?.span.end() }
        do {
            return .taken(try await sink.accept(routed))
        } catch {
            span?.span.recordError(error)
            span?.span.setStatus(SpanStatus(code: .error))
            logger.error("cannot make the event durable; answering 503",
                         metadata: Self.metadata(id: routed.id, trace: routed.provenance?.trace, ["error": "\(error)"]))
            return .failed(.unavailable(retryAfterSeconds: 5))
        }
    }

    /// The metadata of a log line about an event: its `event.id` and, when it is in a trace,
    /// `trace.id`, then `extra`.
    static func metadata(id: String?, trace: TraceContext?, _ extra: Logger.Metadata = [:]) -> Logger.Metadata {
        var metadata = extra
        metadata["event.id"] = "\(id ?? "-")"
        if let trace { metadata["trace.id"] = "\(trace.traceID)" }
        return metadata
    }
}
