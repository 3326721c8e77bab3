import Foundation

/// A parsed JSON document kept as a flat list of nodes over the bytes it was parsed from.
///
/// Parsing records where each value is and what kind it is; nothing is decoded until asked
/// for. Strings stay byte ranges (decoded only when a field is read), numbers stay their
/// lexemes, and an object's members are the nodes that follow it. This is what lets the
/// normalizer classify a payload and hash its canonical form without building a tree of
/// `String`s and arrays first (see docs/benchmarks.md).
public struct JSONDocument: Sendable {
    /// The bytes the document was parsed from.
    public let bytes: [UInt8]
    /// The root value's byte range (without a byte-order mark and surrounding whitespace).
    public let range: Range<Int>
    let nodes: [Node]

    struct Node: Sendable {
        enum Kind: UInt8, Sendable { case object, array, string, escapedString, number, `true`, `false`, null }
        /// What the value is; `escapedString` is a string whose text has a backslash escape.
        var kind: Kind
        /// Objects and arrays: the opening bracket; strings: the first byte after the quote;
        /// others: the first byte of the lexeme.
        var start: Int32
        /// One past the value's last byte; for strings, the closing quote.
        var end: Int32
        /// The index of the first node after this value's subtree: for an object or array, its
        /// members (keys and values alternating) or elements are the nodes in between.
        var next: Int32
        /// An array whose text is already its canonical form (no whitespace, no escaped string,
        /// no object inside): the canonical writer copies it as it is. In the node's padding.
        var verbatim = false
    }

    init(bytes: [UInt8], range: Range<Int>, nodes: [Node]) {
        self.bytes = bytes
        self.range = range
        self.nodes = nodes
    }

    /// Calls `body` with the root element. Elements read the document in place, without
    /// reference counting, and are valid only inside `body`.
    public func withRoot<R>(_ body: (JSONElement) throws -> R) rethrows -> R {
        try bytes.withUnsafeBufferPointer { bytes in
            try nodes.withUnsafeBufferPointer { nodes in
                try body(JSONElement(bytes: bytes, nodes: nodes, index: 0))
            }
        }
    }

    /// Whether the root is an object.
    public var isObject: Bool { nodes[0].kind == .object }

    /// A short name of the root value's kind, for messages (read from the root node: no tree).
    public var rootKindName: String {
        switch nodes[0].kind {
        case .object: "an object"
        case .array: "an array"
        case .string, .escapedString: "a string"
        case .number: "a number"
        case .true, .false: "a boolean"
        case .null: "null"
        }
    }

    /// The whole document as a value tree.
    public var value: JSONValue { withRoot { $0.tree } }
}

/// One value of a ``JSONDocument``, read in place. Valid only inside
/// ``JSONDocument/withRoot(_:)``.
public struct JSONElement {
    typealias Node = JSONDocument.Node
    let bytes: UnsafeBufferPointer<UInt8>
    let nodes: UnsafeBufferPointer<Node>
    let index: Int

    var node: Node { nodes[index] }

    func element(_ index: Int) -> JSONElement { JSONElement(bytes: bytes, nodes: nodes, index: index) }

    /// Whether this is an object.
    public var isObject: Bool { node.kind == .object }

    /// The member named `key` of an object (the last one, if the name repeats), else nil.
    public subscript(key: StaticString) -> JSONElement? {
        member(named: UnsafeBufferPointer(start: key.utf8Start, count: key.utf8CodeUnitCount))
    }

    /// The value at a path of object keys.
    public func value(at path: JSONPath) -> JSONElement? {
        var current: JSONElement? = self
        path.forEachKey { key in
            current = current?.member(named: key)
            return current != nil
        }
        return current
    }

    func member(named key: UnsafeBufferPointer<UInt8>) -> JSONElement? {
        guard node.kind == .object else { return nil }
        var found: Int?
        var child = index + 1
        let end = Int(node.next)
        while child < end {
            if keyEquals(nodes[child], key) { found = child + 1 }
            child = Int(nodes[child + 1].next)
        }
        return found.map(element)
    }

    /// The text, if this is a non-empty string.
    public var nonEmptyString: String? {
        let node = self.node
        guard node.kind == .string || node.kind == .escapedString, node.end > node.start else { return nil }
        return string(node)
    }

    /// Whether the key node `node` decodes to exactly the bytes `key`. An escaped key is
    /// decoded as it is compared, without a copy, and only as far as it matches: a look-up costs
    /// the same whether the payload's keys are escaped or not.
    func keyEquals(_ node: Node, _ key: UnsafeBufferPointer<UInt8>) -> Bool {
        if node.kind == .string {
            let count = Int(node.end - node.start)
            guard count == key.count else { return false }
            return count == 0 || memcmp(bytes.baseAddress! + Int(node.start), key.baseAddress!, count) == 0
        }
        // Decoded text is never longer than what was written, nor shorter than a sixth of it.
        let written = Int(node.end - node.start)
        guard key.count <= written, key.count * 6 >= written else { return false }
        var matched = 0
        var equal = true
        forEachDecodedByte(node) { byte in
            guard matched < key.count, key[matched] == byte else {
                equal = false
                return false
            }
            matched += 1
            return true
        }
        return equal && matched == key.count
    }

