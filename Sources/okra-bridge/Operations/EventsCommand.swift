import ArgumentParser
import Foundation
import OkraEnvelope
import OkraIngest

/// `okra-bridge events list|show|export|replay`: the event log, over the operations API (§9).
struct EventsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "events",
        abstract: "Search, show, export and replay the bridge's event log (durable mode, admin listener).",
        subcommands: [List.self, Show.self, Export.self, Replay.self]
    )

    /// The filters of §9 as flags.
    struct Filters: ParsableArguments {
        @Option(help: "Received at or after: a duration back from now (24h, 30m) or an RFC 3339 time.") var since: String?
        @Option(help: "Received before: a duration back from now or an RFC 3339 time.") var until: String?
        @Option(help: "The event id.") var id: String?
        @Option(help: "okrarecord.") var record: String?
        @Option(help: "okracustomer.") var customer: String?
        @Option(help: "okraaccount.") var account: String?
        @Option(help: "The type, * for any run of characters (okra.payment.*).") var type: String?
        @Option(help: "okraproduct.") var product: String?
        @Option(help: "okraoutcome.") var outcome: String?
        @Option(help: "okraenv.") var env: String?
        @Option(help: "okracode, * for any run of characters.") var code: String?
        @Option(help: "Entries with a record in this state: pending, published, parked or dropped.") var state: String?
        @Option(help: "true for dead letters only, false for events only.") var deadletter: Bool?

        /// The filters as query items (times as RFC 3339). A word the API would refuse (a
        /// product, outcome, env or state it does not know) is a usage error here, with the API's
        /// own message.
        func query(now: Date = Date()) throws -> [(String, String)] {
            do {
                if let product { _ = try EventFilter.word(product, for: "product", as: OkraProduct.self) }
                if let outcome { _ = try EventFilter.word(outcome, for: "outcome", as: OkraOutcome.self) }
                if let env { _ = try EventFilter.word(env, for: "env", as: OkraEnvironment.self) }
                if let state { _ = try EventFilter.word(state, for: "state", as: LoggedRecord.State.self) }
            } catch {
                throw UsageError("--\(error.description)")
            }
            var items: [(String, String)] = []
            if let since { items.append(("since", try Self.time(since, flag: "--since", now: now))) }
            if let until { items.append(("until", try Self.time(until, flag: "--until", now: now))) }
            for (name, value) in [("id", id), ("record", record), ("customer", customer), ("account", account), ("type", type),
                                  ("product", product), ("outcome", outcome), ("env", env), ("code", code), ("state", state)] {
                if let value { items.append((name, value)) }
            }
            if let deadletter { items.append(("deadletter", String(deadletter))) }
            return items
        }

        /// `24h`-style durations back from `now`, or an RFC 3339 time as given.
        static func time(_ text: String, flag: String, now: Date) throws -> String {
            if let duration = try? FlagValue.duration(text, flag: flag) {
                let formatter = ISO8601DateFormatter()
                formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
                return formatter.string(from: now.addingTimeInterval(-Double(duration.components.seconds) - Double(duration.components.attoseconds) / 1e18))
            }
            guard text.contains("T") else { throw UsageError("\(flag) takes a duration such as 24h or an RFC 3339 time, got \(text)") }
            return text
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Entries matching the filters, newest first.")
        @OptionGroup var filters: Filters
        @OptionGroup var options: AdminOptions
        @Option(help: "Entries at most (pages of up to 1000 are fetched). Default 100.") var limit: Int = 100

        func run() async throws {
            await runReporting {
                guard limit > 0 else { throw UsageError("--limit takes a count of at least 1") }
                let client = try options.client()
                let query = try filters.query()
                var printed = 0
                var cursor: String?
                var rows: [[String: Any]] = []
                repeat {
                    var items = query + [("limit", String(min(1000, limit - printed)))]
                    if let cursor { items.append(("cursor", cursor)) }
                    let data = try await client.call("GET", "admin/events", query: items)
                    let object = (try JSONSerialization.jsonObject(with: data)) as? [String: Any] ?? [:]
                    let events = object["events"] as? [[String: Any]] ?? []
                    if options.table { rows += events } else { for event in events { OperationsOutput.printJSONLine(event) } }
                    printed += events.count
                    cursor = object["next_cursor"] as? String
                } while cursor != nil && printed < limit
                if options.table { OperationsOutput.printTable(rows) }
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "One event: its envelope and its records' states.",
            discussion: "Dedupe is per environment, so an id can have an entry in each: without --env, every one is shown, newest first."
        )
        @Argument(help: "The event id (or the entry number).") var id: String
        @Option(help: "Only the entry of this environment (production, sandbox or unknown).") var env: String?
        @OptionGroup var options: AdminOptions

        func run() async throws {
            await runReporting {
                let path = "admin/events/\(id.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed) ?? id)"
                let data = try await options.client().call("GET", path, query: env.map { [("env", $0)] } ?? [])
                // Each entry as the server wrote it (member order and number text kept), one per
                // line, or indented on a terminal.
                guard case .array(let entries)? = try JSONParser.parse(Array(data)).value["events"] else {
                    throw UserError("the admin API answered something other than {\"events\":[...]}")
                }
                for entry in entries {
                    var line: [UInt8] = []
                    if options.table { JSONWriter.pretty(entry, into: &line) } else { JSONWriter.compact(entry, into: &line) }
                    print(String(decoding: line, as: UTF8.self))
                }
            }
        }
    }

    struct Export: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Every matching entry as JSON lines (always), oldest first, streamed.")
        @OptionGroup var filters: Filters
        @OptionGroup var options: AdminOptions

        func run() async throws {
            await runReporting {
                // JSON lines on a terminal too: an export is for files and tools.
                let output = FileHandle.standardOutput
                try await options.client().stream("admin/events/export", query: try filters.query()) { output.write($0) }
            }
        }
    }

    struct Replay: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Route matching entries again through the current routes; a dry run unless --execute.",
            discussion: "Replayed records carry the header okra-bridge-replay: true and the same event id, so consumers dedupe as usual."
        )
        @OptionGroup var filters: Filters
        @OptionGroup var options: AdminOptions
        @Option(name: .customLong("event"), help: "An event id to replay (repeatable), besides the filters.") var events: [String] = []
        @Flag(help: "Publish: append the records to the outbox.") var execute = false

        func run() async throws {
            await runReporting {
                let query = try filters.query()
                guard !query.isEmpty || !events.isEmpty else { throw UsageError("name what to replay: filters such as --since 24h --type 'okra.payment.*', or --event ID") }
                var body: [String: Any] = ["execute": execute]
                if !query.isEmpty { body["filter"] = Dictionary(query, uniquingKeysWith: { $1 }) }
                if !events.isEmpty { body["ids"] = events }
                let data = try await options.client().call("POST", "admin/replay", body: body)
                let plan = (try JSONSerialization.jsonObject(with: data)) as? [String: Any] ?? [:]
                guard options.table else { return print(String(decoding: data, as: UTF8.self)) }
                let executed = plan["executed"] as? Bool ?? false
                print("\(executed ? "replayed" : "would replay") \(plan["events"] ?? 0) events, \(plan["records"] ?? 0) records\(executed ? "" : " (dry run: add --execute to publish)")")
                if let recovered = plan["recovered"] as? Int, recovered > 0 { print("\(recovered) dead letters are events under the current code") }
                if plan["truncated"] as? Bool == true { print("more entries matched than one replay takes (--max-replay); narrow the filters and run it again") }
                for (topic, count) in (plan["topics"] as? [String: Any] ?? [:]).sorted(by: { $0.key < $1.key }) {
                    print("  \(topic)  \(count)")
                }
            }
        }
    }
}

