import ArgumentParser
import Foundation
import Logging
import OkraEnvelope
import OkraKafka
import OkraOperations
import OkraRouting

/// `okra-bridge topics plan|create`: the concrete topics `routes.json` can produce, which of them
/// the cluster has, and (with `create --execute`) the missing ones made (§7).
struct TopicsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "topics",
        abstract: "The topics the routes can produce: which exist, and the missing ones created.",
        subcommands: [Plan.self, Create.self, AsyncAPI.self]
    )

    /// A planned topic and what the cluster says of it.
    struct Row {
        let topic: PlannedTopic
        /// Its partition count when it exists.
        let partitions: Int?
    }

    /// The plan, checked against the cluster's topics (one all-topics metadata request).
    static func rows(_ environment: RoutedEnvironmentOptions, _ connection: KafkaConnectionOptions) async throws -> [Row] {
        let table = try environment.table()
        let plan = TopicPlanner.plan(table, environments: try environment.environments())
        let admin = try connection.admin(logger: .quiet)
        let cluster: [String: Int]
        do {
            cluster = try await admin.clusterTopics().topics
        } catch {
            throw UserError("cannot list the cluster's topics: \(error.reason)")
        }
        return plan.map { Row(topic: $0, partitions: cluster[$0.name]) }
    }

    /// Whether standard output is a terminal (a table), or a pipe or file (JSON lines).
    static var toTerminal: Bool { isatty(STDOUT_FILENO) == 1 }

    /// Prints the rows as a table or as JSON lines, with `extra` members in each line.
    static func print(_ rows: [Row], action: (Row) -> String?) {
        if toTerminal {
            let width = max(5, rows.map(\.topic.name.count).max() ?? 0)
            Swift.print("TOPIC".padding(toLength: width, withPad: " ", startingAt: 0) + "  EXISTS  PARTITIONS  SENT BY")
            for row in rows {
                let exists = row.partitions == nil ? "no" : "yes"
                let partitions = row.partitions.map(String.init) ?? "-"
                let sources = row.topic.sources.map(\.description)
                let sentBy = sources.count <= 2 ? sources.joined(separator: "; ") : "\(sources[0]); and \(sources.count - 1) more"
                var line = TerminalText.escaped(row.topic.name).padding(toLength: width, withPad: " ", startingAt: 0) + "  "
                line += exists.padding(toLength: 6, withPad: " ", startingAt: 0) + "  "
                line += partitions.padding(toLength: 10, withPad: " ", startingAt: 0) + "  " + TerminalText.escaped(sentBy)
                if let done = action(row) { line += "  [\(TerminalText.escaped(done))]" }
                Swift.print(line)
            }
        } else {
            for row in rows {
                var out: [UInt8] = []
                out += Array(#"{"topic":"#.utf8)
                JSONWriter.writeString(row.topic.name, into: &out)
                out += Array(#","exists":\#(row.partitions != nil),"partitions":\#(row.partitions.map(String.init) ?? "null"),"sources":["#.utf8)
                for (index, source) in row.topic.sources.enumerated() {
                    if index > 0 { out.append(UInt8(ascii: ",")) }
                    JSONWriter.writeString(source.description, into: &out)
                }
                out.append(UInt8(ascii: "]"))
                if let done = action(row) {
                    out += Array(#","action":"#.utf8)
                    JSONWriter.writeString(done, into: &out)
                }
                out.append(UInt8(ascii: "}"))
                // A broker's error text can hold any character: escaped for the terminal as JSON allows.
                Swift.print(TerminalText.escapingJSON(String(decoding: out, as: UTF8.self)))
            }
        }
    }

    struct Plan: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List every topic the routes can produce, and whether the cluster has it.",
            discussion: """
            The environments are those of the tokens given (--token, --token-file, as serve takes them; \
            production and sandbox without any; unknown too with --allow-unauthenticated), times each \
            product's outcomes, through the routes in order. A route matching on code or bank may or may \
            not match, so its topics and the ones after it are listed ("some"). The cluster is asked with \
            one all-topics metadata request, which never creates a topic. A table on a terminal, JSON lines otherwise.
            """
        )
        @OptionGroup var environment: RoutedEnvironmentOptions
        @OptionGroup var connection: KafkaConnectionOptions

        func run() async throws {
            TopicsCommand.print(try await TopicsCommand.rows(environment, connection)) { _ in nil }
        }
    }

    struct AsyncAPI: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "asyncapi",
            abstract: "Print an AsyncAPI 3.0 document of the planned topics and their messages (no broker needed).",
            discussion: "One channel per topic the routes can produce (the environments as for plan), each with its messages: the structured CloudEvent with the envelope's JSON Schema, the binary one with its ce_ headers, the dead letter; the key and the replay header. docs/consumers.md says what a consumer can rely on."
        )
        @OptionGroup var environment: RoutedEnvironmentOptions

        func run() throws {
            let plan = TopicPlanner.plan(try environment.table(), environments: try environment.environments())
            var output: [UInt8] = []
            JSONWriter.pretty(AsyncAPIDocument.make(topics: plan, version: BridgeVersion.version), into: &output)
            output.append(UInt8(ascii: "\n"))
            FileHandle.standardOutput.write(Data(output))
        }
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create the planned topics the cluster does not have (a dry run without --execute).",
            discussion: "An existing topic is never changed. Without --partitions and --replication-factor the broker's defaults apply (-1, KIP-464: num.partitions and default.replication.factor; Kafka 2.4 or later)."
        )
        @OptionGroup var environment: RoutedEnvironmentOptions
        @OptionGroup var connection: KafkaConnectionOptions
        @Option(help: "Partitions of each new topic (-1: the broker's default).") var partitions: Int32 = -1
        @Option(help: "Replicas of each new topic (-1: the broker's default).") var replicationFactor: Int32 = -1
        @Option(help: "A topic property as KEY=VALUE for each new topic (e.g. retention.ms=604800000); repeatable.") var config: [String] = []
        @Flag(help: "Create them; without it nothing is changed.") var execute = false

        func validate() throws {
            guard partitions == -1 || partitions >= 1 else { throw ValidationError("--partitions takes -1 or a count of at least 1") }
            guard replicationFactor == -1 || replicationFactor >= 1 else { throw ValidationError("--replication-factor takes -1 or a count of at least 1") }
        }

        func run() async throws {
            let topicConfig = try FlagValue.pairs(config, flag: "--config")
            let rows = try await TopicsCommand.rows(environment, connection)
            let missing = rows.filter { $0.partitions == nil }
            let settings = "partitions=\(partitions == -1 ? "-1 (the broker's default)" : "\(partitions)"), replication-factor=\(replicationFactor == -1 ? "-1 (the broker's default)" : "\(replicationFactor)")"
                + (topicConfig.isEmpty ? "" : ", config " + topicConfig.map { "\($0.0)=\($0.1)" }.joined(separator: ","))
            FileHandle.standardError.write(Data("okra-bridge: \(missing.count) of \(rows.count) planned topics are missing; \(execute ? "creating" : "would create") them with \(settings)\(execute ? "" : " (a dry run: add --execute)")\n".utf8))
            guard execute else {
                TopicsCommand.print(rows) { $0.partitions == nil ? "would create" : nil }
                return
            }
            let admin = try connection.admin(logger: .quiet)
            var outcomes: [String: String] = [:]
            var failures = 0
            for row in missing {
                do {
                    try await admin.createTopic(row.topic.name, partitions: partitions, replicationFactor: replicationFactor, config: topicConfig, ifNotExists: true)
                    outcomes[row.topic.name] = "created"
                } catch {
                    failures += 1
                    outcomes[row.topic.name] = "failed: \(error.reason)"
                }
            }
            TopicsCommand.print(rows) { outcomes[$0.topic.name] }
            if failures > 0 { throw UserError("\(failures) of \(missing.count) topics could not be created (see each line)") }
        }
    }
}
