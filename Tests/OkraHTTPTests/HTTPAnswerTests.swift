import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Hummingbird
import Logging
import OkraHTTP
import OkraIngest
import OkraOperations
import OkraRouting
import OkraTestSupport
import ServiceLifecycle
import Synchronization
import Testing

/// What the HTTP layer returns, over real HTTP on loopback, with the pipeline on an in-memory sink.
@Suite("HTTP answers (loopback, in-memory sink)")
struct HTTPAnswerTests {
    static let token = "http-production-token-0123456789"
    static let adminToken = "http-admin-token-0123456789"
    /// The bare admin token (operate, named admin) and one token per scope, named after it.
    static let adminTokens: AdminTokenSet = try! AdminTokenSet(bare: adminToken).adding(AdminTokenSet.parsing(
        AdminScope.allCases.map { "\($0.rawValue):\($0.rawValue)=\(scopedToken($0))" }.joined(separator: "\n")))
    static func scopedToken(_ scope: AdminScope) -> String { "http-\(scope.rawValue)-token-0123456789" }
    static let routes = #"{"version":1,"defaults":{"topic":"okra.{env}.{product}.{outcome}"},"deadLetter":{"topic":"okra.deadletter"},"routes":[]}"#
    // With a time of its own, so its id does not depend on the minute it is received in (a loaded
    // run once posted it twice across a minute boundary: two ids, no duplicate).
    static let payment = #"{"type":"CALLBACK","method":"PAYMENT","code":"PAYMENT_SUCCESS","env":"production","record":"rec-1","ended_at":"2026-12-01T10:00:00.000Z"}"#

