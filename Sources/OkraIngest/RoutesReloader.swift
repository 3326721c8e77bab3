import CoreMetrics
import Foundation
import Logging
import OkraRouting
import ServiceLifecycle
import Synchronization
import UnixSignals

/// Where the pipeline takes the active route table from.
public protocol RouteSource: Sendable {
    /// The table to route the next event with.
    var table: RouteTable { get }
}

/// A route table that never changes (for `route`, replays and tests).
public struct FixedRoutes: RouteSource {
    /// The table.
    public let table: RouteTable

    /// Always routes with `table`.
    public init(_ table: RouteTable) { self.table = table }
}

/// Keeps the running bridge's route table in step with `routes.json`, all or nothing.
///
/// It reads the file once a second and when the process gets SIGHUP. A change of content
/// (an edit in place, an editor's or a Kubernetes ConfigMap's atomic rename) is loaded and
/// validated; a valid file replaces the table at once, an invalid, half-written or deleted one
/// keeps the old table, logs every problem once per distinct content, and counts
/// `okra_bridge_routes_reload_total{result="invalid"}`.
public final class RoutesReloader: Service, RouteSource, Sendable {
    /// How a reload attempt ended.
    public enum Outcome: String, Sendable {
        /// The new table is active.
        case success
        /// The file could not be used; the previous table stays active.
        case invalid
        /// The content did not change since the last attempt.
        case unchanged
    }

    private struct State {
        var table: RouteTable
        /// SHA-256 of the last content tried (valid or not), to act once per change.
        var lastSeen: String
    }

    /// The file watched.
    public let path: String
    private let interval: Duration
    private let logger: Logger
    private let state: Mutex<State>
    private let hangupsTrapped = Atomic<Bool>(false)
    private let successes: Counter
    private let failures: Counter

    /// Loads the file once; throws when it is invalid, so startup fails with its problems.
    public init(path: String, interval: Duration = .seconds(1), logger: Logger, metrics: MetricsFactory = MetricsSystem.factory) throws(RoutesFileError) {
        let table = try RouteTable.load(path: path)
        self.path = path
        self.interval = interval
        self.logger = logger
        self.state = Mutex(State(table: table, lastSeen: table.sha256))
        self.successes = Counter(label: "okra_bridge_routes_reload_total", dimensions: [("result", "success")], factory: metrics)
        self.failures = Counter(label: "okra_bridge_routes_reload_total", dimensions: [("result", "invalid")], factory: metrics)
    }

    /// The active table.
    public var table: RouteTable { state.withLock { $0.table } }

    /// SHA-256 of the active table's file content (for `/readyz`).
    public var activeSHA256: String { state.withLock { $0.table.sha256 } }

    /// Reads the file and swaps the table if its content changed and is valid.
    /// - Parameter force: try again even if this content was already tried (SIGHUP).
    @discardableResult
    public func reload(force: Bool = false) -> Outcome {
        guard let data = FileManager.default.contents(atPath: path) else {
            return reject(contentID: "missing", problems: ["\(path): cannot read the file (missing or not readable)"], force: force)
        }
        let bytes = Array(data)
        let table: RouteTable
        do {
            table = try RouteTable.load(bytes)
        } catch {
            return reject(contentID: "invalid-" + String(bytes.count) + "-" + String(bytes.hashValue), problems: error.problems.map(\.description), force: force)
        }
        let previous = state.withLock { state -> String? in
            guard force || table.sha256 != state.lastSeen else { return nil }
            let old = state.table.sha256
            state.table = table
            state.lastSeen = table.sha256
            return old
        }
        guard let previous else { return .unchanged }
        successes.increment()
        logger.info("routes reloaded", metadata: [
            "routes.path": "\(path)", "routes.sha256": "\(table.sha256)", "routes.previous_sha256": "\(previous)", "routes.count": "\(table.routes.count)",
        ])
        for line in table.shadowedRoutes { logger.warning("\(line)", metadata: ["routes.path": "\(path)"]) }
        return .success
    }

    private func reject(contentID: String, problems: [String], force: Bool) -> Outcome {
        let isNew = state.withLock { state -> Bool in
            guard force || state.lastSeen != contentID else { return false }
            state.lastSeen = contentID
            return true
        }
        guard isNew else { return .unchanged }
        failures.increment()
        let active = activeSHA256
        logger.error("routes file rejected; the previous routes stay active", metadata: [
            "routes.path": "\(path)", "routes.active_sha256": "\(active)", "routes.problems": "\(problems.count)",
        ])
        for problem in problems {
            logger.error("routes problem: \(problem)", metadata: ["routes.path": "\(path)"])
        }
        return .invalid
    }

    /// Whether SIGHUP is trapped yet: ``run()`` installs the trap as it starts, and until then
    /// the signal's default action (ending the process) applies.
    public var isTrappingHangups: Bool { hangupsTrapped.load(ordering: .acquiring) }

    /// Watches the file and SIGHUP until graceful shutdown.
    public func run() async throws {
        try await cancelWhenGracefulShutdown {
            await withTaskGroup(of: Void.self) { group in
                group.addTask {
                    let hangups = await UnixSignalsSequence(trapping: .sighup)
                    self.hangupsTrapped.store(true, ordering: .releasing)
                    for await _ in hangups {
                        self.logger.info("SIGHUP: reloading routes", metadata: ["routes.path": "\(self.path)"])
                        self.reload(force: true)
                    }
                }
                group.addTask {
                    while !Task.isCancelled {
                        try? await Task.sleep(for: self.interval)
                        if Task.isCancelled { break }
                        self.reload()
                    }
                }
                await group.waitForAll()
            }
        }
    }
}
