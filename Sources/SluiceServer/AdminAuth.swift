import HTTPTypes
import Hummingbird
import SluiceCore

/// What an admin token may do.
public enum AdminRole: String, Sendable, Hashable, CaseIterable {
    /// Read and change everything.
    case admin
    /// Read only.
    case viewer
}

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

/// The caller of an admin route: the token's name, never its value.
public struct AdminIdentity: Sendable, Hashable {
    public var name: String
    public var role: AdminRole
}

/// Requires `Authorization: Bearer <token>` matching a configured admin token; viewers may only
/// use safe methods.
public struct AdminAuthMiddleware: RouterMiddleware {
    public typealias Context = SluiceRequestContext
    let tokens: [AdminToken]

    public init(tokens: [AdminToken]) {
        self.tokens = tokens
    }

    public func handle(
        _ request: Request, context: SluiceRequestContext,
        next: (Request, SluiceRequestContext) async throws -> Response
    ) async throws -> Response {
        guard let header = request.headers[.authorization], header.count > 7, header.prefix(7).lowercased() == "bearer " else {
            throw APIError(.unauthorized, "this route needs an admin API token: send Authorization: Bearer <token>", headers: [.wwwAuthenticate: "Bearer"])
        }
        let presented = header.dropFirst(7)
        // Check every token so timing does not depend on which one matched.
        var match: AdminToken?
        for token in tokens where token.digest.matches(presented) {
            match = token
        }
        guard let match else {
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
