import Foundation
import HTTPTypes
import NIOCore
import NIOHTTPTypes
import OkraEnvelope
import OkraIngest

/// Serves ``WebhookRoute`` on the connection's event loop: the checks before the body, the body
/// read into one buffer, and the answer written as soon as the pipeline gives it. Only the
/// pipeline itself (``Ingest/ingest(_:)``) runs off the loop, as one task a request.
///
/// It sits behind ``RequestPartsWatcher`` and in front of Hummingbird, so the connection's limits
/// and deadlines see its requests and answers as they see Hummingbird's. Every other request
/// goes on to Hummingbird, and so does a webhook that arrives while Hummingbird still owes an
/// earlier answer on this connection: answers leave in the order the requests came.
///
/// While a webhook of its own is in the pipeline, it reads nothing more from the connection and
/// keeps what was already read (a pipelined request) until the answer is written. A graceful
/// shutdown's quiesce waits for that answer too, then closes the connection.
///
/// An answer that ends the connection (the request's `Connection: close`, a shutdown, a refusal)
/// is the last one it serves: what was held or arrives after it is dropped unserved, and the
/// connection guard half closes and lingers, as it does after Hummingbird's answers.
final class WebhookHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private let route: WebhookRoute
    /// No connection guard is in the pipeline (a listener without limits, in tests): the handler
    /// half closes the connection itself after its last answer, as Hummingbird does.
    private let closesItself: Bool
    /// Requests handed to Hummingbird whose answers have not ended.
    private var owedByRouter = 0
    /// Between the head and the end of a request handed to Hummingbird.
    private var forwarding = false
    /// The webhook this handler is serving, if any.
    private var webhook: Webhook?
    /// Parts that arrived while a webhook was in the pipeline, in order.
    private var held = CircularBuffer<HTTPRequestPart>()
    /// A read asked for while a webhook was in the pipeline.
    private var readHeld = false
    /// A graceful shutdown asked for the connection to close once its answer is written.
    private var closeWhenAnswered = false
    /// An answer that ends the connection was written: nothing after it is served.
    private var closed = false
    private var date = HTTPDateCache()

    private enum Webhook {
        /// Its body is arriving.
        case reading(Reading)
        /// Answered before its end (refused, too large): the rest of its body is skipped.
        case skipping
        /// Its body is in the pipeline.
        case answering(closes: Bool)
    }

    private struct Reading {
        var sender: VerifiedSender
        var receivedAt: Date
        var trace: TraceContext?
        /// The request asked for `Connection: close`.
        var closes: Bool
        var share: BodyBudget.Share?
        var body: ByteBuffer
    }

    init(route: WebhookRoute, closesItself: Bool = false) {
        self.route = route
        self.closesItself = closesItself
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if closed { return }
        let part = unwrapInboundIn(data)
        if case .answering = webhook {
            held.append(part)
            return
        }
        handle(part, context: context)
    }

    private func handle(_ part: HTTPRequestPart, context: ChannelHandlerContext) {
        switch part {
        case .head(let head):
            if owedByRouter == 0, webhook == nil, WebhookRoute.serves(head) {
                begin(head, context: context)
            } else {
                owedByRouter += 1
                forwarding = true
                context.fireChannelRead(wrapInboundOut(part))
            }
        case .body(let bytes):
            if forwarding {
                context.fireChannelRead(wrapInboundOut(part))
            } else if case .reading(var reading) = webhook {
                guard reading.body.readableBytes + bytes.readableBytes <= route.maxBody else {
                    webhook = .skipping
                    write(route.ingest.tooLarge(limit: route.maxBody), closes: reading.closes, context: context)
                    return
                }
                webhook = nil  // the buffer stays uniquely referenced while it grows
                var bytes = bytes
                reading.body.writeBuffer(&bytes)
                webhook = .reading(reading)
            }
        case .end:
            if forwarding {
                forwarding = false
                context.fireChannelRead(wrapInboundOut(part))
            } else if case .reading(let reading) = webhook {
                dispatch(reading, context: context)
            } else if case .skipping = webhook {
                webhook = nil
            }
        }
    }

    /// The checks before the body; an answer now, or the body's reading begins.
    private func begin(_ head: HTTPRequest, context: ChannelHandlerContext) {
        let receivedAt = Date()
        let closes = head.headerFields.asksToClose
        switch route.admit(head.headerFields, peer: context.channel.remoteAddress?.ipAddress) {
        case .answer(let answer):
            webhook = .skipping
            write(answer, closes: closes, context: context)
        case .read(let sender, let share):
            let declared = head.headerFields[.contentLength].flatMap { Int($0) } ?? 0
            webhook = .reading(Reading(sender: sender, receivedAt: receivedAt, trace: WebhookRoute.callerTrace(head.headerFields),
                                       closes: closes, share: share,
                                       body: context.channel.allocator.buffer(capacity: min(declared, route.maxBody))))
        }
    }

    /// Hands the whole body to the pipeline; its answer is written on this loop.
    private func dispatch(_ reading: Reading, context: ChannelHandlerContext) {
        webhook = .answering(closes: reading.closes)
        let delivery = VerifiedDelivery(sender: reading.sender, body: Array(buffer: reading.body), receivedAt: reading.receivedAt, trace: reading.trace)
        let ingest = route.ingest
        let share = reading.share
        let loop = context.eventLoop
        let bound = NIOLoopBound((handler: self, context: context), eventLoop: loop)
        Task {
            let answer = await ingest.ingest(delivery)
            share?.release()
            loop.execute { bound.value.handler.answered(answer, context: bound.value.context) }
        }
    }

    private func answered(_ answer: IngestAnswer, context: ChannelHandlerContext) {
        guard case .answering(let closes) = webhook else { return }
        webhook = nil
        guard context.channel.isActive else { return }
        write(answer, closes: closes, context: context)
        // What arrived meanwhile, in order, until another webhook of this handler's is in the
        // pipeline; what went on to Hummingbird is delivered with the read's completion.
        if !held.isEmpty {
            while !held.isEmpty {
                if case .answering = webhook { break }
                handle(held.removeFirst(), context: context)
            }
            context.fireChannelReadComplete()
        }
        if case .answering = webhook { return }
        if readHeld {
            readHeld = false
            context.read()
        }
    }

    /// Writes `answer` whole. When the request or a shutdown asked, or the answer refuses the
    /// request, it says `Connection: close` and is the last: the guard behind this handler sees
    /// that, half closes once it is sent and closes after its linger.
    private func write(_ answer: IngestAnswer, closes: Bool, context: ChannelHandlerContext) {
        let body = answer.bodyText
        var fields = answer.headerFields
        fields[.contentLength] = String(body.utf8.count)
        fields[.date] = date.now()
        if let server = route.serverName { fields[.server] = server }
        if closes || closeWhenAnswered || ConnectionStateMachine.refuses(status: answer.status.code) {
            fields[.connection] = "close"
            closed = true
            held.removeAll()
        }
        context.write(wrapOutboundOut(.head(HTTPResponse(status: answer.status, headerFields: fields))), promise: nil)
        context.write(wrapOutboundOut(.body(context.channel.allocator.buffer(string: body))), promise: nil)
        if closed && closesItself {
            let channel = context.channel
            context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in channel.close(mode: .output, promise: nil) }
        } else {
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) { owedByRouter = max(0, owedByRouter - 1) }
        context.write(data, promise: promise)
    }

    func read(context: ChannelHandlerContext) {
        if case .answering = webhook {
            readHeld = true
        } else {
            context.read()
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        // Hummingbird's state handler behind this one would close a connection it thinks idle,
        // with this handler's answer still to come.
        if event is ChannelShouldQuiesceEvent {
            // After the last answer the connection is already ending (the guard's linger): closing
            // it at once could reset a client still sending, before it reads that answer.
            if closed { return }
            switch webhook {
            case .reading, .answering:
                closeWhenAnswered = true
                return
            case .skipping, nil:
                break
            }
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // The guard cut this handler's request short and answered it itself.
        if error is ConnectionGuard.RequestCutShort, case .reading = webhook {
            webhook = nil
            return
        }
        context.fireErrorCaught(error)
    }
}
