import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import OkraEnvelope
import OkraKafka
import OkraRouting
import Testing

/// The event log, the operations API and the operators' CLI (§9), against `serve` as a
/// process, real HTTP and the real broker.
@Suite("operations end to end (real broker)", .enabled(if: DevBroker.enabled), .serialized)
struct OperationsEndToEndTests {
    typealias Bridge = ServeEndToEndTests.Bridge
    static let adminToken = "ops-admin-token-0123456789"
    static let fixtures = ServeEndToEndTests.fixtures

    /// A bridge with the admin listener and its token (from a file), and a way to run the CLI at it.
    struct Operated {
        let bridge: Bridge
        let adminPort: Int
        let tokenFile: String

        static func launch(bootstrap: String, directory: URL? = nil, port: Int? = nil, prefix: String? = nil, routes: RouteTable? = nil,
                           extra: [String] = [], log: String = "serve.log") async throws -> Operated {
            let adminPort = try Bridge.freePort()
            let bridge: Bridge
            if let directory, let port, let prefix, let routes {
                let tokenFile = directory.appendingPathComponent("admin-token").path
                bridge = try await Bridge.launch(port: port, prefix: prefix, routes: routes, directory: directory, bootstrap: bootstrap,
                                                 extraArguments: ["--admin-listen", "127.0.0.1:\(adminPort)", "--admin-token-file", tokenFile] + extra, log: log)
            } else {
                let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("okra-ops-token-\(UUID().uuidString)")
                try adminToken.write(to: scratch, atomically: true, encoding: .utf8)
                bridge = try await Bridge.start(bootstrap: bootstrap, extraArguments: ["--admin-listen", "127.0.0.1:\(adminPort)", "--admin-token-file", scratch.path] + extra)
                let tokenFile = bridge.directory.appendingPathComponent("admin-token").path
                try FileManager.default.moveItem(atPath: scratch.path, toPath: tokenFile)
                return Operated(bridge: bridge, adminPort: adminPort, tokenFile: tokenFile)
            }
            return Operated(bridge: bridge, adminPort: adminPort, tokenFile: directory!.appendingPathComponent("admin-token").path)
        }

        /// Stops this bridge and starts another on the same folder, port and routes.
        func relaunch(bootstrap: String, extra: [String] = [], log: String) async throws -> Operated {
            #expect(await bridge.stop() == 0, "serve log: \(bridge.process.log.suffix(2000))")
            return try await Self.launch(bootstrap: bootstrap, directory: bridge.directory, port: bridge.port, prefix: bridge.prefix,
                                         routes: bridge.routes, extra: extra, log: log)
        }

        /// `okra-bridge ARGS` with the admin URL and token file in its environment; its exit
        /// status and standard output (piped: JSON lines).
        func cli(_ arguments: [String]) async throws -> (status: Int32, output: String) {
            let binary = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("okra-bridge").path
            return try await cli(via: binary, arguments)
        }

        /// `program arguments` with the admin URL and token file in its environment.
        func cli(via binary: String, _ arguments: [String]) async throws -> (status: Int32, output: String) {
            let log = bridge.directory.appendingPathComponent("cli-\(UUID().uuidString).out").path
            let process = try ChildProcess(binary, arguments, environment: [
                "OKRA_BRIDGE_ADMIN": "http://127.0.0.1:\(adminPort)", "OKRA_BRIDGE_ADMIN_TOKEN_FILE": tokenFile,
            ], logPath: log)
            guard let status = await process.wait(timeout: .seconds(120)) else {
                process.signal(SIGKILL)
                throw BrokerUnavailable("okra-bridge \(arguments) did not finish")
            }
            return (status, process.log)
        }

        /// The CLI's output on a terminal (a pseudo-terminal of util-linux's `script`): its tables.
        func table(_ arguments: [String]) async throws -> String {
            let binary = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("okra-bridge").path
            let (status, output) = try await cli(via: "/usr/bin/script", ["-qec", ([binary] + arguments).joined(separator: " "), "/dev/null"])
            #expect(status == 0, "\(arguments): \(output)")
            return output
        }