    /// An answer: status, headers, body parsed as JSON when it is JSON.
    struct Answer {
        let status: Int
        let headers: [AnyHashable: Any]
        let body: String
        var json: [String: Any]? { try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any] }
        var error: [String: Any]? { json?["error"] as? [String: Any] }
        func header(_ name: String) -> String? {
            headers.first { ($0.key as? String)?.lowercased() == name.lowercased() }?.value as? String
        }
    }

    /// Runs both listeners on ports of their own for the body, then stops them.
    static func withServer(maxBody: Int = 1 << 20, budget: BodyBudget? = nil, operations: Routers.OperationsAPI = .noAdminToken,
                           _ body: @Sendable (_ ingestPort: Int, _ adminPort: Int, _ sink: InMemorySink) async throws -> Void) async throws {
        let sink = InMemorySink()
        let check = try SenderCheck(tokens: ["production=\(token)"], allowIPs: [], trustedProxies: [], allowUnauthenticated: false)
        let table = try RouteTable.load(Array(routes.utf8))
        var logger = Logger(label: "http-test")
        logger.logLevel = .warning
        let ingest = Ingest(senderCheck: check, routes: FixedRoutes(table), sink: sink, logger: logger)
        let metrics = Routers.MetricsEndpoint(render: { "okra_bridge_test 1\n" }, tokens: adminTokens)
        let webhook = WebhookRoute(ingest: ingest, maxBody: maxBody, bodyBudget: budget)
        let ingestRouter = Routers.ingest(webhook, metrics: nil)
        let adminRouter = Routers.admin(ingest, metrics: metrics, operations: operations)
        try await Loopback.serve([
            { running in Application(router: ingestRouter, server: .http1(gate: nil, webhook: webhook),
                                     configuration: .init(address: .hostname("127.0.0.1", port: 0)), onServerRunning: running, logger: logger) },
            { running in Application(router: adminRouter, configuration: .init(address: .hostname("127.0.0.1", port: 0)), onServerRunning: running, logger: logger) },
        ], logger: logger) { ports in
            try await body(ports[0], ports[1], sink)
        }
    }

    static func request(_ port: Int, _ method: String, _ path: String, body: String? = nil, headers: [String: String] = [:]) async throws -> Answer {
        var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)\(path)")!)
        request.httpMethod = method
        request.httpBody = body.map { Data($0.utf8) }
        for (name, value) in headers { request.setValue(value, forHTTPHeaderField: name) }
        let (data, response) = try await URLSession.shared.data(for: request)
        let http = response as! HTTPURLResponse
        return Answer(status: http.statusCode, headers: http.allHeaderFields, body: String(decoding: data, as: UTF8.self))
    }

    @Test("200 carries the id and whether it was a duplicate")
    func accepted() async throws {
        try await Self.withServer { port, _, sink in
            let first = try await Self.request(port, "POST", "/webhooks/okra", body: Self.payment, headers: ["Okra-Auth": Self.token])
            #expect(first.status == 200)
            #expect(first.json?["status"] as? String == "accepted")
            #expect((first.json?["id"] as? String)?.hasPrefix("okra-") == true)
            #expect(first.json?["duplicate"] as? Bool == false)
            let again = try await Self.request(port, "POST", "/webhooks/okra", body: Self.payment, headers: ["Authorization": "Bearer \(Self.token)"])
            #expect(again.json?["duplicate"] as? Bool == true)
            #expect(sink.accepted.count == 1)
        }
    }

    @Test("401, 400 and 503 are the contract's JSON errors; 503 says when to retry")
    func errors() async throws {
        try await Self.withServer { port, _, sink in
            let unauthorized = try await Self.request(port, "POST", "/webhooks/okra", body: Self.payment)
            #expect(unauthorized.status == 401)
            #expect(unauthorized.error?["code"] as? String == "unauthorized")
            #expect(unauthorized.header("Content-Type") == "application/json")

            let malformed = try await Self.request(port, "POST", "/webhooks/okra", body: "{nope", headers: ["Okra-Auth": Self.token])
            #expect(malformed.status == 400)
            #expect(malformed.error?["code"] as? String == "malformed-json")
            #expect((malformed.error?["message"] as? String)?.contains("line 1") == true)

            sink.setFailing(true)
            let unavailable = try await Self.request(port, "POST", "/webhooks/okra", body: Self.payment, headers: ["Okra-Auth": Self.token])
            #expect(unavailable.status == 503)
            #expect(unavailable.error?["code"] as? String == "unavailable")
            #expect(unavailable.header("Retry-After") == "5")
        }
    }

    @Test("a body over --max-body is 413 too-large and reaches nothing")
    func tooLarge() async throws {
        try await Self.withServer(maxBody: 64) { port, _, sink in
            let answer = try await Self.request(port, "POST", "/webhooks/okra", body: Self.payment + String(repeating: " ", count: 100), headers: ["Okra-Auth": Self.token])
            #expect(answer.status == 413)
            #expect(answer.error?["code"] as? String == "too-large")
            #expect(sink.accepted.isEmpty)
        }
    }

    @Test("/readyz is 200 with the routes' SHA-256 when ready and 503 listing the problems when not")
    func readiness() async throws {
        try await Self.withServer { port, adminPort, sink in
            let sha = try RouteTable.load(Array(Self.routes.utf8)).sha256
            let ready = try await Self.request(port, "GET", "/readyz")
            #expect(ready.status == 200)
            #expect(ready.json?["status"] as? String == "ready")
            #expect(ready.json?["routes_sha256"] as? String == sha)
            #expect(ready.json?["store"] as? String == "accepting")
            #expect(ready.json?["kafka"] as? [String: String] == ["state": "unknown"])

            #expect(ready.json?["parked"] == nil, "no store, no parked count")
            sink.setReadiness(SinkReadiness(store: .full, kafka: .init(.failing, kind: "tls", reason: "SSL handshake failed: \"verify\""),
                                            problems: ["the outbox is \"full\""], parked: 2))
            let full = try await Self.request(adminPort, "GET", "/readyz")
            #expect(full.json?["kafka"] as? [String: String] == ["state": "failing", "kind": "tls", "reason": "SSL handshake failed: \"verify\""])
            // The public listener names the kind, not librdkafka's words (brokers, certificates).
            let publicReady = try await Self.request(port, "GET", "/readyz")
            #expect(publicReady.json?["kafka"] as? [String: String] == ["state": "failing", "kind": "tls"])
            #expect(full.status == 503)
            #expect(full.json?["status"] as? String == "not ready")
            #expect(full.json?["problems"] as? [String] == ["the outbox is \"full\""])
            #expect(full.json?["parked"] as? Int == 2)
            #expect(try await Self.request(adminPort, "GET", "/healthz").status == 200)
        }
    }

    @Test("/metrics on the admin listener needs the admin token; the ingest listener has none")
    func metrics() async throws {
        try await Self.withServer { port, adminPort, _ in
            #expect(try await Self.request(port, "GET", "/metrics").status == 404)
            let refused = try await Self.request(adminPort, "GET", "/metrics", headers: ["Authorization": "Bearer \(Self.adminToken)x"])
            #expect(refused.status == 401)
            #expect(refused.error?["code"] as? String == "unauthorized")
            #expect(refused.header("WWW-Authenticate")?.hasPrefix("Bearer") == true)
            let served = try await Self.request(adminPort, "GET", "/metrics", headers: ["Authorization": "Bearer \(Self.adminToken)"])
            #expect(served.status == 200)
            #expect(served.body == "okra_bridge_test 1\n")
        }
    }

    @Test("404 and 405 are the contract's JSON errors (405 with Allow), and the probes answer HEAD")
    func notFoundAndHead() async throws {
        try await Self.withServer { port, adminPort, _ in
            let wrongMethod = try await Self.request(port, "GET", "/webhooks/okra")
            #expect(wrongMethod.status == 405)
            #expect(wrongMethod.error?["code"] as? String == "method-not-allowed")
            #expect(wrongMethod.header("Allow") == "POST")
            let nowhere = try await Self.request(port, "GET", "/nowhere")
            #expect(nowhere.status == 404)
            #expect(nowhere.error?["code"] as? String == "not-found")
            #expect(nowhere.header("Content-Type") == "application/json")
            #expect(try await Self.request(adminPort, "POST", "/metrics").status == 405)
            #expect(try await Self.request(adminPort, "GET", "/webhooks/okra").status == 404, "the webhook endpoint is not on the admin listener")
            for path in ["/healthz", "/readyz"] {
                #expect(try await Self.request(port, "HEAD", path).status == 200, "HEAD \(path)")
                #expect(try await Self.request(adminPort, "HEAD", path).status == 200, "HEAD \(path) on the admin listener")
            }
        }
    }

    @Test("bodies beyond the in-flight budget get 503 with Retry-After; a body that fits is taken; the budget is given back")
    func bodyBudget() async throws {
        let budget = BodyBudget(limit: 150)
        try await Self.withServer(maxBody: 1000, budget: budget) { port, _, sink in
            let large = Self.payment + String(repeating: " ", count: 100)
            let refused = try await Self.request(port, "POST", "/webhooks/okra", body: large, headers: ["Okra-Auth": Self.token])
            #expect(refused.status == 503)
            #expect(refused.header("Retry-After") == "1")
            #expect(sink.accepted.isEmpty)
            let fits = try await Self.request(port, "POST", "/webhooks/okra", body: Self.payment, headers: ["Okra-Auth": Self.token])
            #expect(fits.status == 200)
            #expect(budget.inUse == 0)
        }
    }

    @Test("the operations API answers 404 saying why when it is off: no admin token, or direct mode; never on the ingest listener")
    func operationsOff() async throws {
        for (operations, words) in [(Routers.OperationsAPI.noAdminToken, "--admin-token-file"), (.directMode(tokens: Self.adminTokens), "direct delivery keeps no event log")] {
            try await Self.withServer(operations: operations) { ingestPort, adminPort, _ in
                let answer = try await Self.request(adminPort, "GET", "/admin/events", headers: ["Authorization": "Bearer \(Self.adminToken)"])
                #expect(answer.status == 404)
                #expect((answer.error?["message"] as? String)?.contains(words) == true, "\(answer.body)")
                #expect(try await Self.request(ingestPort, "GET", "/admin/events").status == 404)
                #expect(try await Self.request(adminPort, "POST", "/admin/replay", body: "{}").status == 404)
            }
        }
    }

    /// Operations whose store is full: a replay stops with ``OperationsUnavailable``.
    struct FullStoreOperations: Operations {
        func events(_ filter: EventFilter, limit: Int, before cursor: Int64?, withData: Bool) async throws -> (entries: [LogEntry], next: Int64?) { ([], nil) }
        func event(_ key: String, environment: String?) async throws -> [LogEntry] { [] }
        func export(_ filter: EventFilter, _ body: (LogEntry) async throws -> Void) async throws {}
        func replay(_ filter: EventFilter?, ids: [String], execute: Bool) async throws -> ReplayPlan {
            throw OperationsUnavailable("the replay stopped after 3 events (3 records) were appended")
        }
        func parked(limit: Int) async throws -> [ParkedEntry] { [] }
        func redrive(_ selection: ParkedSelection) async throws -> Int { 0 }
        func discard(_ selection: ParkedSelection) async throws -> Int { 0 }
        func audit(_ record: AuditRecord) async throws {}
        func auditTrail(since: Date?, until: Date?, limit: Int, before cursor: Int64?) async throws -> (records: [AuditRecord], next: Int64?) { ([], nil) }
        func erase(customer: String) async throws -> Erasure { Erasure(erased: 0, waiting: 0, parked: 0) }
        func status() async throws -> StoreStatus {
            StoreStatus(outbox: nil, parked: 0, storeBytes: 0, walBytes: 0, eventLogBytes: 0, volume: nil, volumeFull: true)
        }
    }

    @Test("a replay the store cannot take is 503 with Retry-After and says how far it got")
    func replayUnavailable() async throws {
        try await Self.withServer(operations: .served(FullStoreOperations(), tokens: Self.adminTokens)) { _, adminPort, _ in
            let answer = try await Self.request(adminPort, "POST", "/admin/replay", body: #"{"filter":{"type":"okra.*"},"execute":true}"#,
                                                headers: ["Authorization": "Bearer \(Self.adminToken)"])
            #expect(answer.status == 503)
            #expect(answer.header("Retry-After") == "5")
            #expect(answer.error?["code"] as? String == "unavailable")
            #expect((answer.error?["message"] as? String)?.contains("after 3 events") == true, "\(answer.body)")
        }
    }

    @Test("an unknown filter word is a 400 listing the words the filter takes, on listings, exports, replays and show", arguments: [
        ("GET", "/admin/events?product=paymnt", nil, "product takes auth, identity, accounts, balance, transactions, income, payment, record, user, widget or unknown, got paymnt"),
        ("GET", "/admin/events/export?outcome=fail", nil, "outcome takes success, failed, cancelled, deleted, updated, disconnected, reauth_required, event or unknown, got fail"),
        ("GET", "/admin/events?env=staging", nil, "env takes production, sandbox or unknown, got staging"),
        ("GET", "/admin/events?state=lost", nil, "state takes pending, published, parked or dropped, got lost"),
        ("GET", "/admin/events/okra-00000000000000000000000000000000?env=prod", nil, "env takes production, sandbox or unknown, got prod"),
        ("POST", "/admin/replay", #"{"filter":{"product":"paymnt"}}"#, "product takes auth, identity"),
    ] as [(String, String, String?, String)])
    func unknownFilterWords(_ method: String, _ path: String, _ body: String?, _ message: String) async throws {
        try await Self.withServer(operations: .served(FullStoreOperations(), tokens: Self.adminTokens)) { _, adminPort, _ in
            let answer = try await Self.request(adminPort, method, path, body: body, headers: ["Authorization": "Bearer \(Self.adminToken)"])
            #expect(answer.status == 400, "\(answer.body)")
            #expect((answer.error?["message"] as? String)?.hasPrefix(message) == true, "\(answer.body)")
        }
    }

    @Test("the operations API's statuses: 413 for a body over 1 MiB, 405 with Allow on an event's page, 400 for paging words on an export, a bad cursor, a request member it does not know or gives twice")
    func operationsStatuses() async throws {
        try await Self.withServer(operations: .served(FullStoreOperations(), tokens: Self.adminTokens)) { _, adminPort, _ in
            let auth = ["Authorization": "Bearer \(Self.adminToken)"]
            let large = #"{"ids":["# + String(repeating: #""okra-1","#, count: 150_000) + #""okra-1"]}"#
            let tooLarge = try await Self.request(adminPort, "POST", "/admin/replay", body: large, headers: auth)
            #expect(tooLarge.status == 413, "\(tooLarge.body.prefix(200))")
            #expect(tooLarge.error?["code"] as? String == "too-large")
            let method = try await Self.request(adminPort, "DELETE", "/admin/events/okra-1", headers: auth)
            #expect(method.status == 405 && method.header("Allow") == "GET", "\(method.body)")
            for (verb, path, body, message) in [
                ("GET", "/admin/events/export?limit=5", nil, "unknown filter limit"),
                ("GET", "/admin/events?cursor=-1", nil, "cursor takes"),
                ("POST", "/admin/parked/redrive", nil, "name the records"),
                ("POST", "/admin/parked/redrive", #"{"ids":[1],"ids":[2]}"#, "member ids given twice"),
                ("POST", "/admin/replay", #"{"ids":["okra-1"],"execut":true}"#, "unknown member execut"),
            ] as [(String, String, String?, String)] {
                let answer = try await Self.request(adminPort, verb, path, body: body, headers: auth)
                #expect(answer.status == 400, "\(verb) \(path): \(answer.body)")
                #expect((answer.error?["message"] as? String)?.contains(message) == true, "\(verb) \(path): \(answer.body)")
            }
        }
    }
}
