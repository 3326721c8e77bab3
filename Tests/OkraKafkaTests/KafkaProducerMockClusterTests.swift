import Foundation
import Logging
import OkraTestSupport
import Synchronization
import Testing

@testable import OkraKafka

/// Producer behaviour against librdkafka's in-process mock cluster and unreachable brokers.
@Suite("KafkaProducer (mock cluster)")
struct KafkaProducerMockClusterTests {
    static func mockConfiguration() -> KafkaProducerConfiguration {
        var configuration = KafkaProducerConfiguration(bootstrapServers: "")
        configuration.properties["test.mock.num.brokers"] = "1"
        configuration.linger = .milliseconds(1)
        return configuration
    }

    /// A configuration pointing at a port nothing listens on.
    static func unreachableConfiguration(messageTimeout: Duration) -> KafkaProducerConfiguration {
        var configuration = KafkaProducerConfiguration(bootstrapServers: "127.0.0.1:1")
        configuration.messageTimeout = messageTimeout
        configuration.properties["reconnect.backoff.ms"] = "50"
        return configuration
    }

    @Test("every message gets a delivery report with its own offset, in send order per partition")
    func deliveryReportsCarryOffsets() async throws {
        let producer = try KafkaProducer(configuration: Self.mockConfiguration(), logger: Logger(label: "test"))
        var deliveries: [KafkaDelivery] = []
        for index in 0..<500 {
            deliveries.append(try producer.send(
                topic: "mock-offsets", key: Array("key-\(index % 7)".utf8), value: Array("value-\(index)".utf8),
                headers: [KafkaHeader("idx", "\(index)")]
            ))
        }
        var reports: [KafkaDeliveryReport] = []
        for delivery in deliveries { reports.append(try await delivery.result()) }
        await producer.shutdown()

        #expect(reports.allSatisfy { $0.topic == "mock-offsets" })
        // Within each partition the offsets are 0, 1, 2... in the order the messages were sent.
        let byPartition = Dictionary(grouping: reports, by: \.partition)
        for (_, partitionReports) in byPartition {
            #expect(partitionReports.map(\.offset) == Array(0..<Int64(partitionReports.count)))
        }
        // The same key always lands on the same partition.
        for residue in 0..<7 {
            let partitions = Set(stride(from: residue, to: 500, by: 7).map { reports[$0].partition })
            #expect(partitions.count == 1)
        }
        #expect(producer.inFlightCount == 0)
    }

    @Test("several waiters per delivery, before and after the report, across result slabs, all get the same result")
    func severalWaitersGetTheSameResult() async throws {
        let producer = try KafkaProducer(configuration: Self.mockConfiguration(), logger: Logger(label: "test"))
        // More than two slabs' worth, over two topics, so slab boundaries and topics interleave.
        let count = DeliverySlab.capacity * 2 + 9
        var deliveries: [(topic: String, delivery: KafkaDelivery)] = []
        for index in 0..<count {
            let topic = index % 3 == 0 ? "mock-waiters-a" : "mock-waiters-b"
            deliveries.append((topic, try producer.send(topic: topic, key: nil, value: Array("v\(index)".utf8))))
        }
        // Three concurrent waiters per delivery, most of them registered before the report.
        let early = try await withThrowingTaskGroup(of: (Int, [KafkaDeliveryReport]).self) { group in
            for (index, entry) in deliveries.enumerated() {
                group.addTask {
                    async let a = entry.delivery.result()
                    async let b = entry.delivery.result()
                    async let c = entry.delivery.result()
                    return (index, try await [a, b, c])
                }
            }
            var results = [[KafkaDeliveryReport]](repeating: [], count: count)
            for try await (index, reports) in group { results[index] = reports }
            return results
        }
        for (index, entry) in deliveries.enumerated() {
            let late = try await entry.delivery.result()
            #expect(early[index].allSatisfy { $0 == late }, "delivery \(index)")
            #expect(late.topic == entry.topic)
        }
        // Every report is a distinct (topic, partition, offset).
        let distinct = Set(early.map { "\($0[0].topic)/\($0[0].partition)/\($0[0].offset)" })
        #expect(distinct.count == count)
        await producer.shutdown()
    }

    @Test("publish awaits the delivery report")
    func publishReturnsReport() async throws {
        let producer = try KafkaProducer(configuration: Self.mockConfiguration(), logger: Logger(label: "test"))
        let first = try await producer.publish(topic: "mock-publish", key: nil, value: Array("a".utf8))
        let second = try await producer.publish(topic: "mock-publish", key: nil, value: Array("b".utf8))
        await producer.shutdown()
        #expect(first.topic == "mock-publish")
        #expect(first.offset >= 0 && second.offset >= 0)
        #expect(first != second)
    }

