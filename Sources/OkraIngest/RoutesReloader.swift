import CoreMetrics
import Foundation
import Logging
import OkraRouting
import ServiceLifecycle

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

/// Keeps the running bridge's route table in step with `routes.json`, all or nothing
/// (``FileReloader``: once a second and on SIGHUP; an invalid, half-written or deleted file keeps
/// the old table, logged once per content and counted in `okra_bridge_routes_reload_total`).
public final class RoutesReloader: Service, RouteSource, Sendable {
    /// How a reload attempt ended.
    public typealias Outcome = ReloadOutcome

    private let file: FileReloader<RouteTable>

    /// The file watched.
    public var path: String { file.path }

    /// Loads the file once; throws when it is invalid, so startup fails with its problems.
    public init(path: String, interval: Duration = .seconds(1), logger: Logger, metrics: MetricsFactory = MetricsSystem.factory) throws(RoutesFileError) {
        guard let data = FileManager.default.contents(atPath: path) else {
            _ = try RouteTable.load(path: path) // the error naming the file
            preconditionFailure("unreachable: the file could not be read")
        }
        let bytes = Array(data)
        let table = try RouteTable.load(bytes)
        file = FileReloader(path: path, name: "routes", initial: table, initialBytes: bytes, interval: interval, logger: logger, metrics: metrics,
                            parse: { bytes in
                                do throws(RoutesFileError) {
                                    return .success(try RouteTable.load(bytes))
                                } catch {
                                    return .failure(FileProblems(problems: error.problems.map(\.description)))
                                }
                            }, describe: { table in
                                ["routes.sha256": "\(table.sha256)", "routes.count": "\(table.routes.count)"]
                            })
        for line in table.shadowedRoutes { logger.warning("\(line)", metadata: ["routes.path": "\(path)"]) }
    }

    /// The active table.
    public var table: RouteTable { file.value }

    /// SHA-256 of the active table's file content (for `/readyz`).
    public var activeSHA256: String { file.value.sha256 }

    /// Reads the file and swaps the table if its content changed and is valid.
    /// - Parameter force: try again even if this content was already tried (SIGHUP).
    @discardableResult
    public func reload(force: Bool = false) -> Outcome {
        let outcome = file.reload(force: force)
        if outcome == .success {
            for line in table.shadowedRoutes { file.log(warning: line) }
        }
        return outcome
    }

    /// Whether SIGHUP is trapped yet: ``run()`` installs the trap as it starts, and until then
    /// the signal is ignored (serve ignores it from start-up on).
    public var isTrappingHangups: Bool { file.isTrappingHangups }

    /// Watches the file and SIGHUP until graceful shutdown.
    public func run() async throws { try await file.run() }
}
