import ArgumentParser
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOFoundationCompat
import NIOHTTP1
import OkraIngest
import OkraOperations

/// Where the operators' commands find the bridge's operations API (§9), and with what token.
struct AdminOptions: ParsableArguments {
    @Option(help: "The bridge's admin listener. Default http://127.0.0.1:9090 (or OKRA_BRIDGE_ADMIN).") var admin: String?
    @Option(help: "The admin token; visible in the process list: prefer --admin-token-file or OKRA_BRIDGE_ADMIN_TOKEN.") var adminToken: String?
    @Option(help: "A file holding the admin token: its first line, bare or as NAME:SCOPE=SECRET (the token is the part after the =).") var adminTokenFile: String?
    @Flag(help: "JSON lines even on a terminal (the default when piped).") var json = false

    static let adminSetting = Setting(name: "admin", defaultValue: "http://127.0.0.1:9090", takes: "a URL such as http://127.0.0.1:9090")
    static let tokenSetting = Setting(name: "admin-token", defaultValue: nil, takes: "the admin token", secret: true)
    static let tokenFileSetting = Setting(name: "admin-token-file", defaultValue: nil, takes: "a file whose first line is the admin token")

    /// A client for the API: a URL that does not parse is a usage error, a token file that
    /// cannot be read a failed run.
    func client() throws -> AdminClient {
        let read = SettingsReader()
        let url = try read.value(Self.adminSetting, admin, default: URL(string: "http://127.0.0.1:9090")!) { text in
            URL(string: text).flatMap { ($0.scheme == "http" || $0.scheme == "https") && $0.host != nil ? $0 : nil }
        }
        // A flag beats the environment; a file beats a token given the same way.
        let token: String? = if let adminTokenFile { try Self.token(file: adminTokenFile) }
            else if let adminToken { adminToken }
            else if let path = try read.value(Self.tokenFileSetting, nil, { $0 }) { try Self.token(file: path) }
            else { try read.value(Self.tokenSetting, nil, { $0 }) }
        guard let token else { throw UsageError("the operations API needs the admin token: --admin-token-file FILE or OKRA_BRIDGE_ADMIN_TOKEN") }
        return AdminClient(base: url, token: token)
    }

    /// The token of a file: its first line that is not blank or a `#` comment; of a line
    /// `NAME:SCOPE[,SCOPE...]=SECRET` (the server's token file form), the secret.
    static func token(file path: String) throws -> String {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw UserError("--admin-token-file \(path): cannot read the file (missing or not readable)")
        }
        let lines = String(decoding: data, as: UTF8.self).split(separator: "\n").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
        guard let line = lines.first(where: { !$0.isEmpty && !$0.hasPrefix("#") }) else { throw UserError("--admin-token-file \(path): the file holds no token") }
        if AdminTokenSet.isScoped(Substring(line)), let equals = line.firstIndex(of: "=") { return String(line[line.index(after: equals)...]) }
        return line
    }

    /// Whether to print a table: on a terminal, unless `--json`.
    var table: Bool { !json && isatty(STDOUT_FILENO) == 1 }
}

/// HTTP to the operations API: JSON in, JSON out, errors as one line. AsyncHTTPClient, the
/// client `okra trigger` uses too, so the binary needs no libcurl (Foundation's URLSession would).
struct AdminClient {
    let base: URL
    let token: String

    /// The answer as `Answer` (the type the server writes), or a one-line error from the API's
    /// error answer or the connection.
    func call<Answer: Decodable>(_ method: String, _ path: String, query: [(String, String)] = [], body: (some Encodable)? = Optional<AdminAPI.Selection>.none,
                                 as answer: Answer.Type) async throws -> Answer {
        let bytes = try await call(method, path, query: query, body: body)
        do {
            return try AdminJSONDecoder().decode(Answer.self, from: bytes)
        } catch {
            throw UserError("\(method) \(path): the answer is not what this version of okra-bridge reads (\(AdminJSONDecoder.describe(error))); is the bridge of another version?")
        }
    }

    /// The answer's bytes, or a one-line error.
    func call(_ method: String, _ path: String, query: [(String, String)] = [], body: (some Encodable)? = Optional<AdminAPI.Selection>.none) async throws -> [UInt8] {
        var request = HTTPClientRequest(url: url(path, query))
        request.method = HTTPMethod(rawValue: method)
        request.headers.add(name: "Authorization", value: "Bearer \(token)")
        if let body {
            request.body = .bytes(ByteBuffer(bytes: try AdminJSONEncoder().encode(body)))
            request.headers.add(name: "Content-Type", value: "application/json")
        }
        let response = try await send(request, timeout: .minutes(5))
        var collected: [UInt8] = []
        do {
            for try await buffer in response.body { collected += buffer.readableBytesView }
        } catch {
            throw UserError("the operations API at \(base.absoluteString) broke off its answer: \(error)")
        }
        guard (200..<300).contains(response.status.code) else {
            let message = (try? AdminJSONDecoder().decode(AdminAPI.ErrorAnswer.self, from: collected))?.error.message
            throw UserError("\(method) \(path): \(response.status.code) \(message ?? String(decoding: collected.prefix(200), as: UTF8.self))")
        }
        return collected
    }

    /// Hands the answer's bytes to `chunk` as they arrive (the export), so the whole answer is
    /// never held.
    func stream(_ path: String, query: [(String, String)], _ chunk: @escaping @Sendable (Data) -> Void) async throws {
        var request = HTTPClientRequest(url: url(path, query))
        request.headers.add(name: "Authorization", value: "Bearer \(token)")
        let response = try await send(request, timeout: .hours(1))
        if !(200..<300).contains(response.status.code) {
            var first: [UInt8] = []
            for try await buffer in response.body where first.count < 4096 { first += buffer.readableBytesView.prefix(4096) }
            let message = (try? AdminJSONDecoder().decode(AdminAPI.ErrorAnswer.self, from: first))?.error.message
            throw UserError("GET \(path): \(response.status.code) \(message ?? String(decoding: first.prefix(300), as: UTF8.self))")
        }
        do {
            for try await buffer in response.body { chunk(Data(buffer.readableBytesView)) }
        } catch {
            throw UserError("the operations API at \(base.absoluteString) broke off its answer: \(error)")
        }
    }

    private func url(_ path: String, _ query: [(String, String)]) -> String {
        var components = URLComponents(url: base.appendingPathComponent(path), resolvingAgainstBaseURL: false)!
        // Every byte that is not plain percent-encoded: the API reads `+` as a space.
        if !query.isEmpty { components.percentEncodedQuery = query.map { QueryString.encode($0.0) + "=" + QueryString.encode($0.1) }.joined(separator: "&") }
        return components.url!.absoluteString
    }

    private func send(_ request: HTTPClientRequest, timeout: TimeAmount) async throws -> HTTPClientResponse {
        do {
            return try await HTTPClient.shared.execute(request, timeout: timeout)
        } catch {
            throw UserError("cannot reach the operations API at \(base.absoluteString): \(error)")
        }
    }
}