/// `okra-bridge parked list|redrive|discard`: records Kafka refused for good (§6, §9).
struct ParkedCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "parked",
        abstract: "List, redrive or discard the records Kafka refused for good.",
        subcommands: [List.self, Redrive.self, Discard.self]
    )

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Parked records, oldest first.")
        @OptionGroup var options: AdminOptions
        @Option(help: "Records at most (1 to 1000). Default 100.") var limit: Int = 100

        func run() async throws {
            await runReporting {
                let data = try await options.client().call("GET", "admin/parked", query: [("limit", String(limit))])
                let records = ((try JSONSerialization.jsonObject(with: data)) as? [String: Any])?["parked"] as? [[String: Any]] ?? []
                guard options.table else { return records.forEach(OperationsOutput.printJSONLine) }
                OperationsOutput.printColumns(["ID", "PARKED", "TOPIC", "EVENT", "BYTES", "REASON", "ERROR"], records.map { record in
                    [record["id"], record["parkedtime"], record["topic"], record["event_id"], record["bytes"], record["reason"], record["error"]]
                        .map { $0.map { "\($0)" } ?? "-" }
                })
            }
        }
    }

    /// `--id N` (repeatable) or `--all`.
    struct Selection: ParsableArguments {
        @Option(name: .customLong("id"), help: "A parked record's id (repeatable).") var ids: [Int64] = []
        @Flag(help: "Every parked record.") var all = false

        var body: [String: Any] {
            get throws {
                if all { return ["all": true] }
                guard !ids.isEmpty else { throw UsageError("name the records: --id N (repeatable) or --all") }
                return ["ids": ids]
            }
        }

        /// POSTs the selection to `admin/parked/ACTION`; prints the answer's `counted` number
        /// followed by `saying` on a terminal, the answer itself otherwise.
        func post(_ action: String, counted: String, options: AdminOptions, saying: String) async throws {
            let data = try await options.client().call("POST", "admin/parked/\(action)", body: try body)
            let count = ((try JSONSerialization.jsonObject(with: data)) as? [String: Any])?[counted] ?? 0
            print(options.table ? "\(count) \(saying)" : String(decoding: data, as: UTF8.self))
        }
    }

    struct Redrive: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Put parked records back at the end of the outbox (after fixing what Kafka refused).")
        @OptionGroup var selection: Selection
        @OptionGroup var options: AdminOptions

        func run() async throws {
            await runReporting { try await selection.post("redrive", counted: "redriven", options: options, saying: "records back in the outbox") }
        }
    }

    struct Discard: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Give parked records up: they are never published (logged and counted).")
        @OptionGroup var selection: Selection
        @OptionGroup var options: AdminOptions

        func run() async throws {
            await runReporting { try await selection.post("discard", counted: "discarded", options: options, saying: "records discarded") }
        }
    }
}

