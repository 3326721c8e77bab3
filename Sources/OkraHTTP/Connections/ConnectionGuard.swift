import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import OkraIngest

/// HTTP/1.1 as Hummingbird serves it, with each connection held to its listener's
/// ``ConnectionLimits``: a ``ConnectionGuard`` in front of HTTP's decoder (it sees every byte
/// and writes the guard's own refusals) and a ``RequestPartsWatcher`` behind it (it sees
/// requests and answers begin and end). With a ``WebhookRoute``, a ``WebhookHandler`` behind the
/// watcher serves the webhooks on the event loop.
struct GuardedHTTP1Channel: ServerChildChannel, HTTPChannelHandler {
    typealias Value = HTTP1Channel.Value

    let responder: HTTPChannelHandler.Responder
    let gate: ConnectionGate?
    let webhook: WebhookRoute?

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        var handlers: [any RemovableChannelHandler] = []
        if let gate {
            let connection = ConnectionGuard(gate: gate)
            do {
                try channel.pipeline.syncOperations.addHandler(connection, position: .first)
            } catch {
                return channel.eventLoop.makeFailedFuture(error)
            }
            handlers.append(RequestPartsWatcher(connection: connection))
        }
        // Without the guard nothing else ends a connection after its last answer.
        if let webhook { handlers.append(WebhookHandler(route: webhook, closesItself: gate == nil)) }
        let bound = NIOLoopBound(handlers, eventLoop: channel.eventLoop)
        // Hummingbird's own idle timeout stays off: the guard's deadlines replace it.
        let http = HTTP1Channel(responder: responder, configuration: .init(additionalChannelHandlers: bound.value))
        return http.setup(channel: channel, logger: logger)
    }

    func handle(value: Value, logger: Logger) async {
        await handleHTTP(asyncChannel: value, logger: logger)
    }
}

extension HTTPServerBuilder {
    /// HTTP/1.1 with the connection limits of `gate` (§3), when given, and `webhook` served on
    /// the event loop, when given.
    public static func http1(gate: ConnectionGate?, webhook: WebhookRoute? = nil) -> HTTPServerBuilder {
        .init { responder in GuardedHTTP1Channel(responder: responder, gate: gate, webhook: webhook) }
    }
}

/// The first handler of a connection: counts it against the listener's limit, runs its
/// deadlines, discards what arrives after a refusal, and writes the refusals that come from
/// below HTTP (408, 400, 503 over capacity) as whole HTTP/1.1 answers.
final class ConnectionGuard: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let gate: ConnectionGate
    private var machine: ConnectionStateMachine
    private var context: ChannelHandlerContext?
    /// The deadline armed: what fires, and when (nil: none).
    private var armed: (kind: ConnectionStateMachine.Timer, deadline: NIODeadline)?
    /// The task scheduled on the loop: it runs at or before the armed deadline and looks at the
    /// deadline then, so a request that moves the deadline later (each request arms two or
    /// three) schedules nothing; only a deadline earlier than the task's schedules anew.
    private var wakeUp: (task: Scheduled<Void>, at: NIODeadline)?
    /// Tells the task scheduled last from one that was replaced before it could be cancelled.
    private var wakeUpGeneration = 0
    private var started = false
    private var holdsPlace = false
    /// The remote address, as the gate counts it.
    private var address: String?

    init(gate: ConnectionGate) {
        self.gate = gate
        self.machine = ConnectionStateMachine(limits: gate.limits)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if context.channel.isActive { start() }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        finish()
        self.context = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        start()
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        finish()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let (pass, action) = machine.bytesArrived()
        perform(action)
        if pass { context.fireChannelRead(data) }
    }

    private func start() {
        guard !started else { return }
        started = true
        address = context?.channel.remoteAddress?.ipAddress
        let admission = gate.enter(address: address)
        holdsPlace = admission == .admitted
        switch admission {
        case .admitted: perform(machine.opened())
        case .overCapacity: perform(machine.refusedOnOpen(.overCapacity))
        case .overAddressCapacity: perform(machine.refusedOnOpen(.overAddressCapacity))
        case .refused:
            gate.counted(.addressRefused)
            perform(machine.closedOnOpen())
        }
    }

    private func finish() {
        machine.channelClosed()
        cancelWakeUp()
        if holdsPlace {
            holdsPlace = false
            gate.leave(address: address)
        }
    }

    // Events from the watcher behind HTTP's decoder.

    func headArrived() { perform(machine.headArrived()) }
    func endArrived() { perform(machine.endArrived()) }
    func answerStarted(status: Int, closes: Bool) -> Bool { machine.answerStarted(status: status, closes: closes) }
    /// What to do once the answer's end is written; `.linger` asks for it to be flushed first.
    func answerEnded() -> ConnectionStateMachine.Action { machine.answerEnded() }
    func malformed() { perform(machine.malformed()) }

    func perform(_ action: ConnectionStateMachine.Action) {
        guard let context else { return }
        switch action {
        case .none:
            break
        case .arm(let kind, let after):
            arm(kind, after: after, context: context)
        case .disarm:
            armed = nil
        case .refuseAndLinger(let refusal, let failRequest):
            gate.counted(refusal.counted)
            context.writeAndFlush(wrapOutboundOut(refusal.answer(allocator: context.channel.allocator)), promise: nil)
            linger(context: context)
            // The handler reading the body sees it fail rather than end.
            if failRequest { context.fireErrorCaught(RequestCutShort(refusal: refusal)) }
        case .linger:
            linger(context: context)
        case .close:
            cancelWakeUp()
            context.close(promise: nil)
        }
    }

    /// Fails the request whose body was being read when the connection was refused.
    struct RequestCutShort: Error, CustomStringConvertible {
        let refusal: ConnectionStateMachine.Refusal
        var description: String { "the request's body was cut short: \(refusal)" }
    }

    /// Half closes once what was written is sent, and closes for good after the linger.
    private func linger(context: ChannelHandlerContext) {
        context.close(mode: .output, promise: nil)
        arm(.linger, after: gate.limits.lingerAfterRefusal, context: context)
    }

    private func arm(_ kind: ConnectionStateMachine.Timer, after: Duration, context: ChannelHandlerContext) {
        let deadline = context.eventLoop.now + TimeAmount(after)
        armed = (kind, deadline)
        // A task that runs first looks again then.
        if let wakeUp, wakeUp.at <= deadline { return }
        schedule(at: deadline, context: context)
    }

    private func schedule(at deadline: NIODeadline, context: ChannelHandlerContext) {
        wakeUp?.task.cancel()
        wakeUpGeneration += 1
        let generation = wakeUpGeneration
        let task = context.eventLoop.assumeIsolated().scheduleTask(deadline: deadline) { [self] in
            guard generation == self.wakeUpGeneration else { return }
            self.wakeUp = nil
            self.wokeUp()
        }
        wakeUp = (task, deadline)
    }

    /// Fires the armed deadline if it has passed; else schedules for it.
    private func wokeUp() {
        guard let armed, let context else { return }
        guard armed.deadline <= context.eventLoop.now else { return schedule(at: armed.deadline, context: context) }
        self.armed = nil
        perform(machine.fired(armed.kind))
    }

    private func cancelWakeUp() {
        armed = nil
        wakeUp?.task.cancel()
        wakeUp = nil
        wakeUpGeneration += 1
    }
}

