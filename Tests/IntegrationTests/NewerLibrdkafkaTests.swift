import Foundation
import OkraKafka
import Testing

/// The shim is not tied to Debian's librdkafka: the same binary runs on the newer one inside
/// PyPI's confluent-kafka wheel (`LD_LIBRARY_PATH`, which scripts/test.sh prepares and passes in
/// `OKRA_NEWER_LIBRDKAFKA_PATH`), talking to Tansu directly, with no relay.
@Suite("a newer librdkafka (real broker, no relay)", .enabled(if: DevBroker.enabled), .serialized)
struct NewerLibrdkafkaTests {
    static func libraryPath() throws -> String {
        guard let path = ProcessInfo.processInfo.environment["OKRA_NEWER_LIBRDKAFKA_PATH"], !path.isEmpty else {
            throw BrokerUnavailable("OKRA_NEWER_LIBRDKAFKA_PATH is not set: run the tests through ./scripts/test.sh, which installs confluent-kafka's librdkafka")
        }
        return path
    }

    @Test("serve on librdkafka 2.16 against Tansu itself: version names the newer library, and every seed arrives once on its topic")
    func seedsOnNewerLibrdkafka() async throws {
        let environment = ["LD_LIBRARY_PATH": try Self.libraryPath()]
        let (versionStatus, version) = try await CommandLineTests.run(["version", "--json"], environment: environment)
        #expect(versionStatus == 0)
        let loaded = try #require(try JSONSerialization.jsonObject(with: Data(version.utf8)) as? [String: String])["librdkafka"]
        #expect(loaded != KafkaLibrary.version, "LD_LIBRARY_PATH put \(loaded ?? "?") first, the tests run on \(KafkaLibrary.version)")
        #expect(loaded.map { $0.compare("2.2", options: .numeric) != .orderedAscending } == true, "a librdkafka that reads Tansu without the relay: \(loaded ?? "?")")

        try await PrivateBroker.withBroker(.noRelay) { _, bootstrap in
            let bridge = try await ServeEndToEndTests.Bridge.start(bootstrap: bootstrap, environment: environment)
            let expected = try await KafkaTLSTests.postSeeds(bridge)
            #expect(try await KafkaTLSTests.drained(bridge), "published")
            for (topic, wanted) in Dictionary(grouping: expected, by: \.topic) {
                // Read back with the newer library too (the test's own librdkafka needs the relay).
                let (status, output) = try await CommandLineTests.run(["tail", "--brokers", bootstrap, "--topic", topic, "--from-beginning",
                                                                       "--count", "\(wanted.count)"], environment: environment)
                #expect(status == 0, "\(topic): \(output.prefix(300))")
                let ids = try output.split(separator: "\n").filter { $0.hasPrefix("{") }.map { line -> String? in
                    let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
                    let headers = object?["headers"] as? [[String?]] ?? []
                    return headers.first { $0.first == "idempotency-key" || $0.first == "ce_id" }?.last ?? nil
                }
                for (_, id) in wanted {
                    #expect(ids.filter { $0 == id }.count == 1, "\(topic): \(id) arrived \(ids.filter { $0 == id }.count) times")
                }
            }
            #expect(await bridge.stop() == 0)
        }
    }
}
