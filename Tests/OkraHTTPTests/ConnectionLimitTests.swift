import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Hummingbird
import Logging
import OkraHTTP
import OkraIngest
import OkraRouting
import OkraTestSupport
import ServiceLifecycle
import Synchronization
import Testing

/// The connection limits of §3 over real sockets on loopback: slow and hostile clients.
@Suite("Connection limits (loopback, real sockets)", .serialized)
struct ConnectionLimitTests {
    static let token = HTTPAnswerTests.token
    static let payment = HTTPAnswerTests.payment

    /// What the listener counted of its own refusals.
    final class Refusals: Sendable {
        private let seen = Mutex<[ListenerRefusal]>([])
        var all: [ListenerRefusal] { seen.withLock { $0 } }
        func add(_ refusal: ListenerRefusal) { seen.withLock { $0.append(refusal) } }
    }

    /// Runs the ingest listener held to `limits` for the body.
    static func withServer(_ limits: ConnectionLimits, allowIPs: [String] = [], trustedProxies: [String] = [],
                           _ body: @Sendable (_ port: Int, _ sink: InMemorySink, _ gate: ConnectionGate, _ refusals: Refusals) async throws -> Void) async throws {
        let sink = InMemorySink()
        let check = try SenderCheck(tokens: ["production=\(token)"], allowIPs: allowIPs, trustedProxies: trustedProxies, allowUnauthenticated: false)
        let table = try RouteTable.load(Array(HTTPAnswerTests.routes.utf8))
        var logger = Logger(label: "connection-test")
        logger.logLevel = .warning
        let ingest = Ingest(senderCheck: check, routes: FixedRoutes(table), sink: sink, logger: logger)
        let refusals = Refusals()
        let gate = ConnectionGate(limits: limits, listener: "ingest", policy: .ingest(check), count: { ingest.count($0, on: .ingest); refusals.add($0) })
        try await Loopback.serve([{ running in
            let webhook = WebhookRoute(ingest: ingest, maxBody: 1 << 20)
            return Application(router: Routers.ingest(webhook, metrics: nil), server: .http1(gate: gate, webhook: webhook),
                        configuration: .init(address: .hostname("127.0.0.1", port: 0)), onServerRunning: running, logger: logger)
        }], logger: logger) { ports in
            try await body(ports[0], sink, gate, refusals)
        }
    }

    static func post(_ body: String, token: String? = token, contentLength: Int? = nil) -> String {
        var head = "POST /webhooks/okra HTTP/1.1\r\nHost: bridge\r\nContent-Type: application/json\r\n"
        if let token { head += "Okra-Auth: \(token)\r\n" }
        head += "Content-Length: \(contentLength ?? body.utf8.count)\r\n\r\n"
        return head + body
    }

