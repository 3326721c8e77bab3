import Dispatch
import Foundation
import Logging
import OkraKafka
import Testing

/// Access to the real Kafka-protocol broker that `scripts/test.sh` starts (`KAFKA_BOOTSTRAP`),
/// and to private broker instances for tests that stop and restart one.
enum DevBroker {
    /// True when these tests must run: a broker address is given, or this is CI.
    /// Under CI without a reachable broker they fail; they never pass by being skipped.
    static var enabled: Bool {
        let env = ProcessInfo.processInfo.environment
        return env["KAFKA_BOOTSTRAP"].map { !$0.isEmpty } == true || env["CI"] == "true"
    }

    /// The shared broker's bootstrap address, checked to answer a metadata request.
    static func bootstrap() async throws -> String {
        guard let address = ProcessInfo.processInfo.environment["KAFKA_BOOTSTRAP"], !address.isEmpty else {
            throw BrokerUnavailable(
                "KAFKA_BOOTSTRAP is not set: run the tests through ./scripts/test.sh, which starts the dev broker")
        }
        let admin = try KafkaAdmin(bootstrapServers: address, logger: quietLogger)
        guard await admin.brokersReachable(timeout: .seconds(10)) else {
            throw BrokerUnavailable("no Kafka broker answered at KAFKA_BOOTSTRAP=\(address)")
        }
        return address
    }

    /// A topic name no other test (or earlier run against the same broker) uses.
    static func freshTopic(_ prefix: String) -> String {
        "\(prefix)-\(UUID().uuidString.prefix(8).lowercased())"
    }

    /// A logger that shows warnings and worse.
    static var quietLogger: Logger {
        var logger = Logger(label: "integration")
        logger.logLevel = .warning
        return logger
    }

    /// A listening loopback socket on a port the kernel chose: its descriptor and port.
    /// Close the descriptor to free the port.
    static func listeningLoopbackSocket() -> (descriptor: Int32, port: Int) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        listen(fd, 1)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        return (fd, Int(UInt16(bigEndian: address.sin_port)))
    }

    /// The repository's root, found from this file's path.
    static var repositoryRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    /// Consumes `topic` from the beginning of every partition until `count` records arrived
    /// or nothing new came for `idle`.
    static func consumeAll(topic: String, bootstrap: String, count: Int, idle: Duration = .seconds(15),
                           properties: [String: String] = [:]) async throws -> [KafkaConsumerRecord] {
        var configuration = KafkaConsumerConfiguration(bootstrapServers: bootstrap)
        configuration.properties = properties
        let consumer = try KafkaConsumer(configuration: configuration, logger: quietLogger)
        try await consumer.assignAllPartitions(of: topic)
        var records: [KafkaConsumerRecord] = []
        var lastProgress = ContinuousClock.now
        while records.count < count && ContinuousClock.now - lastProgress < idle {
            let batch = try await consumer.poll(maxRecords: 5000, timeout: .milliseconds(500))
            if !batch.isEmpty { lastProgress = .now }
            records += batch
        }
        await consumer.close()
        return records
    }
}

/// A broker instance of this test's own, started and stopped with `scripts/kafka-dev.sh`
/// in a state folder of its own; its address stays the same across a stop and start.
struct PrivateBroker: Sendable {
    let stateDirectory: URL
    /// Which kind: plain, TLS (`kafka-dev.sh start --tls`), SASL required (`--sasl`), or Tansu
    /// alone for a librdkafka of 2.2 or later (`--no-relay`).
    let mode: Mode

    enum Mode: String, Sendable {
        case plain, tls, sasl
        case noRelay = "no-relay"
    }

    init(_ mode: Mode = .plain) {
        // scripts/test.sh stops any broker left in such a folder by a crashed run.
        stateDirectory = TestRun.brokerDirectory()
        self.mode = mode
    }

    /// Whether its relay terminates TLS.
    var tls: Bool { mode == .tls }

    /// The CA that verifies a TLS broker's certificate.
    var caPath: String { stateDirectory.appendingPathComponent("tls/ca.pem").path }
    /// A CA that signed nothing the broker uses: verification against it fails.
    var otherCAPath: String { stateDirectory.appendingPathComponent("tls/other-ca.pem").path }
    /// The librdkafka properties a client needs for this broker.
    var clientProperties: [String: String] { tls ? ["security.protocol": "SSL", "ssl.ca.location": caPath] : [:] }

    /// Runs `body` with a new private broker, and stops it afterwards whatever happened.
    static func withBroker<T>(_ mode: Mode = .plain, _ body: (PrivateBroker, String) async throws -> T) async throws -> T {
        let broker = PrivateBroker(mode)
        let bootstrap = try await broker.start()
        do {
            let result = try await body(broker, bootstrap)
            try await broker.stop()
            return result
        } catch {
            try? await broker.stop()
            throw error
        }
    }

    @discardableResult
    func start() async throws -> String { try await run("start") }

    func stop() async throws { _ = try await run("stop") }

    private func run(_ command: String) async throws -> String {
        try FileManager.default.createDirectory(at: stateDirectory, withIntermediateDirectories: true)
        let script = DevBroker.repositoryRoot.appendingPathComponent("scripts/kafka-dev.sh").path
        let outputPath = stateDirectory.appendingPathComponent("\(command).out").path
        // system(3) waits for its own child; Foundation's Process did not always notice the
        // script's exit here. Output goes to a file, so the daemons it starts hold no pipe.
        let line = "KAFKA_DEV_DIR='\(stateDirectory.path)' '\(script)' \(command)\(mode == .plain ? "" : " --\(mode.rawValue)") >'\(outputPath)'"
        let status = await withCheckedContinuation { (continuation: CheckedContinuation<Int32, Never>) in
            DispatchQueue.global().async { continuation.resume(returning: system(line)) }
        }
        guard status == 0 else {
            throw BrokerUnavailable("scripts/kafka-dev.sh \(command) failed with status \(status)")
        }
        return try String(contentsOfFile: outputPath, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

/// The broker the test needs is not there; the message says what to do.
struct BrokerUnavailable: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
