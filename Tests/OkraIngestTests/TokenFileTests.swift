import Foundation
import Logging
import MetricsTestKit
import OkraIngest
import OkraTestSupport
import Testing

/// Tokens from a file: parsing, rotation without a restart, all or nothing.
@Suite("Token file")
struct TokenFileTests {
    static let old = "old-production-token-0123456789"
    static let new = "new,production=token-with-comma"
    static let sandbox = "sandbox-token-0123456789abcdef"

    final class Folder {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("okra-tokens-\(UUID().uuidString)")
        var file: URL { url.appendingPathComponent("tokens") }
        init() { try! FileManager.default.createDirectory(at: url, withIntermediateDirectories: true) }
        deinit { try? FileManager.default.removeItem(at: url) }
        func write(_ text: String) throws { try Data(text.utf8).write(to: file) }
    }

    static func environment(_ check: SenderCheck, _ token: String) -> SenderCheck.Environment?? {
        switch check.authenticate(okraAuth: token, authorization: nil) {
        case .success(let environment): return .some(environment)
        case .failure: return nil
        }
    }

    @Test("both tokens work while both are listed; a removed one is refused after the reload; a broken file keeps the set")
    func rotation() throws {
        let folder = Folder()
        let metrics = TestMetrics()
        try folder.write("# Okra's webhook tokens\nproduction=\(Self.old)\n\nproduction=\(Self.new)\nsandbox=\(Self.sandbox)\n")
        let reloader = try TokenFileReloader(path: folder.file.path, logger: Logger(label: "test"), metrics: metrics)
        let check = try SenderCheck(tokenSource: reloader, allowIPs: [], trustedProxies: [], allowUnauthenticated: false)
        #expect(Self.environment(check, Self.old) == .some(.production))
        #expect(Self.environment(check, Self.new) == .some(.production), "a secret with a comma and an = works")
        #expect(Self.environment(check, Self.sandbox) == .some(.sandbox))

        try folder.write("production=\(Self.new)\nsandbox=\(Self.sandbox)\n")
        #expect(reloader.reload() == .success)
        #expect(Self.environment(check, Self.old) == nil, "the removed token is refused")
        #expect(Self.environment(check, Self.new) == .some(.production))

        try folder.write("production=\(Self.new)\nstaging=\(Self.old)\n")
        #expect(reloader.reload() == .invalid)
        #expect(Self.environment(check, Self.new) == .some(.production), "a broken file keeps the previous set")
        #expect(Self.environment(check, Self.sandbox) == .some(.sandbox))
        #expect(try metrics.expectCounter("okra_bridge_tokens_reload_total", [("result", "success")]).totalValue == 1)
        #expect(try metrics.expectCounter("okra_bridge_tokens_reload_total", [("result", "invalid")]).totalValue == 1)
    }

    @Test("a Secret update (the kubelet's ..data symlink swap) rotates the tokens of a running reloader")
    func secretUpdate() async throws {
        let volume = try ProjectedVolume(files: ["tokens": "production=\(Self.old)\n"])
        let reloader = try TokenFileReloader(path: volume.path("tokens"), interval: .milliseconds(50), logger: Logger(label: "test"))
        let check = try SenderCheck(tokenSource: reloader, allowIPs: [], trustedProxies: [], allowUnauthenticated: false)
        let task = Task { try await reloader.run() }
        defer { task.cancel() }
        #expect(Self.environment(check, Self.old) == .some(.production))

        try volume.update(files: ["tokens": "production=\(Self.old)\nproduction=\(Self.new)\n"])
        #expect(await RoutesReloaderTests.eventually { Self.environment(check, Self.new) == .some(.production) }, "the added token was not taken")
        try volume.update(files: ["tokens": "production=\(Self.new)\n"])
        #expect(await RoutesReloaderTests.eventually { Self.environment(check, Self.old) == nil }, "the removed token is still taken")
        #expect(Self.environment(check, Self.new) == .some(.production))
    }

    @Test("a bad file at start names the file and the line, never the secret; an empty one is refused")
    func problems() throws {
        let folder = Folder()
        try folder.write("production=\(Self.old)\nproduction=short-secret\n")
        let error = #expect(throws: SetupError.self) { _ = try TokenFileReloader(path: folder.file.path, logger: Logger(label: "test")) }
        #expect(error?.description.contains("\(folder.file.path):2:") == true, "\(error?.description ?? "")")
        #expect(error?.description.contains("short-secret") == false)
        #expect(error?.description.contains(Self.old) == false)
        try folder.write("# nothing yet\n")
        #expect(throws: SetupError.self) { _ = try TokenFileReloader(path: folder.file.path, logger: Logger(label: "test")) }
    }

    @Test("--token tokens and the file's are used together")
    func fixedAndFile() throws {
        let folder = Folder()
        try folder.write("sandbox=\(Self.sandbox)\n")
        let reloader = try TokenFileReloader(path: folder.file.path, fixed: try TokenSet(pairs: ["production=\(Self.old)"]), logger: Logger(label: "test"))
        let check = try SenderCheck(tokenSource: reloader, allowIPs: [], trustedProxies: [], allowUnauthenticated: false)
        #expect(Self.environment(check, Self.old) == .some(.production))
        #expect(Self.environment(check, Self.sandbox) == .some(.sandbox))
        #expect(check.tokenCount == 2)
    }
}
