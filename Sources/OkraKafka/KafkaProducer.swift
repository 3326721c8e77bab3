import Dispatch
import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// A Kafka producer that reports each message's delivery.
///
/// ``send(topic:key:value:headers:)`` enqueues synchronously (so calls made in order are
/// produced in order) and throws when a message cannot be enqueued; the returned
/// ``KafkaDelivery`` completes when the broker's delivery report arrives.
/// ``publish(topic:key:value:headers:)`` does both and awaits the report.
///
/// Delivery reports are served by a thread of the producer's own that blocks on librdkafka's
/// event queue (`KafkaProducer+EventThread.swift`), so a report is handed on as soon as it
/// arrives, with no polling interval. Run the producer as a `Service` (or call ``shutdown()``):
/// shutdown stops new sends, waits up to ``KafkaProducerConfiguration/flushTimeout`` for
/// in-flight messages, then fails the waiters of whatever is left with ``KafkaError/Code/shutdown``.
public final class KafkaProducer: Service, Sendable {
    let rdkafka: RDKafkaProducer
    let configuration: KafkaProducerConfiguration
    let logger: Logger
    /// Where failures and deliveries are reported (counted, logged once a minute per kind).
    let health: KafkaHealth?
    let state: Mutex<State>
    let running = Atomic<Bool>(true)
    let threadExited = DispatchSemaphore(value: 0)

    struct State: ~Copyable {
        var lifecycle = StateMachine()
        var deliveries = DeliveryRegistry()
        var topics: [String: RDKafkaTopic] = [:]
        /// The topic of the previous send: most senders stay on one topic for a while, and
        /// comparing with it is cheaper than hashing the name.
        var lastTopic: (name: String, handle: RDKafkaTopic)?
        /// Later shutdown callers, resumed once the first one closed the producer.
        var closeWaiters: [CheckedContinuation<Void, Never>] = []
        /// librdkafka's latest statistics (with `statistics.interval.ms` set).
        var statistics: String?
    }

    /// Creates a producer and starts its delivery-report thread.
    /// - Parameter health: where this producer reports its failures and deliveries; without one,
    ///   each failure is logged as it comes.
    /// - Throws: ``KafkaError/Code/configuration`` naming the property librdkafka rejected.
    public init(configuration: KafkaProducerConfiguration, logger: Logger, health: KafkaHealth? = nil) throws(KafkaError) {
        self.configuration = configuration
        self.logger = logger
        self.health = health
        self.rdkafka = try RDKafkaProducer(properties: configuration.librdkafkaProperties, logger: logger)
        self.state = Mutex(State())
        let thread = Thread { [self] in
            self.serveEvents()
            self.threadExited.signal()
        }
        thread.name = "okra-kafka-producer-events"
        thread.start()
    }

    /// Messages enqueued whose delivery report has not arrived yet.
    public var inFlightCount: Int { state.withLock { $0.deliveries.pending } }

    /// The fatal error this producer hit, if any. A producer with a fatal error delivers
    /// nothing more: create a new one and send again what was not acknowledged.
    public var fatalError: KafkaError? { state.withLock { $0.lifecycle.fatal } }

