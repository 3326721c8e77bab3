import OkraIngest
import OkraKafka
import ServiceLifecycle
import Synchronization

/// `--delivery direct`: an event is accepted once Kafka acknowledged every one of its records;
/// nothing is stored, and duplicates are not suppressed. A producer that hit a fatal error, or
/// whose deliveries time out, is replaced. As a service it shuts the producer down after the
/// HTTP listener stopped.
public final class DirectDelivery: EventSink, Service, Sendable {
    private let makeProducer: @Sendable () throws -> KafkaProducer
    private let current: Mutex<KafkaProducer>

    /// Creates the first producer at once, so a broken configuration fails at start.
    public init(makeProducer: @escaping @Sendable () throws -> KafkaProducer) throws {
        self.makeProducer = makeProducer
        self.current = Mutex(try makeProducer())
    }

    /// The producer in use.
    public var producer: KafkaProducer { current.withLock { $0 } }

    /// Sends every record and waits for all their reports.
    /// - Throws: the first ``KafkaError``; the request is answered 503.
    public func accept(_ event: RoutedEvent) async throws -> SinkAcceptance {
        let producer = self.producer
        var deliveries: [KafkaDelivery] = []
        deliveries.reserveCapacity(event.records.count)
        do {
            for record in event.records { deliveries.append(try producer.send(record)) }
            for delivery in deliveries { _ = try await delivery.result() }
        } catch {
            replaceIfBroken(producer, error)
            throw error
        }
        return .accepted
    }

    /// No store; ready while a broker answers a metadata request within a second.
    public func readiness() async -> SinkReadiness {
        guard await producer.brokersReachable(timeout: .seconds(1)) else {
            return SinkReadiness(store: .none, kafka: .unreachable, problems: ["Kafka is unreachable and delivery is direct"])
        }
        return SinkReadiness(store: .none, kafka: .reachable)
    }

    /// Waits for graceful shutdown, then shuts the producer down (flushing what is in flight).
    public func run() async throws {
        try? await gracefulShutdown()
        await producer.shutdown()
    }

    /// Replaces the producer after a fatal error or a timed-out delivery: librdkafka 2.0.2 can
    /// keep timing every message out against a broker that lost the producer's state without
    /// ever raising a fatal error. Only the producer that failed is replaced, once.
    private func replaceIfBroken(_ producer: KafkaProducer, _ error: KafkaError) {
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
