import Foundation
import GRDB
import Logging
import MetricsTestKit
import OkraRouting
@testable import OkraStore
import Synchronization
import Testing

@testable import OkraKafka
@testable import OkraPublisher

/// The outbox publisher with a real SQLite file and librdkafka's in-process mock cluster:
/// refusals for good are parked and the rest goes on; store errors are retried, never fatal.
@Suite("Outbox publisher (mock cluster)")
struct OutboxPublisherMockClusterTests {
    /// A store in a folder of its own, removed when the test ends.
    final class Folder: Sendable {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("okra-publisher-\(UUID().uuidString)").path
        deinit { try? FileManager.default.removeItem(atPath: path) }
    }

    /// Producers on the mock cluster; the latest one is kept for fault injection.
    final class Producers: Sendable {
        let latest = Mutex<KafkaProducer?>(nil)
        let made = Mutex(0)
        /// A broker error every new producer's mock cluster answers Produce requests with (a
        /// lasting refusal survives the producer's replacement, as on a real cluster).
        let refuseWith = Mutex<Int32?>(nil)
        let configuration: KafkaProducerConfiguration
        let health: KafkaHealth?

        init(health: KafkaHealth? = nil, _ configure: (inout KafkaProducerConfiguration) -> Void = { _ in }) {
            self.health = health
            var configuration = KafkaProducerConfiguration(bootstrapServers: "")
            configuration.properties["test.mock.num.brokers"] = "1"
            configuration.linger = .milliseconds(1)
            configuration.flushTimeout = .milliseconds(200)
            configure(&configuration)
            self.configuration = configuration
        }

        func make() throws -> KafkaProducer {
            let producer = try KafkaProducer(configuration: configuration, logger: Self.quiet, health: health)
            if let code = refuseWith.withLock({ $0 }) { _ = producer.failNextProduceRequestsForTesting(1_000_000, brokerError: code) }
            latest.withLock { $0 = producer }
            made.withLock { $0 += 1 }
            return producer
        }

        static var quiet: Logger {
            var logger = Logger(label: "publisher-test")
            logger.logLevel = .critical
            return logger
        }
    }

    static func record(_ topic: String, _ value: String) -> RoutedRecord {
        RoutedRecord(topic: topic, key: "k", headers: [("idempotency-key", value)], value: Array(value.utf8), routeName: nil)
    }

