import OkraEnvelope

/// A JSON value carried as its compact bytes (an envelope inside an answer): written byte for
/// byte by ``AdminJSONEncoder``; read back by ``AdminJSONDecoder`` with member order and number
/// text kept (strings re-escaped: `\u00e9` comes back as `é`). Other coders (Foundation's) are refused: they would reorder it and rewrite its numbers.
public struct RawJSON: Codable, Sendable, Equatable {
    /// One JSON value, compact.
    public var bytes: [UInt8]

    /// `bytes`, which must be one compact JSON value (the caller wrote them).
    public init(verbatim bytes: [UInt8]) { self.bytes = bytes }

    /// Refuses: only ``AdminJSONDecoder`` reads a `RawJSON`.
    public init(from decoder: any Decoder) throws {
        throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "RawJSON is read by AdminJSONDecoder only"))
    }

    /// Refuses: only ``AdminJSONEncoder`` writes a `RawJSON`.
    public func encode(to encoder: any Encoder) throws {
        throw EncodingError.invalidValue(bytes, .init(codingPath: encoder.codingPath, debugDescription: "RawJSON is written by AdminJSONEncoder only"))
    }
}
