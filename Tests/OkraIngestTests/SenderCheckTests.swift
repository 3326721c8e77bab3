import OkraIngest
import Testing

/// Who may send: tokens bound to environments, addresses, trusted proxies.
@Suite("Sender check")
struct SenderCheckTests {
    static let production = "production-secret-0123456789"
    static let rotated = "production-secret-rotated-0001"
    static let sandbox = "sandbox-secret-0123456789abc"

    static func check(allow: [String] = [], proxies: [String] = []) throws -> SenderCheck {
        try SenderCheck(tokens: ["production=\(production)", "production=\(rotated)", "sandbox=\(sandbox)"],
                        allowIPs: allow, trustedProxies: proxies, allowUnauthenticated: false)
    }

    @Test("each configured token authenticates for its environment, by either header")
    func tokens() throws {
        let check = try Self.check()
        #expect(check.authenticate(okraAuth: Self.production, authorization: nil) == .success(.production))
        #expect(check.authenticate(okraAuth: Self.rotated, authorization: nil) == .success(.production))
        #expect(check.authenticate(okraAuth: nil, authorization: "Bearer \(Self.sandbox)") == .success(.sandbox))
        #expect(check.authenticate(okraAuth: nil, authorization: nil) == .failure(.unauthorized))
        #expect(check.authenticate(okraAuth: "production-secret-012345678", authorization: nil) == .failure(.unauthorized))
    }

    @Test("a token with anything appended, even 256 NUL bytes, is refused")
    func lengthMatters() throws {
        let check = try Self.check()
        #expect(check.authenticate(okraAuth: Self.production + "x", authorization: nil) == .failure(.unauthorized))
        let padded = Self.production + String(repeating: "\u{0}", count: 256)
        #expect(check.authenticate(okraAuth: padded, authorization: nil) == .failure(.unauthorized))
    }

    @Test("with tokens a request without one is refused, and tokens together with --allow-unauthenticated are a configuration error")
    func tokensAreRequired() throws {
        #expect(try Self.check().authenticate(okraAuth: nil, authorization: nil) == .failure(.unauthorized))
        #expect(throws: SetupError.self) {
            _ = try SenderCheck(tokens: ["production=\(Self.production)"], allowIPs: [], trustedProxies: [], allowUnauthenticated: true)
        }
    }

    @Test("the allowlist: Okra's preset, CIDR ranges, and X-Forwarded-For only from trusted proxies")
    func addresses() throws {
        let check = try Self.check(allow: ["okra", "10.1.0.0/16"], proxies: ["127.0.0.1"])
        #expect(check.checkAddress("13.39.179.188") == nil)
        #expect(check.checkAddress("10.1.200.3") == nil)
        #expect(check.checkAddress("10.2.0.1") == .addressNotAllowed("10.2.0.1"))
        #expect(check.checkAddress("::ffff:35.180.165.18") == nil)
        // Behind the trusted proxy the forwarded address counts; from anyone else the header is ignored.
        #expect(check.clientAddress(peer: "127.0.0.1", forwardedFor: ["203.0.113.9, 13.38.152.18"]) == "13.38.152.18")
        #expect(check.clientAddress(peer: "198.51.100.7", forwardedFor: ["13.38.152.18"]) == "198.51.100.7")
    }

    @Test("an empty or malformed address is a setup error naming the list and the entry, never a crash", arguments: [
        ("", "--allow-ip"), ("/", "--allow-ip"), ("/24", "--allow-ip"), ("10.0.0.0/", "--allow-ip"), ("10.0.0.0/33", "--allow-ip"),
        ("::1/129", "--allow-ip"), ("", "--trusted-proxy"), ("nonsense", "--trusted-proxy"),
    ])
    func malformedAddresses(_ entry: String, _ flag: String) {
        #expect(throws: SetupError.self) {
            _ = try Self.check(allow: flag == "--allow-ip" ? [entry] : [], proxies: flag == "--trusted-proxy" ? [entry] : [])
        }
        do {
            _ = try Self.check(allow: flag == "--allow-ip" ? [entry] : [], proxies: flag == "--trusted-proxy" ? [entry] : [])
        } catch {
            // The library says which list and which entry; the executable names the flag.
            let expected: SetupError = flag == "--allow-ip" ? .badAllowedAddress(entry) : .badProxyAddress(entry)
            #expect(error as? SetupError == expected, "\(error)")
        }
    }

    @Test("without tokens serve refuses to start unless unauthenticated is explicit; short secrets are refused")
    func configuration() throws {
        #expect(throws: SetupError.self) { _ = try SenderCheck(tokens: [], allowIPs: [], trustedProxies: [], allowUnauthenticated: false) }
        #expect(throws: SetupError.self) { _ = try SenderCheck(tokens: ["production=short"], allowIPs: [], trustedProxies: [], allowUnauthenticated: false) }
        #expect(throws: SetupError.self) { _ = try SenderCheck(tokens: ["staging=\(Self.production)"], allowIPs: [], trustedProxies: [], allowUnauthenticated: false) }
        let open = try SenderCheck(tokens: [], allowIPs: [], trustedProxies: [], allowUnauthenticated: true)
        #expect(open.authenticate(okraAuth: nil, authorization: nil) == .success(nil))
    }
}
