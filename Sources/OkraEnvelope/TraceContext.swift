/// W3C Trace Context as an event carries it: the CloudEvents distributed-tracing extension's
/// `traceparent` and `tracestate` attributes (the contract's §12). Neither is part of the payload,
/// so neither changes the id (§2): a re-sent webhook with another `traceparent` is the same event.
///
/// Only a well-formed `traceparent` is kept (version `00`, lowercase hex, ids not all zero); a
/// malformed one is ignored, as the W3C recommendation asks of a receiver, and a new trace starts
/// when tracing is on. `tracestate` travels only beside a kept `traceparent`.
public struct TraceContext: Sendable, Equatable {
    /// `00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>`.
    public let traceParent: String
    /// The vendors' list, as sent (printable ASCII, at most 512 bytes; nil when absent or else).
    public let traceState: String?

    /// The context a `traceparent` header (and `tracestate`) gives; nil when `traceParent` is
    /// not well formed.
    public init?(traceParent: String, traceState: String? = nil) {
        guard Self.isWellFormed(traceParent) else { return nil }
        self.traceParent = traceParent
        self.traceState = traceState.flatMap { state in
            // W3C: printable ASCII list members, 512 bytes being what a receiver must keep.
            state.utf8.count <= 512 && !state.isEmpty && state.utf8.allSatisfy { $0 >= 0x20 && $0 < 0x7F } ? state : nil
        }
    }

    /// The trace id: 32 lowercase hex digits.
    public var traceID: String { String(traceParent.dropFirst(3).prefix(32)) }

    /// The parent (span) id: 16 lowercase hex digits.
    public var parentID: String { String(traceParent.dropFirst(36).prefix(16)) }

    /// Whether `text` is a version-00 `traceparent`: `00-` 32 hex `-` 16 hex `-` 2 hex, lowercase,
    /// neither id all zeros.
    public static func isWellFormed(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        guard bytes.count == 55, bytes[0] == UInt8(ascii: "0"), bytes[1] == UInt8(ascii: "0"),
              bytes[2] == UInt8(ascii: "-"), bytes[35] == UInt8(ascii: "-"), bytes[52] == UInt8(ascii: "-") else { return false }
        func hex(_ range: Range<Int>) -> Bool {
            bytes[range].allSatisfy { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains($0) }
        }
        func zeros(_ range: Range<Int>) -> Bool { bytes[range].allSatisfy { $0 == UInt8(ascii: "0") } }
        return hex(3..<35) && hex(36..<52) && hex(53..<55) && !zeros(3..<35) && !zeros(36..<52)
    }
}
