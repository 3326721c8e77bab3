import Foundation
import Hummingbird
import NIOCore
import OkraIngest
import OkraOperations

/// The operations API on the admin listener (§9), behind the admin token.
enum OperationsRoutes {
    /// Where the API stands: served, off for want of an admin token, or absent in direct mode.
    enum Availability: Sendable {
        case served(any Operations, token: String)
        case noToken
        case directMode
    }

    static let paths = ["/admin/events": "GET", "/admin/events/export": "GET", "/admin/events/*": "GET", "/admin/replay": "POST",
                        "/admin/parked": "GET", "/admin/parked/redrive": "POST", "/admin/parked/discard": "POST"]

    static func add(to router: Router<BridgeRequestContext>, _ availability: Availability) {
        let group = router.group("admin")
        switch availability {
        case .noToken, .directMode:
            let message = if case .directMode = availability {
                "direct delivery keeps no event log: the operations API needs --delivery durable"
            } else {
                "the operations API is off: start serve with --admin-token-file (or --admin-token)"
            }
            let off: @Sendable (Request, BridgeRequestContext) async throws -> Response = { _, _ in
                JSONResponse.error(.notFound, code: "not-found", message: message)
            }
            for path: RouterPath in ["events", "events/export", "events/:id", "parked"] { group.get(path, use: off) }
            for path: RouterPath in ["replay", "parked/redrive", "parked/discard"] { group.post(path, use: off) }
        case .served(let operations, let token):
            add(to: group, operations, token: Array(token.utf8))
        }
    }

    typealias Handler = @Sendable (Request, BridgeRequestContext) async throws -> Response

    private static func add(to group: RouterGroup<BridgeRequestContext>, _ operations: any Operations, token: [UInt8]) {
        let guarded = { (handler: @escaping Handler) in Self.guarded(handler, token: token) }
        group.get("events", use: guarded { request, _ in try await list(request, operations) })
        group.get("events/export", use: guarded { request, _ in try export(request, operations) })
        group.get("events/:id", use: guarded { request, context in try await show(request, context, operations) })
        group.post("replay", use: guarded { request, _ in
            let replay = try await body(AdminAPI.ReplayRequest.self, of: request) ?? AdminAPI.ReplayRequest(filter: nil, ids: nil, execute: false)
            let filter = try replay.filter.map { filter throws(OperationsError) in try EventFilter(query: filter.values) }
            return try answer(AdminAPI.Plan(try await operations.replay(filter, ids: replay.ids ?? [], execute: replay.execute ?? false)))
        })
        group.get("parked", use: guarded { request, _ in
            let records = try await operations.parked(limit: try ListingQuery.limit(queryValues(request)["limit"]))
            return try answer(AdminAPI.ParkedList(parked: records.map(AdminAPI.Parked.init)))
        })
        group.post("parked/redrive", use: guarded { request, _ in
            try answer(AdminAPI.Redriven(redriven: try await operations.redrive(selection(of: request))))
        })
        group.post("parked/discard", use: guarded { request, _ in
            try answer(AdminAPI.Discarded(discarded: try await operations.discard(selection(of: request))))
        })
    }

    /// `handler` behind the admin token (every answer here can carry PII: the token is checked
    /// before anything else), its errors as the contract's statuses.
    static func guarded(_ handler: @escaping Handler, token: [UInt8]) -> Handler {
        { request, context in
            guard BearerToken.authorizes(request.headers[.authorization], expected: token) else {
                var refused = JSONResponse.error(.unauthorized, code: "unauthorized", message: "the operations API needs Authorization: Bearer with the admin token")
                refused.headers[.wwwAuthenticate] = #"Bearer realm="okra-bridge admin""#
                return refused
            }
            do {
                return try await handler(request, context)
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

    /// `GET /admin/events`: a page, with data only when asked.
    static func list(_ request: Request, _ operations: any Operations) async throws -> Response {
        let query = queryValues(request)
        let filter = try EventFilter(query: query, paging: true)
        let withData = try ListingQuery.includesData(query["include"])
        let (entries, next) = try await operations.events(filter, limit: try ListingQuery.limit(query["limit"]),
                                                          before: try ListingQuery.cursor(query["cursor"]), withData: withData)
        return try answer(AdminAPI.EventsPage(events: entries.map { AdminAPI.Entry($0, whole: withData) }, nextCursor: next.map(String.init)))
    }

    /// `GET /admin/events/export`: JSON lines, written 64 KiB at a time as the pages come.
    static func export(_ request: Request, _ operations: any Operations) throws -> Response {
        let filter = try EventFilter(query: queryValues(request))
        let body = ResponseBody { writer in
            var buffer: [UInt8] = []
            try await operations.export(filter) { entry in
                // The stream's own writer: the encoder's bytes, written straight into the buffer.
                AdminAPI.Entry(entry, whole: true).writeJSON(into: &buffer)
                buffer.append(UInt8(ascii: "\n"))
                if buffer.count >= 64 << 10 {
                    try await writer.write(ByteBuffer(bytes: buffer))
                    buffer.removeAll(keepingCapacity: true)
                }
            }
            if !buffer.isEmpty { try await writer.write(ByteBuffer(bytes: buffer)) }
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: [.contentType: "application/x-ndjson"], body: body)
    }

    /// `GET /admin/events/{id}`: every environment's entry of the id (dedupe is per environment).
    static func show(_ request: Request, _ context: BridgeRequestContext, _ operations: any Operations) async throws -> Response {
        let key = context.parameters.get("id") ?? ""
        let environment = try ListingQuery.environment(queryValues(request)["env"])
        let entries = try await operations.event(key.removingPercentEncoding ?? key, environment: environment?.rawValue)
        guard !entries.isEmpty else {
            return JSONResponse.error(.notFound, code: "not-found", message: "no entry for \(key)\(environment.map { " in \($0.rawValue)" } ?? ""): unknown, or past retention")
        }
        return try answer(AdminAPI.Events(events: entries.map { AdminAPI.Entry($0, whole: true) }))
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
        var values: [String: String] = [:]
        for (key, value) in request.uri.queryParameters { values[String(key)] = String(value) }
        return values
    }
}
