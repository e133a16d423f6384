import HTTPTypes
import Hummingbird
import SluiceCore

/// A named admin API token, held as a digest only.
public struct AdminToken: Sendable, Hashable {
    public var name: String
    public var role: AdminRole
    public var digest: SecretDigest

    public init(name: String, role: AdminRole, digest: SecretDigest) {
        self.name = name
        self.role = role
        self.digest = digest
    }
}

extension [AdminToken] {
    /// The token whose digest matches `presented`. Every token is checked, so timing does not
    /// depend on which one matched.
    func matching(_ presented: some StringProtocol) -> AdminToken? {
        guard !presented.isEmpty else { return nil }
        var match: AdminToken?
        for token in self where token.digest.matches(presented) {
            match = token
        }
        return match
    }
}

/// The caller of an admin route: the token's name, never its value.
public struct AdminIdentity: Sendable, Hashable {
    public var name: String
    public var role: AdminRole
}

/// Requires `Authorization: Bearer <token>` matching an admin token accepted now (configured or
/// issued, not revoked); viewers may only use safe methods.
public struct AdminAuthMiddleware: RouterMiddleware {
    public typealias Context = SluiceRequestContext
    let credentials: CredentialRegistry
    let now: @Sendable () -> Timestamp

    public init(credentials: CredentialRegistry, now: @escaping @Sendable () -> Timestamp) {
        self.credentials = credentials
        self.now = now
    }

    public func handle(
        _ request: Request, context: SluiceRequestContext,
        next: (Request, SluiceRequestContext) async throws -> Response
    ) async throws -> Response {
        guard let header = request.headers[.authorization], header.count > 7, header.prefix(7).lowercased() == "bearer " else {
            throw APIError(.unauthorized, "this route needs an admin API token: send Authorization: Bearer <token>", headers: [.wwwAuthenticate: "Bearer"])
        }
        guard let match = credentials.adminTokens(at: now()).matching(header.dropFirst(7)) else {
            throw APIError(.unauthorized, "the admin API token is not valid", headers: [.wwwAuthenticate: "Bearer"])
        }
        if match.role == .viewer, ![.get, .head].contains(request.method) {
            throw APIError(.forbidden, "token \"\(match.name)\" has the viewer role and cannot change anything")
        }
        var context = context
        context.admin = AdminIdentity(name: match.name, role: match.role)
        return try await next(request, context)
    }
}
