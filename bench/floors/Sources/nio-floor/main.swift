#if canImport(Glibc)
import Glibc
#endif
import NIOCore
import NIOHTTP1
import NIOPosix

// `nio-floor PORT` with FLOOR_TOKEN in the environment: every request is answered once its body
// has arrived, 200 when `Okra-Auth` is the token and 401 otherwise. Nothing else is done.

final class Answer: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let token: String
    private var authorized = false

    init(token: String) { self.token = token }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            authorized = head.headers.first(name: "Okra-Auth") == token
        case .body:
            break
        case .end:
            let body = authorized ? #"{"status":"accepted"}"# : #"{"error":"unauthorized"}"#
            var headers = HTTPHeaders()
            headers.add(name: "Content-Type", value: "application/json")
            headers.add(name: "Content-Length", value: String(body.utf8.count))
            let head = HTTPResponseHead(version: .http1_1, status: authorized ? .ok : .unauthorized, headers: headers)
            context.write(wrapOutboundOut(.head(head)), promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: body)))), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }
    }
}

guard CommandLine.arguments.count == 2, let port = Int(CommandLine.arguments[1]),
      let raw = getenv("FLOOR_TOKEN"), case let token = String(cString: raw), !token.isEmpty else {
    fatalError("usage: FLOOR_TOKEN=... nio-floor PORT")
}
let group = MultiThreadedEventLoopGroup(numberOfThreads: System.coreCount)
let server = try ServerBootstrap(group: group)
    .serverChannelOption(ChannelOptions.backlog, value: 256)
    .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
    .childChannelInitializer { channel in
        channel.pipeline.configureHTTPServerPipeline().flatMap {
            channel.pipeline.addHandler(Answer(token: token))
        }
    }
    .bind(host: "127.0.0.1", port: port).wait()
try server.closeFuture.wait()
