import Foundation
import Logging
import MetricsTestKit
import OkraTestSupport
import Synchronization
import Testing

@testable import OkraKafka

/// Kafka's failures by kind: which keep records pending (the connection) and which park one
/// record (its topic or size), how they are counted, shown and logged.
@Suite("Kafka error kinds and health")
struct KafkaHealthTests {
    static let codes: [(Int32, KafkaErrorKind)] = [
        (-195 /* _TRANSPORT */, KafkaErrorKind.transport),
        (-187 /* _ALL_BROKERS_DOWN */, .transport),
        (-181 /* _SSL */, .tls),
        (-169 /* _AUTHENTICATION */, .authentication),
        (58 /* SASL_AUTHENTICATION_FAILED */, .authentication),
        (33 /* UNSUPPORTED_SASL_MECHANISM */, .authentication),
        (31 /* CLUSTER_AUTHORIZATION_FAILED */, .clusterAuthorization),
        (-192 /* _MSG_TIMED_OUT */, .timeout),
        (19 /* NOT_ENOUGH_REPLICAS */, .broker),
        (44 /* POLICY_VIOLATION */, .unclassified),
        (29 /* TOPIC_AUTHORIZATION_FAILED */, .topicAuthorization),
        (3 /* UNKNOWN_TOPIC_OR_PART */, .unknownTopic),
        (17 /* TOPIC_EXCEPTION */, .invalidTopic),
        (10 /* MSG_SIZE_TOO_LARGE */, .messageTooLarge),
    ]

    @Test("failures of the connection are retriable and keep records pending; refusals of one record or topic are not", arguments: codes)
    func classification(code: Int32, kind: KafkaErrorKind) {
        let error = KafkaError.forTesting(librdkafkaCode: code)
        #expect(error.kind == kind)
        #expect(error.isRetriable == kind.isConnectionFailure, "\(kind): retriable \(error.isRetriable)")
    }

    @Test("a failed handshake or SASL exchange that librdkafka reports as a transport error is named by the state it failed in")
    func transportErrorsNameTheirCause() {
        let handshake = KafkaError.forTesting(librdkafkaCode: -195 /* _TRANSPORT */, reason: "ssl://127.0.0.1:9/bootstrap: error:0A000086:SSL routines::certificate verify failed (after 2ms in state SSL_HANDSHAKE)")
        #expect(handshake.kind == .tls && handshake.isRetriable)
        let sasl = KafkaError.forTesting(librdkafkaCode: -195 /* _TRANSPORT */, reason: "sasl_ssl://b:9093/1: Disconnected (after 10ms in state AUTH_REQ)")
        #expect(sasl.kind == .authentication)
        let refused = KafkaError.forTesting(librdkafkaCode: -195 /* _TRANSPORT */, reason: "127.0.0.1:1/bootstrap: Connect to ipv4#127.0.0.1:1 failed: Connection refused (after 0ms in state CONNECT)")
        #expect(refused.kind == .transport)
    }

    /// A clock the test moves.
    final class Clock: Sendable {
        private let instant = Mutex(ContinuousClock.now)
        var now: ContinuousClock.Instant { instant.withLock { $0 } }
        func advance(_ duration: Duration) { instant.withLock { $0 += duration } }
    }

