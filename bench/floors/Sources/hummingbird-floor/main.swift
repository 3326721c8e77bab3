import Foundation
import Hummingbird

// `hummingbird-floor PORT` with FLOOR_TOKEN in the environment: `POST /webhooks/okra` collects
// the body and answers 200 when `Okra-Auth` is the token, 401 otherwise. Nothing else is done.

guard CommandLine.arguments.count == 2, let port = Int(CommandLine.arguments[1]),
      let token = ProcessInfo.processInfo.environment["FLOOR_TOKEN"], !token.isEmpty else {
    fatalError("usage: FLOOR_TOKEN=... hummingbird-floor PORT")
}
let router = Router()
router.post("/webhooks/okra") { request, _ -> Response in
    var request = request
    _ = try await request.collectBody(upTo: 1 << 20)
    let authorized = request.headers[.init("Okra-Auth")!] == token
    let body = authorized ? #"{"status":"accepted"}"# : #"{"error":"unauthorized"}"#
    return Response(status: authorized ? .ok : .unauthorized, headers: [.contentType: "application/json"],
                    body: .init(byteBuffer: ByteBuffer(string: body)))
}
let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)))
try await app.runService()
