import CoreMetrics
import Foundation
import Logging
import OkraEnvelope
import OkraKafka
import OkraRouting
import Synchronization

/// How accepted events reach Kafka (`--delivery`).
public enum DeliveryMode: String, Sendable, CaseIterable {
    /// Committed to the local store before the 200; published by ``OutboxPublisher``.
    case durable
    /// The 200 waits for Kafka's delivery report; 503 when it fails.
    case direct
}

/// An HTTP answer, independent of the HTTP library.
public struct IngestAnswer: Sendable, Equatable {
    public var status: Int
    public var body: String
    public var retryAfterSeconds: Int?
    /// The `result` label of `okra_bridge_requests_total`.
    public var result: String

    static func accepted(_ id: String?, duplicate: Bool) -> IngestAnswer {
        let idJSON = id.map { "\"\($0)\"" } ?? "null"
        return IngestAnswer(status: 200, body: #"{"status":"accepted","id":\#(idJSON),"duplicate":\#(duplicate)}"#, result: duplicate ? "duplicate" : "accepted")
    }

    static func error(_ status: Int, _ code: String, _ message: String, result: String, retryAfter: Int? = nil) -> IngestAnswer {
        var escaped: [UInt8] = []
        JSONWriter.writeString(message, into: &escaped)
        return IngestAnswer(status: status, body: #"{"error":{"code":"\#(code)","message":\#(String(decoding: escaped, as: UTF8.self))}}"#,
                            retryAfterSeconds: retryAfter, result: result)
    }

    static func refusal(_ refusal: SenderCheck.Refusal) -> IngestAnswer {
        switch refusal {
        case .unauthorized:
            return .error(401, "unauthorized", "missing or unknown token: send it in Okra-Auth or Authorization: Bearer", result: "unauthorized")
        case .addressNotAllowed(let address):
            return .error(403, "forbidden", "address \(address) is not allowed to send webhooks", result: "forbidden")
        case .environmentMismatch(let token, let payload):
            return .error(403, "environment-mismatch", "a \(payload) payload was sent with a \(token) token", result: "forbidden")
        }
    }
}

/// Publishes records and waits for their delivery reports (`--delivery direct`), replacing
/// the producer after a fatal error.
public final class DirectDelivery: Sendable {
    private let makeProducer: @Sendable () throws -> KafkaProducer
    private let current: Mutex<KafkaProducer>

    public init(makeProducer: @escaping @Sendable () throws -> KafkaProducer) throws {
        self.makeProducer = makeProducer
        self.current = Mutex(try makeProducer())
    }

    /// The producer in use (for shutdown and readiness).
    public var producer: KafkaProducer { current.withLock { $0 } }

    /// Sends every record and waits for all reports; the first error, if any.
    func publish(_ records: [RoutedRecord]) async -> KafkaError? {
        let producer = self.producer
        var deliveries: [KafkaDelivery] = []
        for record in records {
            do {
                deliveries.append(try producer.send(topic: record.topic, key: record.key.map { Array($0.utf8) }, value: record.value,
                                                    headers: record.headers.map { KafkaHeader($0.name, $0.value) }))
            } catch {
                replaceIfFatal(producer, error)
                return error
            }
        }
        for delivery in deliveries {
            do { _ = try await delivery.result() } catch {
                replaceIfFatal(producer, error)
                return error
            }
        }
        return nil
    }

    /// Replaces the producer after a fatal error or a timed-out delivery: librdkafka 2.0.2 can
    /// keep timing every message out against a broker that lost the producer's state without
    /// ever raising a fatal error. Only the producer that failed is replaced, once.
    private func replaceIfFatal(_ producer: KafkaProducer, _ error: KafkaError) {
        guard error.code == .fatal || error.code == .messageTimedOut else { return }
        guard current.withLock({ $0 === producer }), let replacement = try? makeProducer() else { return }
        let old = current.withLock { current -> KafkaProducer? in
            guard current === producer else { return nil }
            current = replacement
            return producer
        }
        if let old { Task { await old.shutdown() } } else { Task { await replacement.shutdown() } }
    }
}

/// The webhook pipeline after the sender check: bytes in, an answer out, with the event made
/// durable (or delivered) before a 200.
public final class Ingest: Sendable {
    public enum Sink: Sendable {
        case durable(OutboxStore)
        case direct(DirectDelivery)
    }

    let senderCheck: SenderCheck
    let routes: RoutesReloader
    let sink: Sink
    let logger: Logger
    private let requests: @Sendable (String) -> Counter
    private let ackLatency: CoreMetrics.Timer

