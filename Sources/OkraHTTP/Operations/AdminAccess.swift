import Hummingbird
import OkraIngest
import OkraOperations

/// The admin listener's one gate (§9): which token a request carries, and whether its scopes
/// allow the route. 401 without a known token, 403 naming the scope the route needs.
enum AdminAccess {
    enum Outcome {
        case allowed(AdminCaller)
        case refused(Response)
    }

    /// Whether `request` may use a route needing `needed` (nil: any scope).
    static func check(_ request: Request, tokens: AdminTokenSet, needs needed: AdminScope?, what: String) -> Outcome {
        guard let caller = tokens.caller(authorization: request.headers[.authorization]) else {
            var refused = JSONResponse.error(.unauthorized, code: "unauthorized", message: "\(what) needs Authorization: Bearer with an admin token")
            refused.headers[.wwwAuthenticate] = #"Bearer realm="okra-bridge admin""#
            return .refused(refused)
        }
        if let needed, !caller.may(needed) {
            let held = caller.scopes.sorted().map(\.rawValue).joined(separator: ",")
            return .refused(JSONResponse.error(.forbidden, code: "forbidden",
                                               message: "\(what) needs the \(needed.rawValue) scope (or operate); the token \(caller.name) has \(held)"))
        }
        return .allowed(caller)
    }
}
