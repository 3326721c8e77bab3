import ArgumentParser
import Foundation
import OkraEnvelope

/// `okra-bridge normalize [FILE|-]`: print the canonical envelope of one payload.
struct NormalizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "normalize",
        abstract: "Print the CloudEvents envelope for one Okra payload (no Kafka needed).",
        discussion: "Reads FILE, or standard input when FILE is '-' or absent. Invalid input exits 1 with one line on stderr saying what is wrong and where."
    )

    @Argument(help: "The payload file, or '-' for standard input.")
    var file: String?

    @Flag(help: "Indent the output for people.")
    var pretty = false

    @Option(help: "The receive time to record (RFC 3339), for reproducible output. Default: now.")
    var receivedAt: String?

    func run() throws {
        let received = try receiveTime(receivedAt)
        let body = readInput(file)
        switch Normalizer.normalize(body, receivedAt: received) {
        case .success(let event):
            var output = pretty ? event.prettyJSONBytes() : event.oneLineJSONBytes()
            output.append(UInt8(ascii: "\n"))
            FileHandle.standardOutput.write(Data(output))
        case .failure(let rejection):
            fail(UserError("\(file.flatMap { $0 == "-" ? nil : $0 } ?? "stdin"): \(rejection)"))
        }
    }
}

extension ParsableCommand {
    /// The `--received-at` time, or now.
    func receiveTime(_ option: String?) throws -> Date {
        guard let option else { return Date() }
        guard RFC3339.isValid(option), let date = ISO8601DateFormatter.lenient(option) else {
            throw ValidationError("--received-at takes an RFC 3339 time such as 2026-01-01T00:00:00Z")
        }
        return date
    }
}

extension ISO8601DateFormatter {
    /// Parses RFC 3339 with or without fractional seconds.
    static func lenient(_ text: String) -> Date? {
        let withFraction = ISO8601DateFormatter()
        withFraction.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let date = withFraction.date(from: text) { return date }
        return ISO8601DateFormatter().date(from: text)
    }
}
