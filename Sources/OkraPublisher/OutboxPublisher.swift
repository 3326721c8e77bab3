import CoreMetrics
import Foundation
import Logging
import OkraEnvelope
import OkraIngest
import OkraKafka
import OkraStore
import ServiceLifecycle
import Synchronization
import Tracing

/// Drains the outbox to Kafka: oldest first, each round's records sent in outbox order (so
/// records with the same key keep their order); the publish mark moves only over records with a
/// successful delivery report. While Kafka is away it backs off and retries from the oldest
/// unpublished record; a producer that became fatal, or that delivered nothing in a round that
/// failed, is replaced. After a crash it resumes from the mark on disk.
public final class OutboxPublisher: Service, Sendable {
    private let store: OutboxStore
    private let makeProducer: @Sendable () throws -> KafkaProducer
    private let logger: Logger
    private let batchSize: Int
    private let batchBytes: Int
    private let idlePoll: Duration
    private let gather: Duration
    private let maxBackoff: Duration
    private let shutdownGrace: Duration
    private let metrics: MetricsFactory
    private let published: Counter
    private let publishLatency: CoreMetrics.Timer
    private let failures: Counter
    private let recreations: Counter
    private let storeErrors: Counter
    private let parkedCounters = Mutex<[String: Counter]>([:])
    private let parkAfter: Mutex<ParkAfter>
    private let health: KafkaHealth?
    private let retryLogInterval: Duration
    private let tracing: EventTracing

    /// - Parameters:
    ///   - makeProducer: creates a producer; called at start and whenever one must be replaced.
    ///   - batchSize: records sent per round.
    ///   - batchBytes: bytes (values, keys, headers) read per round, past its first record.
    ///   - idlePoll: when the outbox is empty, the longest wait for new records before looking
    ///     again (a stored record wakes the publisher at once).
    ///   - gather: after a round of fewer than a quarter of `batchSize` records, the pause
    ///     before the next one.
    ///   - parkAfter: how long a librdkafka code the bridge does not classify may keep failing
    ///     the oldest record before it is parked (`--park-after`).
    ///   - health: the Kafka health the producers report to; while it says failing and the
    ///     outbox is empty, the publisher asks a broker for metadata every few seconds, so the
    ///     state turns ok once Kafka is back even when nothing is left to send.
    ///   - retryLogInterval: the shortest time between two "delivery failing" lines.
    ///   - tracing: when on, each delivered or failed record with a `traceparent` header is a
    ///     `kafka delivery` span, a child of the webhook's span, from its send to its report.
    public init(
        store: OutboxStore,
        makeProducer: @escaping @Sendable () throws -> KafkaProducer,
        logger: Logger,
        batchSize: Int = 2000,
        batchBytes: Int = 16 << 20,
        idlePoll: Duration = .milliseconds(500),
        gather: Duration = .milliseconds(20),
        maxBackoff: Duration = .seconds(5),
        shutdownGrace: Duration = .seconds(3),
        parkAfter: Duration = .seconds(600),
        health: KafkaHealth? = nil,
        retryLogInterval: Duration = .seconds(60),
        metrics: MetricsFactory = MetricsSystem.factory,
        tracing: EventTracing = .off
    ) {
        self.tracing = tracing
        self.health = health
        self.retryLogInterval = retryLogInterval
        self.shutdownGrace = shutdownGrace
        self.parkAfter = Mutex(ParkAfter(limit: parkAfter))
        self.store = store
        self.makeProducer = makeProducer
        self.logger = logger
        self.batchSize = batchSize
        self.batchBytes = batchBytes
        self.idlePoll = idlePoll
        self.gather = gather
        self.maxBackoff = maxBackoff
        self.metrics = metrics
        self.published = Counter(label: "okra_bridge_outbox_published_total", factory: metrics)
        self.publishLatency = CoreMetrics.Timer(label: "okra_bridge_publish_latency_seconds", factory: metrics)
        self.failures = Counter(label: "okra_bridge_publish_errors_total", factory: metrics)
        self.recreations = Counter(label: "okra_bridge_producer_recreated_total", factory: metrics)
        self.storeErrors = Counter(label: "okra_bridge_store_errors_total", factory: metrics)
        // At 0 from the start, so a first parked record is seen by increase() and by a scrape check.
        for reason in RoundTally.parkReasons { _ = parkedTotal(reason.rawValue) }
    }

