import Foundation
import Hummingbird
import Logging
import NIOCore
import OkraKafka

/// The request context: Hummingbird's core plus the peer address for the allowlist.
public struct BridgeRequestContext: RequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let remoteAddress: SocketAddress?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
    }
}

/// Builds the ingest listener's routes (the contract's §3).
public enum HTTPServer {
    /// What `/readyz` needs to know.
    public struct Readiness: Sendable {
        public var store: OutboxStore?
        public var producer: @Sendable () -> KafkaProducer?
        public var routes: RoutesReloader

        public init(store: OutboxStore?, producer: @escaping @Sendable () -> KafkaProducer?, routes: RoutesReloader) {
            self.store = store
            self.producer = producer
            self.routes = routes
        }
    }

    /// Where `/metrics` is served, and who may read it.
    public struct MetricsEndpoint: Sendable {
        /// The Prometheus text.
        public var render: @Sendable () -> String
        /// When set, `/metrics` answers 401 unless the request has `Authorization: Bearer <token>`.
        public var token: String?

        public init(render: @escaping @Sendable () -> String, token: String?) {
            self.render = render
            self.token = token
        }
    }

    /// The ingest listener: `POST /webhooks/okra`, `GET /healthz`, `GET /readyz`, and
    /// `GET /metrics` when `metrics` is given (no admin listener).
    public static func router(
        ingest: Ingest,
        maxBody: Int,
        readiness: Readiness,
        metrics: MetricsEndpoint?
    ) -> Router<BridgeRequestContext> {
        let router = Router(context: BridgeRequestContext.self)
        router.post("/webhooks/okra") { request, context -> Response in
            let received = Date()
            let peer = context.remoteAddress?.ipAddress
            let address = ingest.senderCheck.clientAddress(peer: peer, forwardedFor: request.headers[values: .init("X-Forwarded-For")!])
            if let refusal = ingest.senderCheck.checkAddress(address) {
                return respond(ingest, .refusal(refusal))
            }
            let token: SenderCheck.Environment?
            switch ingest.senderCheck.authenticate(okraAuth: request.headers[.init("Okra-Auth")!], authorization: request.headers[.authorization]) {
            case .failure(let refusal): return respond(ingest, .refusal(refusal))
            case .success(let environment): token = environment
            }
            var request = request
            let body: ByteBuffer
            do {
                body = try await request.collectBody(upTo: maxBody)
            } catch is NIOTooManyBytesError {
                return respond(ingest, .error(413, "too-large", "the body is larger than \(maxBody) bytes", result: "too_large"))
            }
            let answer = await ingest.ingest(body: Array(buffer: body), tokenEnvironment: token, receivedAt: received)
            return response(answer)
        }
        addProbes(to: router, readiness: readiness)
        if let metrics { addMetrics(to: router, metrics) }
        return router
    }

    /// The admin listener (`--admin-listen`): `GET /healthz`, `GET /readyz`, `GET /metrics`.
    public static func adminRouter(readiness: Readiness, metrics: MetricsEndpoint) -> Router<BridgeRequestContext> {
        let router = Router(context: BridgeRequestContext.self)
        addProbes(to: router, readiness: readiness)
        addMetrics(to: router, metrics)
        return router
    }

    static func addProbes(to router: Router<BridgeRequestContext>, readiness: Readiness) {
        router.get("/healthz") { _, _ -> Response in
            json(200, #"{"status":"alive"}"#)
        }
        router.get("/readyz") { _, _ -> Response in
            var problems: [String] = []
            var storeState = "none"
            if let store = readiness.store {
                if let depth = try? await store.depth() {
                    storeState = depth.count < store.maxPending ? "accepting" : "full"
                    if depth.count >= store.maxPending { problems.append("the outbox is full") }
                } else {
                    storeState = "unreadable"
                    problems.append("the store cannot be read")
                }
            }
            var kafka = "not checked"
            if let producer = readiness.producer() {
                kafka = producer.fatalError == nil ? "ok" : "fatal"
                if readiness.store == nil {
                    let reachable = await producer.brokersReachable(timeout: .seconds(1))
                    kafka = reachable ? "reachable" : "unreachable"
                    if !reachable { problems.append("Kafka is unreachable and delivery is direct") }
                }
            }
            let status = problems.isEmpty ? "ready" : "not ready"
            let body = #"{"status":"\#(status)","routes_sha256":"\#(readiness.routes.activeSHA256)","store":"\#(storeState)","kafka":"\#(kafka)","problems":[\#(problems.map { "\"\($0)\"" }.joined(separator: ","))]}"#
            return json(problems.isEmpty ? 200 : 503, body)
        }
    }

    static func addMetrics(to router: Router<BridgeRequestContext>, _ metrics: MetricsEndpoint) {
        let expected = metrics.token.map { Array($0.utf8) }
        router.get("/metrics") { request, _ -> Response in
            if let expected {
                let presented = SenderCheck.bearerToken(request.headers[.authorization]).map { Array($0.utf8) }
                guard let presented, SenderCheck.constantTimeEqual(presented, expected) else {
                    var refused = json(401, #"{"error":"unauthorized","message":"/metrics needs Authorization: Bearer with the admin token"}"#)
                    refused.headers[.wwwAuthenticate] = #"Bearer realm="okra-bridge admin""#
                    return refused
                }
            }
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"], body: .init(byteBuffer: ByteBuffer(string: metrics.render())))
        }
    }

    static func respond(_ ingest: Ingest, _ answer: IngestAnswer) -> Response {
        ingest.count(answer)
        return response(answer)
    }

    static func response(_ answer: IngestAnswer) -> Response {
        var response = json(answer.status, answer.body)
        if let retry = answer.retryAfterSeconds { response.headers[.retryAfter] = String(retry) }
        return response
    }

    static func json(_ status: Int, _ body: String) -> Response {
        Response(status: .init(code: status), headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: body)))
    }
}
