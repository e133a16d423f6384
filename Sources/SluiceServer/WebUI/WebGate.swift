import Hummingbird
import SluiceCore

/// Who is signed in to the web UI, and whether a form may change something: a live session whose
/// token is still accepted, the session's CSRF token in the form, and the admin role.
struct WebGate: Sendable {
    let sessions: WebSessions
    let credentials: CredentialRegistry
    let now: @Sendable () -> Timestamp

    static let sessionCookie = "sluice_session"

    /// The live session of this request; a session whose token was revoked since is ended.
    func signedIn(_ request: Request) async -> (id: String, session: WebSessions.Session)? {
        guard let id = request.cookies[Self.sessionCookie]?.value, !id.isEmpty, var session = await sessions.session(id) else { return nil }
        guard let token = credentials.adminTokens(at: now()).first(where: { $0.digest == session.digest }) else {
            await sessions.end(id)
            return nil
        }
        session.role = token.role
        return (id, session)
    }

    /// The outcome of checking a form that changes something.
    enum FormCheck {
        case allowed(WebSessions.Session, [String: String])
        /// Not signed in: send the browser to the sign-in page.
        case signIn
        /// The page to answer with (403): no CSRF token, or a viewer.
        case refused(Response)
    }

    func adminForm(_ request: Request) async -> FormCheck {
        guard let (_, session) = await signedIn(request) else { return .signIn }
        let body = try? await request.body.collect(upTo: 64 << 10)
        let fields = body.flatMap { try? URLEncodedFormDecoder().decode([String: String].self, from: String(buffer: $0)) } ?? [:]
        guard let sent = fields["csrf"], constantTimeEquals(Array(sent.utf8), Array(session.csrf.utf8)) else {
            return .refused(WebPages.problem(
                "Not done", "The form did not carry this session's CSRF token; reload the page and try again.", session: session, status: .forbidden
            ))
        }
        guard session.role == .admin else {
            return .refused(WebPages.problem(
                "Not allowed", "\(session.name) signed in with a viewer token; only admins can change things.", session: session, status: .forbidden
            ))
        }
        return .allowed(session, fields)
    }
}