    @Test("an unreachable broker yields a typed, retriable delivery error within message.timeout.ms")
    func unreachableBrokerTimesOut() async throws {
        let producer = try KafkaProducer(
            configuration: Self.unreachableConfiguration(messageTimeout: .milliseconds(800)),
            logger: Logger(label: "test")
        )
        let started = ContinuousClock.now
        let error = await #expect(throws: KafkaError.self) {
            _ = try await producer.publish(topic: "nowhere", key: nil, value: Array("x".utf8))
        }
        let elapsed = ContinuousClock.now - started
        await producer.shutdown()
        #expect(error?.code == .messageTimedOut)
        #expect(error?.isRetriable == true)
        #expect(error?.librdkafkaName == "_MSG_TIMED_OUT")
        // Bounded by message.timeout.ms plus librdkafka's timeout scan interval (1 s), not by
        // minutes; the margin is for a loaded machine (the whole suite runs in parallel).
        #expect(elapsed < .seconds(30))
    }

    @Test("an unknown property is a configuration error naming the property")
    func unknownPropertyIsNamed() throws {
        var configuration = Self.mockConfiguration()
        configuration.properties["no.such.property"] = "1"
        let error = #expect(throws: KafkaError.self) {
            _ = try KafkaProducer(configuration: configuration, logger: Logger(label: "test"))
        }
        #expect(error?.code == .configuration)
        #expect(error?.reason.contains("'no.such.property'") == true)
        #expect(error?.isRetriable == false)
    }

    @Test("an invalid value is a configuration error naming the property")
    func invalidValueIsNamed() throws {
        var configuration = Self.mockConfiguration()
        configuration.acks = "sometimes"
        let error = #expect(throws: KafkaError.self) {
            _ = try KafkaProducer(configuration: configuration, logger: Logger(label: "test"))
        }
        #expect(error?.code == .configuration)
        #expect(error?.reason.contains("'acks'") == true)
    }

    @Test("a rejected property that holds a secret never has its value in the error")
    func secretValueNotEchoed() throws {
        var configuration = Self.mockConfiguration()
        configuration.properties["ssl.keystore.password.typo"] = "hunter2-secret"
        let error = #expect(throws: KafkaError.self) {
            _ = try KafkaProducer(configuration: configuration, logger: Logger(label: "test"))
        }
        #expect(error.map { !"\($0)".contains("hunter2-secret") } == true)
    }

    @Test("shutdown fails pending waiters with a shutdown error instead of hanging")
    func shutdownFailsPendingWaiters() async throws {
        var configuration = Self.unreachableConfiguration(messageTimeout: .seconds(300))
        configuration.flushTimeout = .milliseconds(300)
        let producer = try KafkaProducer(configuration: configuration, logger: Logger(label: "test"))
        let deliveries = try (0..<20).map { index in
            try producer.send(topic: "nowhere", key: nil, value: Array("\(index)".utf8))
        }
        #expect(producer.inFlightCount == 20)
        await producer.shutdown()
        for delivery in deliveries {
            let error = await #expect(throws: KafkaError.self) { _ = try await delivery.result() }
            #expect(error?.code == .shutdown)
            #expect(error?.isRetriable == true)
        }
        let late = #expect(throws: KafkaError.self) {
            _ = try producer.send(topic: "nowhere", key: nil, value: [1])
        }
        #expect(late?.code == .shutdown)
        // A second shutdown returns at once.
        await producer.shutdown()
    }

    @Test("two shutdowns at once with messages in flight both return; neither waits on the queue the other flushes on")
    func concurrentShutdowns() async throws {
        var configuration = Self.unreachableConfiguration(messageTimeout: .seconds(300))
        configuration.flushTimeout = .milliseconds(300)
        let producer = try KafkaProducer(configuration: configuration, logger: Logger(label: "test"))
        for index in 0..<20 { _ = try producer.send(topic: "nowhere", key: nil, value: Array("\(index)".utf8)) }
        // Unstructured, so a deadlock fails the test instead of hanging it.
        final class Done: Sendable { let count = Mutex(0) }
        let done = Done()
        for _ in 0..<3 {
            Task {
                await producer.shutdown()
                done.count.withLock { $0 += 1 }
            }
        }
        let deadline = ContinuousClock.now + .seconds(20)
        while done.count.withLock({ $0 }) < 3 && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(done.count.withLock { $0 } == 3, "every shutdown call returned")
    }

    @Test("a full local queue is a typed, retriable error at enqueue time")
    func fullQueueIsRetriable() async throws {
        var configuration = Self.unreachableConfiguration(messageTimeout: .seconds(300))
        configuration.maxInFlightMessages = 5
        configuration.flushTimeout = .milliseconds(100)
        let producer = try KafkaProducer(configuration: configuration, logger: Logger(label: "test"))
        for index in 0..<5 {
            _ = try producer.send(topic: "nowhere", key: nil, value: Array("\(index)".utf8))
        }
        let error = #expect(throws: KafkaError.self) {
            _ = try producer.send(topic: "nowhere", key: nil, value: [6])
        }
        #expect(error?.code == .queueFull)
        #expect(error?.isRetriable == true)
        #expect(producer.inFlightCount == 5)
        await producer.shutdown()
    }

    @Test("a fatal error is surfaced: later sends throw it and the owner can recreate the producer")
    func fatalErrorIsSurfaced() async throws {
        let (logger, handler) = CapturingLogHandler.logger()
        let producer = try KafkaProducer(configuration: Self.mockConfiguration(), logger: logger)
        _ = try await producer.publish(topic: "mock-fatal", key: nil, value: [1])
        #expect(producer.fatalError == nil)

        producer.raiseFatalErrorForTesting()
        let deadline = ContinuousClock.now + .seconds(10)
        while producer.fatalError == nil && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(10))
        }
        #expect(producer.fatalError?.code == .fatal)
        #expect(producer.fatalError?.librdkafkaName == "UNKNOWN_PRODUCER_ID")
        let error = #expect(throws: KafkaError.self) {
            _ = try producer.send(topic: "mock-fatal", key: nil, value: [2])
        }
        #expect(error?.code == .fatal)
        #expect(handler.captured.contains { $0.level == .error && $0.message.contains("fatal") })
        await producer.shutdown()

        let replacement = try KafkaProducer(configuration: Self.mockConfiguration(), logger: logger)
        let report = try await replacement.publish(topic: "mock-fatal", key: nil, value: [2])
        #expect(report.offset >= 0)
        await replacement.shutdown()
    }

    @Test("a broker that keeps answering UNKNOWN_PRODUCER_ID yields a retriable error in bounded time, never a hang")
    func lostProducerStateIsBounded() async throws {
        var configuration = Self.mockConfiguration()
        configuration.messageTimeout = .seconds(1)
        configuration.deliveryStallGrace = .seconds(1)
        let producer = try KafkaProducer(configuration: configuration, logger: Logger(label: "test"))
        _ = try await producer.publish(topic: "mock-stall", key: nil, value: [0])
        #expect(producer.failNextProduceRequestsForTesting(100_000))
        let started = ContinuousClock.now
        let error = await #expect(throws: KafkaError.self) {
            _ = try await producer.publish(topic: "mock-stall", key: nil, value: [1])
        }
        // librdkafka either times the message out or raises the fatal error; the stall watch
        // covers the case where it does neither.
        #expect(error?.code == .messageTimedOut || error?.code == .fatal)
        #expect(error?.isRetriable == true)
        #expect(ContinuousClock.now - started < .seconds(30))
        await producer.shutdown()
    }

    @Test("librdkafka's own log lines go through swift-log")
    func librdkafkaLogsRouted() async throws {
        let (logger, handler) = CapturingLogHandler.logger()
        var configuration = Self.unreachableConfiguration(messageTimeout: .milliseconds(500))
        configuration.properties["debug"] = "broker"
        let producer = try KafkaProducer(configuration: configuration, logger: logger)
        _ = try? await producer.publish(topic: "nowhere", key: nil, value: [1])
        await producer.shutdown()
        let fromLibrary = handler.captured.filter { $0.source == "librdkafka" }
        #expect(!fromLibrary.isEmpty)
        #expect(fromLibrary.contains { $0.message.contains("127.0.0.1:1") })
    }
}

