import Foundation
import OkraEnvelope
import OkraKafka
import OkraRouting
import Testing

/// TLS to Kafka (`security.protocol=SSL`), on a dev broker whose relay terminates TLS with a
/// certificate made for the test (`scripts/kafka-dev.sh start --tls`).
@Suite("TLS to Kafka (real broker)", .enabled(if: DevBroker.enabled), .serialized)
struct KafkaTLSTests {
    typealias Bridge = ServeEndToEndTests.Bridge

    /// Posts every valid seed payload with its environment's token; the ids answered, and the
    /// (topic, id) pairs their routes name.
    static func postSeeds(_ bridge: Bridge) async throws -> [(topic: String, id: String)] {
        let names = try FileManager.default.contentsOfDirectory(atPath: ServeEndToEndTests.fixtures.path)
            .filter { $0.hasSuffix(".json") && !$0.hasSuffix(".invalid.json") }.sorted()
        var expected: [(topic: String, id: String)] = []
        for name in names {
            let body = try Data(contentsOf: ServeEndToEndTests.fixtures.appendingPathComponent(name))
            let unbound = try Normalizer.normalize(Array(body), receivedAt: Date()).get()
            let (status, answer) = try await bridge.post(body, headers: ["Okra-Auth": ServeEndToEndTests.tokenFor(unbound)])
            #expect(status == 200, "\(name): \(answer)")
            var event = try #require(unbound.bound(to: unbound.environment == .sandbox ? .sandbox : .production))
            event.id = try #require(try JSONParser.parse(Array(answer.utf8)).value["id"]?.nonEmptyString)
            expected += Router.route(event, table: bridge.routes, receivedAt: Date()).records.map { ($0.topic, event.id) }
        }
        return expected
    }

    /// Checks that each expected id arrived exactly once on its topic, reading over TLS.
    static func expectEachOnce(_ expected: [(topic: String, id: String)], broker: PrivateBroker, bootstrap: String) async throws {
        for (topic, wanted) in Dictionary(grouping: expected, by: \.topic) {
            let records = try await DevBroker.consumeAll(topic: topic, bootstrap: bootstrap, count: wanted.count, idle: .seconds(10),
                                                         properties: broker.clientProperties)
            for (_, id) in wanted {
                let copies = records.filter { $0.header("idempotency-key")?.stringValue == id || $0.header("ce_id")?.stringValue == id }.count
                #expect(copies == 1, "\(topic): \(id) arrived \(copies) times")
            }
        }
    }