    @Test("every kind is counted from 0; each kind is logged at most once a minute with the count since its last line; the state follows the last event")
    func countsLogsAndState() throws {
        let metrics = TestMetrics()
        let (logger, log) = CapturingLogHandler.logger()
        let clock = Clock()
        let health = KafkaHealth(logger: logger, metrics: metrics, now: { clock.now })
        for kind in KafkaErrorKind.allCases {
            #expect(try metrics.expectCounter("okra_bridge_kafka_errors_total", [("kind", kind.rawValue)]).totalValue == 0, "\(kind)")
        }
        #expect(health.status.state == .unknown)

        let tls = KafkaError.forTesting(librdkafkaCode: -181 /* _SSL */, reason: "ssl://127.0.0.1:9/bootstrap: SSL handshake failed: certificate verify failed")
        for _ in 0..<500 { health.failed(tls) }
        #expect(try metrics.expectCounter("okra_bridge_kafka_errors_total", [("kind", "tls")]).totalValue == 500)
        #expect(health.status == KafkaHealth.Status(state: .failing, kind: .tls, reason: tls.reason))
        #expect(log.captured.count == 1, "500 failures within a minute: one line")
        #expect(log.captured.first?.metadata["kafka.errors_since_last_line"] == "1")

        // Another kind has a line of its own; a record refusal does not change the state.
        health.failed(KafkaError.forTesting(librdkafkaCode: 10 /* MSG_SIZE_TOO_LARGE */), count: 3)
        #expect(log.captured.count == 2)
        #expect(health.status.kind == .tls)

        clock.advance(.seconds(59))
        health.failed(tls)
        #expect(log.captured.count == 2, "59 s after the first line: still counted, not logged")
        clock.advance(.seconds(1))
        health.failed(tls)
        #expect(log.captured.count == 3)
        #expect(log.captured.last?.metadata["kafka.errors_since_last_line"] == "501", "the 499 + 1 suppressed, and this one")

        health.succeeded()
        health.succeeded()
        #expect(health.status == KafkaHealth.Status(state: .ok))
        #expect(log.captured.count == 4 && log.captured.last?.message.contains("working again") == true, "the recovery is logged once")
        // A failed TLS handshake or SASL authentication is followed by "all brokers are down":
        // the state keeps naming the cause, while both are counted.
        health.failed(KafkaError.forTesting(librdkafkaCode: -169 /* _AUTHENTICATION */, reason: "SASL authentication error: invalid credentials"))
        health.failed(KafkaError.forTesting(librdkafkaCode: -187 /* _ALL_BROKERS_DOWN */, reason: "1/1 brokers are down"))
        #expect(health.status.kind == .authentication, "\(health.status)")
        #expect(try metrics.expectCounter("okra_bridge_kafka_errors_total", [("kind", "transport")]).totalValue == 1)
        #expect(!log.captured.contains { $0.metadata["kafka.kind"] == "transport" }, "the cause's line said it")
        health.succeeded()
        health.failed(KafkaError.forTesting(librdkafkaCode: -187 /* _ALL_BROKERS_DOWN */, reason: "1/1 brokers are down"))
        #expect(health.status.kind == .transport, "after a success, a plain outage is shown as one")
        health.succeeded()
        #expect(log.captured.filter { $0.message.contains("working again") }.count == 3)
        // Errors without a kind (our own queue, shutdown) are not Kafka's.
        health.failed(KafkaError(.queueFull, "full", isRetriable: true))
        #expect(health.status.state == .ok)
    }
}

extension KafkaHealthTests {
    @Test("a broker's answer clears a failure of the network, TLS or SASL, not one of authorization; a fatal error after a TLS failure has its own line; configured secrets are masked")
    func reachableSecretsAndFatal() throws {
        let (logger, log) = CapturingLogHandler.logger()
        let health = KafkaHealth(logger: logger, metrics: TestMetrics(), secrets: ["hunter2-password"])
        health.failed(KafkaError.forTesting(librdkafkaCode: 31 /* CLUSTER_AUTHORIZATION_FAILED */, reason: "Failed to acquire PID"))
        health.reachable()
        #expect(health.status.kind == .clusterAuthorization, "metadata needs no producer id: still failing")
        health.succeeded()
        #expect(health.status.state == .ok)
        health.failed(KafkaError.forTesting(librdkafkaCode: -169 /* _AUTHENTICATION */, reason: "SASL login as bridge/hunter2-password failed"))
        #expect(health.status.reason == "SASL login as bridge/*** failed")
        #expect(!log.captured.contains { $0.metadata.values.contains { $0.contains("hunter2") } })
        health.failed(KafkaError(.fatal, "the producer hit a fatal error", isRetriable: true))
        #expect(log.captured.contains { $0.metadata["kafka.kind"] == "fatal" }, "a fatal error is never hidden behind the cause")
        health.reachable()
        #expect(health.status.state == .failing && health.status.kind == .fatal, "a broker's answer does not clear a fatal producer")
        let configuration = { () -> KafkaProducerConfiguration in
            var configuration = KafkaProducerConfiguration(bootstrapServers: "b:9092")
            configuration.properties = ["sasl.password": "p4ss", "ssl.key.password": "k3y", "sasl.username": "bridge"]
            return configuration
        }()
        #expect(Set(configuration.secretValues) == ["p4ss", "k3y"])
    }
}

/// Failures of the connection on librdkafka's mock cluster. (Its brokers do not speak SASL in
/// librdkafka 2.0.2, "SASL Handshake not supported by broker": SASL is tested on the dev broker.)
@Suite("Kafka connection failures (mock cluster)")
struct KafkaConnectionFailureTests {
    /// A producer on `bootstrap` with `properties` and a fresh health.
    static func producer(_ bootstrap: String, _ properties: [String: String] = [:], health: KafkaHealth) throws -> KafkaProducer {
        var configuration = KafkaProducerConfiguration(bootstrapServers: bootstrap)
        configuration.linger = .milliseconds(1)
        configuration.messageTimeout = .zero
        configuration.deliveryStallGrace = .seconds(20)
        configuration.properties = properties
        configuration.properties["reconnect.backoff.ms"] = "20"
        configuration.properties["reconnect.backoff.max.ms"] = "100"
        return try KafkaProducer(configuration: configuration, logger: Logger(label: "test"), health: health)
    }

