import OkraEnvelope

// The export stream's writer: the same bytes as `AdminJSONEncoder().encode(entry)`, written
// straight into the stream's buffer. Measured: with the encoder's value tree an export over HTTP
// of 1,000,000 entries took 40 to 46 s; this writer is the one place JSON is written by hand on
// the admin path (decision 0012), and a test holds its bytes equal to the encoder's.
extension AdminAPI.Entry {
    /// Appends the entry as JSON to `out`, byte for byte as ``AdminJSONEncoder`` writes it.
    public func writeJSON(into out: inout [UInt8]) {
        var first = true
        func key(_ name: StaticString) {
            out.append(first ? UInt8(ascii: "{") : UInt8(ascii: ","))
            first = false
            out.append(UInt8(ascii: "\""))
            name.withUTF8Buffer { out.append(contentsOf: $0) }
            out.append(contentsOf: [UInt8(ascii: "\""), UInt8(ascii: ":")])
        }
        func string(_ name: StaticString, _ value: String?) {
            guard let value else { return }
            key(name)
            JSONWriter.writeString(value, into: &out)
        }
        key("entry"); out += String(entry).utf8
        string("id", id)
        string("recordedtime", recordedtime)
        string("type", type); string("time", time); string("okraproduct", okraproduct); string("okraoutcome", okraoutcome)
        string("okracode", okracode); string("okraenv", okraenv); string("okrashape", okrashape); string("okrarecord", okrarecord)
        string("okracustomer", okracustomer); string("okraaccount", okraaccount); string("okrabank", okrabank)
        key("deadletter"); out += (deadletter ? "true" : "false").utf8
        string("reason", reason)
        key("duplicates"); out += String(duplicates).utf8
        key("records"); Self.write(records, into: &out)
        key("replays")
        out.append(UInt8(ascii: "["))
        for (index, replay) in replays.enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            out += #"{"replayedtime":"#.utf8
            JSONWriter.writeString(replay.replayedtime, into: &out)
            out += #","records":"#.utf8
            Self.write(replay.records, into: &out)
            out.append(UInt8(ascii: "}"))
        }
        out.append(UInt8(ascii: "]"))
        if let envelope {
            key("envelope")
            out += envelope.bytes
        }
        string("body", body)
        if let bodyBytes { key("body_bytes"); out += String(bodyBytes).utf8 }
        if let redacted { key("redacted"); out += (redacted ? "true" : "false").utf8 }
        out.append(UInt8(ascii: "}"))
    }

    static func write(_ records: [AdminAPI.Record], into out: inout [UInt8]) {
        func optional(_ value: String?) {
            if let value { JSONWriter.writeString(value, into: &out) } else { out += "null".utf8 }
        }
        out.append(UInt8(ascii: "["))
        for (index, record) in records.enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            out += #"{"topic":"#.utf8
            optional(record.topic)
            out += #","key":"#.utf8
            optional(record.key)
            out += #","route":"#.utf8
            optional(record.route)
            out += #","state":"#.utf8
            JSONWriter.writeString(record.state.rawValue, into: &out)
            if let error = record.error {
                out += #","error":"#.utf8
                JSONWriter.writeString(error, into: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
        out.append(UInt8(ascii: "]"))
    }
}
