import CRDKafka
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
/// event queue, so a report is handed on as soon as it arrives, with no polling interval.
/// Run the producer as a `Service` (or call ``shutdown()``): shutdown stops new sends, waits
/// up to ``KafkaProducerConfiguration/flushTimeout`` for in-flight messages, then fails the
/// waiters of whatever is left with ``KafkaError/Code/shutdown``.
public final class KafkaProducer: Service, Sendable {
    private let client: RDKafkaClient
    private let configuration: KafkaProducerConfiguration
    private let logger: Logger
    private let state: Mutex<State>
    private let running = Atomic<Bool>(true)
    private let threadExited = DispatchSemaphore(value: 0)
    /// The main event queue (`rd_kafka_queue_t *`), destroyed at shutdown.
    nonisolated(unsafe) private let eventQueue: OpaquePointer

    private struct State: ~Copyable {
        enum Phase { case running, shuttingDown, closed }
        var phase: Phase = .running
        var topics: [String: OpaquePointer] = [:]
        /// The topic of the previous send: most senders stay on one topic for a while, and
        /// comparing with it is cheaper than hashing the name.
        var lastTopic: (name: String, handle: OpaquePointer)?
        var fatal: KafkaError?
        /// Waiters by message id: `slots[i]` belongs to id `baseID + i`; nil once reported.
        /// Ids are handed out in send order, so the first occupied slot is the oldest message.
        var slots: [PendingDelivery?] = []
        /// The slab new deliveries take their result slot from, and the next free slot in it.
        var slab: DeliverySlab?
        var slabNext = 0
        var baseID: UInt = 1
        var head = 0
        var pending = 0

        /// A result slot for the next message, from the current slab or a new one.
        mutating func nextSlot(topic: String) -> PendingDelivery {
            if slab == nil || slabNext == DeliverySlab.capacity {
                slab = DeliverySlab()
                slabNext = 0
            }
            slabNext += 1
            return PendingDelivery(slab: slab!, index: slabNext - 1, topic: topic)
        }

        mutating func register(_ promise: PendingDelivery) -> UInt {
            slots.append(promise)
            pending += 1
            return baseID + UInt(slots.count - 1)
        }

        mutating func take(_ id: UInt) -> PendingDelivery? {
            guard id >= baseID else { return nil }
            let index = Int(id - baseID)
            guard index < slots.count, let promise = slots[index] else { return nil }
            slots[index] = nil
            pending -= 1
            return promise
        }

        /// Drops reported slots from the front; cheap, amortized.
        mutating func compact() {
            if pending == 0 {
                baseID += UInt(slots.count)
                slots.removeAll(keepingCapacity: true)
                head = 0
                return
            }
            while head < slots.count && slots[head] == nil { head += 1 }
            if head > 4096 && head * 2 > slots.count {
                slots.removeFirst(head)
                baseID += UInt(head)
                head = 0
            }
        }

        /// The id of the oldest message still waiting for its report.
        var oldestPendingID: UInt? { pending > 0 ? baseID + UInt(head) : nil }

        /// Takes every waiter, leaving none registered.
        mutating func takeWaiters() -> [PendingDelivery] {
            let taken = slots.compactMap { $0 }
            baseID += UInt(slots.count)
            slots.removeAll()
            head = 0
            pending = 0
            return taken
        }
    }

    /// Creates a producer and starts its delivery-report thread.
    /// - Throws: ``KafkaError/Code/configuration`` naming the property librdkafka rejected.
    public init(configuration: KafkaProducerConfiguration, logger: Logger) throws(KafkaError) {
        self.configuration = configuration
        self.logger = logger
        self.client = try RDKafkaClient(
            type: RD_KAFKA_PRODUCER,
            properties: configuration.librdkafkaProperties,
            events: Int32(RD_KAFKA_EVENT_DR | RD_KAFKA_EVENT_ERROR),
            logger: logger
        )
        self.eventQueue = rd_kafka_queue_get_main(client.handle)
        self.state = Mutex(State())
        let thread = Thread { [self] in
            self.serveEvents()
            self.threadExited.signal()
        }
        thread.name = "okra-kafka-producer-events"
        thread.start()
    }

    /// Messages enqueued whose delivery report has not arrived yet.
    public var inFlightCount: Int { state.withLock { $0.pending } }

