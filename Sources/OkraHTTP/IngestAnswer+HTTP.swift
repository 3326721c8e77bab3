import Hummingbird
import OkraIngest

/// What the HTTP layer returns for each pipeline answer (the contract's §3).
extension IngestAnswer {
    /// The status code.
    var status: HTTPResponse.Status {
        switch self {
        case .accepted: .ok
        case .refused(.unauthorized): .unauthorized
        case .refused: .forbidden
        case .tooLarge: .contentTooLarge
        case .rejected: .badRequest
        case .unavailable: .serviceUnavailable
        }
    }

    /// The error's `code` and `message`; nil for a 200.
    var error: (code: String, message: String)? {
        switch self {
        case .accepted:
            return nil
        case .refused(let refusal):
            let code = switch refusal {
            case .unauthorized: "unauthorized"
            case .addressNotAllowed: "forbidden"
            case .environmentMismatch: "environment-mismatch"
            }
            return (code, refusal.description)
        case .tooLarge(let limit):
            return ("too-large", "the body is larger than \(limit) bytes")
        case .rejected(let rejection):
            return (rejection.reason.rawValue, rejection.message)
        case .unavailable:
            return ("unavailable", "the event could not be made durable; retry later")
        }
    }

    /// The whole response: status, JSON body, and `Retry-After` for a 503.
    var response: Response {
        guard let error else {
            guard case .accepted(let id, let duplicate) = self else { preconditionFailure("only an accepted answer has no error") }
            return JSONResponse.make(.ok, #"{"status":"accepted","id":\#(JSONResponse.quoted(id)),"duplicate":\#(duplicate)}"#)
        }
        var response = JSONResponse.error(status, code: error.code, message: error.message)
        if case .unavailable(let seconds) = self { response.headers[.retryAfter] = String(seconds) }
        return response
    }
}
