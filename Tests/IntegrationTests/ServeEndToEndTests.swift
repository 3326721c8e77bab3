import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Logging
import OkraEnvelope
import OkraKafka
import OkraRouting
import OkraTestSupport
import Testing

/// `okra-bridge serve` as a process, real HTTP, the real broker.
@Suite("serve end to end (real broker)", .enabled(if: DevBroker.enabled), .serialized)
struct ServeEndToEndTests {
    static let productionToken = "e2e-production-token-0123456789"
    static let sandboxToken = "e2e-sandbox-token-0123456789"
    static let fixtures = DevBroker.repositoryRoot.appendingPathComponent("Tests/OkraEnvelopeTests/Fixtures/payloads")

    /// A running bridge with routes whose topics carry a prefix of this run's own.
    struct Bridge: Sendable {
        let process: ChildProcess
        let port: Int
        let prefix: String
        let routes: RouteTable
        let directory: URL

        static func start(bootstrap: String, extraArguments: [String] = [], environment: [String: String] = [:]) async throws -> Bridge {
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("okra-e2e-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            let prefix = "e2e\(UUID().uuidString.prefix(6).lowercased())"
            let original = try String(contentsOf: DevBroker.repositoryRoot.appendingPathComponent("routes.json"), encoding: .utf8)
            let routesText = original.replacingOccurrences(of: "\"okra.", with: "\"\(prefix).")
            let routesPath = directory.appendingPathComponent("routes.json")
            try routesText.write(to: routesPath, atomically: true, encoding: .utf8)
            return try await launch(port: try Self.freePort(), prefix: prefix, routes: try RouteTable.load(Array(routesText.utf8)),
                                    directory: directory, bootstrap: bootstrap, extraArguments: extraArguments, log: "serve.log",
                                    environment: environment)
        }

        /// Starts `serve` with this directory's routes and data, and waits until it is healthy.
        static func launch(port: Int, prefix: String, routes: RouteTable, directory: URL, bootstrap: String,
                           extraArguments: [String], log: String, dataDirectory: URL? = nil,
                           environment: [String: String] = [:]) async throws -> Bridge {
            let binary = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("okra-bridge").path
            // Sealed at rest, as in production, unless the test says otherwise.
            var keyArguments: [String] = []
            let keySettings = ["--log-key-file", "--log-unencrypted", "OKRA_BRIDGE_LOG_KEY_FILE", "OKRA_BRIDGE_LOG_UNENCRYPTED"]
            if !(extraArguments + environment.keys).contains(where: { name in keySettings.contains { name.hasPrefix($0) } }) {
                keyArguments = ["--log-key-file", try logKeyFile(in: directory)]
            }
            let process = try ChildProcess(binary, [
                "serve", "--listen", "127.0.0.1:\(port)", "--brokers", bootstrap, "--routes", directory.appendingPathComponent("routes.json").path,
                "--data-dir", (dataDirectory ?? directory.appendingPathComponent("data")).path,
                "--token", "production=\(productionToken)", "--token", "sandbox=\(sandboxToken)",
            ] + keyArguments + extraArguments, environment: environment, logPath: directory.appendingPathComponent(log).path)
            let bridge = Bridge(process: process, port: port, prefix: prefix, routes: routes, directory: directory)
            for _ in 0..<200 {
                if (try? await bridge.get("/healthz"))?.0 == 200 { return bridge }
                try await Task.sleep(for: .milliseconds(50))
            }
            throw BrokerUnavailable("okra-bridge serve did not become healthy: \(process.log)")
        }

        /// The folder's log key file (`ID=BASE64`), made on first use; a relaunch reuses it.
        static func logKeyFile(in directory: URL) throws -> String {
            let path = directory.appendingPathComponent("log-key").path
            if !FileManager.default.fileExists(atPath: path) {
                var key = [UInt8](repeating: 0, count: 32)
                for index in key.indices { key[index] = UInt8.random(in: 0...255) }
                try "test-key=\(Data(key).base64EncodedString())\n".write(toFile: path, atomically: true, encoding: .utf8)
            }
            return path
        }

        /// A bridge started with `--admin-listen` and `--admin-token` as well, and that listener.
        static func startWithAdmin(bootstrap: String, token: String) async throws -> (bridge: Bridge, admin: Bridge) {
            let adminPort = try freePort()
            let bridge = try await start(bootstrap: bootstrap, extraArguments: ["--admin-listen", "127.0.0.1:\(adminPort)", "--admin-token", token])
            return (bridge, Bridge(process: bridge.process, port: adminPort, prefix: bridge.prefix, routes: bridge.routes, directory: bridge.directory))
        }

        static func freePort() throws -> Int {
            FreePort.loopback()
        }

        func get(_ path: String) async throws -> (Int, String) {
            try await request("GET", path, body: nil, headers: [:])
        }

        func post(_ body: Data, headers: [String: String]) async throws -> (Int, String) {
            try await request("POST", "/webhooks/okra", body: body, headers: headers)
        }

        func request(_ method: String, _ path: String, body: Data?, headers: [String: String]) async throws -> (Int, String) {
            var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)\(path)")!)
            request.httpMethod = method
            request.httpBody = body
            for (name, value) in headers { request.setValue(value, forHTTPHeaderField: name) }
            let (data, response) = try await URLSession.shared.data(for: request)
            return ((response as! HTTPURLResponse).statusCode, String(decoding: data, as: UTF8.self))
        }

