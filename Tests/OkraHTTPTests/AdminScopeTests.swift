import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import OkraEnvelope
import OkraHTTP
import OkraIngest
import OkraOperations
import Synchronization
import Testing

/// The admin listener's scopes (§9), redaction and audit trail, over real HTTP on loopback with
/// an operations double that holds one event carrying personal data and records every audit line.
@Suite("Admin scopes, redaction and audit (loopback)")
struct AdminScopeTests {
    typealias HTTP = HTTPAnswerTests

    static let bvn = "SENTINEL-BVN-22233344455"
    static let nuban = "SENTINEL-NUBAN-0123456789"
    static let payload = #"{"type":"CALLBACK","method":"IDENTITY","code":"IDENTITY_SUCCESS","env":"production","record":"rec-9","customerId":"cus-9","#
        + #""identity":{"bvn":"\#(bvn)","firstname":"SENTINEL-FIRST","phone":["SENTINEL-PHONE"],"nuban":"\#(nuban)","bank":null}}"#
    static let deadBody = "not json SENTINEL-DEAD-LETTER"

    /// One event with personal data and one dead letter; every audit line kept.
    final class RecordingOperations: Operations {
        let audits = Mutex<[AuditRecord]>([])
        let entries: [LogEntry]

        init() {
            let event = try! Normalizer.normalize(Array(AdminScopeTests.payload.utf8), receivedAt: Date(timeIntervalSince1970: 1_796_083_200)).get()
            entries = [
                LogEntry(entry: 2, id: event.id, recordedAtMilliseconds: 1_796_083_200_000, envelope: event, tokenEnvironment: .production,
                         deadletter: false, reason: nil, body: event.data, duplicates: 0, records: []),
                LogEntry(entry: 1, id: nil, recordedAtMilliseconds: 1_796_083_100_000, envelope: nil, tokenEnvironment: .production,
                         deadletter: true, reason: "malformed-json", body: Array(AdminScopeTests.deadBody.utf8), duplicates: 0, records: []),
            ]
        }

        func events(_ filter: EventFilter, limit: Int, before cursor: Int64?, withData: Bool) async throws -> (entries: [LogEntry], next: Int64?) { (entries, nil) }
        func event(_ key: String, environment: String?) async throws -> [LogEntry] { entries.filter { $0.id == key || String($0.entry) == key } }
        func export(_ filter: EventFilter, _ body: (LogEntry) async throws -> Void) async throws { for entry in entries { try await body(entry) } }
        func replay(_ filter: EventFilter?, ids: [String], execute: Bool) async throws -> ReplayPlan { ReplayPlan(events: 1, records: 1, topics: ["t": 1], executed: execute) }
        func parked(limit: Int) async throws -> [ParkedEntry] { [] }
        func redrive(_ selection: ParkedSelection) async throws -> Int { 2 }
        func discard(_ selection: ParkedSelection) async throws -> Int { 3 }
        func audit(_ record: AuditRecord) async throws { audits.withLock { $0.append(record) } }
        func auditTrail(since: Date?, until: Date?, limit: Int, before cursor: Int64?) async throws -> (records: [AuditRecord], next: Int64?) {
            (audits.withLock { $0 }, nil)
        }
        func erase(customer: String) async throws -> Erasure { Erasure(erased: 4, waiting: 1, parked: 0) }
        func status() async throws -> StoreStatus {
            StoreStatus(outbox: (depth: 3, oldestAgeSeconds: 1.5), parked: 1, storeBytes: 4096, walBytes: 1024, eventLogBytes: 2048,
                        volume: (used: 10 << 20, free: 90 << 20), volumeFull: false)
        }
    }

    static func auth(_ scope: AdminScope) -> [String: String] { ["Authorization": "Bearer \(HTTP.scopedToken(scope))"] }

