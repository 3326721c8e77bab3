import ArgumentParser
import Foundation
import Hummingbird
import Logging
import Metrics
import OkraEnvelope
import OkraHTTP
import OkraIngest
import OkraKafka
import OkraPublisher
import OkraStore
import Prometheus
import ServiceLifecycle

/// `okra-bridge serve`: receive Okra's webhooks and land them on Kafka.
///
/// Its settings are in ``ServeSettings`` (flag, variable, default) and its flags in
/// ``ServeOptions`` (`check` takes the same); `resolve(environment:)` turns them into a ``ServeConfiguration``, and ``ServeServices/make(_:registry:logger:)`` into the running services.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Receive Okra's webhooks and publish them to Kafka, at least once.",
        discussion: ServeSettings.discussion
    )

    @OptionGroup var options: ServeOptions

    func run() async throws {
        // Every value is read and checked before anything is opened: a usage error exits 2 with
        // nothing touched.
        let configuration = try options.resolve(environment: ProcessInfo.processInfo.environment)
        LoggingSystem.bootstrap { label in
            var handler = JSONLogHandler(label: label)
            handler.logLevel = configuration.logLevel
            return handler
        }
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        let logger = Logger(label: "okra-bridge")
        let exposed = options.secretFlags
        if !exposed.isEmpty {
            logger.warning("secrets are on the command line, where every user of this machine can read them in the process list: put them in --token-file, --admin-token-file and --kafka-config",
                           metadata: ["flags": "\(exposed.joined(separator: ", "))"])
        }
        let (group, lock) = try await ServeServices.make(configuration, registry: registry, logger: logger)
        try await group.run()
        // The data directory stays locked until the services stopped.
        withExtendedLifetime(lock) {}
        logger.info("okra-bridge stopped")
    }
}
