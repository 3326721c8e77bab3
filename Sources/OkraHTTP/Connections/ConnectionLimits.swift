import CoreMetrics
import OkraIngest
import Synchronization

/// The connection limits of one listener (the contract's §3).
public struct ConnectionLimits: Sendable, Equatable {
    /// From a connection's first byte (or its accept) to the end of a request's headers.
    public var headerTimeout: Duration
    /// From the end of a request's headers to the end of its body.
    public var bodyTimeout: Duration
    /// How long a keep-alive connection may wait for its next request.
    public var idleTimeout: Duration
    /// Open connections at most; one more is answered 503 and closed.
    public var maxConnections: Int
    /// How long a connection closed after a refusal (401, 403, 408, 413, 400, 503 over
    /// capacity) stays half open, its answer sent and what still arrives discarded unread, so the
    /// client reads the answer rather than a reset. It ends sooner when the client closes.
    public var lingerAfterRefusal: Duration

    /// The defaults of §3: 10 s, 30 s, 60 s, 2048 connections; 2 s of linger.
    public init(headerTimeout: Duration = .seconds(10), bodyTimeout: Duration = .seconds(30), idleTimeout: Duration = .seconds(60),
                maxConnections: Int = 2048, lingerAfterRefusal: Duration = .seconds(2)) {
        self.headerTimeout = headerTimeout
        self.bodyTimeout = bodyTimeout
        self.idleTimeout = idleTimeout
        self.maxConnections = maxConnections
        self.lingerAfterRefusal = lingerAfterRefusal
    }
}

/// One listener's count of open connections and where its own refusals are counted; shared by
/// every connection of that listener.
public final class ConnectionGate: Sendable {
    /// The limits each connection is held to.
    public let limits: ConnectionLimits
    private let open = Atomic<Int>(0)
    private let gauge: Gauge
    private let count: @Sendable (ListenerRefusal) -> Void

    /// A gate for the listener `listener` (the label of `okra_bridge_open_connections`);
    /// refusals are handed to `count`.
    public init(limits: ConnectionLimits, listener: String, count: @escaping @Sendable (ListenerRefusal) -> Void,
                metrics: MetricsFactory = MetricsSystem.factory) {
        self.limits = limits
        self.count = count
        self.gauge = Gauge(label: "okra_bridge_open_connections", dimensions: [("listener", listener)], factory: metrics)
    }

    /// Connections open now.
    public var openConnections: Int { open.load(ordering: .relaxed) }

    /// Takes a place for a new connection; false when the listener is full (the place is not taken).
    func enter() -> Bool {
        let now = open.wrappingAdd(1, ordering: .relaxed).newValue
        if now > limits.maxConnections {
            open.wrappingSubtract(1, ordering: .relaxed)
            return false
        }
        gauge.record(now)
        return true
    }

    /// Gives back a place taken by ``enter()``.
    func leave() {
        gauge.record(open.wrappingSubtract(1, ordering: .relaxed).newValue)
    }

    func counted(_ refusal: ListenerRefusal) {
        count(refusal)
    }
}
