import Foundation

/// The one parser and comparison for bearer tokens: the webhook token and the admin token.
public enum BearerToken {
    /// The token of an `Authorization: Bearer <token>` header, else nil.
    public static func parse(_ authorization: String?) -> String? {
        guard let authorization, authorization.lowercased().hasPrefix("bearer ") else { return nil }
        return String(authorization.dropFirst(7)).trimmingCharacters(in: .whitespaces)
    }

    /// Whether the `Authorization` header carries exactly `expected`, compared in constant time.
    public static func authorizes(_ authorization: String?, expected: [UInt8]) -> Bool {
        guard let presented = parse(authorization) else { return false }
        return constantTimeEqual(Array(presented.utf8), expected)
    }

    /// Equal bytes, in time that depends on the lengths only, never on where they differ.
    public static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        var difference: UInt8 = 0
        for index in 0..<max(a.count, b.count) {
            let x = index < a.count ? a[index] : 0
            let y = index < b.count ? b[index] : 0
            difference |= x ^ y
        }
        return difference == 0 && a.count == b.count
    }
}
