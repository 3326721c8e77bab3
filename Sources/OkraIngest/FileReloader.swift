import CoreMetrics
import Foundation
import Logging
import OkraEnvelope
import ServiceLifecycle
import Synchronization
import UnixSignals

/// How a reload attempt ended.
public enum ReloadOutcome: String, Sendable {
    /// The new content is active.
    case success
    /// The file could not be used; the previous content stays active.
    case invalid
    /// The content did not change since the last attempt.
    case unchanged
}

/// Keeps a value in step with a file, all or nothing: the routes file, the token file.
///
/// It reads the file once a second and when the process gets SIGHUP. A change of content (an
/// edit in place, an editor's or a Kubernetes ConfigMap's atomic rename) is parsed; a valid file
/// replaces the value at once, an invalid, half-written or deleted one keeps the old value, logs
/// every problem once per distinct content, and counts `okra_bridge_<name>_reload_total{result}`.
/// Problems name the file and the place, never a secret: the parser writes them.
final class FileReloader<Value: Sendable>: Sendable {
    private struct State {
        var value: Value
        /// SHA-256 of the last content tried (valid or not), to act once per change.
        var lastSeen: String
    }

    let path: String
    private let name: String
    private let interval: Duration
    private let logger: Logger
    private let parse: @Sendable ([UInt8]) -> Result<Value, FileProblems>
    private let describe: @Sendable (Value) -> Logger.Metadata
    private let onReload: @Sendable (Value) -> Void
    private let state: Mutex<State>
    private let hangupsTrapped = Atomic<Bool>(false)
    private let successes: Counter
    private let failures: Counter

    /// A reloader whose active value is `initial`, read from `initialBytes` of the file.
    /// - Parameters:
    ///   - name: what the file holds (`routes`, `tokens`), in log lines and the metric's name.
    ///   - parse: the file's bytes to a value, or one line per problem (naming the file and the
    ///     place, never a secret).
    ///   - describe: log metadata for a loaded value (never a secret).
    ///   - onReload: called with each value a reload made active (not the initial one).
    init(path: String, name: String, initial: Value, initialBytes: [UInt8], interval: Duration, logger: Logger, metrics: MetricsFactory,
         parse: @escaping @Sendable ([UInt8]) -> Result<Value, FileProblems>,
         describe: @escaping @Sendable (Value) -> Logger.Metadata,
         onReload: @escaping @Sendable (Value) -> Void = { _ in }) {
        self.path = path
        self.name = name
        self.interval = interval
        self.logger = logger
        self.parse = parse
        self.describe = describe
        self.onReload = onReload
        self.state = Mutex(State(value: initial, lastSeen: SHA256.hex(initialBytes)))
        self.successes = Counter(label: "okra_bridge_\(name)_reload_total", dimensions: [("result", "success")], factory: metrics)
        self.failures = Counter(label: "okra_bridge_\(name)_reload_total", dimensions: [("result", "invalid")], factory: metrics)
    }

    /// The active value.
    var value: Value { state.withLock { $0.value } }

    /// Whether SIGHUP is trapped yet.
    var isTrappingHangups: Bool { hangupsTrapped.load(ordering: .acquiring) }

    /// Reads the file and swaps the value if its content changed and is valid.
    /// - Parameter force: try again even if this content was already tried (SIGHUP).
    @discardableResult
    func reload(force: Bool = false) -> ReloadOutcome {
        guard let data = FileManager.default.contents(atPath: path) else {
            return reject(contentID: "missing", problems: ["\(path): cannot read the file (missing or not readable)"], force: force)
        }
        let bytes = Array(data)
        let contentID = SHA256.hex(bytes)
        if !force, state.withLock({ $0.lastSeen == contentID }) { return .unchanged }
        switch parse(bytes) {
        case .failure(let problems):
            return reject(contentID: contentID, problems: problems.problems, force: force)
        case .success(let value):
            state.withLock { state in
                state.value = value
                state.lastSeen = contentID
            }
            successes.increment()
            logger.info("\(name) reloaded", metadata: describe(value).merging(["\(name).path": "\(path)"]) { $1 })
            onReload(value)
            return .success
        }
    }

    private func reject(contentID: String, problems: [String], force: Bool) -> ReloadOutcome {
        let isNew = state.withLock { state -> Bool in
            guard force || state.lastSeen != contentID else { return false }
            state.lastSeen = contentID
            return true
        }
        guard isNew else { return .unchanged }
        failures.increment()
        logger.error("\(name) file rejected; the previous \(name) stay active", metadata: ["\(name).path": "\(path)", "\(name).problems": "\(problems.count)"])
        for problem in problems {
            logger.error("\(name) problem: \(problem)", metadata: ["\(name).path": "\(path)"])
        }
        return .invalid
    }

    /// Logs a warning about the active content (never a secret).
    func log(warning line: String) {
        logger.warning("\(line)", metadata: ["\(name).path": "\(path)"])
    }

    /// Watches the file and SIGHUP until graceful shutdown.
    func run() async throws {
        try await cancelWhenGracefulShutdown {
            await withTaskGroup(of: Void.self) { group in
                group.addTask {
                    let hangups = await UnixSignalsSequence(trapping: .sighup)
                    self.hangupsTrapped.store(true, ordering: .releasing)
                    for await _ in hangups {
                        self.logger.info("SIGHUP: reloading \(self.name)", metadata: ["\(self.name).path": "\(self.path)"])
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

/// A file that cannot be used, one line per problem.
struct FileProblems: Error {
    /// Each problem, naming the file and the place.
    let problems: [String]
}
