import ArgumentParser
import Foundation
import Logging
import OkraEnvelope
import OkraIngest
import OkraKafka
import OkraRouting

extension Logger {
    /// For commands that report by their output: librdkafka's and the libraries' lines are
    /// left out unless critical (`topics`, `check`).
    static var quiet: Logger {
        var logger = Logger(label: "okra-bridge")
        logger.logLevel = .critical
        return logger
    }
}

/// The connection flags `topics` and `check` share with `serve`: the same names and the same
/// `OKRA_BRIDGE_*` variables (``ServeSettings``), so one environment file serves all three.
struct KafkaConnectionOptions: ParsableArguments {
    @Option(help: "Kafka bootstrap servers (host:port,...).") var brokers: String?
    @Option(help: "Any librdkafka property as KEY=VALUE; repeatable (security.protocol, ssl.ca.location...). Secrets such as sasl.password belong in --kafka-config: argv is visible to every user.") var kafka: [String] = []
    @Option(help: "A file of librdkafka properties, KEY=VALUE a line (# comments), for secrets such as sasl.password; --kafka overrides it.") var kafkaConfig: String?

    /// The bootstrap servers and the librdkafka properties: `--kafka-config`'s file, then `--kafka`.
    func resolve(_ read: SettingsReader = SettingsReader()) throws -> (brokers: String, properties: [String: String]) {
        typealias S = ServeSettings
        guard let brokers = try read.value(S.brokers, brokers, { $0 }) else {
            throw UsageError("\(S.brokers.flag) (or \(S.brokers.variable)) is required")
        }
        let flagged = try FlagValue.kafkaProperties(read.list(S.kafka, kafka))
        var properties: [String: String] = [:]
        if let path = try read.value(S.kafkaConfig, kafkaConfig, { $0 }) {
            properties = try SecretFile.properties(path, flag: "--kafka-config")
        }
        properties.merge(flagged) { $1 }
        return (brokers, properties)
    }

    /// An admin client with these settings; a property librdkafka refuses is a usage error.
    func admin(logger: Logger) throws -> KafkaAdmin {
        let (brokers, properties) = try resolve()
        do {
            return try KafkaAdmin(bootstrapServers: brokers, properties: properties, logger: logger)
        } catch {
            throw UsageError("--kafka \(error.reason)")
        }
    }
}

/// What decides the topics: the routes file, and the environments events can have, which the
/// tokens decide (`serve` refuses an event of another environment than its token's).
struct RoutedEnvironmentOptions: ParsableArguments {
    @Option(help: "The routes file.") var routes: String?
    @Option(help: "ENV=SECRET as serve takes it: only its ENV is used here. Repeatable.") var token: [String] = []
    @Option(help: "serve's token file: only the environments of its lines are used here.") var tokenFile: String?
    @Flag(help: "serve runs without tokens: events of every environment, unknown included, can arrive.") var allowUnauthenticated = false

    /// The routes table, loaded; an invalid file fails with its problems.
    func table(_ read: SettingsReader = SettingsReader()) throws -> RouteTable {
        let path = try read.value(ServeSettings.routes, routes, default: "./routes.json", { $0 })
        do {
            return try RouteTable.load(path: path)
        } catch {
            throw UserError("--routes \(path): \(error)")
        }
    }

    /// The environments of the configured tokens; production and sandbox when none is given;
    /// and `unknown` too when serve accepts any sender.
    func environments(_ read: SettingsReader = SettingsReader()) throws -> [OkraEnvironment] {
        typealias S = ServeSettings
        let unauthenticated = try read.flag(S.allowUnauthenticated, allowUnauthenticated)
        let tokens = try read.list(S.token, token)
        let tokenFile = try read.value(S.tokenFile, tokenFile, { $0 })
        let quiet = Logger.quiet
        // A bad token or an unreadable file is said here, as serve would say it.
        do {
            _ = try TokenSet(pairs: tokens)
            if let tokenFile { _ = try TokenFileReloader(path: tokenFile, logger: quiet) }
        } catch {
            throw error.commandLineError
        }
        return TopicEnvironments.of(tokens: tokens, tokenFile: tokenFile, allowUnauthenticated: unauthenticated, logger: quiet)
    }
}
