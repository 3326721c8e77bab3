import Foundation
import Logging
import OkraEnvelope
import OkraIngest
import OkraKafka
import OkraOperations
import OkraRouting
import OkraStore

/// The checks of `okra-bridge check`, each reading what `serve` would read, the same way.
struct Preflight {
    let configuration: ServeConfiguration
    /// The longest wait for Kafka at each step.
    let timeout: Duration
    let logger: Logger

    func routes() -> CheckResult {
        do {
            let table = try RouteTable.load(path: configuration.routesPath)
            return .ok("routes", "\(configuration.routesPath): \(table.routes.count) routes, valid (sha256 \(table.sha256.prefix(12)))")
        } catch {
            return .failed("routes", "--routes \(configuration.routesPath): \(error) (okra-bridge routes check shows every problem)")
        }
    }

    func tokens() -> CheckResult {
        if configuration.allowUnauthenticated {
            return .warning("tokens", "--allow-unauthenticated: any sender's webhooks are accepted; give Okra's token with --token-file in production")
        }
        do {
            let (check, _) = try ServeServices.senderCheck(configuration, logger: logger)
            let file = configuration.tokenFile.map { ", from --token-file \($0) and the flags" } ?? ""
            return .ok("tokens", "\(check.tokenCount) token\(check.tokenCount == 1 ? "" : "s")\(file)")
        } catch {
            return .failed("tokens", "\(ExitStatus.of(error).message.replacingOccurrences(of: "okra-bridge: ", with: ""))")
        }
    }

    /// The admin tokens: each line of the file valid, and what each scope has.
    func adminToken() -> CheckResult {
        do {
            guard let tokens = try ServeServices.adminTokens(configuration, logger: .quiet).0?.adminTokens else {
                return .ok("admin tokens", "none: /metrics is open and the operations API is off")
            }
            let scopes = AdminScope.allCases.map { "\($0.rawValue) \(tokens.counts[$0] ?? 0)" }.joined(separator: ", ")
            let source = configuration.adminTokenFile.map { "from --admin-token-file \($0)" } ?? "given (prefer --admin-token-file)"
            var result = CheckResult.ok("admin tokens", "\(tokens.names.joined(separator: ", ")) \(source); tokens per scope: \(scopes)")
            if (tokens.counts[.metrics] ?? 0) == 0 && configuration.adminListen != nil {
                result = .warning("admin tokens", "\(tokens.names.joined(separator: ", ")) \(source); no metrics token: give Prometheus a NAME:metrics=SECRET line, not an operate token")
            }
            return result
        } catch {
            return .failed("admin tokens", "\(ExitStatus.of(error).message.replacingOccurrences(of: "okra-bridge: ", with: ""))")
        }
    }

    /// The log key file: its keys, and every key id the store's values are sealed with among them.
    func logKey() -> CheckResult {
        let inUse: [String]
        do {
            inUse = configuration.delivery == .durable ? try OutboxStore.keyIDsInUse(directory: configuration.dataDirectory) : []
        } catch {
            return .warning("log key", "could not read the key ids the store uses: \(error)")
        }
        guard configuration.logKeyFile != nil else {
            if let keyID = inUse.first { return .failed("log key", "the store has values sealed under key \(keyID): give --log-key-file with that key") }
            return .ok("log key", configuration.eventLog == nil ? "none; the event log is off" : "none: the event log is kept in clear (--log-unencrypted)")
        }
        do {
            guard let cipher = try ServeServices.logCipher(configuration) else { return .ok("log key", "none") }
            if let missing = inUse.first(where: { !cipher.keyIDs.contains($0) }) {
                return .failed("log key", "the store has values sealed under key \(missing), which --log-key-file does not hold: add its line back")
            }
            if configuration.delivery == .durable, let wrong = try OutboxStore.keyThatDoesNotOpen(directory: configuration.dataDirectory, cipher: cipher) {
                return .failed("log key", "the key \(wrong) of --log-key-file does not open the values sealed under that id: another key has that id")
            }
            let keys = "\(cipher.keyIDs.count) key\(cipher.keyIDs.count == 1 ? "" : "s") (\(cipher.keyIDs.joined(separator: ", "))); \(cipher.currentKeyID) seals"
                + (inUse.isEmpty ? "" : "; in use: \(inUse.joined(separator: ", "))")
            if configuration.delivery == .durable, try OutboxStore.hasValuesInClear(directory: configuration.dataDirectory) {
                return .warning("log key", keys + "; the store also holds values in clear from before a key was given: they go with retention (docs/privacy.md)")
            }
            return .ok("log key", keys)
        } catch {
            return .failed("log key", "\(ExitStatus.of(error).message.replacingOccurrences(of: "okra-bridge: ", with: ""))")
        }
    }

