import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import OkraEnvelope
import Testing

/// Personal data (§9, docs/privacy.md) against `serve` as a process, real HTTP and the real
/// broker: payloads shaped like every real one in ../shared/okra-corpus, a distinct sentinel in
/// each personal field (scripts/privacy/corpus_sentinels.py), looked for in every answer a token
/// without `read-pii` gets, in the CLI's output and in the process log.
@Suite("privacy end to end (real broker)", .enabled(if: DevBroker.enabled), .serialized)
struct PrivacyEndToEndTests {
    typealias Bridge = ServeEndToEndTests.Bridge
    typealias Operated = OperationsEndToEndTests.Operated

    static let readSecret = "privacy-read-secret-0123456789"
    static let piiSecret = "privacy-pii-secret-0123456789"
    static let operateSecret = "privacy-operate-secret-0123456789"

    /// The corpus: `OKRA_CORPUS`, else ../shared/okra-corpus beside the repository.
    static var corpus: URL {
        if let path = ProcessInfo.processInfo.environment["OKRA_CORPUS"], !path.isEmpty { return URL(fileURLWithPath: path) }
        return DevBroker.repositoryRoot.deletingLastPathComponent().appendingPathComponent("shared/okra-corpus")
    }

    struct Payload: Decodable {
        let file: String
        let source: String
        let kind: String
        let sentinels: [String]
    }

    /// The corpus's payloads with sentinels, written to `folder` by the script.
    static func payloads(in folder: URL) async throws -> [Payload] {
        try #require(FileManager.default.fileExists(atPath: corpus.path), "the okra corpus is not at \(corpus.path): set OKRA_CORPUS")
        let script = DevBroker.repositoryRoot.appendingPathComponent("scripts/privacy/corpus_sentinels.py").path
        let process = try ChildProcess("/usr/bin/python3", [script, corpus.path, folder.path], logPath: folder.path + ".log")
        #expect(await process.wait(timeout: .seconds(60)) == 0, "\(process.log)")
        let manifest = try Data(contentsOf: folder.appendingPathComponent("manifest.json"))
        return try JSONDecoder().decode([Payload].self, from: manifest)
    }

    /// A bridge whose admin token file holds a read, a read-pii and an operate token; and the CLI
    /// at it with each.
    static func launch(bootstrap: String, folder: URL) async throws -> (read: Operated, pii: Operated, operate: Operated) {
        let adminPort = try Bridge.freePort()
        let tokens = folder.appendingPathComponent("admin-tokens")
        try "support:read=\(readSecret)\nsupport-pii:read,read-pii=\(piiSecret)\nops:operate=\(operateSecret)\n".write(to: tokens, atomically: true, encoding: .utf8)
        var files: [String] = []
        for (name, secret) in [("read", readSecret), ("pii", piiSecret), ("operate", operateSecret)] {
            let file = folder.appendingPathComponent("cli-\(name)").path
            try "\(secret)\n".write(toFile: file, atomically: true, encoding: .utf8)
            files.append(file)
        }
        let bridge = try await Bridge.start(bootstrap: bootstrap, extraArguments: ["--admin-listen", "127.0.0.1:\(adminPort)", "--admin-token-file", tokens.path])
        return (Operated(bridge: bridge, adminPort: adminPort, tokenFile: files[0]), Operated(bridge: bridge, adminPort: adminPort, tokenFile: files[1]),
                Operated(bridge: bridge, adminPort: adminPort, tokenFile: files[2]))
    }

    /// Posts each payload with the token of its environment (production for what is no event).
    static func post(_ payloads: [Payload], to bridge: Bridge) async throws {
        for payload in payloads {
            let body = try Data(contentsOf: URL(fileURLWithPath: payload.file))
            let environment = (try? Normalizer.normalize(Array(body), receivedAt: Date()).get())?.environment
            let token = environment == .sandbox ? ServeEndToEndTests.sandboxToken : ServeEndToEndTests.productionToken
            let (status, answer) = try await bridge.post(body, headers: ["Okra-Auth": token])
            // What is not JSON is 400, its raw body a dead letter all the same (§3).
            #expect(status == 200 || (payload.kind != "json" && status == 400), "\(payload.source) \(payload.kind): \(answer)")
        }
    }

    /// Everything a token is shown: the listing with data (every page), each entry, the export,
    /// the parked records, over the API; and the CLI's list, show, export and table.
    static func everythingShown(to operated: Operated, secret: String) async throws -> String {
        var shown = ""
        var cursor: String?
        var entries: [Int] = []
        repeat {
            let (status, page) = try await operated.admin("GET", "/admin/events?include=data&limit=20" + (cursor.map { "&cursor=\($0)" } ?? ""), token: secret)
            #expect(status == 200, "\(page)")
            shown += page
            let json = try JSONSerialization.jsonObject(with: Data(page.utf8)) as? [String: Any]
            entries += ((json?["events"] as? [[String: Any]]) ?? []).compactMap { $0["entry"] as? Int }
            cursor = json?["next_cursor"] as? String
        } while cursor != nil
        for entry in entries {
            shown += try await operated.admin("GET", "/admin/events/\(entry)", token: secret).1
        }
        shown += try await operated.admin("GET", "/admin/events/export", token: secret).1
        shown += try await operated.admin("GET", "/admin/parked", token: secret).1
        for arguments in [["events", "list", "--with-data", "--limit", "1000"], ["events", "export"], ["events", "show", String(entries.first ?? 1)]] {
            let (status, output) = try await operated.cli(arguments)
            #expect(status == 0, "\(arguments): \(output)")
            shown += output
        }
        shown += try await operated.table(["events", "list", "--limit", "1000"])
        return shown
    }