extension ParsableCommand {
    /// Runs `body`; a usage error exits 2, any other error exits 1 with one line (§7).
    func runReporting(_ body: () async throws -> Void) async {
        do {
            try await body()
        } catch let error as UsageError {
            error.exit()
        } catch let error as UserError {
            fail(error)
        } catch {
            fail(UserError("\(error)"))
        }
    }
}

/// How the operators' commands print.
enum OperationsOutput {
    static func printJSONLine(_ object: [String: Any]) {
        guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]) else { return }
        print(String(decoding: data, as: UTF8.self))
    }

    /// Entries as a table: time, type, env, record, customer, the states of all their records
    /// (replayed ones too), how many replays, and the first records' topics.
    static func printTable(_ events: [[String: Any]]) {
        let rows = events.map { event -> [String] in
            let records = event["records"] as? [[String: Any]] ?? []
            let replays = event["replays"] as? [[String: Any]] ?? []
            let replayed = replays.flatMap { $0["records"] as? [[String: Any]] ?? [] }
            let states = Array(Set((records + replayed).compactMap { $0["state"] as? String })).sorted().joined(separator: ",")
            let topics = records.compactMap { $0["topic"] as? String }.joined(separator: ",")
            let type = (event["deadletter"] as? Bool == true) ? "deadletter:\(event["reason"] as? String ?? "")" : (event["type"] as? String ?? "-")
            return [event["recordedtime"] as? String ?? "-", type, event["okraenv"] as? String ?? "-", event["okrarecord"] as? String ?? "-",
                    event["okracustomer"] as? String ?? "-", states.isEmpty ? "-" : states, String(replays.count), topics.isEmpty ? "-" : topics]
        }
        printColumns(["TIME", "TYPE", "ENV", "RECORD", "CUSTOMER", "STATE", "REPLAYS", "TOPICS"], rows)
        if rows.isEmpty { print("no entries match") }
    }

    static func printColumns(_ header: [String], _ rows: [[String]]) {
        var widths = header.map(\.count)
        for row in rows { for (index, cell) in row.enumerated() where index < widths.count - 1 { widths[index] = max(widths[index], cell.count) } }
        for row in [header] + rows {
            print(row.enumerated().map { index, cell in
                index == row.count - 1 ? cell : cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
            }.joined(separator: "  "))
        }
    }
}
