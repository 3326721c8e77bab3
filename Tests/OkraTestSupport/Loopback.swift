import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

/// Servers on loopback for tests: each on a port of its own, the ports handed to the test once
/// every server listens, stopped after it.
public enum Loopback {
    /// Makes a service from the callback it must call with its listening channel (Hummingbird's
    /// `onServerRunning`).
    public typealias Maker = (_ onRunning: @escaping @Sendable (any Channel) async -> Void) -> any Service

    /// Runs the services `makers` make, calls `body` with their ports (in order), then shuts
    /// them down.
    public static func serve(_ makers: [Maker], logger: Logger, _ body: (_ ports: [Int]) async throws -> Void) async throws {
        let ports = Mutex<[Int: Int]>([:])
        let services = makers.enumerated().map { index, make in
            make { channel in ports.withLock { $0[index] = channel.localAddress?.port } }
        }
        let group = ServiceGroup(services: services, gracefulShutdownSignals: [], logger: logger)
        let running = Task { try await group.run() }
        defer { running.cancel() }
        var bound: [Int] = []
        for _ in 0..<500 {
            bound = ports.withLock { found in (0..<makers.count).compactMap { found[$0] } }
            if bound.count == makers.count { break }
            try await Task.sleep(for: .milliseconds(10))
        }
        guard bound.count == makers.count else { throw NotListening() }
        try await body(bound)
        await group.triggerGracefulShutdown()
        _ = try? await running.value
    }

    /// A server did not report its port within five seconds.
    public struct NotListening: Error, CustomStringConvertible {
        public var description: String { "a loopback test server did not start listening" }
    }
}
