import Foundation

/// One Okra payload as the single shape downstream sees: a CloudEvents 1.0 event with `okra*`
/// extension attributes (the contract's §1). Attributes without a value are nil and absent
/// from every serialization.
public struct CanonicalEvent: Sendable, Equatable {
    /// CloudEvents `id`: the idempotency key (§2).
    public var id: String
    /// `okra/production`, `okra/sandbox` or `okra/unknown`: derived from ``environment``.
    public var source: String { environment.source }
    /// `okra.<product>.<outcome>`.
    public var type: String { "okra." + product.rawValue + "." + outcome.rawValue }
    /// The record id, else the customer id.
    public var subject: String? { record ?? customer }
    /// When it happened (RFC 3339, as Okra sent it).
    public var time: String?
    /// When the bridge received it (RFC 3339, milliseconds, UTC).
    public var recordedTime: String
    /// `okraproduct`.
    public var product: OkraProduct
    /// `okraoutcome`.
    public var outcome: OkraOutcome
    /// `okracode`: the code as sent.
    public var code: String?
    /// `okraenv`.
    public var environment: OkraEnvironment
    /// `okrarecord`.
    public var record: String?
    /// `okracustomer`.
    public var customer: String?
    /// `okraaccount`.
    public var account: String?
    /// `okrabank`.
    public var bank: String?
    /// `okrashape`.
    public var shape: OkraShape
    /// `partitionkey`: the Kafka key the route chose; nil before routing.
    public var partitionKey: String?
    /// `traceparent` and `tracestate` (the CloudEvents distributed-tracing extension): the
    /// webhook's span when tracing is on, else the caller's `traceparent` header; nil without
    /// either. Not part of the payload: the id does not depend on it.
    public var trace: TraceContext?
    /// The payload's bytes as received (without a byte-order mark or surrounding whitespace).
    public var data: [UInt8]
    /// The attributes the payload named whose text CloudEvents forbids (control characters,
    /// noncharacters): left out of the event, counted by the bridge (``CloudEventsString``).
    public var droppedAttributes: [String] = []

    /// An event from its attributes (as the event log keeps them) and its payload.
    public init(id: String, time: String?, recordedTime: String, product: OkraProduct, outcome: OkraOutcome, code: String?,
                environment: OkraEnvironment, record: String?, customer: String?, account: String?, bank: String?,
                shape: OkraShape, partitionKey: String?, data: [UInt8]) {
        self.id = id
        self.time = time
        self.recordedTime = recordedTime
        self.product = product
        self.outcome = outcome
        self.code = code
        self.environment = environment
        self.record = record
        self.customer = customer
        self.account = account
        self.bank = bank
        self.shape = shape
        self.partitionKey = partitionKey
        self.data = data
    }

    /// The context attributes in a fixed order, the absent ones left out. Names are the
    /// CloudEvents ones (`ce_` + name in Kafka binary mode).
    public var attributes: [(name: String, value: String)] {
        var list: [(name: String, value: String)] = []
        list.reserveCapacity(20)
        forEachAttribute { name, value in list.append((name.description, value)) }
        return list
    }

    /// Calls `body` with each context attribute, in the order of ``attributes``.
    func forEachAttribute(_ body: (StaticString, String) -> Void) {
        body("specversion", "1.0")
        body("id", id)
        body("source", source)
        body("type", type)
        if let subject { body("subject", subject) }
        if let time { body("time", time) }
        body("datacontenttype", "application/json")
        body("recordedtime", recordedTime)
        body("okraproduct", product.rawValue)
        body("okraoutcome", outcome.rawValue)
        if let code { body("okracode", code) }
        body("okraenv", environment.rawValue)
        if let record { body("okrarecord", record) }
        if let customer { body("okracustomer", customer) }
        if let account { body("okraaccount", account) }
        if let bank { body("okrabank", bank) }
        body("okrashape", shape.rawValue)
        if let partitionKey { body("partitionkey", partitionKey) }
        if let trace {
            body("traceparent", trace.traceParent)
            if let state = trace.traceState { body("tracestate", state) }
        }
    }

