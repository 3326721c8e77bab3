import Foundation

/// Writes JSON text: the canonical form the idempotency key hashes, and string escaping for
/// the envelope.
public enum JSONWriter {
    /// Canonical JSON: object members sorted by the UTF-8 bytes of their keys (a stable sort,
    /// so repeated keys keep their order), no whitespace, strings escaped minimally, numbers
    /// exactly as sent.
    public static func canonical(_ value: JSONValue, into output: inout [UInt8]) {
        switch value {
        case .object(let members):
            output.append(UInt8(ascii: "{"))
            let sorted = members.enumerated().sorted { lhs, rhs in
                let order = compareUTF8(lhs.element.key, rhs.element.key)
                return order == 0 ? lhs.offset < rhs.offset : order < 0
            }
            for (position, member) in sorted.enumerated() {
                if position > 0 { output.append(UInt8(ascii: ",")) }
                writeString(member.element.key, into: &output)
                output.append(UInt8(ascii: ":"))
                canonical(member.element.value, into: &output)
            }
            output.append(UInt8(ascii: "}"))
        case .array(let elements):
            output.append(UInt8(ascii: "["))
            for (position, element) in elements.enumerated() {
                if position > 0 { output.append(UInt8(ascii: ",")) }
                canonical(element, into: &output)
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
        text.withUTF8 { bytes in
            output.append(UInt8(ascii: "\""))
            var runStart = 0
            for index in 0..<bytes.count {
                let byte = bytes[index]
                guard byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") else { continue }
                if runStart < index { output.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart..<index])) }
                runStart = index + 1
                output.append(UInt8(ascii: "\\"))
                switch byte {
                case UInt8(ascii: "\""): output.append(UInt8(ascii: "\""))
                case UInt8(ascii: "\\"): output.append(UInt8(ascii: "\\"))
                case 0x08: output.append(UInt8(ascii: "b"))
                case 0x0C: output.append(UInt8(ascii: "f"))
                case 0x0A: output.append(UInt8(ascii: "n"))
                case 0x0D: output.append(UInt8(ascii: "r"))
                case 0x09: output.append(UInt8(ascii: "t"))
                default:
                    output.append(UInt8(ascii: "u"))
                    output.append(UInt8(ascii: "0"))
                    output.append(UInt8(ascii: "0"))
                    output.append(hexDigit(byte >> 4))
                    output.append(hexDigit(byte & 0xF))
                }
            }
            if runStart < bytes.count { output.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart..<bytes.count])) }
            output.append(UInt8(ascii: "\""))
        }
    }

    @inline(__always)
    static func hexDigit(_ nibble: UInt8) -> UInt8 {
        nibble < 10 ? UInt8(ascii: "0") + nibble : UInt8(ascii: "a") + nibble - 10
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
            canonical(value, into: &output)
        }
    }

    /// Orders two strings by their UTF-8 bytes (which is Unicode code point order).
    static func compareUTF8(_ lhs: String, _ rhs: String) -> Int {
        var lhs = lhs
        var rhs = rhs
        return lhs.withUTF8 { a in
            rhs.withUTF8 { b in
                let common = min(a.count, b.count)
                if common > 0 {
                    let order = memcmp(a.baseAddress!, b.baseAddress!, common)
                    if order != 0 { return order < 0 ? -1 : 1 }
                }
                return a.count == b.count ? 0 : (a.count < b.count ? -1 : 1)
            }
        }
    }
}
