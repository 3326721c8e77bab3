/// Where and why a body is not valid JSON.
public struct JSONSyntaxError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Zero-based byte offset of the problem.
    public var offset: Int
    /// One-based line.
    public var line: Int
    /// One-based column, in bytes.
    public var column: Int
    /// What was wrong.
    public var message: String

    /// Where the parser stopped and why, in one line.
    public var description: String { "line \(line), column \(column) (byte \(offset)): \(message)" }
}

/// A strict RFC 8259 JSON parser over UTF-8 bytes with a nesting limit.
///
/// Strings must be valid UTF-8 without raw control characters and with valid escapes; numbers
/// must follow the JSON grammar. A leading UTF-8 byte-order mark and surrounding whitespace
/// are allowed. The parser checks everything but decodes nothing: it records a
/// ``JSONDocument``.
public struct JSONParser {
    /// The deepest nesting of arrays and objects accepted.
    public static let maxDepth = 128

    /// Parses one JSON document into its value tree. Returns the value and the byte range it
    /// spans in `bytes` (without the byte-order mark and surrounding whitespace).
    public static func parse(_ bytes: [UInt8]) throws(JSONSyntaxError) -> (value: JSONValue, range: Range<Int>) {
        let document = try document(bytes)
        return (document.value, document.range)
    }

    /// Parses one JSON document without decoding it.
    public static func document(_ bytes: [UInt8]) throws(JSONSyntaxError) -> JSONDocument {
        let (nodes, range) = try bytes.withUnsafeBufferPointer { (buffer: UnsafeBufferPointer<UInt8>) throws(JSONSyntaxError) in
            var parser = Cursor(bytes: buffer)
            guard buffer.count < Int(Int32.max) else { throw parser.error("the body is larger than 2 GiB") }
            if buffer.count >= 3 && buffer[0] == 0xEF && buffer[1] == 0xBB && buffer[2] == 0xBF { parser.index = 3 }
            parser.skipWhitespace()
            guard parser.index < buffer.count else {
                throw parser.error(buffer.isEmpty ? "the body is empty" : "no JSON value, only whitespace")
            }
            // At most one node per two bytes ("1," or "[]"): reserving that much never copies the
            // nodes as they grow (a bracket-dense body made them grow four times); pages that are
            // not used are never touched.
            parser.nodes.reserveCapacity(buffer.count / 2 + 8)
            let start = parser.index
            try parser.parseValue(depth: 0)
            let end = parser.index
            parser.skipWhitespace()
            guard parser.index == buffer.count else {
                throw parser.error("unexpected \(parser.describeCurrent()) after the JSON value")
            }
            return (parser.nodes, start..<end)
        }
        return JSONDocument(bytes: bytes, range: range, nodes: nodes)
    }

    private struct Cursor {
        typealias Node = JSONDocument.Node
        let bytes: UnsafeBufferPointer<UInt8>
        var index = 0
        var nodes: [Node] = []

        func error(_ message: String) -> JSONSyntaxError {
            var line = 1
            var lineStart = 0
            for position in 0..<min(index, bytes.count) where bytes[position] == UInt8(ascii: "\n") {
                line += 1
                lineStart = position + 1
            }
            return JSONSyntaxError(offset: index, line: line, column: index - lineStart + 1, message: message)
        }

        func describeCurrent() -> String {
            guard index < bytes.count else { return "end of input" }
            let byte = bytes[index]
            if byte >= 0x21 && byte < 0x7F { return "'\(Character(Unicode.Scalar(byte)))'" }
            return "byte 0x\(String(byte, radix: 16, uppercase: true))"
        }

        mutating func skipWhitespace() {
            while index < bytes.count {
                switch bytes[index] {
                case 0x20, 0x09, 0x0A, 0x0D: index += 1
                default: return
                }
            }
        }

        /// Records a leaf node spanning `start..<index`.
        mutating func leaf(_ kind: Node.Kind, from start: Int) {
            nodes.append(Node(kind: kind, start: Int32(start), end: Int32(index), next: Int32(nodes.count + 1)))
        }

        mutating func parseValue(depth: Int) throws(JSONSyntaxError) {
            guard index < bytes.count else { throw error("unexpected end of input, expected a value") }
            let start = index
            switch bytes[index] {
            case UInt8(ascii: "{"): try parseObject(depth: depth + 1)
            case UInt8(ascii: "["): try parseArray(depth: depth + 1)
            case UInt8(ascii: "\""): try parseString()
            case UInt8(ascii: "t"): try expectLiteral("true"); leaf(.true, from: start)
            case UInt8(ascii: "f"): try expectLiteral("false"); leaf(.false, from: start)
            case UInt8(ascii: "n"): try expectLiteral("null"); leaf(.null, from: start)
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): try parseNumber(); leaf(.number, from: start)
            default: throw error("unexpected \(describeCurrent()), expected a value")
            }
        }

