import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// Okra's own API, the two calls the bridge needs to recover what never arrived (the contract's
/// §10): `POST callback/trigger` (send these records' webhooks again) and `GET callback` (the
/// data behind a callback). Typed requests, answers and errors; no command line here.
public struct OkraClient: Sendable {
    /// Okra's API for one environment.
    public struct Endpoint: Sendable, Equatable {
        /// The base URL, ending in `/`.
        public var baseURL: String
        /// Which environment it is (for error messages).
        public var environment: String

        /// Okra's documented base URLs: production `https://api.okra.ng/v2/`, sandbox
        /// `https://api.okra.ng/sandbox/v2/`.
        public static func okra(_ environment: String) -> Endpoint? {
            switch environment {
            case "production": Endpoint(baseURL: "https://api.okra.ng/v2/", environment: environment)
            case "sandbox": Endpoint(baseURL: "https://api.okra.ng/sandbox/v2/", environment: environment)
            default: nil
            }
        }

        /// `baseURL` (a `/` is added when missing) for `environment`.
        public init(baseURL: String, environment: String) {
            self.baseURL = baseURL.hasSuffix("/") ? baseURL : baseURL + "/"
            self.environment = environment
        }
    }

    /// How failed calls are retried: 429 and 5xx (and connections that fail), at most
    /// `maxRetries` times, waiting `Retry-After` when Okra gives one, else doubling from
    /// `firstDelay` up to `maxDelay`.
    public struct RetryPolicy: Sendable {
        /// Retries after the first attempt.
        public var maxRetries: Int
        /// The first wait without `Retry-After`.
        public var firstDelay: Duration
        /// The longest wait.
        public var maxDelay: Duration

        /// At most `maxRetries` retries (default 5), from 1 s doubling to 60 s.
        public init(maxRetries: Int = 5, firstDelay: Duration = .seconds(1), maxDelay: Duration = .seconds(60)) {
            self.maxRetries = maxRetries
            self.firstDelay = firstDelay
            self.maxDelay = maxDelay
        }
    }

    /// Okra's answer to one trigger request.
    public struct TriggerAnswer: Sendable, Equatable {
        /// The records of the request.
        public var records: [String]
        /// The HTTP status.
        public var status: Int
        /// Okra's `message` (its docs spell it `messgae` once; both are read).
        public var message: String?
        /// Attempts made (1 when the first succeeded).
        public var attempts: Int
    }

    /// Why a call failed. Descriptions never hold the secret key.
    public enum Failure: Error, CustomStringConvertible, Equatable {
        /// 401 or 403: the key does not fit the environment.
        case unauthorized(environment: String, status: Int)
        /// Another status after the retries (or one not retried).
        case status(Int, message: String?, attempts: Int)
        /// The connection failed after the retries.
        case transport(String, attempts: Int)
        /// A request Okra would refuse, caught before sending.
        case invalid(String)

        /// One line.
        public var description: String {
            switch self {
            case .unauthorized(let environment, let status):
                "Okra answered \(status): the secret key is not valid for the \(environment) environment"
            case .status(let status, let message, let attempts):
                "Okra answered \(status)\(message.map { ": \($0)" } ?? "") (after \(attempts) attempt\(attempts == 1 ? "" : "s"))"
            case .transport(let reason, let attempts):
                "cannot reach Okra's API: \(reason) (after \(attempts) attempt\(attempts == 1 ? "" : "s"))"
            case .invalid(let reason):
                reason
            }
        }
    }

    /// The most record ids one trigger request takes (Okra's docs).
    public static let maxRecordsPerTrigger = 100

    /// Where the calls go.
    public let endpoint: Endpoint
    private let secret: String
    private let http: HTTPClient
    private let retry: RetryPolicy
    private let sleep: @Sendable (Duration) async throws -> Void

    /// A client of `endpoint` with the secret key `secret` (sent as a Bearer token, never shown).
    /// TLS is verified as AsyncHTTPClient does by default; nothing here turns it off.
    public init(endpoint: Endpoint, secret: String, http: HTTPClient = .shared, retry: RetryPolicy = RetryPolicy(),
                sleep: @escaping @Sendable (Duration) async throws -> Void = { try await Task.sleep(for: $0) }) {
        self.endpoint = endpoint
        self.secret = secret
        self.http = http
        self.retry = retry
        self.sleep = sleep
    }

