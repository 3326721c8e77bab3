import Foundation
import Hummingbird
import Logging
@testable import OkraHTTP
import OkraIngest
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
        let port = Mutex<Int?>(nil)
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                              onServerRunning: { channel in port.withLock { $0 = channel.localAddress?.port } }, logger: logger)
        let group = ServiceGroup(services: [app], gracefulShutdownSignals: [], logger: logger)
        let running = Task { try await group.run() }
        defer { running.cancel() }
        var bound: Int?
        for _ in 0..<500 where bound == nil {
            bound = port.withLock { $0 }
            try await Task.sleep(for: .milliseconds(10))
        }
        let answer = try await HTTPAnswerTests.request(try #require(bound), "GET", "/fails")
        #expect(answer.status == 500)
        #expect(answer.error?["code"] as? String == "internal")
        #expect(!answer.body.contains("secret-detail"))
        #expect(counted.withLock { $0 } == [.internalError])
        await group.triggerGracefulShutdown()
        _ = try? await running.value
    }
}
