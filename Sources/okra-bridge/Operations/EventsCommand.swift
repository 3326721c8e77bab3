import ArgumentParser
import Foundation
import OkraEnvelope
import OkraOperations

/// `okra-bridge events list|show|export|replay`: the event log, over the operations API (§9).
struct EventsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "events",
        abstract: "Search, show, export, replay and erase the bridge's event log (durable mode, admin listener).",
        subcommands: [List.self, Show.self, Export.self, Replay.self, Erase.self]
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
            if let duration = FlagValue.duration(text) {
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
        @Flag(help: "Each entry whole, with its envelope (JSON lines; personal data in them).") var withData = false

        func run() async throws {
            guard limit > 0 else { throw UsageError("--limit takes a count of at least 1") }
            let client = try options.client()
            let query = try filters.query()
            var printed = 0
            var cursor: String?
            var rows: [AdminAPI.Entry] = []
            repeat {
                var items = query + [("limit", String(min(1000, limit - printed)))] + (withData ? [("include", "data")] : [])
                if let cursor { items.append(("cursor", cursor)) }
                let page = try await client.call("GET", "admin/events", query: items, as: AdminAPI.EventsPage.self)
                // A table keeps only what its columns show; whole entries are printed page by page.
                if options.table && !withData { rows += page.events } else { try page.events.forEach(OperationsOutput.printJSONLine) }
                printed += page.events.count
                cursor = page.nextCursor
            } while cursor != nil && printed < limit
            if options.table && !withData { OperationsOutput.printTable(rows) }
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
            let path = "admin/events/\(id.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed) ?? id)"
            let answer = try await options.client().call("GET", path, query: env.map { [("env", $0)] } ?? [], as: AdminAPI.Events.self)
            // One entry a line, or indented on a terminal; the envelope's members in their
            // order and its numbers as sent.
            for entry in answer.events {
                var line: [UInt8] = []
                let bytes = try AdminJSONEncoder().encode(entry)
                if options.table { JSONWriter.pretty(try JSONParser.parse(bytes).value, into: &line) } else { line = bytes }
                print(TerminalText.escapingJSON(String(decoding: line, as: UTF8.self)))
            }
        }
    }

    struct Export: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Every matching entry as JSON lines (always), oldest first, streamed.")
        @OptionGroup var filters: Filters
        @OptionGroup var options: AdminOptions

        func run() async throws {
            // JSON lines on a terminal too: an export is for files and tools.
            let output = FileHandle.standardOutput
            try await options.client().stream("admin/events/export", query: try filters.query()) { output.write($0) }
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
            let query = try filters.query()
            guard !query.isEmpty || !events.isEmpty else { throw UsageError("name what to replay: filters such as --since 24h --type 'okra.payment.*', or --event ID") }
            let request = AdminAPI.ReplayRequest(filter: query.isEmpty ? nil : AdminAPI.Filter(values: Dictionary(query, uniquingKeysWith: { $1 })),
                                                 ids: events.isEmpty ? nil : events, execute: execute)
            let plan = try await options.client().call("POST", "admin/replay", body: request, as: AdminAPI.Plan.self)
            guard options.table else { return print(String(decoding: try AdminJSONEncoder().encode(plan), as: UTF8.self)) }
            print("\(plan.executed ? "replayed" : "would replay") \(plan.events) events, \(plan.records) records\(plan.executed ? "" : " (dry run: add --execute to publish)")")
            if plan.recovered > 0 { print("\(plan.recovered) dead letters are events under the current code") }
            if plan.truncated { print("more entries matched than one replay takes (--max-replay); narrow the filters and run it again") }
            for (topic, count) in plan.topics.sorted(by: { $0.key < $1.key }) {
                print("  \(TerminalText.escaped(topic))  \(count)")
            }
        }
    }
}

extension EventsCommand {
    struct Erase: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Remove one customer's entries and parked records from the event log (operate scope; on the audit trail).",
            discussion: "Entries whose records are still on their way to Kafka are removed once delivered. What Kafka holds is out of the bridge's hands (docs/privacy.md)."
        )
        @Option(help: "The Okra customer id (okracustomer).") var customer: String
        @OptionGroup var options: AdminOptions

        func run() async throws {
            guard !customer.isEmpty else { throw UsageError("--customer takes an Okra customer id") }
            let answer = try await options.client().call("POST", "admin/erase", body: AdminAPI.EraseRequest(customer: customer), as: AdminAPI.Erased.self)
            guard options.table else { return try OperationsOutput.printJSONLine(answer) }
            print("\(answer.erased) entries and \(answer.parked) parked records erased"
                + (answer.waiting > 0 ? "; \(answer.waiting) entries are erased once their records reach Kafka" : ""))
        }
    }
}