    /// The idempotent producer's state as librdkafka's latest statistics give it (`eos.idemp_state`:
    /// `Assigned` once the cluster granted a producer id, InitProducerId; `RequestPID`,
    /// `WaitPID`... before), and the id; nil until statistics came (set
    /// `statistics.interval.ms`).
    public var idempotence: (state: String, producerID: Int64)? {
        guard let json = state.withLock({ $0.statistics }),
              let object = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any],
              let eos = object["eos"] as? [String: Any], let state = eos["idemp_state"] as? String else { return nil }
        return (state, (eos["producer_id"] as? NSNumber)?.int64Value ?? -1)
    }

    /// Enqueues one message and returns a handle that completes with its delivery result.
    ///
    /// The waiter is registered before the message is handed to librdkafka, so a report that
    /// arrives at once is never missed.
    /// - Throws: ``KafkaError/Code/queueFull`` when ``KafkaProducerConfiguration/maxInFlightMessages``
    ///   are already in flight (retriable), ``KafkaError/Code/fatal`` after a fatal error,
    ///   ``KafkaError/Code/shutdown`` once shutdown began.
    public func send(
        topic: String,
        key: [UInt8]?,
        value: [UInt8],
        headers: [KafkaHeader] = []
    ) throws(KafkaError) -> KafkaDelivery {
        do {
            return try enqueue(topic: topic, key: key, value: value, headers: headers)
        } catch {
            // A fatal error was reported when it happened.
            if error.code != .fatal { health?.failed(error) }
            throw error
        }
    }

    private func enqueue(topic: String, key: [UInt8]?, value: [UInt8], headers: [KafkaHeader]) throws(KafkaError) -> KafkaDelivery {
        try state.withLock { (state: inout State) throws(KafkaError) -> KafkaDelivery in
            if case .fail(let error) = state.lifecycle.send() { throw error }
            let handle: RDKafkaTopic
            if let last = state.lastTopic, last.name == topic {
                handle = last.handle
            } else if let cached = state.topics[topic] {
                handle = cached
                state.lastTopic = (topic, cached)
            } else {
                guard let created = rdkafka.topic(topic) else {
                    throw KafkaError(.topic, "librdkafka rejected topic name '\(topic)'", isRetriable: false)
                }
                state.topics[topic] = created
                state.lastTopic = (topic, created)
                handle = created
            }
            let promise = state.deliveries.nextSlot(topic: topic)
            let id = state.deliveries.register(promise)
            let code = rdkafka.produce(handle, key: key, value: value, headers: headers, id: id)
            guard code.isSuccess else {
                _ = state.deliveries.take(id)
                state.deliveries.compact()
                throw state.lifecycle.enqueueFailure(code, topic: topic)
            }
            return KafkaDelivery(slab: promise.slab, index: promise.index)
        }
    }

    /// Enqueues one message and waits for the broker's delivery report.
    /// - Returns: the partition and offset the broker stored the message at.
    /// - Throws: a ``KafkaError`` from ``send(topic:key:value:headers:)`` or from the delivery report.
    public func publish(
        topic: String,
        key: [UInt8]?,
        value: [UInt8],
        headers: [KafkaHeader] = []
    ) async throws(KafkaError) -> KafkaDeliveryReport {
        try await send(topic: topic, key: key, value: value, headers: headers).result()
    }

    /// Whether a metadata request reaches a broker within `timeout`.
    public func brokersReachable(timeout: Duration = .seconds(2)) async -> Bool {
        let client = rdkafka.client
        return await client.blocking { client.brokersReachable(timeout: timeout) }
    }

    /// Runs until graceful shutdown or cancellation, then shuts the producer down.
    public func run() async throws {
        try? await gracefulShutdown()
        await shutdown()
    }

    /// Stops accepting messages, waits up to the flush timeout for those in flight, fails the
    /// waiters of the rest with ``KafkaError/Code/shutdown`` and releases librdkafka. Idempotent.
    public func shutdown() async {
        let action = state.withLock { $0.lifecycle.shutdown() }
        switch action {
        case .flushAndClose:
            break
        case .none:
            return
        case .waitForClose:
            // Not on the client's serial queue: the first caller's flushes run there.
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let closed = state.withLock { state -> Bool in
                    guard state.lifecycle.phase != .closed else { return true }
                    state.closeWaiters.append(continuation)
                    return false
                }
                if closed { continuation.resume() }
            }
            return
        }
        let rdkafka = self.rdkafka
        let flushTimeout = configuration.flushTimeout
        let unflushed = await rdkafka.client.blocking { rdkafka.flush(timeout: flushTimeout) }
        if unflushed > 0 || inFlightCount > 0 {
            logger.warning(
                "Kafka producer shutting down with messages not yet acknowledged; their senders get a shutdown error",
                metadata: ["kafka.in_flight": "\(inFlightCount)", "kafka.flush_timeout": "\(flushTimeout)"]
            )
            rdkafka.purge(blocking: true)
            // Purged messages come back as delivery reports; let the event thread serve them.
            _ = await rdkafka.client.blocking { rdkafka.flush(timeout: .seconds(2)) }
        }
        running.store(false, ordering: .releasing)
        rdkafka.wakeEventThread()
        await waitForEventThread()
        rdkafka.destroyEventQueue()
        let (leftovers, error, closeWaiters) = state.withLock { (state: inout State) -> ([PendingDelivery], KafkaError, [CheckedContinuation<Void, Never>]) in
            let waiters = state.deliveries.takeAll()
            for handle in state.topics.values { rdkafka.destroy(handle) }
            state.topics.removeAll()
            state.lastTopic = nil
            defer { state.closeWaiters.removeAll() }
            return (waiters, state.lifecycle.closed(), state.closeWaiters)
        }
        for promise in leftovers { promise.complete(.failure(error)) }
        for waiter in closeWaiters { waiter.resume() }
    }

    /// Returns once the event thread has ended, waiting on a thread of Dispatch's global pool
    /// (never the client's serial queue, which other callers may need meanwhile).
    private func waitForEventThread() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            DispatchQueue.global().async { [threadExited] in
                threadExited.wait()
                threadExited.signal()
                continuation.resume()
            }
        }
    }
}
