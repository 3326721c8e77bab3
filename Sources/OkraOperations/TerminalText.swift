/// Text from the event log made safe to print on a terminal: a record id or a Kafka error comes
/// from outside, and an escape sequence in one must not move an operator's cursor, recolour the
/// screen or set the window's title.
public enum TerminalText {
    /// `text` with every control character (C0, DEL, C1) and backslash written as an escape:
    /// `\u{1B}` as `\x1b`, a newline as `\n`, a backslash as `\\`. Everything else as it is.
    public static func escaped(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: needsEscape) else { return text }
        var out = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\\": out += "\\\\"
            case _ where needsEscape(scalar):
                let hex = String(scalar.value, radix: 16)
                out += scalar.value <= 0xFF ? "\\x" + (hex.count < 2 ? "0" + hex : hex) : "\\u{\(hex)}"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    /// JSON text with every control character the JSON writer leaves as it is (DEL, C1, the
    /// bidirectional overrides) written as a `\uXXXX` escape: the same JSON value, safe on a
    /// terminal. Outside strings JSON has none of them, so every one is inside a string.
    public static func escapingJSON(_ json: String) -> String {
        guard json.unicodeScalars.contains(where: needsEscape) else { return json }
        var out = ""
        for scalar in json.unicodeScalars {
            if scalar.value >= 0x20, scalar != "\\", needsEscape(scalar) {
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    static func needsEscape(_ scalar: Unicode.Scalar) -> Bool {
        scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value) || scalar == "\\"
            // Bidirectional overrides and isolates reorder what follows them on screen.
            || (0x202A...0x202E).contains(scalar.value) || (0x2066...0x2069).contains(scalar.value)
    }
}