/// Behind HTTP's decoder: tells the guard when requests and answers begin and end, marks the
/// answers that end the connection with `Connection: close`, and turns a decoder failure into
/// the guard's 400.
final class RequestPartsWatcher: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private let connection: ConnectionGuard

    init(connection: ConnectionGuard) {
        self.connection = connection
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head: connection.headArrived()
        case .body: break
        case .end: connection.endArrived()
        }
        context.fireChannelRead(data)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if error is HTTPParserError {
            // Answered by the guard (Hummingbird's own 400 has no JSON body); a body being read
            // fails through the guard's own error.
            connection.malformed()
            return
        }
        context.fireErrorCaught(error)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head(var head):
            if connection.answerStarted(status: head.status.code, closes: head.headerFields.asksToClose) {
                head.headerFields[.connection] = "close"
                context.write(wrapOutboundOut(.head(head)), promise: promise)
            } else {
                context.write(data, promise: promise)
            }
        case .body:
            context.write(data, promise: promise)
        case .end:
            let action = connection.answerEnded()
            if case .linger = action {
                context.writeAndFlush(data, promise: promise)
            } else {
                context.write(data, promise: promise)
            }
            connection.perform(action)
        }
    }
}

extension ConnectionStateMachine.Refusal {
    var counted: ListenerRefusal {
        switch self {
        case .timeout: .timeout
        case .badRequest: .badRequest
        case .overCapacity: .overCapacity
        case .overAddressCapacity: .overAddressCapacity
        }
    }

    /// The whole answer, status line to JSON body, closing the connection.
    func answer(allocator: ByteBufferAllocator) -> ByteBuffer {
        let (status, extra, body): (String, String, String) = switch self {
        case .timeout:
            ("408 Request Timeout", "",
             #"{"error":{"code":"request-timeout","message":"the request did not arrive within the listener's header or body deadline"}}"#)
        case .badRequest:
            ("400 Bad Request", "", #"{"error":{"code":"bad-request","message":"the request is not valid HTTP/1.1"}}"#)
        case .overCapacity:
            ("503 Service Unavailable", "Retry-After: 1\r\n",
             #"{"error":{"code":"too-many-connections","message":"the listener has as many connections open as it takes; retry"}}"#)
        case .overAddressCapacity:
            ("503 Service Unavailable", "Retry-After: 1\r\n",
             #"{"error":{"code":"too-many-connections","message":"this address has as many connections open as the listener takes from one address; retry"}}"#)
        }
        return allocator.buffer(string: "HTTP/1.1 \(status)\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\(extra)Connection: close\r\n\r\n\(body)")
    }
}

extension HTTPFields {
    /// Whether a `Connection` field lists the `close` option (the field is a comma-separated
    /// list of case-insensitive tokens, and may be sent more than once).
    var asksToClose: Bool {
        self[values: .connection].contains { value in
            value.split(separator: ",").contains { $0.filter { !$0.isWhitespace }.lowercased() == "close" }
        }
    }
}