/// `okra-bridge audit list`: the audit trail (§9).
struct AuditCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "The audit trail: every operator action, who did it and on what (operate scope).",
        subcommands: [List.self]
    )

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Audit lines, newest first.")
        @Option(help: "At or after: a duration back from now (24h) or an RFC 3339 time.") var since: String?
        @Option(help: "Before: a duration back from now or an RFC 3339 time.") var until: String?
        @Option(help: "Lines at most (pages of up to 1000 are fetched). Default 100.") var limit: Int = 100
        @OptionGroup var options: AdminOptions

        func run() async throws {
            guard limit > 0 else { throw UsageError("--limit takes a count of at least 1") }
            let client = try options.client()
            var query: [(String, String)] = []
            if let since { query.append(("since", try EventsCommand.Filters.time(since, flag: "--since", now: Date()))) }
            if let until { query.append(("until", try EventsCommand.Filters.time(until, flag: "--until", now: Date()))) }
            var lines: [AdminAPI.AuditLine] = []
            var cursor: String?
            repeat {
                var items = query + [("limit", String(min(1000, limit - lines.count)))]
                if let cursor { items.append(("cursor", cursor)) }
                let page = try await client.call("GET", "admin/audit", query: items, as: AdminAPI.AuditPage.self)
                if !options.table { try page.audit.forEach(OperationsOutput.printJSONLine) }
                lines += page.audit
                cursor = page.nextCursor
            } while cursor != nil && lines.count < limit
            guard options.table else { return }
            OperationsOutput.printColumns(["TIME", "TOKEN", "SCOPE", "ACTION", "COUNT", "ON"], lines.map { line in
                let filter = (line.filter ?? [:]).sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
                let on = (filter + (line.ids ?? [])).joined(separator: " ")
                return [line.time, line.token, line.scope?.rawValue ?? "-", line.action.rawValue, String(line.count), on.isEmpty ? "-" : on]
            })
            if lines.isEmpty { print("no audit lines") }
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
            let records = try await options.client().call("GET", "admin/parked", query: [("limit", String(limit))], as: AdminAPI.ParkedList.self).parked
            guard options.table else { return try records.forEach(OperationsOutput.printJSONLine) }
            OperationsOutput.printColumns(["ID", "PARKED", "TOPIC", "EVENT", "BYTES", "REASON", "ERROR"], records.map { record in
                [String(record.id), record.parkedtime, record.topic, record.eventID ?? "-", String(record.bytes), record.reason, record.error]
            })
        }
    }

    /// `--id N` (repeatable) or `--all`.
    struct Selection: ParsableArguments {
        @Option(name: .customLong("id"), help: "A parked record's id (repeatable).") var ids: [Int64] = []
        @Flag(help: "Every parked record.") var all = false

        var body: AdminAPI.Selection {
            get throws {
                if all { return AdminAPI.Selection(.all) }
                guard !ids.isEmpty else { throw UsageError("name the records: --id N (repeatable) or --all") }
                return AdminAPI.Selection(.ids(ids))
            }
        }
    }

    struct Redrive: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Put parked records back at the end of the outbox (after fixing what Kafka refused).")
        @OptionGroup var selection: Selection
        @OptionGroup var options: AdminOptions

        func run() async throws {
            let answer = try await options.client().call("POST", "admin/parked/redrive", body: try selection.body, as: AdminAPI.Redriven.self)
            print(options.table ? "\(answer.redriven) records back in the outbox" : String(decoding: try AdminJSONEncoder().encode(answer), as: UTF8.self))
        }
    }

    struct Discard: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Give parked records up: they are never published (logged and counted).")
        @OptionGroup var selection: Selection
        @OptionGroup var options: AdminOptions

        func run() async throws {
            let answer = try await options.client().call("POST", "admin/parked/discard", body: try selection.body, as: AdminAPI.Discarded.self)
            print(options.table ? "\(answer.discarded) records discarded" : String(decoding: try AdminJSONEncoder().encode(answer), as: UTF8.self))
        }
    }
}

/// How the operators' commands print.
enum OperationsOutput {
    /// `value` as one JSON line (members in the document's order, an envelope's numbers as
    /// sent), control characters escaped.
    static func printJSONLine(_ value: some Encodable) throws {
        print(TerminalText.escapingJSON(String(decoding: try AdminJSONEncoder().encode(value), as: UTF8.self)))
    }

    /// Entries as a table: time, type, env, record, customer, the states of all their records
    /// (replayed ones too), how many replays, and the first records' topics.
    static func printTable(_ events: [AdminAPI.Entry]) {
        let rows = events.map { event -> [String] in
            let states = Set((event.records + event.replays.flatMap(\.records)).map(\.state.rawValue)).sorted().joined(separator: ",")
            let topics = event.records.compactMap(\.topic).joined(separator: ",")
            let type = event.deadletter ? "deadletter:\(event.reason ?? "")" : (event.type ?? "-")
            return [event.recordedtime, type, event.okraenv ?? "-", event.okrarecord ?? "-", event.okracustomer ?? "-",
                    states.isEmpty ? "-" : states, String(event.replays.count), topics.isEmpty ? "-" : topics]
        }
        printColumns(["TIME", "TYPE", "ENV", "RECORD", "CUSTOMER", "STATE", "REPLAYS", "TOPICS"], rows)
        if rows.isEmpty { print("no entries match") }
    }

    /// Aligned columns; every cell's control characters escaped (a payload's ids are printed, and
    /// must not move an operator's cursor or recolour the screen).
    static func printColumns(_ header: [String], _ rows: [[String]]) {
        let rows = rows.map { $0.map(TerminalText.escaped) }
        var widths = header.map(\.count)
        for row in rows { for (index, cell) in row.enumerated() where index < widths.count - 1 { widths[index] = max(widths[index], cell.count) } }
        for row in [header] + rows {
            print(row.enumerated().map { index, cell in
                index == row.count - 1 ? cell : cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
            }.joined(separator: "  "))
        }
    }
}
