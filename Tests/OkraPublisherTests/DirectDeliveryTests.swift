import Foundation
import OkraIngest
import OkraKafka
@testable import OkraPublisher
import OkraRouting
import Synchronization
import MetricsTestKit
import Testing

/// Direct delivery against librdkafka's in-process mock cluster and an unreachable broker.
@Suite("Direct delivery (mock cluster)")
struct DirectDeliveryTests {
    static func producer(_ configure: (inout KafkaProducerConfiguration) -> Void = { _ in }) -> @Sendable () throws -> KafkaProducer {
        var configuration = KafkaProducerConfiguration(bootstrapServers: "")
        configuration.properties["test.mock.num.brokers"] = "1"
        configuration.linger = .milliseconds(1)
        configure(&configuration)
        let configured = configuration
        return { try KafkaProducer(configuration: configured, logger: .init(label: "test")) }
    }

    static func event(_ topics: [String]) -> RoutedEvent {
        RoutedEvent(id: "okra-direct", records: topics.map {
            RoutedRecord(topic: $0, key: "k", headers: [("idempotency-key", "okra-direct")], value: Array("{}".utf8), routeName: nil)
        }, receivedAt: Date())
    }

    @Test("each mode's producer lingers 1 ms (librdkafka's 5 ms cost about a tenth more CPU a webhook); direct gives a record up after 10 s; the operator's linger.ms wins")
    func producerDefaults() throws {
        var producer = KafkaProducerConfiguration(bootstrapServers: "broker:9092")
        DirectDelivery.producerDefaults(&producer)
        #expect(producer.linger == .milliseconds(1))
        #expect(producer.messageTimeout == .seconds(10) && producer.deliveryStallGrace == .seconds(10))
        // The operator's settings are applied after the mode's.
        try producer.apply(["linger.ms": "5"])
        #expect(producer.linger == .milliseconds(5))
        var durable = KafkaProducerConfiguration(bootstrapServers: "broker:9092")
        OutboxPublisher.producerDefaults(&durable)
        #expect(durable.messageTimeout == .zero && durable.linger == .milliseconds(1), "durable mode lingers 1 ms too, and never gives a record up")
    }

    @Test("an event is accepted once every record was delivered, and the sink is ready while a broker answers")
    func delivers() async throws {
        let direct = try DirectDelivery(makeProducer: Self.producer())
        #expect(try await direct.accept(Self.event(["direct-a", "direct-b"])) == .accepted)
        #expect(await direct.readiness() == SinkReadiness(store: .none, kafka: .ok))
        await direct.producer.shutdown()
    }

    @Test("an unreachable broker fails the event with a delivery error, and readiness says why, in librdkafka's words")
    func unreachable() async throws {
        let health = KafkaHealth(logger: .init(label: "test"), metrics: TestMetrics())
        let direct = try DirectDelivery(makeProducer: {
            var configuration = KafkaProducerConfiguration(bootstrapServers: "127.0.0.1:1")
            configuration.messageTimeout = .milliseconds(500)
            configuration.flushTimeout = .milliseconds(100)
            return try KafkaProducer(configuration: configuration, logger: .init(label: "test"), health: health)
        }, health: health)
        await #expect(throws: KafkaError.self) { _ = try await direct.accept(Self.event(["nowhere"])) }
        let readiness = await direct.readiness()
        #expect(readiness.kafka.state == .failing)
        #expect(["transport", "timeout"].contains(readiness.kafka.kind ?? "-"), "\(readiness.kafka)")
        #expect(readiness.kafka.reason?.isEmpty == false)
        #expect(readiness.problems == ["Kafka is unreachable and delivery is direct"])
        await direct.producer.shutdown()
    }

    @Test("a flood of readiness probes shares one broker check, and its answer serves for its freshness; then one more check")
    func probesShareOneCheck() async throws {
        let direct = try DirectDelivery(makeProducer: {
            var configuration = KafkaProducerConfiguration(bootstrapServers: "127.0.0.1:1")
            configuration.flushTimeout = .milliseconds(100)
            return try KafkaProducer(configuration: configuration, logger: .init(label: "test"))
        }, readinessFreshness: .seconds(30))
        let answers = await withTaskGroup(of: SinkReadiness.Kafka.self) { group in
            for _ in 0..<200 { group.addTask { await direct.readiness().kafka } }
            return await group.reduce(into: []) { $0.append($1) }
        }
        #expect(answers.allSatisfy { $0.state == .failing && $0.kind == "transport" }, "\(answers.first.map { "\($0)" } ?? "")")
        #expect(answers.count == 200)
        #expect(direct.reachability.checksStarted == 1, "200 probes, one broker check")
        #expect(await direct.readiness().kafka.state == .failing)
        #expect(direct.reachability.checksStarted == 1, "still fresh")
        await direct.producer.shutdown()
    }

    @Test("a shared check's answer expires after its freshness, and the next caller starts one check")
    func sharedCheckExpires() async throws {
        let calls = Mutex(0)
        let check = SharedCheck(freshFor: .milliseconds(200)) {
            calls.withLock { $0 += 1 }
            try? await Task.sleep(for: .milliseconds(50))
            return true
        }
        async let a = check.value()
        async let b = check.value()
        #expect(await [a, b] == [true, true])
        #expect(calls.withLock { $0 } == 1)
        try await Task.sleep(for: .milliseconds(300))
        #expect(await check.value())
        #expect(calls.withLock { $0 } == 2)
    }
}
