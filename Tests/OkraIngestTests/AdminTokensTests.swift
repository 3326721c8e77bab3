import Foundation
import Logging
import MetricsTestKit
import OkraIngest
import OkraOperations
import Synchronization
import Testing

/// The admin token file (§9): scoped lines, the bare one-line form, rotation, reload.
@Suite("Admin tokens")
struct AdminTokensTests {
    static let opsSecret = "ops-secret-0123456789abcdef"
    static let supportSecret = "support-secret,with=marks-0123"
    static let scrapeSecret = "scrape-secret-0123456789abcd"

    static func caller(_ set: AdminTokenSet, _ secret: String) -> AdminCaller? { set.caller(authorization: "Bearer \(secret)") }

    @Test("NAME:SCOPE[,SCOPE...]=SECRET lines, comments and blank lines; each secret maps to its name and scopes")
    func scopedLines() throws {
        let set = try AdminTokenSet.parsing("""
            # who may do what
            prometheus:metrics=\(Self.scrapeSecret)

            support:read,read-pii=\(Self.supportSecret)
            ops:operate=\(Self.opsSecret)
            """)
        #expect(Self.caller(set, Self.scrapeSecret) == AdminCaller(name: "prometheus", scopes: [.metrics]))
        #expect(Self.caller(set, Self.supportSecret) == AdminCaller(name: "support", scopes: [.read, .readPII]), "a secret with , and = works")
        #expect(Self.caller(set, Self.opsSecret) == AdminCaller(name: "ops", scopes: [.operate]))
        #expect(Self.caller(set, "ops:operate=\(Self.opsSecret)") == nil, "the whole line is not the token")
        #expect(Self.caller(set, Self.opsSecret + "x") == nil)
        #expect(set.names == ["prometheus", "support", "ops"])
    }

    @Test("a one-line file not of the scoped form is one bare operate token named admin (the earlier form)")
    func bareOneLine() throws {
        for text in ["\(Self.opsSecret)\n", "# the admin token\n\(Self.opsSecret)", "Ab3:Xyz=\(Self.opsSecret)", "name:read\(Self.opsSecret)"] {
            let set = try AdminTokenSet.parsing(text)
            let secret = text.split(separator: "\n").last.map(String.init)!
            #expect(Self.caller(set, secret) == AdminCaller(name: "admin", scopes: [.operate]), "\(text)")
        }
    }

    @Test("a bare line in a longer file, an unknown scope, a short secret or no token at all is refused naming the line, never the secret")
    func refused() throws {
        let cases: [(String, String)] = [
            ("ops:operate=\(Self.opsSecret)\n\(Self.supportSecret)\n", "admin tokens:2: takes NAME:SCOPE"),
            ("ops:operate=\(Self.opsSecret)\nsupport:read,write=\(Self.supportSecret)\n", "admin tokens:2: support: unknown scope write"),
            ("ops:operate=short\n", "admin tokens:1: ops: the secret must be at least 16 characters"),
            ("short-bare\n", "admin tokens:1: the admin token must be at least 16 characters"),
            ("# nothing\n\n", "admin tokens: no tokens"),
        ]
        for (text, message) in cases {
            do {
                _ = try AdminTokenSet.parsing(text)
                Issue.record("accepted: \(text)")
            } catch {
                #expect(error.description.hasPrefix(message), "\(error.description)")
                for secret in [Self.opsSecret, Self.supportSecret, "short-bare"] { #expect(!error.description.contains(secret)) }
            }
        }
    }

    @Test("scopes grant: operate everything, read-pii read, read and metrics only themselves")
    func grants() {
        #expect(AdminScope.allCases.allSatisfy { AdminScope.operate.grants($0) })
        #expect(AdminScope.readPII.grants(.read) && AdminScope.readPII.grants(.readPII) && !AdminScope.readPII.grants(.metrics) && !AdminScope.readPII.grants(.operate))
        #expect(AdminScope.read.grants(.read) && !AdminScope.read.grants(.readPII) && !AdminScope.read.grants(.metrics))
        #expect(AdminScope.metrics.grants(.metrics) && !AdminScope.metrics.grants(.read))
        #expect(AdminCaller(name: "x", scopes: [.read, .operate]).scope(for: .read) == .read, "the narrowest scope that grants is the one used")
    }

    @Test("the file is re-read on change: a rotated secret works at once, the removed one is refused, a broken file keeps the set, and each reload is reported")
    func reload() throws {
        let folder = TokenFileTests.Folder()
        let metrics = TestMetrics()
        let reloads = Mutex<[[String]]>([])
        try folder.write("ops:operate=\(Self.opsSecret)\n")
        let reloader = try AdminTokenFileReloader(path: folder.file.path, logger: Logger(label: "test"), metrics: metrics) { set in
            reloads.withLock { $0.append(set.names) }
        }
        #expect(Self.caller(reloader.adminTokens, Self.opsSecret)?.name == "ops")
        try folder.write("ops:operate=\(Self.opsSecret)\nops:operate=\(Self.supportSecret)\n")
        #expect(reloader.reload() == .success)
        #expect(Self.caller(reloader.adminTokens, Self.supportSecret)?.name == "ops", "several per name, for rotation")
        try folder.write("ops:operate=\(Self.supportSecret)\n")
        #expect(reloader.reload() == .success)
        #expect(Self.caller(reloader.adminTokens, Self.opsSecret) == nil)
        try folder.write("ops:operate=\(Self.supportSecret)\n\(Self.opsSecret)\n")
        #expect(reloader.reload() == .invalid)
        #expect(Self.caller(reloader.adminTokens, Self.supportSecret)?.name == "ops", "a broken file keeps the previous set")
        #expect(reloads.withLock { $0 } == [["ops"], ["ops"]])
        #expect(try metrics.expectCounter("okra_bridge_admin_tokens_reload_total", [("result", "invalid")]).totalValue == 1)
    }
}