    /// Calls `body` with each UTF-8 byte of a string node's decoded text, in order, until it
    /// returns false. The parser has checked every escape already.
    @inline(__always)
    func forEachDecodedByte(_ node: Node, _ body: (UInt8) -> Bool) {
        var index = Int(node.start)
        let end = Int(node.end)
        while index < end {
            let byte = bytes[index]
            guard byte == UInt8(ascii: "\\") else {
                guard body(byte) else { return }
                index += 1
                continue
            }
            let escape = bytes[index + 1]
            index += 2
            switch escape {
            case UInt8(ascii: "b"): guard body(0x08) else { return }
            case UInt8(ascii: "f"): guard body(0x0C) else { return }
            case UInt8(ascii: "n"): guard body(0x0A) else { return }
            case UInt8(ascii: "r"): guard body(0x0D) else { return }
            case UInt8(ascii: "t"): guard body(0x09) else { return }
            case UInt8(ascii: "u"):
                var scalar = hex4(index)
                index += 4
                if (0xD800...0xDBFF).contains(scalar) {
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (hex4(index + 2) - 0xDC00)
                    index += 6
                }
                switch scalar {
                case ..<0x80:
                    guard body(UInt8(scalar)) else { return }
                case ..<0x800:
                    guard body(UInt8(0xC0 | scalar >> 6)), body(UInt8(0x80 | scalar & 0x3F)) else { return }
                case ..<0x10000:
                    guard body(UInt8(0xE0 | scalar >> 12)), body(UInt8(0x80 | scalar >> 6 & 0x3F)), body(UInt8(0x80 | scalar & 0x3F)) else { return }
                default:
                    guard body(UInt8(0xF0 | scalar >> 18)), body(UInt8(0x80 | scalar >> 12 & 0x3F)), body(UInt8(0x80 | scalar >> 6 & 0x3F)),
                          body(UInt8(0x80 | scalar & 0x3F)) else { return }
                }
            default: guard body(escape) else { return } // \" \\ \/
            }
        }
    }

    private func hex4(_ at: Int) -> UInt32 {
        var value: UInt32 = 0
        for byte in bytes[at..<at + 4] {
            let digit: UInt8 = byte <= UInt8(ascii: "9") ? byte - UInt8(ascii: "0") : (byte | 0x20) - UInt8(ascii: "a") + 10
            value = value << 4 | UInt32(digit)
        }
        return value
    }

    /// The raw bytes of a node (a string's text as written, with its escapes).
    func raw(_ node: Node) -> UnsafeBufferPointer<UInt8> {
        UnsafeBufferPointer(rebasing: bytes[Int(node.start)..<Int(node.end)])
    }

    /// The decoded text of a string node.
    func string(_ node: Node) -> String {
        node.kind == .string ? String(decoding: raw(node), as: UTF8.self) : String(decoding: decodedText(node), as: UTF8.self)
    }

    /// The UTF-8 bytes of a string node's text with its escapes decoded. The parser has
    /// checked every escape already.
    func decodedText(_ node: Node) -> [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(Int(node.end - node.start))
        forEachDecodedByte(node) { byte in
            output.append(byte)
            return true
        }
        return output
    }

    /// This value as a tree, for callers that want to walk or edit it.
    var tree: JSONValue {
        let node = self.node
        switch node.kind {
        case .object:
            var members: [JSONMember] = []
            var child = index + 1
            while child < Int(node.next) {
                members.append(JSONMember(key: string(nodes[child]), value: element(child + 1).tree))
                child = Int(nodes[child + 1].next)
            }
            return .object(members)
        case .array:
            var elements: [JSONValue] = []
            var child = index + 1
            while child < Int(node.next) {
                elements.append(element(child).tree)
                child = Int(nodes[child].next)
            }
            return .array(elements)
        case .string, .escapedString: return .string(string(node))
        case .number: return .number(String(decoding: raw(node), as: UTF8.self))
        case .true: return .bool(true)
        case .false: return .bool(false)
        case .null: return .null
        }
    }
}

/// A path of object keys, written with dots: `"auth.bank_details.slug"`. Paths are literals in
/// the vocabulary, read in place.
public struct JSONPath: Sendable, ExpressibleByStringLiteral, CustomStringConvertible {
    let dotted: StaticString
    /// Where each key ends in `dotted` (at most four keys; `ends.count` of them used).
    private let ends: (UInt8, UInt8, UInt8, UInt8)
    private let count: Int

    /// A path written as dotted keys, e.g. `"auth.bank_details.slug"`.
    public init(stringLiteral dotted: StaticString) {
        self.dotted = dotted
        let text = UnsafeBufferPointer(start: dotted.utf8Start, count: dotted.utf8CodeUnitCount)
        var ends: [UInt8] = []
        for index in 0...text.count where index == text.count || text[index] == UInt8(ascii: ".") {
            ends.append(UInt8(index))
        }
        precondition(text.count < 256 && ends.count <= 4, "a JSON path literal has at most four keys and 255 bytes")
        self.count = ends.count
        ends += [0, 0, 0]
        self.ends = (ends[0], ends[1], ends[2], ends[3])
    }

    /// Calls `body` with each key, outermost first, until it returns false.
    @inline(__always)
    func forEachKey(_ body: (UnsafeBufferPointer<UInt8>) -> Bool) {
        var start = 0
        for position in 0..<count {
            let end: Int
            switch position {
            case 0: end = Int(ends.0)
            case 1: end = Int(ends.1)
            case 2: end = Int(ends.2)
            default: end = Int(ends.3)
            }
            guard body(UnsafeBufferPointer(start: dotted.utf8Start + start, count: end - start)) else { return }
            start = end + 1
        }
    }

    /// The path as written.
    public var description: String { dotted.description }
}
