import Foundation
import Logging
import OkraPublisher
import OkraStore
import OkraKafka
import OkraRouting
import Testing

/// The durable path's second half against the real broker: outbox rows become Kafka records.
@Suite("Outbox publisher (real broker)", .enabled(if: DevBroker.enabled), .serialized)
struct OutboxPublisherTests {
    static func storeDirectory() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("okra-outbox-\(UUID().uuidString)").path
    }

    static func fill(_ store: OutboxStore, topics: [String], events: Int, start: Int = 0) async throws {
        for index in start..<(start + events) {
            let record = RoutedRecord(topic: topics[index % topics.count], key: "key-\(index % 7)",
                                      headers: [("idempotency-key", "okra-\(index)")], value: Array(#"{"n":\#(index)}"#.utf8), routeName: nil)
            #expect(try await store.accept(eventID: "okra-\(index)", records: [record], receivedAt: Date()) == .accepted)
        }
    }

    static func waitUntilDrained(_ store: OutboxStore, timeout: Duration) async throws -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if try await store.depth().count == 0 { return true }
            try await Task.sleep(for: .milliseconds(50))
        }
        return try await store.depth().count == 0
    }

    static func consumed(_ topics: [String], bootstrap: String, expected: Int) async throws -> [KafkaConsumerRecord] {
        var all: [KafkaConsumerRecord] = []
        for topic in topics {
            all += try await DevBroker.consumeAll(topic: topic, bootstrap: bootstrap, count: expected / topics.count + 1, idle: .seconds(5))
        }
        return all
    }

    @Test("every stored record is published once, with its key and headers, and marked published")
    func drainsToKafka() async throws {
        let bootstrap = try await DevBroker.bootstrap()
        let topics = (0..<3).map { DevBroker.freshTopic("outbox-\($0)") }
        let admin = try KafkaAdmin(bootstrapServers: bootstrap, logger: DevBroker.quietLogger)
        for topic in topics { try await admin.createTopic(topic, partitions: 4) }
        let directory = Self.storeDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = try OutboxStore(directory: directory)
        try await Self.fill(store, topics: topics, events: 600)

        let publisher = OutboxPublisher(store: store, makeProducer: {
            try KafkaProducer(configuration: KafkaProducerConfiguration(bootstrapServers: bootstrap), logger: DevBroker.quietLogger)
        }, logger: DevBroker.quietLogger, batchSize: 250)
        let task = Task { try await publisher.run() }
        #expect(try await Self.waitUntilDrained(store, timeout: .seconds(30)))
        task.cancel()
        _ = try? await task.value

        let records = try await Self.consumed(topics, bootstrap: bootstrap, expected: 600)
        #expect(records.count == 600)
        let values = Set(records.map { String(decoding: $0.value, as: UTF8.self) })
        #expect(values == Set((0..<600).map { #"{"n":\#($0)}"# }))
        for record in records {
            let n = Int(String(decoding: record.value, as: UTF8.self).dropFirst(5).dropLast())!
            #expect(record.key == Array("key-\(n % 7)".utf8))
            #expect(record.header("idempotency-key")?.stringValue == "okra-\(n)")
        }
    }

    @Test("while the broker is away records wait on disk; when a broker is back every one arrives")
    func ridesOutAnOutage() async throws {
        _ = try await DevBroker.bootstrap()
        try await PrivateBroker.withBroker { broker, bootstrap in
            try await broker.stop()
            let topics = [DevBroker.freshTopic("outage")]
            let directory = Self.storeDirectory()
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let store = try OutboxStore(directory: directory)
            var configuration = KafkaProducerConfiguration(bootstrapServers: bootstrap)
            configuration.messageTimeout = .seconds(3)
            configuration.flushTimeout = .milliseconds(500)
            let producerConfiguration = configuration
            let publisher = OutboxPublisher(store: store, makeProducer: {
                try KafkaProducer(configuration: producerConfiguration, logger: DevBroker.quietLogger)
            }, logger: DevBroker.quietLogger, batchSize: 100, maxBackoff: .milliseconds(500))
            let task = Task { try await publisher.run() }
            try await Self.fill(store, topics: topics, events: 200)
            try await Task.sleep(for: .seconds(4))
            #expect(try await store.depth().count == 200, "nothing is marked published while no broker is there")

            try await broker.start()
            #expect(try await Self.waitUntilDrained(store, timeout: .seconds(60)))
            task.cancel()
            _ = try? await task.value
            let records = try await Self.consumed(topics, bootstrap: bootstrap, expected: 200)
            let values = Set(records.map { String(decoding: $0.value, as: UTF8.self) })
            #expect(values == Set((0..<200).map { #"{"n":\#($0)}"# }), "every stored record arrived (duplicates allowed)")
        }
    }

    @Test("a record over the size limit between small ones: the small ones are on Kafka within seconds, the big one is parked")
    func oversizedIsParked() async throws {
        let bootstrap = try await DevBroker.bootstrap()
        let topic = DevBroker.freshTopic("parking")
        let directory = Self.storeDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = try OutboxStore(directory: directory)
        func record(_ value: String) -> RoutedRecord {
            RoutedRecord(topic: topic, key: "k", headers: [("idempotency-key", "okra-\(value.prefix(8))")], value: Array(value.utf8), routeName: nil)
        }
        _ = try await store.accept(eventID: "okra-before", records: [record("before")], receivedAt: Date())
        _ = try await store.accept(eventID: "okra-big", records: [record(String(repeating: "b", count: 30_000))], receivedAt: Date())
        _ = try await store.accept(eventID: "okra-after", records: [record("after")], receivedAt: Date())
        var configuration = KafkaProducerConfiguration(bootstrapServers: bootstrap)
        configuration.maxMessageBytes = 20_000
        let configured = configuration
        let publisher = OutboxPublisher(store: store, makeProducer: { try KafkaProducer(configuration: configured, logger: DevBroker.quietLogger) },
                                        logger: DevBroker.quietLogger)
        let task = Task { try await publisher.run() }
        #expect(try await Self.waitUntilDrained(store, timeout: .seconds(10)), "nothing is stuck behind the big record")
        task.cancel()
        _ = try? await task.value
        let values = try await DevBroker.consumeAll(topic: topic, bootstrap: bootstrap, count: 2, idle: .seconds(5)).map { String(decoding: $0.value, as: UTF8.self) }
        #expect(values == ["before", "after"])
        #expect(try await store.parked().map(\.record.eventID) == ["okra-big"])
        #expect(await DurableSink(store: store).readiness().parked == 1)
    }
}
