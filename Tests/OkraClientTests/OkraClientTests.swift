import AsyncHTTPClient
import Foundation
import Hummingbird
import Logging
import OkraClient
import OkraTestSupport
import ServiceLifecycle
import Synchronization
import Testing

/// The Okra client against a real HTTP server on loopback that stands in for Okra's API: it
/// records what it received and answers as Okra's docs show, with scripted failures.
@Suite("Okra client (loopback stand-in for Okra's API)")
struct OkraClientTests {
    static let secret = "sk-test-secret-0123456789abcdef"

    /// One request as the stand-in received it.
    struct Received: Sendable {
        let method: String
        let path: String
        let query: String
        let authorization: String?
        let contentType: String?
        let body: [UInt8]
        let at: ContinuousClock.Instant
    }

    /// Scripted answers: statuses (with Retry-After) to give before answering as the docs do.
    final class StandIn: Sendable {
        let received = Mutex<[Received]>([])
        let script = Mutex<[(status: Int, retryAfter: String?)]>([])

        func next() -> (status: Int, retryAfter: String?)? {
            script.withLock { $0.isEmpty ? nil : $0.removeFirst() }
        }

        func router() -> Router<BasicRequestContext> {
            let router = Router()
            router.post("/v2/callback/trigger") { request, context -> Response in
                try await self.answer(request, context, ok: #"{"status":"success","message":"webhook trigger successfully initiated","data":{}}"#)
            }
            router.get("/v2/callback") { request, context -> Response in
                let record = request.uri.queryParameters["record"].map(String.init) ?? ""
                return try await self.answer(request, context, ok: #"{"status":"success","data":{"record":"\#(record)","balance":{"available":1000}}}"#)
            }
            return router
        }

        func answer(_ request: Request, _ context: BasicRequestContext, ok: String) async throws -> Response {
            var request = request
            let body = Array(buffer: try await request.collectBody(upTo: 1 << 20))
            received.withLock {
                $0.append(Received(method: request.method.rawValue, path: request.uri.path, query: request.uri.query ?? "",
                                   authorization: request.headers[.authorization], contentType: request.headers[.contentType], body: body, at: .now))
            }
            if let scripted = next() {
                var headers: HTTPFields = [.contentType: "application/json"]
                if let retryAfter = scripted.retryAfter { headers[.retryAfter] = retryAfter }
                let message = scripted.status == 401 ? #"{"status":"error","message":"Invalid token"}"# : #"{"status":"error","message":"scripted"}"#
                return Response(status: .init(code: scripted.status), headers: headers, body: .init(byteBuffer: ByteBuffer(string: message)))
            }
            return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: ok)))
        }
    }

    static func withStandIn(_ body: @Sendable (_ base: String, _ standIn: StandIn) async throws -> Void) async throws {
        let standIn = StandIn()
        var logger = Logger(label: "okra-stand-in")
        logger.logLevel = .critical
        try await Loopback.serve([{ running in
            Application(router: standIn.router(), configuration: .init(address: .hostname("127.0.0.1", port: 0)), onServerRunning: running, logger: logger)
        }], logger: logger) { ports in
            try await body("http://127.0.0.1:\(ports[0])/v2/", standIn)
        }
    }

    static func client(_ base: String, retries: Int = 5) -> OkraClient {
        OkraClient(endpoint: .init(baseURL: base, environment: "sandbox"), secret: secret,
                   retry: .init(maxRetries: retries, firstDelay: .milliseconds(50), maxDelay: .seconds(2)))
    }

    @Test("250 record ids become three requests of at most 100, POST callback/trigger with the Bearer key and Okra's body")
    func batching() async throws {
        try await Self.withStandIn { base, standIn in
            let records = (0..<250).map { String(format: "60b7be20ca7ce542d906%04d", $0) }
            let client = Self.client(base)
            var answers: [OkraClient.TriggerAnswer] = []
            for batch in OkraClient.batches(records) {
                answers.append(try await client.trigger(records: batch, url: "https://bridge.example/webhooks/okra"))
            }
            let received = standIn.received.withLock { $0 }
            #expect(received.count == 3)
            #expect(received.allSatisfy { $0.method == "POST" && $0.path == "/v2/callback/trigger" })
            #expect(received.allSatisfy { $0.authorization == "Bearer \(Self.secret)" && $0.contentType == "application/json" })
            var sent: [String] = []
            for request in received {
                let object = try #require(try JSONSerialization.jsonObject(with: Data(request.body)) as? [String: Any])
                let ids = try #require(object["records"] as? [String])
                #expect(ids.count <= 100)
                #expect(object["url"] as? String == "https://bridge.example/webhooks/okra")
                sent += ids
            }
            #expect(sent == records)
            #expect(answers.map(\.records.count) == [100, 100, 50])
            #expect(answers.allSatisfy { $0.status == 200 && $0.message == "webhook trigger successfully initiated" })
        }
    }

    @Test("a 429 with Retry-After: 1 is retried after a second; a 500 is retried with backoff")
    func retries() async throws {
        try await Self.withStandIn { base, standIn in
            standIn.script.withLock { $0 = [(429, "1"), (500, nil)] }
            let answer = try await Self.client(base).trigger(records: ["rec-1"])
            #expect(answer.status == 200 && answer.attempts == 3)
            let times = standIn.received.withLock { $0.map(\.at) }
            #expect(times.count == 3)
            #expect(times[1] - times[0] >= .milliseconds(950), "Retry-After honoured")
        }
    }

    @Test("401 fails at once with one line naming the environment; the secret is in no error")
    func unauthorized() async throws {
        try await Self.withStandIn { base, standIn in
            standIn.script.withLock { $0 = [(401, nil)] }
            do {
                _ = try await Self.client(base).trigger(records: ["rec-1"])
                Issue.record("a 401 is an error")
            } catch let error as OkraClient.Failure {
                #expect(error == .unauthorized(environment: "sandbox", status: 401))
                #expect(error.description == "Okra answered 401: the secret key is not valid for the sandbox environment")
                #expect(!error.description.contains(Self.secret))
            }
            #expect(standIn.received.withLock { $0.count } == 1, "not retried")
        }
    }

    @Test("retries end: a 503 every time fails after the last retry, saying how many attempts")
    func retriesEnd() async throws {
        try await Self.withStandIn { base, standIn in
            standIn.script.withLock { $0 = Array(repeating: (503, nil), count: 10) }
            do {
                _ = try await Self.client(base, retries: 2).trigger(records: ["rec-1"])
                Issue.record("a 503 every time is an error")
            } catch let error as OkraClient.Failure {
                #expect(error == .status(503, message: "scripted", attempts: 3))
            }
        }
    }

    @Test("fetch is GET callback?record=&method= and returns Okra's JSON as sent")
    func fetch() async throws {
        try await Self.withStandIn { base, standIn in
            let data = try await Self.client(base).fetch(record: "14ad5be8d14dd70039585b0c", method: "TRANSACTIONS")
            #expect(String(decoding: data, as: UTF8.self).contains(#""record":"14ad5be8d14dd70039585b0c""#))
            let request = try #require(standIn.received.withLock { $0.first })
            #expect(request.method == "GET" && request.path == "/v2/callback")
            #expect(request.query == "record=14ad5be8d14dd70039585b0c&method=TRANSACTIONS")
        }
    }

    @Test("Okra's documented base URLs; more than 100 records in one call is refused before sending")
    func endpointsAndLimits() async throws {
        #expect(OkraClient.Endpoint.okra("production")?.baseURL == "https://api.okra.ng/v2/")
        #expect(OkraClient.Endpoint.okra("sandbox")?.baseURL == "https://api.okra.ng/sandbox/v2/")
        #expect(OkraClient.Endpoint.okra("staging") == nil)
        let client = OkraClient(endpoint: .okra("sandbox")!, secret: Self.secret)
        await #expect(throws: OkraClient.Failure.self) { try await client.trigger(records: Array(repeating: "r", count: 101)) }
    }

    @Test("an event's product names its callback method; products without callback data name none")
    func callbackMethods() {
        #expect(OkraClient.callbackMethod(forProduct: "balance") == "BALANCE")
        #expect(OkraClient.callbackMethod(forProduct: "transactions") == "TRANSACTIONS")
        #expect(OkraClient.callbackMethod(forProduct: "payment") == "PAYMENT")
        #expect(OkraClient.callbackMethod(forProduct: "user") == nil)
        #expect(OkraClient.callbackMethod(forProduct: "widget") == nil)
    }
}