    /// Writable (a file written, synced and removed), free space above the reserve, not locked.
    /// Nothing is left behind: a missing directory is reported, not made, and the lock is looked
    /// at, not taken.
    func dataDirectory() -> CheckResult {
        guard configuration.delivery == .durable else { return .ok("data directory", "not used (--delivery direct)") }
        let directory = configuration.dataDirectory
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            return .warning("data directory", "--data-dir \(directory) does not exist: serve creates it; on a persistent volume, check the volume is mounted")
        }
        do {
            try DataDirectoryLock.checkNotHeld(directory: directory)
        } catch let held as DataDirectoryLock.Held {
            return .failed("data directory", "\(held.description): a bridge is running on it; stop it or give another --data-dir")
        } catch {
            return .failed("data directory", "--data-dir \(directory): \(error)")
        }
        let probe = (directory as NSString).appendingPathComponent("okra-bridge.check-\(getpid())")
        let descriptor = open(probe, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { return .failed("data directory", "--data-dir \(directory) is not writable: \(String(cString: strerror(errno)))") }
        let written = write(descriptor, "check\n", 6) == 6 && fsync(descriptor) == 0
        close(descriptor)
        unlink(probe)
        guard written else { return .failed("data directory", "--data-dir \(directory): a write and fsync failed") }
        var stats = statvfs()
        guard statvfs(directory, &stats) == 0 else { return .warning("data directory", "\(directory) is writable; its free space could not be read") }
        let free = Int(stats.f_bavail) * Int(stats.f_frsize)
        guard free > configuration.storeReserve else {
            return .failed("data directory", "\(directory): \(free >> 20) MiB free, not above --store-reserve \(configuration.storeReserve >> 20) MiB: webhooks would be answered 503; free space or grow the volume")
        }
        return .ok("data directory", "\(directory): writable, \(free >> 20) MiB free, not locked by a running bridge")
    }

    /// Kafka reachable, the producer id granted, the topics present, and the probe delivered.
    func kafka(probeTopic: String?) async -> [CheckResult] {
        var producerConfiguration: KafkaProducerConfiguration
        do {
            producerConfiguration = try ServeServices.producerConfiguration(configuration, logger: logger)
        } catch {
            return [.failed("kafka settings", "\(error)")]
        }
        // Statistics carry the idempotent producer's state; the probe must not wait forever.
        producerConfiguration.properties["statistics.interval.ms"] = "200"
        producerConfiguration.messageTimeout = timeout
        let health = KafkaHealth(logger: logger)
        let producer: KafkaProducer
        do {
            producer = try KafkaProducer(configuration: producerConfiguration, logger: logger, health: health)
        } catch {
            return [.failed("kafka settings", "\(error.reason)")]
        }
        var results: [CheckResult] = []
        let security = producerConfiguration.properties["security.protocol"] ?? "PLAINTEXT"
        if await producer.brokersReachable(timeout: timeout) {
            results.append(.ok("kafka connection", "\(configuration.brokers) answered (security.protocol=\(security))"))
            results.append(await idempotence(producer, health))
            results.append(await topics(producerConfiguration))
            if let probeTopic { results.append(await probe(producer, topic: probeTopic)) }
        } else {
            results.append(.failed("kafka connection", Self.advice(health.status, brokers: configuration.brokers, security: security, timeout: timeout)))
        }
        await producer.shutdown()
        return results
    }

    /// What to do about a connection that failed, by kind.
    static func advice(_ status: KafkaHealth.Status, brokers: String, security: String, timeout: Duration) -> String {
        let reason = status.reason.map { ": \($0)" } ?? ""
        switch status.kind {
        case .tls?:
            return "TLS failed\(reason). Check ssl.ca.location (the CA that signed the brokers' certificates) and that --brokers names the hosts in them"
        case .authentication?:
            return "SASL authentication failed\(reason). Check sasl.mechanism, sasl.username and sasl.password (in --kafka-config)"
        case .clusterAuthorization?:
            return "the cluster refused this client\(reason). Check the ACLs of the principal"
        default:
            return "no broker of \(brokers) answered within \(timeout) (security.protocol=\(security))\(reason). Check --brokers, the network, and that security.protocol matches the listener"
        }
    }

