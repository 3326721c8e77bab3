import ArgumentParser
import Foundation
import OkraEnvelope
import OkraIngest
import OkraRouting

/// `okra-bridge routes check [FILE]`: validate a routes file.
struct RoutesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "routes",
        abstract: "Work with routes files.",
        subcommands: [RoutesCheckCommand.self]
    )
}

struct RoutesCheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Validate a routes file; exit 1 listing every problem when it is invalid."
    )

    @Argument(help: "The routes file.")
    var file: String = "routes.json"

    func run() throws {
        do {
            let table = try RouteTable.load(path: file)
            print("\(file): valid, \(table.routes.count) route\(table.routes.count == 1 ? "" : "s"), dead letter \(table.deadLetterTopic), sha256 \(table.sha256)")
            for line in table.shadowedRoutes { print("  warning: \(line)") }
        } catch {
            var lines = "\(file): invalid routes file, \(error.problems.count) problem\(error.problems.count == 1 ? "" : "s"):"
            for problem in error.problems { lines += "\n  \(problem)" }
            throw UserError(lines)
        }
    }
}

/// `okra-bridge route [--routes FILE] [FILE|-]`: a dry run of routing one payload.
struct RouteCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "route",
        abstract: "Show where one payload would go: its envelope, the routes that match, and each record's topic and key.",
        discussion: "Nothing is published. A body that is not a JSON object shows the dead-letter record it would become."
    )

    @Option(help: "The routes file.")
    var routes: String = "routes.json"

    @Argument(help: "The payload file, or '-' for standard input.")
    var file: String?

    @Option(help: "The receive time to record (RFC 3339), for reproducible output. Default: now.")
    var receivedAt: String?

    @Option(help: "The environment of the token it would arrive with (production or sandbox).")
    var env: String?

    func run() throws {
        let table: RouteTable
        do {
            table = try RouteTable.load(path: routes)
        } catch {
            throw UserError("--routes \(routes): \(error)")
        }
        let received = try receiveTime(receivedAt)
        let token = try tokenEnvironment(env)
        let body = try readInput(file)
        var out = ""
        switch decide(body: body, sender: VerifiedSender(environment: token), receivedAt: received, routes: table) {
        case .rejected(let rejection, let record):
            out += "rejected: \(rejection)\n"
            out += "record: topic=\(record.topic) key=(none) reason=\(rejection.reason)\n"
        case .refused(let refusal, _):
            // What the webhook path answers 403 with, word for word.
            throw UserError("refused (403 environment-mismatch): \(refusal)")
        case .routed(let event, let decision):
            out += String(decoding: event.oneLineJSONBytes(), as: UTF8.self) + "\n"
            out += "matched: \(decision.matchedRoutes.isEmpty ? "(no route)" : decision.matchedRoutes.joined(separator: ", "))\n"
            if decision.dropped {
                out += "dropped: acknowledged and logged, not published\n"
            }
            for record in decision.records {
                let via = record.routeName.map { "route \($0)" } ?? (decision.deadLettered ? "dead letter (unrecognized)" : "defaults")
                out += "record: topic=\(record.topic) key=\(record.key ?? "(none)") via \(via)\n"
            }
        }
        FileHandle.standardOutput.write(Data(out.utf8))
    }
}
