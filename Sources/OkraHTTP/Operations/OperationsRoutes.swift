import Foundation
import Hummingbird
import NIOCore
import OkraIngest
import OkraOperations

/// The operations API on the admin listener (§9): each route behind the scope it needs, personal
/// data masked for tokens without `read-pii`, every operator action on the audit trail.
enum OperationsRoutes {
    static let paths = ["/admin/events": "GET", "/admin/events/export": "GET", "/admin/events/*": "GET", "/admin/replay": "POST",
                        "/admin/parked": "GET", "/admin/parked/redrive": "POST", "/admin/parked/discard": "POST",
                        "/admin/token": "GET", "/admin/audit": "GET", "/admin/erase": "POST", "/admin/status": "GET"]

    /// The routes that read or replay the event log, by method.
    static let logRoutes: (get: [RouterPath], post: [RouterPath]) = (["events", "events/export", "events/:id"], ["replay"])
    /// The routes over the rest of the store (its health, the parked records, the audit trail,
    /// erasure): served in durable mode whether the log is on or off.
    static let storeRoutes: (get: [RouterPath], post: [RouterPath]) = (["parked", "audit", "status"], ["parked/redrive", "parked/discard", "erase"])

    static func add(to router: Router<BridgeRequestContext>, _ availability: Routers.OperationsAPI, ingest: Ingest) {
        let group = router.group("admin")
        switch availability {
        case .noAdminToken:
            let off = notFound("the operations API is off: start serve with --admin-token-file (or --admin-token)")
            for path in logRoutes.get + storeRoutes.get + ["token"] { group.get(path, use: off) }
            for path in logRoutes.post + storeRoutes.post { group.post(path, use: off) }
        case .directMode(let tokens):
            let off = notFound("direct delivery keeps no event log: the operations API needs --delivery durable")
            for path in logRoutes.get + storeRoutes.get { group.get(path, use: off) }
            for path in logRoutes.post + storeRoutes.post { group.post(path, use: off) }
            group.get("token", use: tokens.map(tokenRoute) ?? off)
        case .noEventLog(let operations, let tokens):
            let off = notFound("the event log is off (--retain 0): events, their export and replay need it; status, parked records, the audit trail and erasure are served")
            for path in logRoutes.get { group.get(path, use: off) }
            for path in logRoutes.post { group.post(path, use: off) }
            addStoreRoutes(to: group, operations, tokens: tokens, ingest: ingest)
        case .served(let operations, let tokens):
            addLogRoutes(to: group, operations, tokens: tokens)
            addStoreRoutes(to: group, operations, tokens: tokens, ingest: ingest)
        }
    }

    typealias Handler = @Sendable (Request, BridgeRequestContext, AdminCaller) async throws -> Response

    /// A route answering 404 with `message` (why the operations API, or this part of it, is off).
    private static func notFound(_ message: String) -> @Sendable (Request, BridgeRequestContext) async throws -> Response {
        { _, _ in JSONResponse.error(.notFound, code: "not-found", message: message) }
    }

    /// `GET /admin/token`: the token's name and scopes, for any scope.
    private static func tokenRoute(_ tokens: any AdminTokenSource) -> @Sendable (Request, BridgeRequestContext) async throws -> Response {
        guarded(nil, tokens: tokens) { _, _, caller in try answer(AdminAPI.TokenInfo(caller)) }
    }