    /// The `method` of `GET callback` for an event's `okraproduct` (docs/recovery.md): balance is
    /// BALANCE (a `PERIODIC_BALANCE` callback's product is balance), and so on; nil for products
    /// without callback data (user, widget, record).
    public static func callbackMethod(forProduct product: String) -> String? {
        ["auth": "AUTH", "identity": "IDENTITY", "accounts": "ACCOUNTS", "balance": "BALANCE",
         "transactions": "TRANSACTIONS", "income": "INCOME", "payment": "PAYMENT"][product]
    }

    /// `records` in batches of at most 100, in order.
    public static func batches(_ records: [String]) -> [[String]] {
        stride(from: 0, to: records.count, by: maxRecordsPerTrigger).map { Array(records[$0..<min($0 + maxRecordsPerTrigger, records.count)]) }
    }

    /// The body of one trigger request, as Okra's docs give it: `{"records":[...],"url":...}`.
    public static func triggerBody(records: [String], url: String?) -> [UInt8] {
        var object: [String: Any] = ["records": records]
        if let url { object["url"] = url }
        return Array((try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data())
    }

    /// Asks Okra to send one batch's webhooks again (`POST callback/trigger`).
    public func trigger(records: [String], url: String? = nil) async throws(Failure) -> TriggerAnswer {
        guard !records.isEmpty, records.count <= Self.maxRecordsPerTrigger else {
            throw .invalid("a trigger takes 1 to \(Self.maxRecordsPerTrigger) record ids, got \(records.count)")
        }
        let (status, body, attempts) = try await send(.POST, path: "callback/trigger", body: Self.triggerBody(records: records, url: url))
        let object = (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any]
        return TriggerAnswer(records: records, status: status, message: (object?["message"] ?? object?["messgae"]) as? String, attempts: attempts)
    }

    /// The data behind a callback (`GET callback?record=&method=`): Okra's JSON, as sent.
    public func fetch(record: String, method: String) async throws(Failure) -> [UInt8] {
        var components = URLComponents()
        components.queryItems = [URLQueryItem(name: "record", value: record), URLQueryItem(name: "method", value: method)]
        let (_, body, _) = try await send(.GET, path: "callback" + (components.percentEncodedQuery.map { "?" + $0 } ?? ""), body: nil)
        return body
    }

    private func send(_ method: HTTPMethod, path: String, body: [UInt8]?) async throws(Failure) -> (Int, [UInt8], Int) {
        var attempt = 0
        while true {
            attempt += 1
            var request = HTTPClientRequest(url: endpoint.baseURL + path)
            request.method = method
            request.headers.add(name: "Authorization", value: "Bearer \(secret)")
            request.headers.add(name: "Accept", value: "application/json")
            if let body {
                request.headers.add(name: "Content-Type", value: "application/json")
                request.body = .bytes(ByteBuffer(bytes: body))
            }
            let wait: Duration
            do {
                let response = try await http.execute(request, timeout: .seconds(30))
                let bytes = Array(buffer: try await response.body.collect(upTo: 64 << 20))
                let status = Int(response.status.code)
                switch status {
                case 200..<300:
                    return (status, bytes, attempt)
                case 401, 403:
                    throw Failure.unauthorized(environment: endpoint.environment, status: status)
                case 429, 500..<600 where attempt <= retry.maxRetries:
                    wait = retryAfter(response.headers) ?? backoff(attempt)
                default:
                    let object = (try? JSONSerialization.jsonObject(with: Data(bytes))) as? [String: Any]
                    throw Failure.status(status, message: (object?["message"] ?? object?["messgae"] ?? object?["error"]) as? String, attempts: attempt)
                }
            } catch let failure as Failure {
                throw failure
            } catch {
                guard attempt <= retry.maxRetries else { throw .transport("\(type(of: error))", attempts: attempt) }
                wait = backoff(attempt)
            }
            do { try await sleep(wait) } catch { throw .transport("cancelled", attempts: attempt) }
        }
    }

    private func backoff(_ attempt: Int) -> Duration {
        var delay = retry.firstDelay
        for _ in 1..<attempt { delay = min(delay * 2, retry.maxDelay) }
        return min(delay, retry.maxDelay)
    }

    /// `Retry-After` in seconds (Okra gives no rate limits in its docs; HTTP dates are not expected).
    private func retryAfter(_ headers: HTTPHeaders) -> Duration? {
        guard let text = headers.first(name: "Retry-After"), let seconds = Int(text.trimmingCharacters(in: .whitespaces)), seconds >= 0 else { return nil }
        return min(.seconds(seconds), retry.maxDelay)
    }
}
