import Foundation
@testable import OkraHTTP
import OkraTestSupport
import Synchronization
import Testing

/// The webhook served on the event loop (``WebhookHandler``) beside Hummingbird on one connection,
/// over plain sockets: pipelined requests, `Connection: close`, and a graceful shutdown with a
/// webhook still in the pipeline.
@Suite("Webhook handler (loopback, in-memory sink)")
struct WebhookHandlerTests {
    static let other = HTTPAnswerTests.payment.replacingOccurrences(of: "rec-1", with: "rec-2")

    /// The status codes of the answers in `text`, in order.
    static func statuses(_ text: String) -> [Int] {
        text.components(separatedBy: "HTTP/1.1 ").dropFirst().compactMap { Int($0.prefix(3)) }
    }

    /// Whether `markers` occur in `text` in this order.
    static func inOrder(_ text: String, _ markers: [String]) -> Bool {
        var rest = text[...]
        for marker in markers {
            guard let found = rest.range(of: marker) else { return false }
            rest = rest[found.upperBound...]
        }
        return true
    }

    @Test("requests pipelined behind a webhook in the pipeline wait for its answer: webhook, probe, webhook, 404, in order")
    func pipelined() async throws {
        try await ConnectionLimitTests.withServer(.init()) { port, sink, _, _ in
            // A slow store: the probe behind the first webhook arrives long before its answer.
            sink.setDelay(.milliseconds(150))
            let connection = try RawConnection(port: port)
            connection.send(ConnectionLimitTests.post(HTTPAnswerTests.payment)
                + "GET /healthz HTTP/1.1\r\nHost: bridge\r\n\r\n"
                + ConnectionLimitTests.post(Self.other)
                + "GET /nowhere HTTP/1.1\r\nHost: bridge\r\nConnection: close\r\n\r\n")
            let (text, closed) = await connection.readUntilClosed(timeout: .seconds(5))
            #expect(closed)
            #expect(Self.statuses(text) == [200, 200, 200, 404], "\(text)")
            #expect(Self.inOrder(text, [#""status":"accepted""#, #""status":"alive""#, #""status":"accepted""#, #""code":"not-found""#]), "\(text)")
            #expect(sink.accepted.map(\.records.count) == [1, 1])
        }
    }

    @Test("a webhook pipelined behind a request Hummingbird is answering is answered after it (by the router's route)")
    func behindTheRouter() async throws {
        try await ConnectionLimitTests.withServer(.init()) { port, sink, _, _ in
            // A slow probe: the webhook behind it, served at once, would be answered first.
            sink.setReadinessDelay(.milliseconds(200))
            let connection = try RawConnection(port: port)
            connection.send("GET /readyz HTTP/1.1\r\nHost: bridge\r\n\r\n"
                + ConnectionLimitTests.post(HTTPAnswerTests.payment).replacingOccurrences(of: "Host: bridge\r\n", with: "Host: bridge\r\nConnection: close\r\n"))
            let (text, closed) = await connection.readUntilClosed(timeout: .seconds(5))
            #expect(closed)
            #expect(Self.statuses(text) == [200, 200], "\(text)")
            #expect(Self.inOrder(text, [#""status":"ready""#, #""status":"accepted""#]), "\(text)")
            #expect(sink.accepted.count == 1)
        }
    }

    @Test("a webhook with Connection: close is answered with Connection: close, and the connection closes")
    func connectionClose() async throws {
        try await ConnectionLimitTests.withServer(.init()) { port, sink, _, _ in
            let connection = try RawConnection(port: port)
            connection.send(ConnectionLimitTests.post(HTTPAnswerTests.payment).replacingOccurrences(of: "Host: bridge\r\n", with: "Host: bridge\r\nConnection: close\r\n"))
            let (text, closed) = await connection.readUntilClosed(timeout: .seconds(5))
            #expect(closed)
            #expect(text.statusCode == 200)
            #expect(text.lowercased().contains("connection: close"))
            #expect(sink.accepted.count == 1)
        }
    }

    static func closing(_ request: String, _ options: String = "close") -> String {
        request.replacingOccurrences(of: "Host: bridge\r\n", with: "Host: bridge\r\nConnection: \(options)\r\n")
    }

    @Test("a webhook pipelined behind a refused one (401) is dropped, not ingested: the refusal is the connection's last answer")
    func nothingAfterARefusal() async throws {
        try await ConnectionLimitTests.withServer(.init()) { port, sink, _, _ in
            // Both arrive in one read: the guard's linger discards bytes, not what was decoded.
            let connection = try RawConnection(port: port)
            connection.send(ConnectionLimitTests.post(HTTPAnswerTests.payment, token: "not-the-token") + ConnectionLimitTests.post(Self.other))
            let (text, closed) = await connection.readUntilClosed(timeout: .seconds(5))
            #expect(closed)
            #expect(Self.statuses(text) == [401], "\(text)")
            try await Task.sleep(for: .milliseconds(300))
            #expect(sink.accepted.isEmpty)
        }
    }

    @Test("Connection lists its options: keep-alive, Close closes too")
    func connectionOptionsList() async throws {
        try await ConnectionLimitTests.withServer(.init()) { port, sink, _, _ in
            let connection = try RawConnection(port: port)
            connection.send(Self.closing(ConnectionLimitTests.post(HTTPAnswerTests.payment), "keep-alive, Close"))
            let (text, closed) = await connection.readUntilClosed(timeout: .seconds(5))
            #expect(closed)
            #expect(text.statusCode == 200)
            #expect(text.lowercased().contains("connection: close"))
            #expect(sink.accepted.count == 1)
        }
    }

