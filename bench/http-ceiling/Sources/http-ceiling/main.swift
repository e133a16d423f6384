import Hummingbird
import NIOCore
import NIOHTTP1
import NIOPosix

// usage: http-ceiling hummingbird|nio PORT
// POST /ingest reads the whole body and answers 200 with Sluice's acknowledgement shape;
// nothing is parsed or stored. Listens on 127.0.0.1 until killed.
let arguments = CommandLine.arguments
guard arguments.count == 3, let port = Int(arguments[2]), ["hummingbird", "nio"].contains(arguments[1]) else {
    print("usage: http-ceiling hummingbird|nio PORT")
    exit(2)
}
let acknowledgement = #"{"accepted":1,"duplicates":0}"#

if arguments[1] == "hummingbird" {
    let router = Router()
    router.post("/ingest") { request, _ -> Response in
        _ = try await request.body.collect(upTo: 4 << 20)
        return Response(
            status: .ok,
            headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(string: acknowledgement))
        )
    }
    let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)))
    try await app.runService()
} else {
    /// Answers each complete request from the event loop, with no task hop.
    final class AcknowledgingHandler: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart
        private var keepAlive = true

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let head):
                keepAlive = head.isKeepAlive
            case .body:
                break
            case .end:
                var headers = HTTPHeaders()
                headers.add(name: "Content-Type", value: "application/json")
                headers.add(name: "Content-Length", value: String(acknowledgement.utf8.count))
                context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers))), promise: nil)
                context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: acknowledgement)))), promise: nil)
                let keepAlive = self.keepAlive
                context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { [context] _ in
                    if !keepAlive { context.close(promise: nil) }
                }
            }
        }
    }
    let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
        .serverChannelOption(.backlog, value: 1024)
        .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
        .childChannelInitializer { channel in
            channel.pipeline.configureHTTPServerPipeline().flatMap {
                channel.pipeline.addHandler(AcknowledgingHandler())
            }
        }
        .bind(host: "127.0.0.1", port: port).get()
    try await channel.closeFuture.get()
}
