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
    private let current: CurrentProducer
    /// Kafka's reachability as readiness reads it: at most one broker check in flight, its
    /// answer kept for a second, so a flood of probes never queues checks on the producer.
    let reachability: SharedCheck
    private let health: KafkaHealth?

    /// Creates the first producer at once, so a broken configuration fails at start.
    /// - Parameters:
    ///   - readinessFreshness: how long a broker check answers `/readyz`.
    ///   - health: the Kafka health the producers report to: `/readyz` gives its kind and
    ///     reason when no broker answers (a TLS or SASL failure, say).
    public init(makeProducer: @escaping @Sendable () throws -> KafkaProducer, readinessFreshness: Duration = .seconds(1),
                health: KafkaHealth? = nil) throws {
        self.makeProducer = makeProducer
        self.health = health
        let current = CurrentProducer(try makeProducer())
        self.current = current
        self.reachability = SharedCheck(freshFor: readinessFreshness) {
            await current.slot.withLock { $0 }.brokersReachable(timeout: .seconds(1))
        }
    }

    /// Direct mode's producer settings, before the operator's (`--kafka-config`, `--kafka`).
    /// The webhook waits for the report: a record is given up after 10 s. `linger.ms` is 1 ms,
    /// not librdkafka's 5: every webhook waits for its batch, and with one record or two a
    /// partition per batch the longer wait gathers nothing while it costs CPU (1 ms took 10% off
    /// a webhook's in paired runs: docs/benchmarks.md, "Direct mode's linger.ms").
    public static func producerDefaults(_ producer: inout KafkaProducerConfiguration) {
        producer.messageTimeout = .seconds(10)
        producer.deliveryStallGrace = .seconds(10)
        producer.flushTimeout = .seconds(10)
        producer.linger = .milliseconds(1)
    }

    /// The producer in use.
    public var producer: KafkaProducer { current.slot.withLock { $0 } }

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

    /// Without a store, accepting is delivering to Kafka.
    public var acceptSpanName: String { "kafka delivery" }

    /// No store; ready while a broker answered a metadata request within a second, as of the
    /// last check (at most a second old; one check at a time, shared by every probe).
    public func readiness() async -> SinkReadiness {
        guard await reachability.value() else {
            var kafka = SinkReadiness.Kafka(.failing, kind: KafkaErrorKind.transport.rawValue, reason: "no broker answered a metadata request within 1 s")
            if let status = health?.status, status.state == .failing { kafka = status.readiness }
            return SinkReadiness(store: .none, kafka: kafka, problems: ["Kafka is unreachable and delivery is direct"])
        }
        health?.reachable()
        guard let status = health?.status, status.state == .failing else { return SinkReadiness(store: .none, kafka: .ok) }
        // A broker answers, but the cluster refuses the producer (an ACL): deliveries fail.
        return SinkReadiness(store: .none, kafka: status.readiness, problems: ["Kafka refuses this producer (\(status.kind.map { "\($0)" } ?? "?")) and delivery is direct"])
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
        guard current.slot.withLock({ $0 === producer }), let replacement = try? makeProducer() else { return }
        let old = current.slot.withLock { current -> KafkaProducer? in
            guard current === producer else { return nil }
            current = replacement
            return producer
        }
        if let old { Task { await old.shutdown() } } else { Task { await replacement.shutdown() } }
    }
}

/// The producer in use, shared with the readiness check.
final class CurrentProducer: Sendable {
    let slot: Mutex<KafkaProducer>
    init(_ producer: KafkaProducer) { slot = Mutex(producer) }
}

/// A yes-or-no check that is slow or blocking (a broker round trip): callers share the one in
/// flight, and its answer is reused while it is younger than `freshFor`.
final class SharedCheck: Sendable {
    private struct State {
        var last: (answer: Bool, at: ContinuousClock.Instant)?
        var running: Task<Bool, Never>?
        var started = 0
    }

    private let state = Mutex(State())
    private let freshFor: Duration
    private let check: @Sendable () async -> Bool

    init(freshFor: Duration, _ check: @escaping @Sendable () async -> Bool) {
        self.freshFor = freshFor
        self.check = check
    }

    /// How many checks were started (tests).
    var checksStarted: Int { state.withLock { $0.started } }

    /// The last answer if fresh, else the answer of the check in flight (started if none is).
    func value() async -> Bool {
        enum Next { case answer(Bool), wait(Task<Bool, Never>) }
        let next: Next = state.withLock { state in
            if let last = state.last, ContinuousClock.now - last.at < freshFor { return .answer(last.answer) }
            if let running = state.running { return .wait(running) }
            state.started += 1
            let task = Task { [check] in
                let answer = await check()
                self.state.withLock { state in
                    state.last = (answer, .now)
                    state.running = nil
                }
                return answer
            }
            state.running = task
            return .wait(task)
        }
        switch next {
        case .answer(let answer): return answer
        case .wait(let task): return await task.value
        }
    }
}
