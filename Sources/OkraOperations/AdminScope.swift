/// What an admin token may do (§9). A token holds one or more; `operate` holds them all.
public enum AdminScope: String, Sendable, CaseIterable, Codable, Comparable {
    /// `GET /metrics` only: the scrape token.
    case metrics
    /// The event log and the parked records, personal data masked.
    case read
    /// The same with payloads in clear.
    case readPII = "read-pii"
    /// Everything: replay, redrive, discard, erase, the audit trail.
    case operate

    /// Whether a token holding this scope may use a route that needs `needed`.
    public func grants(_ needed: AdminScope) -> Bool {
        switch self {
        case .operate: true
        case .readPII: needed == .readPII || needed == .read
        case .read: needed == .read
        case .metrics: needed == .metrics
        }
    }

    /// In the order of their declaration: metrics, read, read-pii, operate.
    public static func < (lhs: AdminScope, rhs: AdminScope) -> Bool {
        allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
    }
}

/// Who called the operations API: the token's name from its line in the token file (never the
/// secret) and its scopes.
public struct AdminCaller: Sendable, Equatable {
    /// The token's name (`admin` for a bare token).
    public var name: String
    /// Its scopes.
    public var scopes: Set<AdminScope>

    /// A caller.
    public init(name: String, scopes: Set<AdminScope>) {
        self.name = name
        self.scopes = scopes
    }

    /// Whether one of its scopes grants `needed`.
    public func may(_ needed: AdminScope) -> Bool { scopes.contains { $0.grants(needed) } }

    /// Whether it sees personal data in clear.
    public var seesPersonalData: Bool { may(.readPII) }

    /// The scope it uses for a route that needs `needed`: the narrowest of its own that grants it.
    public func scope(for needed: AdminScope) -> AdminScope? { scopes.sorted().first { $0.grants(needed) } }
}
