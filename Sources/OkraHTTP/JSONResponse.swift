import Hummingbird
import NIOCore
import OkraEnvelope

/// JSON bodies of both listeners, every string quoted by `JSONWriter`.
enum JSONResponse {
    /// A JSON response with `status` and `body`.
    static func make(_ status: HTTPResponse.Status, _ body: String) -> Response {
        Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: body)))
    }

    /// The contract's error shape (§3): `{"error":{"code":...,"message":...}}`.
    static func error(_ status: HTTPResponse.Status, code: String, message: String) -> Response {
        make(status, errorBody(code: code, message: message))
    }

    /// The error shape's text.
    static func errorBody(code: String, message: String) -> String {
        #"{"error":{"code":\#(quoted(code)),"message":\#(quoted(message))}}"#
    }

    /// `text` as a JSON string literal.
    static func quoted(_ text: String) -> String { JSONWriter.quoted(text) }
}