        /// SIGTERM and the exit status; SIGKILL (and nil) if it has not exited within a minute.
        func stop() async -> Int32? {
            process.signal(SIGTERM)
            if let status = await process.wait(timeout: .seconds(60)) { return status }
            process.signal(SIGKILL)
            _ = await process.wait(timeout: .seconds(10))
            return nil
        }
    }

    @Test("--admin-listen serves /metrics behind --admin-token, and the probes, on its own port; /metrics leaves the ingest listener")
    func adminListener() async throws {
        let bootstrap = try await DevBroker.bootstrap()
        let adminToken = "e2e-admin-token-0123456789"
        let (bridge, admin) = try await Bridge.startWithAdmin(bootstrap: bootstrap, token: adminToken)
        let body = try Data(contentsOf: Self.fixtures.appendingPathComponent("v2-payment-success.json"))
        #expect(try await bridge.post(body, headers: ["Okra-Auth": Self.productionToken]).0 == 200)

        #expect(try await bridge.get("/metrics").0 == 404)
        #expect(try await admin.get("/metrics").0 == 401)
        #expect(try await admin.request("GET", "/metrics", body: nil, headers: ["Authorization": "Bearer \(adminToken)x"]).0 == 401)
        let (status, text) = try await admin.request("GET", "/metrics", body: nil, headers: ["Authorization": "Bearer \(adminToken)"])
        #expect(status == 200)
        #expect(text.contains(#"okra_bridge_requests_total{listener="ingest",result="accepted"} 1"#), "\(text.prefix(2000))")
        // Every known pair is there from the start, at 0; a 404 on the admin listener is its own.
        #expect(text.contains(#"okra_bridge_requests_total{listener="ingest",result="unauthorized"} 0"#), "\(text.prefix(2000))")
        // The ingest listener answered its /metrics 404 above; two 404s on the admin listener count there.
        #expect(try await admin.get("/no-such-path").0 == 404)
        #expect(try await admin.get("/nor-this").0 == 404)
        let after = try await admin.request("GET", "/metrics", body: nil, headers: ["Authorization": "Bearer \(adminToken)"]).1
        #expect(after.contains(#"okra_bridge_requests_total{listener="admin",result="not_found"} 2"#)
                && after.contains(#"okra_bridge_requests_total{listener="ingest",result="not_found"} 1"#), "\(after.prefix(3000))")
        // The store's WAL exists from the first commit on, and its size is reported.
        let walLine = text.split(separator: "\n").first { $0.hasPrefix("okra_bridge_store_wal_bytes ") }
        #expect(walLine.flatMap { Double($0.split(separator: " ").last ?? "") }.map { $0 > 0 } == true, "\(text.prefix(2000))")
        // And the store's and the data volume's sizes.
        for gauge in ["okra_bridge_store_bytes", "okra_bridge_store_volume_used_bytes", "okra_bridge_store_volume_free_bytes"] {
            let line = text.split(separator: "\n").first { $0.hasPrefix(gauge + " ") }
            #expect(line.flatMap { Double($0.split(separator: " ").last ?? "") }.map { $0 > 0 } == true, "\(gauge): \(text.prefix(3000))")
        }
        #expect(text.contains("okra_bridge_event_log_bytes "), "\(text.prefix(3000))")
        for probe in ["/healthz", "/readyz"] {
            #expect(try await admin.get(probe).0 == 200)
            #expect(try await bridge.get(probe).0 == 200)
        }
        // The webhook endpoint is not on the admin listener.
        #expect(try await admin.post(body, headers: ["Okra-Auth": Self.productionToken]).0 == 404)
        #expect(await bridge.stop() == 0, "serve log: \(bridge.process.log.suffix(2000))")
        #expect(!bridge.process.log.contains(adminToken))
    }

    static func tokenFor(_ event: CanonicalEvent) -> String {
        event.environment == .sandbox ? sandboxToken : productionToken
    }

    @Test("every seed payload is accepted and lands on the topic its route names, with the §5 envelope and headers; duplicates, refusals and bad bodies are answered as the contract says")
    func seedsEndToEnd() async throws {
        let bootstrap = try await DevBroker.bootstrap()
        let bridge = try await Bridge.start(bootstrap: bootstrap, extraArguments: ["--allow-ip", "127.0.0.1", "--trusted-proxy", "127.0.0.1"])

        // Every valid seed payload.
        let names = try FileManager.default.contentsOfDirectory(atPath: Self.fixtures.path)
            .filter { $0.hasSuffix(".json") && !$0.hasSuffix(".invalid.json") }.sorted()
        var expected: [String: [(topic: String, key: String?)]] = [:] // by event id
        for name in names {
            let body = try Data(contentsOf: Self.fixtures.appendingPathComponent(name))
            let before = Date()
            let unbound = try Normalizer.normalize(Array(body), receivedAt: before).get()
            let (status, answer) = try await bridge.post(body, headers: ["Okra-Auth": Self.tokenFor(unbound)])
            #expect(status == 200, "\(name): \(answer)")
            // A payload without a time of its own has an id over the minute the bridge received
            // it (§2): the minute of the post's start or, if one ended meanwhile, of its end.
            let answered = try JSONParser.parse(Array(answer.utf8)).value["id"]?.nonEmptyString
            let after = try Normalizer.normalize(Array(body), receivedAt: Date()).get().id
            #expect(answered == unbound.id || (unbound.time == nil && answered == after), "\(name): \(answer)")
            // The bridge takes the environment from the token (§1): no okra.unknown.* topic.
            var event = try #require(unbound.bound(to: unbound.environment == .sandbox ? .sandbox : .production))
            event.id = try #require(answered)
            let decision = Router.route(event, table: bridge.routes, receivedAt: Date())
            #expect(decision.records.allSatisfy { !$0.topic.contains(".unknown.") }, "\(name)")
            expected[event.id, default: []] += decision.records.map { ($0.topic, $0.key) }
        }

        // A redelivery is acknowledged as a duplicate and not published again.
        let payment = try Data(contentsOf: Self.fixtures.appendingPathComponent("v2-payment-success.json"))
        let (dupStatus, dupAnswer) = try await bridge.post(payment, headers: ["Authorization": "Bearer \(Self.productionToken)"])
        #expect(dupStatus == 200 && dupAnswer.contains(#""duplicate":true"#))

        // Refusals and bad bodies.
        let sandbox = try Data(contentsOf: Self.fixtures.appendingPathComponent("v2-auth-success.json"))
        #expect(try await bridge.post(sandbox, headers: ["Okra-Auth": Self.productionToken]).0 == 403)
        #expect(try await bridge.post(sandbox, headers: [:]).0 == 401)
        #expect(try await bridge.post(sandbox, headers: ["Okra-Auth": "not-the-token-at-all"]).0 == 401)
        #expect(try await bridge.post(sandbox, headers: ["Okra-Auth": Self.sandboxToken, "X-Forwarded-For": "203.0.113.9"]).0 == 403)
        #expect(try await bridge.post(Data(count: 2 * 1024 * 1024), headers: ["Okra-Auth": Self.productionToken]).0 == 413)
        let notJSON = Data("this is not json \(UUID())".utf8)
        let (badStatus, badAnswer) = try await bridge.post(notJSON, headers: ["Okra-Auth": Self.productionToken])
        #expect(badStatus == 400 && badAnswer.contains("malformed-json"))
        #expect(try await bridge.post(Data(), headers: ["Okra-Auth": Self.productionToken]).0 == 400)

        // Consume every topic and compare.
        let byTopic = Dictionary(grouping: expected.flatMap { id, records in records.map { (id, $0.topic, $0.key) } }, by: \.1)
        for (topic, wanted) in byTopic {
            let extra = topic == bridge.routes.deadLetterTopic ? 2 : 0 // the two bad bodies
            let records = try await DevBroker.consumeAll(topic: topic, bootstrap: bootstrap, count: wanted.count + extra, idle: .seconds(10))
            #expect(records.count == wanted.count + extra, "\(topic): \(records.count) records, expected \(wanted.count + extra)")
            for (id, _, key) in wanted {
                let matching = records.filter { $0.header("idempotency-key")?.stringValue == id || $0.header("ce_id")?.stringValue == id }
                #expect(matching.count == 1, "\(topic): event \(id) arrived \(matching.count) times")
                guard let record = matching.first else { continue }
                #expect(record.key.map { String(decoding: $0, as: UTF8.self) } == key)
                if topic != bridge.routes.deadLetterTopic {
                    #expect(record.header("content-type")?.stringValue == "application/cloudevents+json; charset=UTF-8")
                    let envelope = try JSONParser.parse(record.value).value
                    #expect(envelope["id"] == .string(id))
                    #expect(envelope["specversion"] == .string("1.0"))
                    #expect(envelope["partitionkey"] == key.map(JSONValue.string))
                } else {
                    #expect(record.header("okra-bridge-reason")?.stringValue == "unrecognized")
                }
            }
            if topic == bridge.routes.deadLetterTopic {
                #expect(records.contains { $0.value == Array(notJSON) && $0.header("okra-bridge-reason")?.stringValue == "malformed-json" })
                #expect(records.contains { $0.value.isEmpty && $0.header("okra-bridge-received-at") != nil })
            }
        }

        // SIGTERM: stop accepting, finish, exit 0.
        #expect(await bridge.stop() == 0, "serve log: \(bridge.process.log.suffix(2000))")
        #expect(!bridge.process.log.contains(Self.productionToken) && !bridge.process.log.contains(Self.sandboxToken))
    }

    @Test("dedupe is per environment: a sandbox delivery of a payload that names no env never suppresses the production one; both are published")
    func dedupePerEnvironment() async throws {
        let bootstrap = try await DevBroker.bootstrap()
        let adminToken = "e2e-admin-token-0123456789"
        let (bridge, admin) = try await Bridge.startWithAdmin(bootstrap: bootstrap, token: adminToken)
        let customer = "c-\(UUID().uuidString.prefix(8))"
        // Its own time (data.disconnected_at), so the id is the content's alone, the same in both.
        let body = Data(#"{"event":"USER_DISCONNECT","data":{"customer":"\#(customer)","disconnected_at":"2026-12-03T10:00:00.000Z"}}"#.utf8)
        let id = try Normalizer.normalize(Array(body), receivedAt: Date()).get().id
        let (sandboxStatus, sandboxAnswer) = try await bridge.post(body, headers: ["Okra-Auth": Self.sandboxToken])
        #expect(sandboxStatus == 200 && sandboxAnswer.contains(#""duplicate":false"#) && sandboxAnswer.contains(id), "\(sandboxAnswer)")
        let (productionStatus, productionAnswer) = try await bridge.post(body, headers: ["Okra-Auth": Self.productionToken])
        #expect(productionStatus == 200 && productionAnswer.contains(#""duplicate":false"#), "\(productionAnswer)")
        // Within one environment a redelivery is still a duplicate.
        let (againStatus, againAnswer) = try await bridge.post(body, headers: ["Okra-Auth": Self.productionToken])
        #expect(againStatus == 200 && againAnswer.contains(#""duplicate":true"#), "\(againAnswer)")
        for env in ["sandbox", "production"] {
            let topic = "\(bridge.prefix).\(env).user.disconnected"
            // Asked for two, so a second copy would be seen: exactly one arrives.
            let records = try await DevBroker.consumeAll(topic: topic, bootstrap: bootstrap, count: 2, idle: .seconds(5))
            #expect(records.count == 1, "\(topic): \(records.count) records")
            #expect(records.first?.header("idempotency-key")?.stringValue == id)
        }
        // The log has an entry per environment: both without env, one with it.
        let authorization = ["Authorization": "Bearer \(adminToken)"]
        let (bothStatus, both) = try await admin.request("GET", "/admin/events/\(id)", body: nil, headers: authorization)
        let entries = try JSONParser.parse(Array(both.utf8)).value["events"]
        #expect(bothStatus == 200)
        guard case .array(let list)? = entries else { Issue.record("\(both)"); return }
        #expect(list.compactMap { $0["okraenv"]?.nonEmptyString }.sorted() == ["production", "sandbox"], "\(both)")
        let (oneStatus, one) = try await admin.request("GET", "/admin/events/\(id)?env=sandbox", body: nil, headers: authorization)
        #expect(oneStatus == 200)
        if case .array(let only)? = try JSONParser.parse(Array(one.utf8)).value["events"] {
            #expect(only.compactMap { $0["okraenv"]?.nonEmptyString } == ["sandbox"], "\(one)")
        } else {
            Issue.record("\(one)")
        }
        #expect(try await admin.request("GET", "/admin/events/\(id)?env=staging", body: nil, headers: authorization).0 == 400)
        #expect(await bridge.stop() == 0)
    }

    @Test("a body of the default --max-body reaches Kafka, and one a byte larger is 413; small events after it are not held up")
    func largestBodyFits() async throws {
        let bootstrap = try await DevBroker.bootstrap()
        let bridge = try await Bridge.start(bootstrap: bootstrap)
        let maxBody = 900 * 1024
        func body(size: Int, record: String) -> Data {
            let head = #"{"type":"CALLBACK","method":"PAYMENT","code":"PAYMENT_SUCCESS","env":"production","record":"\#(record)","pad":""#
            return Data((head + String(repeating: "x", count: size - head.utf8.count - 2) + "\"}").utf8)
        }
        let large = body(size: maxBody, record: "large-\(bridge.prefix)")
        #expect(large.count == maxBody)
        #expect(try await bridge.post(large, headers: ["Okra-Auth": Self.productionToken]).0 == 200)
        #expect(try await bridge.post(body(size: maxBody + 1, record: "over"), headers: ["Okra-Auth": Self.productionToken]).0 == 413)
        let small = body(size: 200, record: "small-\(bridge.prefix)")
        #expect(try await bridge.post(small, headers: ["Okra-Auth": Self.productionToken]).0 == 200)

        let topic = "\(bridge.prefix).production.payment.success"
        let records = try await DevBroker.consumeAll(topic: topic, bootstrap: bootstrap, count: 2, idle: .seconds(20))
        #expect(records.count == 2)
        let large1 = try #require(records.first { $0.key == Array("large-\(bridge.prefix)".utf8) })
        #expect(large1.value.count > maxBody && large1.value.count < 1_000_000)
        #expect(records.contains { $0.key == Array("small-\(bridge.prefix)".utf8) })
        #expect(await bridge.stop() == 0, "serve log: \(bridge.process.log.suffix(2000))")
    }
}