        /// The JSON objects of the CLI's JSON lines (stderr lines, which are not JSON, left out).
        func json(_ arguments: [String]) async throws -> [[String: Any]] {
            let (status, output) = try await cli(arguments)
            #expect(status == 0, "\(arguments): \(output)")
            return output.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        }

        func admin(_ method: String, _ path: String, token: String?) async throws -> (Int, String) {
            var request = URLRequest(url: URL(string: "http://127.0.0.1:\(adminPort)\(path)")!)
            request.httpMethod = method
            if let token { request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
            let (data, response) = try await URLSession.shared.data(for: request)
            return ((response as! HTTPURLResponse).statusCode, String(decoding: data, as: UTF8.self))
        }

        /// Waits until no entry has a pending record.
        func waitUntilPublished() async throws {
            for _ in 0..<200 {
                if try await json(["events", "list", "--state", "pending", "--limit", "1"]).isEmpty { return }
                try await Task.sleep(for: .milliseconds(100))
            }
            Issue.record("records stayed pending")
        }
    }

    static func tokenFor(_ event: CanonicalEvent) -> String {
        event.environment == .sandbox ? ServeEndToEndTests.sandboxToken : ServeEndToEndTests.productionToken
    }

    @Test("every seed payload is found through the CLI by record, customer, type glob and time range; show gives the envelope and pending -> published; export gives each entry once")
    func findEverySeed() async throws {
        let bootstrap = try await DevBroker.bootstrap()
        // First without a reachable broker: everything stays pending.
        var operated = try await Operated.launch(bootstrap: "127.0.0.1:1")
        let names = try FileManager.default.contentsOfDirectory(atPath: Self.fixtures.path)
            .filter { $0.hasSuffix(".json") && !$0.hasSuffix(".invalid.json") }.sorted()
        var events: [String: CanonicalEvent] = [:]
        for name in names {
            let body = try Data(contentsOf: Self.fixtures.appendingPathComponent(name))
            var unbound = try Normalizer.normalize(Array(body), receivedAt: Date()).get()
            let (status, answer) = try await operated.bridge.post(body, headers: ["Okra-Auth": Self.tokenFor(unbound)])
            #expect(status == 200, "\(name): \(answer)")
            // An untimed payload's id covers the minute the bridge received it (§2): the answer's.
            unbound.id = try #require(JSONParser.parse(Array(answer.utf8)).value["id"]?.nonEmptyString)
            events[unbound.id] = unbound
        }
        #expect(try await operated.bridge.post(Data("{not json".utf8), headers: ["Okra-Auth": ServeEndToEndTests.productionToken]).0 == 400)
        let someID = try #require(events.keys.sorted().first)
        let pending = try #require(try await operated.json(["events", "show", someID]).first)
        #expect((pending["records"] as? [[String: Any]])?.allSatisfy { $0["state"] as? String == "pending" } == true, "\(pending)")
        #expect((pending["envelope"] as? [String: Any])?["id"] as? String == someID)

        // Then with the broker: published.
        operated = try await operated.relaunch(bootstrap: bootstrap, log: "serve-2.log")
        try await operated.waitUntilPublished()
        let published = try #require(try await operated.json(["events", "show", someID]).first)
        #expect((published["records"] as? [[String: Any]])?.allSatisfy { $0["state"] as? String == "published" } == true, "\(published)")

        for (id, event) in events {
            if let record = event.record {
                let found = try await operated.json(["events", "list", "--record", record]).compactMap { $0["id"] as? String }
                #expect(found.contains(id), "record \(record)")
            }
            if let customer = event.customer {
                let found = try await operated.json(["events", "list", "--customer", customer, "--since", "1h"]).compactMap { $0["id"] as? String }
                #expect(found.contains(id), "customer \(customer)")
            }
        }
        let payments = try await operated.json(["events", "list", "--type", "okra.payment.*", "--limit", "1000"])
        #expect(payments.count == events.values.filter { $0.product == .payment }.count)
        // Listings carry no envelope unless asked; --with-data lists each entry whole.
        #expect(payments.allSatisfy { $0["envelope"] == nil })
        let whole = try await operated.json(["events", "list", "--type", "okra.payment.*", "--limit", "1000", "--with-data"])
        #expect(whole.count == payments.count && whole.allSatisfy { ($0["envelope"] as? [String: Any])?["data"] != nil }, "\(whole.first ?? [:])")
        #expect(try await operated.json(["events", "list", "--since", "1h", "--limit", "1000"]).count == events.count + 1)
        #expect(try await operated.json(["events", "list", "--until", "1h"]).isEmpty)
        // The body that is no JSON, and the seeds of no shape Okra documents (unrecognized, with ids).
        let deadLetters = try await operated.json(["events", "list", "--deadletter", "true"])
        #expect(deadLetters.count == 1 + events.values.filter { $0.product == .unknown }.count)
        #expect(deadLetters.contains { $0["reason"] as? String == "malformed-json" && $0["id"] == nil })

        let exported = try await operated.json(["events", "export"])
        #expect(exported.count == events.count + 1)
        #expect(Set(exported.compactMap { $0["id"] as? String }) == Set(events.keys))
        #expect(Set(exported.compactMap { $0["entry"] as? Int }).count == exported.count, "each entry once")

        // The admin API wants its token, and is not on the public listener.
        #expect(try await operated.admin("GET", "/admin/events", token: nil).0 == 401)
        #expect(try await operated.admin("GET", "/admin/events", token: "wrong-token-0123456789").0 == 401)
        #expect(try await operated.admin("GET", "/admin/events", token: Self.adminToken).0 == 200)
        #expect(try await operated.bridge.get("/admin/events").0 == 404)
        let (badStatus, _) = try await operated.cli(["events", "list", "--admin-token", "wrong-token-0123456789"])
        #expect(badStatus == 1)
        #expect(await operated.bridge.stop() == 0)
        #expect(!operated.bridge.process.log.contains(Self.adminToken))
    }