    @Test("after its last answer the connection is half closed and lingers: a client still sending is not reset")
    func halfClosedAfterTheLastAnswer() async throws {
        // A linger no loaded machine outlasts; the client's close ends it.
        try await ConnectionLimitTests.withServer(.init(lingerAfterRefusal: .seconds(30))) { port, _, _, _ in
            let connection = try RawConnection(port: port)
            connection.send(Self.closing(ConnectionLimitTests.post(HTTPAnswerTests.payment)))
            let (text, closed) = await connection.readUntilClosed(timeout: .seconds(5))
            #expect(closed)
            #expect(text.statusCode == 200)
            // A socket closed for good answers the first of these with a reset, so the second fails.
            #expect(connection.send("more bytes"))
            try await Task.sleep(for: .milliseconds(200))
            #expect(connection.send("more bytes"))
        }
    }

    @Test("a shutdown during the linger after a refusal does not cut it short: a client still sending is not reset")
    func shutdownDuringTheLinger() async throws {
        let sending = Mutex<Task<[Bool], Never>?>(nil)
        try await ConnectionLimitTests.withServer(.init(lingerAfterRefusal: .seconds(30))) { port, _, _, _ in
            let connection = try RawConnection(port: port)
            connection.send(ConnectionLimitTests.post(HTTPAnswerTests.payment, token: "not-the-token"))
            #expect(await connection.readAnswer(timeout: .seconds(5))?.statusCode == 401)
            // Sends once the shutdown has begun (as the body returns), then closes its side, which ends the linger.
            sending.withLock { $0 = Task {
                try? await Task.sleep(for: .milliseconds(300))
                let first = connection.send("more bytes")
                try? await Task.sleep(for: .milliseconds(200))
                let second = connection.send("more bytes")
                shutdown(connection.fd, Int32(SHUT_WR))
                return [first, second]
            } }
        }
        #expect(await sending.withLock { $0 }?.value == [true, true])
    }

    @Test("without the connection guard (a listener without limits) the last answer still ends the connection")
    func closesWithoutTheGuard() async throws {
        try await HTTPAnswerTests.withServer { port, _, sink in
            let connection = try RawConnection(port: port)
            connection.send(Self.closing(ConnectionLimitTests.post(HTTPAnswerTests.payment)))
            let (text, closed) = await connection.readUntilClosed(timeout: .seconds(5))
            #expect(closed)
            #expect(text.statusCode == 200)
            #expect(sink.accepted.count == 1)
        }
    }

    @Test("the answer carries a Date of now, as Hummingbird's do")
    func dateHeader() async throws {
        #expect(HTTPDateCache.format(784_111_777) == "Sun, 06 Nov 1994 08:49:37 GMT")
        try await ConnectionLimitTests.withServer(.init()) { port, _, _, _ in
            let connection = try RawConnection(port: port)
            connection.send(Self.closing(ConnectionLimitTests.post(HTTPAnswerTests.payment)))
            let (text, _) = await connection.readUntilClosed(timeout: .seconds(5))
            let line = try #require(text.components(separatedBy: "\r\n").first { $0.lowercased().hasPrefix("date: ") })
            let formatter = DateFormatter()
            formatter.locale = Locale(identifier: "en_US_POSIX")
            formatter.timeZone = TimeZone(identifier: "GMT")
            formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
            let date = try #require(formatter.date(from: String(line.dropFirst("date: ".count))))
            #expect(abs(date.timeIntervalSinceNow) < 5)
        }
    }

    @Test("a graceful shutdown waits for the answer of a webhook in the pipeline, then closes its connection; the webhook held behind it is dropped")
    func shutdownWaitsForTheAnswer() async throws {
        let reading = Mutex<Task<(text: String, closed: Bool), Never>?>(nil)
        let stored = Mutex<InMemorySink?>(nil)
        try await ConnectionLimitTests.withServer(.init()) { port, sink, _, _ in
            // The first webhook's store answers only once the shutdown has begun (its quiesce
            // reaching the connection first), however loaded the machine: a fixed delay of 3 s
            // was outrun on a loaded CI run, and both webhooks were answered.
            sink.hold()
            let connection = try RawConnection(port: port)
            // The second is held behind the first, whose answer is the connection's last.
            connection.send(ConnectionLimitTests.post(HTTPAnswerTests.payment) + ConnectionLimitTests.post(Self.other))
            reading.withLock { $0 = Task { await connection.readUntilClosed(timeout: .seconds(30)) } }
            // In the pipeline (its store held) when the shutdown begins, as the body returns.
            let deadline = ContinuousClock.now + .seconds(10)
            while sink.acceptsStarted == 0 && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(5)) }
            // Released once the listener no longer takes connections (the shutdown began, and
            // with it the quiesce of every connection), and a second more.
            Task {
                let until = ContinuousClock.now + .seconds(20)
                while ContinuousClock.now < until, (try? RawConnection(port: port)) != nil { try? await Task.sleep(for: .milliseconds(20)) }
                try? await Task.sleep(for: .seconds(1))
                sink.release()
            }
            stored.withLock { $0 = sink }
        }
        let (text, closed) = try #require(await reading.withLock { $0 }?.value)
        #expect(Self.statuses(text) == [200], "\(text)")
        #expect(text.contains(#""status":"accepted""#))
        #expect(text.lowercased().contains("connection: close"))
        #expect(closed)
        try await Task.sleep(for: .milliseconds(300))
        #expect(stored.withLock { $0 }?.accepted.count == 1)
    }
}
