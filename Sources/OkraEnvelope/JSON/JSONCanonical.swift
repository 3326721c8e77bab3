import Foundation

/// A member the canonical form of a document's root object gets in addition to its own (the
/// idempotency key's `received-minute`, §2): sorted in among them as if it had been sent.
public struct CanonicalMember: Sendable {
    /// The key, as UTF-8 text (written with JSON escapes where needed).
    public var key: [UInt8]
    /// The value, as canonical JSON text (e.g. a quoted string).
    public var value: [UInt8]

    /// A member `key` with the JSON text `value`.
    public init(key: [UInt8], value: [UInt8]) {
        self.key = key
        self.value = value
    }
}

extension JSONDocument {
    /// Writes the canonical JSON of the document (the form the idempotency key hashes):
    /// object members sorted by the UTF-8 bytes of their decoded keys (repeated keys keep their
    /// order), no whitespace, strings escaped minimally (only `"`, `\` and control characters;
    /// `\b \f \n \r \t` or lowercase `\u00xx`), numbers exactly as sent. Top-level members
    /// whose key is in `excludingTopLevel` are left out; `adding` is sorted in among the root
    /// object's members.
    ///
    /// A string without escapes is already in canonical form (the parser rejected raw control
    /// characters), so its bytes are copied as they are; only escaped strings are re-encoded.
    public func writeCanonical(into output: inout [UInt8], excludingTopLevel excluded: [[UInt8]] = [], adding extra: CanonicalMember? = nil) {
        withCanonicalBytes(excludingTopLevel: excluded, adding: extra) { output.append(contentsOf: $0) }
    }

    /// Calls `body` with the canonical JSON (see ``writeCanonical(into:excludingTopLevel:adding:)``)
    /// in temporary storage, valid only inside `body`.
    ///
    /// The cost is linear in the document whatever its shape: each escaped key is decoded once,
    /// into scratch space, and sorted and written from there (decoding it at every comparison
    /// made a body of many escaped keys cost far more per byte than a plain one).
    public func withCanonicalBytes<R>(excludingTopLevel excluded: [[UInt8]] = [], adding extra: CanonicalMember? = nil,
                                      _ body: (UnsafeBufferPointer<UInt8>) -> R) -> R {
        // The canonical form is never longer than the document: whitespace goes, and every
        // escape sequence is re-encoded in at most as many bytes as it was written with. An
        // added member takes its own length, with room for its key's escapes.
        let added = extra.map { 6 * $0.key.count + $0.value.count + 4 } ?? 0
        return withRoot { root in
            withUnsafeTemporaryAllocation(of: UInt8.self, capacity: max(range.count + added, 1)) { output in
                withUnsafeTemporaryAllocation(of: UInt8.self, capacity: max(range.count, 1)) { keys in
                    withUnsafeTemporaryAllocation(of: CanonicalWriter.SortEntry.self, capacity: nodes.count + 1) { order in
                        func write(_ extraKey: UnsafeBufferPointer<UInt8>, _ extraValue: UnsafeBufferPointer<UInt8>) -> R {
                            var writer = CanonicalWriter(root: root, output: ByteWriter(output), keys: keys, order: order,
                                                         extra: extra == nil ? nil : (extraKey, extraValue))
                            writer.write(0, excluded: excluded)
                            return body(UnsafeBufferPointer(rebasing: output[..<writer.output.count]))
                        }
                        guard let extra else { return write(UnsafeBufferPointer(start: nil, count: 0), UnsafeBufferPointer(start: nil, count: 0)) }
                        return extra.key.withUnsafeBufferPointer { key in extra.value.withUnsafeBufferPointer { value in write(key, value) } }
                    }
                }
            }
        }
    }
}

private struct CanonicalWriter {
    /// A member to sort: its key's decoded text, the text's first eight bytes, big-endian,
    /// zero-padded, and the key's node (-1 for the added member).
    struct SortEntry {
        var prefix: UInt64
        var text: UnsafeBufferPointer<UInt8>
        var key: Int32
    }

    let root: JSONElement
    var output: ByteWriter
    /// Scratch space for the decoded text of escaped keys (never more than the document).
    let keys: UnsafeMutableBufferPointer<UInt8>
    var keysUsed = 0
    /// Scratch space shared by every level (an object has at most one entry per node, the root
    /// one more): an object pushes its members on top, sorts them, writes them and pops them.
    let order: UnsafeMutableBufferPointer<SortEntry>
    var top = 0
    /// The member added to the root object: its key's text and its value's JSON.
    let extra: (key: UnsafeBufferPointer<UInt8>, value: UnsafeBufferPointer<UInt8>)?

    init(root: JSONElement, output: ByteWriter, keys: UnsafeMutableBufferPointer<UInt8>, order: UnsafeMutableBufferPointer<SortEntry>,
         extra: (key: UnsafeBufferPointer<UInt8>, value: UnsafeBufferPointer<UInt8>)?) {
        self.root = root
        self.output = output
        self.keys = keys
        self.order = order
        self.extra = extra
    }

    mutating func append(_ byte: UInt8) { output.append(byte) }