    /// Waits until the bridge's outbox is empty (`okra_bridge_outbox_depth 0`).
    static func drained(_ bridge: Bridge, within timeout: Duration = .seconds(60)) async throws -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let (_, metrics) = try await bridge.get("/metrics")
            let depth = metrics.split(separator: "\n").first { $0.hasPrefix("okra_bridge_outbox_depth ") }
            if let depth, Double(depth.split(separator: " ").last ?? "") == 0 { return true }
            try await Task.sleep(for: .milliseconds(200))
        }
        return false
    }

    static func readyz(_ bridge: Bridge) async throws -> (status: Int, kafka: [String: String]) {
        let (status, text) = try await bridge.get("/readyz")
        let object = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any]
        return (status, object?["kafka"] as? [String: String] ?? [:])
    }

    @Test("security.protocol=SSL with ssl.ca.location: every seed is published over TLS, once, and /readyz says the connection is ok")
    func seedsOverTLS() async throws {
        try await PrivateBroker.withBroker(.tls) { broker, bootstrap in
            let bridge = try await Bridge.start(bootstrap: bootstrap, extraArguments: [
                "--kafka", "security.protocol=SSL", "--kafka", "ssl.ca.location=\(broker.caPath)",
            ])
            let expected = try await Self.postSeeds(bridge)
            #expect(try await Self.drained(bridge), "published")
            try await Self.expectEachOnce(expected, broker: broker, bootstrap: bootstrap)
            #expect(try await Self.readyz(bridge).kafka == ["state": "ok"])
            #expect(await bridge.stop() == 0, "\(bridge.process.log.suffix(2000))")
        }
    }

    @Test("a CA that does not verify the broker: durable mode stays ready and accepts, /readyz names TLS verification, the log says it once; restarted with the right CA, every accepted webhook is published once")
    func wrongCAThenRightCA() async throws {
        try await PrivateBroker.withBroker(.tls) { broker, bootstrap in
            var bridge = try await Bridge.start(bootstrap: bootstrap, extraArguments: [
                "--kafka", "security.protocol=SSL", "--kafka", "ssl.ca.location=\(broker.otherCAPath)",
            ])
            let expected = try await Self.postSeeds(bridge)
            var ready = try await Self.readyz(bridge)
            for _ in 0..<100 where ready.kafka["state"] != "failing" {
                try await Task.sleep(for: .milliseconds(100))
                ready = try await Self.readyz(bridge)
            }
            #expect(ready.status == 200, "durable mode rides out Kafka's failures")
            #expect(ready.kafka["state"] == "failing" && ready.kafka["kind"] == "tls", "\(ready.kafka)")
            #expect(ready.kafka["reason"]?.contains("certificate verify failed") == true, "\(ready.kafka)")
            let (_, metrics) = try await bridge.get("/metrics")
            #expect(metrics.contains(#"okra_bridge_kafka_errors_total{kind="authentication"} 0"#), "every kind is present")
            let tlsLine = metrics.split(separator: "\n").first { $0.hasPrefix(#"okra_bridge_kafka_errors_total{kind="tls"}"#) }
            #expect(tlsLine.flatMap { Double($0.split(separator: " ").last ?? "") }.map { $0 >= 1 } == true, "\(tlsLine ?? "no tls line")")
            // librdkafka retries the handshake every second or so; the log says so once a minute.
            try await Task.sleep(for: .seconds(3))
            #expect(await bridge.stop() == 0)
            let failingLines = bridge.process.log.split(separator: "\n").filter { $0.contains("Kafka connection failing") }
            #expect(failingLines.count == 1, "\(failingLines.count) lines: \(failingLines.prefix(3))")
            // librdkafka's own lines about the failed handshake (facility FAIL) stay at debug level:
            // the health's line is the only one naming it (librdkafka words it two ways).
            let handshakeLines = bridge.process.log.split(separator: "\n").filter { $0.contains("certificate verify failed") }
            #expect(handshakeLines.count == 1, "\(handshakeLines.prefix(3))")

            // The same data directory with the right CA: what was accepted goes out.
            bridge = try await Bridge.launch(port: try Bridge.freePort(), prefix: bridge.prefix, routes: bridge.routes, directory: bridge.directory,
                                             bootstrap: bootstrap,
                                             extraArguments: ["--kafka", "security.protocol=SSL", "--kafka", "ssl.ca.location=\(broker.caPath)"],
                                             log: "serve-right-ca.log")
            #expect(try await Self.drained(bridge), "the outbox drained once the CA verified the broker")
            try await Self.expectEachOnce(expected, broker: broker, bootstrap: bootstrap)
            #expect(try await Self.readyz(bridge).kafka == ["state": "ok"])
            #expect(await bridge.stop() == 0)
        }
    }

    @Test("check over TLS: with the right CA the connection is ok; with another CA the connection fails naming TLS verification and what to check")
    func checkOverTLS() async throws {
        try await PrivateBroker.withBroker(.tls) { broker, bootstrap in
            let folder = try CheckCommandTests.folder()
            let common = ["check", "--brokers", bootstrap, "--token", "production=tls-check-token-0123456789",
                          "--data-dir", folder.appendingPathComponent("data").path, "--json", "--kafka-timeout", "5", "--kafka", "security.protocol=SSL"]
            let right = try CheckCommandTests.checks(try await CommandLineTests.run(common + ["--kafka", "ssl.ca.location=\(broker.caPath)"]).output)
            #expect(right["kafka connection"]?["status"] == "ok" && right["kafka connection"]?["detail"]?.contains("security.protocol=SSL") == true, "\(right)")
            #expect(right["idempotent producer"]?["status"] == "ok")
            let (status, output) = try await CommandLineTests.run(common + ["--kafka", "ssl.ca.location=\(broker.otherCAPath)"])
            #expect(status == 1)
            let wrong = try CheckCommandTests.checks(output)["kafka connection"]
            #expect(wrong?["status"] == "failed", "\(output)")
            #expect(wrong?["detail"]?.hasPrefix("TLS failed") == true && wrong?["detail"]?.contains("certificate verify failed") == true
                    && wrong?["detail"]?.contains("ssl.ca.location") == true, "\(wrong ?? [:])")
        }
    }

    @Test("a CA that does not verify the broker in direct mode: not ready, and /readyz says why")
    func wrongCADirect() async throws {
        try await PrivateBroker.withBroker(.tls) { broker, bootstrap in
            let bridge = try await Bridge.start(bootstrap: bootstrap, extraArguments: [
                "--delivery", "direct", "--kafka", "security.protocol=SSL", "--kafka", "ssl.ca.location=\(broker.otherCAPath)",
            ])
            var ready = try await Self.readyz(bridge)
            for _ in 0..<100 where ready.kafka["kind"] != "tls" {
                try await Task.sleep(for: .milliseconds(100))
                ready = try await Self.readyz(bridge)
            }
            #expect(ready.status == 503)
            #expect(ready.kafka["state"] == "failing" && ready.kafka["kind"] == "tls", "\(ready.kafka)")
            #expect(await bridge.stop() == 0)
        }
    }
}
