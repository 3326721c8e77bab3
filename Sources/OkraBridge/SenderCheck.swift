import Foundation

/// Who may send webhooks: tokens bound to environments, and optionally which addresses.
public struct SenderCheck: Sendable {
    /// The environment a token is for.
    public enum Environment: String, Sendable, CaseIterable {
        case production, sandbox
    }

    /// Why a request was refused.
    public enum Refusal: Error, Equatable, Sendable {
        /// 401: no token, or not one we know.
        case unauthorized
        /// 403: the address is not allowed.
        case addressNotAllowed(String)
        /// 403: the payload's environment differs from the token's.
        case environmentMismatch(token: String, payload: String)
    }

    /// Okra's documented sender addresses (`--allow-ip okra`).
    public static let okraSenderAddresses = ["13.39.179.188", "13.38.152.18", "35.180.165.18"]

    private let tokens: [(Environment, [UInt8])]
    private let allowed: [IPRange]?
    private let trustedProxies: [IPRange]
    /// Whether requests without a token are accepted (`--allow-unauthenticated`).
    public let allowUnauthenticated: Bool

    /// - Parameters:
    ///   - tokens: `ENV=SECRET` pairs (several per environment for rotation).
    ///   - allowIPs: addresses or CIDR ranges, or `okra` for Okra's three; empty allows all.
    ///   - trustedProxies: proxies whose `X-Forwarded-For` is believed.
    public init(tokens: [String], allowIPs: [String], trustedProxies: [String], allowUnauthenticated: Bool) throws {
        var parsed: [(Environment, [UInt8])] = []
        for pair in tokens {
            guard let equals = pair.firstIndex(of: "="), let env = Environment(rawValue: String(pair[..<equals])) else {
                throw ConfigurationError("--token takes ENV=SECRET with ENV production or sandbox (the secret is not shown)")
            }
            let secret = Array(pair[pair.index(after: equals)...].utf8)
            guard secret.count >= 16 else {
                throw ConfigurationError("--token \(env.rawValue)=...: the secret must be at least 16 characters")
            }
            parsed.append((env, secret))
        }
        if parsed.isEmpty && !allowUnauthenticated {
            throw ConfigurationError("no --token given: pass --token production=SECRET (and/or sandbox=...), or --allow-unauthenticated to accept any sender")
        }
        self.tokens = parsed
        self.allowUnauthenticated = allowUnauthenticated
        var ranges: [IPRange] = []
        for entry in allowIPs {
            if entry == "okra" {
                ranges += Self.okraSenderAddresses.compactMap(IPRange.init)
            } else if let range = IPRange(entry) {
                ranges.append(range)
            } else {
                throw ConfigurationError("--allow-ip \(entry): not an IP address, a CIDR range or 'okra'")
            }
        }
        self.allowed = ranges.isEmpty ? nil : ranges
        self.trustedProxies = try trustedProxies.map { entry in
            guard let range = IPRange(entry) else { throw ConfigurationError("--trusted-proxy \(entry): not an IP address or CIDR range") }
            return range
        }
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
        if tokens.isEmpty && allowUnauthenticated { return .success(nil) }
        let presented = okraAuth ?? Self.bearerToken(authorization)
        guard let presented else { return allowUnauthenticated ? .success(nil) : .failure(.unauthorized) }
        let bytes = Array(presented.utf8)
        var match: Environment?
        // Compare with every token, always, in constant time per token.
        for (env, secret) in tokens where Self.constantTimeEqual(bytes, secret) && match == nil {
            match = env
        }
        guard let match else { return .failure(.unauthorized) }
        return .success(match)
    }

    /// Refuses a payload whose environment differs from its token's (a payload naming no
    /// environment is accepted with any valid token).
    public func checkEnvironment(token: Environment?, payload: String) -> Refusal? {
        guard let token, payload != "unknown", payload != token.rawValue else { return nil }
        return .environmentMismatch(token: token.rawValue, payload: payload)
    }

    /// The token of an `Authorization: Bearer <token>` header, else nil.
    static func bearerToken(_ authorization: String?) -> String? {
        guard let authorization, authorization.lowercased().hasPrefix("bearer ") else { return nil }
        return String(authorization.dropFirst(7)).trimmingCharacters(in: .whitespaces)
    }

    /// Equal bytes, in time that depends on the lengths only, never on where they differ.
    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        var difference: UInt8 = 0
        for index in 0..<max(a.count, b.count) {
            let x = index < a.count ? a[index] : 0
            let y = index < b.count ? b[index] : 0
            difference |= x ^ y
        }
        return difference == 0 && a.count == b.count
    }
}

/// An IPv4 or IPv6 address or CIDR range.
struct IPRange: Sendable {
    let bytes: [UInt8]
    let prefix: Int

    init?(_ text: String) {
        let parts = text.split(separator: "/", maxSplits: 1)
        guard let address = IPRange.parse(String(parts[0])) else { return nil }
        let bits = address.count * 8
        if parts.count == 2 {
            guard let prefix = Int(parts[1]), (0...bits).contains(prefix) else { return nil }
            self.prefix = prefix
        } else {
            self.prefix = bits
        }
        self.bytes = address
    }

    func contains(_ text: String) -> Bool {
        guard var address = IPRange.parse(text) else { return false }
        // IPv4-mapped IPv6 (::ffff:a.b.c.d) compares as IPv4.
        if address.count == 16 && bytes.count == 4 && address[0..<10].allSatisfy({ $0 == 0 }) && address[10] == 0xff && address[11] == 0xff {
            address = Array(address[12...])
        }
        guard address.count == bytes.count else { return false }
        var remaining = prefix
        for index in 0..<bytes.count where remaining > 0 {
            let mask: UInt8 = remaining >= 8 ? 0xff : ~(0xff >> UInt8(remaining))
            if address[index] & mask != bytes[index] & mask { return false }
            remaining -= 8
        }
        return true
    }

    static func parse(_ text: String) -> [UInt8]? {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 { return withUnsafeBytes(of: &v4) { Array($0) } }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, text, &v6) == 1 { return withUnsafeBytes(of: &v6) { Array($0) } }
        return nil
    }
}

/// A configuration mistake, said in one line.
public struct ConfigurationError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
