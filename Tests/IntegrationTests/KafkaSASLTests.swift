import Foundation
import Testing

/// SASL/SCRAM-SHA-512 against a dev broker that requires authentication (`kafka-dev.sh start
/// --sasl`). Tansu creates users only over an authenticated connection and keeps them in memory,
/// so this broker has no user and refuses every login: the case of a wrong password. (What a
/// right one needs is in docs/kafka-security.md.)
@Suite("SASL to Kafka (real broker)", .enabled(if: DevBroker.enabled), .serialized)
struct KafkaSASLTests {
    static let password = "a-wrong-password-\(UUID().uuidString.prefix(8))"

    /// A `--kafka-config` file with the SCRAM settings, the password in it (never in argv).
    static func kafkaConfig(in directory: URL) throws -> String {
        let path = directory.appendingPathComponent("kafka.properties").path
        try """
        security.protocol=SASL_PLAINTEXT
        sasl.mechanism=SCRAM-SHA-512
        sasl.username=okra-bridge
        sasl.password=\(password)
        """.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test("a refused SCRAM login: durable mode accepts and keeps the record pending (nothing parked), /readyz says authentication, the log says it once and never the password; check fails the connection saying what to check")
    func wrongPassword() async throws {
        try await PrivateBroker.withBroker(.sasl) { _, bootstrap in
            let folder = try CheckCommandTests.folder()
            let config = try Self.kafkaConfig(in: folder)
            let bridge = try await ServeEndToEndTests.Bridge.start(bootstrap: bootstrap, extraArguments: ["--kafka-config", config])
            let body = try Data(contentsOf: ServeEndToEndTests.fixtures.appendingPathComponent("v2-payment-success.json"))
            let (status, answer) = try await bridge.post(body, headers: ["Okra-Auth": ServeEndToEndTests.productionToken])
            #expect(status == 200, "\(answer)")
            var ready = try await KafkaTLSTests.readyz(bridge)
            for _ in 0..<100 where ready.kafka["kind"] != "authentication" {
                try await Task.sleep(for: .milliseconds(100))
                ready = try await KafkaTLSTests.readyz(bridge)
            }
            #expect(ready.status == 200)
            #expect(ready.kafka["state"] == "failing" && ready.kafka["kind"] == "authentication", "\(ready.kafka)")
            #expect(ready.kafka["reason"]?.contains("SASL") == true, "\(ready.kafka)")
            try await Task.sleep(for: .seconds(3))
            let (_, metrics) = try await bridge.get("/metrics")
            let depth = metrics.split(separator: "\n").first { $0.hasPrefix("okra_bridge_outbox_depth ") }
            #expect(depth.flatMap { Double($0.split(separator: " ").last ?? "") } == 1, "the record waits: \(depth ?? "no depth")")
            let parked = metrics.split(separator: "\n").first { $0.hasPrefix("okra_bridge_parked_records ") }
            #expect(parked.flatMap { Double($0.split(separator: " ").last ?? "") } == 0, "nothing parked: \(parked ?? "no gauge")")
            #expect(await bridge.stop() == 0)
            let log = bridge.process.log
            #expect(!log.contains(Self.password), "the password never reaches the log")
            #expect(log.split(separator: "\n").filter { $0.contains("Kafka connection failing") }.count == 1)

            let (checkStatus, checkOutput) = try await CommandLineTests.run([
                "check", "--brokers", bootstrap, "--kafka-config", config, "--token", "production=sasl-check-token-0123456789",
                "--data-dir", folder.appendingPathComponent("data").path, "--json", "--kafka-timeout", "5",
            ])
            #expect(checkStatus == 1)
            let line = try CheckCommandTests.checks(checkOutput)["kafka connection"]
            #expect(line?["status"] == "failed" && line?["detail"]?.hasPrefix("SASL authentication failed") == true, "\(line ?? [:])")
            #expect(!checkOutput.contains(Self.password))
        }
    }
}