    public init(senderCheck: SenderCheck, routes: RoutesReloader, sink: Sink, logger: Logger, metrics: MetricsFactory = MetricsSystem.factory) {
        self.senderCheck = senderCheck
        self.routes = routes
        self.sink = sink
        self.logger = logger
        let counters = ["accepted", "duplicate", "unauthorized", "forbidden", "too_large", "malformed", "unavailable"].reduce(into: [String: Counter]()) {
            $0[$1] = Counter(label: "okra_bridge_requests_total", dimensions: [("result", $1)], factory: metrics)
        }
        self.requests = { counters[$0] ?? counters["unavailable"]! }
        self.ackLatency = CoreMetrics.Timer(label: "okra_bridge_ack_latency_seconds", factory: metrics)
    }

    /// Counts an answer given without reaching ``ingest(body:tokenEnvironment:receivedAt:)``.
    public func count(_ answer: IngestAnswer) { requests(answer.result).increment() }

    /// Normalizes, routes and makes durable (or delivers) one verified body.
    public func ingest(body: [UInt8], tokenEnvironment: SenderCheck.Environment?, receivedAt: Date) async -> IngestAnswer {
        let started = ContinuousClock.now
        let answer = await process(body: body, tokenEnvironment: tokenEnvironment, receivedAt: receivedAt)
        requests(answer.result).increment()
        if answer.status == 200 {
            let elapsed = ContinuousClock.now - started
            ackLatency.recordNanoseconds(elapsed.components.seconds * 1_000_000_000 + elapsed.components.attoseconds / 1_000_000_000)
        }
        return answer
    }

    private func process(body: [UInt8], tokenEnvironment: SenderCheck.Environment?, receivedAt: Date) async -> IngestAnswer {
        let table = routes.table
        switch Normalizer.normalize(body, receivedAt: receivedAt) {
        case .failure(let rejection):
            // Not an event: the raw body still goes to the dead-letter topic, durably.
            let record = Router.deadLetter(body: body, reason: rejection.reason.rawValue, receivedAt: receivedAt, id: nil, topic: table.deadLetterTopic)
            if let failure = await deliver(id: nil, records: [record], receivedAt: receivedAt) { return failure }
            logger.notice("rejected body sent to the dead-letter topic", metadata: ["reason": "\(rejection.reason)", "topic": "\(table.deadLetterTopic)"])
            return .error(400, rejection.reason.rawValue, rejection.message, result: "malformed")
        case .success(let event):
            if let refusal = senderCheck.checkEnvironment(token: tokenEnvironment, payload: event.environment) {
                logger.warning("refused: environment mismatch", metadata: ["event.id": "\(event.id)"])
                return .refusal(refusal)
            }
            let decision = Router.route(event, table: table, receivedAt: receivedAt)
            if decision.dropped {
                logger.info("event dropped by route", metadata: ["event.id": "\(event.id)", "routes": "\(decision.matchedRoutes)"])
                return .accepted(event.id, duplicate: false)
            }
            switch sink {
            case .durable(let store):
                do {
                    let outcome = try await store.accept(eventID: event.id, records: decision.records, receivedAt: receivedAt)
                    logger.debug("event stored", metadata: ["event.id": "\(event.id)", "event.type": "\(event.type)", "duplicate": "\(outcome == .duplicate)"])
                    return .accepted(event.id, duplicate: outcome == .duplicate)
                } catch {
                    return unavailable(error, id: event.id)
                }
            case .direct:
                if let failure = await deliver(id: event.id, records: decision.records, receivedAt: receivedAt) { return failure }
                return .accepted(event.id, duplicate: false)
            }
        }
    }

    /// Makes records durable or delivered; an answer only when that failed.
    private func deliver(id: String?, records: [RoutedRecord], receivedAt: Date) async -> IngestAnswer? {
        switch sink {
        case .durable(let store):
            do {
                _ = try await store.accept(eventID: nil, records: records, receivedAt: receivedAt)
                return nil
            } catch {
                return unavailable(error, id: id)
            }
        case .direct(let direct):
            guard let error = await direct.publish(records) else { return nil }
            return unavailable(error, id: id)
        }
    }

    private func unavailable(_ error: any Error, id: String?) -> IngestAnswer {
        logger.error("cannot make the event durable; answering 503", metadata: ["event.id": "\(id ?? "-")", "error": "\(error)"])
        return .error(503, "unavailable", "the event could not be made durable; retry later", result: "unavailable", retryAfter: 5)
    }
}
