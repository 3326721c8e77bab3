import Foundation
import Logging
@testable import OkraIngest
import OkraRouting
import OkraTestSupport
import Synchronization
import Testing

/// Refused webhooks in the log: once a minute per reason and address, with the count since the
/// last line; never a token.
@Suite("Refusal lines")
struct RefusalLinesTests {
    /// The refusal lines' metadata.
    static func refusals(_ handler: CapturingLogHandler) -> [[String: String]] {
        handler.captured.filter { $0.message == "webhook refused" }.map(\.metadata)
    }

    @Test("a line per reason and address at most once a minute, counting the refusals since the last line")
    func oncePerMinute() {
        let handler = CapturingLogHandler()
        let start = ContinuousClock.now
        let offset = Mutex(Duration.zero)
        let lines = RefusalLines(logger: Logger(label: "test") { _ in handler }, now: { start + offset.withLock { $0 } })
        for _ in 0..<5 { lines.refused("unauthorized", address: "203.0.113.7") }
        lines.refused("unauthorized", address: "198.51.100.2")
        lines.refused("address_not_allowed", address: "203.0.113.7")
        #expect(Self.refusals(handler).map { [$0["reason"]!, $0["remote.address"]!, $0["refused.count"]!] } == [
            ["unauthorized", "203.0.113.7", "1"], ["unauthorized", "198.51.100.2", "1"], ["address_not_allowed", "203.0.113.7", "1"],
        ])
        offset.withLock { $0 = .seconds(61) }
        lines.refused("unauthorized", address: "203.0.113.7")
        #expect(Self.refusals(handler).last?["refused.count"] == "5", "the four held back and this one")
        #expect(Self.refusals(handler).count == 4)
    }

    @Test("the pipeline logs a refused token with its address, never the token")
    func throughTheSenderCheck() throws {
        let handler = CapturingLogHandler()
        let check = try SenderCheck(tokens: ["production=refusal-lines-token-0123456789"], allowIPs: [], trustedProxies: [], allowUnauthenticated: false)
        let ingest = Ingest(senderCheck: check, routes: FixedRoutes(try RouteTable.load(Array(#"{"version":1,"defaults":{"topic":"t"},"deadLetter":{"topic":"dl"},"routes":[]}"#.utf8))),
                            sink: InMemorySink(), logger: Logger(label: "test") { _ in handler })
        let request = DeliveryRequest(peer: "192.0.2.9", forwardedFor: [], okraAuth: "wrong-token-wrong-token-0123", authorization: nil)
        for _ in 0..<3 { _ = ingest.verify(request) }
        #expect(Self.refusals(handler).count == 1)
        #expect(Self.refusals(handler).first?["reason"] == "unauthorized" && Self.refusals(handler).first?["remote.address"] == "192.0.2.9")
        let all = handler.captured.map { "\($0.message) \($0.metadata)" }.joined()
        #expect(!all.contains("wrong-token") && !all.contains("refusal-lines-token"))
    }
}
