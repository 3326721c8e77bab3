import Foundation

/// Writes JSON text: the canonical form the idempotency key hashes, and string escaping for
/// the envelope.
public enum JSONWriter {
    /// Canonical JSON (see ``JSONDocument/writeCanonical(into:excludingTopLevel:)``) of a value
    /// tree. The tree is written compactly and parsed back, so there is one canonical writer.
    public static func canonical(_ value: JSONValue, into output: inout [UInt8]) {
        JSONDocument(value).writeCanonical(into: &output)
    }

    /// JSON without whitespace, members in their given order.
    public static func compact(_ value: JSONValue, into output: inout [UInt8]) {
        switch value {
        case .object(let members):
            output.append(UInt8(ascii: "{"))
            for (position, member) in members.enumerated() {
                if position > 0 { output.append(UInt8(ascii: ",")) }
                writeString(member.key, into: &output)
                output.append(UInt8(ascii: ":"))
                compact(member.value, into: &output)
            }
            output.append(UInt8(ascii: "}"))
        case .array(let elements):
            output.append(UInt8(ascii: "["))
            for (position, element) in elements.enumerated() {
                if position > 0 { output.append(UInt8(ascii: ",")) }
                compact(element, into: &output)
            }
            output.append(UInt8(ascii: "]"))
        case .string(let text):
            writeString(text, into: &output)
        case .number(let lexeme):
            output.append(contentsOf: lexeme.utf8)
        case .bool(let flag):
            output.append(contentsOf: (flag ? "true" : "false").utf8)
        case .null:
            output.append(contentsOf: "null".utf8)
        }
    }

    /// Writes `text` as a JSON string: `"` and `\` escaped, control characters as `\b \f \n
    /// \r \t` or `\u00xx` (lowercase hex), everything else as UTF-8.
    public static func writeString(_ text: String, into output: inout [UInt8]) {
        var text = text
        text.withUTF8 { writeString(utf8: $0, into: &output) }
    }

    /// `text` as a JSON string literal, escaped as ``writeString(_:into:)`` says.
    public static func quoted(_ text: String) -> String {
        var output: [UInt8] = []
        writeString(text, into: &output)
        return String(decoding: output, as: UTF8.self)
    }

    /// Writes UTF-8 text as a JSON string, escaped as ``writeString(_:into:)`` says.
    static func writeString(utf8 bytes: UnsafeBufferPointer<UInt8>, into output: inout [UInt8]) {
        output.append(capacity: ByteWriter.maxJSONStringLength(utf8Count: bytes.count)) { $0.appendJSONString(utf8: bytes) }
    }

    /// `json` without the whitespace between tokens; bytes inside strings are kept as they are.
    public static func removingInsignificantWhitespace(_ json: [UInt8]) -> [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(json.count)
        var inString = false
        var escaped = false
        for byte in json {
            if inString {
                output.append(byte)
                if escaped { escaped = false } else if byte == UInt8(ascii: "\\") { escaped = true } else if byte == UInt8(ascii: "\"") { inString = false }
                continue
            }
            switch byte {
            case 0x20, 0x09, 0x0A, 0x0D: continue
            case UInt8(ascii: "\""): inString = true; output.append(byte)
            default: output.append(byte)
            }
        }
        return output
    }

    /// Human-readable JSON with two-space indentation and members in their given order.
    public static func pretty(_ value: JSONValue, indent: Int = 0, into output: inout [UInt8]) {
        let pad = { (level: Int) in [UInt8](repeating: 0x20, count: level * 2) }
        switch value {
        case .object(let members):
            guard !members.isEmpty else { output.append(contentsOf: "{}".utf8); return }
            output.append(contentsOf: "{\n".utf8)
            for (position, member) in members.enumerated() {
                output.append(contentsOf: pad(indent + 1))
                writeString(member.key, into: &output)
                output.append(contentsOf: ": ".utf8)
                pretty(member.value, indent: indent + 1, into: &output)
                output.append(contentsOf: (position + 1 < members.count ? ",\n" : "\n").utf8)
            }
            output.append(contentsOf: pad(indent))
            output.append(UInt8(ascii: "}"))
        case .array(let elements):
            guard !elements.isEmpty else { output.append(contentsOf: "[]".utf8); return }
            output.append(contentsOf: "[\n".utf8)
            for (position, element) in elements.enumerated() {
                output.append(contentsOf: pad(indent + 1))
                pretty(element, indent: indent + 1, into: &output)
                output.append(contentsOf: (position + 1 < elements.count ? ",\n" : "\n").utf8)
            }
            output.append(contentsOf: pad(indent))
            output.append(UInt8(ascii: "]"))
        default:
            compact(value, into: &output)
        }
    }
}

extension JSONDocument {
    /// The document of a value tree: the tree written compactly and parsed.
    public init(_ value: JSONValue) {
        var compact: [UInt8] = []
        JSONWriter.compact(value, into: &compact)
        guard let document = try? JSONParser.document(compact) else {
            preconditionFailure("the compact form of a JSON value did not parse")
        }
        self = document
    }
}
