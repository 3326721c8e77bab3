import Foundation
import Testing

/// `okra-bridge topics plan|create` against the dev broker.
@Suite("topics plan and create (real broker)", .enabled(if: DevBroker.enabled))
struct TopicsCommandTests {
    /// The repository's routes with a topic prefix of this test's own, in a file.
    static func routesFile() throws -> (path: String, prefix: String) {
        let prefix = "plan\(UUID().uuidString.prefix(6).lowercased())"
        let text = try String(contentsOf: DevBroker.repositoryRoot.appendingPathComponent("routes.json"), encoding: .utf8)
            .replacingOccurrences(of: "\"okra.", with: "\"\(prefix).")
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("routes-\(prefix).json").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return (path, prefix)
    }

    /// The JSON lines of a command's standard output (its stderr line left out).
    static func lines(_ output: String) throws -> [[String: Any]] {
        try output.split(separator: "\n").filter { $0.hasPrefix("{") }.map {
            try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
        }
    }

    @Test("plan lists every topic and creates none by looking; create is a dry run without --execute; with it the missing topics are made with the given partitions and config; an existing topic is never changed")
    func planAndCreate() async throws {
        let bootstrap = try await DevBroker.bootstrap()
        let (routes, prefix) = try Self.routesFile()
        let base = ["--brokers", bootstrap, "--routes", routes]

        let (planStatus, planOutput) = try await CommandLineTests.run(["topics", "plan"] + base)
        #expect(planStatus == 0, "\(planOutput)")
        var plan = try Self.lines(planOutput)
        #expect(plan.count == 67, "production and sandbox without tokens: \(plan.count)")
        #expect(plan.allSatisfy { ($0["topic"] as? String)?.hasPrefix(prefix + ".") == true && $0["exists"] as? Bool == false })
        let widget = plan.first { $0["topic"] as? String == "\(prefix).sandbox.widget.analytics" }
        #expect(widget?["sources"] as? [String] == ["sandbox widget.success (widget-analytics)"], "sandbox widget events are dropped")

        // A dry run, then the plan again: still nothing exists (neither looking nor planning creates).
        let (dryStatus, dryOutput) = try await CommandLineTests.run(["topics", "create", "--partitions", "2"] + base)
        #expect(dryStatus == 0)
        #expect(dryOutput.contains("67 of 67 planned topics are missing; would create them with partitions=2"), "\(dryOutput.prefix(400))")
        #expect(try Self.lines(dryOutput).allSatisfy { $0["action"] as? String == "would create" })
        plan = try Self.lines(try await CommandLineTests.run(["topics", "plan"] + base).output)
        #expect(plan.allSatisfy { $0["exists"] as? Bool == false })

        let (createStatus, createOutput) = try await CommandLineTests.run(["topics", "create", "--execute", "--partitions", "2", "--config", "retention.ms=3600000"] + base)
        #expect(createStatus == 0, "\(createOutput.prefix(600))")
        #expect(try Self.lines(createOutput).allSatisfy { $0["action"] as? String == "created" })
        plan = try Self.lines(try await CommandLineTests.run(["topics", "plan"] + base).output)
        #expect(plan.count == 67 && plan.allSatisfy { $0["exists"] as? Bool == true && $0["partitions"] as? Int == 2 }, "\(plan.prefix(2))")

        // Again with other settings: nothing is missing, nothing is changed.
        let (againStatus, againOutput) = try await CommandLineTests.run(["topics", "create", "--execute", "--partitions", "5"] + base)
        #expect(againStatus == 0)
        #expect(againOutput.contains("0 of 67 planned topics are missing"))
        #expect(try Self.lines(againOutput).allSatisfy { $0["partitions"] as? Int == 2 && $0["action"] == nil })
    }

    @Test("the environments come from the tokens: a sandbox token plans sandbox topics only; --allow-unauthenticated adds unknown")
    func environmentsFromTokens() async throws {
        let bootstrap = try await DevBroker.bootstrap()
        let (routes, prefix) = try Self.routesFile()
        let sandbox = try Self.lines(try await CommandLineTests.run(["topics", "plan", "--brokers", bootstrap, "--routes", routes,
                                                                     "--token", "sandbox=a-sandbox-token-0123456789"]).output)
        #expect(sandbox.count == 34)
        #expect(sandbox.allSatisfy { ($0["topic"] as? String).map { $0.hasPrefix("\(prefix).sandbox.") || $0 == "\(prefix).deadletter" } == true })
        let open = try Self.lines(try await CommandLineTests.run(["topics", "plan", "--brokers", bootstrap, "--routes", routes, "--allow-unauthenticated"]).output)
        #expect(open.contains { ($0["topic"] as? String)?.hasPrefix("\(prefix).unknown.") == true })
        let (badStatus, badOutput) = try await CommandLineTests.run(["topics", "plan", "--brokers", bootstrap, "--routes", routes, "--token", "staging=x"])
        #expect(badStatus == 2, "\(badOutput)")
    }
}
