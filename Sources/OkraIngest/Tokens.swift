import CoreMetrics
import Foundation
import Logging
import OkraEnvelope
import ServiceLifecycle

/// Webhook tokens, each bound to the environment it is for (several per environment for rotation).
public struct TokenSet: Sendable {
    struct Token: Sendable {
        let environment: OkraEnvironment
        let secret: [UInt8]
    }

    let entries: [Token]

    /// No tokens.
    public static let none = TokenSet(entries: [])

    init(entries: [Token]) { self.entries = entries }

    /// From `ENV=SECRET` pairs (`--token`, `OKRA_BRIDGE_TOKEN`).
    /// - Throws: ``SetupError/badToken(_:)`` saying what is wrong, never the secret.
    public init(pairs: [String]) throws(SetupError) {
        var entries: [Token] = []
        for pair in pairs {
            switch Self.token(pair) {
            case .success(let token): entries.append(token)
            case .failure(let problem): throw SetupError.badToken(problem.description)
            }
        }
        self.entries = entries
    }

    /// From a token file (`--token-file`): `ENV=SECRET` a line, blank lines and `#` comments
    /// ignored; the secret is everything after the first `=` (commas and `=` included).
    /// - Returns: the set, or one problem per bad line, naming the file and the line, never the
    ///   secret. A file without tokens is a problem too (it would refuse every sender).
    static func parse(file bytes: [UInt8], path: String) -> Result<TokenSet, FileProblems> {
        var entries: [Token] = []
        var problems: [String] = []
        let text = String(decoding: bytes, as: UTF8.self)
        for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = rawLine.trimmingCharacters(in: .whitespacesAndNewlines)
            if line.isEmpty || line.hasPrefix("#") { continue }
            switch token(line) {
            case .success(let token): entries.append(token)
            case .failure(let problem): problems.append("\(path):\(index + 1): \(problem)")
            }
        }
        if problems.isEmpty && entries.isEmpty { problems.append("\(path): no tokens; a token file needs at least one ENV=SECRET line") }
        return problems.isEmpty ? .success(TokenSet(entries: entries)) : .failure(FileProblems(problems: problems))
    }

    private static func token(_ pair: String) -> Result<Token, ProblemText> {
        guard let equals = pair.firstIndex(of: "="),
              let environment = OkraEnvironment(rawValue: pair[..<equals].trimmingCharacters(in: .whitespaces)), environment != .unknown else {
            return .failure(ProblemText("takes ENV=SECRET with ENV production or sandbox (the secret is not shown)"))
        }
        let secret = Array(pair[pair.index(after: equals)...].utf8)
        guard secret.count >= 16 else {
            return .failure(ProblemText("\(environment.rawValue)=...: the secret must be at least 16 characters"))
        }
        return .success(Token(environment: environment, secret: secret))
    }

    private struct ProblemText: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }

    /// Whether there is no token.
    public var isEmpty: Bool { entries.isEmpty }

    /// How many tokens there are for each environment (for log lines: never a secret).
    public var counts: [OkraEnvironment: Int] { entries.reduce(into: [:]) { $0[$1.environment, default: 0] += 1 } }

    /// Both sets' tokens.
    func adding(_ other: TokenSet) -> TokenSet { TokenSet(entries: entries + other.entries) }

    /// The environment of the token equal to `presented`, comparing with every token in
    /// constant time per token.
    func environment(of presented: [UInt8]) -> OkraEnvironment? {
        var match: OkraEnvironment?
        for token in entries where BearerToken.constantTimeEqual(presented, token.secret) && match == nil {
            match = token.environment
        }
        return match
    }
}

/// Where the sender check takes the current tokens from.
public protocol TokenSource: Sendable {
    /// The tokens a request may carry now.
    var tokens: TokenSet { get }
}

extension TokenSet: TokenSource {
    /// A fixed set is its own source.
    public var tokens: TokenSet { self }
}

/// The tokens of `--token` together with those of `--token-file`, which is re-read on change and
/// on SIGHUP, all or nothing (``FileReloader``): a broken file keeps the previous set, and the new
/// set is used from the next request on, so a token is rotated without a restart.
public final class TokenFileReloader: Service, TokenSource, Sendable {
    private let fixed: TokenSet
    private let file: FileReloader<TokenSet>

    /// Reads the file once; a ``SetupError`` naming the file (and the line) when it cannot be used.
    /// `onReload` is called with the new set after each successful reload (the audit trail).
    public init(path: String, fixed: TokenSet = .none, interval: Duration = .seconds(1), logger: Logger,
                metrics: MetricsFactory = MetricsSystem.factory, onReload: @escaping @Sendable (TokenSet) -> Void = { _ in }) throws(SetupError) {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw SetupError.unreadableTokenFile(path: path)
        }
        let bytes = Array(data)
        let initial: TokenSet
        switch TokenSet.parse(file: bytes, path: path) {
        case .success(let set): initial = set
        case .failure(let problems): throw SetupError.badTokenFile(problems: problems.problems)
        }
        self.fixed = fixed
        file = FileReloader(path: path, name: "tokens", initial: initial, initialBytes: bytes, interval: interval, logger: logger, metrics: metrics,
                            parse: { TokenSet.parse(file: $0, path: path) },
                            describe: { set in
                                ["tokens.production": "\(set.counts[.production] ?? 0)", "tokens.sandbox": "\(set.counts[.sandbox] ?? 0)"]
                            },
                            onReload: onReload)
    }

    /// The tokens of `--token` and of the file as last read successfully.
    public var tokens: TokenSet { fixed.adding(file.value) }

    /// Reads the file now; a changed, valid file replaces the file's tokens.
    @discardableResult
    public func reload(force: Bool = false) -> ReloadOutcome { file.reload(force: force) }

    /// Whether SIGHUP is trapped yet.
    public var isTrappingHangups: Bool { file.isTrappingHangups }

    /// Watches the file and SIGHUP until graceful shutdown.
    public func run() async throws { try await file.run() }
}
