import Foundation
import OkraEnvelope

/// Decodes the admin API's types from JSON bytes, read by the project's own parser: a
/// ``RawJSON`` member (an envelope) keeps its members' order and its numbers' text, and a number
/// decodes into an integer only when its text is one (no `Double` round trip).
///
/// Strict as the document is: a missing required member, a member of the wrong kind, and (for the
/// requests, through ``AdminJSONDecoder/rejectUnknownKeys(_:allowed:)``) an unknown member are
/// errors that name the member's path.
public struct AdminJSONDecoder: Sendable {
    /// A decoder.
    public init() {}

    /// `T` from `bytes`; a `DecodingError` (or a syntax error) when they are not one.
    public func decode<T: Decodable>(_ type: T.Type, from bytes: [UInt8]) throws -> T {
        let value = try JSONParser.parse(bytes).value
        return try ValueDecoder(value: value, codingPath: []).decode(T.self)
    }

    /// Throws when the object `decoder` reads has a member outside `allowed`, or one twice: requests are closed
    /// (`additionalProperties: false` in docs/admin-api.yaml), so a misspelt member is refused,
    /// never ignored.
    public static func rejectUnknownKeys(_ decoder: any Decoder, allowed: Set<String>) throws {
        let container = try decoder.container(keyedBy: AnyKey.self)
        var seen = Set<String>()
        if let repeated = container.allKeys.first(where: { !seen.insert($0.stringValue).inserted }) {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath + [repeated], debugDescription: "member \(repeated.stringValue) given twice"))
        }
        if let unknown = container.allKeys.first(where: { !allowed.contains($0.stringValue) }) {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath + [unknown],
                                                    debugDescription: "unknown member \(unknown.stringValue); takes \(allowed.sorted().joined(separator: ", "))"))
        }
    }

    /// One line for an error of ``decode(_:from:)``: where, and what was wrong.
    public static func describe(_ error: any Error) -> String {
        func path(_ context: DecodingError.Context) -> String {
            context.codingPath.isEmpty ? "the body" : context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
        }
        switch error {
        case DecodingError.keyNotFound(let key, let context): return "\(path(context)): missing member \(key.stringValue)"
        case DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context),
             DecodingError.dataCorrupted(let context): return "\(path(context)): \(context.debugDescription)"
        case let error as JSONSyntaxError: return "not JSON: \(error)"
        default: return "\(error)"
        }
    }
}

func noSuperclass(_ codingPath: [any CodingKey]) -> DecodingError {
    .dataCorrupted(.init(codingPath: codingPath, debugDescription: "the admin API's types decode no superclass"))
}

/// Any member name.
struct AnyKey: CodingKey {
    var stringValue: String
    var intValue: Int?
    init(stringValue: String) { self.stringValue = stringValue }
    init(intValue: Int) { self.stringValue = String(intValue); self.intValue = intValue }
}

struct ValueDecoder: Decoder {
    let value: JSONValue
    let codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func mismatch(_ expected: String) -> DecodingError {
        .typeMismatch(Any.self, .init(codingPath: codingPath, debugDescription: "expected \(expected), got \(value.kindName)"))
    }

    func decode<T: Decodable>(_ type: T.Type) throws -> T {
        if T.self == RawJSON.self {
            var bytes: [UInt8] = []
            JSONWriter.compact(value, into: &bytes)
            return RawJSON(verbatim: bytes) as! T
        }
        if T.self == String.self {
            guard case .string(let text) = value else { throw mismatch("a string") }
            return text as! T
        }
        if T.self == Bool.self {
            guard case .bool(let flag) = value else { throw mismatch("a boolean") }
            return flag as! T
        }
        if let integer = T.self as? any FixedWidthInteger.Type {
            guard case .number(let text) = value, let number = Self.integer(text), let typed = integer.init(exactly: number) else {
                throw mismatch("an integer\(T.self == Int64.self || T.self == Int.self ? "" : " that fits \(T.self)")")
            }
            return typed as! T
        }
        if let floating = T.self as? any BinaryFloatingPoint.Type {
            guard case .number(let text) = value, let number = Double(text), number.isFinite else { throw mismatch("a number") }
            return floating.init(number) as! T
        }
        return try T(from: self)
    }

