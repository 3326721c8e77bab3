/// Writes bytes into a buffer sized in advance: no capacity or uniqueness checks per byte as
/// with `Array.append`, only a bounds check that traps rather than overrun.
struct ByteWriter {
    let buffer: UnsafeMutableBufferPointer<UInt8>
    /// Bytes written so far.
    private(set) var count = 0

    init(_ buffer: UnsafeMutableBufferPointer<UInt8>) {
        self.buffer = buffer
    }

    /// The most bytes ``appendJSONString(utf8:)`` writes for `count` bytes of text.
    static func maxJSONStringLength(utf8Count count: Int) -> Int { 2 + 6 * count }

    @inline(__always)
    mutating func append(_ byte: UInt8) {
        precondition(count < buffer.count, "ByteWriter overrun")
        buffer[count] = byte
        count += 1
    }

    @inline(__always)
    mutating func append(_ bytes: UnsafeBufferPointer<UInt8>) {
        precondition(bytes.count <= buffer.count - count, "ByteWriter overrun")
        if let source = bytes.baseAddress, bytes.count > 0 {
            (buffer.baseAddress! + count).update(from: source, count: bytes.count)
        }
        count += bytes.count
    }

    /// Writes UTF-8 text as a JSON string: `"` and `\` escaped, control characters as
    /// `\b \f \n \r \t` or `\u00xx` (lowercase hex), everything else as it is.
    mutating func appendJSONString(utf8 bytes: UnsafeBufferPointer<UInt8>) {
        append(UInt8(ascii: "\""))
        var runStart = 0
        for index in 0..<bytes.count {
            let byte = bytes[index]
            guard byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") else { continue }
            append(UnsafeBufferPointer(rebasing: bytes[runStart..<index]))
            runStart = index + 1
            append(UInt8(ascii: "\\"))
            switch byte {
            case UInt8(ascii: "\""): append(UInt8(ascii: "\""))
            case UInt8(ascii: "\\"): append(UInt8(ascii: "\\"))
            case 0x08: append(UInt8(ascii: "b"))
            case 0x0C: append(UInt8(ascii: "f"))
            case 0x0A: append(UInt8(ascii: "n"))
            case 0x0D: append(UInt8(ascii: "r"))
            case 0x09: append(UInt8(ascii: "t"))
            default:
                append(UInt8(ascii: "u"))
                append(UInt8(ascii: "0"))
                append(UInt8(ascii: "0"))
                append(Self.hexDigit(byte >> 4))
                append(Self.hexDigit(byte & 0xF))
            }
        }
        append(UnsafeBufferPointer(rebasing: bytes[runStart..<bytes.count]))
        append(UInt8(ascii: "\""))
    }

    /// Writes `text` as a JSON string (see ``appendJSONString(utf8:)``).
    mutating func appendJSONString(_ text: String) {
        var text = text
        text.withUTF8 { appendJSONString(utf8: $0) }
    }

    @inline(__always)
    static func hexDigit(_ nibble: UInt8) -> UInt8 {
        nibble < 10 ? UInt8(ascii: "0") + nibble : UInt8(ascii: "a") + nibble - 10
    }
}

extension Array where Element == UInt8 {
    /// Appends at most `capacity` bytes written by `body`.
    mutating func append(capacity: Int, _ body: (inout ByteWriter) -> Void) {
        let start = count
        append(contentsOf: repeatElement(0, count: capacity))
        let written = withUnsafeMutableBufferPointer { all in
            var writer = ByteWriter(UnsafeMutableBufferPointer(rebasing: all[start...]))
            body(&writer)
            return writer.count
        }
        removeLast(capacity - written)
    }
}
