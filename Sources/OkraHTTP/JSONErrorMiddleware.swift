import Hummingbird
import OkraIngest

/// Every error either listener returns is the contract's JSON (§3), 404 and 405 included: a path
/// the bridge serves with another method is 405 with `Allow`, any other path 404. Counted in
/// `okra_bridge_requests_total{result="not_found"}` through the pipeline's counters; any other
/// error is the contract's 500, counted as `result="internal"`.
struct JSONErrorMiddleware: RouterMiddleware {
    typealias Context = BridgeRequestContext

    /// The methods of each path the listeners serve; a key ending in `/*` stands for every path
    /// under it (`/admin/events/*`: an event's page).
    let allowed: [String: String]
    let count: @Sendable (ListenerRefusal) -> Void

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError where error.status == .notFound {
            count(.notFound)
            let path = request.uri.path
            let methods = allowed[path] ?? allowed.first { key, _ in key.hasSuffix("/*") && path.hasPrefix(key.dropLast()) && path.count > key.count - 1 }?.value
            if let methods {
                var response = JSONResponse.error(.methodNotAllowed, code: "method-not-allowed",
                                                  message: "\(request.method) is not served at \(request.uri.path); use \(methods)")
                response.headers[.allow] = methods
                return response
            }
            return JSONResponse.error(.notFound, code: "not-found", message: "nothing is served at \(request.uri.path)")
        } catch let error as HTTPError {
            return JSONResponse.error(error.status, code: "http-\(error.status.code)", message: error.body ?? error.status.reasonPhrase)
        } catch {
            count(.internalError)
            // Not Hummingbird's empty 500: the contract's shape, and nothing of the error itself.
            return JSONResponse.error(.internalServerError, code: "internal", message: "the bridge could not answer this request")
        }
    }
}