    /// The event in CloudEvents structured JSON: the attributes, then `data` with the payload
    /// embedded byte for byte (so it spans several lines if the payload did).
    public func jsonBytes() -> [UInt8] {
        jsonBytes(data: data)
    }

    /// The same JSON on one line: the payload with the whitespace between its tokens removed,
    /// everything else (strings, escapes, numbers, order) unchanged. For terminals and logs.
    public func oneLineJSONBytes() -> [UInt8] {
        jsonBytes(data: JSONWriter.removingInsignificantWhitespace(data))
    }

    private func jsonBytes(data: [UInt8]) -> [UInt8] {
        var capacity = data.count + 12
        forEachAttribute { name, value in
            capacity += name.utf8CodeUnitCount + 4 + ByteWriter.maxJSONStringLength(utf8Count: value.utf8.count)
        }
        var output: [UInt8] = []
        output.reserveCapacity(capacity)
        output.append(capacity: capacity) { writer in
            writer.append(UInt8(ascii: "{"))
            forEachAttribute { name, value in
                // Attribute names are lowercase letters: nothing to escape.
                writer.append(UInt8(ascii: "\""))
                writer.append(UnsafeBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount))
                writer.append(UInt8(ascii: "\""))
                writer.append(UInt8(ascii: ":"))
                writer.appendJSONString(value)
                writer.append(UInt8(ascii: ","))
            }
            let dataMember: StaticString = #""data":"#
            writer.append(UnsafeBufferPointer(start: dataMember.utf8Start, count: dataMember.utf8CodeUnitCount))
            data.withUnsafeBufferPointer { writer.append($0) }
            writer.append(UInt8(ascii: "}"))
        }
        return output
    }

    /// The event as it arrived with a token of `environment` (§1): `okraenv` and `source` become
    /// the token's. Nil when the payload names the other environment (the bridge refuses it); a
    /// payload that names none, or no word Okra uses, takes the token's. The id does not change.
    public func bound(to environment: OkraEnvironment) -> CanonicalEvent? {
        guard self.environment == .unknown || self.environment == environment else { return nil }
        var event = self
        event.environment = environment
        return event
    }

    /// The event without the attributes from the payload's text (record, customer, account,
    /// bank, code) whose characters CloudEvents forbids, their names added to
    /// ``droppedAttributes``. The normalizer applies it to every event it makes; a replay applies
    /// it again to envelopes stored by a bridge that did not.
    public func droppingForbiddenAttributes() -> CanonicalEvent {
        var event = self
        var dropped: [String] = []
        func check(_ value: inout String?, _ attribute: String) {
            guard let text = value, !CloudEventsString.isValid(text) else { return }
            value = nil
            dropped.append(attribute)
        }
        check(&event.code, "okracode")
        check(&event.record, "okrarecord")
        check(&event.customer, "okracustomer")
        check(&event.account, "okraaccount")
        check(&event.bank, "okrabank")
        event.droppedAttributes += dropped
        return event
    }

    /// The same JSON, indented for people (the payload re-indented too).
    public func prettyJSONBytes() -> [UInt8] {
        var members = attributes.map { JSONMember(key: $0.name, value: .string($0.value)) }
        if let payload = try? JSONParser.parse(data).value {
            members.append(JSONMember(key: "data", value: payload))
        }
        var output: [UInt8] = []
        JSONWriter.pretty(.object(members), into: &output)
        return output
    }
}

/// The CloudEvents type system's String: Unicode text without the control characters
/// U+0000-U+001F and U+007F-U+009F and without noncharacters. An attribute outside it could
/// split a header line (CR, LF) or reach a terminal (ESC) wherever a consumer copies it.
public enum CloudEventsString {
    /// Whether `text` may be an attribute's value.
    public static func isValid(_ text: String) -> Bool {
        var text = text
        let ascii = text.withUTF8 { bytes in bytes.allSatisfy { $0 >= 0x20 && $0 < 0x7F } }
        if ascii { return true }
        for scalar in text.unicodeScalars {
            let value = scalar.value
            if value < 0x20 || (0x7F...0x9F).contains(value) { return false }
            if (0xFDD0...0xFDEF).contains(value) || value & 0xFFFE == 0xFFFE { return false }
        }
        return true
    }
}
