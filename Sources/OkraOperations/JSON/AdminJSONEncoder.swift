import OkraEnvelope

/// Encodes the admin API's types as compact JSON: members in the order the type encodes them,
/// strings quoted by `JSONWriter`, and a ``RawJSON`` value (an envelope) written byte for byte.
///
/// Foundation's `JSONEncoder` reorders members and rewrites numbers (`26.880` becomes `26.88`),
/// and an envelope's `data` is the body as received: the bytes its idempotency key was made from
/// (docs/decisions/0012-admin-api-types.md).
public struct AdminJSONEncoder: Sendable {
    /// An encoder.
    public init() {}

    /// `value` as JSON bytes.
    public func encode<T: Encodable>(_ value: T) throws -> [UInt8] {
        var out: [UInt8] = []
        try EncodedSlot.make(value, codingPath: []).write(into: &out)
        return out
    }
}

/// What one value encoded to: an object or array still being filled, or finished bytes.
enum EncodedSlot {
    case object(ObjectBox)
    case array(ArrayBox)
    case bytes([UInt8])

    final class ObjectBox { var members: [(String, EncodedSlot)] = [] }
    final class ArrayBox { var items: [EncodedSlot] = [] }

    static var null: EncodedSlot { .bytes(Array("null".utf8)) }

    /// `value`'s slot: the scalars written at once, everything else through its `encode(to:)`.
    static func make<T: Encodable>(_ value: T, codingPath: [any CodingKey]) throws -> EncodedSlot {
        switch value {
        case let raw as RawJSON: return .bytes(raw.bytes)
        case let text as String:
            var out: [UInt8] = []
            JSONWriter.writeString(text, into: &out)
            return .bytes(out)
        case let flag as Bool: return .bytes(Array((flag ? "true" : "false").utf8))
        case let number as any FixedWidthInteger: return .bytes(Array(String(describing: number).utf8))
        case let number as any BinaryFloatingPoint:
            let double = Double(number)
            guard double.isFinite else {
                throw EncodingError.invalidValue(double, .init(codingPath: codingPath, debugDescription: "JSON has no \(double)"))
            }
            return .bytes(Array(String(double).utf8))
        default:
            let encoder = SlotEncoder(codingPath: codingPath)
            try value.encode(to: encoder)
            return encoder.slot ?? .object(ObjectBox())
        }
    }

    func write(into out: inout [UInt8]) {
        switch self {
        case .bytes(let bytes): out += bytes
        case .object(let box):
            out.append(UInt8(ascii: "{"))
            for (index, (key, value)) in box.members.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                JSONWriter.writeString(key, into: &out)
                out.append(UInt8(ascii: ":"))
                value.write(into: &out)
            }
            out.append(UInt8(ascii: "}"))
        case .array(let box):
            out.append(UInt8(ascii: "["))
            for (index, item) in box.items.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                item.write(into: &out)
            }
            out.append(UInt8(ascii: "]"))
        }
    }
}

final class SlotEncoder: Encoder {
    let codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }
    var slot: EncodedSlot?

    init(codingPath: [any CodingKey]) { self.codingPath = codingPath }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        let box: EncodedSlot.ObjectBox
        if case .object(let existing)? = slot { box = existing } else {
            box = EncodedSlot.ObjectBox()
            slot = .object(box)
        }
        return KeyedEncodingContainer(KeyedSlotContainer(box: box, codingPath: codingPath))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        let box: EncodedSlot.ArrayBox
        if case .array(let existing)? = slot { box = existing } else {
            box = EncodedSlot.ArrayBox()
            slot = .array(box)
        }
        return UnkeyedSlotContainer(box: box, codingPath: codingPath)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer { SingleSlotContainer(encoder: self) }
}

struct KeyedSlotContainer<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let box: EncodedSlot.ObjectBox
    let codingPath: [any CodingKey]

    mutating func encodeNil(forKey key: Key) throws { box.members.append((key.stringValue, .null)) }

    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
        box.members.append((key.stringValue, try EncodedSlot.make(value, codingPath: codingPath + [key])))
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key) -> KeyedEncodingContainer<NestedKey> {
        let nested = EncodedSlot.ObjectBox()
        box.members.append((key.stringValue, .object(nested)))
        return KeyedEncodingContainer(KeyedSlotContainer<NestedKey>(box: nested, codingPath: codingPath + [key]))
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        let nested = EncodedSlot.ArrayBox()
        box.members.append((key.stringValue, .array(nested)))
        return UnkeyedSlotContainer(box: nested, codingPath: codingPath + [key])
    }

    mutating func superEncoder() -> any Encoder { preconditionFailure("the admin API's types encode no superclass") }
    mutating func superEncoder(forKey key: Key) -> any Encoder { preconditionFailure("the admin API's types encode no superclass") }
}

struct UnkeyedSlotContainer: UnkeyedEncodingContainer {
    let box: EncodedSlot.ArrayBox
    let codingPath: [any CodingKey]
    var count: Int { box.items.count }

    mutating func encodeNil() throws { box.items.append(.null) }

    mutating func encode<T: Encodable>(_ value: T) throws {
        box.items.append(try EncodedSlot.make(value, codingPath: codingPath))
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        let nested = EncodedSlot.ObjectBox()
        box.items.append(.object(nested))
        return KeyedEncodingContainer(KeyedSlotContainer<NestedKey>(box: nested, codingPath: codingPath))
    }

    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
        let nested = EncodedSlot.ArrayBox()
        box.items.append(.array(nested))
        return UnkeyedSlotContainer(box: nested, codingPath: codingPath)
    }

    mutating func superEncoder() -> any Encoder { preconditionFailure("the admin API's types encode no superclass") }
}

struct SingleSlotContainer: SingleValueEncodingContainer {
    let encoder: SlotEncoder
    var codingPath: [any CodingKey] { encoder.codingPath }

    mutating func encodeNil() throws { encoder.slot = .null }

    mutating func encode<T: Encodable>(_ value: T) throws {
        encoder.slot = try EncodedSlot.make(value, codingPath: codingPath)
    }
}
