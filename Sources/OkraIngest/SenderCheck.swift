import Foundation
import OkraEnvelope

/// How a webhook is authenticated: who may send, by token (each bound to an environment) and
/// optionally by address. The first stage of ``Ingest``: nothing of the body is read before it.
public struct SenderCheck: Sendable {
    /// The environment a token is for: ``OkraEnvironment/production`` or ``OkraEnvironment/sandbox``.
    public typealias Environment = OkraEnvironment

    /// Why a request was refused.
    public enum Refusal: Error, Equatable, Sendable {
        /// 401: no token, or not one we know.
        case unauthorized
        /// 403: the address is not allowed.
        case addressNotAllowed(String)
        /// 403: the payload's environment differs from the token's.
        case environmentMismatch(token: OkraEnvironment, payload: OkraEnvironment)
    }

    /// Okra's documented sender addresses (`--allow-ip okra`).
    public static let okraSenderAddresses = ["13.39.179.188", "13.38.152.18", "35.180.165.18"]

    private let tokens: any TokenSource
    private let allowed: [IPRange]?
    private let trustedProxies: [IPRange]
    /// How many tokens are configured now (for the start-up line; never a secret).
    public var tokenCount: Int { tokens.tokens.entries.count }

    /// Whether requests without a token are accepted (`--allow-unauthenticated`).
    public let allowUnauthenticated: Bool

    /// - Parameters:
    ///   - tokens: `ENV=SECRET` pairs (several per environment for rotation).
    ///   - allowIPs: addresses or CIDR ranges, or `okra` for Okra's three; empty allows all.
    ///   - trustedProxies: proxies whose `X-Forwarded-For` is believed.
    public init(tokens: [String], allowIPs: [String], trustedProxies: [String], allowUnauthenticated: Bool) throws(SetupError) {
        try self.init(tokenSource: try TokenSet(pairs: tokens), allowIPs: allowIPs, trustedProxies: trustedProxies, allowUnauthenticated: allowUnauthenticated)
    }

    /// A sender check whose tokens come from `tokenSource` (a token file that is re-read, say).
    public init(tokenSource: any TokenSource, allowIPs: [String], trustedProxies: [String], allowUnauthenticated: Bool) throws(SetupError) {
        let present = !tokenSource.tokens.isEmpty
        if !present && !allowUnauthenticated {
            throw SetupError.noSender
        }
        if present && allowUnauthenticated {
            throw SetupError.unauthenticatedWithTokens
        }
        self.tokens = tokenSource
        self.allowUnauthenticated = allowUnauthenticated
        var ranges: [IPRange] = []
        for entry in allowIPs {
            if entry == "okra" {
                ranges += Self.okraSenderAddresses.compactMap(IPRange.init)
            } else if let range = IPRange(entry) {
                ranges.append(range)
            } else {
                throw SetupError.badAllowedAddress(entry)
            }
        }
        self.allowed = ranges.isEmpty ? nil : ranges
        var proxies: [IPRange] = []
        for entry in trustedProxies {
            guard let range = IPRange(entry) else { throw SetupError.badProxyAddress(entry) }
            proxies.append(range)
        }
        self.trustedProxies = proxies
    }

    /// Checks allowlist and proxy entries without making a check: the first that is not an
    /// address, a CIDR range (or, allowed, `okra`) is the error.
    public static func check(allowIPs: [String], trustedProxies: [String]) throws(SetupError) {
        if let bad = allowIPs.first(where: { $0 != "okra" && IPRange($0) == nil }) { throw .badAllowedAddress(bad) }
        if let bad = trustedProxies.first(where: { IPRange($0) == nil }) { throw .badProxyAddress(bad) }
    }

    /// The client's address: the peer, or, when the peer is a trusted proxy, the nearest
    /// address in `X-Forwarded-For` that is not one.
    public func clientAddress(peer: String?, forwardedFor: [String]) -> String? {
        guard let peer else { return nil }
        guard trustedProxies.contains(where: { $0.contains(peer) }) else { return peer }
        let hops = forwardedFor.flatMap { $0.split(separator: ",") }.map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        for hop in hops.reversed() where !trustedProxies.contains(where: { $0.contains(hop) }) {
            return hop
        }
        return hops.first ?? peer
    }

    /// Whether a connection from `peer` may be held at all, decided when it is accepted: with an
    /// allowlist, only its addresses and the trusted proxies (whose requests are still checked
    /// against `X-Forwarded-For` one by one); without one, anyone.
    public func admitsConnection(from peer: String?) -> Bool {
        guard let allowed else { return true }
        guard let peer else { return false }
        return allowed.contains { $0.contains(peer) } || isTrustedProxy(peer)
    }

    /// Whether `peer` is a trusted proxy (exempt from the per-address connection cap: an
    /// ingress keeps many connections of its own).
    public func isTrustedProxy(_ peer: String?) -> Bool {
        guard let peer else { return false }
        return trustedProxies.contains { $0.contains(peer) }
    }

    /// Checks the address; nil when allowed.
    public func checkAddress(_ address: String?) -> Refusal? {
        guard let allowed else { return nil }
        guard let address, allowed.contains(where: { $0.contains(address) }) else {
            return .addressNotAllowed(address ?? "unknown")
        }
        return nil
    }

    /// The environment of the presented token (`Okra-Auth`, or `Authorization: Bearer`), or a
    /// refusal. With `--allow-unauthenticated` and no tokens, nil means any environment.
    public func authenticate(okraAuth: String?, authorization: String?) -> Result<Environment?, Refusal> {
        let current = tokens.tokens
        if current.isEmpty && allowUnauthenticated { return .success(nil) }
        let presented = okraAuth ?? BearerToken.parse(authorization)
        guard let presented else { return .failure(.unauthorized) }
        guard let match = current.environment(of: Array(presented.utf8)) else { return .failure(.unauthorized) }
        return .success(match)
    }

}
