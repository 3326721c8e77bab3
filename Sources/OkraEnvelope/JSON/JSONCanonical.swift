import Foundation

extension JSONDocument {
    /// Writes the canonical JSON of the document (the form the idempotency key hashes):
    /// object members sorted by the UTF-8 bytes of their decoded keys (repeated keys keep their
    /// order), no whitespace, strings escaped minimally (only `"`, `\` and control characters;
    /// `\b \f \n \r \t` or lowercase `\u00xx`), numbers exactly as sent. Top-level members
    /// whose key is in `excludingTopLevel` are left out.
    ///
    /// A string without escapes is already in canonical form (the parser rejected raw control
    /// characters), so its bytes are copied as they are; only escaped strings are re-encoded.
    public func writeCanonical(into output: inout [UInt8], excludingTopLevel excluded: [[UInt8]] = []) {
        withCanonicalBytes(excludingTopLevel: excluded) { output.append(contentsOf: $0) }
    }

    /// Calls `body` with the canonical JSON (see ``writeCanonical(into:excludingTopLevel:)``)
    /// in temporary storage, valid only inside `body`.
    public func withCanonicalBytes<R>(excludingTopLevel excluded: [[UInt8]] = [], _ body: (UnsafeBufferPointer<UInt8>) -> R) -> R {
        // The canonical form is never longer than the document: whitespace goes, and every
        // escape sequence is re-encoded in at most as many bytes as it was written with.
        withRoot { root in
            withUnsafeTemporaryAllocation(of: UInt8.self, capacity: max(range.count, 1)) { output in
                withUnsafeTemporaryAllocation(of: CanonicalWriter.SortEntry.self, capacity: nodes.count) { order in
                    var writer = CanonicalWriter(root: root, output: ByteWriter(output), order: order)
                    writer.write(0, excluded: excluded)
                    return body(UnsafeBufferPointer(rebasing: output[..<writer.output.count]))
                }
            }
        }
    }
}

private struct CanonicalWriter {
    /// A member to sort: its key node and the key's first eight bytes, big-endian, zero-padded.
    struct SortEntry {
        var prefix: UInt64
        var key: Int32
        /// Whether the key has no escapes (its bytes are its text).
        var plain: Bool
    }

    let root: JSONElement
    var output: ByteWriter
    /// Scratch space shared by every level (an object has at most one entry per node): an
    /// object pushes its members on top, sorts them, writes them and pops them.
    let order: UnsafeMutableBufferPointer<SortEntry>
    var top = 0

    init(root: JSONElement, output: ByteWriter, order: UnsafeMutableBufferPointer<SortEntry>) {
        self.root = root
        self.output = output
        self.order = order
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
                let key = nodes[child]
                if excluded.isEmpty || !excluded.contains(where: { name in name.withUnsafeBufferPointer { root.keyEquals(key, $0) } }) {
                    order[top] = SortEntry(prefix: prefix(key), key: Int32(child), plain: key.kind == .string)
                    top += 1
                }
                child = Int(nodes[child + 1].next)
            }
            sortMembers(from: base)
            append(UInt8(ascii: "{"))
            for position in base..<top {
                if position > base { append(UInt8(ascii: ",")) }
                let key = Int(order[position].key)
                writeString(nodes[key])
                append(UInt8(ascii: ":"))
                write(key + 1)
            }
            append(UInt8(ascii: "}"))
            top = base
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

    mutating func writeString(_ node: JSONDocument.Node) {
        if node.kind == .string {
            append(UInt8(ascii: "\""))
            append(root.raw(node))
            append(UInt8(ascii: "\""))
        } else {
            root.decodedText(node).withUnsafeBufferPointer { output.appendJSONString(utf8: $0) }
        }
    }

    /// The first eight bytes of a plain key, big-endian, so comparing prefixes as integers
    /// orders keys as memcmp would. Plain keys have no byte below 0x20, so the zero padding of
    /// a shorter key sorts it first, as it should. Escaped keys get 0 and are always compared
    /// in full.
    func prefix(_ key: JSONDocument.Node) -> UInt64 {
        guard key.kind == .string else { return 0 }
        var value: UInt64 = 0
        let raw = root.raw(key)
        for offset in 0..<8 { value = value << 8 | UInt64(offset < raw.count ? raw[offset] : 0) }
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
        if a.plain && b.plain && a.prefix != b.prefix { return a.prefix < b.prefix }
        let left = root.nodes[Int(a.key)]
        let right = root.nodes[Int(b.key)]
        let order: Int
        if a.plain && b.plain {
            order = compare(root.raw(left), root.raw(right))
        } else {
            let leftText = left.kind == .string ? Array(root.raw(left)) : root.decodedText(left)
            let rightText = right.kind == .string ? Array(root.raw(right)) : root.decodedText(right)
            order = leftText.withUnsafeBufferPointer { l in rightText.withUnsafeBufferPointer { r in compare(l, r) } }
        }
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
