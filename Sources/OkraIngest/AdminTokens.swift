import CoreMetrics
import Foundation
import Logging
import OkraOperations
import ServiceLifecycle

/// The admin tokens (§9): each a name, its scopes and its secret. Several may share a name or a
/// scope, so a token is rotated by adding the new line before removing the old one.
public struct AdminTokenSet: Sendable {
    struct Token: Sendable {
        let caller: AdminCaller
        let secret: [UInt8]
    }

    let entries: [Token]

    /// No token: the operations API is off and `/metrics` open.
    public static let none = AdminTokenSet(entries: [])

    init(entries: [Token]) { self.entries = entries }

    /// The name a bare secret (`--admin-token`, a one-line file without a name) is known by.
    public static let bareName = "admin"

    /// One `operate` token named `admin` (`--admin-token`).
    /// - Throws: ``SetupError/badToken(_:)`` when it is shorter than 16 characters.
    public init(bare secret: String) throws(SetupError) {
        guard secret.utf8.count >= 16 else { throw SetupError.badToken("the admin token must be at least 16 characters (it is not shown)") }
        self.init(entries: [Token(caller: AdminCaller(name: Self.bareName, scopes: [.operate]), secret: Array(secret.utf8))])
    }

    /// Whether `line` is of the form `NAME:SCOPE[,SCOPE...]=` (the contract's pattern
    /// `^[A-Za-z0-9_-]+:[a-z-]+(,[a-z-]+)*=`): only such a line names a token's scopes.
    public static func isScoped(_ line: Substring) -> Bool {
        var bytes = line.utf8.makeIterator()
        func isNameByte(_ byte: UInt8) -> Bool {
            (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte) || (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte)
                || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-")
        }
        func isScopeByte(_ byte: UInt8) -> Bool { (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || byte == UInt8(ascii: "-") }
        var count = 0
        while let byte = bytes.next() {
            if byte == UInt8(ascii: ":") { break }
            guard isNameByte(byte) else { return false }
            count += 1
        }
        guard count > 0 else { return false }
        count = 0
        while let byte = bytes.next() {
            if byte == UInt8(ascii: "=") { return count > 0 }
            if byte == UInt8(ascii: ",") {
                guard count > 0 else { return false }
                count = 0
                continue
            }
            guard isScopeByte(byte) else { return false }
            count += 1
        }
        return false
    }

    /// From an admin token file (`--admin-token-file`): `NAME:SCOPE[,SCOPE...]=SECRET` a line,
    /// blank lines and `#` comments ignored; a file whose one line is not of that form is one
    /// bare `operate` secret named `admin` (the form every earlier version read).
    /// - Returns: the set, or one problem per bad line naming the file and the line, never a secret.
    static func parse(file bytes: [UInt8], path: String) -> Result<AdminTokenSet, FileProblems> {
        let text = String(decoding: bytes, as: UTF8.self)
        var lines: [(number: Int, text: Substring)] = []
        for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespacesAndNewlines)
            if line.isEmpty || line.hasPrefix("#") { continue }
            lines.append((index + 1, Substring(line)))
        }
        guard !lines.isEmpty else {
            return .failure(FileProblems(problems: ["\(path): no tokens; an admin token file needs at least one NAME:SCOPE=SECRET line"]))
        }
        if lines.count == 1, !isScoped(lines[0].text) {
            switch Result(catching: { () throws(SetupError) in try AdminTokenSet(bare: String(lines[0].text)) }) {
            case .success(let set): return .success(set)
            case .failure(let error): return .failure(FileProblems(problems: ["\(path):\(lines[0].number): \(error)"]))
            }
        }
        var entries: [Token] = []
        var problems: [String] = []
        for (number, line) in lines {
            switch token(line) {
            case .success(let token): entries.append(token)
            case .failure(let problem): problems.append("\(path):\(number): \(problem)")
            }
        }
        return problems.isEmpty ? .success(AdminTokenSet(entries: entries)) : .failure(FileProblems(problems: problems))
    }

    /// The tokens of a token file's text (``parse(file:path:)``), problems naming `path`.
    public static func parsing(_ text: String, path: String = "admin tokens") throws(SetupError) -> AdminTokenSet {
        switch parse(file: Array(text.utf8), path: path) {
        case .success(let set): return set
        case .failure(let problems): throw SetupError.badTokenFile(problems: problems.problems)
        }
    }

    /// The tokens of the file at `path` (``parse(file:path:)``), or a ``SetupError`` naming
    /// the file and each bad line (`check` and the command line read it so).
    public static func read(file path: String) throws(SetupError) -> AdminTokenSet {
        guard let data = FileManager.default.contents(atPath: path) else { throw SetupError.unreadableTokenFile(path: path) }
        switch parse(file: Array(data), path: path) {
        case .success(let set): return set
        case .failure(let problems): throw SetupError.badTokenFile(problems: problems.problems)
        }
    }

    private static func token(_ line: Substring) -> Result<Token, ProblemText> {
        guard isScoped(line), let colon = line.firstIndex(of: ":"), let equals = line.firstIndex(of: "=") else {
            return .failure(ProblemText("takes NAME:SCOPE[,SCOPE...]=SECRET (a file of several lines has no bare secrets; the secret is not shown)"))
        }
        let name = String(line[..<colon])
        var scopes: Set<AdminScope> = []
        for word in line[line.index(after: colon)..<equals].split(separator: ",") {
            guard let scope = AdminScope(rawValue: String(word)) else {
                let words = AdminScope.allCases.map(\.rawValue).joined(separator: ", ")
                return .failure(ProblemText("\(name): unknown scope \(word); the scopes are \(words)"))
            }
            scopes.insert(scope)
        }
        let secret = Array(line[line.index(after: equals)...].utf8)
        guard secret.count >= 16 else { return .failure(ProblemText("\(name): the secret must be at least 16 characters (it is not shown)")) }
        return .success(Token(caller: AdminCaller(name: name, scopes: scopes), secret: secret))
    }

    private struct ProblemText: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }

    /// Whether there is no token.
    public var isEmpty: Bool { entries.isEmpty }

    /// The tokens' names, each once, in file order (for log lines and the audit trail).
    public var names: [String] {
        var seen: Set<String> = []
        return entries.map(\.caller.name).filter { seen.insert($0).inserted }
    }

    /// How many tokens hold each scope (for log lines: never a secret).
    public var counts: [AdminScope: Int] {
        entries.reduce(into: [:]) { counts, token in for scope in token.caller.scopes { counts[scope, default: 0] += 1 } }
    }

    /// Both sets' tokens.
    public func adding(_ other: AdminTokenSet) -> AdminTokenSet { AdminTokenSet(entries: entries + other.entries) }

    /// The caller whose secret is the `Authorization: Bearer` token of `authorization`, comparing
    /// with every token in constant time per token; nil when none is.
    public func caller(authorization: String?) -> AdminCaller? {
        guard let presented = BearerToken.parse(authorization).map({ Array($0.utf8) }) else { return nil }
        var match: AdminCaller?
        for token in entries where BearerToken.constantTimeEqual(presented, token.secret) && match == nil {
            match = token.caller
        }
        return match
    }
}

