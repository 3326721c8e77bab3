/// The JSON Schema of the envelope, made from the typed domain, so a new product, outcome or
/// shape is in it at once. docs/envelope.schema.json is this schema, written out (a test keeps
/// the two equal), and `okra-bridge topics asyncapi` puts it in its messages.
public enum EnvelopeSchema {
    /// The structured envelope (`application/cloudevents+json`): every attribute, and `data`.
    public static var structured: JSONValue {
        .object([
            .init(key: "$schema", value: .string("https://json-schema.org/draft/2020-12/schema")),
            .init(key: "$id", value: .string("https://okra-bridge/docs/envelope.schema.json")),
            .init(key: "title", value: .string("okra-bridge canonical event (CloudEvents 1.0, structured JSON)")),
            .init(key: "description", value: .string("One Okra webhook as okra-bridge publishes it in structured mode. Attributes without a value are absent, never null or empty. See docs/envelope.md.")),
            .init(key: "type", value: .string("object")),
            .init(key: "required", value: .array(required.map(JSONValue.string))),
            .init(key: "additionalProperties", value: .bool(false)),
            .init(key: "properties", value: .object(attributes.map { JSONMember(key: $0.name, value: $0.schema) } + [
                JSONMember(key: "data", value: .object([
                    .init(key: "type", value: .string("object")),
                    .init(key: "description", value: .string("The payload exactly as received.")),
                ])),
            ])),
        ])
    }

    /// The headers of a binary-mode record: `ce_` and each attribute but `datacontenttype`,
    /// which is the `content-type` header (the CloudEvents Kafka protocol binding).
    public static var binaryHeaders: JSONValue {
        var properties = [JSONMember(key: "content-type", value: .object([.init(key: "const", value: .string("application/json"))]))]
        for attribute in attributes where attribute.name != "datacontenttype" {
            properties.append(JSONMember(key: "ce_" + attribute.name, value: attribute.schema))
        }
        return .object([
            .init(key: "type", value: .string("object")),
            .init(key: "required", value: .array((["content-type"] + required.filter { $0 != "data" && $0 != "datacontenttype" }.map { "ce_" + $0 }).map(JSONValue.string))),
            .init(key: "properties", value: .object(properties)),
        ])
    }

    /// The attributes every envelope has.
    static let required = ["specversion", "id", "source", "type", "datacontenttype", "recordedtime", "okraproduct", "okraoutcome",
                           "okraenv", "okrashape", "data"]

    /// Each attribute, in the envelope's order, with its schema.
    static var attributes: [(name: String, schema: JSONValue)] {
        let text = JSONValue.object([.init(key: "type", value: .string("string")), .init(key: "minLength", value: .number("1"))])
        func pattern(_ regex: String) -> JSONValue { .object([.init(key: "type", value: .string("string")), .init(key: "pattern", value: .string(regex))]) }
        func constant(_ value: String) -> JSONValue { .object([.init(key: "const", value: .string(value))]) }
        func oneOf(_ values: [String]) -> JSONValue { .object([.init(key: "enum", value: .array(values.map(JSONValue.string)))]) }
        let products = OkraProduct.allCases.map(\.rawValue)
        let outcomes = OkraOutcome.allCases.map(\.rawValue)
        return [
            ("specversion", constant("1.0")),
            ("id", pattern("^okra-[0-9a-f]{32}$")),
            ("source", oneOf(OkraEnvironment.allCases.map(\.source))),
            ("type", pattern(#"^okra\.("# + products.joined(separator: "|") + #")\.("# + outcomes.joined(separator: "|") + ")$")),
            ("subject", text),
            ("time", pattern(#"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$"#)),
            ("datacontenttype", constant("application/json")),
            ("recordedtime", pattern(#"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$"#)),
            ("okraproduct", oneOf(products)),
            ("okraoutcome", oneOf(outcomes)),
            ("okracode", text),
            ("okraenv", oneOf(OkraEnvironment.allCases.map(\.rawValue))),
            ("okrarecord", text),
            ("okracustomer", text),
            ("okraaccount", text),
            ("okrabank", text),
            ("okrashape", oneOf(OkraShape.allCases.map(\.rawValue))),
            ("partitionkey", text),
            ("traceparent", pattern("^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$")),
            ("tracestate", text),
        ]
    }
}
