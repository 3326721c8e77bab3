import Foundation
import Hummingbird
import Logging
import OkraEnvelope
import OkraHTTP
import OkraIngest
import OkraKafka
import OkraOperations
import OkraPublisher
import OkraStore
import OTel
import Prometheus
import ServiceLifecycle
import Synchronization
import Tracing

/// `serve`'s wiring: a ``ServeConfiguration`` in, the service group out. The files the settings
/// name are read here (a bad one is a failed run, exit 1); in start order: the routes reloader,
/// the sink's services (publisher and store upkeep, or the direct producer), the admin listener, and
/// the ingest listener last, so on SIGTERM it stops first and the publisher drains last.
enum ServeServices {
    static func make(_ configuration: ServeConfiguration, registry: PrometheusCollectorRegistry,
                     logger: Logger) async throws -> (ServiceGroup, DataDirectoryLock?) {
        let reloader: RoutesReloader
        do {
            reloader = try RoutesReloader(path: configuration.routesPath, logger: logger)
        } catch {
            throw UserError("--routes \(configuration.routesPath): \(error)")
        }
        // Token reloads go on the audit trail once the store is open (the process log before).
        let reloadAudit = ReloadAudit(logger: logger)
        let (senderCheck, tokenFileReloader) = try senderCheck(configuration, audit: reloadAudit, logger: logger)
        let (adminTokens, adminTokenReloader) = try adminTokens(configuration, audit: reloadAudit, logger: logger)
        let producerConfiguration = try producerConfiguration(configuration, logger: logger)
        // Every producer (one is replaced after a fatal error) reports to the one health.
        let health = KafkaHealth(logger: logger, secrets: producerConfiguration.secretValues)
        let makeProducer: @Sendable () throws -> KafkaProducer = {
            try KafkaProducer(configuration: producerConfiguration, logger: logger, health: health)
        }
        // Fail fast on a property librdkafka refuses, before the store is locked, opened or upgraded.
        try await checkProducer(makeProducer, configuration)

        // First in the group, so it stops last: the publisher's last spans are exported.
        let (tracing, exporter) = try tracing(configuration, logger: logger)
        // Tracing is optional: an exporter that stops never stops the bridge.
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = exporter.map {
            [.init(service: $0, successTerminationBehavior: .ignore, failureTerminationBehavior: .ignore)]
        } ?? []
        services.append(.init(service: reloader))
        services.append(.init(service: HeapTrimmer()))
        if let tokenFileReloader { services.append(.init(service: tokenFileReloader)) }
        if let adminTokenReloader { services.append(.init(service: adminTokenReloader)) }
        let sink = try await sink(configuration, makeProducer: makeProducer, health: health, reloader: reloader, adminTokens: adminTokens,
                                  tracing: tracing, logger: logger)
        switch sink.operations {
        case .served(let operations, _), .noEventLog(let operations, _): reloadAudit.trail = operations
        case .noAdminToken, .directMode: break
        }
        services += sink.services
        let ingest = Ingest(senderCheck: senderCheck, routes: reloader, sink: sink.sink, logger: logger, tracing: tracing)
        services += listeners(configuration, ingest: ingest, senderCheck: senderCheck, operations: sink.operations,
                              adminTokens: adminTokens, registry: registry, logger: logger)
        var versions: Logger.Metadata = [:]
        for part in BridgeVersion.parts { versions[part.name == "okra-bridge" ? "version" : part.name] = "\(part.value)" }
        logger.info("okra-bridge starting", metadata: versions.merging([
            "listen": "\(configuration.listen.host):\(configuration.listen.port)",
            "admin_listen": "\(configuration.adminListen.map { "\($0.host):\($0.port)" } ?? "none")",
            "admin_tokens": "\(adminTokens?.adminTokens.names.joined(separator: ",") ?? "none")",
            "delivery": "\(configuration.delivery.rawValue)", "routes.sha256": "\(reloader.activeSHA256)",
            "header_timeout": "\(configuration.limits.headerTimeout)", "body_timeout": "\(configuration.limits.bodyTimeout)",
            "idle_timeout": "\(configuration.limits.idleTimeout)", "max_connections": "\(configuration.limits.maxConnections)",
            "max_connections_per_address": "\(configuration.limits.maxConnectionsPerAddress)",
            "tracing": "\(configuration.tracing.map { "otlp \($0.tracesURL)" } ?? "off")",
            "tokens": "\(senderCheck.tokenCount)", "token_file": "\(configuration.tokenFile ?? "none")", "max_body": "\(configuration.maxBody)",
        ]) { $1 })
        var groupConfiguration = ServiceGroupConfiguration(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        // A shutdown that takes longer is cancelled rather than left hanging.
        groupConfiguration.maximumGracefulShutdownDuration = .seconds(20)
        return (ServiceGroup(configuration: groupConfiguration), sink.lock)
    }

    /// The admin tokens: `--admin-token` (one `operate` token named `admin`) and the lines of
    /// `--admin-token-file`, which is re-read while serving (a bad file is a failed run naming its
    /// lines, as a short `--admin-token` is a usage error); nil when neither is given.
    static func adminTokens(_ configuration: ServeConfiguration, audit: ReloadAudit? = nil,
                            logger: Logger) throws -> ((any AdminTokenSource)?, AdminTokenFileReloader?) {
        let fixed = try configuration.adminToken.map { token in
            do { return try AdminTokenSet(bare: token) } catch { throw UsageError("--admin-token: \(error)") }
        }
        guard let path = configuration.adminTokenFile else { return (fixed, nil) }
        do {
            let reloader = try AdminTokenFileReloader(path: path, fixed: fixed ?? .none, logger: logger) { set in
                audit?.record(.adminTokensReload, path: path, names: set.names)
            }
            return (reloader, reloader)
        } catch {
            throw UserError("--admin-token-file \(error)")
        }
    }

    /// Makes a producer and shuts it down: librdkafka checks every property then. A property of
    /// `--kafka` it refuses is a usage error; one of `--kafka-config`'s file a failed run.
    static func checkProducer(_ makeProducer: @Sendable () throws -> KafkaProducer, _ configuration: ServeConfiguration) async throws {
        do {
            try await makeProducer().shutdown()
        } catch let error as KafkaError {
            let fromFlag = configuration.kafkaProperties.keys.contains { error.reason.contains($0) }
            if let path = configuration.kafkaConfigPath, !fromFlag { throw UserError("--kafka-config \(path): \(error.reason)") }
            throw UsageError("--kafka \(error.reason)")
        }
    }

    /// Who may send: the tokens (a token file is read here and re-read while serving), the
    /// allowlist and the trusted proxies.
    static func senderCheck(_ configuration: ServeConfiguration, audit: ReloadAudit? = nil, logger: Logger) throws -> (SenderCheck, TokenFileReloader?) {
        do {
            let fixed = try TokenSet(pairs: configuration.tokens)
            let reloader = try configuration.tokenFile.map { path in
                try TokenFileReloader(path: path, fixed: fixed, logger: logger) { set in
                    audit?.record(.webhookTokensReload, path: path, names: nil, count: set.counts.values.reduce(0, +))
                }
            }
            let check = try SenderCheck(tokenSource: reloader ?? fixed, allowIPs: configuration.allowIPs,
                                        trustedProxies: configuration.trustedProxies, allowUnauthenticated: configuration.allowUnauthenticated)
            return (check, reloader)
        } catch {
            throw error.commandLineError
        }
    }

    /// librdkafka's settings: the delivery mode's timeouts, then `--kafka-config`'s file, then
    /// `--kafka`; and the check that a body of `--max-body` always fits a record.
    static func producerConfiguration(_ configuration: ServeConfiguration, logger: Logger) throws -> KafkaProducerConfiguration {
        var producer = KafkaProducerConfiguration(bootstrapServers: configuration.brokers)
        switch configuration.delivery {
        case .durable: OutboxPublisher.producerDefaults(&producer)
        case .direct: DirectDelivery.producerDefaults(&producer)
        }
        if let path = configuration.kafkaConfigPath {
            let properties = try SecretFile.properties(path, flag: "--kafka-config")
            do {
                try producer.apply(properties)
            } catch {
                throw UserError("--kafka-config \(path): \(error.reason)")
            }
        }
        do {
            try producer.apply(configuration.kafkaProperties)
        } catch {
            throw UsageError("--kafka \(error.reason)")
        }
        // A body of --max-body must always become a record librdkafka sends (decision 0007).
        if configuration.maxBody + EnvelopeLimits.maxRecordOverhead > producer.maxMessageBytes {
            throw UsageError("--max-body \(configuration.maxBody) plus the envelope (up to \(EnvelopeLimits.maxRecordOverhead) bytes) does not fit in message.max.bytes \(producer.maxMessageBytes): lower --max-body, or raise --kafka message.max.bytes (and the topics' max.message.bytes)")
        }
        if configuration.delivery == .durable && producer.messageTimeout != .zero {
            logger.warning("message.timeout.ms is set in durable mode: during a Kafka outage longer than it, records of one key can reach Kafka out of order (decision 0007)",
                           metadata: ["kafka.message_timeout": "\(producer.messageTimeout)"])
        }
        return producer
    }

    /// Where accepted events go, the services that come with it, and the operations API it serves.
    struct Sink {
        var sink: any EventSink
        var services: [ServiceGroupConfiguration.ServiceConfiguration]
        var operations: Routers.OperationsAPI
        var lock: DataDirectoryLock?
    }

    static func sink(_ configuration: ServeConfiguration, makeProducer: @escaping @Sendable () throws -> KafkaProducer, health: KafkaHealth,
                     reloader: RoutesReloader, adminTokens: (any AdminTokenSource)?, tracing: EventTracing, logger: Logger) async throws -> Sink {
        guard configuration.delivery == .durable else {
            let direct = try DirectDelivery(makeProducer: makeProducer, health: health)
            return Sink(sink: direct, services: [.init(service: direct)], operations: .directMode(tokens: adminTokens))
        }
        let directory = configuration.dataDirectory
        let lock: DataDirectoryLock
        do {
            lock = try DataDirectoryLock(directory: directory)
        } catch {
            throw UserError("--data-dir \(error)")
        }
        let cipher = try logCipher(configuration)
        let store: OutboxStore
        do {
            store = try OutboxStore(directory: directory, maxPending: configuration.maxPending, dedupeWindow: configuration.dedupeWindow,
                                    reserveBytes: configuration.storeReserve, eventLog: configuration.eventLog,
                                    auditRetain: configuration.auditRetain, cipher: cipher)
        } catch let error as OutboxStore.MissingKey {
            throw UserError("--log-key-file \(configuration.logKeyFile ?? "(none given)"): \(error)")
        } catch let error as OutboxStore.WrongKey {
            throw UserError("--log-key-file \(configuration.logKeyFile ?? "(none given)"): \(error)")
        } catch {
            throw UserError("--data-dir \(directory): cannot open the store: \(error)")
        }
        var operations = Routers.OperationsAPI.noAdminToken
        if let adminTokens {
            let served = StoreOperations(store: store, routes: reloader, maxReplay: configuration.maxReplay, logger: logger)
            operations = store.eventLog == nil ? .noEventLog(served, tokens: adminTokens) : .served(served, tokens: adminTokens)
        }
        let publisher = OutboxPublisher(store: store, makeProducer: makeProducer, logger: logger, parkAfter: configuration.parkAfter, health: health,
                                        tracing: tracing)
        return Sink(sink: DurableSink(store: store, kafka: { health.status.readiness }),
                    services: [.init(service: publisher),
                               .init(service: StoreUpkeep(store: store, logger: logger))],
                    operations: operations, lock: lock)
    }

    /// Tracing and its exporter (swift-otel's OTLP/HTTP, run as a service), or off. Only traces:
    /// metrics stay Prometheus's, logs the JSON lines. The standard `OTEL_*` variables (protocol
    /// `http/protobuf` or `http/json`, headers, timeouts, sampler) apply as swift-otel reads them.
    /// swift-otel logs each `OTEL_*` variable it applies with its value, which for
    /// `OTEL_EXPORTER_OTLP_HEADERS` is the collector's credential: its lines reach the log through
    /// ``ExporterLogHandler``, which leaves every value out.
    static func tracing(_ configuration: ServeConfiguration, logger: Logger) throws -> (EventTracing, (any Service)?) {
        guard let export = configuration.tracing else { return (.off, nil) }
        var otel = OTel.Configuration.default
        otel.serviceName = "okra-bridge"
        otel.metrics.enabled = false
        otel.logs.enabled = false
        otel.traces.enabled = true
        otel.traces.exporter = .otlp
        let level = configuration.logLevel
        otel.diagnosticLogger = .custom(Logger(label: "okra-bridge.otel") { label in
            var handler = ExporterLogHandler(JSONLogHandler(label: label))
            handler.logLevel = level
            return handler
        })
        if case .endpoint = export { otel.traces.otlpExporter.endpoint = export.tracesURL }
        do {
            let backend = try OTel.makeTracingBackend(configuration: otel)
            return (.on(backend.factory), backend.service)
        } catch {
            throw UserError("tracing to \(export.tracesURL): \(error)")
        }
    }

    /// The keys of `--log-key-file` (nil: kept in clear); a file that cannot be used is a failed run.
    static func logCipher(_ configuration: ServeConfiguration) throws -> StoreCipher? {
        guard let path = configuration.logKeyFile else { return nil }
        do {
            return try StoreCipher.read(file: path)
        } catch {
            throw UserError("--log-key-file \(error)")
        }
    }

    /// The admin listener (when asked for) and the ingest listener, in that order: on SIGTERM
    /// the ingest listener stops first, and metrics and readiness stay visible while it drains.
    static func listeners(_ configuration: ServeConfiguration, ingest: Ingest, senderCheck: SenderCheck, operations: Routers.OperationsAPI,
                          adminTokens: (any AdminTokenSource)?, registry: PrometheusCollectorRegistry, logger: Logger) -> [ServiceGroupConfiguration.ServiceConfiguration] {
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = []
        let limits = configuration.limits
        let metrics = Routers.MetricsEndpoint(
            render: { var buffer: [UInt8] = []; registry.emit(into: &buffer); return String(decoding: buffer, as: UTF8.self) },
            tokens: adminTokens
        )
        if let admin = configuration.adminListen {
            let adminApp = Application(router: Routers.admin(ingest, metrics: metrics, operations: operations),
                                       server: .http1(gate: ConnectionGate(limits: limits, listener: "admin", count: { ingest.count($0, on: .admin) })),
                                       configuration: .init(address: .hostname(admin.host, port: admin.port), serverName: "okra-bridge-admin"), logger: logger)
            services.append(.init(service: Listener(app: adminApp, name: "admin", address: "\(admin.host):\(admin.port)")))
        }
        let listen = configuration.listen
        let webhook = WebhookRoute(ingest: ingest, maxBody: configuration.maxBody, bodyBudget: BodyBudget(limit: configuration.maxInflightBody),
                                   serverName: "okra-bridge")
        let gate = ConnectionGate(limits: limits, listener: "ingest", policy: .ingest(senderCheck), count: { ingest.count($0, on: .ingest) })
        let app = Application(router: Routers.ingest(webhook, metrics: configuration.adminListen == nil ? metrics : nil),
                              server: .http1(gate: gate, webhook: webhook),
                              configuration: .init(address: .hostname(listen.host, port: listen.port), serverName: "okra-bridge"), logger: logger)
        services.append(.init(service: Listener(app: app, name: "ingest", address: "\(listen.host):\(listen.port)")))
        return services
    }
}

/// Token file reloads on the audit trail: the process log at once, the store's trail once it is
/// open (``trail``); a reload is no token's action, so the line names the file.
final class ReloadAudit: Sendable {
    private let logger: Logger
    private let target = Mutex<(any AuditTrail)?>(nil)

    init(logger: Logger) { self.logger = logger }

    /// The store's trail, once it is open.
    var trail: (any AuditTrail)? {
        get { target.withLock { $0 } }
        set { target.withLock { $0 = newValue } }
    }

    /// Records a reload of the file at `path`, which now holds `names` (or `count` tokens).
    func record(_ action: AuditAction, path: String, names: [String]?, count: Int? = nil) {
        let record = AuditRecord(atMilliseconds: Int64(Date().timeIntervalSince1970 * 1000), token: path, scope: nil, action: action,
                                 ids: names, count: count ?? names?.count ?? 0)
        guard let trail else {
            StoreOperations.log(record, to: logger)
            return
        }
        let logger = logger
        Task {
            do {
                try await trail.audit(record)
            } catch {
                StoreOperations.log(record, to: logger)
                logger.error("the audit trail could not keep a token reload; it is in this log only", metadata: ["error": "\(error)"])
            }
        }
    }
}
