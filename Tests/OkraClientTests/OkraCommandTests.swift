import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
#if canImport(Glibc)
import Glibc
#endif
import OkraTestSupport
import Testing

/// `okra-bridge okra trigger|fetch` as a process against the loopback stand-in for Okra's API.
@Suite("okra trigger and fetch (the command, against the stand-in)")
struct OkraCommandTests {
    static let binary = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("okra-bridge").path

    /// Runs the command with the secret in its environment; its exit status and its output
    /// (standard output and error together).
    static func run(_ arguments: [String], secret: String? = OkraClientTests.secret) async throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = arguments
        var environment = ProcessInfo.processInfo.environment
        environment["OKRA_SECRET_KEY"] = secret
        process.environment = environment
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("okra-command-\(UUID().uuidString).out")
        FileManager.default.createFile(atPath: output.path, contents: nil)
        let handle = try FileHandle(forWritingTo: output)
        defer { try? FileManager.default.removeItem(at: output) }
        process.standardOutput = handle
        process.standardError = handle
        process.standardInput = FileHandle.nullDevice
        try process.run()
        for _ in 0..<600 where process.isRunning { try await Task.sleep(for: .milliseconds(50)) }
        if process.isRunning { process.terminate() }
        try handle.close()
        return (process.terminationStatus, (try? String(contentsOf: output, encoding: .utf8)) ?? "")
    }

    @Test("trigger: 250 records from a file are three requests; --dry-run sends nothing; a 401 is one line and exit 1; the secret is in no output")
    func trigger() async throws {
        try await OkraClientTests.withStandIn { base, standIn in
            let file = FileManager.default.temporaryDirectory.appendingPathComponent("okra-records-\(UUID().uuidString).txt")
            defer { try? FileManager.default.removeItem(at: file) }
            try (0..<250).map { "rec-\($0)" }.joined(separator: "\n").write(to: file, atomically: true, encoding: .utf8)
            let common = ["okra", "trigger", "--env", "sandbox", "--okra-base-url", base, "--records-file", file.path]

            let dry = try await Self.run(common + ["--dry-run"], secret: nil)
            #expect(dry.status == 0, "\(dry.output)")
            #expect(dry.output.split(separator: "\n").filter { $0.hasPrefix("batch ") }.count == 3)
            #expect(standIn.received.withLock { $0.isEmpty }, "a dry run sends nothing")

            let sent = try await Self.run(common)
            #expect(sent.status == 0, "\(sent.output)")
            #expect(sent.output.contains("batch 3/3: 50 records: 200 webhook trigger successfully initiated"), "\(sent.output)")
            #expect(standIn.received.withLock { $0.count } == 3)

            standIn.script.withLock { $0 = [(401, nil)] }
            let refused = try await Self.run(common)
            #expect(refused.status == 1)
            #expect(refused.output.trimmingCharacters(in: .whitespacesAndNewlines)
                == "okra-bridge: Okra answered 401: the secret key is not valid for the sandbox environment", "\(refused.output)")
            for output in [dry.output, sent.output, refused.output] { #expect(!output.contains(OkraClientTests.secret)) }

            let noSecret = try await Self.run(common, secret: nil)
            #expect(noSecret.status == 1 && noSecret.output.contains("OKRA_SECRET_KEY"))
            let badEnv = try await Self.run(["okra", "trigger", "--env", "staging", "--record", "r"])
            #expect(badEnv.status == 2)
        }
    }

    @Test("fetch prints Okra's data for a record and method")
    func fetch() async throws {
        try await OkraClientTests.withStandIn { base, _ in
            let fetched = try await Self.run(["okra", "fetch", "--env", "sandbox", "--okra-base-url", base, "--record", "rec-9", "--method", "BALANCE"])
            #expect(fetched.status == 0, "\(fetched.output)")
            let object = try JSONSerialization.jsonObject(with: Data(fetched.output.utf8)) as? [String: Any]
            #expect((object?["data"] as? [String: Any])?["record"] as? String == "rec-9")
            #expect(!fetched.output.contains(OkraClientTests.secret))
        }
    }

    static func freePort() -> Int {
        FreePort.loopback()
    }

    @Test("the ports a test gives a child process are below the ephemeral range (no outgoing connection takes them meanwhile), distinct, and free")
    func portsForChildren() throws {
        let range = try String(contentsOfFile: "/proc/sys/net/ipv4/ip_local_port_range", encoding: .utf8)
        let ephemeral = try #require(range.split(whereSeparator: \.isWhitespace).first.flatMap { Int($0) })
        let ports = (0..<64).map { _ in FreePort.loopback() }
        #expect(ports.allSatisfy { $0 >= 10000 && $0 < ephemeral }, "\(ports)")
        #expect(Set(ports).count == ports.count)
    }

    @Test("fetch --event takes the record and the method from the bridge's event log")
    func fetchEvent() async throws {
        try await OkraClientTests.withStandIn { base, standIn in
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("okra-fetch-event-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: directory) }
            let adminToken = "fetch-event-admin-token-0123"
            let tokenFile = directory.appendingPathComponent("admin-token")
            try adminToken.write(to: tokenFile, atomically: true, encoding: .utf8)
            let keyFile = directory.appendingPathComponent("log-key")
            try "k1=\(Data((0..<32).map { _ in UInt8.random(in: 0...255) }).base64EncodedString())\n".write(to: keyFile, atomically: true, encoding: .utf8)
            let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            let (port, adminPort) = (Self.freePort(), Self.freePort())
            let serve = Process()
            serve.executableURL = URL(fileURLWithPath: Self.binary)
            serve.arguments = ["serve", "--listen", "127.0.0.1:\(port)", "--admin-listen", "127.0.0.1:\(adminPort)", "--brokers", "127.0.0.1:1",
                               "--allow-unauthenticated", "--admin-token-file", tokenFile.path, "--data-dir", directory.appendingPathComponent("data").path,
                               "--routes", root.appendingPathComponent("routes.json").path, "--log-key-file", keyFile.path]
            serve.standardOutput = FileHandle.nullDevice
            serve.standardError = FileHandle.nullDevice
            try serve.run()
            defer { if serve.isRunning { serve.terminate() } }
            let body = #"{"type":"CALLBACK","method":"PERIODIC_BALANCE","code":"BALANCE_SUCCESS","env":"production","record":"rec-bal-7"}"#
            var id: String?
            var last = "no answer"
            // Until serve listens (a start takes longer while the other suites load the machine).
            let deadline = ContinuousClock.now + .seconds(60)
            while id == nil && ContinuousClock.now < deadline {
                var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)/webhooks/okra")!)
                request.httpMethod = "POST"
                request.httpBody = Data(body.utf8)
                if let (data, _) = try? await URLSession.shared.data(for: request) {
                    last = String(decoding: data, as: UTF8.self)
                    id = (try? JSONSerialization.jsonObject(with: data) as? [String: Any])?["id"] as? String
                }
                if id == nil { try await Task.sleep(for: .milliseconds(100)) }
            }
            let eventID = try #require(id, "\(last)")
            let fetched = try await Self.run(["okra", "fetch", "--env", "production", "--okra-base-url", base, "--event", eventID,
                                              "--admin", "http://127.0.0.1:\(adminPort)", "--admin-token-file", tokenFile.path])
            #expect(fetched.status == 0, "\(fetched.output)")
            let request = try #require(standIn.received.withLock { $0.first })
            #expect(request.path == "/v2/callback" && request.query == "record=rec-bal-7&method=BALANCE")
            serve.terminate()
            serve.waitUntilExit()
        }
    }
}
