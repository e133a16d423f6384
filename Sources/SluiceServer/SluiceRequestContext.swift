import Hummingbird
import NIOCore
import SluiceCore

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

extension SluiceRequestContext {
    /// The admin behind this request for the audit log: the token's name, the client's IP and user agent.
    func requester(_ request: Request) -> AuditRequester {
        AuditRequester(
            actor: AdminAuditEntry.user(admin?.name ?? "unknown"),
            context: AuditContext(location: remoteAddress?.ipAddress, userAgent: request.headers[.userAgent])
        )
    }
}
