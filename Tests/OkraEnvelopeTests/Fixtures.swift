import Foundation
import OkraEnvelope

/// The golden fixtures under Tests/OkraEnvelopeTests/Fixtures, copied from Okra's docs in
/// ../shared/seeds: `payloads/NAME.json` (valid), `payloads/NAME.invalid.json` (as published,
/// not valid JSON), `envelopes/NAME.json` (expected, pretty), `rejections/NAME.txt`.
enum Fixtures {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")
    static let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    /// The receive time every golden envelope was made with.
    static let receivedAt = Date(timeIntervalSince1970: 1_767_225_600) // 2026-01-01T00:00:00Z

    static func names(invalid: Bool) -> [String] {
        let files = (try? FileManager.default.contentsOfDirectory(atPath: directory.appendingPathComponent("payloads").path)) ?? []
        return files.filter { $0.hasSuffix(".json") && $0.hasSuffix(".invalid.json") == invalid }
            .map { String($0.dropLast(invalid ? ".invalid.json".count : ".json".count)) }
            .sorted()
    }

    static func bytes(_ relativePath: String) throws -> [UInt8] {
        Array(try Data(contentsOf: directory.appendingPathComponent(relativePath)))
    }

    static func payload(_ name: String) throws -> [UInt8] { try bytes("payloads/\(name).json") }

    static func event(_ name: String) throws -> CanonicalEvent {
        try Normalizer.normalize(try payload(name), receivedAt: receivedAt).get()
    }

    static var schema: JSONValue {
        get throws {
            let data = try Data(contentsOf: repositoryRoot.appendingPathComponent("docs/envelope.schema.json"))
            return try JSONParser.parse(Array(data)).value
        }
    }
}
