// swift-tools-version:6.0
import PackageDescription

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
    ],
    targets: [
        // librdkafka, found through pkg-config. Only OkraKafka imports it.
        .systemLibrary(
            name: "CRDKafka",
            pkgConfig: "rdkafka",
            providers: [.apt(["librdkafka-dev"])]
        ),
        // Pure: Okra payload bytes in, canonical CloudEvents envelope out. Foundation only.
        .target(name: "OkraEnvelope"),
        // Pure: routes.json validated and compiled; canonical event in, Kafka records out.
        .target(name: "OkraRouting", dependencies: ["OkraEnvelope"]),
        // The running bridge: HTTP ingest, the durable store, the publisher, routes reloading.
        .target(
            name: "OkraBridge",
            dependencies: [
                "OkraEnvelope",
                "OkraRouting",
                "OkraKafka",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ]
        ),
        // Every rd_kafka_* call lives here.
        .target(
            name: "OkraKafka",
            dependencies: [
                "CRDKafka",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // `swift run -c release okra-kafka-bench`: producer throughput (docs/benchmarks.md).
        .executableTarget(
            name: "okra-kafka-bench",
            dependencies: ["OkraKafka", .product(name: "Logging", package: "swift-log")]
        ),
        // `swift run -c release okra-envelope-bench`: normalizer throughput (docs/benchmarks.md).
        .executableTarget(name: "okra-envelope-bench", dependencies: ["OkraEnvelope"]),
        .testTarget(
            name: "OkraKafkaTests",
            dependencies: ["OkraKafka", .product(name: "Logging", package: "swift-log")]
        ),
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
        .testTarget(
            name: "OkraBridgeTests",
            dependencies: [
                "OkraBridge",
                "OkraRouting",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "MetricsTestKit", package: "swift-metrics"),
            ]
        ),
        .testTarget(
            name: "IntegrationTests",
            dependencies: ["OkraKafka", "OkraBridge", "OkraRouting", .product(name: "Logging", package: "swift-log")]
        ),
        .executableTarget(
            name: "okra-bridge",
            dependencies: [
                "OkraKafka",
                "OkraEnvelope",
                "OkraRouting",
                "OkraBridge",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Metrics", package: "swift-metrics"),
            ]
        ),
    ]
)
