import Foundation
import OkraEnvelope
import OkraOperations
import Testing

@Suite("Admin API types")
struct AdminAPITests {
    static func deadLetter(entry: Int64 = 7) -> LogEntry {
        LogEntry(entry: entry, id: nil, recordedAtMilliseconds: 1_796_083_200_123, envelope: nil, tokenEnvironment: .sandbox,
                 deadletter: true, reason: "malformed-json", body: Array("{not json".utf8), duplicates: 0,
                 records: [LoggedRecord(topic: "okra.deadletter", key: nil, route: nil, state: .parked, error: "Broker: Message size too large")])
    }

    @Test("an entry is written with its members in the document's order and its envelope byte for byte (numbers as sent, members in order)")
    func envelopeVerbatim() throws {
        var entry = AdminAPI.Entry(Self.deadLetter(), whole: true, redacting: false)
        let envelope = #"{"specversion":"1.0","zeta":1,"data":{"amount":26.880,"big":1e400,"a":"\u001b"}}"#
        entry.envelope = RawJSON(verbatim: Array(envelope.utf8))
        entry.body = nil
        entry.bodyBytes = nil
        let text = String(decoding: try AdminJSONEncoder().encode(AdminAPI.Events(events: [entry])), as: UTF8.self)
        #expect(text == #"{"events":[{"entry":7,"recordedtime":"2026-12-01T00:00:00.123Z","okraenv":"sandbox","deadletter":true,"reason":"malformed-json","duplicates":0,"#
            + #""records":[{"topic":"okra.deadletter","key":null,"route":null,"state":"parked","error":"Broker: Message size too large"}],"replays":[],"#
            + #""envelope":\#(envelope)}]}"#)
        // Read back: the same value, the envelope's bytes unchanged.
        let read = try AdminJSONDecoder().decode(AdminAPI.Events.self, from: Array(text.utf8))
        #expect(read.events == [entry])
        #expect(String(decoding: try #require(read.events.first?.envelope).bytes, as: UTF8.self) == envelope)
    }