    /// Each route and the scope it needs (nil: any token).
    static let routes: [(method: String, path: String, body: String?, needs: AdminScope?)] = [
        ("GET", "/metrics", nil, .metrics),
        ("GET", "/admin/token", nil, nil),
        ("GET", "/admin/events", nil, .read),
        ("GET", "/admin/events?include=data", nil, .read),
        ("GET", "/admin/events/1", nil, .read),
        ("GET", "/admin/events/export", nil, .read),
        ("GET", "/admin/parked", nil, .read),
        ("POST", "/admin/replay", #"{"ids":["x"]}"#, .operate),
        ("POST", "/admin/parked/redrive", #"{"all":true}"#, .operate),
        ("POST", "/admin/parked/discard", #"{"ids":[1]}"#, .operate),
        ("POST", "/admin/erase", #"{"customer":"cus-9"}"#, .operate),
        ("GET", "/admin/audit", nil, .operate),
        ("GET", "/admin/status", nil, .read),
    ]

    @Test("every route checks its scope: 403 naming the scope it needs, 401 without a known token; probes need none")
    func scopes() async throws {
        try await HTTP.withServer(operations: .served(RecordingOperations(), tokens: HTTP.adminTokens)) { _, adminPort, _ in
            for route in Self.routes {
                for scope in AdminScope.allCases {
                    let answer = try await HTTP.request(adminPort, route.method, route.path, body: route.body, headers: Self.auth(scope))
                    // Written out, not computed with the scopes' own rule.
                    let allowed = switch route.needs {
                    case nil: true
                    case .metrics?: [AdminScope.metrics, .operate].contains(scope)
                    case .read?: [AdminScope.read, .readPII, .operate].contains(scope)
                    case .readPII?: [AdminScope.readPII, .operate].contains(scope)
                    case .operate?: scope == .operate
                    }
                    if allowed {
                        #expect(answer.status == 200, "\(route.method) \(route.path) with \(scope.rawValue): \(answer.status) \(answer.body)")
                    } else {
                        #expect(answer.status == 403, "\(route.method) \(route.path) with \(scope.rawValue): \(answer.status)")
                        #expect(answer.error?["code"] as? String == "forbidden")
                        #expect((answer.error?["message"] as? String)?.contains("needs the \(route.needs!.rawValue) scope") == true, "\(answer.body)")
                    }
                }
                let unknown = try await HTTP.request(adminPort, route.method, route.path, body: route.body, headers: ["Authorization": "Bearer nope-nope-nope-nope"])
                #expect(unknown.status == 401, "\(route.path)")
            }
            for probe in ["/healthz", "/readyz"] {
                let answer = try await HTTP.request(adminPort, "GET", probe)
                #expect(answer.status == 200 || answer.status == 503, "\(probe)")
            }
        }
    }

    @Test("GET /admin/token answers the token's name and scopes; a bare token is operate, named admin")
    func tokenInfo() async throws {
        try await HTTP.withServer(operations: .directMode(tokens: HTTP.adminTokens)) { _, adminPort, _ in
            let read = try await HTTP.request(adminPort, "GET", "/admin/token", headers: Self.auth(.readPII))
            #expect(read.json?["name"] as? String == "read-pii")
            #expect(read.json?["scopes"] as? [String] == ["read-pii"])
            let bare = try await HTTP.request(adminPort, "GET", "/admin/token", headers: ["Authorization": "Bearer \(HTTP.adminToken)"])
            #expect(bare.json?["name"] as? String == "admin")
            #expect(bare.json?["scopes"] as? [String] == ["operate"])
        }
    }

    @Test("without read-pii every answer masks personal data and withholds a dead letter's body; with it, both in clear")
    func redaction() async throws {
        let operations = RecordingOperations()
        let id = operations.entries[0].id!
        try await HTTP.withServer(operations: .served(operations, tokens: HTTP.adminTokens)) { _, adminPort, _ in
            let paths = ["/admin/events?include=data", "/admin/events/\(id)", "/admin/events/1", "/admin/events/export"]
            for path in paths {
                let masked = try await HTTP.request(adminPort, "GET", path, headers: Self.auth(.read))
                #expect(masked.status == 200)
                for sentinel in ["SENTINEL"] { #expect(!masked.body.contains(sentinel), "\(path): \(masked.body)") }
                if path != "/admin/events/1" {
                    #expect(masked.body.contains(#""bvn":"***""#), "\(path)")
                    #expect(masked.body.contains(#""nuban":"***6789""#), "\(path)")
                    #expect(masked.body.contains(#""bank":null"#), "\(path)")
                    #expect(masked.body.contains(#""record":"rec-9""#), "\(path): ids stay visible")
                }
                if path != "/admin/events/\(id)" { #expect(masked.body.contains(#""body_bytes":\#(Self.deadBody.utf8.count)"#), "\(path)") }
                #expect(masked.body.contains(#""redacted":true"#), "\(path)")
                let clear = try await HTTP.request(adminPort, "GET", path, headers: Self.auth(.readPII))
                #expect(clear.body.contains(path == "/admin/events/1" ? "SENTINEL-DEAD-LETTER" : Self.bvn), "\(path)")
                #expect(!clear.body.contains(#""redacted""#), "\(path)")
            }
        }
    }

    @Test("each operator action is on the audit trail with the token's name, the scope used and the count; a redacted show is not")
    func audit() async throws {
        let operations = RecordingOperations()
        let id = operations.entries[0].id!
        try await HTTP.withServer(operations: .served(operations, tokens: HTTP.adminTokens)) { _, adminPort, _ in
            func call(_ method: String, _ path: String, _ body: String? = nil, _ scope: AdminScope) async throws {
                let answer = try await HTTP.request(adminPort, method, path, body: body, headers: Self.auth(scope))
                #expect(answer.status == 200, "\(path): \(answer.body)")
            }
            try await call("GET", "/admin/events/\(id)", nil, .read)
            try await call("GET", "/admin/events?include=data", nil, .read)
            #expect(operations.audits.withLock { $0 }.isEmpty, "masked reads are not audited")
            try await call("GET", "/admin/events/\(id)", nil, .readPII)
            try await call("GET", "/admin/events?include=data&product=identity&limit=5", nil, .readPII)
            try await call("GET", "/admin/events/export?customer=cus-9", nil, .read)
            try await call("POST", "/admin/replay", #"{"filter":{"record":"rec-9"}}"#, .operate)
            try await call("POST", "/admin/replay", #"{"ids":["\#(id)"],"execute":true}"#, .operate)
            try await call("POST", "/admin/parked/redrive", #"{"ids":[5,6]}"#, .operate)
            try await call("POST", "/admin/parked/discard", #"{"all":true}"#, .operate)
            try await call("POST", "/admin/erase", #"{"customer":"cus-9"}"#, .operate)
            let lines = operations.audits.withLock { $0 }
            let expected: [(AuditAction, String, AdminScope, [String: String]?, [String]?, Int)] = [
                (.showWithPersonalData, "read-pii", .readPII, nil, [id], 1),
                (.listWithPersonalData, "read-pii", .readPII, ["product": "identity"], nil, 2),
                (.export, "read", .read, ["customer": "cus-9"], nil, 2),
                (.replayDryRun, "operate", .operate, ["record": "rec-9"], nil, 1),
                (.replay, "operate", .operate, nil, [id], 1),
                (.redrive, "operate", .operate, nil, ["5", "6"], 2),
                (.discard, "operate", .operate, nil, nil, 3),
                (.erase, "operate", .operate, nil, ["cus-9"], 5),
            ]
            #expect(lines.count == expected.count)
            for (line, want) in zip(lines, expected) {
                #expect(line.action == want.0)
                #expect(line.token == want.1, "\(line.action)")
                #expect(line.scope == want.2, "\(line.action)")
                #expect(line.filter == want.3, "\(line.action)")
                #expect(line.ids == want.4, "\(line.action)")
                #expect(line.count == want.5, "\(line.action)")
            }
            let trail = try await HTTP.request(adminPort, "GET", "/admin/audit", headers: Self.auth(.operate))
            #expect((trail.json?["audit"] as? [[String: Any]])?.count == expected.count)
            #expect(!trail.body.contains(HTTP.scopedToken(.readPII)), "a secret is never on the trail")
        }
    }

    /// Operations whose redrive stops part way and whose audit trail cannot be written on demand.
    final class FailingOperations: Operations {
        let inner = RecordingOperations()
        let trailBroken = Mutex(false)
        func events(_ filter: EventFilter, limit: Int, before cursor: Int64?, withData: Bool) async throws -> (entries: [LogEntry], next: Int64?) {
            try await inner.events(filter, limit: limit, before: cursor, withData: withData)
        }
        func event(_ key: String, environment: String?) async throws -> [LogEntry] { try await inner.event(key, environment: environment) }
        func export(_ filter: EventFilter, _ body: (LogEntry) async throws -> Void) async throws { try await inner.export(filter, body) }
        func replay(_ filter: EventFilter?, ids: [String], execute: Bool) async throws -> ReplayPlan { try await inner.replay(filter, ids: ids, execute: execute) }
        func parked(limit: Int) async throws -> [ParkedEntry] { [] }
        func redrive(_ selection: ParkedSelection) async throws -> Int { throw OperationsUnavailable("the redrive stopped after 4 records were put back") }
        func discard(_ selection: ParkedSelection) async throws -> Int { 1 }
        func audit(_ record: AuditRecord) async throws {
            if trailBroken.withLock({ $0 }) { throw OperationsUnavailable("the audit trail could not be written: disk full") }
            try await inner.audit(record)
        }
        func auditTrail(since: Date?, until: Date?, limit: Int, before cursor: Int64?) async throws -> (records: [AuditRecord], next: Int64?) { ([], nil) }
        func erase(customer: String) async throws -> Erasure { Erasure(erased: 0, waiting: 0, parked: 0) }
        func status() async throws -> StoreStatus { throw OperationsUnavailable("the store cannot be read") }
    }

    @Test("an action that stops part way is on the trail with its error; with the trail broken, a done action still answers and a show in clear is refused")
    func auditFailures() async throws {
        let operations = FailingOperations()
        let id = operations.inner.entries[0].id!
        try await HTTP.withServer(operations: .served(operations, tokens: HTTP.adminTokens)) { _, adminPort, _ in
            let stopped = try await HTTP.request(adminPort, "POST", "/admin/parked/redrive", body: #"{"all":true}"#, headers: Self.auth(.operate))
            #expect(stopped.status == 503)
            let line = operations.inner.audits.withLock { $0.last }
            #expect(line?.action == .redrive && line?.error?.contains("after 4 records") == true && line?.count == 0, "\(String(describing: line))")

            operations.trailBroken.withLock { $0 = true }
            let discarded = try await HTTP.request(adminPort, "POST", "/admin/parked/discard", body: #"{"all":true}"#, headers: Self.auth(.operate))
            #expect(discarded.status == 200, "the discard was done: its answer says so")
            let shown = try await HTTP.request(adminPort, "GET", "/admin/events/\(id)", headers: Self.auth(.readPII))
            #expect(shown.status == 503 && !shown.body.contains(Self.bvn), "no personal data without its audit line: \(shown.body)")
            let masked = try await HTTP.request(adminPort, "GET", "/admin/events/\(id)", headers: Self.auth(.read))
            #expect(masked.status == 200, "a masked show needs no audit line")
        }
    }

    @Test("with the event log off (--retain 0), its routes say so; status, parked records, audit trail and erasure are served, behind their scopes")
    func eventLogOff() async throws {
        let operations = RecordingOperations()
        try await HTTP.withServer(operations: .noEventLog(operations, tokens: HTTP.adminTokens)) { _, adminPort, _ in
            let logRoutes = ["/admin/events", "/admin/events?include=data", "/admin/events/1", "/admin/events/export", "/admin/replay"]
            for route in Self.routes where logRoutes.contains(route.path) {
                let answer = try await HTTP.request(adminPort, route.method, route.path, body: route.body, headers: Self.auth(.operate))
                #expect(answer.status == 404 && (answer.error?["message"] as? String)?.contains("--retain 0") == true, "\(route.path): \(answer.body)")
            }
            for route in Self.routes where !logRoutes.contains(route.path) && route.path != "/metrics" {
                let answer = try await HTTP.request(adminPort, route.method, route.path, body: route.body, headers: Self.auth(.operate))
                #expect(answer.status == 200, "\(route.method) \(route.path): \(answer.status) \(answer.body)")
                #expect(try await HTTP.request(adminPort, route.method, route.path, body: route.body).status == 401, "\(route.path) without a token")
            }
            let refused = try await HTTP.request(adminPort, "POST", "/admin/parked/redrive", body: #"{"all":true}"#, headers: Self.auth(.read))
            #expect(refused.status == 403, "a redrive still needs operate")
            let redriven = try await HTTP.request(adminPort, "POST", "/admin/parked/redrive", body: #"{"all":true}"#, headers: Self.auth(.operate))
            #expect(redriven.json?["redriven"] as? Int == 2, "\(redriven.body)")
            #expect(operations.audits.withLock { $0.contains { $0.action == .redrive && $0.count == 2 } }, "the redrive is on the audit trail")
        }
    }
}
