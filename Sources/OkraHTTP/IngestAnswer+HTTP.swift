import Hummingbird
import NIOCore
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

    /// The JSON body: the id and whether it was a duplicate, or the contract's error.
    var bodyText: String {
        guard let error else {
            guard case .accepted(let id, let duplicate) = self else { preconditionFailure("only an accepted answer has no error") }
            return #"{"status":"accepted","id":\#(JSONResponse.quoted(id)),"duplicate":\#(duplicate)}"#
        }
        return JSONResponse.errorBody(code: error.code, message: error.message)
    }

    /// The headers besides the length: the JSON type, and `Retry-After` for a 503.
    var headerFields: HTTPFields {
        var fields: HTTPFields = [.contentType: "application/json"]
        if case .unavailable(let seconds) = self { fields[.retryAfter] = String(seconds) }
        return fields
    }

    /// The whole response, as the router returns it.
    var response: Response {
        Response(status: status, headers: headerFields, body: .init(byteBuffer: ByteBuffer(string: bodyText)))
    }
}
