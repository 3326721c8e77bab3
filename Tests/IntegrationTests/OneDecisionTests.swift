import Foundation
import Logging
import OkraEnvelope
import OkraIngest
import OkraOperations
import OkraRouting
import OkraTestSupport
import Testing

/// The pipeline's decision is one function: the webhook path, a replay and `okra-bridge route`
/// come to the same outcome for every seed payload, from each kind of sender.
@Suite("One decision (webhook, replay, route)")
struct OneDecisionTests {
    static let received = Date(timeIntervalSince1970: 1_767_225_600)
    static let receivedText = "2026-01-01T00:00:00Z"

    /// What any of the three did with a body: records (topic and key), a refusal's line, or nothing.
    enum Outcome: Equatable, CustomStringConvertible {
        case records([String])
        case refused(String)

        var description: String {
            switch self {
            case .records(let records): records.joined(separator: " ")
            case .refused(let line): "refused: \(line)"
            }
        }

        init(_ records: [RoutedRecord]) { self = .records(records.map { "topic=\($0.topic) key=\($0.key ?? "(none)")" }) }
    }

    static var payloads: [URL] {
        get throws {
            try FileManager.default.contentsOfDirectory(at: CommandLineTests.payloads, includingPropertiesForKeys: nil)
                .filter { $0.pathExtension == "json" }.sorted { $0.lastPathComponent < $1.lastPathComponent }
        }
    }

    @Test("every seed, from no token, a production token and a sandbox token: the same records or the same refusal through all three")
    func sameOutcomeEverywhere() async throws {
        let routesPath = DevBroker.repositoryRoot.appendingPathComponent("routes.json").path
        let table = try RouteTable.load(path: routesPath)
        let payloads = try Self.payloads
        #expect(payloads.count >= 40)
        var refusals = 0
        for environment in [nil, OkraEnvironment.production, .sandbox] {
            for payload in payloads {
                let body = try Array(Data(contentsOf: payload))
                let sender = VerifiedSender(environment: environment)
                let context = "\(payload.lastPathComponent) from \(environment?.rawValue ?? "no token")"

                // The decision itself.
                let decided: Outcome = switch decide(body: body, sender: sender, receivedAt: Self.received, routes: table) {
                case .rejected(_, let record): Outcome([record])
                case .refused(let refusal, _): .refused(refusal.description)
                case .routed(_, let routing): Outcome(routing.records)
                }
                if case .refused = decided { refusals += 1 }

                // The webhook path: the sink's records, or the 403's message.
                let sink = InMemorySink()
                let ingest = Ingest(senderCheck: try SenderCheck(tokens: [], allowIPs: [], trustedProxies: [], allowUnauthenticated: true),
                                    routes: FixedRoutes(table), sink: sink, logger: Logger(label: "one-decision"))
                let answer = await ingest.ingest(VerifiedDelivery(sender: sender, body: body, receivedAt: Self.received))
                let webhook: Outcome = if case .refused(let refusal) = answer { .refused(refusal.description) }
                    else { Outcome(sink.accepted.flatMap(\.records)) }
                #expect(webhook == decided, "webhook: \(context)")
                if case .refused = decided { #expect(sink.accepted.isEmpty, "a refused body reaches nothing: \(context)") }

                // A replay of the body as a dead letter an older bridge kept: the same records
                // (marked as replayed), or refused and nothing published.
                let entry = LogEntry(entry: 1, id: nil, recordedAtMilliseconds: Int64(Self.received.timeIntervalSince1970 * 1000), envelope: nil,
                                     tokenEnvironment: environment, deadletter: true, reason: "unrecognized", body: body, duplicates: 0, records: [])
                let replay: Outcome = switch Replayer.reroute(entry, table: table) {
                case .refused: decided.isRefusal ? decided : .refused("(a replay refused it)")
                case .records(let records, _, _):
                    records.allSatisfy { $0.headers.contains { $0 == ("okra-bridge-replay", "true") } } ? Outcome(records) : .records(["not marked as a replay"])
                }
                #expect(replay == decided, "replay: \(context)")

                // okra-bridge route: its record lines, or exit 1 with the 403's message.
                var arguments = ["route", "--routes", routesPath, "--received-at", Self.receivedText]
                if let environment { arguments += ["--env", environment.rawValue] }
                let (status, output) = try await CommandLineTests.run(arguments + [payload.path])
                let routed: Outcome
                if status == 1, let line = output.split(separator: "\n").first(where: { $0.contains("refused (403 environment-mismatch): ") }) {
                    routed = .refused(String(line.split(separator: "refused (403 environment-mismatch): ", maxSplits: 1).last ?? ""))
                } else {
                    #expect(status == 0, "route: \(context): \(output)")
                    routed = .records(output.split(separator: "\n").filter { $0.hasPrefix("record: ") }.map { line in
                        // "record: topic=T key=K via ..." or "record: topic=T key=(none) reason=R"
                        line.dropFirst("record: ".count).split(separator: " ").prefix(2).joined(separator: " ")
                    })
                }
                #expect(routed == decided, "route: \(context)")
            }
        }
        // The seeds include production payloads sent with a sandbox token and the reverse.
        #expect(refusals > 0)
    }
}

extension OneDecisionTests.Outcome {
    var isRefusal: Bool { if case .refused = self { true } else { false } }
}
