import ArgumentParser
import Foundation
import Logging
import OkraHTTP
import OkraIngest
import OkraStore

/// Every setting of `serve`, once: flag, variable, default and what it takes. `serve --help`
/// lists them, and a test keeps this table and the command's options in step.
enum ServeSettings {
    static let listen = Setting(name: "listen", defaultValue: "0.0.0.0:8080", takes: "host:port")
    static let brokers = Setting(name: "brokers", defaultValue: nil, takes: "Kafka bootstrap servers (host:port,...)")
    static let routes = Setting(name: "routes", defaultValue: "./routes.json", takes: "a routes file")
    static let dataDir = Setting(name: "data-dir", defaultValue: "./data", takes: "a folder")
    static let token = Setting(name: "token", defaultValue: nil, takes: "ENV=SECRET with ENV production or sandbox", secret: true)
    static let tokenFile = Setting(name: "token-file", defaultValue: nil, takes: "a file of ENV=SECRET lines")
    static let delivery = Setting(name: "delivery", defaultValue: "durable", takes: "durable or direct")
    static let maxBody = Setting(name: "max-body", defaultValue: "900KiB", takes: "a size such as 900KiB or 1MiB")
    static let dedupeWindow = Setting(name: "dedupe-window", defaultValue: "73h", takes: "a duration such as 73h, 30m or 90s")
    static let allowIp = Setting(name: "allow-ip", defaultValue: nil, takes: "an IP address, a CIDR range or okra")
    static let trustedProxy = Setting(name: "trusted-proxy", defaultValue: nil, takes: "an IP address or a CIDR range")
    static let allowUnauthenticated = Setting(name: "allow-unauthenticated", defaultValue: "false", takes: "true or false")
    static let kafka = Setting(name: "kafka", defaultValue: nil, takes: "a librdkafka property as KEY=VALUE", secret: true)
    static let maxPending = Setting(name: "max-pending", defaultValue: "1000000", takes: "a count of at least 1")
    static let maxInflightBody = Setting(name: "max-inflight-body", defaultValue: "256MiB", takes: "a size such as 256MiB")
    static let storeReserve = Setting(name: "store-reserve", defaultValue: "8MiB", takes: "a size such as 8MiB, or 0 for none")
    static let adminListen = Setting(name: "admin-listen", defaultValue: nil, takes: "host:port")
    static let adminToken = Setting(name: "admin-token", defaultValue: nil, takes: "a token of at least 16 characters", secret: true)
    static let adminTokenFile = Setting(name: "admin-token-file", defaultValue: nil, takes: "a file of NAME:SCOPE[,SCOPE...]=SECRET lines, or one bare token")
    static let kafkaConfig = Setting(name: "kafka-config", defaultValue: nil, takes: "a file of KEY=VALUE librdkafka properties")
    static let retain = Setting(name: "retain", defaultValue: "168h", takes: "a duration such as 168h, or 0 to keep no event log")
    static let retainSize = Setting(name: "retain-size", defaultValue: "1GiB", takes: "a size such as 1GiB")
    static let auditRetain = Setting(name: "audit-retain", defaultValue: "365d", takes: "a duration such as 365d or 8760h")
    static let logKeyFile = Setting(name: "log-key-file", defaultValue: nil, takes: "a file of ID=BASE64 lines, each a 32-byte key")
    static let logUnencrypted = Setting(name: "log-unencrypted", defaultValue: "false", takes: "true or false")
    static let maxReplay = Setting(name: "max-replay", defaultValue: "100000", takes: "a count of at least 1")
    static let parkAfter = Setting(name: "park-after", defaultValue: "10m", takes: "a duration such as 10m")
    static let headerTimeout = Setting(name: "header-timeout", defaultValue: "10s", takes: "a duration such as 10s")
    static let bodyTimeout = Setting(name: "body-timeout", defaultValue: "30s", takes: "a duration such as 30s")
    static let idleTimeout = Setting(name: "idle-timeout", defaultValue: "60s", takes: "a duration such as 60s")
    static let maxConnections = Setting(name: "max-connections", defaultValue: "2048", takes: "a count of at least 1")
    static let maxConnectionsPerAddress = Setting(name: "max-connections-per-address", defaultValue: "64", takes: "a count of at least 1")
    static let logLevel = Setting(name: "log-level", defaultValue: "info", takes: "trace, debug, info, notice, warning, error or critical")
    static let otlpEndpoint = Setting(name: "otlp-endpoint", defaultValue: nil, takes: "an http:// or https:// URL of an OTLP/HTTP collector")