    mutating func append(_ bytes: UnsafeBufferPointer<UInt8>) { output.append(bytes) }

    mutating func write(_ index: Int, excluded: [[UInt8]] = []) {
        let nodes = root.nodes
        let node = nodes[index]
        switch node.kind {
        case .object:
            let base = top
            var child = index + 1
            while child < Int(node.next) {
                let text = keyText(nodes[child])
                if excluded.isEmpty || !excluded.contains(where: { $0.elementsEqual(text) }) {
                    order[top] = SortEntry(prefix: Self.prefix(text), text: text, key: Int32(child))
                    top += 1
                }
                child = Int(nodes[child + 1].next)
            }
            if index == 0, let extra {
                order[top] = SortEntry(prefix: Self.prefix(extra.key), text: extra.key, key: -1)
                top += 1
            }
            sortMembers(from: base)
            append(UInt8(ascii: "{"))
            for position in base..<top {
                if position > base { append(UInt8(ascii: ",")) }
                let entry = order[position]
                writeKey(entry)
                append(UInt8(ascii: ":"))
                if entry.key < 0 {
                    append(extra!.value)
                } else {
                    write(Int(entry.key) + 1)
                }
            }
            append(UInt8(ascii: "}"))
            top = base
        case .array where node.verbatim:
            // Its text is its canonical form: copied whole, its subtree not walked.
            append(root.raw(node))
        case .array:
            append(UInt8(ascii: "["))
            var child = index + 1
            while child < Int(node.next) {
                if child > index + 1 { append(UInt8(ascii: ",")) }
                write(child)
                child = Int(nodes[child].next)
            }
            append(UInt8(ascii: "]"))
        case .string, .escapedString:
            writeString(node)
        case .number, .true, .false, .null:
            append(root.raw(node))
        }
    }

    /// A key's decoded text: its bytes in the document when it has no escapes, else decoded
    /// once into the scratch space.
    mutating func keyText(_ key: JSONDocument.Node) -> UnsafeBufferPointer<UInt8> {
        guard key.kind == .escapedString else { return root.raw(key) }
        let start = keysUsed
        for byte in root.decodedText(key) {
            keys[keysUsed] = byte
            keysUsed += 1
        }
        return UnsafeBufferPointer(rebasing: keys[start..<keysUsed])
    }

    /// A member's key: a plain key's bytes as they are, else its decoded text escaped minimally.
    mutating func writeKey(_ entry: SortEntry) {
        if entry.key >= 0, root.nodes[Int(entry.key)].kind == .string {
            append(UInt8(ascii: "\""))
            append(entry.text)
            append(UInt8(ascii: "\""))
        } else {
            output.appendJSONString(utf8: entry.text)
        }
    }

    mutating func writeString(_ node: JSONDocument.Node) {
        if node.kind == .string {
            append(UInt8(ascii: "\""))
            append(root.raw(node))
            append(UInt8(ascii: "\""))
        } else {
            root.decodedText(node).withUnsafeBufferPointer { output.appendJSONString(utf8: $0) }
        }
    }

    /// The first eight bytes of a key's text, big-endian, so comparing prefixes as integers
    /// orders keys as memcmp would, as long as they differ there. A shorter text is padded with
    /// zeros, which a NUL byte in a key (sent as `\u0000`) shares: equal prefixes are compared
    /// in full.
    static func prefix(_ text: UnsafeBufferPointer<UInt8>) -> UInt64 {
        var value: UInt64 = 0
        for offset in 0..<8 { value = value << 8 | UInt64(offset < text.count ? text[offset] : 0) }
        return value
    }

    /// Sorts `order[base..<top]` by decoded key bytes, ties by position, so the result is the
    /// same whatever the sort algorithm.
    func sortMembers(from base: Int) {
        let count = top - base
        guard count > 1 else { return }
        if count <= 24 {
            // Insertion sort: objects in webhooks are small.
            for i in (base + 1)..<top {
                let item = order[i]
                var j = i - 1
                while j >= base && precedes(item, order[j]) {
                    order[j + 1] = order[j]
                    j -= 1
                }
                order[j + 1] = item
            }
        } else {
            var members = UnsafeMutableBufferPointer(rebasing: order[base..<top])
            members.sort { precedes($0, $1) }
        }
    }

    /// Whether member `a` sorts before member `b`.
    func precedes(_ a: SortEntry, _ b: SortEntry) -> Bool {
        if a.prefix != b.prefix { return a.prefix < b.prefix }
        let order = compare(a.text, b.text)
        return order == 0 ? a.key < b.key : order < 0
    }

    /// Orders byte strings: memcmp over the common prefix, then the shorter first.
    func compare(_ a: UnsafeBufferPointer<UInt8>, _ b: UnsafeBufferPointer<UInt8>) -> Int {
        let common = min(a.count, b.count)
        if common > 0 {
            let order = memcmp(a.baseAddress!, b.baseAddress!, common)
            if order != 0 { return order < 0 ? -1 : 1 }
        }
        return a.count == b.count ? 0 : (a.count < b.count ? -1 : 1)
    }
}