        mutating func expectLiteral(_ literal: StaticString) throws(JSONSyntaxError) {
            let count = literal.utf8CodeUnitCount
            let start = literal.utf8Start
            for offset in 0..<count {
                guard index + offset < bytes.count, bytes[index + offset] == start[offset] else {
                    index += offset
                    throw error("invalid literal, expected '\(literal)'")
                }
            }
            index += count
        }

        /// Records the container node at `slot` as ending here, its subtree complete: one write
        /// of the whole node (each write to the array checks its uniqueness).
        mutating func close(_ slot: Int, verbatim: Bool = false) {
            let node = nodes[slot]
            nodes[slot] = Node(kind: node.kind, start: node.start, end: Int32(index), next: Int32(nodes.count), verbatim: verbatim)
        }

        mutating func parseObject(depth: Int) throws(JSONSyntaxError) {
            guard depth <= JSONParser.maxDepth else { throw error("nesting deeper than \(JSONParser.maxDepth) levels") }
            let slot = nodes.count
            nodes.append(Node(kind: .object, start: Int32(index), end: 0, next: 0))
            index += 1
            skipWhitespace()
            if index < bytes.count && bytes[index] == UInt8(ascii: "}") {
                index += 1
                return close(slot)
            }
            while true {
                skipWhitespace()
                guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else {
                    throw error("unexpected \(describeCurrent()), expected a member name in double quotes")
                }
                try parseString()
                skipWhitespace()
                guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else {
                    throw error("unexpected \(describeCurrent()), expected ':' after a member name")
                }
                index += 1
                skipWhitespace()
                try parseValue(depth: depth)
                skipWhitespace()
                guard index < bytes.count else { throw error("unexpected end of input, expected ',' or '}'") }
                if bytes[index] == UInt8(ascii: ",") {
                    index += 1
                    continue
                }
                if bytes[index] == UInt8(ascii: "}") {
                    index += 1
                    return close(slot)
                }
                throw error("unexpected \(describeCurrent()), expected ',' or '}' after an object member")
            }
        }

        mutating func parseArray(depth: Int) throws(JSONSyntaxError) {
            guard depth <= JSONParser.maxDepth else { throw error("nesting deeper than \(JSONParser.maxDepth) levels") }
            let slot = nodes.count
            nodes.append(Node(kind: .array, start: Int32(index), end: 0, next: 0))
            index += 1
            // Whether the array's text is its canonical form (``JSONDocument/Node/verbatim``).
            var verbatim = true
            var before = index
            skipWhitespace()
            if index != before { verbatim = false }
            if index < bytes.count && bytes[index] == UInt8(ascii: "]") {
                index += 1
                return close(slot, verbatim: verbatim)
            }
            while true {
                before = index
                skipWhitespace()
                if index != before { verbatim = false }
                let element = nodes.count
                // An array in an array straight away, without the dispatch (bracket-dense bodies).
                if index < bytes.count && bytes[index] == UInt8(ascii: "[") {
                    try parseArray(depth: depth + 1)
                } else {
                    try parseValue(depth: depth)
                }
                let kind = nodes[element].kind
                if kind == .object || kind == .escapedString || (kind == .array && !nodes[element].verbatim) { verbatim = false }
                before = index
                skipWhitespace()
                if index != before { verbatim = false }
                guard index < bytes.count else { throw error("unexpected end of input, expected ',' or ']'") }
                if bytes[index] == UInt8(ascii: ",") {
                    index += 1
                    continue
                }
                if bytes[index] == UInt8(ascii: "]") {
                    index += 1
                    return close(slot, verbatim: verbatim)
                }
                throw error("unexpected \(describeCurrent()), expected ',' or ']' after an array element")
            }
        }