    /// The fatal error this producer hit, if any. A producer with a fatal error delivers
    /// nothing more: create a new one and send again what was not acknowledged.
    public var fatalError: KafkaError? { state.withLock { $0.fatal } }

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
        try state.withLock { (state: inout State) throws(KafkaError) -> KafkaDelivery in
            guard state.phase == .running else {
                throw KafkaError(.shutdown, "the producer is shutting down and accepts no new messages", isRetriable: true)
            }
            if let fatal = state.fatal { throw fatal }
            let rkt: OpaquePointer
            if let last = state.lastTopic, last.name == topic {
                rkt = last.handle
            } else if let cached = state.topics[topic] {
                rkt = cached
                state.lastTopic = (topic, cached)
            } else {
                guard let created = rd_kafka_topic_new(client.handle, topic, nil) else {
                    throw KafkaError(.topic, "librdkafka rejected topic name '\(topic)'", isRetriable: false)
                }
                state.topics[topic] = created
                state.lastTopic = (topic, created)
                rkt = created
            }
            let promise = state.nextSlot(topic: topic)
            let id = state.register(promise)
            let cHeaders = Self.makeHeaders(headers)
            let err = Self.produce(client.handle, rkt, key: key, value: value, headers: cHeaders, id: id)
            guard err == RD_KAFKA_RESP_ERR_NO_ERROR else {
                _ = state.take(id)
                state.compact()
                if let cHeaders { rd_kafka_headers_destroy(cHeaders) }
                if err == RD_KAFKA_RESP_ERR__FATAL, let fatal = state.fatal { throw fatal }
                throw RDKafkaError.make(err, context: "could not enqueue a message for topic '\(topic)'")
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
        let client = self.client
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
        let first = state.withLock { (state: inout State) -> Bool in
            guard state.phase == .running else { return false }
            state.phase = .shuttingDown
            return true
        }
        guard first else {
            await client.blocking { [threadExited] in
                threadExited.wait()
                threadExited.signal()
            }
            return
        }
        let client = self.client
        let flushTimeout = configuration.flushTimeout
        let unflushed = await client.blocking {
            _ = rd_kafka_flush(client.handle, flushTimeout.milliseconds)
            return Int(rd_kafka_outq_len(client.handle))
        }
        if unflushed > 0 || inFlightCount > 0 {
            logger.warning(
                "Kafka producer shutting down with messages not yet acknowledged; their senders get a shutdown error",
                metadata: ["kafka.in_flight": "\(inFlightCount)", "kafka.flush_timeout": "\(flushTimeout)"]
            )
            rd_kafka_purge(client.handle, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT)
            // Purged messages come back as delivery reports; let the event thread serve them.
            _ = await client.blocking { rd_kafka_flush(client.handle, 2000) }
        }
        running.store(false, ordering: .releasing)
        rd_kafka_queue_yield(eventQueue)
        await client.blocking { [threadExited] in
            threadExited.wait()
            threadExited.signal()
        }
        let leftovers = state.withLock { (state: inout State) -> [PendingDelivery] in
            let waiters = state.takeWaiters()
            for rkt in state.topics.values { rd_kafka_topic_destroy(rkt) }
            state.topics.removeAll()
            state.lastTopic = nil
            state.phase = .closed
            return waiters
        }
        let error = KafkaError(.shutdown, "the producer shut down before the broker acknowledged this message", isRetriable: true)
        for promise in leftovers { promise.complete(.failure(error)) }
        rd_kafka_queue_destroy(eventQueue)
    }

    /// Makes librdkafka raise a fatal error as if the broker had sent `UNKNOWN_PRODUCER_ID`
    /// (librdkafka's own test hook), so the fatal path can be tested without a broker restart.
    func raiseFatalErrorForTesting() {
        _ = rd_kafka_test_fatal_error(client.handle, RD_KAFKA_RESP_ERR_UNKNOWN_PRODUCER_ID, "raised by a test")
    }

    /// Makes the mock cluster (`test.mock.num.brokers`) answer the next `count` Produce
    /// requests with `UNKNOWN_PRODUCER_ID`, as a restarted broker that lost producer state does.
    func failNextProduceRequestsForTesting(_ count: Int) -> Bool {
        guard let cluster = rd_kafka_handle_mock_cluster(client.handle) else { return false }
        let errors = [rd_kafka_resp_err_t](repeating: RD_KAFKA_RESP_ERR_UNKNOWN_PRODUCER_ID, count: count)
        rd_kafka_mock_push_request_errors_array(cluster, 0 /* Produce */, count, errors)
        return true
    }

    // MARK: - Event thread

    private func serveEvents() {
        var watch = StallWatch()
        var lastStallCheck = ContinuousClock.now
        while running.load(ordering: .acquiring) {
            if ContinuousClock.now - lastStallCheck >= .seconds(1) {
                lastStallCheck = .now
                checkForStall(&watch)
            }
            guard let event = rd_kafka_queue_poll(eventQueue, 1000) else { continue }
            switch rd_kafka_event_type(event) {
            case RD_KAFKA_EVENT_DR:
                handleDeliveryReports(event)
            case RD_KAFKA_EVENT_ERROR:
                handleError(event)
            default:
                break
            }
            rd_kafka_event_destroy(event)
        }
    }

    private func handleDeliveryReports(_ event: OpaquePointer) {
        // Read the batch outside the lock, so senders wait only for the short take below.
        var reports: [(id: UInt, err: rd_kafka_resp_err_t, partition: Int32, offset: Int64)] = []
        reports.reserveCapacity(Int(rd_kafka_event_message_count(event)))
        while let message = rd_kafka_event_message_next(event) {
            let m = message.pointee
            reports.append((UInt(bitPattern: m._private), m.err, m.partition, m.offset))
        }
        let (promises, fatal) = state.withLock { (state: inout State) -> ([PendingDelivery?], KafkaError?) in
            let promises = reports.map { state.take($0.id) }
            state.compact()
            return (promises, state.fatal)
        }
        for (promise, report) in zip(promises, reports) {
            guard let promise else { continue }
            if report.err == RD_KAFKA_RESP_ERR_NO_ERROR {
                promise.complete(.success(KafkaDeliveryReport(topic: promise.topic, partition: report.partition, offset: report.offset)))
            } else if let fatal, Self.isConsequenceOfFatal(report.err) {
                promise.complete(.failure(fatal))
            } else {
                promise.complete(.failure(RDKafkaError.make(report.err, context: "delivery to topic '\(promise.topic)' failed")))
            }
        }
    }

    private func handleError(_ event: OpaquePointer) {
        let err = rd_kafka_event_error(event)
        let text = rd_kafka_event_error_string(event).map { String(cString: $0) } ?? "unknown error"
        guard rd_kafka_event_error_is_fatal(event) != 0 else {
            logger.warning("Kafka producer error: \(text)", metadata: ["kafka.error": "\(String(cString: rd_kafka_err2name(err)))"])
            return
        }
        let (code, reason) = client.fatalError() ?? (err, text)
        becomeFatal(KafkaError(
            .fatal,
            "the producer hit a fatal error and must be recreated: \(reason)",
            isRetriable: true,
            librdkafkaName: String(cString: rd_kafka_err2name(code))
        ))
    }

    /// Declares the producer stuck when the same message has been the oldest in flight for
    /// longer than `message.timeout.ms` plus the stall grace: librdkafka promised a report by then.
    private func checkForStall(_ watch: inout StallWatch) {
        let limit = configuration.messageTimeout + configuration.deliveryStallGrace
        let oldest = state.withLock { (state: inout State) in state.fatal == nil ? state.oldestPendingID : nil }
        guard watch.observe(oldestPendingID: oldest, at: .now, limit: limit) else { return }
        becomeFatal(KafkaError(
            .fatal,
            "no delivery report for over \(limit) (message.timeout.ms plus the stall grace): librdkafka is retrying without progress, as when a broker lost the producer's state; the producer must be recreated",
            isRetriable: true
        ))
    }

    /// Records a fatal error, fails every waiting sender with it, and purges librdkafka's queues.
    private func becomeFatal(_ fatal: KafkaError) {
        let waiters = state.withLock { (state: inout State) -> [PendingDelivery] in
            guard state.fatal == nil else { return [] }
            state.fatal = fatal
            return state.takeWaiters()
        }
        logger.error("Kafka producer fatal error; it must be recreated", metadata: ["kafka.error": "\(fatal.librdkafkaName ?? "")", "kafka.reason": "\(fatal.reason)"])
        for promise in waiters { promise.complete(.failure(fatal)) }
        // Whatever librdkafka still holds is reported later against no waiter.
        rd_kafka_purge(client.handle, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT | RD_KAFKA_PURGE_F_NON_BLOCKING)
    }

    private static func isConsequenceOfFatal(_ err: rd_kafka_resp_err_t) -> Bool {
        RDKafkaError.classify(err).0 == .fatal || RDKafkaError.classify(err).0 == .shutdown
    }

    // MARK: - C helpers

    private static func makeHeaders(_ headers: [KafkaHeader]) -> OpaquePointer? {
        guard !headers.isEmpty, let list = rd_kafka_headers_new(headers.count) else { return nil }
        for header in headers {
            if let value = header.value {
                value.withUnsafeBytes { bytes in
                    _ = rd_kafka_header_add(list, header.name, -1, bytes.baseAddress, bytes.count)
                }
            } else {
                _ = rd_kafka_header_add(list, header.name, -1, nil, 0)
            }
        }
        return list
    }

    private static func produce(
        _ rk: OpaquePointer,
        _ rkt: OpaquePointer,
        key: [UInt8]?,
        value: [UInt8],
        headers: OpaquePointer?,
        id: UInt
    ) -> rd_kafka_resp_err_t {
        let opaque = UnsafeMutableRawPointer(bitPattern: id)
        return value.withUnsafeBytes { valueBytes in
            if let key {
                return key.withUnsafeBytes { keyBytes in
                    okra_rdk_produce(rk, rkt, valueBytes.baseAddress, valueBytes.count,
                                     keyBytes.baseAddress, keyBytes.count, headers, opaque)
                }
            }
            return okra_rdk_produce(rk, rkt, valueBytes.baseAddress, valueBytes.count, nil, 0, headers, opaque)
        }
    }
}

/// Watches the oldest in-flight message: it is stalled when the same message stays the oldest
/// for longer than the limit (observed from the first time it was seen as the oldest).
struct StallWatch {
    private var oldestID: UInt?
    private var since: ContinuousClock.Instant?