    /// Durable mode's producer settings, before the operator's (`--kafka-config`, `--kafka`).
    /// The record is safe on disk: librdkafka never gives up on it (`message.timeout.ms=0`)
    /// and keeps each partition in order; a producer that reports nothing for 30 s is
    /// replaced, and the outbox sends again from the mark (decision 0007). At shutdown,
    /// records not yet on Kafka stay on disk, so the flush is short. `linger.ms` is 1 ms, as in
    /// direct mode: a round waits for its batches, and librdkafka's 5 ms cost about 8% more CPU
    /// a webhook in paired runs (docs/benchmarks.md, "Durable mode's linger.ms").
    public static func producerDefaults(_ producer: inout KafkaProducerConfiguration) {
        producer.messageTimeout = .zero
        producer.deliveryStallGrace = .seconds(30)
        producer.flushTimeout = .seconds(2)
        producer.linger = .milliseconds(1)
    }

    /// `okra_bridge_records_parked_total{reason}`.
    private func parkedTotal(_ reason: String) -> Counter {
        parkedCounters.withLock { counters in
            if let counter = counters[reason] { return counter }
            let counter = Counter(label: "okra_bridge_records_parked_total", dimensions: [("reason", reason)], factory: metrics)
            counters[reason] = counter
            return counter
        }
    }

    /// Publishes until graceful shutdown; then gives the round in flight `shutdownGrace` to
    /// finish and shuts the producer down. What is not published stays in the store for the
    /// next start.
    public func run() async throws {
        let current = ProducerSlot(try makeProducer())
        let grace = shutdownGrace
        try await withGracefulShutdownHandler {
            try await self.publish(current)
        } onGracefulShutdown: { [logger] in
            logger.info("shutting down: publishing what is in flight", metadata: ["grace": "\(grace)"])
            Task {
                try? await Task.sleep(for: grace)
                await current.producer.shutdown()
            }
        }
        await current.producer.shutdown()
        let pending = (try? await store.depth().count) ?? -1
        logger.info("publisher stopped; unpublished records stay in the store", metadata: ["outbox.pending": "\(pending)"])
    }

