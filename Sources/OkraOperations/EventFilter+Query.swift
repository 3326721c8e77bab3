import Foundation
import OkraEnvelope

// The filters of a listing's query string and of a replay's `filter` object: the same keys (§9),
// read at the API's edge into the domain's types.
extension EventFilter {
    /// The keys a filter takes.
    public static let queryKeys = ["since", "until", "id", "record", "customer", "account", "type",
                                   "product", "outcome", "env", "code", "state", "deadletter"]

    /// The filter of `values` (query keys and their texts); with `paging`, `limit`, `cursor` and
    /// `include` (a listing's own) are skipped. An unknown key or a value a key does not take is an error
    /// naming both (answered 400).
    public init(query values: [String: String], paging: Bool = false) throws(OperationsError) {
        self.init()
        for (key, value) in values {
            switch key {
            case "since": since = try Self.time(value, key)
            case "until": until = try Self.time(value, key)
            case "id": id = value
            case "record": record = value
            case "customer": customer = value
            case "account": account = value
            case "type": type = value
            case "product": product = try Self.word(value, for: key)
            case "outcome": outcome = try Self.word(value, for: key)
            case "env": env = try Self.word(value, for: key)
            case "code": code = value
            case "state": state = try Self.word(value, for: key)
            case "deadletter":
                guard let flag = Bool(value) else { throw OperationsError("deadletter takes true or false, got \(value)") }
                deadletter = flag
            case "limit" where paging, "cursor" where paging, "include" where paging: break
            default: throw OperationsError("unknown filter \(key); filters are \(Self.queryKeys.joined(separator: ", "))")
            }
        }
    }

    /// An RFC 3339 time (`2026-12-01T09:00:00Z`, fractional seconds and offsets allowed).
    public static func time(_ text: String, _ key: String) throws(OperationsError) -> Date {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let date = formatter.date(from: text) { return date }
        formatter.formatOptions = [.withInternetDateTime]
        if let date = formatter.date(from: text) { return date }
        throw OperationsError("\(key) takes an RFC 3339 time such as 2026-12-01T09:00:00Z, got \(text)")
    }
}

/// The paging values of a listing's query.
public enum ListingQuery {
    /// `limit`: 1 to 1000, 100 when absent.
    public static func limit(_ text: String?) throws(OperationsError) -> Int {
        guard let text else { return 100 }
        guard let limit = Int(text), (1...1000).contains(limit) else { throw OperationsError("limit takes 1 to 1000, got \(text)") }
        return limit
    }

    /// `cursor`: a previous answer's `next_cursor` (digits, at most 18).
    public static func cursor(_ text: String?) throws(OperationsError) -> Int64? {
        guard let text else { return nil }
        guard (1...18).contains(text.utf8.count), text.utf8.allSatisfy({ (0x30...0x39).contains($0) }), let number = Int64(text) else { throw OperationsError("cursor takes the next_cursor of a previous answer, got \(text)") }
        return number
    }

    /// `include`: `data` for entries with their envelopes (or dead letters' bodies); absent for
    /// entries without.
    public static func includesData(_ text: String?) throws(OperationsError) -> Bool {
        guard let text else { return false }
        guard text == "data" else { throw OperationsError("include takes data, got \(text)") }
        return true
    }

    /// `env`: `production`, `sandbox` or `unknown` (nil when absent).
    public static func environment(_ text: String?) throws(OperationsError) -> OkraEnvironment? {
        guard let text else { return nil }
        return try EventFilter.word(text, for: "env", as: OkraEnvironment.self)
    }
}