    /// Records what is the oldest pending message now; true when it has been so for over `limit`.
    mutating func observe(oldestPendingID: UInt?, at now: ContinuousClock.Instant, limit: Duration) -> Bool {
        guard let oldestPendingID else {
            oldestID = nil
            since = nil
            return false
        }
        guard oldestID == oldestPendingID, let since else {
            oldestID = oldestPendingID
            since = now
            return false
        }
        return now - since > limit
    }
}

/// The pending delivery of one enqueued message.
public struct KafkaDelivery: Sendable {
    let slab: DeliverySlab
    let index: Int

    /// Waits for the broker's delivery report (or the failure that ended the message).
    /// Awaiting again returns the same result.
    public func result() async throws(KafkaError) -> KafkaDeliveryReport {
        try await slab.wait(index).get()
    }
}

/// A message waiting for its delivery report, as the producer tracks it.
struct PendingDelivery: Sendable {
    let slab: DeliverySlab
    let index: Int
    let topic: String

    func complete(_ outcome: DeliverySlab.Outcome) { slab.complete(index, outcome) }
}

/// The delivery results of up to 64 consecutive messages, each completed once by the event
/// thread, each with any number of waiters. One allocation serves 64 sends: allocating a result
/// object per message (and freeing it on another thread) was the largest cost of a send.
final class DeliverySlab: Sendable {
    typealias Outcome = Result<KafkaDeliveryReport, KafkaError>
    static let capacity = 64