    private func publish(_ current: ProducerSlot) async throws {
        var producer = current.producer
        var policy = PublisherStateMachine(batchSize: batchSize, gather: gather, maxBackoff: maxBackoff)
        var byTopic: [String: Counter] = [:]
        var retries = RetryLines(interval: retryLogInterval)
        var lastProbe: ContinuousClock.Instant?
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            let round: RoundTally
            do {
                round = try await publishRound(producer)
            } catch {
                // The records stay where they are; whatever was delivered is sent again.
                guard case .retry(let backoff, _) = policy.storeFailed() else { continue }
                storeErrors.increment()
                logger.error("the store failed; retrying", metadata: ["error": "\(error)", "backoff": "\(backoff)"])
                try? await Task.sleep(for: backoff)
                continue
            }
            for (topic, count) in round.publishedByTopic {
                let counter = byTopic[topic] ?? Counter(label: "okra_bridge_events_published_total", dimensions: [("topic", topic)], factory: metrics)
                byTopic[topic] = counter
                counter.increment(by: count)
            }
            switch policy.roundEnded(round) {
            case .next:
                continue
            case .waitForRecords:
                await store.waitForNewRecords(timeout: idlePoll)
                if let health, health.status.state == .failing, producer.fatalError == nil,
                   lastProbe.map({ ContinuousClock.now - $0 >= .seconds(5) }) ?? true {
                    lastProbe = .now
                    if await producer.brokersReachable(timeout: .seconds(1)) { health.reachable() }
                }
            case .gather(let pause):
                try? await Task.sleep(for: pause)
            case .retry(let backoff, let replaceProducer):
                failures.increment(by: round.failed)
                if replaceProducer {
                    retries.replaced(fatal: round.fatal)
                    await producer.shutdown()
                    recreations.increment()
                    // A broken configuration throws here and ends the service: nothing is lost.
                    producer = try makeProducer()
                    current.producer = producer
                }
                if let line = retries.failedRound(now: .now) {
                    // At most one line per interval: an outage retries every few seconds.
                    logger.notice("Kafka delivery failing; retrying from the oldest unpublished record", metadata: [
                        "outbox.failed": "\(round.failed)", "outbox.delivered": "\(round.delivered)", "backoff": "\(backoff)",
                        "outbox.failed_rounds_since_last_line": "\(line.rounds)", "producer.replaced_since_last_line": "\(line.replaced)",
                        "producer.replaced_after_fatal_since_last_line": "\(line.afterFatal)",
                        "error": "\(round.firstError.map { "\($0)" } ?? "")",
                    ])
                }
                try? await Task.sleep(for: backoff)
            }
        }
    }

    /// The producer in use, shared with the shutdown handler.
    final class ProducerSlot: Sendable {
        private let slot: Mutex<KafkaProducer>
        init(_ producer: KafkaProducer) { slot = Mutex(producer) }
        var producer: KafkaProducer {
            get { slot.withLock { $0 } }
            set { slot.withLock { $0 = newValue } }
        }
    }

    /// The `kafka delivery` span of a record in a trace, started when it was sent; nil for a
    /// record without a `traceparent` header.
    private func deliverySpan(_ record: OutboxStore.PendingRecord, at start: DefaultTracerClock.Instant) -> EventSpan? {
        guard let trace = TraceContext(headers: record.headers),
              let span = tracing.start("kafka delivery", kind: .producer, parent: trace, at: start) else { return nil }
        span.span.attributes["messaging.system"] = "kafka"
        span.span.attributes["messaging.destination.name"] = record.topic
        span.span.attributes["messaging.operation.type"] = "send"
        if let id = record.eventID { span.span.attributes["okra.event.id"] = id }
        return span
    }

    /// Sends one batch of the oldest unpublished records and moves the publish mark over the
    /// delivered and parked ones that follow it without a gap (``RoundTally``).
    func publishRound(_ producer: KafkaProducer) async throws -> RoundTally {
        var tally = RoundTally()
        // On a full volume every mark must fit the little space there is: small rounds.
        let full = store.volumeIsFull
        let batch = try await store.pending(after: store.publishedThrough, limit: full ? min(batchSize, 50) : batchSize,
                                            maxBytes: full ? min(batchBytes, 64 << 10) : batchBytes)
        guard !batch.isEmpty else { return tally }
        var sent: [Result<KafkaDelivery, KafkaError>] = []
        sent.reserveCapacity(batch.count)
        // With tracing on, when each record was handed to the producer: its span's start.
        var sentAt: [DefaultTracerClock.Instant] = []
        if tracing.isOn { sentAt.reserveCapacity(batch.count) }
        for record in batch {
            if tracing.isOn { sentAt.append(DefaultTracerClock.now) }
            do {
                sent.append(.success(try producer.send(record)))
                tally.enqueued()
            } catch {
                sent.append(.failure(error))
                // Queue full, fatal, shutting down: stop here, keep order. Refused for good
                // (too large, a bad topic): it will be parked, the rest go on.
                if error.isRetriable { break }
            }
        }
        var judged = false
        for (index, (record, outcome)) in zip(batch, sent).enumerated() {
            let span = tracing.isOn ? deliverySpan(record, at: sentAt[index]) : nil
            defer { span?.span.end() }
            do {
                _ = try await outcome.get().result()
                tally.delivered(seq: record.seq, topic: record.topic)
                let nowMilliseconds = Int64(Date().timeIntervalSince1970 * 1000)
                publishLatency.recordMilliseconds(max(0, nowMilliseconds - record.createdAtMilliseconds))
            } catch {
                var error = error
                if !tally.hasGap && error.isRetriable && !judged {
                    // The first record that will be sent again: an unclassified code parks it after --park-after.
                    judged = true
                    error = parkAfter.withLock { $0.judge(error, now: .now) }
                }
                span?.span.recordError(error)
                span?.span.setStatus(SpanStatus(code: .error))
                tally.failed(seq: record.seq, error: error)
            }
        }
        if !judged { parkAfter.withLock { $0.cleared() } }
        tally.finish()
        if let mark = tally.mark { try await store.markPublished(through: mark, parking: tally.parking) }
        published.increment(by: tally.published)
        for parking in tally.parking { parked(parking, record: batch.first { $0.seq == parking.seq }) }
        return tally
    }

    /// Counts and logs a record the mark passed as parked, with its event's id and trace id.
    private func parked(_ parking: OutboxStore.Parking, record: OutboxStore.PendingRecord?) {
        parkedTotal(parking.reason).increment()
        var metadata: Logger.Metadata = [
            "event.id": "\(record?.eventID ?? "-")", "topic": "\(record?.topic ?? "-")", "outbox.seq": "\(parking.seq)",
            "reason": "\(parking.reason)", "error": "\(parking.error)",
        ]
        if let trace = record.flatMap({ TraceContext(headers: $0.headers) }) { metadata["trace.id"] = "\(trace.traceID)" }
        logger.error("record parked: Kafka refused it for good; the records after it go on", metadata: metadata)
    }
}
