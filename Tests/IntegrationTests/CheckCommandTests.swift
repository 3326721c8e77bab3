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
        #expect(checks.count == 9 && checks.values.allSatisfy { $0["status"] == "ok" }, "\(output)")
        let probe = try await DevBroker.consumeAll(topic: probeTopic, bootstrap: bootstrap, count: 1, idle: .seconds(10))
        #expect(probe.count == 1 && probe.first?.header("okra-bridge-check") != nil)
        // A line per check on a terminal too: aligned text without --json.
        let (_, text) = try await CommandLineTests.run(["check"] + common.filter { $0 != "--json" })
        #expect(text.split(separator: "\n").filter { $0.hasPrefix("ok ") }.count == 8, "\(text)")
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

    @Test("the log key: failed when the store has values sealed under a key the file lacks, naming it; ok listing the keys in use with the right file. Admin tokens: counted per scope, a warning without a metrics token")
    func logKeyAndAdminTokens() async throws {
        let bootstrap = try await DevBroker.bootstrap()
        let bridge = try await ServeEndToEndTests.Bridge.start(bootstrap: bootstrap)
        let body = try Data(contentsOf: ServeEndToEndTests.fixtures.appendingPathComponent("v2-payment-success.json"))
        #expect(try await bridge.post(body, headers: ["Okra-Auth": ServeEndToEndTests.productionToken]).0 == 200)
        #expect(await bridge.stop() == 0)
        let folder = try Self.folder()
        let otherKey = folder.appendingPathComponent("other-key").path
        try "other=\(Data(repeating: 7, count: 32).base64EncodedString())\n".write(toFile: otherKey, atomically: true, encoding: .utf8)
        let tokens = folder.appendingPathComponent("admin-tokens").path
        try "support:read=check-read-secret-0123456789\nops:operate=check-operate-secret-0123456789\n".write(toFile: tokens, atomically: true, encoding: .utf8)
        let common = ["check", "--brokers", "127.0.0.1:1", "--routes", bridge.directory.appendingPathComponent("routes.json").path,
                      "--token", "production=check-production-token-0123", "--data-dir", bridge.directory.appendingPathComponent("data").path,
                      "--admin-listen", "127.0.0.1:9999", "--admin-token-file", tokens, "--json", "--kafka-timeout", "1"]
        var checks = try Self.checks(try await CommandLineTests.run(common + ["--log-key-file", otherKey]).output)
        #expect(checks["log key"]?["status"] == "failed" && checks["log key"]?["detail"]?.contains("test-key") == true, "\(checks["log key"] ?? [:])")
        #expect(checks["admin tokens"]?["status"] == "warning" && checks["admin tokens"]?["detail"]?.contains("no metrics token") == true,
                "\(checks["admin tokens"] ?? [:])")
        checks = try Self.checks(try await CommandLineTests.run(common + ["--log-key-file", bridge.directory.appendingPathComponent("log-key").path]).output)
        #expect(checks["log key"]?["status"] == "ok" && checks["log key"]?["detail"]?.contains("in use: test-key") == true, "\(checks["log key"] ?? [:])")
        try "support:read=check-read-secret-0123456789\nbare-secret-in-a-longer-file-0123\n".write(toFile: tokens, atomically: true, encoding: .utf8)
        checks = try Self.checks(try await CommandLineTests.run(common + ["--log-key-file", otherKey]).output)
        #expect(checks["admin tokens"]?["status"] == "failed" && checks["admin tokens"]?["detail"]?.contains("admin-tokens:2") == true,
                "\(checks["admin tokens"] ?? [:])")
        #expect(checks["admin tokens"]?["detail"]?.contains("bare-secret") == false, "a secret is never shown")

        // A store written in clear, checked with a key: a warning that its old values stay in clear.
        let clearBridge = try await ServeEndToEndTests.Bridge.start(bootstrap: bootstrap, extraArguments: ["--log-unencrypted"])
        #expect(try await clearBridge.post(body, headers: ["Okra-Auth": ServeEndToEndTests.productionToken]).0 == 200)
        #expect(await clearBridge.stop() == 0)
        checks = try Self.checks(try await CommandLineTests.run(common.map { $0 == bridge.directory.appendingPathComponent("data").path ? clearBridge.directory.appendingPathComponent("data").path : $0 }
                                                                + ["--log-key-file", otherKey]).output)
        #expect(checks["log key"]?["status"] == "warning" && checks["log key"]?["detail"]?.contains("values in clear") == true, "\(checks["log key"] ?? [:])")

        // serve refuses the same store with the other key, naming the key; and a log in clear unless told.
        let refused = try await CommandLineTests.run(["serve", "--brokers", "127.0.0.1:1", "--allow-unauthenticated", "--routes",
                                                      bridge.directory.appendingPathComponent("routes.json").path,
                                                      "--data-dir", bridge.directory.appendingPathComponent("data").path, "--log-key-file", otherKey])
        #expect(refused.status == 1 && refused.output.contains("sealed under key test-key"), "\(refused.output)")
        let clear = try await CommandLineTests.run(["serve", "--brokers", "127.0.0.1:1", "--allow-unauthenticated", "--routes",
                                                    bridge.directory.appendingPathComponent("routes.json").path,
                                                    "--data-dir", folder.appendingPathComponent("data").path],
                                                   environment: ["OKRA_BRIDGE_LOG_UNENCRYPTED": ""])
        #expect(clear.status == 2 && clear.output.contains("--log-key-file") && clear.output.contains("--log-unencrypted"), "\(clear.output)")
    }
}
