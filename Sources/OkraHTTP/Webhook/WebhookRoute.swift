import Foundation
import HTTPTypes
import NIOCore
import OkraEnvelope
import OkraIngest

/// The webhook route, `POST /webhooks/okra` (§3): the checks made before a byte of the body is
/// read, the largest body it reads, and the pipeline the body goes to.
///
/// ``WebhookHandler`` serves it on the connection's event loop. The ingest router keeps the same
/// route, for the one case the handler leaves to Hummingbird: a webhook sent pipelined behind a
/// request Hummingbird is still answering on that connection.
public struct WebhookRoute: Sendable {
    /// The pipeline.
    public let ingest: Ingest
    /// `--max-body`.
    public let maxBody: Int
    /// `--max-inflight-body`: bodies being read or processed at once.
    public let bodyBudget: BodyBudget?
    /// The `Server` header of its answers, as the listener's other answers carry it.
    public let serverName: String?

    /// The route into `ingest`, reading bodies up to `maxBody` bytes within `bodyBudget`.
    public init(ingest: Ingest, maxBody: Int, bodyBudget: BodyBudget? = nil, serverName: String? = nil) {
        self.ingest = ingest
        self.maxBody = maxBody
        self.bodyBudget = bodyBudget
        self.serverName = serverName
    }

    static let path = "/webhooks/okra"

    /// Whether `request` is this route's: `POST` to its path, with or without a query (the
    /// router ignores it too).
    static func serves(_ request: HTTPRequest) -> Bool {
        guard request.method == .post, let target = request.path else { return false }
        guard target.hasPrefix(path) else { return false }
        let rest = target.utf8.dropFirst(path.utf8.count)
        return rest.isEmpty || rest.first == UInt8(ascii: "?")
    }

    /// What the checks before the body decided.
    enum Admission {
        /// Answer this without reading the body (401, 403, 413, 503).
        case answer(IngestAnswer)
        /// Read the body, holding `share` of the budget until the answer.
        case read(VerifiedSender, share: BodyBudget.Share?)
    }

    /// The sender's address and token, the declared length, then the body budget.
    func admit(_ headers: HTTPFields, peer: String?) -> Admission {
        let credentials = DeliveryRequest(peer: peer, forwardedFor: headers[values: Self.forwardedFor],
                                          okraAuth: headers[Self.okraAuth], authorization: headers[.authorization])
        let sender: VerifiedSender
        switch ingest.verify(credentials) {
        case .refused(let answer): return .answer(answer)
        case .verified(let verified): sender = verified
        }
        // A declared body over the limit is refused before a byte of it is read.
        let declared = headers[.contentLength].flatMap { Int($0) }
        if let declared, declared > maxBody { return .answer(ingest.tooLarge(limit: maxBody)) }
        // The body's bytes count against the budget until the answer is made.
        guard let bodyBudget else { return .read(sender, share: nil) }
        guard let share = bodyBudget.take(declared ?? maxBody) else { return .answer(ingest.overloaded()) }
        return .read(sender, share: share)
    }

    /// The caller's W3C Trace Context: one well-formed `traceparent` header (two make none, as the
    /// recommendation says), with its `tracestate` headers joined by commas.
    static func callerTrace(_ headers: HTTPFields) -> TraceContext? {
        let parents = headers[values: traceParent]
        guard parents.count == 1, let parent = parents.first else { return nil }
        let states = headers[values: traceState]
        return TraceContext(traceParent: parent, traceState: states.isEmpty ? nil : states.joined(separator: ","))
    }

    static let forwardedFor = HTTPField.Name("X-Forwarded-For")!
    static let okraAuth = HTTPField.Name("Okra-Auth")!
    static let traceParent = HTTPField.Name("traceparent")!
    static let traceState = HTTPField.Name("tracestate")!
}
