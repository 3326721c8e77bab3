import ArgumentParser
import Foundation
import Hummingbird
import Logging
import Metrics
import NIOCore
import OkraBridge
import OkraKafka
import Prometheus
import ServiceLifecycle

/// `okra-bridge serve`: receive Okra's webhooks and land them on Kafka.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Receive Okra's webhooks and publish them to Kafka, at least once.",
        discussion: "Every option also reads from OKRA_BRIDGE_<OPTION> (e.g. OKRA_BRIDGE_BROKERS, OKRA_BRIDGE_TOKEN); repeatable options take a comma-separated list there."
    )

    @Option(help: "Address to listen on (host:port). Default 0.0.0.0:8080.") var listen: String?
    @Option(help: "Kafka bootstrap servers (host:port,...).") var brokers: String?
    @Option(help: "The routes file. Default ./routes.json.") var routes: String?
    @Option(help: "Folder of the durable store. Default ./data.") var dataDir: String?
    @Option(help: "ENV=SECRET with ENV production or sandbox; repeat for rotation.") var token: [String] = []
    @Option(help: "durable (default) or direct.") var delivery: String?
    @Option(help: "Largest body accepted, in bytes (or with KiB/MiB). Default 1MiB.") var maxBody: String?
    @Option(help: "How long a duplicate id is suppressed (e.g. 73h, 30m, 90s). Default 73h.") var dedupeWindow: String?
    @Option(help: "Allowed sender address or CIDR, or 'okra' for Okra's three; repeatable. Default: any.") var allowIp: [String] = []
    @Option(help: "Proxy address or CIDR whose X-Forwarded-For is believed; repeatable.") var trustedProxy: [String] = []
    @Flag(help: "Run without tokens, accepting any sender.") var allowUnauthenticated = false
    @Option(help: "Any librdkafka property as KEY=VALUE; repeatable (SASL, TLS, compression...).") var kafka: [String] = []
    @Option(help: "Most unpublished records the store holds before answering 503. Default 1000000.") var maxPending: Int?
    @Option(help: "A second listener (host:port) for /metrics, /readyz and /healthz; /metrics then leaves --listen.") var adminListen: String?
    @Option(help: "When set, /metrics needs Authorization: Bearer with this token (at least 16 characters).") var adminToken: String?

    func run() async throws {
        let env = ProcessInfo.processInfo.environment
        func value(_ option: String?, _ name: String) -> String? { option ?? env["OKRA_BRIDGE_\(name)"].flatMap { $0.isEmpty ? nil : $0 } }
        func list(_ option: [String], _ name: String) -> [String] {
            option.isEmpty ? (env["OKRA_BRIDGE_\(name)"] ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty } : option
        }

        LoggingSystem.bootstrap { JSONLogHandler(label: $0) }
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        let logger = Logger(label: "okra-bridge")

        do {
            let (host, port) = try Self.hostPort(value(listen, "LISTEN") ?? "0.0.0.0:8080", flag: "--listen")
            let admin = try value(adminListen, "ADMIN_LISTEN").map { try Self.hostPort($0, flag: "--admin-listen") }
            let adminToken = value(adminToken, "ADMIN_TOKEN")
            if let adminToken, adminToken.utf8.count < 16 {
                throw ConfigurationError("--admin-token must be at least 16 characters")
            }
            guard let brokers = value(brokers, "BROKERS") else { throw ConfigurationError("--brokers (or OKRA_BRIDGE_BROKERS) is required") }
            guard let mode = DeliveryMode(rawValue: value(delivery, "DELIVERY") ?? "durable") else {
                throw ConfigurationError("--delivery takes durable or direct")
            }
            let maxBody = try Self.bytes(value(maxBody, "MAX_BODY") ?? "1MiB")
            let window = try Self.duration(value(dedupeWindow, "DEDUPE_WINDOW") ?? "73h")
            let allowUnauthenticated = allowUnauthenticated || env["OKRA_BRIDGE_ALLOW_UNAUTHENTICATED"] == "true"
            let senderCheck = try SenderCheck(tokens: list(token, "TOKEN"), allowIPs: list(allowIp, "ALLOW_IP"),
                                              trustedProxies: list(trustedProxy, "TRUSTED_PROXY"), allowUnauthenticated: allowUnauthenticated)
            let routesPath = value(routes, "ROUTES") ?? "./routes.json"
            let reloader: RoutesReloader
            do {
                reloader = try RoutesReloader(path: routesPath, logger: logger)
            } catch {
                throw ConfigurationError("\(routesPath): \(error)")
            }
            var producerConfiguration = KafkaProducerConfiguration(bootstrapServers: brokers)
            // Durable: records are safe on disk, so a delivery that hangs is better failed soon
            // and retried with a fresh producer. Direct: the webhook is waiting.
            producerConfiguration.messageTimeout = mode == .durable ? .seconds(30) : .seconds(10)
            producerConfiguration.deliveryStallGrace = .seconds(10)
            // At shutdown, records not yet on Kafka stay on disk (durable), so the flush is short.
            producerConfiguration.flushTimeout = mode == .durable ? .seconds(2) : .seconds(10)
            for pair in list(kafka, "KAFKA") {
                guard let equals = pair.firstIndex(of: "="), equals != pair.startIndex else { throw ConfigurationError("--kafka takes KEY=VALUE") }
                producerConfiguration.properties[String(pair[..<equals])] = String(pair[pair.index(after: equals)...])
            }
            let configured = producerConfiguration
            let makeProducer: @Sendable () throws -> KafkaProducer = { try KafkaProducer(configuration: configured, logger: logger) }
            _ = try makeProducer() // fail fast on a bad --kafka property; the publisher makes its own

            var services: [ServiceGroupConfiguration.ServiceConfiguration] = [.init(service: reloader)]
            let sink: Ingest.Sink
            var store: OutboxStore?
            var producerForReadiness: @Sendable () -> KafkaProducer? = { nil }
            switch mode {
            case .durable:
                let dataDirectory = value(dataDir, "DATA_DIR") ?? "./data"
                let opened: OutboxStore
                do {
                    opened = try OutboxStore(directory: dataDirectory, maxPending: maxPending ?? Int(env["OKRA_BRIDGE_MAX_PENDING"] ?? "") ?? 1_000_000, dedupeWindow: window)
                } catch {
                    throw ConfigurationError("--data-dir \(dataDirectory): cannot open the store: \(error)")
                }
                store = opened
                sink = .durable(opened)
                services.append(.init(service: OutboxPublisher(store: opened, makeProducer: makeProducer, logger: logger)))
                services.append(.init(service: StorePruner(store: opened, logger: logger)))
            case .direct:
                let direct = try DirectDelivery(makeProducer: makeProducer)
                sink = .direct(direct)
                producerForReadiness = { direct.producer }
                services.append(.init(service: ProducerCloser(direct: direct)))
            }
            let ingest = Ingest(senderCheck: senderCheck, routes: reloader, sink: sink, logger: logger)
            let readiness = HTTPServer.Readiness(store: store, producer: producerForReadiness, routes: reloader)
            let metrics = HTTPServer.MetricsEndpoint(
                render: { var buffer: [UInt8] = []; registry.emit(into: &buffer); return String(decoding: buffer, as: UTF8.self) },
                token: adminToken
            )
            if let (adminHost, adminPort) = admin {
                // Before the ingest listener, so on SIGTERM it stops after it: metrics and
                // readiness stay visible while the webhook endpoint drains.
                let adminApp = Application(router: HTTPServer.adminRouter(readiness: readiness, metrics: metrics),
                                           configuration: .init(address: .hostname(adminHost, port: adminPort), serverName: "okra-bridge-admin"), logger: logger)
                services.append(.init(service: Listener(app: adminApp, flag: "--admin-listen", address: "\(adminHost):\(adminPort)")))
            }
            let router = HTTPServer.router(ingest: ingest, maxBody: maxBody, readiness: readiness, metrics: admin == nil ? metrics : nil)
            let app = Application(router: router, configuration: .init(address: .hostname(host, port: port), serverName: "okra-bridge"), logger: logger)
            // The HTTP server is last: on SIGTERM it stops first, the publisher drains last.
            services.append(.init(service: Listener(app: app, flag: "--listen", address: "\(host):\(port)")))
            logger.info("okra-bridge starting", metadata: [
                "listen": "\(host):\(port)", "admin_listen": "\(admin.map { "\($0.0):\($0.1)" } ?? "none")",
                "metrics_token": "\(adminToken == nil ? "none" : "set")",
                "delivery": "\(mode.rawValue)", "routes.sha256": "\(reloader.activeSHA256)",
                "tokens": "\(list(token, "TOKEN").count)", "max_body": "\(maxBody)",
            ])
            var groupConfiguration = ServiceGroupConfiguration(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
            // A shutdown that takes longer is cancelled rather than left hanging.
            groupConfiguration.maximumGracefulShutdownDuration = .seconds(20)
            let group = ServiceGroup(configuration: groupConfiguration)
            try await group.run()
            logger.info("okra-bridge stopped")
        } catch let error as ConfigurationError {
            fail(UserError(error.description))
        } catch {
            fail(UserError("\(error)"))
        }
    }

    static func hostPort(_ text: String, flag: String) throws -> (String, Int) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port) else {
            throw ConfigurationError("\(flag) takes host:port, got \(text)")
        }
        return (String(text[..<colon]), port)
    }

    static func bytes(_ text: String) throws -> Int {
        let units: [(String, Int)] = [("MiB", 1 << 20), ("KiB", 1 << 10), ("B", 1), ("", 1)]
        for (suffix, factor) in units where text.hasSuffix(suffix) {
            if let number = Int(text.dropLast(suffix.count)), number > 0 { return number * factor }
        }
        throw ConfigurationError("--max-body takes a size such as 1048576, 512KiB or 1MiB, got \(text)")
    }

    static func duration(_ text: String) throws -> Duration {
        let units: [(String, Int64)] = [("h", 3600), ("m", 60), ("s", 1)]
        for (suffix, factor) in units where text.hasSuffix(suffix) {
            if let number = Int64(text.dropLast(suffix.count)), number > 0 { return .seconds(number * factor) }
        }
        throw ConfigurationError("--dedupe-window takes a duration such as 73h, 30m or 90s, got \(text)")
    }
}

/// An HTTP listener that names its flag when its address is taken.
struct Listener<App: Service>: Service {
    let app: App
    let flag: String
    let address: String

    func run() async throws {
        do {
            try await app.run()
        } catch let error as IOError where error.errnoCode == EADDRINUSE {
            throw ConfigurationError("\(flag) \(address): the address is already in use; stop what listens there or choose another port")
        }
    }
}

/// Deletes ids older than the dedupe window once a minute (published records leave the store
/// as the publish mark passes them).
struct StorePruner: Service {
    let store: OutboxStore
    let logger: Logger

    func run() async throws {
        try await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(60))
                if Task.isCancelled { break }
                do {
                    let removed = try await store.prune()
                    if removed > 0 {
                        logger.debug("store pruned", metadata: ["ids": "\(removed)"])
                    }
                } catch {
                    logger.error("store pruning failed", metadata: ["error": "\(error)"])
                }
            }
        }
    }
}

/// Shuts the direct-delivery producer down after the HTTP server stopped.
struct ProducerCloser: Service {
    let direct: DirectDelivery

    func run() async throws {
        try? await gracefulShutdown()
        await direct.producer.shutdown()
    }
}