    /// The integer a JSON number's text is, exactly, or nil: JSON Schema's integer is a number
    /// without a fraction, so 7, 7.0 and 7e0 are 7; 7.5 and 6.99999999999999999999 are none
    /// (read as a decimal, never through `Double`).
    static func integer(_ text: String) -> Int64? {
        if let number = Int64(text) { return number }
        guard let decimal = Decimal(string: text, locale: Locale(identifier: "en_US_POSIX")), decimal.isFinite,
              decimal >= Decimal(Int64.min), decimal <= Decimal(Int64.max) else { return nil }
        var whole = Decimal()
        var copy = decimal
        NSDecimalRound(&whole, &copy, 0, .plain)
        guard whole == decimal else { return nil }
        let number = NSDecimalNumber(decimal: decimal).int64Value
        return Decimal(number) == decimal ? number : nil
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        guard case .object(let members) = value else { throw mismatch("an object") }
        var byName: [String: JSONValue] = [:]
        for member in members { byName[member.key] = member.value }
        return KeyedDecodingContainer(KeyedValueContainer<Key>(members: byName, order: members.map(\.key), codingPath: codingPath))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        guard case .array(let items) = value else { throw mismatch("an array") }
        return UnkeyedValueContainer(items: items, codingPath: codingPath)
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer { SingleValueContainer(decoder: self) }
}

struct KeyedValueContainer<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let members: [String: JSONValue]
    let order: [String]
    let codingPath: [any CodingKey]

    var allKeys: [Key] { order.compactMap { Key(stringValue: $0) } }
    func contains(_ key: Key) -> Bool { members[key.stringValue] != nil }

    func value(_ key: Key) throws -> JSONValue {
        guard let value = members[key.stringValue] else {
            throw DecodingError.keyNotFound(key, .init(codingPath: codingPath, debugDescription: "missing member \(key.stringValue)"))
        }
        return value
    }

    func decodeNil(forKey key: Key) throws -> Bool { try value(key) == .null }

    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
        try ValueDecoder(value: value(key), codingPath: codingPath + [key]).decode(T.self)
    }

    func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws -> KeyedDecodingContainer<NestedKey> {
        try ValueDecoder(value: value(key), codingPath: codingPath + [key]).container(keyedBy: type)
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
        try ValueDecoder(value: value(key), codingPath: codingPath + [key]).unkeyedContainer()
    }

    func superDecoder() throws -> any Decoder { throw noSuperclass(codingPath) }
    func superDecoder(forKey key: Key) throws -> any Decoder { throw noSuperclass(codingPath + [key]) }
}

struct UnkeyedValueContainer: UnkeyedDecodingContainer {
    let items: [JSONValue]
    let codingPath: [any CodingKey]
    var currentIndex = 0
    var count: Int? { items.count }
    var isAtEnd: Bool { currentIndex >= items.count }

    init(items: [JSONValue], codingPath: [any CodingKey]) {
        self.items = items
        self.codingPath = codingPath
    }

    /// The decoder of the current item; the index moves on only when `read` succeeds.
    mutating func next<R>(_ read: (ValueDecoder) throws -> R) throws -> R {
        guard !isAtEnd else {
            throw DecodingError.valueNotFound(Any.self, .init(codingPath: codingPath, debugDescription: "the array has \(items.count) items"))
        }
        let result = try read(ValueDecoder(value: items[currentIndex], codingPath: codingPath + [AnyKey(intValue: currentIndex)]))
        currentIndex += 1
        return result
    }

    mutating func decodeNil() throws -> Bool {
        guard !isAtEnd else {
            throw DecodingError.valueNotFound(Any.self, .init(codingPath: codingPath, debugDescription: "the array has \(items.count) items"))
        }
        guard items[currentIndex] == .null else { return false }
        currentIndex += 1
        return true
    }

    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T { try next { try $0.decode(T.self) } }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
        try next { try $0.container(keyedBy: type) }
    }

    mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer { try next { try $0.unkeyedContainer() } }

    mutating func superDecoder() throws -> any Decoder { throw noSuperclass(codingPath) }
}

struct SingleValueContainer: SingleValueDecodingContainer {
    let decoder: ValueDecoder
    var codingPath: [any CodingKey] { decoder.codingPath }

    func decodeNil() -> Bool { decoder.value == .null }
    func decode<T: Decodable>(_ type: T.Type) throws -> T { try decoder.decode(T.self) }
}