    static func eventually(_ timeout: Duration = .seconds(20), _ condition: () -> Bool) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if condition() { return true }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return condition()
    }

    @Test("each refusal a broker sends back for a record is counted under its kind, and only failures of the connection make the state failing", arguments: [
        (Int32(29) /* TOPIC_AUTHORIZATION_FAILED */, KafkaErrorKind.topicAuthorization),
        (31 /* CLUSTER_AUTHORIZATION_FAILED */, .clusterAuthorization),
        (10 /* MSG_SIZE_TOO_LARGE */, .messageTooLarge),
        (44 /* POLICY_VIOLATION */, .unclassified),
    ])
    func refusalsCountedByKind(code: Int32, kind: KafkaErrorKind) async throws {
        let metrics = TestMetrics()
        let health = KafkaHealth(logger: Logger(label: "health"), metrics: metrics)
        var configuration = KafkaProducerMockClusterTests.mockConfiguration()
        configuration.messageTimeout = .seconds(10)
        let producer = try KafkaProducer(configuration: configuration, logger: Logger(label: "test"), health: health)
        _ = try await producer.publish(topic: "kinds", key: nil, value: Array("first".utf8))
        #expect(health.status.state == .ok)
        #expect(producer.failNextProduceRequestsForTesting(1, brokerError: code))
        await #expect(throws: KafkaError.self) { _ = try await producer.publish(topic: "kinds", key: nil, value: Array("refused".utf8)) }
        #expect(try metrics.expectCounter("okra_bridge_kafka_errors_total", [("kind", kind.rawValue)]).totalValue == 1)
        #expect(health.status.state == (kind.isConnectionFailure ? .failing : .ok), "\(health.status)")
        await producer.shutdown()
    }

    @Test("a fatal error and a message that times out are counted as fatal and timeout")
    func fatalAndTimeoutCounted() async throws {
        let metrics = TestMetrics()
        let health = KafkaHealth(logger: Logger(label: "health"), metrics: metrics)
        let producer = try KafkaProducer(configuration: KafkaProducerMockClusterTests.mockConfiguration(), logger: Logger(label: "test"), health: health)
        producer.raiseFatalErrorForTesting()
        #expect(await Self.eventually { (try? metrics.expectCounter("okra_bridge_kafka_errors_total", [("kind", "fatal")]).totalValue) == 1 })
        await producer.shutdown()

        let timing = try KafkaProducer(configuration: KafkaProducerMockClusterTests.unreachableConfiguration(messageTimeout: .milliseconds(300)),
                                       logger: Logger(label: "test"), health: health)
        await #expect(throws: KafkaError.self) { _ = try await timing.publish(topic: "nowhere", key: nil, value: Array("late".utf8)) }
        #expect(try metrics.expectCounter("okra_bridge_kafka_errors_total", [("kind", "timeout")]).totalValue == 1)
        #expect(try metrics.expectCounter("okra_bridge_kafka_errors_total", [("kind", "transport")]).totalValue >= 1, "the refused connections")
        await timing.shutdown()
    }

    @Test("an ACL refusing the idempotent producer (InitProducerId: CLUSTER_AUTHORIZATION_FAILED) shows as cluster_authorization, and the message is not refused for good")
    func clusterAuthorizationIsTheConnections() async throws {
        let owner = try KafkaProducer(configuration: KafkaProducerMockClusterTests.mockConfiguration(), logger: Logger(label: "owner"))
        let bootstrap = try #require(owner.mockClusterBootstrapsForTesting())
        #expect(owner.failNextRequestsForTesting(apiKey: 22, 100_000, brokerError: 31 /* CLUSTER_AUTHORIZATION_FAILED */))
        let health = KafkaHealth(logger: Logger(label: "health"), metrics: TestMetrics())
        let producer = try Self.producer(bootstrap, health: health)
        // The refusal comes as the producer starts; a message sent before or after it fails the
        // same way: retriable (the outbox replaces the producer and sends again), and named by
        // its cause once the producer knows it.
        let early = try? producer.send(topic: "acl", key: nil, value: Array("early".utf8))
        #expect(await Self.eventually { producer.fatalError != nil }, "\(health.status)")
        #expect(await Self.eventually { health.status.state == .failing }, "\(health.status)")
        #expect(health.status.kind == .clusterAuthorization, "\(health.status)")
        if let early {
            await #expect(throws: KafkaError.self) { _ = try await early.result() }
        }
        do {
            _ = try await producer.send(topic: "acl", key: nil, value: Array("waits".utf8)).result()
            Issue.record("delivered although every InitProducerId was refused")
        } catch {
            #expect(error.isRetriable, "\(error)")
            #expect(error.kind == .clusterAuthorization, "\(error)")
        }
        await producer.shutdown()
        await owner.shutdown()
    }
}