    /// The table, in `--help`'s order.
    static let all = [listen, brokers, routes, dataDir, token, tokenFile, delivery, maxBody, dedupeWindow, allowIp, trustedProxy,
                      allowUnauthenticated, kafka, maxPending, maxInflightBody, storeReserve, adminListen, adminToken, adminTokenFile,
                      kafkaConfig, retain, retainSize, auditRetain, logKeyFile, logUnencrypted, maxReplay, parkAfter, headerTimeout, bodyTimeout, idleTimeout, maxConnections,
                      maxConnectionsPerAddress, logLevel, otlpEndpoint]

    /// `serve --help`'s section of settings: each flag and its default, one a line.
    static var discussion: String {
        var lines = ["Settings: each flag also reads from OKRA_BRIDGE_<FLAG> (--max-body from OKRA_BRIDGE_MAX_BODY; a repeatable one as a comma-separated list; an empty variable is unset). Defaults:", ""]
        for setting in all {
            lines.append("  \(setting.flag.padding(toLength: 31, withPad: " ", startingAt: 0))\(setting.defaultValue ?? "-")")
        }
        return lines.joined(separator: "\n")
    }
}

/// What `serve` runs with: every setting parsed and checked against the others, before anything
/// is opened. Files named by settings (tokens, routes, Kafka properties) are read later, by
/// ``ServeServices``: a bad file is a failed run (1), a bad value a usage error (2).
struct ServeConfiguration: Sendable {
    var listen: (host: String, port: Int)
    var adminListen: (host: String, port: Int)?
    var adminToken: String?
    var adminTokenFile: String?
    var brokers: String
    var delivery: DeliveryMode
    var routesPath: String
    var dataDirectory: String
    var tokens: [String]
    var tokenFile: String?
    var allowUnauthenticated: Bool
    var allowIPs: [String]
    var trustedProxies: [String]
    var kafkaProperties: [String: String]
    var kafkaConfigPath: String?
    var maxBody: Int
    var maxInflightBody: Int
    var maxPending: Int
    var maxReplay: Int
    var dedupeWindow: Duration
    var parkAfter: Duration
    var storeReserve: Int
    var eventLog: EventLogPolicy?
    /// How long the audit trail keeps an operator's action, with the log on or off.
    var auditRetain: Duration
    /// The keys that seal what the store keeps (nil: in clear).
    var logKeyFile: String?
    var limits: ConnectionLimits
    /// Where spans go; nil: tracing off.
    var tracing: TraceExport?
    /// The lowest level logged.
    var logLevel: Logger.Level
}

/// Where spans are exported: OTLP/HTTP to a collector.
enum TraceExport: Sendable, Equatable {
    /// `--otlp-endpoint`'s base URL; the traces go to its `/v1/traces`.
    case endpoint(String)
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, which swift-otel reads
    /// itself, with the rest of the standard `OTEL_*` variables.
    case environment(String)

    /// The URL spans are posted to.
    var tracesURL: String {
        switch self {
        case .endpoint(let base): (base.hasSuffix("/") ? String(base.dropLast()) : base) + "/v1/traces"
        case .environment(let url): url
        }
    }
}