    /// The idempotent producer's id (InitProducerId), which the guarantees need.
    func idempotence(_ producer: KafkaProducer, _ health: KafkaHealth) async -> CheckResult {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let state = producer.idempotence, state.state == "Assigned" {
                return .ok("idempotent producer", "producer id \(state.producerID) granted (InitProducerId)")
            }
            if health.status.kind == .clusterAuthorization || producer.fatalError != nil {
                let reason = producer.fatalError?.reason ?? health.status.reason ?? ""
                return .failed("idempotent producer", "the cluster refused a producer id: \(reason). Grant the principal IdempotentWrite on the cluster (brokers before 2.8) or Write on the topics (2.8 and later)")
            }
            try? await Task.sleep(for: .milliseconds(100))
        }
        let state = producer.idempotence?.state ?? "no statistics"
        return .failed("idempotent producer", "no producer id within \(timeout) (state \(state)): the brokers must support idempotence (Kafka 0.11 or later) and grant InitProducerId")
    }

    /// Every topic the routes can produce exists, or the cluster creates topics on use.
    func topics(_ producerConfiguration: KafkaProducerConfiguration) async -> CheckResult {
        guard let table = try? RouteTable.load(path: configuration.routesPath) else {
            return .failed("topics", "not checked: the routes file is invalid")
        }
        let environments = TopicEnvironments.of(tokens: configuration.tokens, tokenFile: configuration.tokenFile,
                                                allowUnauthenticated: configuration.allowUnauthenticated, logger: logger)
        let plan = TopicPlanner.plan(table, environments: environments)
        do {
            let admin = try KafkaAdmin(bootstrapServers: configuration.brokers, properties: producerConfiguration.properties, logger: logger)
            let cluster = try await admin.clusterTopics(timeout: timeout)
            let missing = plan.filter { cluster.topics[$0.name] == nil }.map(\.name)
            guard let first = missing.first else { return .ok("topics", "all \(plan.count) topics the routes can produce exist") }
            let what = "\(missing.count) of \(plan.count) topics the routes can produce are missing (\(first)\(missing.count > 1 ? ", ..." : ""))"
            var autoCreate = "could not be read"
            if let broker = cluster.brokers.first {
                do {
                    autoCreate = try await admin.brokerConfiguration(id: broker, timeout: timeout)["auto.create.topics.enable"] ?? "not reported"
                } catch {
                    autoCreate = "could not be read: \(error.reason)"
                }
            }
            if autoCreate == "true" {
                return .warning("topics", "\(what); the cluster creates them on first use (auto.create.topics.enable=true) with its defaults: to choose partitions, run okra-bridge topics create --execute")
            }
            return .failed("topics", "\(what), and auto.create.topics.enable \(autoCreate == "false" ? "is false" : autoCreate): their records would be parked. Run okra-bridge topics create --execute with serve's flags")
        } catch {
            return .failed("topics", "cannot list the cluster's topics: \(error.reason)")
        }
    }

    /// One test record delivered to `topic`.
    func probe(_ producer: KafkaProducer, topic: String) async -> CheckResult {
        do {
            let report = try await producer.publish(topic: topic, key: nil, value: Array(#"{"okra-bridge":"check"}"#.utf8),
                                                    headers: [KafkaHeader("okra-bridge-check", "1")])
            return .ok("probe record", "delivered to \(topic) partition \(report.partition) offset \(report.offset)")
        } catch {
            return .failed("probe record", "not delivered to \(topic): \(error.reason)")
        }
    }
}

/// The environments events can have under serve's token settings (the topics they reach).
enum TopicEnvironments {
    /// Those of the tokens (of the flags and the file), production and sandbox without any,
    /// and unknown too when serve accepts any sender. A token file that cannot be read counts
    /// for none (the tokens check says why).
    static func of(tokens: [String], tokenFile: String?, allowUnauthenticated: Bool, logger: Logger) -> [OkraEnvironment] {
        if allowUnauthenticated { return [.production, .sandbox, .unknown] }
        var counts = (try? TokenSet(pairs: tokens))?.counts ?? [:]
        if let tokenFile, let file = try? TokenFileReloader(path: tokenFile, logger: logger) {
            counts.merge(file.tokens.counts) { $0 + $1 }
        }
        let given = OkraEnvironment.allCases.filter { (counts[$0] ?? 0) > 0 }
        return given.isEmpty ? [.production, .sandbox] : given
    }
}