    static func eventually(_ timeout: Duration = .seconds(20), _ condition: @Sendable () async throws -> Bool) async rethrows -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if try await condition() { return true }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return try await condition()
    }

    static func publisher(_ store: OutboxStore, _ producers: Producers, metrics: TestMetrics = TestMetrics(),
                          parkAfter: Duration = .seconds(600)) -> OutboxPublisher {
        OutboxPublisher(store: store, makeProducer: { try producers.make() }, logger: Producers.quiet,
                        batchSize: 100, idlePoll: .milliseconds(50), maxBackoff: .milliseconds(200), shutdownGrace: .milliseconds(200),
                        parkAfter: parkAfter, metrics: metrics)
    }

    @Test("a code the bridge does not classify is retried, in order, and parked with its code only after --park-after; a shorter outage of it parks nothing")
    func unclassifiedCodeParkedAfterLimit() async throws {
        let folder = Folder()
        let store = try OutboxStore(directory: folder.path)
        let producers = Producers()
        let task = Task { try await Self.publisher(store, producers, parkAfter: .seconds(2)).run() }
        defer { task.cancel() }
        _ = try await store.accept(eventID: "okra-first", records: [Self.record("t", "first")], receivedAt: Date())
        #expect(try await Self.eventually { try await store.depth().count == 0 })
        let producer = try #require(producers.latest.withLock { $0 })

        // A few refusals with POLICY_VIOLATION (44), which the bridge does not list: retried, delivered.
        #expect(producer.failNextProduceRequestsForTesting(2, brokerError: 44))
        _ = try await store.accept(eventID: "okra-passing", records: [Self.record("u", "passing")], receivedAt: Date())
        #expect(try await Self.eventually { try await store.depth().count == 0 })
        #expect(await store.parkedCount == 0, "a passing unclassified error parks nothing")

        // Refused for longer than --park-after: parked with its code, and the record after it goes on.
        producers.refuseWith.withLock { $0 = 44 }
        let refusing = try #require(producers.latest.withLock { $0 })
        #expect(refusing.failNextProduceRequestsForTesting(1_000_000, brokerError: 44))
        let started = ContinuousClock.now
        _ = try await store.accept(eventID: "okra-lasting", records: [Self.record("v", "lasting")], receivedAt: Date())
        try await Task.sleep(for: .milliseconds(800))
        #expect(await store.parkedCount == 0, "not parked at once")
        #expect(await Self.eventually { await store.parkedCount == 1 }, "parked once --park-after passed")
        #expect(ContinuousClock.now - started >= .seconds(2))
        let parked = try #require(try await store.parked().first)
        #expect(parked.record.eventID == "okra-lasting")
        #expect(parked.reason == "unclassified")
        #expect(parked.error.contains("POLICY_VIOLATION") && parked.error.contains("does not classify"), "\(parked.error)")
        // The same code still refusing: the next record is parked without a wait of its own.
        // (Parked within 1.5 s, less than --park-after's 2 s: no second wait. A wall-clock bound on
        // top of it only failed a loaded machine, by 17 ms.)
        _ = try await store.accept(eventID: "okra-next", records: [Self.record("v", "next")], receivedAt: Date())
        #expect(await Self.eventually(.seconds(1.5)) { await store.parkedCount == 2 }, "a run of refused records waits once, not once each")
        // What follows goes on once the refusals end.
        producers.refuseWith.withLock { $0 = nil }
        _ = try await store.accept(eventID: "okra-after", records: [Self.record("w", "after")], receivedAt: Date())
        #expect(try await Self.eventually { try await store.depth().count == 0 })
    }

    @Test("a record too large to enqueue is parked in its round; the records around it are delivered")
    func tooLargeIsParked() async throws {
        let folder = Folder()
        let store = try OutboxStore(directory: folder.path)
        let producers = Producers { $0.properties["message.max.bytes"] = "10000" }
        _ = try await store.accept(eventID: "okra-small-1", records: [Self.record("t", "small-1")], receivedAt: Date())
        _ = try await store.accept(eventID: "okra-big", records: [Self.record("t", String(repeating: "x", count: 20_000))], receivedAt: Date())
        _ = try await store.accept(eventID: "okra-small-2", records: [Self.record("t", "small-2")], receivedAt: Date())
        let metrics = TestMetrics()
        let task = Task { try await Self.publisher(store, producers, metrics: metrics).run() }
        defer { task.cancel() }
        #expect(try await Self.eventually { try await store.depth().count == 0 }, "nothing stays stuck behind the big record")
        let parked = try await store.parked()
        #expect(parked.map(\.record.eventID) == ["okra-big"])
        #expect(parked.first?.reason == "message_too_large")
        #expect(await store.parkedCount == 1)
        #expect(try metrics.expectCounter("okra_bridge_records_parked_total", [("reason", "message_too_large")]).totalValue == 1)
        // The store's upkeep (not the publisher) keeps the gauges.
        await StoreUpkeep(store: store, logger: Logger(label: "upkeep"), metrics: metrics).recordGauges()
        #expect((try? metrics.expectGauge("okra_bridge_parked_records").lastValue) == 1, "the gauge shows the parked record")
        // The store's and the volume's sizes, for the alerts on a filling volume.
        let storeBytes = try metrics.expectGauge("okra_bridge_store_bytes").lastValue ?? 0
        #expect(storeBytes >= 20_000 && storeBytes == Double(store.fileBytes), "the parked record's 20 kB are in the file")
        #expect((try metrics.expectGauge("okra_bridge_event_log_bytes").lastValue ?? 0) == Double(await store.eventLogBytes))
        let used = try metrics.expectGauge("okra_bridge_store_volume_used_bytes").lastValue ?? 0
        let free = try metrics.expectGauge("okra_bridge_store_volume_free_bytes").lastValue ?? 0
        #expect(used > 0 && free > 0 && used >= storeBytes)
        #expect(await DurableSink(store: store).readiness().parked == 1)
    }

    @Test("a record whose delivery Kafka refuses for good is parked, and the records after it are delivered")
    func refusedDeliveryIsParked() async throws {
        let folder = Folder()
        let store = try OutboxStore(directory: folder.path)
        let producers = Producers()
        let task = Task { try await Self.publisher(store, producers).run() }
        defer { task.cancel() }
        _ = try await store.accept(eventID: "okra-first", records: [Self.record("t", "first")], receivedAt: Date())
        #expect(try await Self.eventually { try await store.depth().count == 0 })

        let producer = try #require(producers.latest.withLock { $0 })
        #expect(producer.refuseNextProduceRequestsForTesting(1))
        _ = try await store.accept(eventID: "okra-refused", records: [Self.record("t", "refused")], receivedAt: Date())
        #expect(await Self.eventually { await store.parkedCount == 1 }, "the refused record is parked")
        // librdkafka remembers a topic's refusal until its metadata changes, so what follows goes to
        // another topic, as the records of other products would.
        _ = try await store.accept(eventID: "okra-after", records: [Self.record("other", "after")], receivedAt: Date())
        #expect(try await Self.eventually { try await store.depth().count == 0 }, "the record after it is delivered")
        let parked = try await store.parked()
        #expect(parked.map(\.record.eventID) == ["okra-refused"], "\(parked.map(\.error))")
        #expect(parked.first?.reason == "topic_authorization")
    }

    @Test("a cluster-authorization refusal (an ACL) is the connection's failure: nothing is parked, records wait in order and go once it is lifted; a topic-authorization refusal parks")
    func clusterAuthorizationKeepsRecordsPending() async throws {
        let folder = Folder()
        let store = try OutboxStore(directory: folder.path)
        let metrics = TestMetrics()
        let health = KafkaHealth(logger: Producers.quiet, metrics: metrics)
        let producers = Producers(health: health)
        let publisher = OutboxPublisher(store: store, makeProducer: { try producers.make() }, logger: Producers.quiet,
                                        batchSize: 100, idlePoll: .milliseconds(50), maxBackoff: .milliseconds(200), shutdownGrace: .milliseconds(200),
                                        health: health, metrics: metrics)
        // CLUSTER_AUTHORIZATION_FAILED (31) on every Produce request, for every producer made.
        producers.refuseWith.withLock { $0 = 31 }
        let task = Task { try await publisher.run() }
        defer { task.cancel() }
        for index in 0..<5 {
            _ = try await store.accept(eventID: "okra-acl-\(index)", records: [Self.record("acl", "acl-\(index)")], receivedAt: Date())
        }
        #expect(await Self.eventually { (try? metrics.expectCounter("okra_bridge_kafka_errors_total", [("kind", "cluster_authorization")]).totalValue ?? 0) ?? 0 >= 5 })
        try await Task.sleep(for: .seconds(1))
        #expect(await store.parkedCount == 0, "a refusal of the connection parks nothing")
        #expect(try await store.depth().count == 5, "every record waits")
        #expect(health.status.kind == .clusterAuthorization, "\(health.status)")

        producers.refuseWith.withLock { $0 = nil }
        let refusing = try #require(producers.latest.withLock { $0 })
        #expect(refusing.clearRequestErrorsForTesting(apiKey: 0))
        #expect(try await Self.eventually { try await store.depth().count == 0 }, "delivered once the ACL allows it")
        #expect(await store.parkedCount == 0)
        #expect(health.status.state == .ok)

        // A refusal of the topic itself parks the record, and what follows goes on.
        let producer = try #require(producers.latest.withLock { $0 })
        #expect(producer.refuseNextProduceRequestsForTesting(1))
        _ = try await store.accept(eventID: "okra-topic-acl", records: [Self.record("acl-topic", "topic")], receivedAt: Date())
        #expect(await Self.eventually { await store.parkedCount == 1 })
        #expect(try await store.parked().first?.reason == "topic_authorization")
        #expect(try metrics.expectCounter("okra_bridge_kafka_errors_total", [("kind", "topic_authorization")]).totalValue >= 1)
    }

    @Test("with nothing to send, a failing connection is looked at again: a broker's answer turns the state ok without a delivery")
    func idleProbeClearsAnOutage() async throws {
        let folder = Folder()
        let store = try OutboxStore(directory: folder.path)
        let health = KafkaHealth(logger: Producers.quiet, metrics: TestMetrics())
        let producers = Producers(health: health)
        let publisher = OutboxPublisher(store: store, makeProducer: { try producers.make() }, logger: Producers.quiet,
                                        batchSize: 100, idlePoll: .milliseconds(50), maxBackoff: .milliseconds(200), shutdownGrace: .milliseconds(200),
                                        health: health)
        let task = Task { try await publisher.run() }
        defer { task.cancel() }
        // An outage that ended while the outbox was empty: no delivery will say so.
        health.failed(KafkaError.forTesting(librdkafkaCode: -195 /* _TRANSPORT */, reason: "broker went away"))
        #expect(health.status.state == .failing)
        // A probe every 5 s with a 1 s answer time: on a loaded machine the first few can miss.
        #expect(await Self.eventually(.seconds(40)) { health.status.state == .ok }, "\(health.status)")
        #expect(try await store.depth().count == 0, "nothing was sent to find out")
    }

    @Test("a store that is locked past its busy timeout is retried with backoff; the publisher keeps running and drains")
    func storeErrorsAreRetried() async throws {
        let folder = Folder()
        let store = try OutboxStore(directory: folder.path, busyTimeout: 0.1)
        for index in 0..<20 {
            _ = try await store.accept(eventID: "okra-busy-\(index)", records: [Self.record("t", "busy-\(index)")], receivedAt: Date())
        }
        // Another connection holds the write lock for a while, so the publisher's marks fail.
        let locker = try DatabaseQueue(path: folder.path + "/okra-bridge.sqlite")
        let locked = Mutex(false)
        let lock = Task.detached {
            try locker.writeWithoutTransaction { db in
                try db.execute(sql: "BEGIN EXCLUSIVE")
                locked.withLock { $0 = true }
                Thread.sleep(forTimeInterval: 1.5)
                try db.execute(sql: "COMMIT")
            }
        }
        #expect(await Self.eventually { locked.withLock { $0 } })
        let task = Task { try await Self.publisher(store, producers: Producers()).run() }
        defer { task.cancel() }
        try await lock.value
        #expect(try await Self.eventually { try await store.depth().count == 0 }, "drained once the lock is gone")
        task.cancel()
        await #expect(throws: Never.self) { try await task.value }
    }
}

