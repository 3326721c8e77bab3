import Foundation
import OkraIngest
import OkraKafka
import OkraPublisher
import OkraRouting
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

    @Test("an event is accepted once every record was delivered, and the sink is ready while a broker answers")
    func delivers() async throws {
        let direct = try DirectDelivery(makeProducer: Self.producer())
        #expect(try await direct.accept(Self.event(["direct-a", "direct-b"])) == .accepted)
        #expect(await direct.readiness() == SinkReadiness(store: .none, kafka: .reachable))
        await direct.producer.shutdown()
    }

    @Test("an unreachable broker fails the event with a delivery error, and readiness says why")
    func unreachable() async throws {
        let direct = try DirectDelivery(makeProducer: {
            var configuration = KafkaProducerConfiguration(bootstrapServers: "127.0.0.1:1")
            configuration.messageTimeout = .milliseconds(500)
            configuration.flushTimeout = .milliseconds(100)
            return try KafkaProducer(configuration: configuration, logger: .init(label: "test"))
        })
        await #expect(throws: KafkaError.self) { _ = try await direct.accept(Self.event(["nowhere"])) }
        let readiness = await direct.readiness()
        #expect(readiness.kafka == .unreachable)
        #expect(!readiness.problems.isEmpty)
        await direct.producer.shutdown()
    }
}
