// swift-tools-version:6.0
import PackageDescription

// The least a webhook receiver on the bridge's own stack costs on this machine: two receivers
// that check the token, wait for the whole body and answer 200, doing nothing else (no JSON, no
// store, no Kafka). `scripts/bench.sh floors` builds and measures them beside the Go peer;
// docs/benchmarks.md says what the figures bound. Benchmark tools only, not part of the bridge.
let package = Package(
    name: "okra-bench-floors",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.80.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.5.0"),
    ],
    targets: [
        // SwiftNIO's HTTP/1 pipeline and one handler on the event loop: no Swift concurrency.
        .executableTarget(name: "nio-floor", dependencies: [
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
        ]),
        // Hummingbird 2 with one route, as the bridge serves its webhook route.
        .executableTarget(name: "hummingbird-floor", dependencies: [
            .product(name: "Hummingbird", package: "hummingbird"),
        ]),
    ]
)
