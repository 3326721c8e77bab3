import ArgumentParser
import Foundation
import Hummingbird
import Logging
import Metrics
import OkraHTTP
import OkraEnvelope
import OkraIngest
import OkraOperations
import OkraKafka
import OkraPublisher
import OkraStore
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
    @Option(help: "ENV=SECRET with ENV production or sandbox; repeat for rotation. Visible in the process list: prefer --token-file.") var token: [String] = []
    @Option(help: "A file of ENV=SECRET lines (# comments), re-read on change and on SIGHUP: rotate tokens without a restart.") var tokenFile: String?
    @Option(help: "durable (default) or direct.") var delivery: String?
    @Option(help: "Largest body accepted, in bytes (or with KiB/MiB). Default 900KiB, so every record fits Kafka's default 1 MB limit.") var maxBody: String?
    @Option(help: "How long a duplicate id is suppressed (e.g. 73h, 30m, 90s). Default 73h.") var dedupeWindow: String?
    @Option(help: "Allowed sender address or CIDR, or 'okra' for Okra's three; repeatable. Default: any.") var allowIp: [String] = []
    @Option(help: "Proxy address or CIDR whose X-Forwarded-For is believed; repeatable.") var trustedProxy: [String] = []
    @Flag(help: "Run without tokens, accepting any sender (a usage error together with tokens).") var allowUnauthenticated = false
    @Option(help: "Any librdkafka property as KEY=VALUE; repeatable (SASL, TLS, compression...).") var kafka: [String] = []
    @Option(help: "Most unpublished records the store holds before answering 503. Default 1000000.") var maxPending: Int?
    @Option(help: "Most bytes of request bodies read or processed at once (bytes, KiB or MiB); more concurrent bodies get 503. Default 256MiB.") var maxInflightBody: String?
    @Option(help: "Space kept free on the data volume in a reserve file, released when the volume fills so the bridge can drain (bytes, KiB or MiB; 0 for none). Default 8MiB.") var storeReserve: String?
    @Option(help: "A second listener (host:port) for /metrics, /readyz and /healthz; /metrics then leaves --listen.") var adminListen: String?
    @Option(help: "When set, /metrics needs Authorization: Bearer with this token (at least 16 characters). Prefer --admin-token-file.") var adminToken: String?
    @Option(help: "A file holding the admin token (its first line).") var adminTokenFile: String?
    @Option(help: "A file of librdkafka properties, KEY=VALUE a line (# comments), for secrets such as sasl.password; --kafka overrides it.") var kafkaConfig: String?
    @Option(help: "How long the event log keeps an entry (e.g. 168h; 0 turns the log off). Default 168h.") var retain: String?
    @Option(help: "The event log's size at most, oldest dropped first (bytes, KiB, MiB or GiB). Default 1GiB.") var retainSize: String?
    @Option(help: "Most events one replay call routes again. Default 100000.") var maxReplay: Int?
    @Option(help: "How long a Kafka error code the bridge does not classify may keep failing the oldest record before it is parked (e.g. 10m). Default 10m.") var parkAfter: String?
    @Option(help: "Time for a request's headers to arrive, from its first byte (or the accept); else 408 and close. Default 10s.") var headerTimeout: String?
    @Option(help: "Time for a request's body to arrive after its headers; else 408 and close. Default 30s.") var bodyTimeout: String?
    @Option(help: "Time a keep-alive connection may wait for its next request. Default 60s.") var idleTimeout: String?
    @Option(help: "Open connections per listener at most; one more is answered 503 and closed. Default 2048.") var maxConnections: Int?
    @Option(help: "Open connections from one remote address per listener at most (--trusted-proxy addresses exempt); one more is answered 503 and closed. Default 64.") var maxConnectionsPerAddress: Int?

    func run() async throws {
        let env = Environment()
        LoggingSystem.bootstrap { JSONLogHandler(label: $0) }
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        let logger = Logger(label: "okra-bridge")
        do {
            let (group, lock) = try await makeServiceGroup(env: env, registry: registry, logger: logger)
            try await group.run()
            // The data directory stays locked until the services stopped.
            withExtendedLifetime(lock) {}
            logger.info("okra-bridge stopped")
        } catch let error as UsageError {
            error.exit()
        } catch let error as ConfigurationError {
            fail(UserError(error.description))
        } catch {
            fail(UserError("\(error)"))
        }
    }

    /// Reads the configuration and wires the services, in start order: the routes reloader,
    /// the sink's services (publisher and pruner, or the direct producer), the admin listener,
    /// and the ingest listener last, so on SIGTERM it stops first and the publisher drains last.
    private func makeServiceGroup(env: Environment, registry: PrometheusCollectorRegistry, logger: Logger) async throws -> (ServiceGroup, DataDirectoryLock?) {
        let listen = try FlagValue.hostPort(env.value(listen, "LISTEN") ?? "0.0.0.0:8080", flag: "--listen")
        let admin = try env.value(adminListen, "ADMIN_LISTEN").map { try FlagValue.hostPort($0, flag: "--admin-listen") }
        var adminToken = env.value(adminToken, "ADMIN_TOKEN")
        if let path = env.value(adminTokenFile, "ADMIN_TOKEN_FILE") {
            adminToken = try SecretFile.firstLine(path, flag: "--admin-token-file")
        }
        if let adminToken, adminToken.utf8.count < 16 {
            throw ConfigurationError("--admin-token must be at least 16 characters")
        }
        guard let brokers = env.value(brokers, "BROKERS") else { throw ConfigurationError("--brokers (or OKRA_BRIDGE_BROKERS) is required") }
        guard let mode = DeliveryMode(rawValue: env.value(delivery, "DELIVERY") ?? "durable") else {
            throw ConfigurationError("--delivery takes durable or direct")
        }
        // Every flag's value is read before the store is locked, opened or upgraded.
        let limits = try connectionLimits(env: env)
        let parkAfter = try FlagValue.duration(env.value(parkAfter, "PARK_AFTER") ?? "10m", flag: "--park-after")
        let pendingBound = try env.count(maxPending, "MAX_PENDING", flag: "--max-pending", default: 1_000_000)
        let replayBound = try env.count(maxReplay, "MAX_REPLAY", flag: "--max-replay", default: 100_000)
        let maxBody = try FlagValue.bytes(env.value(maxBody, "MAX_BODY") ?? "900KiB", flag: "--max-body")
        let window = try FlagValue.duration(env.value(dedupeWindow, "DEDUPE_WINDOW") ?? "73h", flag: "--dedupe-window")
        let tokens = env.list(token, "TOKEN")
        let tokenFilePath = env.value(tokenFile, "TOKEN_FILE")
        let unauthenticated = env.flag(allowUnauthenticated, "ALLOW_UNAUTHENTICATED")
        if unauthenticated && (!tokens.isEmpty || tokenFilePath != nil) {
            throw UsageError("--allow-unauthenticated cannot be combined with --token or --token-file: with tokens every request must carry one")
        }
        let fixedTokens = try TokenSet(pairs: tokens)
        let tokenFileReloader = try tokenFilePath.map { try TokenFileReloader(path: $0, fixed: fixedTokens, logger: logger) }
        let senderCheck = try SenderCheck(tokenSource: tokenFileReloader ?? fixedTokens, allowIPs: env.list(allowIp, "ALLOW_IP"),
                                          trustedProxies: env.list(trustedProxy, "TRUSTED_PROXY"), allowUnauthenticated: unauthenticated)
        let routesPath = env.value(routes, "ROUTES") ?? "./routes.json"
        let reloader: RoutesReloader
        do {
            reloader = try RoutesReloader(path: routesPath, logger: logger)
        } catch {
            throw ConfigurationError("\(routesPath): \(error)")
        }
        var producerConfiguration = KafkaProducerConfiguration(bootstrapServers: brokers)
        switch mode {
        case .durable:
            // The record is safe on disk: librdkafka never gives up on it (message.timeout.ms=0)
            // and keeps each partition in order; a producer that reports nothing for 30 s is
            // replaced, and the outbox sends again from the mark (decision 0007).
            producerConfiguration.messageTimeout = .zero
            producerConfiguration.deliveryStallGrace = .seconds(30)
            // At shutdown, records not yet on Kafka stay on disk, so the flush is short.
            producerConfiguration.flushTimeout = .seconds(2)
        case .direct:
            // The webhook is waiting for the report.
            producerConfiguration.messageTimeout = .seconds(10)
            producerConfiguration.deliveryStallGrace = .seconds(10)
            producerConfiguration.flushTimeout = .seconds(10)
        }
        do {
            if let path = env.value(kafkaConfig, "KAFKA_CONFIG") {
                try producerConfiguration.apply(SecretFile.properties(path, flag: "--kafka-config"))
            }
            try producerConfiguration.apply(FlagValue.kafkaProperties(env.list(kafka, "KAFKA")))
        } catch let error as KafkaError {
            throw UsageError(error.reason)
        }
        // A body of --max-body must always become a record librdkafka sends (decision 0007).
        if maxBody + EnvelopeLimits.maxRecordOverhead > producerConfiguration.maxMessageBytes {
            throw UsageError("--max-body \(maxBody) plus the envelope (up to \(EnvelopeLimits.maxRecordOverhead) bytes) does not fit in message.max.bytes \(producerConfiguration.maxMessageBytes): lower --max-body, or raise --kafka message.max.bytes (and the topics' max.message.bytes)")
        }
        if mode == .durable && producerConfiguration.messageTimeout != .zero {
            logger.warning("message.timeout.ms is set in durable mode: during a Kafka outage longer than it, records of one key can reach Kafka out of order (decision 0007)",
                           metadata: ["kafka.message_timeout": "\(producerConfiguration.messageTimeout)"])
        }
        let configured = producerConfiguration
        let makeProducer: @Sendable () throws -> KafkaProducer = { try KafkaProducer(configuration: configured, logger: logger) }

        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [.init(service: reloader)]
        if let tokenFileReloader { services.append(.init(service: tokenFileReloader)) }
        var operations = Routers.OperationsAPI.noAdminToken
        let sink: any EventSink
        var lock: DataDirectoryLock?
        switch mode {
        case .durable:
            // Fail fast on a bad --kafka property; the publisher makes its own producer.
            try await makeProducer().shutdown()
            let dataDirectory = env.value(dataDir, "DATA_DIR") ?? "./data"
            let reserveText = env.value(storeReserve, "STORE_RESERVE") ?? "8MiB"
            let reserve = reserveText == "0" ? 0 : try FlagValue.bytes(reserveText, flag: "--store-reserve")
            do {
                lock = try DataDirectoryLock(directory: dataDirectory)
            } catch {
                throw ConfigurationError("--data-dir \(error)")
            }
            let store: OutboxStore
            do {
                store = try OutboxStore(directory: dataDirectory, maxPending: pendingBound,
                                        dedupeWindow: window, reserveBytes: reserve, eventLog: try eventLogPolicy(env: env))
            } catch {
                throw ConfigurationError("--data-dir \(dataDirectory): cannot open the store: \(error)")
            }
            sink = DurableSink(store: store)
            if store.eventLog != nil, let adminToken {
                operations = .served(StoreOperations(store: store, routes: reloader, maxReplay: replayBound,
                                                     logger: logger), adminToken: adminToken)
            }
            services.append(.init(service: OutboxPublisher(store: store, makeProducer: makeProducer, logger: logger, parkAfter: parkAfter)))
            services.append(.init(service: StorePruner(store: store, logger: logger)))
        case .direct:
            operations = .directMode
            let direct = try DirectDelivery(makeProducer: makeProducer)
            sink = direct
            services.append(.init(service: direct))
        }
        let ingest = Ingest(senderCheck: senderCheck, routes: reloader, sink: sink, logger: logger)
        let metrics = Routers.MetricsEndpoint(
            render: { var buffer: [UInt8] = []; registry.emit(into: &buffer); return String(decoding: buffer, as: UTF8.self) },
            token: adminToken
        )
        if let admin {
            // Before the ingest listener, so on SIGTERM it stops after it: metrics and
            // readiness stay visible while the webhook endpoint drains.
            let adminApp = Application(router: Routers.admin(ingest, metrics: metrics, operations: operations),
                                       server: .http1(gate: ConnectionGate(limits: limits, listener: "admin", count: { ingest.count($0) })),
                                       configuration: .init(address: .hostname(admin.host, port: admin.port), serverName: "okra-bridge-admin"), logger: logger)
            services.append(.init(service: Listener(app: adminApp, flag: "--admin-listen", address: "\(admin.host):\(admin.port)")))
        }
        let budget = BodyBudget(limit: try FlagValue.bytes(env.value(maxInflightBody, "MAX_INFLIGHT_BODY") ?? "256MiB", flag: "--max-inflight-body"))
        if budget.limit < maxBody { throw UsageError("--max-inflight-body \(budget.limit) is smaller than --max-body \(maxBody): no body of the largest size could be read") }
        let app = Application(router: Routers.ingest(ingest, maxBody: maxBody, bodyBudget: budget, metrics: admin == nil ? metrics : nil),
                              server: .http1(gate: ConnectionGate(limits: limits, listener: "ingest",
                                                                  policy: .ingest(senderCheck),
                                                                  count: { ingest.count($0) })),
                              configuration: .init(address: .hostname(listen.host, port: listen.port), serverName: "okra-bridge"), logger: logger)
        services.append(.init(service: Listener(app: app, flag: "--listen", address: "\(listen.host):\(listen.port)")))
        logger.info("okra-bridge starting", metadata: [
            "listen": "\(listen.host):\(listen.port)", "admin_listen": "\(admin.map { "\($0.host):\($0.port)" } ?? "none")",
            "metrics_token": "\(adminToken == nil ? "none" : "set")",
            "delivery": "\(mode.rawValue)", "routes.sha256": "\(reloader.activeSHA256)",
            "header_timeout": "\(limits.headerTimeout)", "body_timeout": "\(limits.bodyTimeout)",
            "idle_timeout": "\(limits.idleTimeout)", "max_connections": "\(limits.maxConnections)",
            "max_connections_per_address": "\(limits.maxConnectionsPerAddress)",
            "tokens": "\(senderCheck.tokenCount)", "token_file": "\(tokenFilePath ?? "none")", "max_body": "\(maxBody)",
        ])
        var groupConfiguration = ServiceGroupConfiguration(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        // A shutdown that takes longer is cancelled rather than left hanging.
        groupConfiguration.maximumGracefulShutdownDuration = .seconds(20)
        return (ServiceGroup(configuration: groupConfiguration), lock)
    }

    /// The connection limits of §3 from their flags.
    func connectionLimits(env: Environment) throws -> ConnectionLimits {
        var limits = ConnectionLimits()
        if let text = env.value(headerTimeout, "HEADER_TIMEOUT") { limits.headerTimeout = try FlagValue.duration(text, flag: "--header-timeout") }
        if let text = env.value(bodyTimeout, "BODY_TIMEOUT") { limits.bodyTimeout = try FlagValue.duration(text, flag: "--body-timeout") }
        if let text = env.value(idleTimeout, "IDLE_TIMEOUT") { limits.idleTimeout = try FlagValue.duration(text, flag: "--idle-timeout") }
        limits.maxConnections = try env.count(maxConnections, "MAX_CONNECTIONS", flag: "--max-connections", default: limits.maxConnections)
        limits.maxConnectionsPerAddress = try env.count(maxConnectionsPerAddress, "MAX_CONNECTIONS_PER_ADDRESS", flag: "--max-connections-per-address",
                                                        default: limits.maxConnectionsPerAddress)
        return limits
    }

    /// The event log's retention (nil: `--retain 0`, off).
    func eventLogPolicy(env: Environment) throws -> EventLogPolicy? {
        let retainText = env.value(retain, "RETAIN") ?? "168h"
        if retainText == "0" { return nil }
        let sizeText = env.value(retainSize, "RETAIN_SIZE") ?? "1GiB"
        return EventLogPolicy(retain: try FlagValue.duration(retainText, flag: "--retain"),
                              retainBytes: Int64(try FlagValue.bytes(sizeText, flag: "--retain-size")))
    }
}