    /// The event log's routes: list, export, show, replay.
    private static func addLogRoutes(to group: RouterGroup<BridgeRequestContext>, _ operations: any Operations, tokens: any AdminTokenSource) {
        let read = { (handler: @escaping Handler) in guarded(.read, tokens: tokens, handler) }
        let operate = { (handler: @escaping Handler) in guarded(.operate, tokens: tokens, handler) }
        group.get("events", use: read { request, _, caller in try await list(request, operations, caller) })
        group.get("events/export", use: read { request, _, caller in try export(request, operations, caller) })
        group.get("events/:id", use: read { request, context, caller in try await show(request, context, operations, caller) })
        group.post("replay", use: operate { request, _, caller in
            let replay = try await body(AdminAPI.ReplayRequest.self, of: request) ?? AdminAPI.ReplayRequest(filter: nil, ids: nil, execute: false)
            let filter = try replay.filter.map { filter throws(OperationsError) in try EventFilter(query: filter.values) }
            let execute = replay.execute ?? false
            let plan = try await audited(operations, caller, execute ? .replay : .replayDryRun, filter: replay.filter?.values, ids: replay.ids, count: \.events) {
                try await operations.replay(filter, ids: replay.ids ?? [], execute: execute)
            }
            return try answer(AdminAPI.Plan(plan))
        })
    }

