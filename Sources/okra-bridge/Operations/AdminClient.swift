import ArgumentParser
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

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

/// HTTP to the operations API: JSON in, JSON out, errors as one line.
struct AdminClient {
    let base: URL
    let token: String

    /// The answer's body, or a one-line error from the API's JSON error or the connection.
    func call(_ method: String, _ path: String, query: [(String, String)] = [], body: [String: Any]? = nil) async throws -> Data {
        var components = URLComponents(url: base.appendingPathComponent(path), resolvingAgainstBaseURL: false)!
        if !query.isEmpty { components.queryItems = query.map { URLQueryItem(name: $0.0, value: $0.1) } }
        var request = URLRequest(url: components.url!)
        request.httpMethod = method
        request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization")
        request.timeoutInterval = 300
        if let body {
            request.httpBody = try JSONSerialization.data(withJSONObject: body)
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        }
        let data: Data
        let response: URLResponse
        do {
            (data, response) = try await URLSession.shared.data(for: request)
        } catch {
            throw UserError("cannot reach the operations API at \(base.absoluteString): \(error.localizedDescription)")
        }
        let status = (response as? HTTPURLResponse)?.statusCode ?? 0
        guard (200..<300).contains(status) else {
            let message = ((try? JSONSerialization.jsonObject(with: data)) as? [String: Any]).flatMap { ($0["error"] as? [String: Any])?["message"] as? String }
            throw UserError("\(method) \(path): \(status) \(message ?? String(decoding: data.prefix(200), as: UTF8.self))")
        }
        return data
    }

    /// Hands the answer's bytes to `chunk` as they arrive (the export), so the whole answer is
    /// never held.
    func stream(_ path: String, query: [(String, String)], _ chunk: @escaping @Sendable (Data) -> Void) async throws {
        var components = URLComponents(url: base.appendingPathComponent(path), resolvingAgainstBaseURL: false)!
        if !query.isEmpty { components.queryItems = query.map { URLQueryItem(name: $0.0, value: $0.1) } }
        var request = URLRequest(url: components.url!)
        request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization")
        request.timeoutInterval = 3600
        let streamer = ChunkStreamer(chunk: chunk)
        let session = URLSession(configuration: .default, delegate: streamer, delegateQueue: nil)
        defer { session.finishTasksAndInvalidate() }
        let status: Int
        do {
            status = try await withCheckedThrowingContinuation { continuation in
                streamer.done = { continuation.resume(with: $0) }
                session.dataTask(with: request).resume()
            }
        } catch {
            throw UserError("cannot reach the operations API at \(base.absoluteString): \(error.localizedDescription)")
        }
        guard (200..<300).contains(status) else { throw UserError("GET \(path): \(status) \(streamer.errorBody)") }
    }
}

/// Passes a streamed answer's bytes on as they arrive; an error answer's first bytes are kept
/// for the message.
final class ChunkStreamer: NSObject, URLSessionDataDelegate, @unchecked Sendable {
    private let chunk: @Sendable (Data) -> Void
    private var status = 0
    /// The first bytes of an error answer.
    private(set) var errorBody = ""
    var done: ((Result<Int, any Error>) -> Void)?

    init(chunk: @escaping @Sendable (Data) -> Void) { self.chunk = chunk }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive response: URLResponse,
                    completionHandler: @escaping (URLSession.ResponseDisposition) -> Void) {
        status = (response as? HTTPURLResponse)?.statusCode ?? 0
        completionHandler(.allow)
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive data: Data) {
        guard (200..<300).contains(status) else {
            if errorBody.count < 300 { errorBody += String(decoding: data.prefix(300), as: UTF8.self) }
            return
        }
        chunk(data)
    }

    func urlSession(_ session: URLSession, task: URLSessionTask, didCompleteWithError error: (any Error)?) {
        if let error { done?(.failure(error)) } else { done?(.success(status)) }
        done = nil
    }
}
