import CoreMetrics
import Foundation
import Logging
import OkraEnvelope
import OkraRouting

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

    /// The attributes taken from the payload's text, which are left out when CloudEvents
    /// forbids their characters (`okra_bridge_attributes_dropped_total{attribute}`).
    public static let textAttributes = ["okracode", "okrarecord", "okracustomer", "okraaccount", "okrabank"]

    /// A pipeline from the sender check, through the active routes, into `sink`.
    public init(senderCheck: SenderCheck, routes: any RouteSource, sink: any EventSink, logger: Logger,
                metrics: MetricsFactory = MetricsSystem.factory) {
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

    /// Normalizes, routes and hands one verified body to the sink.
    public func ingest(_ delivery: VerifiedDelivery) async -> IngestAnswer {
        let started = ContinuousClock.now
        let answer = counted(await process(delivery))
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

    private func process(_ delivery: VerifiedDelivery) async -> IngestAnswer {
        let table = routes.table
        let receivedAt = delivery.receivedAt
        switch decide(body: delivery.body, sender: delivery.sender, receivedAt: receivedAt, routes: table) {
        case .rejected(let rejection, let record):
            // Not an event: the raw body still goes to the dead-letter topic, durably.
            let provenance = Provenance(envelope: nil, body: delivery.body, tokenEnvironment: delivery.sender.environment,
                                        deadLetterReason: rejection.reason.rawValue)
            if case .failed(let answer) = await hand(RoutedEvent(id: nil, records: [record], receivedAt: receivedAt, provenance: provenance)) { return answer }
            logger.notice("rejected body sent to the dead-letter topic", metadata: ["reason": "\(rejection.reason)", "topic": "\(record.topic)"])
            return .rejected(rejection)
        case .refused(let refusal, let event):
            logger.warning("refused: environment mismatch", metadata: ["event.id": "\(event.id)"])
            return .refused(refusal)
        case .routed(let event, let decision):
            countDroppedAttributes(of: event)
            let provenance = Provenance(envelope: event, body: delivery.body, tokenEnvironment: delivery.sender.environment,
                                        deadLetterReason: decision.deadLettered ? Rejection.Reason.unrecognized.rawValue : nil,
                                        droppedBy: decision.dropped ? decision.matchedRoutes.last : nil)
            if decision.dropped {
                // Nothing to publish, but the event log keeps it, and its id dedupes like any other.
                logger.info("event dropped by route", metadata: ["event.id": "\(event.id)", "routes": "\(decision.matchedRoutes)"])
            }
            switch await hand(RoutedEvent(id: event.id, environment: event.environment, records: decision.records, receivedAt: receivedAt, provenance: provenance)) {
            case .failed(let answer):
                return answer
            case .taken(let acceptance):
                logger.debug("event stored", metadata: ["event.id": "\(event.id)", "event.type": "\(event.type)", "duplicate": "\(acceptance == .duplicate)"])
                return .accepted(id: event.id, duplicate: acceptance == .duplicate)
            }
        }
    }

    private func countDroppedAttributes(of event: CanonicalEvent) {
        for attribute in event.droppedAttributes {
            droppedAttributes[attribute]?.increment()
            logger.notice("attribute left out: its text has characters CloudEvents forbids", metadata: ["event.id": "\(event.id)", "attribute": "\(attribute)"])
        }
    }

    private enum Handed {
        case taken(SinkAcceptance)
        case failed(IngestAnswer)
    }

    /// Hands records to the sink; the 503 answer when it could not take them.
    private func hand(_ routed: RoutedEvent) async -> Handed {
        do {
            return .taken(try await sink.accept(routed))
        } catch {
            logger.error("cannot make the event durable; answering 503", metadata: ["event.id": "\(routed.id ?? "-")", "error": "\(error)"])
            return .failed(.unavailable(retryAfterSeconds: 5))
        }
    }
}
