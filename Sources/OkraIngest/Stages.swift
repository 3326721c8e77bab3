import Foundation
import OkraEnvelope
import OkraRouting

// The types at the ingest pipeline's boundaries, in the order a webhook meets them:
// DeliveryRequest -> (sender check) -> VerifiedDelivery -> (normalize) -> CanonicalEvent
// -> (route) -> RoutedEvent -> (EventSink) -> SinkAcceptance -> IngestAnswer.

/// What the sender check needs of a request: who sent it and the credentials it carries.
/// Nothing of the body: a request is authenticated before its body is read.
public struct DeliveryRequest: Sendable {
    /// The peer's IP address, if the connection has one.
    public var peer: String?
    /// Every `X-Forwarded-For` header, in order (believed only from trusted proxies).
    public var forwardedFor: [String]
    /// The `Okra-Auth` header.
    public var okraAuth: String?
    /// The `Authorization` header.
    public var authorization: String?

    /// A request's sender and credentials.
    public init(peer: String?, forwardedFor: [String] = [], okraAuth: String?, authorization: String?) {
        self.peer = peer
        self.forwardedFor = forwardedFor
        self.okraAuth = okraAuth
        self.authorization = authorization
    }
}

/// The sender that passed the check: the environment of its token (nil with
/// `--allow-unauthenticated` and no token).
public struct VerifiedSender: Sendable, Equatable {
    /// The token's environment.
    public var environment: OkraEnvironment?

    /// A sender authenticated for `environment`.
    public init(environment: OkraEnvironment?) { self.environment = environment }
}

/// A body from a verified sender, within the size limit, not yet parsed.
public struct VerifiedDelivery: Sendable {
    /// Who sent it.
    public var sender: VerifiedSender
    /// The body's bytes as received.
    public var body: [UInt8]
    /// When the bridge received the request.
    public var receivedAt: Date
    /// The caller's trace context (its `traceparent` and `tracestate` headers), when well formed.
    public var trace: TraceContext?

    /// A verified body received at `receivedAt`, in the caller's trace `trace`.
    public init(sender: VerifiedSender, body: [UInt8], receivedAt: Date, trace: TraceContext? = nil) {
        self.sender = sender
        self.body = body
        self.receivedAt = receivedAt
        self.trace = trace
    }
}

/// What an ``EventSink`` is given: the records routing made of one request, in order.
public struct RoutedEvent: Sendable, Equatable {
    /// The event's id, for dedupe; nil for a dead letter without one (never a duplicate).
    public var id: String?
    /// The environment the id is deduplicated in (§2): the token's, or without tokens the
    /// event's `okraenv`; a sandbox delivery never suppresses a production event.
    public var environment: OkraEnvironment
    /// The records to publish, in order (none when a route dropped the event).
    public var records: [RoutedRecord]
    /// When the bridge received the request.
    public var receivedAt: Date
    /// Where the records came from, for the event log (§9); nil for records that are no new
    /// request's (a replay).
    public var provenance: Provenance?

    /// The records of the event `id`, which arrived in `environment`, received at `receivedAt`.
    public init(id: String?, environment: OkraEnvironment = .unknown, records: [RoutedRecord], receivedAt: Date, provenance: Provenance? = nil) {
        self.id = id
        self.environment = environment
        self.records = records
        self.receivedAt = receivedAt
        self.provenance = provenance
    }
}

/// What the event log keeps of a request besides its records: the envelope, the body as
/// received, the token's environment, and why it was dead-lettered or dropped.
public struct Provenance: Sendable, Equatable {
    /// The envelope as made (bound to the token's environment); nil for a body that is no event.
    public var envelope: CanonicalEvent?
    /// The body as received.
    public var body: [UInt8]
    /// The environment of the token it came with.
    public var tokenEnvironment: OkraEnvironment?
    /// Why it went to the dead-letter topic, if it did.
    public var deadLetterReason: String?
    /// The route that dropped it, if one did.
    public var droppedBy: String?
    /// The trace context of the request (the envelope's, when there is one).
    public var trace: TraceContext?

    /// The provenance of one request.
    public init(envelope: CanonicalEvent?, body: [UInt8], tokenEnvironment: OkraEnvironment?, deadLetterReason: String? = nil, droppedBy: String? = nil,
                trace: TraceContext? = nil) {
        self.envelope = envelope
        self.body = body
        self.tokenEnvironment = tokenEnvironment
        self.deadLetterReason = deadLetterReason
        self.droppedBy = droppedBy
        self.trace = trace ?? envelope?.trace
    }
}
