import Foundation
import OkraEnvelope

/// Checks a JSON value against the subset of JSON Schema that docs/envelope.schema.json uses:
/// type, required, properties, additionalProperties (false), enum, const, pattern, minLength.
/// Any other keyword is reported, so the schema cannot silently outgrow this check.
struct SchemaValidator {
    static let known: Set<String> = ["$schema", "$id", "title", "description", "type", "required", "properties",
                                     "additionalProperties", "enum", "const", "pattern", "minLength"]

    /// Problems found, one line each; empty when the value is valid.
    static func problems(_ value: JSONValue, schema: JSONValue, path: String = "$") -> [String] {
        guard case .object(let keywords) = schema else { return ["\(path): schema is not an object"] }
        var found: [String] = []
        for keyword in keywords where !known.contains(keyword.key) {
            found.append("\(path): unsupported schema keyword \(keyword.key)")
        }
        if let type = schema["type"]?.nonEmptyString, !matches(type: type, value) {
            found.append("\(path): expected \(type), found \(value.kindName)")
        }
        if let constant = schema["const"], constant != value {
            found.append("\(path): expected the constant \(constant)")
        }
        if case .array(let options)? = schema["enum"], !options.contains(value) {
            found.append("\(path): \(value) is not one of the allowed values")
        }
        if case .string(let text) = value {
            if case .number(let minimum)? = schema["minLength"], text.count < Int(minimum) ?? 0 {
                found.append("\(path): shorter than \(minimum)")
            }
            if let pattern = schema["pattern"]?.nonEmptyString {
                let regex = try! NSRegularExpression(pattern: pattern)
                if regex.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)) == nil {
                    found.append("\(path): \(text) does not match \(pattern)")
                }
            }
        }
        if case .object(let members) = value {
            if case .array(let required)? = schema["required"] {
                for case .string(let name) in required where value[name] == nil {
                    found.append("\(path): missing required \(name)")
                }
            }
            let properties = schema["properties"]
            for member in members {
                if let propertySchema = properties?[member.key] {
                    found += problems(member.value, schema: propertySchema, path: "\(path).\(member.key)")
                } else if schema["additionalProperties"] == .bool(false) {
                    found.append("\(path): unexpected property \(member.key)")
                }
            }
        }
        return found
    }

    private static func matches(type: String, _ value: JSONValue) -> Bool {
        switch (type, value) {
        case ("object", .object), ("array", .array), ("string", .string), ("number", .number), ("boolean", .bool), ("null", .null): return true
        default: return false
        }
    }
}
