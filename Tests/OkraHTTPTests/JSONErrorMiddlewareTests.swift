import Foundation
import Hummingbird
import Logging
@testable import OkraHTTP
import OkraIngest
import OkraOperations
import OkraTestSupport
import ServiceLifecycle
import Synchronization
import Testing

@Suite("JSON errors")
struct JSONErrorMiddlewareTests {
    struct Unexpected: Error, CustomStringConvertible {
        var description: String { "secret-detail-that-must-not-leak" }
    }

    @Test("an error no route expected is the contract's JSON 500, without the error's text")
    func unexpectedError() async throws {
        let router = Router(context: BridgeRequestContext.self)
        let counted = Mutex<[ListenerRefusal]>([])
        router.middlewares.add(JSONErrorMiddleware(allowed: [:], count: { refusal in counted.withLock { $0.append(refusal) } }))
        router.get("/fails") { _, _ -> Response in throw Unexpected() }
        var logger = Logger(label: "json-error-test")
        logger.logLevel = .critical
        try await Loopback.serve([{ running in
            Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)), onServerRunning: running, logger: logger)
        }], logger: logger) { ports in
            let answer = try await HTTPAnswerTests.request(ports[0], "GET", "/fails")
            #expect(answer.status == 500)
            #expect(answer.error?["code"] as? String == "internal")
            #expect(!answer.body.contains("secret-detail"))
            #expect(counted.withLock { $0 } == [.internalError])
        }
    }
}
