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
    /// Open connections from one remote address at most (trusted proxies exempt); one more is
    /// answered 503 and closed, so no single sender can take every place.
    public var maxConnectionsPerAddress: Int
    /// How long a connection closed after a refusal (401, 403, 408, 413, 400, 503 over
    /// capacity) stays half open, its answer sent and what still arrives discarded unread, so the
    /// client reads the answer rather than a reset. It ends sooner when the client closes.
    public var lingerAfterRefusal: Duration

    /// The defaults of §3: 10 s, 30 s, 60 s, 2048 connections, 64 from one address; 2 s of linger.
    public init(headerTimeout: Duration = .seconds(10), bodyTimeout: Duration = .seconds(30), idleTimeout: Duration = .seconds(60),
                maxConnections: Int = 2048, maxConnectionsPerAddress: Int = 64, lingerAfterRefusal: Duration = .seconds(2)) {
        self.headerTimeout = headerTimeout
        self.bodyTimeout = bodyTimeout
        self.idleTimeout = idleTimeout
        self.maxConnections = maxConnections
        self.maxConnectionsPerAddress = maxConnectionsPerAddress
        self.lingerAfterRefusal = lingerAfterRefusal
    }
}

/// Who may hold a connection of a listener, decided when it is accepted, before it takes a place.
public struct AcceptPolicy: Sendable {
    /// Whether a remote address may connect at all (nil: anyone). The ingest listener's
    /// allowlist, with its trusted proxies.
    public var admits: (@Sendable (String?) -> Bool)?
    /// Addresses the per-address cap does not apply to (trusted proxies).
    public var uncapped: @Sendable (String?) -> Bool

    /// A policy; the default admits anyone and caps everyone.
    public init(admits: (@Sendable (String?) -> Bool)? = nil, uncapped: @escaping @Sendable (String?) -> Bool = { _ in false }) {
        self.admits = admits
        self.uncapped = uncapped
    }

    /// Anyone may connect, and everyone is capped (the admin listener: kubelet and Prometheus reach it).
    public static let anyone = AcceptPolicy()

    /// The ingest listener's: `senderCheck`'s allowlist and trusted proxies may connect (every
    /// request is still checked, `X-Forwarded-For` included), and trusted proxies are not capped.
    public static func ingest(_ senderCheck: SenderCheck) -> AcceptPolicy {
        AcceptPolicy(admits: { senderCheck.admitsConnection(from: $0) }, uncapped: { senderCheck.isTrustedProxy($0) })
    }
}

/// One listener's count of open connections, in all and per remote address, and where its own
/// refusals are counted; shared by every connection of that listener.
public final class ConnectionGate: Sendable {
    /// The limits each connection is held to.
    public let limits: ConnectionLimits
    private let policy: AcceptPolicy
    private let open = Atomic<Int>(0)
    private let perAddress = Mutex<[String: Int]>([:])
    private let gauge: Gauge
    private let count: @Sendable (ListenerRefusal) -> Void

    /// Whether a new connection is held, and if not, why.
    enum Admission: Equatable {
        /// It holds a place (give it back with ``leave(address:)``).
        case admitted
        /// The listener has `maxConnections` open: answer 503 and close.
        case overCapacity
        /// Its address has `maxConnectionsPerAddress` open: answer 503 and close.
        case overAddressCapacity
        /// Its address may not connect: close without an answer.
        case refused
    }

    /// A gate for the listener `listener` (the label of `okra_bridge_open_connections`);
    /// refusals are handed to `count`.
    public init(limits: ConnectionLimits, listener: String, policy: AcceptPolicy = .anyone, count: @escaping @Sendable (ListenerRefusal) -> Void,
                metrics: MetricsFactory = MetricsSystem.factory) {
        self.limits = limits
        self.policy = policy
        self.count = count
        self.gauge = Gauge(label: "okra_bridge_open_connections", dimensions: [("listener", listener)], factory: metrics)
    }

    /// Connections open now.
    public var openConnections: Int { open.load(ordering: .relaxed) }

    /// Decides on a new connection from `address`: the allowlist first (a refused address never
    /// takes a place), then the per-address cap, then the listener's.
    func enter(address: String?) -> Admission {
        if let admits = policy.admits, !admits(address) { return .refused }
        let capped = address.map { !policy.uncapped($0) } ?? false
        if capped, let address {
            let admitted = perAddress.withLock { counts in
                let now = counts[address, default: 0]
                guard now < limits.maxConnectionsPerAddress else { return false }
                counts[address] = now + 1
                return true
            }
            guard admitted else { return .overAddressCapacity }
        }
        let now = open.wrappingAdd(1, ordering: .relaxed).newValue
        if now > limits.maxConnections {
            open.wrappingSubtract(1, ordering: .relaxed)
            if capped, let address { release(address) }
            return .overCapacity
        }
        gauge.record(now)
        return .admitted
    }

    /// Gives back a place taken by ``enter(address:)``.
    func leave(address: String?) {
        if let address, !policy.uncapped(address) { release(address) }
        gauge.record(open.wrappingSubtract(1, ordering: .relaxed).newValue)
    }

    private func release(_ address: String) {
        perAddress.withLock { counts in
            let now = counts[address, default: 1] - 1
            counts[address] = now > 0 ? now : nil
        }
    }

    func counted(_ refusal: ListenerRefusal) {
        count(refusal)
    }
}
