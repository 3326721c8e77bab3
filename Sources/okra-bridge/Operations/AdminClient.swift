import ArgumentParser
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOFoundationCompat
import NIOHTTP1

/// Where the operators' commands find the bridge's operations API (§9), and with what token.
struct AdminOptions: ParsableArguments {
    @Option(help: "The bridge's admin listener. Default http://127.0.0.1:9090 (or OKRA_BRIDGE_ADMIN).") var admin: String?
    @Option(help: "The admin token; visible in the process list: prefer --admin-token-file or OKRA_BRIDGE_ADMIN_TOKEN.") var adminToken: String?
    @Option(help: "A file holding the admin token (its first line).") var adminTokenFile: String?
    @Flag(help: "JSON lines even on a terminal (the default when piped).") var json = false

    /// A client for the API, or a one-line error.
    func client() throws -> AdminClient {
        let env = Environment()
        let base = env.value(admin, "ADMIN") ?? "http://127.0.0.1:9090"
        guard let url = URL(string: base), url.scheme == "http" || url.scheme == "https", url.host != nil else {
            throw UserError("--admin takes a URL such as http://127.0.0.1:9090, got \(base)")
        }
        // A flag beats the environment; a file beats a token given the same way.
        func read(_ path: String) throws -> String {
            do { return try SecretFile.firstLine(path, flag: "--admin-token-file") } catch { throw UserError("\(error)") }
        }
        let token: String? = if let adminTokenFile { try read(adminTokenFile) }
            else if let adminToken { adminToken }
            else if let path = env.value(nil, "ADMIN_TOKEN_FILE") { try read(path) }
            else { env.value(nil, "ADMIN_TOKEN") }
        guard let token else { throw UserError("the operations API needs the admin token: --admin-token-file FILE or OKRA_BRIDGE_ADMIN_TOKEN") }
        return AdminClient(base: url, token: token)
    }

    /// Whether to print a table: on a terminal, unless `--json`.
    var table: Bool { !json && isatty(STDOUT_FILENO) == 1 }
}

/// HTTP to the operations API: JSON in, JSON out, errors as one line. AsyncHTTPClient, the
/// client `okra trigger` uses too, so the binary needs no libcurl (Foundation's URLSession would).
struct AdminClient {
    let base: URL
    let token: String

    /// The answer's body, or a one-line error from the API's JSON error or the connection.
    func call(_ method: String, _ path: String, query: [(String, String)] = [], body: [String: Any]? = nil) async throws -> Data {
        var request = HTTPClientRequest(url: url(path, query))
        request.method = HTTPMethod(rawValue: method)
        request.headers.add(name: "Authorization", value: "Bearer \(token)")
        if let body {
            request.body = .bytes(ByteBuffer(data: try JSONSerialization.data(withJSONObject: body)))
            request.headers.add(name: "Content-Type", value: "application/json")
        }
        let response = try await send(request, timeout: .minutes(5))
        var collected = Data()
        do {
            for try await buffer in response.body { collected.append(contentsOf: buffer.readableBytesView) }
        } catch {
            throw UserError("the operations API at \(base.absoluteString) broke off its answer: \(error)")
        }
        guard (200..<300).contains(response.status.code) else {
            let message = ((try? JSONSerialization.jsonObject(with: collected)) as? [String: Any]).flatMap { ($0["error"] as? [String: Any])?["message"] as? String }
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
            var first = Data()
            for try await buffer in response.body where first.count < 300 { first.append(contentsOf: buffer.readableBytesView.prefix(300)) }
            throw UserError("GET \(path): \(response.status.code) \(String(decoding: first.prefix(300), as: UTF8.self))")
        }
        do {
            for try await buffer in response.body { chunk(Data(buffer.readableBytesView)) }
        } catch {
            throw UserError("the operations API at \(base.absoluteString) broke off its answer: \(error)")
        }
    }

    private func url(_ path: String, _ query: [(String, String)]) -> String {
        var components = URLComponents(url: base.appendingPathComponent(path), resolvingAgainstBaseURL: false)!
        if !query.isEmpty { components.queryItems = query.map { URLQueryItem(name: $0.0, value: $0.1) } }
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