        mutating func parseNumber() throws(JSONSyntaxError) {
            if bytes[index] == UInt8(ascii: "-") { index += 1 }
            guard index < bytes.count, isDigit(bytes[index]) else { throw error("invalid number, expected a digit") }
            if bytes[index] == UInt8(ascii: "0") {
                index += 1
                if index < bytes.count, isDigit(bytes[index]) { throw error("invalid number, leading zero") }
            } else {
                while index < bytes.count, isDigit(bytes[index]) { index += 1 }
            }
            if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
                index += 1
                guard index < bytes.count, isDigit(bytes[index]) else { throw error("invalid number, expected a digit after '.'") }
                while index < bytes.count, isDigit(bytes[index]) { index += 1 }
            }
            if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
                index += 1
                if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") { index += 1 }
                guard index < bytes.count, isDigit(bytes[index]) else { throw error("invalid number, expected an exponent digit") }
                while index < bytes.count, isDigit(bytes[index]) { index += 1 }
            }
        }

        func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }

        /// Checks a string and records it as a node spanning its text (between the quotes).
        mutating func parseString() throws(JSONSyntaxError) {
            index += 1 // opening quote
            let start = index
            var escaped = false
            var nonASCII: UInt8 = 0
            while index < bytes.count {
                // Skip eight bytes at a time while they are plain ASCII text: no quote,
                // backslash, control character or byte of 0x80 and above.
                while index + 8 <= bytes.count, Self.isPlainText(UnsafeRawPointer(bytes.baseAddress! + index).loadUnaligned(as: UInt64.self)) {
                    index += 8
                }
                guard index < bytes.count else { break }
                let byte = bytes[index]
                if byte == UInt8(ascii: "\"") {
                    if nonASCII & 0x80 != 0, !UTF8Validation.isValid(UnsafeBufferPointer(rebasing: bytes[start..<index])) {
                        index = start
                        throw error("invalid UTF-8 in a string")
                    }
                    nodes.append(Node(kind: escaped ? .escapedString : .string, start: Int32(start), end: Int32(index), next: Int32(nodes.count + 1)))
                    index += 1
                    return
                }
                if byte < 0x20 { throw error("control character in a string (escape it)") }
                nonASCII |= byte
                if byte == UInt8(ascii: "\\") {
                    escaped = true
                    try checkEscape()
                } else {
                    index += 1
                }
            }
            throw error("unterminated string")
        }

        /// Whether eight bytes (any order) hold no `"`, `\\`, byte below 0x20 or byte of 0x80
        /// and above (bitwise tests from "Bit Twiddling Hacks", determine if a word has a byte
        /// equal to or less than n).
        @inline(__always)
        static func isPlainText(_ word: UInt64) -> Bool {
            let ones: UInt64 = 0x0101_0101_0101_0101
            let highs: UInt64 = 0x8080_8080_8080_8080
            func hasZeroByte(_ x: UInt64) -> UInt64 { (x &- ones) & ~x & highs }
            let quote = hasZeroByte(word ^ (ones &* 0x22))
            let backslash = hasZeroByte(word ^ (ones &* 0x5C))
            let control = (word &- ones &* 0x20) & ~word & highs
            return (quote | backslash | control | (word & highs)) == 0
        }

        /// Checks the escape sequence at `index` (a backslash) and moves past it.
        mutating func checkEscape() throws(JSONSyntaxError) {
            index += 1
            guard index < bytes.count else { throw error("unterminated escape sequence") }
            let escape = bytes[index]
            index += 1
            switch escape {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"),
                 UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                return
            case UInt8(ascii: "u"):
                let scalar = try parseHex4()
                if (0xD800...0xDBFF).contains(scalar) {
                    guard index + 1 < bytes.count, bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u") else {
                        throw error("unpaired surrogate in \\u escape")
                    }
                    index += 2
                    let low = try parseHex4()
                    guard (0xDC00...0xDFFF).contains(low) else { throw error("unpaired surrogate in \\u escape") }
                } else if (0xDC00...0xDFFF).contains(scalar) {
                    throw error("unpaired surrogate in \\u escape")
                }
            default:
                index -= 1
                throw error("invalid escape '\\\(Character(Unicode.Scalar(escape)))'")
            }
        }

        mutating func parseHex4() throws(JSONSyntaxError) -> UInt32 {
            guard index + 4 <= bytes.count else { throw error("incomplete \\u escape") }
            var value: UInt32 = 0
            for _ in 0..<4 {
                let byte = bytes[index]
                let digit: UInt32
                switch byte {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(byte - UInt8(ascii: "0"))
                case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(byte - UInt8(ascii: "a") + 10)
                case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt32(byte - UInt8(ascii: "A") + 10)
                default: throw error("invalid hex digit in \\u escape")
                }
                value = value << 4 | digit
                index += 1
            }
            return value
        }
    }
}

/// UTF-8 well-formedness (Unicode 15, table 3-7): no overlong forms, no surrogates, nothing
/// above U+10FFFF, no truncated sequences.
enum UTF8Validation {
    static func isValid(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        var i = 0
        let count = bytes.count
        func continuation(_ at: Int, _ low: UInt8 = 0x80, _ high: UInt8 = 0xBF) -> Bool {
            at < count && bytes[at] >= low && bytes[at] <= high
        }
        while i < count {
            let lead = bytes[i]
            switch lead {
            case 0x00...0x7F:
                i += 1
            case 0xC2...0xDF:
                guard continuation(i + 1) else { return false }
                i += 2
            case 0xE0...0xEF:
                let low: UInt8 = lead == 0xE0 ? 0xA0 : 0x80
                let high: UInt8 = lead == 0xED ? 0x9F : 0xBF
                guard continuation(i + 1, low, high), continuation(i + 2) else { return false }
                i += 3
            case 0xF0...0xF4:
                let low: UInt8 = lead == 0xF0 ? 0x90 : 0x80
                let high: UInt8 = lead == 0xF4 ? 0x8F : 0xBF
                guard continuation(i + 1, low, high), continuation(i + 2), continuation(i + 3) else { return false }
                i += 4
            default:
                return false
            }
        }
        return true
    }
}
