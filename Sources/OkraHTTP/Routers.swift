import Foundation
import Hummingbird
import NIOCore
import OkraEnvelope
import OkraIngest
import OkraOperations

/// The routes of both listeners (the contract's §3). They map HTTP to the pipeline and its
/// answers back to HTTP; everything else is the pipeline's.
public enum Routers {
    /// Where `/metrics` is served, and who may read it.
    public struct MetricsEndpoint: Sendable {
        /// The Prometheus text.
        public var render: @Sendable () -> String
        /// When set, `/metrics` answers 401 unless the request carries one of these admin tokens,
        /// and 403 unless that token has the `metrics` scope (or `operate`).
        public var tokens: (any AdminTokenSource)?

        /// `/metrics` rendering with `render`, behind `tokens` when given.
        public init(render: @escaping @Sendable () -> String, tokens: (any AdminTokenSource)?) {
            self.render = render
            self.tokens = tokens
        }
    }

    /// The ingest listener: `POST /webhooks/okra`, `GET /healthz`, `GET /readyz`, and
    /// `GET /metrics` when `metrics` is given (no admin listener). With an admin listener, this
    /// public `/readyz` gives Kafka's state and kind but not librdkafka's reason, which names
    /// brokers and certificates: the admin listener's does.
    ///
    /// The webhook is served on the event loop by ``WebhookHandler`` (installed by
    /// `HTTPServerBuilder.http1(gate:webhook:)`); this router's route answers only a webhook
    /// pipelined behind another request on the same connection.
    public static func ingest(_ webhook: WebhookRoute, metrics: MetricsEndpoint?) -> Router<BridgeRequestContext> {
        let ingest = webhook.ingest
        let router = Router(context: BridgeRequestContext.self)
        var allowed = probePaths
        allowed[WebhookRoute.path] = "POST"
        if metrics != nil { allowed["/metrics"] = "GET, HEAD" }
        router.middlewares.add(JSONErrorMiddleware(allowed: allowed, count: { ingest.count($0, on: .ingest) }))
        router.post(RouterPath(stringLiteral: WebhookRoute.path)) { request, context -> Response in
            let received = Date()
            let sender: VerifiedSender
            let share: BodyBudget.Share?
            switch webhook.admit(request.headers, peer: context.remoteAddress?.ipAddress) {
            case .answer(let answer): return answer.response
            case .read(let verified, let taken): (sender, share) = (verified, taken)
            }
            defer { share?.release() }
            var request = request
            let body: ByteBuffer
            do {
                body = try await request.collectBody(upTo: webhook.maxBody)
            } catch is NIOTooManyBytesError {
                return ingest.tooLarge(limit: webhook.maxBody).response
            }
            let delivery = VerifiedDelivery(sender: sender, body: Array(buffer: body), receivedAt: received,
                                            trace: WebhookRoute.callerTrace(request.headers))
            return await ingest.ingest(delivery).response
        }
        addProbes(to: router, ingest: ingest, showsKafkaReason: metrics != nil)
        if let metrics { addMetrics(to: router, metrics) }
        return router
    }

    /// The operations API's place on the admin listener (§9).
    public enum OperationsAPI: Sendable {
        /// Served, behind the admin tokens, each route behind its scope.
        case served(any Operations, tokens: any AdminTokenSource)
        /// Off: no admin token was given.
        case noAdminToken
        /// Off: direct delivery keeps no event log (`GET /admin/token` still answers when there
        /// are tokens).
        case directMode(tokens: (any AdminTokenSource)?)
        /// Durable mode with the event log off (`--retain 0`): the event log's routes (list,
        /// export, show, replay) answer 404 saying so; the store's others (token, status, parked
        /// records, audit trail, erasure) are served as with the log on.
        case noEventLog(any Operations, tokens: any AdminTokenSource)
    }

    /// The admin listener (`--admin-listen`): `GET /healthz`, `GET /readyz`, `GET /metrics`,
    /// the operations API under `/admin/`, and the operator console at `/console`. Every answer
    /// carries the console's security headers (``AdminHeadersMiddleware``).
    public static func admin(_ ingest: Ingest, metrics: MetricsEndpoint, operations: OperationsAPI = .noAdminToken) -> Router<BridgeRequestContext> {
        let router = Router(context: BridgeRequestContext.self)
        var allowed = probePaths
        allowed["/metrics"] = "GET, HEAD"
        allowed.merge(OperationsRoutes.paths) { $1 }
        allowed.merge(ConsoleRoutes.paths) { $1 }
        // Outermost, so the errors' answers carry the headers too.
        router.middlewares.add(AdminHeadersMiddleware())
        router.middlewares.add(JSONErrorMiddleware(allowed: allowed, count: { ingest.count($0, on: .admin) }))
        addProbes(to: router, ingest: ingest)
        addMetrics(to: router, metrics)
        OperationsRoutes.add(to: router, operations, ingest: ingest)
        ConsoleRoutes.add(to: router)
        return router
    }

    static let probePaths = ["/healthz": "GET, HEAD", "/readyz": "GET, HEAD"]

    static func addProbes(to router: Router<BridgeRequestContext>, ingest: Ingest, showsKafkaReason: Bool = true) {
        let alive: @Sendable (Request, BridgeRequestContext) async throws -> Response = { _, _ in
            JSONResponse.make(.ok, #"{"status":"alive"}"#)
        }
        let ready: @Sendable (Request, BridgeRequestContext) async throws -> Response = { _, _ in
            let readiness = await ingest.readiness()
            return JSONResponse.make(readiness.isReady ? .ok : .serviceUnavailable, readiness.json(showingKafkaReason: showsKafkaReason))
        }
        // HEAD too, for load balancers that probe with it (Hummingbird sends no body for HEAD).
        router.get("/healthz", use: alive)
        router.head("/healthz", use: alive)
        router.get("/readyz", use: ready)
        router.head("/readyz", use: ready)
    }

    static func addMetrics(to router: Router<BridgeRequestContext>, _ metrics: MetricsEndpoint) {
        router.get("/metrics") { request, _ -> Response in
            if let tokens = metrics.tokens {
                switch AdminAccess.check(request, tokens: tokens.adminTokens, needs: .metrics, what: "/metrics") {
                case .refused(let response): return response
                case .allowed: break
                }
            }
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"], body: .init(byteBuffer: ByteBuffer(string: metrics.render())))
        }
    }
}

extension Readiness {
    /// The `/readyz` body, with or without librdkafka's words for a failing Kafka.
    func json(showingKafkaReason: Bool) -> String {
        let problems = sink.problems.map(JSONResponse.quoted).joined(separator: ",")
        let parked = sink.parked.map { #","parked":\#($0)"# } ?? ""
        var kafka = #"{"state":"\#(sink.kafka.state.rawValue)""#
        if let kind = sink.kafka.kind { kafka += #","kind":\#(JSONResponse.quoted(kind))"# }
        if let reason = sink.kafka.reason, showingKafkaReason { kafka += #","reason":\#(JSONResponse.quoted(reason))"# }
        kafka += "}"
        return #"{"status":"\#(isReady ? "ready" : "not ready")","routes_sha256":"\#(routesSHA256)","store":"\#(sink.store.rawValue)","kafka":\#(kafka)\#(parked),"problems":[\#(problems)]}"#
    }
}