extension OutboxPublisherMockClusterTests {
    static func publisher(_ store: OutboxStore, producers: Producers) -> OutboxPublisher { publisher(store, producers) }
}

/// Order per key through failures: a broker that goes away mid-stream and a producer that turns
/// fatal, with the durable configuration (no delivery timeout, a short stall limit).
@Suite("Outbox publisher order per key (mock cluster)")
struct PublisherOrderTests {
    @Test("one key, failures injected mid-stream, then recovery: the first copy of each record comes in the order the records were stored")
    func firstCopiesInOrder() async throws {
        let folder = OutboxPublisherMockClusterTests.Folder()
        let store = try OutboxStore(directory: folder.path)
        let owner = try KafkaProducer(configuration: OutboxPublisherMockClusterTests.Producers().configuration,
                                      logger: OutboxPublisherMockClusterTests.Producers.quiet)
        let bootstrap = try #require(owner.mockClusterBootstrapsForTesting())
        let producers = OutboxPublisherMockClusterTests.Producers {
            $0.bootstrapServers = bootstrap
            $0.properties.removeValue(forKey: "test.mock.num.brokers")
            $0.messageTimeout = .zero
            $0.deliveryStallGrace = .seconds(1)
            $0.properties["reconnect.backoff.ms"] = "20"
            $0.properties["reconnect.backoff.max.ms"] = "100"
        }
        let total = 600
        for index in 0..<total {
            _ = try await store.accept(eventID: "okra-order-\(index)", records: [
                RoutedRecord(topic: "order", key: "one-key", headers: [], value: Array("\(index)".utf8), routeName: nil),
            ], receivedAt: Date())
        }
        let publisher = OutboxPublisher(store: store, makeProducer: { try producers.make() }, logger: OutboxPublisherMockClusterTests.Producers.quiet,
                                        batchSize: 50, idlePoll: .milliseconds(50), maxBackoff: .milliseconds(200), shutdownGrace: .milliseconds(200))
        // The broker is away when the publisher starts: its first rounds stall, the producer is
        // replaced (the stall limit is 1 s) and the outbox sends again from the mark.
        #expect(owner.setMockBrokerForTesting(up: false))
        let task = Task { try await publisher.run() }
        defer { task.cancel() }
        #expect(await OutboxPublisherMockClusterTests.eventually { producers.made.withLock { $0 } >= 2 }, "the stalled producer was replaced")
        #expect(owner.setMockBrokerForTesting(up: true))
        // Then, mid-stream, Produce requests are refused with UNKNOWN_PRODUCER_ID.
        #expect(await OutboxPublisherMockClusterTests.eventually { (try? await store.depth().count).map { $0 < total } ?? false })
        #expect(owner.failNextProduceRequestsForTesting(3))
        #expect(try await OutboxPublisherMockClusterTests.eventually(.seconds(60)) { try await store.depth().count == 0 }, "drained")

        let consumer = try KafkaConsumer(configuration: KafkaConsumerConfiguration(bootstrapServers: bootstrap), logger: OutboxPublisherMockClusterTests.Producers.quiet)
        try await consumer.assignAllPartitions(of: "order")
        var firstCopies: [Int] = []
        var seen: Set<Int> = []
        var copies = 0
        let deadline = ContinuousClock.now + .seconds(30)
        while seen.count < total && ContinuousClock.now < deadline {
            for record in try await consumer.poll(maxRecords: 1000, timeout: .milliseconds(200)) {
                copies += 1
                let value = Int(String(decoding: record.value, as: UTF8.self))!
                if seen.insert(value).inserted { firstCopies.append(value) }
            }
        }
        await consumer.close()
        await owner.shutdown()
        #expect(firstCopies == Array(0..<total), "first copies out of order or missing (\(copies) copies read)")
    }
}
