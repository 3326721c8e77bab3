import OkraEnvelope

/// How the pipeline answered one webhook, independent of HTTP: `OkraHTTP` turns it into a
/// status, headers and a JSON body.
public enum IngestAnswer: Sendable, Equatable {
    /// Durable (or delivered, or dropped by a route): 200.
    case accepted(id: String, duplicate: Bool)
    /// The sender check refused the request: 401 or 403.
    case refused(SenderCheck.Refusal)
    /// The body is larger than the limit: 413.
    case tooLarge(limit: Int)
    /// The body is no JSON object; its raw bytes went to the dead-letter topic: 400.
    case rejected(Rejection)
    /// The event could not be made durable (or delivered): 503, retry after that many seconds.
    case unavailable(retryAfterSeconds: Int)

    /// The `result` label of `okra_bridge_requests_total`.
    public var result: String {
        switch self {
        case .accepted(_, let duplicate): duplicate ? "duplicate" : "accepted"
        case .refused(.unauthorized): "unauthorized"
        case .refused: "forbidden"
        case .tooLarge: "too_large"
        case .rejected: "malformed"
        case .unavailable: "unavailable"
        }
    }

    /// Every value of ``result``, with the listeners' own refusals.
    static let results = ["accepted", "duplicate", "unauthorized", "forbidden", "too_large", "malformed", "unavailable"]
        + ListenerRefusal.allCases.map(\.rawValue)
}

/// The listener a request came to: the `listener` label of `okra_bridge_requests_total`.
public enum ListenerName: String, Sendable, CaseIterable {
    /// `--listen`: Okra's webhooks.
    case ingest
    /// `--admin-listen`: probes, `/metrics`, the operations API.
    case admin
}

/// What a listener answers by itself, before or around the pipeline; counted in
/// `okra_bridge_requests_total` under its raw value as the `result` label.
public enum ListenerRefusal: String, Sendable, CaseIterable {
    /// A path or method neither listener serves: 404 or 405.
    case notFound = "not_found"
    /// The headers or the body did not arrive within their deadline: 408, then the connection closes.
    case timeout
    /// Bytes that are not HTTP/1.1: 400, then the connection closes.
    case badRequest = "bad_request"
    /// A connection over `--max-connections`: 503, then it closes.
    case overCapacity = "over_capacity"
    /// A connection over `--max-connections-per-address` from one address: 503, then it closes.
    case overAddressCapacity = "over_address_capacity"
    /// A connection from an address outside `--allow-ip`: closed when accepted, unanswered.
    case addressRefused = "address_refused"
    /// A route failed in a way it did not expect: 500.
    case internalError = "internal"
}