extension ServeOptions {
    /// The configuration of the flags, else the variables of `environment`, else the defaults;
    /// a ``UsageError`` naming the flag or variable of the first value that cannot be used.
    func resolve(environment: [String: String]) throws(UsageError) -> ServeConfiguration {
        let read = SettingsReader(environment)
        typealias S = ServeSettings
        guard let brokers = try read.value(S.brokers, brokers, { $0 }) else {
            throw UsageError("\(S.brokers.flag) (or \(S.brokers.variable)) is required")
        }
        let tokens = try read.list(S.token, token)
        let tokenFile = try read.value(S.tokenFile, tokenFile, { $0 })
        let unauthenticated = try read.flag(S.allowUnauthenticated, allowUnauthenticated)
        if unauthenticated && (!tokens.isEmpty || tokenFile != nil) {
            throw UsageError("--allow-unauthenticated cannot be combined with --token or --token-file: with tokens every request must carry one")
        }
        if tokens.isEmpty && tokenFile == nil && !unauthenticated {
            throw UsageError("no --token given: pass --token-file (or --token production=SECRET), or --allow-unauthenticated to accept any sender")
        }
        let allowIPs = try read.list(S.allowIp, allowIp)
        let trustedProxies = try read.list(S.trustedProxy, trustedProxy)
        // The values alone, before anything is read: a bad one is a usage error naming its flag.
        do {
            _ = try TokenSet(pairs: tokens)
            try SenderCheck.check(allowIPs: allowIPs, trustedProxies: trustedProxies)
        } catch {
            throw (error.commandLineError as? UsageError) ?? UsageError("\(error)")
        }
        let configuration = ServeConfiguration(
            listen: try read.value(S.listen, listen, default: (host: "0.0.0.0", port: 8080), FlagValue.hostPort),
            adminListen: try read.value(S.adminListen, adminListen, FlagValue.hostPort),
            adminToken: try read.value(S.adminToken, adminToken) { $0.utf8.count >= 16 ? $0 : nil },
            adminTokenFile: try read.value(S.adminTokenFile, adminTokenFile, { $0 }),
            brokers: brokers,
            delivery: try read.value(S.delivery, delivery, default: .durable, DeliveryMode.init(rawValue:)),
            routesPath: try read.value(S.routes, routes, default: "./routes.json", { $0 }),
            dataDirectory: try read.value(S.dataDir, dataDir, default: "./data", { $0 }),
            tokens: tokens, tokenFile: tokenFile, allowUnauthenticated: unauthenticated,
            allowIPs: allowIPs, trustedProxies: trustedProxies,
            kafkaProperties: try FlagValue.kafkaProperties(read.list(S.kafka, kafka)),
            kafkaConfigPath: try read.value(S.kafkaConfig, kafkaConfig, { $0 }),
            maxBody: try read.value(S.maxBody, maxBody, default: 900 << 10, FlagValue.bytes),
            maxInflightBody: try read.value(S.maxInflightBody, maxInflightBody, default: 256 << 20, FlagValue.bytes),
            maxPending: try read.value(S.maxPending, maxPending, default: 1_000_000) { FlagValue.count($0) },
            maxReplay: try read.value(S.maxReplay, maxReplay, default: 100_000) { FlagValue.count($0) },
            dedupeWindow: try read.value(S.dedupeWindow, dedupeWindow, default: .seconds(73 * 3600), FlagValue.duration),
            parkAfter: try read.value(S.parkAfter, parkAfter, default: .seconds(600), FlagValue.duration),
            storeReserve: try read.value(S.storeReserve, storeReserve, default: 8 << 20) { $0 == "0" ? 0 : FlagValue.bytes($0) },
            eventLog: try eventLogPolicy(read),
            auditRetain: try read.value(S.auditRetain, auditRetain, default: .seconds(365 * 86400), FlagValue.duration),
            logKeyFile: try read.value(S.logKeyFile, logKeyFile, { $0 }),
            limits: try connectionLimits(read),
            tracing: try traceExport(read, environment: environment),
            logLevel: try read.value(S.logLevel, logLevel, default: .info, Logger.Level.init(rawValue:)))
        try checkCombinations(configuration, read)
        return configuration
    }

