import Foundation
import OkraEnvelope
import OkraRouting
import Testing

/// Every seed payload under the repository's routes.json goes where seed-routes.tsv says.
@Suite("Seed payloads under routes.json")
struct SeedRoutingTests {
    static let root = RouteTableValidationTests.repositoryRoot
    static let expectations: [(String, String)] = {
        let text = try! String(contentsOf: URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("seed-routes.tsv"), encoding: .utf8)
        return text.split(separator: "\n").map { line in
            let parts = line.split(separator: "\t", maxSplits: 1)
            return (String(parts[0]), parts.count > 1 ? String(parts[1]) : "")
        }
    }()

    @Test("the expectations cover every valid seed fixture")
    func coversEverySeed() throws {
        let payloads = try FileManager.default.contentsOfDirectory(atPath: Self.root.appendingPathComponent("Tests/OkraEnvelopeTests/Fixtures/payloads").path)
            .filter { $0.hasSuffix(".json") && !$0.hasSuffix(".invalid.json") }.map { String($0.dropLast(5)) }
        #expect(Set(payloads) == Set(Self.expectations.map(\.0)))
    }

    @Test("topics and keys", arguments: expectations)
    func routed(_ name: String, _ expected: String) throws {
        let table = try RouteTable.load(path: Self.root.appendingPathComponent("routes.json").path)
        let body = Array(try Data(contentsOf: Self.root.appendingPathComponent("Tests/OkraEnvelopeTests/Fixtures/payloads/\(name).json")))
        // A fixed receive time: the ids of payloads without a time of their own cover its minute.
        let receivedAt = Date(timeIntervalSince1970: 1_767_225_600) // 2026-01-01T00:00:00Z
        let event = try Normalizer.normalize(body, receivedAt: receivedAt).get()
        let decision = Router.route(event, table: table, receivedAt: receivedAt)
        let lines = decision.records.map { record in
            let via = record.routeName.map { "route \($0)" } ?? (decision.deadLettered ? "dead letter (unrecognized)" : "defaults")
            return "topic=\(record.topic) key=\(record.key ?? "(none)") via \(via)"
        }
        #expect(lines.joined(separator: "|") == expected)
    }
}