/// Where the admin listener takes the current admin tokens from.
public protocol AdminTokenSource: Sendable {
    /// The tokens a request may carry now.
    var adminTokens: AdminTokenSet { get }
}

extension AdminTokenSet: AdminTokenSource {
    /// A fixed set is its own source.
    public var adminTokens: AdminTokenSet { self }
}

/// The admin tokens of `--admin-token` together with those of `--admin-token-file`, which is
/// re-read on change and on SIGHUP, all or nothing (``FileReloader``), as the webhook tokens are.
public final class AdminTokenFileReloader: Service, AdminTokenSource, Sendable {
    private let fixed: AdminTokenSet
    private let file: FileReloader<AdminTokenSet>

    /// Reads the file once; a ``SetupError`` naming the file (and the line) when it cannot be
    /// used. `onReload` is called with the new set after each successful reload (the audit trail).
    public init(path: String, fixed: AdminTokenSet = .none, interval: Duration = .seconds(1), logger: Logger,
                metrics: MetricsFactory = MetricsSystem.factory,
                onReload: @escaping @Sendable (AdminTokenSet) -> Void = { _ in }) throws(SetupError) {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw SetupError.unreadableTokenFile(path: path)
        }
        let bytes = Array(data)
        let initial: AdminTokenSet
        switch AdminTokenSet.parse(file: bytes, path: path) {
        case .success(let set): initial = set
        case .failure(let problems): throw SetupError.badTokenFile(problems: problems.problems)
        }
        self.fixed = fixed
        file = FileReloader(path: path, name: "admin_tokens", initial: initial, initialBytes: bytes, interval: interval, logger: logger, metrics: metrics,
                            parse: { AdminTokenSet.parse(file: $0, path: path) },
                            describe: { set in
                                var metadata: Logger.Metadata = ["admin_tokens.names": "\(set.names.joined(separator: ","))"]
                                for scope in AdminScope.allCases { metadata["admin_tokens.\(scope.rawValue)"] = "\(set.counts[scope] ?? 0)" }
                                return metadata
                            },
                            onReload: onReload)
    }

    /// The tokens of `--admin-token` and of the file as last read successfully.
    public var adminTokens: AdminTokenSet { fixed.adding(file.value) }

    /// Reads the file now; a changed, valid file replaces the file's tokens.
    @discardableResult
    public func reload(force: Bool = false) -> ReloadOutcome { file.reload(force: force) }

    /// Whether SIGHUP is trapped yet.
    public var isTrappingHangups: Bool { file.isTrappingHangups }

    /// Watches the file and SIGHUP until graceful shutdown.
    public func run() async throws { try await file.run() }
}