    @Test("a required member renamed or missing fails the read, naming its path; a nullable one must still be there")
    func renamedMemberFails() throws {
        let decoder = AdminJSONDecoder()
        #expect(throws: DecodingError.self) { try decoder.decode(AdminAPI.EventsPage.self, from: Array(#"{"events":[],"next":null}"#.utf8)) }
        let page = try decoder.decode(AdminAPI.EventsPage.self, from: Array(#"{"events":[],"next_cursor":null}"#.utf8))
        #expect(page == AdminAPI.EventsPage(events: [], nextCursor: nil))
        do {
            _ = try decoder.decode(AdminAPI.ParkedList.self, from: Array(#"{"parked":[{"id":1,"eventid":"x","topic":"t","key":null,"bytes":3,"recordedtime":"a","parkedtime":"b","reason":"r","error":"e"}]}"#.utf8))
            Issue.record("a parked record without event_id was read")
        } catch {
            #expect(AdminJSONDecoder.describe(error) == "parked.[0]: missing member event_id")
        }
        #expect(throws: DecodingError.self) { try decoder.decode(AdminAPI.Plan.self, from: Array(#"{"executed":"yes","events":1,"records":1,"recovered":0,"truncated":false,"topics":{}}"#.utf8)) }
    }

    @Test("a replay's filter takes strings, and true or false for deadletter; an unknown member or a wrong kind is refused")
    func replayFilter() throws {
        let decoder = AdminJSONDecoder()
        let request = try decoder.decode(AdminAPI.ReplayRequest.self,
                                         from: Array(#"{"filter":{"deadletter":true,"type":"okra.payment.*","since":"2026-12-01T00:00:00Z"},"execute":true}"#.utf8))
        let filter = try EventFilter(query: try #require(request.filter).values)
        #expect(filter.deadletter == true)
        #expect(filter.type == "okra.payment.*")
        #expect(filter.since == Date(timeIntervalSince1970: 1_796_083_200))
        #expect(request.execute == true)
        #expect(try EventFilter(query: decoder.decode(AdminAPI.Filter.self, from: Array(#"{"deadletter":false}"#.utf8)).values).deadletter == false)
        for body in [#"{"filter":{"deadletter":1}}"#, #"{"filter":{"deadletter":"true"}}"#, #"{"filter":{"prodcut":"payment"}}"#,
                     #"{"filter":{},"execut":true}"#, #"{"ids":[1]}"#, #"{"execute":"yes"}"#, "[]"] {
            #expect(throws: (any Error).self, "\(body)") { try decoder.decode(AdminAPI.ReplayRequest.self, from: Array(body.utf8)) }
        }
        // Written back: deadletter a boolean, the rest strings, keys sorted.
        let written = String(decoding: try AdminJSONEncoder().encode(request), as: UTF8.self)
        #expect(written == #"{"filter":{"deadletter":true,"since":"2026-12-01T00:00:00Z","type":"okra.payment.*"},"execute":true}"#)
    }

    @Test("a parked selection is ids (at least one) or all, never both or neither")
    func selection() throws {
        let decoder = AdminJSONDecoder()
        #expect(try decoder.decode(AdminAPI.Selection.self, from: Array(#"{"ids":[3,4]}"#.utf8)).selection() == .ids([3, 4]))
        #expect(try decoder.decode(AdminAPI.Selection.self, from: Array(#"{"all":true}"#.utf8)).selection() == .all)
        // JSON Schema's integers: 4.0 and 4e0 are 4.
        #expect(try decoder.decode(AdminAPI.Selection.self, from: Array(#"{"ids":[4.0,4e0]}"#.utf8)).selection() == .ids([4, 4]))
        for body in [#"{"all":false}"#, #"{"ids":[1],"all":true}"#, "{}"] {
            #expect(throws: OperationsError.self, "\(body)") { try decoder.decode(AdminAPI.Selection.self, from: Array(body.utf8)).selection() }
        }
        let tooMany = "{\"ids\":[" + (0...AdminAPI.maxIDs).map(String.init).joined(separator: ",") + "]}"
        for body in [#"{"ids":["3"]}"#, #"{"ids":[1.5]}"#, #"{"id":[1]}"#, #"{"ids":[]}"#, #"{"ids":null}"#, #"{"all":null}"#, #"{"ids":[-1]}"#, tooMany] {
            #expect(throws: DecodingError.self, "\(body)") { try decoder.decode(AdminAPI.Selection.self, from: Array(body.utf8)) }
        }
    }

    @Test("a plan's topics are written sorted, so the same plan is the same bytes")
    func planOrder() throws {
        let plan = AdminAPI.Plan(ReplayPlan(events: 2, records: 3, topics: ["okra.z": 1, "okra.a": 2, "okra.m": 0], executed: false))
        #expect(String(decoding: try AdminJSONEncoder().encode(plan), as: UTF8.self)
            == #"{"executed":false,"events":2,"records":3,"recovered":0,"refused":0,"truncated":false,"topics":{"okra.a":2,"okra.m":0,"okra.z":1}}"#)
    }

    @Test("control characters in a table cell are escaped: an escape sequence cannot reach the terminal")
    func terminalText() {
        #expect(TerminalText.escaped("rec-1") == "rec-1")
        #expect(TerminalText.escaped("\u{1B}[31mred\u{07}") == #"\x1b[31mred\x07"#)
        #expect(TerminalText.escaped("a\nb\\c\u{9B}d\u{202E}e") == #"a\nb\\c\x9bd\u{202e}e"#)
        #expect(!TerminalText.escaped("\u{1B}]0;title\u{07}").unicodeScalars.contains { $0.value < 0x20 })
    }

    struct Small: Codable, Equatable {
        var byte: UInt8
        var ratio: Float
    }

    @Test("integers are read from the number's text: a fraction is never rounded into an id; other integer and floating types are read too, in range")
    func integers() throws {
        let decoder = AdminJSONDecoder()
        #expect(throws: DecodingError.self) { try decoder.decode(AdminAPI.Selection.self, from: Array(#"{"ids":[41.99999999999999999]}"#.utf8)) }
        #expect(try decoder.decode(AdminAPI.Selection.self, from: Array(#"{"ids":[9007199254740993.0]}"#.utf8)).ids == [9_007_199_254_740_993])
        #expect(throws: DecodingError.self) { try decoder.decode(AdminAPI.Selection.self, from: Array(#"{"ids":[1e19]}"#.utf8)) }
        #expect(try decoder.decode(Small.self, from: Array(#"{"byte":7,"ratio":0.5}"#.utf8)) == Small(byte: 7, ratio: 0.5))
        #expect(throws: DecodingError.self) { try decoder.decode(Small.self, from: Array(#"{"byte":300,"ratio":0.5}"#.utf8)) }
        #expect(String(decoding: try AdminJSONEncoder().encode(Small(byte: 7, ratio: 0.5)), as: UTF8.self) == #"{"byte":7,"ratio":0.5}"#)
    }

    @Test("a request member given twice is refused")
    func repeatedMember() {
        #expect(throws: DecodingError.self) { try AdminJSONDecoder().decode(AdminAPI.Selection.self, from: Array(#"{"ids":[1],"ids":[2]}"#.utf8)) }
        #expect(throws: DecodingError.self) { try AdminJSONDecoder().decode(AdminAPI.Filter.self, from: Array(#"{"type":"a","type":"b"}"#.utf8)) }
    }

    @Test("JSON for a terminal: DEL, C1 and bidirectional overrides inside strings become \\u escapes; the JSON value is unchanged")
    func terminalJSON() throws {
        let json = "{\"record\":\"a\u{9B}31m\u{7F}b\u{202E}c\",\"n\":1}"
        let escaped = TerminalText.escapingJSON(json)
        #expect(escaped == #"{"record":"a\u009b31m\u007fb\u202ec","n":1}"#)
        #expect(try JSONParser.parse(Array(escaped.utf8)).value == JSONParser.parse(Array(json.utf8)).value)
    }

    @Test("the export stream's writer writes the encoder's bytes exactly: events and dead letters, replays, null and escaped members")
    func exportWriterMatchesEncoder() throws {
        let payment = #"{"type":"CALLBACK","method":"PAYMENT","code":"PAYMENT_SUCCESS","env":"production","record":"rec-\u00e9\"q","customerId":"cus-1","amount":26.880}"#
        let event = try Normalizer.normalize(Array(payment.utf8), receivedAt: Date(timeIntervalSince1970: 1_796_083_200)).get()
        let records = [LoggedRecord(topic: "okra.production.payment.success", key: "rec-é\"q", route: nil, state: .published),
                       LoggedRecord(topic: "okra.payments", key: nil, route: "payments", state: .parked, error: "Broker: \u{1}too large")]
        let entries = [
            LogEntry(entry: 1, id: event.id, recordedAtMilliseconds: 1_796_083_200_000, envelope: event, tokenEnvironment: .production,
                     deadletter: false, reason: nil, body: Array(payment.utf8), duplicates: 3, records: records,
                     replays: [LoggedReplay(replayedAtMilliseconds: 1_796_083_300_000, records: records), LoggedReplay(replayedAtMilliseconds: 1_796_083_400_000, records: [])]),
            Self.deadLetter(entry: 2),
            LogEntry(entry: 3, id: nil, recordedAtMilliseconds: 0, envelope: nil, tokenEnvironment: nil, deadletter: true, reason: "not-an-object",
                     body: [0x5B, 0xFF, 0x0A, 0x5D], duplicates: 0, records: []),
        ]
        for entry in entries {
            for whole in [true, false] {
                for redacting in [true, false] {
                    let answer = AdminAPI.Entry(entry, whole: whole, redacting: redacting)
                    var written: [UInt8] = []
                    answer.writeJSON(into: &written)
                    #expect(written == (try AdminJSONEncoder().encode(answer)), "entry \(entry.entry), whole \(whole), redacting \(redacting)")
                }
            }
        }
    }
}
