import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import OkraKafka
import OkraTestSupport
import Testing

/// The `okra-bridge` executable as a user runs it: output, one-line errors, exit codes (§7).
/// No broker needed.
@Suite("okra-bridge command line")
struct CommandLineTests {
    static let binary = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("okra-bridge").path
    static let payloads = DevBroker.repositoryRoot.appendingPathComponent("Tests/OkraEnvelopeTests/Fixtures/payloads")

    /// Runs the executable; its exit status and combined output.
    static func run(_ arguments: [String], environment: [String: String] = [:], directory: String? = nil) async throws -> (status: Int32, output: String) {
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("okra-cli-\(UUID().uuidString).log").path
        defer { try? FileManager.default.removeItem(atPath: log) }
        // serve's own refusal of a log in clear is tested on its own (logKeyRequired); elsewhere here
        // the flags under test come first.
        var environment = environment
        if ["serve", "check"].contains(arguments.first) && environment["OKRA_BRIDGE_LOG_UNENCRYPTED"] == nil && !arguments.contains("--log-key-file") {
            environment["OKRA_BRIDGE_LOG_UNENCRYPTED"] = "true"
        }
        let process = try ChildProcess(binary, arguments, environment: environment, directory: directory, logPath: log)
        let status = try #require(await process.wait(timeout: .seconds(30)))
        return (status, process.log)
    }

    @Test("normalize prints one line of JSON and exits 0")
    func normalizeValid() async throws {
        let (status, output) = try await Self.run(["normalize", Self.payloads.appendingPathComponent("v1-record-error.json").path])
        #expect(status == 0)
        let lines = output.split(separator: "\n")
        #expect(lines.count == 1)
        #expect(lines.first?.hasPrefix(#"{"specversion":"1.0","id":"okra-"#) == true)
    }

