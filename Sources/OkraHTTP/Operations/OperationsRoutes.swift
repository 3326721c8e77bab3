import Foundation
import Hummingbird
import NIOCore
import OkraIngest

/// The operations API on the admin listener (§9), behind the admin token.
enum OperationsRoutes {
    /// Where the API stands: served, off for want of an admin token, or absent in direct mode.
    enum Availability: Sendable {
        case served(any Operations, token: String)
        case noToken
        case directMode
    }

    static let paths = ["/admin/events": "GET", "/admin/events/export": "GET", "/admin/replay": "POST",
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

    private static func add(to group: RouterGroup<BridgeRequestContext>, _ operations: any Operations, token: [UInt8]) {
        // Every answer here can carry PII: the token is checked before anything else.
        func guarded(_ handler: @escaping @Sendable (Request) async throws -> Response) -> @Sendable (Request, BridgeRequestContext) async throws -> Response {
            { request, _ in
                guard BearerToken.authorizes(request.headers[.authorization], expected: token) else {
                    var refused = JSONResponse.error(.unauthorized, code: "unauthorized", message: "the operations API needs Authorization: Bearer with the admin token")
                    refused.headers[.wwwAuthenticate] = #"Bearer realm="okra-bridge admin""#
                    return refused
                }
                do {
                    return try await handler(request)
                } catch let error as OperationsError {
                    return JSONResponse.error(.badRequest, code: "bad-request", message: error.description)
                } catch let error as OperationsUnavailable {
                    var busy = JSONResponse.error(.serviceUnavailable, code: "unavailable", message: error.description)
                    busy.headers[.retryAfter] = "5"
                    return busy
                }
            }
        }
        group.get("events", use: guarded { request in
            let query = queryValues(request)
            let filter = try OperationsJSON.filter(query)
            let limit = try limitValue(query["limit"])
            let cursor = try query["cursor"].map { text throws(OperationsError) -> Int64 in
                guard let number = Int64(text) else { throw OperationsError("cursor takes the next_cursor of a previous answer, got \(text)") }
                return number
            }
            let (entries, next) = try await operations.events(filter, limit: limit, before: cursor)
            var out = Array(#"{"events":["#.utf8)
            for (index, entry) in entries.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                OperationsJSON.entry(entry, whole: false, into: &out)
            }
            out += Array(#"],"next_cursor":\#(next.map { "\"\($0)\"" } ?? "null")}"#.utf8)
            return json(.ok, out)
        })
        group.get("events/export", use: guarded { request in
            let filter = try OperationsJSON.filter(queryValues(request))
            let body = ResponseBody { writer in
                var buffer: [UInt8] = []
                try await operations.export(filter) { entry in
                    OperationsJSON.entry(entry, whole: true, into: &buffer)
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
        })
        group.get("events/:id", use: guarded { request in
            let key = String(request.uri.path.split(separator: "/").last ?? "")
            let environment = try OperationsJSON.environment(queryValues(request)["env"])
            let entries = try await operations.event(key.removingPercentEncoding ?? key, environment: environment)
            guard !entries.isEmpty else {
                return JSONResponse.error(.notFound, code: "not-found", message: "no entry for \(key)\(environment.map { " in \($0)" } ?? ""): unknown, or past retention")
            }
            // An id has an entry per environment it arrived in (dedupe is per environment): all of them.
            var out = Array(#"{"events":["#.utf8)
            for (index, entry) in entries.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                OperationsJSON.entry(entry, whole: true, into: &out)
            }
            out += Array("]}".utf8)
            return json(.ok, out)
        })
        group.post("replay", use: guarded { request in
            var request = request
            let object = try OperationsJSON.object(Array(buffer: try await request.collectBody(upTo: 1 << 20)))
            var filter: EventFilter?
            if let values = object["filter"] as? [String: Any] {
                filter = try OperationsJSON.filter(json: values)
            }
            let ids = (object["ids"] as? [Any] ?? []).map { "\($0)" }
            let execute = object["execute"] as? Bool ?? false
            let plan = try await operations.replay(filter, ids: ids, execute: execute)
            return JSONResponse.make(.ok, OperationsJSON.plan(plan))
        })
        group.get("parked", use: guarded { request in
            let limit = try limitValue(queryValues(request)["limit"])
            let records = try await operations.parked(limit: limit)
            return JSONResponse.make(.ok, #"{"parked":[\#(records.map(OperationsJSON.parked).joined(separator: ","))]}"#)
        })
        for (path, redrive) in [("parked/redrive", true), ("parked/discard", false)] {
            group.post(RouterPath(stringLiteral: path), use: guarded { request in
                var request = request
                let selection = try OperationsJSON.selection(OperationsJSON.object(Array(buffer: try await request.collectBody(upTo: 1 << 20))))
                let count = redrive ? try await operations.redrive(selection) : try await operations.discard(selection)
                return JSONResponse.make(.ok, #"{"\#(redrive ? "redriven" : "discarded")":\#(count)}"#)
            })
        }
    }

    static func queryValues(_ request: Request) -> [String: String] {
        var values: [String: String] = [:]
        for (key, value) in request.uri.queryParameters { values[String(key)] = String(value) }
        return values
    }

    static func limitValue(_ text: String?) throws(OperationsError) -> Int {
        guard let text else { return 100 }
        guard let limit = Int(text), (1...1000).contains(limit) else { throw OperationsError("limit takes 1 to 1000, got \(text)") }
        return limit
    }

    static func json(_ status: HTTPResponse.Status, _ bytes: [UInt8]) -> Response {
        Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }
}
