import Foundation
import Hummingbird
import Logging
@testable import OkraHTTP
import OkraIngest
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

@Suite("Operations JSON")
struct OperationsJSONTests {
    @Test("a replay's JSON filter takes true and false as JSON booleans, strings as they are")
    func replayFilter() throws {
        let object = try #require(try JSONSerialization.jsonObject(with: Data(#"{"deadletter":true,"type":"okra.payment.*","since":"2026-12-01T00:00:00Z"}"#.utf8)) as? [String: Any])
        let filter = try OperationsJSON.filter(json: object)
        #expect(filter.deadletter == true)
        #expect(filter.type == "okra.payment.*")
        #expect(filter.since == Date(timeIntervalSince1970: 1_796_083_200)) // 2026-12-01T00:00:00Z
        let off = try OperationsJSON.filter(json: ["deadletter": false])
        #expect(off.deadletter == false)
        #expect(throws: OperationsError.self) { try OperationsJSON.filter(json: ["deadletter": 1]) }
    }
}
