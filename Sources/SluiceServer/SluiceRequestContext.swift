import Hummingbird
import NIOCore

/// Per-request context: the peer address (for logs) and, on admin routes, who is calling.
public struct SluiceRequestContext: RequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let remoteAddress: SocketAddress?
    /// Set by ``AdminAuthMiddleware`` once a bearer token matched.
    public var admin: AdminIdentity?

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.remoteAddress = source.channel.remoteAddress
        self.admin = nil
    }
}