    @Test("version: the bridge's version and the commit it was built from, the librdkafka it loaded with its features, SQLite's version; --json the same as one object")
    func version() async throws {
        let (status, output) = try await Self.run(["version"])
        #expect(status == 0, "\(output)")
        let lines = output.split(separator: "\n").map(String.init)
        #expect(lines.count == 3, "\(output)")
        // The commit of this checkout (the tests run from a clone), written in at build time.
        let head = try await Self.git(["rev-parse", "--short=12", "HEAD"])
        #expect(lines.first?.hasPrefix("okra-bridge 0.") == true && lines.first?.contains("(commit \(head)") == true, "\(lines.first ?? "") vs \(head)")
        #expect(lines.dropFirst().first == "librdkafka \(KafkaLibrary.version) (builtin.features: \(KafkaLibrary.builtinFeatures))")
        #expect(KafkaLibrary.builtinFeatures.split(separator: ",").contains("ssl"), "TLS support in the loaded librdkafka")
        #expect(lines.last?.range(of: #"^SQLite 3\.\d+\.\d+$"#, options: .regularExpression) != nil, "\(lines.last ?? "")")

        let (jsonStatus, json) = try await Self.run(["version", "--json"])
        #expect(jsonStatus == 0)
        let object = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: String]
        #expect(object?["commit"]?.hasPrefix(head) == true)
        #expect(object?["librdkafka"] == KafkaLibrary.version)
    }

    /// `git ARGUMENTS` in the repository; its output, trimmed.
    static func git(_ arguments: [String]) async throws -> String {
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("okra-git-\(UUID().uuidString).log").path
        defer { try? FileManager.default.removeItem(atPath: log) }
        let process = try ChildProcess("/usr/bin/git", ["-C", DevBroker.repositoryRoot.path] + arguments, logPath: log)
        let status = try #require(await process.wait(timeout: .seconds(30)))
        #expect(status == 0, "git \(arguments): \(process.log)")
        return process.log.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    @Test("invalid input exits 1 with one line saying what and where")
    func normalizeInvalid() async throws {
        let (status, output) = try await Self.run(["normalize", Self.payloads.appendingPathComponent("user-disconnect.invalid.json").path])
        #expect(status == 1)
        #expect(output.split(separator: "\n").count == 1)
        #expect(output.contains("malformed-json") && output.contains("line 2, column 12"))
    }

    @Test("a missing file and a bad flag: exit 1 and exit 2")
    func userAndUsageErrors() async throws {
        #expect(try await Self.run(["normalize", "/no/such/file.json"]).status == 1)
        #expect(try await Self.run(["normalize", "--received-at", "yesterday", "x"]).status == 2)
        #expect(try await Self.run(["no-such-command"]).status == 2)
        #expect(try await Self.run(["--help"]).status == 0)
    }

    @Test("routes check: the repository's file is valid; a bad one exits 1 listing every problem")
    func routesCheck() async throws {
        let (good, goodOutput) = try await Self.run(["routes", "check", DevBroker.repositoryRoot.appendingPathComponent("routes.json").path])
        #expect(good == 0 && goodOutput.contains("valid, 4 routes"))
        let bad = FileManager.default.temporaryDirectory.appendingPathComponent("okra-bad-routes-\(UUID().uuidString).json")
        try Data(#"{"version":2,"defaults":{"topic":"a b"},"deadLetter":{"topic":"d"},"routes":[{"name":"x","match":{"product":"paymnt"}}]}"#.utf8).write(to: bad)
        defer { try? FileManager.default.removeItem(at: bad) }
        let (status, output) = try await Self.run(["routes", "check", bad.path])
        #expect(status == 1)
        #expect(output.contains("version:") && output.contains("defaults.topic:") && output.contains(#"unknown product "paymnt""#))
    }

    @Test("route shows the matching route and every record's topic and key")
    func routeDryRun() async throws {
        let (status, output) = try await Self.run(["route", "--routes", DevBroker.repositoryRoot.appendingPathComponent("routes.json").path,
                                                  Self.payloads.appendingPathComponent("v2-payment-cancelled.json").path])
        #expect(status == 0)
        #expect(output.contains("matched: payment-problems"))
        #expect(output.contains("record: topic=okra.production.payments.problems key=14247efe8e3711362e9ef0ab"))
        #expect(output.contains("record: topic=okra.production.payment.cancelled key=14fae008080a7e004576cb2d"))
    }

    @Test("tracing's collector: --otlp-endpoint and a standard variable naming another URL for the spans are a usage error; the same URL is not", arguments: [
        (["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318"], true),
        (["OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318/v1/traces"], true),
        (["OTEL_EXPORTER_OTLP_ENDPOINT": "http://other:4318"], true),
        (["OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318/"], false),
        (["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"], false),
        ([:], false),
    ])
    func traceCollectorConflicts(environment: [String: String], conflict: Bool) async throws {
        let routes = DevBroker.repositoryRoot.appendingPathComponent("routes.json").path
        // The port in use ends a run that got past the settings with exit 1, before any broker is asked.
        let (fd, port) = DevBroker.listeningLoopbackSocket()
        defer { close(fd) }
        let data = FileManager.default.temporaryDirectory.appendingPathComponent("okra-cli-data-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: data) }
        let run = try await Self.run(["serve", "--listen", "127.0.0.1:\(port)", "--brokers", "127.0.0.1:1", "--allow-unauthenticated", "--routes", routes,
                                      "--data-dir", data, "--otlp-endpoint", "http://collector:4318"], environment: environment)
        if conflict {
            #expect(run.status == 2 && run.output.contains("name different collectors"), "\(run.output)")
        } else {
            #expect(run.status != 2, "\(run.output)")
        }
    }

    @Test("serve fails fast with one line: no token, a bad routes file, a port in use (either listener), a short admin token")
    func serveStartupErrors() async throws {
        let routes = DevBroker.repositoryRoot.appendingPathComponent("routes.json").path
        let data = FileManager.default.temporaryDirectory.appendingPathComponent("okra-cli-data-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: data) }
        let noToken = try await Self.run(["serve", "--brokers", "127.0.0.1:1", "--routes", routes, "--data-dir", data])
        // The command line alone is wrong: a usage error (§7).
        #expect(noToken.status == 2 && noToken.output.contains("no --token given"), "\(noToken.output)")
        let badRoutes = try await Self.run(["serve", "--brokers", "127.0.0.1:1", "--allow-unauthenticated", "--routes", "/no/routes.json", "--data-dir", data])
        #expect(badRoutes.status == 1 && badRoutes.output.contains("/no/routes.json"))

        // Hold a port, then ask serve to listen on it.
        let (fd, port) = DevBroker.listeningLoopbackSocket()
        defer { close(fd) }
        let inUse = try await Self.run(["serve", "--listen", "127.0.0.1:\(port)", "--brokers", "127.0.0.1:1", "--allow-unauthenticated", "--routes", routes, "--data-dir", data])
        #expect(inUse.status == 1, "\(inUse.output)")
        // The one-line message; log lines of listeners shutting down on other threads may follow it.
        #expect(inUse.output.split(separator: "\n").contains { $0.hasPrefix("okra-bridge: --listen 127.0.0.1:\(port): the address is already in use") }, "\(inUse.output)")
        // The same for the admin listener, named by its own flag.
        let adminInUse = try await Self.run(["serve", "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:\(port)", "--brokers", "127.0.0.1:1",
                                             "--allow-unauthenticated", "--routes", routes, "--data-dir", data])
        #expect(adminInUse.status == 1, "\(adminInUse.output)")
        #expect(adminInUse.output.split(separator: "\n").contains { $0.hasPrefix("okra-bridge: --admin-listen 127.0.0.1:\(port): the address is already in use") }, "\(adminInUse.output)")
        // A short token in --admin-token-file: the file is unusable, a failed run naming it.
        let tokenFile = data + "-admin-token"
        try "short-token\n".write(toFile: tokenFile, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: tokenFile) }
        let shortInFile = try await Self.run(["serve", "--admin-token-file", tokenFile, "--brokers", "127.0.0.1:1", "--allow-unauthenticated", "--routes", routes, "--data-dir", data])
        #expect(shortInFile.status == 1 && shortInFile.output.contains("--admin-token-file \(tokenFile):1: the admin token must be at least 16 characters"), "\(shortInFile.output)")
        #expect(!shortInFile.output.contains("short-token"))
        // A bad value is a usage error even when a file named by another flag is missing too.
        let badAddress = try await Self.run(["serve", "--allow-ip", "junk", "--brokers", "127.0.0.1:1", "--allow-unauthenticated", "--routes", "/no/routes.json", "--data-dir", data])
        #expect(badAddress.status == 2 && badAddress.output.contains("--allow-ip junk"), "\(badAddress.output)")
        // A --kafka entry without a key: none of it is repeated (it may be a password).
        let keyless = try await Self.run(["serve", "--kafka", "=hunter2-secret-value", "--brokers", "127.0.0.1:1", "--allow-unauthenticated", "--routes", routes, "--data-dir", data])
        #expect(keyless.status == 2 && !keyless.output.contains("hunter2"), "\(keyless.output)")
        // A property librdkafka refuses: exit 2, and the store is neither locked nor made.
        let fresh = data + "-fresh"
        defer { try? FileManager.default.removeItem(atPath: fresh) }
        let unknownProperty = try await Self.run(["serve", "--kafka", "no.such.property=1", "--brokers", "127.0.0.1:1", "--allow-unauthenticated", "--routes", routes, "--data-dir", fresh])
        #expect(unknownProperty.status == 2 && unknownProperty.output.contains("no.such.property"), "\(unknownProperty.output)")
        #expect(!FileManager.default.fileExists(atPath: fresh + "/okra-bridge.sqlite"), "checked before the store is opened")
        let shortAdminToken = try await Self.run(["serve", "--admin-token", "short", "--brokers", "127.0.0.1:1", "--allow-unauthenticated", "--routes", routes, "--data-dir", data])
        // A value out of range: a usage error, and the token is not repeated.
        #expect(shortAdminToken.status == 2 && shortAdminToken.output.contains("--admin-token takes a token of at least 16 characters, got a value that is not shown"),
                "\(shortAdminToken.output)")
        #expect(!shortAdminToken.output.contains("short"))
    }

    @Test("secrets on serve's command line: one warning names their flags, never their values")
    func secretsOnTheCommandLine() async throws {
        let routes = DevBroker.repositoryRoot.appendingPathComponent("routes.json").path
        // A file where the data folder should be: serve stops (exit 1) after its first lines.
        let notAFolder = FileManager.default.temporaryDirectory.appendingPathComponent("okra-cli-file-\(UUID().uuidString)").path
        try "".write(toFile: notAFolder, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: notAFolder) }
        let result = try await Self.run(["serve", "--token", "production=argv-token-0123456789abcdef", "--kafka", "sasl.password=hunter2-argv-secret",
                                         "--kafka", "linger.ms=5", "--brokers", "127.0.0.1:1", "--routes", routes, "--data-dir", notAFolder])
        #expect(result.status == 1, "\(result.output)")
        #expect(result.output.contains(#""flags":"--token, --kafka sasl.password""#), "\(result.output)")
        #expect(!result.output.contains("hunter2") && !result.output.contains("argv-token-0123"), "\(result.output)")
        let fromFiles = try await Self.run(["serve", "--kafka", "linger.ms=5", "--brokers", "127.0.0.1:1", "--allow-unauthenticated", "--routes", routes,
                                            "--data-dir", notAFolder], environment: ["OKRA_BRIDGE_KAFKA": "sasl.password=hunter2-env-secret"])
        #expect(fromFiles.status == 1 && !fromFiles.output.contains("secrets are on the command line"), "\(fromFiles.output)")
    }

    @Test("a second serve on a data directory in use exits 1 at once, naming the directory and the holder's pid; the first keeps serving")
    func dataDirectoryLocked() async throws {
        let routes = DevBroker.repositoryRoot.appendingPathComponent("routes.json").path
        let data = FileManager.default.temporaryDirectory.appendingPathComponent("okra-cli-lock-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: data) }
        let port = try ServeEndToEndTests.Bridge.freePort()
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("okra-cli-lock-\(UUID().uuidString).log").path
        defer { try? FileManager.default.removeItem(atPath: log) }
        let first = try ChildProcess(Self.binary, ["serve", "--listen", "127.0.0.1:\(port)", "--brokers", "127.0.0.1:1", "--allow-unauthenticated", "--log-unencrypted",
                                                   "--routes", routes, "--data-dir", data], logPath: log)
        defer { first.signal(SIGKILL) }
        var healthy = false
        for _ in 0..<200 where !healthy {
            healthy = (try? await URLSession.shared.data(from: URL(string: "http://127.0.0.1:\(port)/healthz")!))
                .map { ($0.1 as? HTTPURLResponse)?.statusCode == 200 } ?? false
            if !healthy { try await Task.sleep(for: .milliseconds(50)) }
        }
        try #require(healthy, "\(first.log)")
        let started = ContinuousClock.now
        let second = try await Self.run(["serve", "--listen", "127.0.0.1:0", "--brokers", "127.0.0.1:1", "--allow-unauthenticated",
                                         "--routes", routes, "--data-dir", data])
        #expect(second.status == 1, "\(second.output)")
        #expect(ContinuousClock.now - started < .seconds(10))
        #expect(second.output.split(separator: "\n").contains { $0.hasPrefix("okra-bridge: --data-dir \(data) is in use by another okra-bridge (pid \(first.pid))") },
                "\(second.output)")
        // The first still answers, and once it is gone the directory is free again.
        let (_, answer) = try await URLSession.shared.data(from: URL(string: "http://127.0.0.1:\(port)/healthz")!)
        #expect((answer as? HTTPURLResponse)?.statusCode == 200)
        first.signal(SIGKILL)
        _ = await first.wait(timeout: .seconds(10))
        // The kernel released the lock with the process: the next serve starts.
        let thirdPort = try ServeEndToEndTests.Bridge.freePort()
        let third = try ChildProcess(Self.binary, ["serve", "--listen", "127.0.0.1:\(thirdPort)", "--brokers", "127.0.0.1:1", "--allow-unauthenticated", "--log-unencrypted",
                                                   "--routes", routes, "--data-dir", data], logPath: log + ".3")
        defer { third.signal(SIGKILL); try? FileManager.default.removeItem(atPath: log + ".3") }
        var thirdHealthy = false
        for _ in 0..<200 where !thirdHealthy {
            thirdHealthy = (try? await URLSession.shared.data(from: URL(string: "http://127.0.0.1:\(thirdPort)/healthz")!))
                .map { ($0.1 as? HTTPURLResponse)?.statusCode == 200 } ?? false
            if !thirdHealthy { try await Task.sleep(for: .milliseconds(50)) }
        }
        #expect(thirdHealthy, "\(third.log)")
    }

    @Test("events with an unknown filter word exits 2 with the API's own message, before asking the API", arguments: [
        (["--product", "paymnt"], "--product takes auth, identity, accounts, balance, transactions, income, payment, record, user, widget or unknown, got paymnt"),
        (["--outcome", "fail"], "--outcome takes success, failed"), (["--env", "staging"], "--env takes production, sandbox or unknown, got staging"),
        (["--state", "lost"], "--state takes pending, published, parked or dropped, got lost"),
    ] as [([String], String)])
    func unknownFilterWord(_ flags: [String], _ message: String) async throws {
        // An admin URL where nothing listens: the word is refused before any request.
        for command in [["events", "list"], ["events", "export"], ["events", "replay"]] {
            let (status, output) = try await Self.run(command + flags + ["--admin", "http://127.0.0.1:1", "--admin-token", "an-admin-token-0123456789"])
            #expect(status == 2, "\(command): \(output)")
            #expect(output.hasPrefix("okra-bridge: \(message)"), "\(command): \(output)")
        }
    }

    @Test("a count that is not one, from a variable or a flag, is a usage error naming both; never the default in silence", arguments: [
        (["OKRA_BRIDGE_MAX_PENDING": "junk"], [String](), "OKRA_BRIDGE_MAX_PENDING (--max-pending) takes a count of at least 1, got junk"),
        (["OKRA_BRIDGE_MAX_REPLAY": "1e3"], [], "OKRA_BRIDGE_MAX_REPLAY (--max-replay) takes a count of at least 1, got 1e3"),
        (["OKRA_BRIDGE_MAX_CONNECTIONS_PER_ADDRESS": "-1"], [], "OKRA_BRIDGE_MAX_CONNECTIONS_PER_ADDRESS (--max-connections-per-address) takes a count of at least 1, got -1"),
        ([:], ["--max-connections", "0"], "--max-connections takes a count of at least 1, got 0"),
        ([:], ["--allow-ip", ""], "--allow-ip takes an IP address, a CIDR range or okra, got an empty value"),
        ([:], ["--allow-ip", "10.0.0.0/33"], "--allow-ip 10.0.0.0/33: not an IP address, a CIDR range or 'okra'"),
    ] as [([String: String], [String], String)])
    func badCounts(_ environment: [String: String], _ flags: [String], _ message: String) async throws {
        let routes = DevBroker.repositoryRoot.appendingPathComponent("routes.json").path
        let data = FileManager.default.temporaryDirectory.appendingPathComponent("okra-cli-counts-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: data) }
        let (status, output) = try await Self.run(["serve", "--listen", "127.0.0.1:0", "--brokers", "127.0.0.1:1", "--allow-unauthenticated",
                                                   "--routes", routes, "--data-dir", data] + flags, environment: environment)
        #expect(status != 0 && status < 128, "no crash: \(status) \(output)")
        #expect(output.split(separator: "\n").first.map(String.init) == "okra-bridge: \(message)", "\(output)")
        #expect(!FileManager.default.fileExists(atPath: data + "/okra-bridge.sqlite"), "refused before the store is opened")
    }

    @Test("serve's settings table and its options list the same flags; every setting fed an empty, a negative, an overflowing and a junk value, by flag and by variable, exits 2 naming it, or 1 naming the file it could not read, or is taken (then the run fails on its unusable data folder, exit 1); never a crash")
    func everySetting() async throws {
        let help = try await Self.run(["serve", "--help"])
        #expect(help.status == 0, "\(help.output)")
        let lines = help.output.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        // The argument parser's options: "  --name <name>   help" lines, above the table.
        let tableStart = try #require(lines.firstIndex { $0.hasPrefix("Settings:") }, "\(help.output)")
        let optionsStart = try #require(lines.firstIndex { $0.hasPrefix("OPTIONS:") }, "\(help.output)")
        let options = Set(lines[optionsStart...].compactMap { line -> String? in
            let words = line.split(separator: " ")
            guard line.hasPrefix("  --"), let first = words.first else { return nil }
            return String(first)
        }).subtracting(["--help", "--version"])
        // The table: "  --name   default" lines; each reads from OKRA_BRIDGE_NAME.
        let table: [(flag: String, variable: String)] = lines[tableStart..<optionsStart].compactMap { line in
            let words = line.split(separator: " ")
            guard words.count == 2, words[0].hasPrefix("--") else { return nil }
            return (String(words[0]), "OKRA_BRIDGE_" + words[0].dropFirst(2).uppercased().replacingOccurrences(of: "-", with: "_"))
        }
        #expect(table.count >= 29)
        #expect(Set(table.map(\.flag)) == options, "the settings table and the options differ: \(Set(table.map(\.flag)).symmetricDifference(options).sorted())")

        let routes = DevBroker.repositoryRoot.appendingPathComponent("routes.json").path
        // A data folder that cannot be one, so a value that is taken ends the run at once, exit 1;
        // and a working folder where nothing can be made (a relative --data-dir lands there).
        let notAFolder = DevBroker.repositoryRoot.appendingPathComponent("Package.swift").path
        let base = ["--listen": "127.0.0.1:0", "--brokers": "127.0.0.1:1", "--routes": routes, "--data-dir": notAFolder]
        for (flag, variable) in table {
            for value in ["", "-1", "99999999999999999999999", "j\u{1}unk"] {
                var arguments = base.filter { $0.key != flag }.sorted { $0.key < $1.key }.flatMap { [$0.key, $0.value] }
                if flag != "--allow-unauthenticated" { arguments.append("--allow-unauthenticated") }
                var runs: [(String, [String], [String: String])] = [("\(variable)=\(value)", arguments, [variable: value])]
                if flag != "--allow-unauthenticated" { runs.append(("\(flag)=\(value)", arguments + ["\(flag)=\(value)"], [:])) }
                for (label, arguments, environment) in runs {
                    let (status, output) = try await Self.run(["serve"] + arguments, environment: environment, directory: "/proc")
                    #expect(status == 1 || status == 2, "\(label): exit \(status): \(output)")
                    // The one line of the error (librdkafka's log lines may come before it).
                    let first = output.split(separator: "\n").first { $0.hasPrefix("okra-bridge: ") || $0.hasPrefix("Error: ") }.map(String.init) ?? output
                    if status == 2 {
                        #expect(first.contains(flag) || first.contains(variable), "\(label): \(first)")
                    } else {
                        // A file it names that cannot be read (exit 1, naming it), or taken, and
                        // then the run fails on the data folder.
                        #expect(first.contains(flag) || first.contains("--data-dir"), "\(label): \(output)")
                        #expect(!first.contains("\u{1}"), "control characters escaped: \(label)")
                    }
                }
            }
        }
    }

    @Test("serve refuses --kafka settings that weaken delivery: exit 2 and one line naming the property", arguments: [
        ["acks=0"], ["acks=1"], ["request.required.acks=0"], ["enable.idempotence=false"], ["max.in.flight.requests.per.connection=6"],
    ])
    func weakeningKafkaSettings(_ settings: [String]) async throws {
        let routes = DevBroker.repositoryRoot.appendingPathComponent("routes.json").path
        let data = FileManager.default.temporaryDirectory.appendingPathComponent("okra-cli-data-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: data) }
        let property = String(settings[0].split(separator: "=")[0])
        let (status, output) = try await Self.run(["serve", "--brokers", "127.0.0.1:1", "--allow-unauthenticated", "--routes", routes, "--data-dir", data]
            + settings.flatMap { ["--kafka", $0] })
        #expect(status == 2, "\(output)")
        let lines = output.split(separator: "\n")
        #expect(lines.count == 1, "\(output)")
        #expect(lines.first?.hasPrefix("okra-bridge: --kafka \(property)=") == true, "\(output)")
        #expect(output.contains("would weaken delivery"))
    }

    @Test("normalize --env: the token's environment; a payload of the other one exits 1; serve refuses --allow-unauthenticated with tokens (exit 2)")
    func environmentFlags() async throws {
        let disconnect = try await Self.run(["normalize", "--env", "sandbox", Self.payloads.appendingPathComponent("user-disconnect.json").path])
        #expect(disconnect.status == 0)
        #expect(disconnect.output.contains(#""source":"okra/sandbox""#) && disconnect.output.contains(#""okraenv":"sandbox""#))
        let mismatch = try await Self.run(["normalize", "--env", "sandbox", Self.payloads.appendingPathComponent("v2-payment-success.json").path])
        #expect(mismatch.status == 1 && mismatch.output.contains("environment-mismatch"), "\(mismatch.output)")
        #expect(try await Self.run(["normalize", "--env", "staging", Self.payloads.appendingPathComponent("user-disconnect.json").path]).status == 2)
        let routed = try await Self.run(["route", "--routes", DevBroker.repositoryRoot.appendingPathComponent("routes.json").path, "--env", "sandbox",
                                         Self.payloads.appendingPathComponent("v1-balance-ready.json").path])
        #expect(routed.status == 0 && routed.output.contains("record: topic=okra.sandbox.balance.success"), "\(routed.output)")

        let routes = DevBroker.repositoryRoot.appendingPathComponent("routes.json").path
        let both = try await Self.run(["serve", "--brokers", "127.0.0.1:1", "--allow-unauthenticated", "--token", "production=cli-production-token-0123",
                                       "--routes", routes, "--data-dir", FileManager.default.temporaryDirectory.appendingPathComponent("okra-cli-\(UUID())").path])
        #expect(both.status == 2 && both.output.split(separator: "\n").count == 1, "\(both.output)")
        #expect(both.output.contains("--allow-unauthenticated cannot be combined with --token"))
        #expect(!both.output.contains("cli-production-token-0123"))
    }

    @Test("serve refuses a --max-body whose records cannot fit librdkafka's message.max.bytes: exit 2, one line")
    func maxBodyMustFit() async throws {
        let routes = DevBroker.repositoryRoot.appendingPathComponent("routes.json").path
        let data = FileManager.default.temporaryDirectory.appendingPathComponent("okra-cli-data-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: data) }
        let (status, output) = try await Self.run(["serve", "--brokers", "127.0.0.1:1", "--allow-unauthenticated", "--routes", routes,
                                                  "--data-dir", data, "--max-body", "1MiB"])
        #expect(status == 2, "\(output)")
        #expect(output.split(separator: "\n").count == 1, "\(output)")
        #expect(output.contains("--max-body 1048576 plus the envelope") && output.contains("message.max.bytes 1000000"), "\(output)")
        let raised = try await Self.run(["serve", "--brokers", "127.0.0.1:1", "--allow-unauthenticated", "--routes", routes,
                                         "--data-dir", data, "--max-body", "1MiB", "--kafka", "message.max.bytes=900"])
        #expect(raised.status == 2 && raised.output.contains("message.max.bytes takes a number of bytes"), "\(raised.output)")
    }

    @Test("the settings that keep the guarantees are accepted: acks=all, acks=-1, idempotence on, 5 in flight")
    func keepingKafkaSettings() async throws {
        var configuration = KafkaProducerConfiguration(bootstrapServers: "")
        try configuration.apply(["acks": "-1", "enable.idempotence": "true", "max.in.flight.requests.per.connection": "5"])
        try configuration.apply(["acks": "all"])
        #expect(configuration.acks == "all")
        #expect(configuration.enableIdempotence)
    }

    @Test("a SIGHUP while serve is still starting does not end it")
    func hangupDuringStartup() async throws {
        let routes = DevBroker.repositoryRoot.appendingPathComponent("routes.json").path
        let data = FileManager.default.temporaryDirectory.appendingPathComponent("okra-cli-data-\(UUID().uuidString)").path
        let log = data + ".log"
        defer {
            try? FileManager.default.removeItem(atPath: data)
            try? FileManager.default.removeItem(atPath: log)
        }
        let port = try Self.freePort()
        let process = try ChildProcess(Self.binary, ["serve", "--listen", "127.0.0.1:\(port)", "--brokers", "127.0.0.1:1", "--log-unencrypted",
                                                     "--allow-unauthenticated", "--routes", routes, "--data-dir", data], logPath: log)
        // From the first log line on (configuration read, services not yet running), hang up often.
        let deadline = ContinuousClock.now + .seconds(20)
        while !process.log.contains("okra-bridge starting") && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(1))
        }
        for _ in 0..<50 {
            process.signal(SIGHUP)
            try await Task.sleep(for: .milliseconds(2))
        }
        var healthy = false
        for _ in 0..<200 where !healthy {
            healthy = (try? await Self.get(port: port, "/healthz")) == 200
            if !healthy { try await Task.sleep(for: .milliseconds(50)) }
        }
        #expect(healthy, "\(process.log.suffix(2000))")
        process.signal(SIGTERM)
        #expect(await process.wait(timeout: .seconds(30)) == 0, "\(process.log.suffix(2000))")
    }

    @Test("secrets from files: a token rotated in --token-file without a restart, --admin-token-file, --kafka-config; no secret in the log")
    func secretsFromFiles() async throws {
        let routes = DevBroker.repositoryRoot.appendingPathComponent("routes.json").path
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("okra-cli-secrets-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let old = "old-file-token-0123456789abc"
        let new = "new,file=token-0123456789abc"
        let admin = "admin,token=from-a-file-0123"
        let password = "kafka,pass=word-from-a-file"
        let tokenFile = folder.appendingPathComponent("tokens")
        try Data("production=\(old)\nproduction=\(new)\n".utf8).write(to: tokenFile)
        try Data("\(admin)\n".utf8).write(to: folder.appendingPathComponent("admin-token"))
        try Data("# SASL credentials\nsasl.username=bridge\nsasl.password=\(password)\n".utf8).write(to: folder.appendingPathComponent("kafka.properties"))
        let port = try Self.freePort()
        let adminPort = try Self.freePort()
        let log = folder.appendingPathComponent("serve.log").path
        let process = try ChildProcess(Self.binary, [
            "serve", "--listen", "127.0.0.1:\(port)", "--admin-listen", "127.0.0.1:\(adminPort)", "--brokers", "127.0.0.1:1", "--routes", routes,
            "--data-dir", folder.appendingPathComponent("data").path, "--token-file", tokenFile.path,
            "--admin-token-file", folder.appendingPathComponent("admin-token").path, "--kafka-config", folder.appendingPathComponent("kafka.properties").path,
            "--log-unencrypted",
        ], logPath: log)
        var healthy = false
        for _ in 0..<200 where !healthy {
            healthy = (try? await Self.get(port: port, "/healthz")) == 200
            if !healthy { try await Task.sleep(for: .milliseconds(50)) }
        }
        try #require(healthy, "\(process.log.suffix(2000))")
        let payload = try Data(contentsOf: Self.payloads.appendingPathComponent("v1-balance-ready.json"))
        #expect(try await Self.post(port: port, payload, token: old) == 200)
        #expect(try await Self.post(port: port, payload, token: new) == 200)
        #expect(try await Self.status(port: adminPort, "/metrics", bearer: admin) == 200)
        #expect(try await Self.status(port: adminPort, "/metrics", bearer: "not-the-admin-token") == 401)

        // Rotation: the old line goes; within a second or two the old token is refused, no restart
        // (the deadline leaves room for a machine busy with the other suites).
        try Data("production=\(new)\n".utf8).write(to: tokenFile)
        var refused = false
        let deadline = ContinuousClock.now + .seconds(15)
        while !refused && ContinuousClock.now < deadline {
            refused = try await Self.post(port: port, payload, token: old) == 401
            if !refused { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(refused, "the removed token was still accepted")
        #expect(try await Self.post(port: port, payload, token: new) == 200)
        process.signal(SIGTERM)
        #expect(await process.wait(timeout: .seconds(30)) == 0)
        for secret in [old, new, admin, password] {
            #expect(!process.log.contains(secret), "a secret is in the log")
        }

        // A bad line names the file and the line, never the value.
        let stray = "a-password-pasted-without-its-key"
        try Data("sasl.username=bridge\n\(stray)\n".utf8).write(to: folder.appendingPathComponent("kafka.properties"))
        let bad = try await Self.run(["serve", "--brokers", "127.0.0.1:1", "--routes", routes, "--data-dir", folder.appendingPathComponent("data").path,
                                      "--token-file", tokenFile.path, "--kafka-config", folder.appendingPathComponent("kafka.properties").path])
        #expect(bad.status == 1 && bad.output.contains("kafka.properties:2:"), "\(bad.output)")
        #expect(!bad.output.contains(stray))
    }

    static func post(port: Int, _ body: Data, token: String) async throws -> Int {
        var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)/webhooks/okra")!)
        request.httpMethod = "POST"
        request.httpBody = body
        request.setValue(token, forHTTPHeaderField: "Okra-Auth")
        let (_, response) = try await URLSession.shared.data(for: request)
        return (response as! HTTPURLResponse).statusCode
    }

    static func status(port: Int, _ path: String, bearer: String) async throws -> Int {
        var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)\(path)")!)
        request.setValue("Bearer \(bearer)", forHTTPHeaderField: "Authorization")
        let (_, response) = try await URLSession.shared.data(for: request)
        return (response as! HTTPURLResponse).statusCode
    }

    static func freePort() throws -> Int {
        FreePort.loopback()
    }

    static func get(port: Int, _ path: String) async throws -> Int {
        let (_, response) = try await URLSession.shared.data(from: URL(string: "http://127.0.0.1:\(port)\(path)")!)
        return (response as! HTTPURLResponse).statusCode
    }
}
