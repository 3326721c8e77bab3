import OkraEnvelope

/// The AsyncAPI 3.0 document of the topics a routes table can produce (`okra-bridge topics
/// asyncapi`): what a consumer team reads, or feeds to its tooling, to know each topic's
/// messages. One channel per planned topic (its address the topic's name), one `send`
/// operation each (the bridge sends), and three messages in `components`: the structured
/// CloudEvent (the envelope's JSON Schema as its payload), the binary one (the `ce_*` headers),
/// and the dead letter. Each channel's description says what reaches it and what the key is.
public enum AsyncAPIDocument {
    /// The document for `topics` (from ``TopicPlanner``), naming the bridge's `version`.
    public static func make(topics: [PlannedTopic], version: String) -> JSONValue {
        var channels: [JSONMember] = []
        var operations: [JSONMember] = []
        var used: Set<String> = []
        for topic in topics {
            let key = channelKey(topic.name, used: &used)
            let messages = messageNames(of: topic)
            channels.append(JSONMember(key: key, value: object([
                ("address", .string(topic.name)),
                ("title", .string(topic.name)),
                ("description", .string(describe(topic))),
                ("messages", object(messages.map { ($0, ref("#/components/messages/\($0)")) })),
                ("bindings", object([("kafka", object([("topic", .string(topic.name)), ("bindingVersion", .string("0.5.0"))]))])),
            ])))
            operations.append(JSONMember(key: "send-\(key)", value: object([
                ("action", .string("send")),
                ("channel", ref("#/channels/\(key)")),
                ("messages", .array(messages.map { ref("#/channels/\(key)/messages/\($0)") })),
            ])))
        }
        return object([
            ("asyncapi", .string("3.0.0")),
            ("info", object([
                ("title", .string("okra-bridge: Okra's webhooks as CloudEvents on Kafka")),
                ("version", .string(version)),
                ("description", .string(summary)),
            ])),
            ("defaultContentType", .string("application/cloudevents+json")),
            ("channels", .object(channels)),
            ("operations", .object(operations)),
            ("components", object([
                ("messages", object([("structured", structured), ("binary", binary), ("deadLetter", deadLetter)])),
                ("schemas", object([("envelope", envelope)])),
            ])),
        ])
    }

    static let summary = "Every Okra webhook the bridge accepted, as a CloudEvents 1.0 event, at least once. "
        + "Order is kept per Kafka key. A consumer keeps the first copy of each (source, id), the pair CloudEvents defines as unique: "
        + "a redelivery by Okra, a retry of the bridge and a replay by an operator (header okra-bridge-replay: true) all carry the same id. "
        + "docs/consumers.md says what a consumer can rely on and what it must do."

    /// A channel key from a topic name (AsyncAPI keys take letters, digits, `_` and `-`).
    static func channelKey(_ topic: String, used: inout Set<String>) -> String {
        let base = String(topic.map { $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" ? $0 : "_" })
        var key = base
        var suffix = 2
        while used.contains(key) {
            key = "\(base)-\(suffix)"
            suffix += 1
        }
        used.insert(key)
        return key
    }

    /// The messages a topic carries, by the formats of what reaches it.
    static func messageNames(of topic: PlannedTopic) -> [String] {
        var names: [String] = []
        for source in topic.sources {
            let name = source.format.map { $0 == .structured ? "structured" : "binary" } ?? "deadLetter"
            if !names.contains(name) { names.append(name) }
        }
        return names
    }

    /// What reaches the topic, and its key.
    static func describe(_ topic: PlannedTopic) -> String {
        var keys: [String] = []
        for source in topic.sources {
            let key = source.key.map { $0 == .none ? "no key" : "key: the \($0 == .id ? "event id" : "\($0) id, else the event id")" } ?? "key: the event id when one was made"
            if !keys.contains(key) { keys.append(key) }
        }
        return "Sent by: " + topic.sources.map(\.description).joined(separator: "; ") + ". " + keys.joined(separator: "; ") + "."
    }

    static var envelope: JSONValue {
        guard case .object(let members) = EnvelopeSchema.structured else { return EnvelopeSchema.structured }
        // $schema and $id belong to a standalone file; inside the document $id would move the base of every $ref.
        return .object(members.filter { $0.key != "$schema" && $0.key != "$id" })
    }

    static let replayHeader = JSONMember(key: "okra-bridge-replay", value: object([
        ("const", .string("true")), ("description", .string("Present on a record an operator replayed from the event log; its id is the original's.")),
    ]))

    static var structured: JSONValue {
        object([
            ("name", .string("okra-event-structured")),
            ("title", .string("An Okra event, structured (the envelope is the value)")),
            ("contentType", .string("application/cloudevents+json; charset=UTF-8")),
            ("headers", .object([
                JSONMember(key: "type", value: .string("object")),
                JSONMember(key: "required", value: .array([.string("content-type"), .string("idempotency-key")])),
                JSONMember(key: "properties", value: .object([
                    JSONMember(key: "content-type", value: object([("const", .string("application/cloudevents+json; charset=UTF-8"))])),
                    JSONMember(key: "idempotency-key", value: object([("type", .string("string")), ("pattern", .string("^okra-[0-9a-f]{32}$")),
                                                                      ("description", .string("The event's id, as in the envelope."))])),
                    replayHeader,
                ])),
            ])),
            ("payload", ref("#/components/schemas/envelope")),
            ("bindings", object([("kafka", object([("key", object([("type", .string("string"))])), ("bindingVersion", .string("0.5.0"))]))])),
        ])
    }

    static var binary: JSONValue {
        var headers = EnvelopeSchema.binaryHeaders
        if case .object(var members) = headers, let index = members.firstIndex(where: { $0.key == "properties" }),
           case .object(var properties) = members[index].value {
            properties.append(replayHeader)
            members[index].value = .object(properties)
            headers = .object(members)
        }
        return object([
            ("name", .string("okra-event-binary")),
            ("title", .string("An Okra event, binary (the payload is the value, the attributes ce_ headers)")),
            ("contentType", .string("application/json")),
            ("headers", headers),
            ("payload", object([("type", .string("object")), ("description", .string("Okra's payload exactly as received."))])),
            ("bindings", object([("kafka", object([("key", object([("type", .string("string"))])), ("bindingVersion", .string("0.5.0"))]))])),
        ])
    }

    static var deadLetter: JSONValue {
        object([
            ("name", .string("okra-dead-letter")),
            ("title", .string("A body that is not an Okra event (the raw body is the value)")),
            ("contentType", .string("application/octet-stream")),
            ("headers", object([
                ("type", .string("object")),
                ("required", .array([.string("okra-bridge-reason"), .string("okra-bridge-received-at")])),
                ("properties", object([
                    ("okra-bridge-reason", object([("enum", .array(["malformed-json", "not-an-object", "unrecognized"].map(JSONValue.string)))])),
                    ("okra-bridge-received-at", object([("type", .string("string")), ("description", .string("When the bridge received it (RFC 3339, UTC, milliseconds)."))])),
                    ("ce_id", object([("type", .string("string")), ("pattern", .string("^okra-[0-9a-f]{32}$")), ("description", .string("The id, when one could be made."))])),
                ])),
            ])),
            ("payload", object([("description", .string("The request body exactly as received, which may not be JSON."))])),
        ])
    }

    static func object(_ members: [(String, JSONValue)]) -> JSONValue { .object(members.map { JSONMember(key: $0.0, value: $0.1) }) }
    static func ref(_ target: String) -> JSONValue { object([("$ref", .string(target))]) }
}
