import Foundation
import OkraKafka
import Testing

/// `okra-bridge check`, the preflight, against the dev broker.
@Suite("check (real broker)", .enabled(if: DevBroker.enabled), .serialized)
struct CheckCommandTests {
    /// The check's lines as JSON objects, by check name.
    static func checks(_ output: String) throws -> [String: [String: String]] {
        var byName: [String: [String: String]] = [:]
        for line in output.split(separator: "\n") where line.hasPrefix("{") {
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: String])
            byName[object["check"] ?? "?"] = object
        }
        return byName
    }

    static func folder() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("okra-check-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    @Test("every check ok once the planned topics exist, the probe record delivered; exit 0. Missing topics fail with what to run; exit 1")
    func allOkThenMissingTopics() async throws {
        let bootstrap = try await DevBroker.bootstrap()
        let (routes, prefix) = try TopicsCommandTests.routesFile()
        let folder = try Self.folder()
        let common = ["--brokers", bootstrap, "--routes", routes, "--token", "production=check-production-token-0123",
                      "--data-dir", folder.appendingPathComponent("data").path, "--json", "--kafka-timeout", "5"]

        // A data directory that does not exist yet is a warning, and check does not make it.
        var checks = try Self.checks(try await CommandLineTests.run(["check"] + common).output)
        #expect(checks["data directory"]?["status"] == "warning", "\(checks["data directory"] ?? [:])")
        #expect(!FileManager.default.fileExists(atPath: folder.appendingPathComponent("data").path), "check creates nothing")
        try FileManager.default.createDirectory(at: folder.appendingPathComponent("data"), withIntermediateDirectories: true)

        let (missingStatus, missingOutput) = try await CommandLineTests.run(["check"] + common)
        #expect(missingStatus == 1, "\(missingOutput)")
        checks = try Self.checks(missingOutput)
        #expect(checks["topics"]?["status"] == "failed")
        #expect(checks["topics"]?["detail"]?.contains("34 of 34 topics") == true && checks["topics"]?["detail"]?.contains("topics create --execute") == true,
                "\(checks["topics"] ?? [:])")
        for name in ["routes", "tokens", "data directory", "kafka connection", "idempotent producer"] {
            #expect(checks[name]?["status"] == "ok", "\(name): \(checks[name] ?? [:])")
        }

        let (createStatus, _) = try await CommandLineTests.run(["topics", "create", "--execute", "--brokers", bootstrap, "--routes", routes,
                                                                "--token", "production=check-production-token-0123"])
        #expect(createStatus == 0)
        let probeTopic = "\(prefix).check-probe"
        let (status, output) = try await CommandLineTests.run(["check", "--probe-topic", probeTopic] + common)
        #expect(status == 0, "\(output)")
        checks = try Self.checks(output)
        #expect(checks.count == 8 && checks.values.allSatisfy { $0["status"] == "ok" }, "\(output)")
        let probe = try await DevBroker.consumeAll(topic: probeTopic, bootstrap: bootstrap, count: 1, idle: .seconds(10))
        #expect(probe.count == 1 && probe.first?.header("okra-bridge-check") != nil)
        // A line per check on a terminal too: aligned text without --json.
        let (_, text) = try await CommandLineTests.run(["check"] + common.filter { $0 != "--json" })
        #expect(text.split(separator: "\n").filter { $0.hasPrefix("ok ") }.count == 7, "\(text)")
    }

    @Test("an unreachable broker, a bad routes file and an unreadable token file each fail their line; exit 1")
    func failures() async throws {
        let folder = try Self.folder()
        let routes = folder.appendingPathComponent("routes.json")
        try #"{"version": 2}"#.write(to: routes, atomically: true, encoding: .utf8)
        let (status, output) = try await CommandLineTests.run([
            "check", "--brokers", "127.0.0.1:1", "--routes", routes.path, "--token-file", folder.appendingPathComponent("missing").path,
            "--data-dir", folder.appendingPathComponent("data").path, "--json", "--kafka-timeout", "2",
        ])
        #expect(status == 1)
        let checks = try Self.checks(output)
        #expect(checks["routes"]?["status"] == "failed")
        #expect(checks["tokens"]?["status"] == "failed" && checks["tokens"]?["detail"]?.contains("--token-file") == true, "\(checks["tokens"] ?? [:])")
        #expect(checks["kafka connection"]?["status"] == "failed")
        #expect(checks["kafka connection"]?["detail"]?.contains("no broker of 127.0.0.1:1 answered") == true, "\(checks["kafka connection"] ?? [:])")
    }

    @Test("a data directory a running bridge holds: failed, naming the holder's pid")
    func lockedDataDirectory() async throws {
        let bootstrap = try await DevBroker.bootstrap()
        let bridge = try await ServeEndToEndTests.Bridge.start(bootstrap: bootstrap)
        let data = bridge.directory.appendingPathComponent("data").path
        let (status, output) = try await CommandLineTests.run([
            "check", "--brokers", bootstrap, "--routes", bridge.directory.appendingPathComponent("routes.json").path,
            "--token", "production=check-production-token-0123", "--data-dir", data, "--json", "--kafka-timeout", "5",
        ])
        #expect(status == 1)
        let line = try Self.checks(output)["data directory"]
        #expect(line?["status"] == "failed" && line?["detail"]?.contains("\(bridge.process.pid)") == true, "\(line ?? [:])")
        #expect(await bridge.stop() == 0)
    }
}
