import ArgumentParser
import Foundation
import OkraEnvelope
import OkraIngest

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

    @Option(help: "The environment of the token it would arrive with (production or sandbox): okraenv and source become it.")
    var env: String?

    @Flag(help: "Print the envelope's JSON Schema (docs/envelope.schema.json) instead, and read no payload.")
    var schema = false

    func run() throws {
        if schema {
            var output: [UInt8] = []
            JSONWriter.pretty(EnvelopeSchema.structured, into: &output)
            output.append(UInt8(ascii: "\n"))
            FileHandle.standardOutput.write(Data(output))
            return
        }
        let received = try receiveTime(receivedAt)
        let token = try tokenEnvironment(env)
        let body = try readInput(file)
        switch Normalizer.normalize(body, receivedAt: received) {
        case .success(let normalized):
            let event = try bind(normalized, to: token)
            var output = pretty ? event.prettyJSONBytes() : event.oneLineJSONBytes()
            output.append(UInt8(ascii: "\n"))
            FileHandle.standardOutput.write(Data(output))
        case .failure(let rejection):
            throw UserError("\(file.flatMap { $0 == "-" ? nil : $0 } ?? "stdin"): \(rejection)")
        }
    }
}

extension ParsableCommand {
    /// The `--env` environment, or nil.
    func tokenEnvironment(_ option: String?) throws -> OkraEnvironment? {
        guard let option else { return nil }
        guard let environment = OkraEnvironment(rawValue: option), environment != .unknown else {
            throw UsageError("--env takes production or sandbox, got \(option)")
        }
        return environment
    }

    /// `event` as it would arrive with a token of `token` (§1); a failed run (1) when the bridge
    /// would refuse it (the payload names the other environment).
    func bind(_ event: CanonicalEvent, to token: OkraEnvironment?) throws(UserError) -> CanonicalEvent {
        guard let token else { return event }
        guard let bound = event.bound(to: token) else {
            throw UserError("refused (403 environment-mismatch): \(SenderCheck.Refusal.environmentMismatch(token: token, payload: event.environment))")
        }
        return bound
    }

    /// The `--received-at` time, or now.
    func receiveTime(_ option: String?) throws -> Date {
        guard let option else { return Date() }
        guard RFC3339.isValid(option), let date = ISO8601DateFormatter.lenient(option) else {
            throw UsageError("--received-at takes an RFC 3339 time such as 2026-01-01T00:00:00Z, got \(option)")
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
