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

    /// Throws when the object `decoder` reads has a member outside `allowed`: requests are closed
    /// (`additionalProperties: false` in docs/admin-api.yaml), so a misspelt member is refused,
    /// never ignored.
    public static func rejectUnknownKeys(_ decoder: any Decoder, allowed: Set<String>) throws {
        let container = try decoder.container(keyedBy: AnyKey.self)
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
        switch value {
        case .string(let text) where T.self == String.self: return text as! T
        case .bool(let flag) where T.self == Bool.self: return flag as! T
        case .number(let text) where T.self == Int.self || T.self == Int64.self:
            // JSON Schema's integer is a number without a fraction: 7, and 7.0 or 7e0 too.
            guard let number = Int64(text) ?? Double(text).flatMap(Int64.init(exactly:)) else { throw mismatch("an integer") }
            return T.self == Int.self ? Int(number) as! T : number as! T
        case .number(let text) where T.self == Double.self:
            guard let number = Double(text) else { throw mismatch("a number") }
            return number as! T
        default:
            if T.self == String.self { throw mismatch("a string") }
            if T.self == Bool.self { throw mismatch("a boolean") }
            if T.self == Int.self || T.self == Int64.self { throw mismatch("an integer") }
            if T.self == Double.self { throw mismatch("a number") }
            return try T(from: self)
        }
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

    func superDecoder() throws -> any Decoder { preconditionFailure("the admin API's types decode no superclass") }
    func superDecoder(forKey key: Key) throws -> any Decoder { preconditionFailure("the admin API's types decode no superclass") }
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

    mutating func next() throws -> ValueDecoder {
        guard !isAtEnd else {
            throw DecodingError.valueNotFound(Any.self, .init(codingPath: codingPath, debugDescription: "the array has \(items.count) items"))
        }
        defer { currentIndex += 1 }
        return ValueDecoder(value: items[currentIndex], codingPath: codingPath + [AnyKey(intValue: currentIndex)])
    }

    mutating func decodeNil() throws -> Bool {
        guard !isAtEnd, items[currentIndex] == .null else { return false }
        currentIndex += 1
        return true
    }

    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T { try next().decode(T.self) }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
        try next().container(keyedBy: type)
    }

    mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer { try next().unkeyedContainer() }

    mutating func superDecoder() throws -> any Decoder { preconditionFailure("the admin API's types decode no superclass") }
}

struct SingleValueContainer: SingleValueDecodingContainer {
    let decoder: ValueDecoder
    var codingPath: [any CodingKey] { decoder.codingPath }

    func decodeNil() -> Bool { decoder.value == .null }
    func decode<T: Decodable>(_ type: T.Type) throws -> T { try decoder.decode(T.self) }
}
