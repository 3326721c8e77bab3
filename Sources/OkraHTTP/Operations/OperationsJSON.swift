import Foundation
import OkraEnvelope
import OkraIngest

/// The operations API's JSON (§9): entries, parked records, replay plans; and the filters and
/// selections requests carry.
enum OperationsJSON {
    /// An entry: its attributes and records; with `whole`, the envelope too (or, for a dead
    /// letter with none, the body as received).
    static func entry(_ entry: LogEntry, whole: Bool, into out: inout [UInt8]) {
        var first = true
        func member(_ name: String, _ write: (inout [UInt8]) -> Void) {
            out += Array((first ? "{" : ",").utf8)
            first = false
            JSONWriter.writeString(name, into: &out)
            out.append(UInt8(ascii: ":"))
            write(&out)
        }
        func string(_ name: String, _ value: String?) {
            guard let value else { return }
            member(name) { JSONWriter.writeString(value, into: &$0) }
        }
        member("entry") { $0 += Array(String(entry.entry).utf8) }
        string("id", entry.id)
        string("recordedtime", RFC3339.milliseconds(sinceEpoch: entry.recordedAtMilliseconds))
        if let event = entry.envelope {
            string("type", event.type)
            string("time", event.time)
            string("okraproduct", event.product.rawValue)
            string("okraoutcome", event.outcome.rawValue)
            string("okracode", event.code)
            string("okraenv", event.environment.rawValue)
            string("okrashape", event.shape.rawValue)
            string("okrarecord", event.record)
            string("okracustomer", event.customer)
            string("okraaccount", event.account)
            string("okrabank", event.bank)
        } else {
            string("okraenv", entry.tokenEnvironment?.rawValue)
        }
        member("deadletter") { $0 += Array((entry.deadletter ? "true" : "false").utf8) }
        string("reason", entry.reason)
        member("duplicates") { $0 += Array(String(entry.duplicates).utf8) }
        member("records") { records(entry.records, into: &$0) }
        member("replays") { out in
            out.append(UInt8(ascii: "["))
            for (index, replay) in entry.replays.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                out += Array(#"{"replayedtime":"#.utf8)
                JSONWriter.writeString(RFC3339.milliseconds(sinceEpoch: replay.replayedAtMilliseconds), into: &out)
                out += Array(#","records":"#.utf8)
                records(replay.records, into: &out)
                out.append(UInt8(ascii: "}"))
            }
            out.append(UInt8(ascii: "]"))
        }
        if whole {
            if let event = entry.envelope {
                // On one line (the whitespace between the payload's tokens removed), so an export is JSON lines.
                member("envelope") { $0 += event.oneLineJSONBytes() }
            } else {
                member("body") { JSONWriter.writeString(String(decoding: entry.body, as: UTF8.self), into: &$0) }
            }
        }
        out.append(UInt8(ascii: "}"))
    }

    /// `[{"topic":...,"key":...,"route":...,"state":...,"error":...}, ...]`.
    static func records(_ records: [LoggedRecord], into out: inout [UInt8]) {
        out.append(UInt8(ascii: "["))
        for (index, record) in records.enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            out += Array(#"{"topic":"#.utf8)
            optional(record.topic, into: &out)
            out += Array(#","key":"#.utf8)
            optional(record.key, into: &out)
            out += Array(#","route":"#.utf8)
            optional(record.route, into: &out)
            out += Array(#","state":"#.utf8)
            JSONWriter.writeString(record.state.rawValue, into: &out)
            if let error = record.error {
                out += Array(#","error":"#.utf8)
                JSONWriter.writeString(error, into: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
        out.append(UInt8(ascii: "]"))
    }

    static func optional(_ value: String?, into out: inout [UInt8]) {
        if let value { JSONWriter.writeString(value, into: &out) } else { out += Array("null".utf8) }
    }

    static func parked(_ record: ParkedEntry) -> String {
        var out: [UInt8] = []
        out += Array(#"{"id":\#(record.seq),"event_id":"#.utf8)
        optional(record.eventID, into: &out)
        out += Array(#","topic":"#.utf8)
        JSONWriter.writeString(record.topic, into: &out)
        out += Array(#","key":"#.utf8)
        optional(record.key, into: &out)
        out += Array(#","bytes":\#(record.bytes),"recordedtime":"#.utf8)
        JSONWriter.writeString(RFC3339.milliseconds(sinceEpoch: record.createdAtMilliseconds), into: &out)
        out += Array(#","parkedtime":"#.utf8)
        JSONWriter.writeString(RFC3339.milliseconds(sinceEpoch: record.parkedAtMilliseconds), into: &out)
        out += Array(#","reason":"#.utf8)
        JSONWriter.writeString(record.reason, into: &out)
        out += Array(#","error":"#.utf8)
        JSONWriter.writeString(record.error, into: &out)
        out.append(UInt8(ascii: "}"))
        return String(decoding: out, as: UTF8.self)
    }

    static func plan(_ plan: ReplayPlan) -> String {
        let topics = plan.topics.sorted { $0.key < $1.key }.map { "\(JSONWriter.quoted($0.key)):\($0.value)" }.joined(separator: ",")
        return #"{"executed":\#(plan.executed),"events":\#(plan.events),"records":\#(plan.records),"recovered":\#(plan.recovered),"truncated":\#(plan.truncated),"topics":{\#(topics)}}"#
    }

    /// An `env` query value: `production`, `sandbox` or `unknown` (nil when absent).
    static func environment(_ text: String?) throws(OperationsError) -> String? {
        guard let text else { return nil }
        return try EventFilter.word(text, for: "env", as: OkraEnvironment.self).rawValue
    }

    /// The filter of a query string or of a replay's `filter` object: the same keys (§9).
    static func filter(_ values: [String: String]) throws(OperationsError) -> EventFilter {
        var filter = EventFilter()
        for (key, value) in values {
            switch key {
            case "since": filter.since = try time(value, key)
            case "until": filter.until = try time(value, key)
            case "id": filter.id = value
            case "record": filter.record = value
            case "customer": filter.customer = value
            case "account": filter.account = value
            case "type": filter.type = value
            case "product": filter.product = try EventFilter.word(value, for: key)
            case "outcome": filter.outcome = try EventFilter.word(value, for: key)
            case "env": filter.env = try EventFilter.word(value, for: key)
            case "code": filter.code = value
            case "state": filter.state = try EventFilter.word(value, for: key)
            case "deadletter":
                guard let flag = Bool(value) else { throw OperationsError("deadletter takes true or false, got \(value)") }
                filter.deadletter = flag
            case "limit", "cursor": break
            default: throw OperationsError("unknown filter \(key)")
            }
        }
        return filter
    }

    /// The filter of a replay's JSON `filter` object: strings as they are, `true`/`false` and
    /// numbers as their JSON text (a JSON `true` is not the text "1").
    static func filter(json values: [String: Any]) throws(OperationsError) -> EventFilter {
        try filter(values.mapValues { value in
            if let text = value as? String { return text }
            if let flag = value as? Bool, "\(type(of: value))".contains("Bool") { return flag ? "true" : "false" }
            return "\(value)"
        })
    }

    static func time(_ text: String, _ key: String) throws(OperationsError) -> Date {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let date = formatter.date(from: text) { return date }
        formatter.formatOptions = [.withInternetDateTime]
        if let date = formatter.date(from: text) { return date }
        throw OperationsError("\(key) takes an RFC 3339 time such as 2026-12-01T09:00:00Z, got \(text)")
    }

    /// A request body as a JSON object.
    static func object(_ bytes: [UInt8]) throws(OperationsError) -> [String: Any] {
        guard !bytes.isEmpty else { return [:] }
        guard let object = (try? JSONSerialization.jsonObject(with: Data(bytes))) as? [String: Any] else {
            throw OperationsError("the body is not a JSON object")
        }
        return object
    }

    /// `{"ids":[...]}` or `{"all":true}`.
    static func selection(_ object: [String: Any]) throws(OperationsError) -> ParkedSelection {
        if object["all"] as? Bool == true { return .all }
        guard let ids = object["ids"] as? [Any], !ids.isEmpty else { throw OperationsError(#"name the records: {"ids":[...]} or {"all":true}"#) }
        var numbers: [Int64] = []
        for id in ids {
            guard let number = (id as? NSNumber)?.int64Value ?? (id as? String).flatMap({ Int64($0) }) else {
                throw OperationsError("parked ids are numbers, got \(id)")
            }
            numbers.append(number)
        }
        return .ids(numbers)
    }
}
