import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A child process started with posix_spawn and reaped with waitpid (Foundation's Process did
/// not always notice a child's exit here). Output goes to a file.
final class ChildProcess: @unchecked Sendable {
    let pid: pid_t
    let logPath: String

    init(_ executable: String, _ arguments: [String], environment: [String: String] = [:], directory: String? = nil, logPath: String) throws {
        self.logPath = logPath
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 1, logPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        // Nothing else of this process: sockets that SwiftNIO accepts are not close-on-exec, and a
        // child holding one keeps a connection open that the test's own server has closed.
        Self.closeFrom(&actions, 3)
        if let directory, let addChdir = Self.addChdir {
            _ = withUnsafeMutablePointer(to: &actions) { addChdir($0, directory) }
        }
        var env = ProcessInfo.processInfo.environment
        for (key, value) in environment { env[key] = value }
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var child: pid_t = 0
        let status = posix_spawn(&child, executable, &actions, nil, argv, envp)
        guard status == 0 else { throw BrokerUnavailable("cannot start \(executable): error \(status)") }
        pid = child
        TestRun.record(pid: child, program: executable)
    }

    /// glibc's `posix_spawn_file_actions_addclosefrom_np` (2.34 and later), which Swift's Glibc
    /// module does not declare: looked up once by name.
    private static let addCloseFrom: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32)? = {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np") else { return nil }
        return unsafeBitCast(symbol, to: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32).self)
    }()

    /// glibc's `posix_spawn_file_actions_addchdir_np` (2.29 and later), looked up the same way.
    private static let addChdir: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, UnsafePointer<CChar>) -> Int32)? = {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addchdir_np") else { return nil }
        return unsafeBitCast(symbol, to: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, UnsafePointer<CChar>) -> Int32).self)
    }()

    private static func closeFrom(_ actions: inout posix_spawn_file_actions_t, _ first: Int32) {
        guard let addCloseFrom else { return }
        _ = withUnsafeMutablePointer(to: &actions) { addCloseFrom($0, first) }
    }

    /// Sends a signal.
    func signal(_ signal: Int32) { kill(pid, signal) }

    /// Waits for the exit and returns its status (128+signal when killed), or nil after `timeout`.
    func wait(timeout: Duration) async -> Int32? {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            var status: Int32 = 0
            let result = waitpid(pid, &status, WNOHANG)
            if result == pid {
                TestRun.forget(pid: pid)
                if status & 0x7f == 0 { return (status >> 8) & 0xff }
                return 128 + (status & 0x7f)
            }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return nil
    }

    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }
}

/// The folder where `scripts/test.sh` tracks what the tests start (`$OKRA_TEST_RUN_DIR`), so its
/// cleanup stops those processes and no others. Without it (tests run by hand) nothing is recorded.
enum TestRun {
    static var directory: URL? {
        ProcessInfo.processInfo.environment["OKRA_TEST_RUN_DIR"].flatMap { $0.isEmpty ? nil : URL(fileURLWithPath: $0) }
    }

    /// Records a started child: a file named by its pid that holds the program's path.
    static func record(pid: pid_t, program: String) {
        guard let pids = directory?.appendingPathComponent("pids") else { return }
        try? FileManager.default.createDirectory(at: pids, withIntermediateDirectories: true)
        try? Data(program.utf8).write(to: pids.appendingPathComponent("\(pid)"))
    }

    /// Forgets a child that was reaped.
    static func forget(pid: pid_t) {
        guard let pids = directory?.appendingPathComponent("pids") else { return }
        try? FileManager.default.removeItem(at: pids.appendingPathComponent("\(pid)"))
    }

    /// Where a private broker keeps its state: under the run's folder when there is one.
    static func brokerDirectory() -> URL {
        let name = "okra-broker-\(UUID().uuidString)"
        guard let run = directory else { return FileManager.default.temporaryDirectory.appendingPathComponent(name) }
        return run.appendingPathComponent("brokers").appendingPathComponent(name)
    }
}
