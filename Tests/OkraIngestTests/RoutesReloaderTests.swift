import Foundation
import Logging
import MetricsTestKit
import OkraIngest
import OkraTestSupport
import Testing

/// The reloader against a real file in a temporary folder.
@Suite("Routes reloader")
struct RoutesReloaderTests {
    static func routes(topic: String) -> String {
        #"{"version":1,"defaults":{"topic":"\#(topic)"},"deadLetter":{"topic":"okra.deadletter"},"routes":[]}"#
    }

    final class Folder {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("okra-routes-\(UUID().uuidString)")
        var file: URL { url.appendingPathComponent("routes.json") }
        init() { try! FileManager.default.createDirectory(at: url, withIntermediateDirectories: true) }
        deinit { try? FileManager.default.removeItem(at: url) }
        func write(_ text: String) throws { try Data(text.utf8).write(to: file) }
        /// Writes a new file beside and renames it over, as editors and ConfigMaps do.
        func replaceAtomically(_ text: String) throws {
            let temporary = url.appendingPathComponent(".routes.json.tmp")
            try Data(text.utf8).write(to: temporary)
            _ = rename(temporary.path, file.path)
        }
    }

    @Test("an invalid file at startup is an error listing its problems")
    func invalidAtStartup() throws {
        let folder = Folder()
        try folder.write(#"{"version":9}"#)
        #expect(throws: (any Error).self) {
            _ = try RoutesReloader(path: folder.file.path, logger: Logger(label: "test"))
        }
    }

    @Test("a valid edit takes effect; an invalid edit, a half-written file and a deleted file keep the old table")
    func reloadOutcomes() throws {
        let folder = Folder()
        let metrics = TestMetrics()
        try folder.write(Self.routes(topic: "first"))
        let reloader = try RoutesReloader(path: folder.file.path, logger: Logger(label: "test"), metrics: metrics)
        let first = reloader.activeSHA256
        #expect(reloader.reload() == .unchanged)

        try folder.write(Self.routes(topic: "second"))
        #expect(reloader.reload() == .success)
        let second = reloader.activeSHA256
        #expect(second != first)

        try folder.write(#"{"version":1,"defaults":{"topic":"bad topic"},"deadLetter":{"topic":"d"}}"#)
        #expect(reloader.reload() == .invalid)
        #expect(reloader.activeSHA256 == second)
        // The same bad content is reported once, not every second.
        #expect(reloader.reload() == .unchanged)

        let full = Self.routes(topic: "third")
        try folder.write(String(full.prefix(full.count / 2)))
        #expect(reloader.reload() == .invalid)
        #expect(reloader.activeSHA256 == second)

        try FileManager.default.removeItem(at: folder.file)
        #expect(reloader.reload() == .invalid)
        #expect(reloader.activeSHA256 == second)

        try folder.write(full)
        #expect(reloader.reload() == .success)
        #expect(reloader.activeSHA256 != second)

        #expect(try metrics.expectCounter("okra_bridge_routes_reload_total", [("result", "invalid")]).totalValue == 3)
        #expect(try metrics.expectCounter("okra_bridge_routes_reload_total", [("result", "success")]).totalValue == 2)
    }

    @Test("the running reloader sees an atomic rename")
    func runningReloader() async throws {
        let folder = Folder()
        try folder.write(Self.routes(topic: "first"))
        let reloader = try RoutesReloader(path: folder.file.path, interval: .milliseconds(50), logger: Logger(label: "test"))
        let initial = reloader.activeSHA256
        let task = Task { try await reloader.run() }
        defer { task.cancel() }

        try folder.replaceAtomically(Self.routes(topic: "renamed"))
        #expect(await Self.eventually { reloader.activeSHA256 != initial })
    }

    @Test("the running reloader sees a ConfigMap update: the kubelet swaps the ..data symlink, never the file")
    func configMapUpdate() async throws {
        let volume = try ProjectedVolume(files: ["routes.json": Self.routes(topic: "first")])
        let reloader = try RoutesReloader(path: volume.path("routes.json"), interval: .milliseconds(50), logger: Logger(label: "test"))
        let first = reloader.activeSHA256
        let task = Task { try await reloader.run() }
        defer { task.cancel() }

        try volume.update(files: ["routes.json": Self.routes(topic: "second")])
        #expect(await Self.eventually { reloader.activeSHA256 != first }, "the first swap was not seen")
        let second = reloader.activeSHA256
        // A second swap: the folder the first one pointed at is gone by now.
        try volume.update(files: ["routes.json": Self.routes(topic: "third")])
        #expect(await Self.eventually { reloader.activeSHA256 != second }, "the second swap was not seen")
    }

    @Test("SIGHUP reloads at once, without waiting for the next look at the file")
    func sighupReloads() async throws {
        let folder = Folder()
        try folder.write(Self.routes(topic: "first"))
        // The file is looked at only once an hour, so only SIGHUP can pick up the edit.
        let reloader = try RoutesReloader(path: folder.file.path, interval: .seconds(3600), logger: Logger(label: "test"))
        let initial = reloader.activeSHA256
        let task = Task { try await reloader.run() }
        defer { task.cancel() }
        // Signal only once the trap is installed: before, SIGHUP would end the test process.
        try #require(await Self.eventually(attempts: 1_000) { reloader.isTrappingHangups }, "the SIGHUP trap was not installed within 20 s")
        try folder.write(Self.routes(topic: "after-hangup"))
        try await Task.sleep(for: .milliseconds(100))
        #expect(reloader.activeSHA256 == initial)
        kill(getpid(), SIGHUP)
        #expect(await Self.eventually { reloader.activeSHA256 != initial })
    }

    /// Whether `condition` holds within `attempts` looks 20 ms apart.
    static func eventually(attempts: Int = 100, _ condition: @Sendable () -> Bool) async -> Bool {
        for _ in 0..<attempts {
            if condition() { return true }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return condition()
    }
}