    /// The state machine resumes each continuation exactly once, which is what lets it use
    /// unchecked continuations (a checked one allocates per wait).
    private enum Slot {
        case pending
        /// One waiter: the usual case, without an array.
        case waiting(UnsafeContinuation<Outcome, Never>)
        case waitingMany([UnsafeContinuation<Outcome, Never>])
        case done(Outcome)
    }

    private let slots = Mutex<[Slot]>(Array(repeating: .pending, count: DeliverySlab.capacity))

    func complete(_ index: Int, _ outcome: Outcome) {
        let waiters = slots.withLock { slots -> [UnsafeContinuation<Outcome, Never>] in
            defer { slots[index] = .done(outcome) }
            switch slots[index] {
            case .pending, .done: return []
            case .waiting(let waiter): return [waiter]
            case .waitingMany(let waiters): return waiters
            }
        }
        for waiter in waiters { waiter.resume(returning: outcome) }
    }

    func wait(_ index: Int) async -> Outcome {
        if let outcome = slots.withLock({ slots -> Outcome? in
            if case .done(let outcome) = slots[index] { return outcome }
            return nil
        }) {
            return outcome
        }
        return await withUnsafeContinuation { continuation in
            let ready = slots.withLock { slots -> Outcome? in
                switch slots[index] {
                case .done(let outcome):
                    return outcome
                case .pending:
                    slots[index] = .waiting(continuation)
                case .waiting(let first):
                    slots[index] = .waitingMany([first, continuation])
                case .waitingMany(var waiters):
                    slots[index] = .pending // drop the slot's reference, so the append does not copy
                    waiters.append(continuation)
                    slots[index] = .waitingMany(waiters)
                }
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }
}
