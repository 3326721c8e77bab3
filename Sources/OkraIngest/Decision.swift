import Foundation
import OkraEnvelope
import OkraRouting

/// What the bridge makes of one body from one sender: the pipeline's whole decision, pure.
/// The webhook path (``Ingest``), a replay and `okra-bridge route` all ask ``decide(body:sender:receivedAt:routes:)``,
/// so the same body gives the same outcome everywhere; each only says it its own way (an HTTP
/// answer, a plan, lines on a terminal).
public enum Decision: Sendable {
    /// Not an event: its one record carries the raw body to the dead-letter topic.
    case rejected(Rejection, deadLetter: RoutedRecord)
    /// An event for another environment than the sender's token: nothing is published or kept
    /// (the webhook path answers 403, `route` exits 1, a replay counts it as refused).
    case refused(SenderCheck.Refusal, event: CanonicalEvent)
    /// An event, bound to the token's environment, and where routing sends it (records, a
    /// drop, or the dead-letter topic as `unrecognized`).
    case routed(CanonicalEvent, RoutingDecision)
}

/// The pipeline's decision for `body` from `sender`, received at `receivedAt`, under `routes`:
/// normalize (a body that is no event is rejected to the dead-letter topic), bind to the token's
/// environment (another environment is refused), route. `trace` goes onto the event and its
/// records (or the dead letter): it never changes the id.
public func decide(body: [UInt8], sender: VerifiedSender, receivedAt: Date, routes: RouteTable, trace: TraceContext? = nil) -> Decision {
    switch Normalizer.normalize(body, receivedAt: receivedAt) {
    case .failure(let rejection):
        return .rejected(rejection, deadLetter: Router.deadLetter(body: body, rejection: rejection, receivedAt: receivedAt, table: routes, trace: trace))
    case .success(var event):
        event.trace = trace
        return decide(event: event, sender: sender, receivedAt: receivedAt, routes: routes)
    }
}

/// The rest of the decision for an event already made: bind to the token's environment, route.
/// A replay of an event entry starts here, from the envelope the bridge accepted, so its id is
/// the one consumers saw (§9); a dead letter's replay starts from its body.
public func decide(event: CanonicalEvent, sender: VerifiedSender, receivedAt: Date, routes: RouteTable) -> Decision {
    var event = event
    if let token = sender.environment {
        // The token decides the environment: a sandbox token never reaches a production topic.
        guard let bound = event.bound(to: token) else {
            return .refused(.environmentMismatch(token: token, payload: event.environment), event: event)
        }
        event = bound
    }
    return .routed(event, Router.route(event, table: routes, receivedAt: receivedAt))
}

extension SenderCheck.Refusal: CustomStringConvertible {
    /// One line, the same in the 403 answer and on `route`'s standard error.
    public var description: String {
        switch self {
        case .unauthorized: "missing or unknown token: send it in Okra-Auth or Authorization: Bearer"
        case .addressNotAllowed(let address): "address \(address) is not allowed to send webhooks"
        case .environmentMismatch(let token, let payload): "a \(payload) payload was sent with a \(token) token"
        }
    }
}