    /// The settings that cannot go together, and the sizes that cannot work.
    private func checkCombinations(_ configuration: ServeConfiguration, _ read: SettingsReader) throws(UsageError) {
        let unencrypted = try read.flag(ServeSettings.logUnencrypted, logUnencrypted)
        if configuration.logKeyFile != nil && unencrypted {
            throw UsageError("--log-unencrypted cannot be combined with --log-key-file: which is meant is unclear")
        }
        if configuration.delivery == .durable && configuration.eventLog != nil && configuration.logKeyFile == nil && !unencrypted {
            throw UsageError("the event log keeps a week of customers' personal data: give --log-key-file (ID=BASE64 lines; docs/privacy.md), or --log-unencrypted to keep it in clear, or --retain 0 to keep no log")
        }
        if configuration.maxInflightBody < configuration.maxBody {
            throw UsageError("--max-inflight-body \(configuration.maxInflightBody) is smaller than --max-body \(configuration.maxBody): no body of the largest size could be read")
        }
    }

    /// Tracing (§12): on with `--otlp-endpoint` or the standard variables, off without. Both
    /// naming different collectors is refused: which one is meant is unclear.
    private func traceExport(_ read: SettingsReader, environment: [String: String]) throws(UsageError) -> TraceExport? {
        typealias S = ServeSettings
        func isURL(_ text: String) -> Bool {
            guard let url = URL(string: text), let scheme = url.scheme, ["http", "https"].contains(scheme), url.host?.isEmpty == false else { return false }
            return true
        }
        let flag = try read.value(S.otlpEndpoint, otlpEndpoint) { isURL($0) ? $0 : nil }
        let standard = ["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"].compactMap { name in
            environment[name].flatMap { $0.isEmpty ? nil : (name, $0) }
        }
        // Where a variable sends spans, as swift-otel reads it: the traces one as given, the
        // general one with /v1/traces added.
        func tracesURL(_ name: String, _ value: String) -> String {
            name == "OTEL_EXPORTER_OTLP_ENDPOINT" ? TraceExport.endpoint(value).tracesURL : value
        }
        if let flag {
            // swift-otel lets the variables win over the code: one naming another URL would be followed.
            if let (name, value) = standard.first, tracesURL(name, value) != TraceExport.endpoint(flag).tracesURL {
                throw UsageError("\(S.otlpEndpoint.flag) \(flag) and \(name) \(value) name different collectors: give one")
            }
            return .endpoint(flag)
        }
        guard let (name, value) = standard.first else { return nil }
        guard isURL(value) else { throw UsageError("\(name) \(value): not an http:// or https:// URL") }
        return .environment(tracesURL(name, value))
    }

    /// The connection limits of §3.
    private func connectionLimits(_ read: SettingsReader) throws(UsageError) -> ConnectionLimits {
        typealias S = ServeSettings
        var limits = ConnectionLimits()
        limits.headerTimeout = try read.value(S.headerTimeout, headerTimeout, default: limits.headerTimeout, FlagValue.duration)
        limits.bodyTimeout = try read.value(S.bodyTimeout, bodyTimeout, default: limits.bodyTimeout, FlagValue.duration)
        limits.idleTimeout = try read.value(S.idleTimeout, idleTimeout, default: limits.idleTimeout, FlagValue.duration)
        limits.maxConnections = try read.value(S.maxConnections, maxConnections, default: limits.maxConnections) { FlagValue.count($0) }
        limits.maxConnectionsPerAddress = try read.value(S.maxConnectionsPerAddress, maxConnectionsPerAddress,
                                                         default: limits.maxConnectionsPerAddress) { FlagValue.count($0) }
        return limits
    }

    /// The event log's retention (nil: `--retain 0`, off).
    private func eventLogPolicy(_ read: SettingsReader) throws(UsageError) -> EventLogPolicy? {
        typealias S = ServeSettings
        enum Retain { case off, keep(Duration) }
        let retain = try read.value(S.retain, retain, default: .keep(.seconds(168 * 3600))) { text in
            text == "0" ? .off : FlagValue.duration(text).map(Retain.keep)
        }
        let bytes = try read.value(S.retainSize, retainSize, default: 1 << 30, FlagValue.bytes)
        guard case .keep(let duration) = retain else { return nil }
        return EventLogPolicy(retain: duration, retainBytes: Int64(bytes))
    }
}