/// The stall decision on its own: no sockets, explicit instants.
@Suite("StallWatch")
struct StallWatchTests {
    let start = ContinuousClock.now

    @Test("the same oldest message past the limit is a stall")
    func sameOldestPastLimit() {
        var watch = StallWatch()
        let r1 = watch.observe(oldestPendingID: 7, at: start, limit: .seconds(10))
        #expect(!r1)
        let r2 = watch.observe(oldestPendingID: 7, at: start + .seconds(10), limit: .seconds(10))
        #expect(!r2)
        let r3 = watch.observe(oldestPendingID: 7, at: start + .seconds(11), limit: .seconds(10))
        #expect(r3)
    }

    @Test("progress (a new oldest message) restarts the clock")
    func progressResets() {
        var watch = StallWatch()
        _ = watch.observe(oldestPendingID: 7, at: start, limit: .seconds(10))
        let r4 = watch.observe(oldestPendingID: 8, at: start + .seconds(9), limit: .seconds(10))
        #expect(!r4)
        let r5 = watch.observe(oldestPendingID: 8, at: start + .seconds(18), limit: .seconds(10))
        #expect(!r5)
        let r6 = watch.observe(oldestPendingID: 8, at: start + .seconds(20), limit: .seconds(10))
        #expect(r6)
    }

    @Test("nothing in flight is never a stall, and forgets the previous oldest")
    func idleIsNotStalled() {
        var watch = StallWatch()
        _ = watch.observe(oldestPendingID: 7, at: start, limit: .seconds(10))
        let r7 = watch.observe(oldestPendingID: nil, at: start + .seconds(60), limit: .seconds(10))
        #expect(!r7)
        let r8 = watch.observe(oldestPendingID: 7, at: start + .seconds(61), limit: .seconds(10))
        #expect(!r8)
    }
}