    @Test("no sentinel of a personal field reaches a read token's answers, the CLI or the process log; read-pii sees every one")
    func sentinelsStayHidden() async throws {
        let bootstrap = try await DevBroker.bootstrap()
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("okra-privacy-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let payloads = try await Self.payloads(in: folder.appendingPathComponent("payloads"))
        let sentinels = payloads.flatMap(\.sentinels)
        #expect(sentinels.count > 100, "the corpus's personal fields: \(sentinels.count)")
        let (read, pii, operate) = try await Self.launch(bootstrap: bootstrap, folder: folder)
        try await Self.post(payloads, to: read.bridge)
        try await read.waitUntilPublished()

        // Sealed at rest: no sentinel in the store's file or its WAL (the bridge runs with a key file).
        let data = read.bridge.directory.appendingPathComponent("data/okra-bridge.sqlite").path
        var stored = Data()
        for suffix in ["", "-wal"] { stored += FileManager.default.contents(atPath: data + suffix) ?? Data() }
        #expect(stored.count > 100_000)
        let atRest = sentinels.filter { stored.range(of: Data($0.utf8)) != nil }
        #expect(atRest.isEmpty, "in the SQLite file or its WAL: \(atRest.prefix(20))")

        let masked = try await Self.everythingShown(to: read, secret: Self.readSecret)
        let leaked = sentinels.filter { masked.contains($0) }
        #expect(leaked.isEmpty, "shown to a read token: \(leaked.prefix(20)) of \(payloads.filter { !Set($0.sentinels).isDisjoint(with: leaked) }.map(\.source))")
        #expect(masked.contains(#""redacted":true"#))

        let clear = try await Self.everythingShown(to: pii, secret: Self.piiSecret)
        let missing = sentinels.filter { !clear.contains($0) }
        #expect(missing.isEmpty, "read-pii sees every sentinel; missing: \(missing.prefix(20))")

        // The audit trail names the read-pii token for what it saw in clear, and the read token's export.
        let audit = try await operate.json(["audit", "list", "--limit", "1000"])
        let actions = Set(audit.compactMap { line in (line["token"] as? String).map { "\($0) \(line["action"] as? String ?? "")" } })
        for expected in ["support export", "support-pii export", "support-pii list-pii", "support-pii show-pii"] {
            #expect(actions.contains(expected), "\(actions)")
        }
        // Erasure through the CLI: refused to a read token, done for an operate one, on the trail.
        let customer = "63d43e042e2c240013b94ed5" // the payskul deliveries' customer
        let refused = try await read.cli(["events", "erase", "--customer", customer])
        #expect(refused.status == 1 && refused.output.contains("403") && refused.output.contains("operate"), "\(refused.output)")
        let before = try await read.json(["events", "list", "--customer", customer, "--limit", "1000"]).count
        #expect(before > 0)
        // Its dead letters (the payloads cut short) hold the id in their bodies: erased too.
        let deadLetters = try await pii.json(["events", "export", "--deadletter", "true"]).filter { ($0["body"] as? String)?.contains(customer) == true }.count
        #expect(deadLetters > 0)
        let erased = try await operate.json(["events", "erase", "--customer", customer])
        let count = erased.first?["erased"] as? Int
        #expect(count == before + deadLetters, "\(erased): \(before) entries and \(deadLetters) dead letters")
        #expect(try await read.json(["events", "list", "--customer", customer, "--limit", "1000"]).isEmpty)
        let (_, export) = try await pii.cli(["events", "export"])
        #expect(!export.contains(customer), "nothing left names the customer")
        let trail = try await operate.json(["audit", "list", "--limit", "5"]).filter { $0["action"] as? String == "erase" }
        #expect(trail.count == 1 && trail.first?["token"] as? String == "ops"
                && trail.first?["ids"] as? [String] == [customer] && trail.first?["count"] as? Int == count, "\(trail)")

        // A token file reload is on the trail, naming the file and the tokens it now holds.
        let tokens = folder.appendingPathComponent("admin-tokens")
        try "support:read=\(Self.readSecret)\nsupport-pii:read,read-pii=\(Self.piiSecret)\nops:operate=\(Self.operateSecret)\nprometheus:metrics=privacy-metrics-secret-0123456\n"
            .write(to: tokens, atomically: true, encoding: .utf8)
        var reload: [String: Any]?
        for _ in 0..<50 where reload == nil {
            try await Task.sleep(for: .milliseconds(100))
            reload = try await operate.json(["audit", "list", "--limit", "3"]).first { $0["action"] as? String == "admin-tokens-reload" }
        }
        #expect(reload?["token"] as? String == tokens.path && reload?["ids"] as? [String] == ["support", "support-pii", "ops", "prometheus"],
                "\(String(describing: reload))")

        let log = read.bridge.process.log
        let inLog = sentinels.filter { log.contains($0) }
        #expect(inLog.isEmpty, "in the process log: \(inLog.prefix(20))")
        for secret in [Self.readSecret, Self.piiSecret, Self.operateSecret] { #expect(!log.contains(secret)) }
        #expect(await read.bridge.stop() == 0)
    }
}