    @Test("200 connections trickling headers a byte a second do not stop a normal POST; each gets 408 within the header deadline and is closed")
    func slowHeaders() async throws {
        try await Self.withServer(.init(headerTimeout: .seconds(2), maxConnections: 512, maxConnectionsPerAddress: 512)) { port, sink, _, refusals in
            let slow = try (0..<200).map { _ in try RawConnection(port: port) }
            let started = ContinuousClock.now
            let request = Array("POST /webhooks/okra HTTP/1.1\r\nHost: bridge\r\n".utf8)
            // A byte a second on every connection, in the background.
            let trickle = Task {
                for index in request.indices where !Task.isCancelled {
                    for connection in slow { connection.send(String(decoding: [request[index]], as: UTF8.self)) }
                    try? await Task.sleep(for: .seconds(1))
                }
            }
            defer { trickle.cancel() }
            try await Task.sleep(for: .milliseconds(500))
            let answer = try await HTTPAnswerTests.request(port, "POST", "/webhooks/okra", body: Self.payment, headers: ["Okra-Auth": Self.token])
            #expect(answer.status == 200)
            #expect(sink.accepted.count == 1)
            var closedInTime = 0
            var timedOut = 0
            // The trickled request line alone takes 45 s: a close within 10 s is the 2 s header
            // deadline's doing. (A 4 s bound missed one connection of 200 on a loaded CI machine.)
            for connection in slow {
                let left = started + .seconds(10) - ContinuousClock.now
                let (text, closed) = await connection.readUntilClosed(timeout: max(left, .milliseconds(1)))
                if closed { closedInTime += 1 }
                if text.statusCode == 408 && text.contains(#""code":"request-timeout""#) { timedOut += 1 }
            }
            #expect(closedInTime == 200)
            #expect(timedOut == 200)
            #expect(refusals.all.filter { $0 == .timeout }.count == 200)
        }
    }

    @Test("a body that stops short of its Content-Length gets 408 within the body deadline and reaches nothing")
    func slowBody() async throws {
        try await Self.withServer(.init(bodyTimeout: .seconds(1))) { port, sink, _, refusals in
            let connection = try RawConnection(port: port)
            connection.send(Self.post("{\"type\":", contentLength: 200))
            let (text, closed) = await connection.readUntilClosed(timeout: .seconds(3))
            #expect(text.statusCode == 408)
            #expect(text.lowercased().contains("connection: close"))
            #expect(closed)
            #expect(refusals.all == [.timeout])
            // The cut body is neither an event nor a dead letter.
            try await Task.sleep(for: .milliseconds(200))
            #expect(sink.accepted.isEmpty)
        }
    }

    @Test("a body the client cuts short by closing reaches nothing, not even the dead-letter topic")
    func bodyCutByClient() async throws {
        try await Self.withServer(.init()) { port, sink, _, _ in
            let connection = try RawConnection(port: port)
            connection.send(Self.post(#"{"type":"CALLBACK","method":"PAY"#, contentLength: 200))
            try await Task.sleep(for: .milliseconds(200))
            _ = consume connection
            try await Task.sleep(for: .milliseconds(300))
            #expect(sink.accepted.isEmpty)
            // The listener still serves.
            let answer = try await HTTPAnswerTests.request(port, "POST", "/webhooks/okra", body: Self.payment, headers: ["Okra-Auth": Self.token])
            #expect(answer.status == 200)
        }
    }

    @Test("a connection over --max-connections is answered 503 with Retry-After and closed; a place given back is taken again")
    func overCapacity() async throws {
        try await Self.withServer(.init(maxConnections: 3)) { port, _, gate, refusals in
            var held = try (0..<3).map { _ in try RawConnection(port: port) }
            for _ in 0..<100 where gate.openConnections < 3 { try await Task.sleep(for: .milliseconds(10)) }
            let extra = try RawConnection(port: port)
            let (text, closed) = await extra.readUntilClosed(timeout: .seconds(2))
            #expect(text.statusCode == 503)
            #expect(text.contains("Retry-After: 1"))
            #expect(text.contains(#""code":"too-many-connections""#))
            #expect(closed)
            #expect(refusals.all == [.overCapacity])
            #expect(gate.openConnections == 3)
            held.removeLast()
            for _ in 0..<100 where gate.openConnections > 2 { try await Task.sleep(for: .milliseconds(10)) }
            let again = try RawConnection(port: port)
            again.send("GET /healthz HTTP/1.1\r\nHost: bridge\r\n\r\n")
            #expect(await again.readAnswer(timeout: .seconds(2))?.statusCode == 200)
        }
    }

    /// Raises this process's open-file limit to at least `count` (the hard limit allowing).
    static func raiseFileLimit(to count: Int) throws {
        var limit = rlimit()
        getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        guard limit.rlim_cur < rlim_t(count) else { return }
        limit.rlim_cur = min(max(rlim_t(count), limit.rlim_cur), limit.rlim_max)
        setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        try #require(limit.rlim_cur >= rlim_t(count), "the open-file limit is \(limit.rlim_cur); this test needs \(count)")
    }

    /// `count` connections from `source` that send nothing; opened a batch at a time.
    static func idleConnections(_ count: Int, from source: String, port: Int) throws -> [RawConnection] {
        try (0..<count).map { _ in try RawConnection(port: port, from: source) }
    }

    @Test("2,048 idle keep-alive connections from one stranger take at most --max-connections-per-address places: Okra's POST from another address gets 200")
    func perAddressCap() async throws {
        try Self.raiseFileLimit(to: 8192)
        // Deadlines long enough that the held connections are still idle, not timed out, when counted.
        try await Self.withServer(.init(headerTimeout: .seconds(120), idleTimeout: .seconds(120), maxConnections: 100, maxConnectionsPerAddress: 64)) { port, sink, gate, refusals in
            let strangers = try Self.idleConnections(2048, from: "127.0.0.2", port: port)
            for _ in 0..<1000 where refusals.all.count < 2048 - 64 { try await Task.sleep(for: .milliseconds(10)) }
            #expect(gate.openConnections == 64, "the stranger holds no more than its 64 places")
            #expect(refusals.all.filter { $0 == .overAddressCapacity }.count == 2048 - 64, "\(Set(refusals.all))")
            // The ones over the cap were answered 503 with Retry-After and closed.
            let (text, closed) = await strangers.last!.readUntilClosed(timeout: .seconds(3))
            #expect(text.statusCode == 503 && text.contains("Retry-After: 1") && closed)
            let okra = try RawConnection(port: port, from: "127.0.0.1")
            okra.send(Self.post(Self.payment))
            #expect(await okra.readAnswer(timeout: .seconds(5))?.statusCode == 200)
            #expect(sink.accepted.count == 1)
            _ = strangers
        }
    }

    @Test("a trusted proxy's connections are not capped per address; its requests are still checked against X-Forwarded-For")
    func trustedProxyUncapped() async throws {
        try Self.raiseFileLimit(to: 8192)
        try await Self.withServer(.init(headerTimeout: .seconds(120), idleTimeout: .seconds(120), maxConnections: 300, maxConnectionsPerAddress: 64), allowIPs: ["127.0.0.1"],
                                  trustedProxies: ["127.0.0.3"]) { port, sink, gate, refusals in
            let ingress = try Self.idleConnections(200, from: "127.0.0.3", port: port)
            for _ in 0..<1000 where gate.openConnections < 200 { try await Task.sleep(for: .milliseconds(10)) }
            #expect(gate.openConnections == 200)
            #expect(refusals.all.isEmpty)
            // Through the proxy: the forwarded sender decides, request by request.
            let allowed = try RawConnection(port: port, from: "127.0.0.3")
            allowed.send(Self.post(Self.payment).replacingOccurrences(of: "Host: bridge\r\n", with: "Host: bridge\r\nX-Forwarded-For: 127.0.0.1\r\n"))
            #expect(await allowed.readAnswer(timeout: .seconds(5))?.statusCode == 200)
            let forged = try RawConnection(port: port, from: "127.0.0.3")
            forged.send(Self.post(Self.payment).replacingOccurrences(of: "Host: bridge\r\n", with: "Host: bridge\r\nX-Forwarded-For: 203.0.113.7\r\n"))
            #expect(await forged.readAnswer(timeout: .seconds(5))?.statusCode == 403)
            #expect(sink.accepted.count == 1)
            _ = ingress
        }
    }

    @Test("with --allow-ip, a connection from another address is closed when accepted, unanswered, before it takes a place")
    func allowlistAtAccept() async throws {
        try await Self.withServer(.init(maxConnections: 10), allowIPs: ["127.0.0.1"]) { port, sink, gate, refusals in
            let strangers = try Self.idleConnections(50, from: "127.0.0.2", port: port)
            for _ in 0..<1000 where refusals.all.count < 50 { try await Task.sleep(for: .milliseconds(10)) }
            #expect(refusals.all.count == 50 && refusals.all.allSatisfy { $0 == .addressRefused })
            #expect(gate.openConnections == 0)
            let (text, closed) = await strangers[0].readUntilClosed(timeout: .seconds(2))
            #expect(text.isEmpty && closed, "closed without an answer")
            let okra = try RawConnection(port: port, from: "127.0.0.1")
            okra.send(Self.post(Self.payment))
            #expect(await okra.readAnswer(timeout: .seconds(5))?.statusCode == 200)
            #expect(sink.accepted.count == 1)
        }
    }

    @Test("a 401 with Content-Length 10000000000 is answered and closed at once; the body is not read")
    func refusedBodyNotRead() async throws {
        try await Self.withServer(.init()) { port, sink, _, _ in
            let connection = try RawConnection(port: port)
            connection.send(Self.post(String(repeating: "x", count: 4096), token: nil, contentLength: 10_000_000_000))
            let started = ContinuousClock.now
            let (text, closed) = await connection.readUntilClosed(timeout: .seconds(1))
            #expect(text.statusCode == 401)
            #expect(text.lowercased().contains("connection: close"))
            #expect(closed)
            #expect(ContinuousClock.now - started < .seconds(1))
            // Nothing of it reached the pipeline.
            try await Task.sleep(for: .milliseconds(100))
            #expect(sink.accepted.isEmpty)
        }
    }

    @Test("a declared body over --max-body is 413 and the connection closes without reading it")
    func tooLargeCloses() async throws {
        try await Self.withServer(.init()) { port, _, _, _ in
            let connection = try RawConnection(port: port)
            connection.send(Self.post("{", contentLength: 5 << 20))
            let (text, closed) = await connection.readUntilClosed(timeout: .seconds(1))
            #expect(text.statusCode == 413)
            #expect(closed)
        }
    }

    @Test("bytes that are not HTTP get the contract's JSON 400 and the connection closes")
    func notHTTP() async throws {
        try await Self.withServer(.init()) { port, _, _, refusals in
            let connection = try RawConnection(port: port)
            connection.send("HELLO THERE\r\n\r\n")
            let (text, closed) = await connection.readUntilClosed(timeout: .seconds(2))
            #expect(text.statusCode == 400)
            #expect(text.contains(#""code":"bad-request""#))
            #expect(closed)
            #expect(refusals.all == [.badRequest])
        }
    }

    @Test("a keep-alive connection serves one request after another and closes after the idle timeout, not before")
    func idleTimeout() async throws {
        try await Self.withServer(.init(headerTimeout: .milliseconds(500), idleTimeout: .seconds(2))) { port, sink, gate, refusals in
            let connection = try RawConnection(port: port)
            for record in ["idle-1", "idle-2"] {
                connection.send(Self.post(Self.payment.replacingOccurrences(of: "rec-1", with: record)))
                #expect(await connection.readAnswer(timeout: .seconds(2))?.statusCode == 200)
                // Idle for longer than the header deadline: the idle timeout applies between requests.
                try await Task.sleep(for: .seconds(1))
            }
            #expect(sink.accepted.count == 2)
            // 1 s idle after each answer, longer than the header deadline: still open.
            #expect(!connection.peerClosed)
            // Closed by the 2 s idle timeout; nothing else would close it within the minute (the
            // header deadline would have closed it already, above). The bound is loose because
            // this task may run late while the other suites keep the test process's threads busy
            // (23 s was seen under the whole suite): what it tells apart is "closed" from "never".
            let (text, closed) = await connection.readUntilClosed(timeout: .seconds(50))
            #expect(closed, "open connections: \(gate.openConnections)")
            #expect(text.isEmpty)
            #expect(refusals.all.isEmpty)
        }
    }
}