    @Test("replay: a dry run counts per topic under changed routes; execute publishes the same ids again with the replay header, to the new topics; the entry lists the replay")
    func replay() async throws {
        let bootstrap = try await DevBroker.bootstrap()
        let operated = try await Operated.launch(bootstrap: bootstrap)
        let body = try Data(contentsOf: Self.fixtures.appendingPathComponent("v2-payment-success.json"))
        let event = try Normalizer.normalize(Array(body), receivedAt: Date()).get()
        #expect(try await operated.bridge.post(body, headers: ["Okra-Auth": ServeEndToEndTests.productionToken]).0 == 200)
        try await operated.waitUntilPublished()

        // An operator points payments at a new topic.
        let newTopic = "\(operated.bridge.prefix).replayed.payments"
        let routesPath = operated.bridge.directory.appendingPathComponent("routes.json")
        let changed = #"{"version":1,"defaults":{"topic":"\#(newTopic)","key":"record"},"deadLetter":{"topic":"\#(operated.bridge.prefix).deadletter"},"routes":[]}"#
        try changed.write(to: routesPath, atomically: true, encoding: .utf8)
        operated.bridge.process.signal(SIGHUP)
        var plan: [String: Any] = [:]
        for _ in 0..<50 {
            plan = try #require(try await operated.json(["events", "replay", "--type", "okra.payment.*"]).first)
            if (plan["topics"] as? [String: Any])?[newTopic] != nil { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(plan["executed"] as? Bool == false)
        #expect((plan["topics"] as? [String: Any])?[newTopic] as? Int == 1, "\(plan)")

        let executed = try #require(try await operated.json(["events", "replay", "--event", event.id, "--execute"]).first)
        #expect(executed["executed"] as? Bool == true)
        let records = try await DevBroker.consumeAll(topic: newTopic, bootstrap: bootstrap, count: 1)
        #expect(records.count == 1)
        let headers = records.first?.headers ?? []
        #expect(headers.contains { $0.name == "okra-bridge-replay" && $0.value == Array("true".utf8) })
        #expect(headers.contains { $0.name == "idempotency-key" && $0.value == Array(event.id.utf8) })

        // The entry lists the replay, with its record's topic and, once Kafka has it, published.
        var replayed: [String: Any] = [:]
        for _ in 0..<50 {
            let shown = try #require(try await operated.json(["events", "show", event.id]).first)
            let replays = shown["replays"] as? [[String: Any]] ?? []
            replayed = (replays.first?["records"] as? [[String: Any]])?.first ?? [:]
            if replays.count == 1, replayed["state"] as? String == "published" { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(replayed["topic"] as? String == newTopic, "\(replayed)")
        #expect(replayed["state"] as? String == "published", "\(replayed)")
        // On a terminal, the entry's row counts its replay.
        let table = try await operated.table(["events", "list", "--record", try #require(event.record)])
        // A terminal ends lines with "\r\n", one Character in Swift: split on any newline.
        let lines = table.split(whereSeparator: \.isNewline)
        let header = try #require(lines.first { $0.contains("REPLAYS") }, "\(table)")
        let row = try #require(lines.first { $0.contains(event.record!) }, "\(table)")
        let column = header.split(separator: " ", omittingEmptySubsequences: true).firstIndex(of: "REPLAYS")
        #expect(column.map { row.split(separator: " ", omittingEmptySubsequences: true)[$0] } == "1", "\(table)")
        #expect(await operated.bridge.stop() == 0)
    }

    @Test("parked: a record over Kafka's size limit is listed; after raising the limit, redrive delivers it; discard drops one and is counted")
    func parkedRedriveAndDiscard() async throws {
        let bootstrap = try await DevBroker.bootstrap()
        // Stored while Kafka is away, under the default limits.
        var operated = try await Operated.launch(bootstrap: "127.0.0.1:1")
        let padding = String(repeating: "x", count: 150_000)
        var ids: [String] = []
        for index in 0..<2 {
            let body = #"{"type":"CALLBACK","method":"PAYMENT","code":"PAYMENT_SUCCESS","env":"production","record":"big-\#(index)-\#(UUID().uuidString)","note":"\#(padding)"}"#
            let (status, answer) = try await operated.bridge.post(Data(body.utf8), headers: ["Okra-Auth": ServeEndToEndTests.productionToken])
            #expect(status == 200, "\(answer)")
            ids.append(try #require(answer.split(separator: "\"").first { $0.hasPrefix("okra-") }.map(String.init)))
        }
        // A limit lowered below those records: the publisher parks them.
        operated = try await operated.relaunch(bootstrap: bootstrap, extra: ["--kafka", "message.max.bytes=100000", "--max-body", "64KiB"], log: "serve-small.log")
        var parked: [[String: Any]] = []
        for _ in 0..<100 where parked.count < 2 {
            parked = try await operated.json(["parked", "list"])
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(parked.count == 2, "\(parked)")
        #expect(parked.allSatisfy { $0["reason"] as? String == "message_too_large" }, "\(parked)")
        #expect(try await operated.json(["events", "show", ids[0]]).first.flatMap { ($0["records"] as? [[String: Any]])?.first?["state"] as? String } == "parked")

        // The limit raised again: redrive the first, discard the second.
        operated = try await operated.relaunch(bootstrap: bootstrap, log: "serve-large.log")
        let first = try #require(parked.first { $0["event_id"] as? String == ids[0] }?["id"] as? Int)
        let second = try #require(parked.first { $0["event_id"] as? String == ids[1] }?["id"] as? Int)
        #expect(try await operated.json(["parked", "redrive", "--id", String(first)]).first?["redriven"] as? Int == 1)
        #expect(try await operated.json(["parked", "discard", "--id", String(second)]).first?["discarded"] as? Int == 1)
        try await operated.waitUntilPublished()
        let topic = "\(operated.bridge.prefix).production.payment.success"
        let delivered = try await DevBroker.consumeAll(topic: topic, bootstrap: bootstrap, count: 1)
        #expect(delivered.compactMap { record in record.headers.first { $0.name == "idempotency-key" }?.value.map { String(decoding: $0, as: UTF8.self) } } == [ids[0]])
        #expect(try await operated.json(["events", "show", ids[0]]).first.flatMap { ($0["records"] as? [[String: Any]])?.first?["state"] as? String } == "published")
        #expect(try await operated.json(["events", "show", ids[1]]).first.flatMap { ($0["records"] as? [[String: Any]])?.first?["state"] as? String } == "dropped")
        #expect(try await operated.json(["parked", "list"]).isEmpty)
        let (_, metrics) = try await operated.admin("GET", "/metrics", token: Self.adminToken)
        #expect(metrics.contains("okra_bridge_parked_discarded_total 1"), "\(metrics.prefix(3000))")
        #expect(await operated.bridge.stop() == 0)
    }

    @Test("with the event log off (--retain 0): a parked record is listed and redriven through the CLI, the redrive and a token file's reload are on the audit trail, and events list says the log is off")
    func parkedWithTheLogOff() async throws {
        let bootstrap = try await DevBroker.bootstrap()
        var operated = try await Operated.launch(bootstrap: "127.0.0.1:1", extra: ["--retain", "0"])
        let record = "big-off-\(UUID().uuidString)"
        let body = #"{"type":"CALLBACK","method":"PAYMENT","code":"PAYMENT_SUCCESS","env":"production","record":"\#(record)","note":"\#(String(repeating: "x", count: 150_000))"}"#
        let (status, answer) = try await operated.bridge.post(Data(body.utf8), headers: ["Okra-Auth": ServeEndToEndTests.productionToken])
        #expect(status == 200, "\(answer)")
        let eventID = try #require(answer.split(separator: "\"").first { $0.hasPrefix("okra-") }.map(String.init))
        operated = try await operated.relaunch(bootstrap: bootstrap, extra: ["--retain", "0", "--kafka", "message.max.bytes=100000", "--max-body", "64KiB"],
                                               log: "serve-off-small.log")
        var parked: [[String: Any]] = []
        for _ in 0..<100 where parked.isEmpty {
            parked = try await operated.json(["parked", "list"])
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(parked.count == 1 && parked.first?["reason"] as? String == "message_too_large", "\(parked)")
        let (listed, output) = try await operated.cli(["events", "list"])
        #expect(listed != 0 && output.contains("--retain 0"), "\(output)")

        operated = try await operated.relaunch(bootstrap: bootstrap, extra: ["--retain", "0"], log: "serve-off-large.log")
        let id = try #require(parked.first?["id"] as? Int)
        #expect(try await operated.json(["parked", "redrive", "--id", String(id)]).first?["redriven"] as? Int == 1)
        let topic = "\(operated.bridge.prefix).production.payment.success"
        let delivered = try await DevBroker.consumeAll(topic: topic, bootstrap: bootstrap, count: 1)
        #expect(delivered.compactMap { record in record.headers.first { $0.name == "idempotency-key" }?.value.map { String(decoding: $0, as: UTF8.self) } } == [eventID])
        #expect(try await operated.json(["parked", "list"]).isEmpty)
        let audit = try await operated.json(["audit", "list"])
        #expect(audit.contains { $0["action"] as? String == "redrive" && $0["count"] as? Int == 1 }, "\(audit)")
        // A reload of the admin token file is on the trail too (the CLI reads the first line's token).
        try "ops:operate=\(Self.adminToken)\nwatcher:read=log-off-watcher-secret-0123456789\n".write(toFile: operated.tokenFile, atomically: true, encoding: .utf8)
        var reload: [String: Any]?
        for _ in 0..<50 where reload == nil {
            try await Task.sleep(for: .milliseconds(100))
            reload = try await operated.json(["audit", "list", "--limit", "3"]).first { $0["action"] as? String == "admin-tokens-reload" }
        }
        #expect(reload?["ids"] as? [String] == ["ops", "watcher"], "\(String(describing: reload))")
        #expect(await operated.bridge.stop() == 0)
    }
}
