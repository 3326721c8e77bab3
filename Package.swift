// swift-tools-version:6.1
import PackageDescription

// One module per stage of a webhook's journey (docs/architecture.md):
//   OkraHTTP -> OkraIngest (sender check, normalize, route) -> EventSink
//     durable: OkraStore (SQLite outbox) -> OkraPublisher -> OkraKafka -> Kafka
//     direct:  OkraPublisher (DirectDelivery) -> OkraKafka -> Kafka
// The executable `okra-bridge` only parses flags and wires the modules together.
let package = Package(
    name: "okra-bridge",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "okra-bridge", targets: ["okra-bridge"]),
        .library(name: "OkraKafka", targets: ["OkraKafka"]),
        .library(name: "OkraEnvelope", targets: ["OkraEnvelope"]),
        .library(name: "OkraRouting", targets: ["OkraRouting"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.5.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.6.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.0.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.5.0"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.0.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.80.0"),
        // Already under Hummingbird; named here for the HTTP parts the connection guard watches.
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.34.1"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.0.0"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.21.0"),
        // Already under swift-nio-extras and swift-certificates; AES-GCM for the event log at rest.
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/apple/swift-distributed-tracing.git", from: "1.1.0"),
        // Only the OTLP/HTTP exporter: the default traits would add gRPC's build (docs/decisions/0015).
        .package(url: "https://github.com/swift-otel/swift-otel.git", from: "1.0.0", traits: ["OTLPHTTP"]),
    ],
    targets: [
        // librdkafka, found through pkg-config. Only OkraKafka imports it, in Sources/OkraKafka/RDKafka/.
        .systemLibrary(
            name: "CRDKafka",
            pkgConfig: "rdkafka",
            providers: [.apt(["librdkafka-dev"])]
        ),
        // Pure: Okra payload bytes in, canonical CloudEvents envelope out. Foundation only.
        .target(name: "OkraEnvelope"),
        // Pure: routes.json validated and compiled; canonical event in, Kafka records out.
        .target(name: "OkraRouting", dependencies: ["OkraEnvelope"]),
        // The webhook pipeline: sender check, normalize, route, hand to an EventSink; routes
        // reloading. No HTTP, no SQLite, no librdkafka.
        .target(
            name: "OkraIngest",
            dependencies: [
                "OkraEnvelope",
                "OkraRouting",
                "OkraOperations",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
            ]
        ),
        // The operations port (§9) and its admin API's wire types, shared by the server and the
        // CLI: what an operator asks of the event log. Pure: OkraEnvelope only.
        .target(name: "OkraOperations", dependencies: ["OkraEnvelope"]),
        // The SQLite file: the outbox where records wait for Kafka, the publish mark, the dedupe
        // index; the durable EventSink.
        .target(
            name: "OkraStore",
            dependencies: [
                "OkraEnvelope",
                "OkraRouting",
                "OkraIngest",
                "OkraOperations",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "GRDB", package: "GRDB.swift"),
                // The SQLite GRDB links, for the hot inserts bound without copies (BoundValues).
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // The only code that joins records to Kafka: the outbox publisher and direct delivery.
        .target(
            name: "OkraPublisher",
            dependencies: [
                "OkraIngest",
                "OkraKafka",
                "OkraRouting",
                "OkraStore",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
            ]
        ),
        // The Hummingbird routes of both listeners, mapping pipeline answers to HTTP.
        .target(
            name: "OkraHTTP",
            dependencies: [
                "OkraEnvelope",
                "OkraIngest",
                "OkraOperations",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // Okra's own API (callback/trigger, callback): a typed client, no command line.
        .target(
            name: "OkraClient",
            dependencies: [
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
        // Kafka through librdkafka: every rd_kafka_* call lives in Sources/OkraKafka/RDKafka/.
        .target(
            name: "OkraKafka",
            dependencies: [
                "CRDKafka",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // `swift run -c release okra-kafka-bench`: producer throughput (docs/benchmarks.md).
        .executableTarget(
            name: "okra-kafka-bench",
            dependencies: ["OkraKafka", .product(name: "Logging", package: "swift-log")]
        ),
        // `swift run -c release okra-store-bench`: the event log's searches and export (docs/benchmarks.md).
        .executableTarget(name: "okra-store-bench", dependencies: ["OkraStore", "OkraIngest", "OkraOperations", "OkraEnvelope", "OkraRouting"]),
        // `swift run -c release okra-envelope-bench`: normalizer throughput (docs/benchmarks.md).
        .executableTarget(name: "okra-envelope-bench", dependencies: ["OkraEnvelope"]),
        // The store floor (docs/benchmarks.md): the contract's parts wired as directly as they go.
        .executableTarget(
            name: "okra-floor-bench",
            dependencies: [
                "OkraEnvelope", "OkraRouting", "OkraIngest", "OkraStore", "OkraKafka",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
        // Flags, configuration, wiring, the ServiceGroup; nothing else.
        .executableTarget(
            name: "okra-bridge",
            dependencies: [
                "OkraEnvelope",
                "OkraRouting",
                "OkraIngest",
                "OkraOperations",
                "OkraStore",
                "OkraPublisher",
                "OkraHTTP",
                "OkraKafka",
                "OkraClient",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "OTel", package: "swift-otel"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
            ],
            plugins: ["BuildCommit"]
        ),
        // Writes the commit the binary is built from (`okra-bridge version`).
        .plugin(name: "BuildCommit", capability: .buildTool()),
        .testTarget(
            name: "OkraEnvelopeTests",
            dependencies: ["OkraEnvelope"],
            exclude: ["Fixtures"]
        ),
        .testTarget(
            name: "OkraRoutingTests",
            dependencies: ["OkraRouting", "OkraEnvelope"],
            exclude: ["seed-routes.tsv"]
        ),
        // Test doubles shared by test targets: the in-memory EventSink, loopback servers, small volumes.
        .target(
            name: "OkraTestSupport",
            dependencies: [
                "OkraIngest",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Tests/OkraTestSupport"
        ),
        .testTarget(
            name: "OkraIngestTests",
            dependencies: [
                "OkraIngest",
                "OkraTestSupport",
                "OkraEnvelope",
                "OkraRouting",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "MetricsTestKit", package: "swift-metrics"),
            ]
        ),
        .testTarget(name: "OkraOperationsTests", dependencies: ["OkraOperations", "OkraEnvelope"]),
        .testTarget(
            name: "OkraStoreTests",
            dependencies: ["OkraStore", "OkraIngest", "OkraOperations", "OkraRouting", "OkraEnvelope", "OkraTestSupport",
                           .product(name: "GRDB", package: "GRDB.swift"), .product(name: "GRDBSQLite", package: "GRDB.swift"),
                           .product(name: "Logging", package: "swift-log"), .product(name: "MetricsTestKit", package: "swift-metrics")]
        ),
        .testTarget(
            name: "OkraPublisherTests",
            dependencies: [
                "OkraPublisher", "OkraIngest", "OkraKafka", "OkraRouting", "OkraStore",
                .product(name: "GRDB", package: "GRDB.swift"), .product(name: "Logging", package: "swift-log"),
                .product(name: "MetricsTestKit", package: "swift-metrics"),
            ]
        ),
        .testTarget(
            name: "OkraHTTPTests",
            dependencies: [
                .product(name: "InMemoryTracing", package: "swift-distributed-tracing"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                "OkraEnvelope",
                "OkraHTTP",
                "OkraIngest",
                "OkraOperations",
                "OkraRouting",
                "OkraTestSupport",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .testTarget(
            name: "OkraClientTests",
            dependencies: [
                "OkraClient",
                "OkraTestSupport",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .testTarget(
            name: "OkraKafkaTests",
            dependencies: [
                "OkraKafka",
                "OkraTestSupport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "MetricsTestKit", package: "swift-metrics"),
            ]
        ),
        // Real parts: the broker over TCP, SQLite files, `okra-bridge` as a process over HTTP.
        .testTarget(
            name: "IntegrationTests",
            dependencies: [
                "OkraKafka", "OkraStore", "OkraPublisher", "OkraRouting", "OkraEnvelope", "OkraIngest", "OkraOperations", "OkraTestSupport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Hummingbird", package: "hummingbird"),
            ]
        ),
    ]
)