    /// The token, the store's health, the parked records, erasure and the audit trail.
    private static func addStoreRoutes(to group: RouterGroup<BridgeRequestContext>, _ operations: any Operations, tokens: any AdminTokenSource,
                                       ingest: Ingest) {
        let read = { (handler: @escaping Handler) in guarded(.read, tokens: tokens, handler) }
        let operate = { (handler: @escaping Handler) in guarded(.operate, tokens: tokens, handler) }
        group.get("token", use: tokenRoute(tokens))
        group.get("status", use: read { _, _, _ in
            let readiness = await ingest.readiness()
            let kafka = readiness.sink.kafka
            return try answer(AdminAPI.Status(ready: readiness.isReady, problems: readiness.sink.problems, routesSHA256: readiness.routesSHA256,
                                              kafka: .init(state: kafka.state.rawValue, kind: kafka.kind, reason: kafka.reason),
                                              storeState: readiness.sink.store.rawValue, store: try await operations.status()))
        })
        group.get("parked", use: read { request, _, _ in
            let records = try await operations.parked(limit: try ListingQuery.limit(queryValues(request)["limit"]))
            return try answer(AdminAPI.ParkedList(parked: records.map(AdminAPI.Parked.init)))
        })
        group.post("parked/redrive", use: operate { request, _, caller in
            let selection = try await selection(of: request)
            let count = try await audited(operations, caller, .redrive, ids: ids(of: selection), count: { $0 }) { try await operations.redrive(selection) }
            return try answer(AdminAPI.Redriven(redriven: count))
        })
        group.post("parked/discard", use: operate { request, _, caller in
            let selection = try await selection(of: request)
            let count = try await audited(operations, caller, .discard, ids: ids(of: selection), count: { $0 }) { try await operations.discard(selection) }
            return try answer(AdminAPI.Discarded(discarded: count))
        })
        group.post("erase", use: operate { request, _, caller in
            guard let erase = try await body(AdminAPI.EraseRequest.self, of: request) else { throw OperationsError(#"name the customer: {"customer":"..."}"#) }
            let erasure = try await audited(operations, caller, .erase, ids: [erase.customer], count: { $0.erased + $0.waiting }) {
                try await operations.erase(customer: erase.customer)
            }
            return try answer(AdminAPI.Erased(erasure))
        })
        group.get("audit", use: operate { request, _, _ in
            let query = queryValues(request)
            for key in query.keys where !["since", "until", "limit", "cursor"].contains(key) {
                throw OperationsError("unknown filter \(key); the audit trail takes since, until, limit and cursor")
            }
            let (records, next) = try await operations.auditTrail(since: try query["since"].map { text throws(OperationsError) in try EventFilter.time(text, "since") },
                                                                  until: try query["until"].map { text throws(OperationsError) in try EventFilter.time(text, "until") },
                                                                  limit: try ListingQuery.limit(query["limit"]), before: try ListingQuery.cursor(query["cursor"]))
            return try answer(AdminAPI.AuditPage(audit: records.map(AdminAPI.AuditLine.init), nextCursor: next.map(String.init)))
        })
    }

    /// The ids a redrive or discard names, for the audit trail (`all` as no ids).
    static func ids(of selection: ParkedSelection) -> [String]? {
        if case .ids(let ids) = selection { return ids.map(String.init) }
        return nil
    }

    /// Appends an action to the audit trail (and the process log).
    static func audit(_ operations: any Operations, _ caller: AdminCaller, _ needed: AdminScope, _ action: AuditAction,
                      filter: [String: String]? = nil, ids: [String]? = nil, count: Int, error: String? = nil) async throws {
        let record = AuditRecord(atMilliseconds: Int64(Date().timeIntervalSince1970 * 1000), token: caller.name, scope: caller.scope(for: needed),
                                 action: action, filter: filter, ids: ids, count: count, error: error)
        try await operations.audit(record)
    }

    /// Runs an `operate` action and puts it on the audit trail: with its count when it succeeds,
    /// with its error when it fails or stops part way (then rethrown). The action is done by
    /// then, so a trail that cannot keep the line leaves the answer as it is: the process log
    /// has the line, and an error saying the trail lacks it.
    static func audited<T>(_ operations: any Operations, _ caller: AdminCaller, _ action: AuditAction, filter: [String: String]? = nil,
                           ids: [String]? = nil, count: (T) -> Int, _ body: () async throws -> T) async throws -> T {
        let result: T
        do {
            result = try await body()
        } catch {
            try? await audit(operations, caller, .operate, action, filter: filter, ids: ids, count: 0, error: "\(error)")
            throw error
        }
        try? await audit(operations, caller, .operate, action, filter: filter, ids: ids, count: count(result))
        return result
    }

    /// `handler` behind the admin tokens and the scope it needs (nil: any): the token is checked
    /// before anything else, as every answer here can carry personal data; its errors as the
    /// contract's statuses.
    static func guarded(_ needed: AdminScope?, tokens: any AdminTokenSource, _ handler: @escaping Handler) -> @Sendable (Request, BridgeRequestContext) async throws -> Response {
        { request, context in
            let caller: AdminCaller
            switch AdminAccess.check(request, tokens: tokens.adminTokens, needs: needed, what: "\(request.method) \(request.uri.path)") {
            case .refused(let response): return response
            case .allowed(let allowed): caller = allowed
            }
            do {
                return try await handler(request, context, caller)
            } catch let error as OperationsError {
                return JSONResponse.error(.badRequest, code: "bad-request", message: error.description)
            } catch let error as OperationsNotFound {
                return JSONResponse.error(.notFound, code: "not-found", message: error.description)
            } catch is BodyTooLarge {
                return JSONResponse.error(.contentTooLarge, code: "too-large", message: "the operations API takes request bodies of at most \(maxBody) bytes")
            } catch let error as OperationsUnavailable {
                var busy = JSONResponse.error(.serviceUnavailable, code: "unavailable", message: error.description)
                busy.headers[.retryAfter] = "5"
                return busy
            }
        }
    }

    /// `GET /admin/events`: a page, with data only when asked, masked without `read-pii`
    /// (a page with data in clear is on the audit trail).
    static func list(_ request: Request, _ operations: any Operations, _ caller: AdminCaller) async throws -> Response {
        let query = queryValues(request)
        let filter = try EventFilter(query: query, paging: true)
        let withData = try ListingQuery.includesData(query["include"])
        let (entries, next) = try await operations.events(filter, limit: try ListingQuery.limit(query["limit"]),
                                                          before: try ListingQuery.cursor(query["cursor"]), withData: withData)
        let redacting = !caller.seesPersonalData
        if withData && !redacting {
            try await audit(operations, caller, .readPII, .listWithPersonalData, filter: query.filter { EventFilter.queryKeys.contains($0.key) }, count: entries.count)
        }
        return try answer(AdminAPI.EventsPage(events: entries.map { AdminAPI.Entry($0, whole: withData, redacting: redacting) }, nextCursor: next.map(String.init)))
    }

    /// `GET /admin/events/export`: JSON lines, written 64 KiB at a time as the pages come,
    /// masked without `read-pii`; on the audit trail with how many entries went out.
    static func export(_ request: Request, _ operations: any Operations, _ caller: AdminCaller) throws -> Response {
        let query = queryValues(request)
        let filter = try EventFilter(query: query)
        let redacting = !caller.seesPersonalData
        let body = ResponseBody { writer in
            var buffer: [UInt8] = []
            var count = 0
            do {
                try await operations.export(filter) { entry in
                    // The stream's own writer: the encoder's bytes, written straight into the buffer.
                    AdminAPI.Entry(entry, whole: true, redacting: redacting).writeJSON(into: &buffer)
                    buffer.append(UInt8(ascii: "\n"))
                    count += 1
                    if buffer.count >= 64 << 10 {
                        try await writer.write(ByteBuffer(bytes: buffer))
                        buffer.removeAll(keepingCapacity: true)
                    }
                }
                if !buffer.isEmpty { try await writer.write(ByteBuffer(bytes: buffer)) }
            } catch {
                // What went out before the failure is on the trail too, with the failure.
                try? await audit(operations, caller, redacting ? .read : .readPII, .export, filter: query, count: count, error: "\(error)")
                throw error
            }
            // The entries have gone out: a trail that cannot keep the line does not fail the
            // stream (the process log has the line).
            try? await audit(operations, caller, redacting ? .read : .readPII, .export, filter: query, count: count)
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: [.contentType: "application/x-ndjson"], body: body)
    }

    /// `GET /admin/events/{id}`: every environment's entry of the id (dedupe is per environment),
    /// masked without `read-pii` (shown in clear, it is on the audit trail).
    static func show(_ request: Request, _ context: BridgeRequestContext, _ operations: any Operations, _ caller: AdminCaller) async throws -> Response {
        let key = context.parameters.get("id") ?? ""
        let environment = try ListingQuery.environment(queryValues(request)["env"])
        let id = key.removingPercentEncoding ?? key
        let entries = try await operations.event(id, environment: environment?.rawValue)
        guard !entries.isEmpty else {
            return JSONResponse.error(.notFound, code: "not-found", message: "no entry for \(key)\(environment.map { " in \($0.rawValue)" } ?? ""): unknown, or past retention")
        }
        let redacting = !caller.seesPersonalData
        if !redacting { try await audit(operations, caller, .readPII, .showWithPersonalData, ids: [id], count: entries.count) }
        return try answer(AdminAPI.Events(events: entries.map { AdminAPI.Entry($0, whole: true, redacting: redacting) }))
    }

    /// A request body over ``maxBody`` (answered 413).
    struct BodyTooLarge: Error {}

    /// The largest request body the API reads; larger is 413.
    static let maxBody = 1 << 20

    /// The request's JSON body as `T` (nil when empty), or a 400 naming what is wrong with it.
    static func body<T: Decodable>(_ type: T.Type, of request: Request) async throws -> T? {
        var request = request
        let bytes: [UInt8]
        do {
            bytes = Array(buffer: try await request.collectBody(upTo: maxBody))
        } catch is NIOTooManyBytesError {
            throw BodyTooLarge()
        }
        guard !bytes.isEmpty else { return nil }
        do {
            return try AdminJSONDecoder().decode(T.self, from: bytes)
        } catch {
            throw OperationsError("the body is not what this operation takes: \(AdminJSONDecoder.describe(error))")
        }
    }

    /// The parked records a redrive or discard body names.
    static func selection(of request: Request) async throws -> ParkedSelection {
        guard let body = try await body(AdminAPI.Selection.self, of: request) else { throw OperationsError(AdminAPI.Selection.howToName) }
        return try body.selection()
    }

    /// A 200 with `value` as JSON.
    static func answer<T: Encodable>(_ value: T) throws -> Response {
        Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: try AdminJSONEncoder().encode(value))))
    }

    static func queryValues(_ request: Request) -> [String: String] {
        // Form encoding (a `+` is a space), as the console's URLSearchParams writes it.
        QueryString.parse(request.uri.query ?? "")
    }
}
