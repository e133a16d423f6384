import Foundation
import HTTPTypes
import Hummingbird
import Metrics
import NIOCore
import SluiceCore

/// The web UI at `/ui`: sign-in with an admin or viewer token (a session cookie, CSRF tokens on
/// every form), the audit log with filters, cursor paging and exports of exactly the current
/// filter, and each entry with its raw JSON.
struct WebUIController: Sendable {
    let store: any EventStore
    let credentials: CredentialRegistry
    let sessions: WebSessions
    let now: @Sendable () -> Timestamp
    let failures = AuthFailureSummaries(action: "ui.sign_in_failed", targetType: nil)

    static let sessionCookie = "sluice_session"
    static let signInCookie = "sluice_signin"

    func addRoutes(to router: Router<SluiceRequestContext>) {
        router.get("/") { _, _ in Self.redirect("/ui/events") }
        router.get("ui") { _, _ in Self.redirect("/ui/events") }
        router.get("ui/assets/sluice.css") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "text/css; charset=utf-8", .cacheControl: "max-age=3600"],
                body: .init(byteBuffer: ByteBuffer(string: WebTemplates.stylesheet))
            )
        }
        router.get("ui/sign-in", use: signInPage)
        router.post("ui/sign-in", use: signIn)
        router.post("ui/sign-out", use: signOut)
        router.get("ui/events", use: events)
        router.get("ui/events/export", use: export)
        router.get("ui/events/{id}", use: event)
    }

    // MARK: Sign-in

    struct SignInForm: Decodable {
        var token: String?
        var csrf: String?
    }

    struct CSRFForm: Decodable {
        var csrf: String?
    }

    @Sendable func signInPage(request: Request, context: SluiceRequestContext) async throws -> Response {
        if await signedIn(request) != nil { return Self.redirect("/ui/events") }
        return signInForm(request: request, error: nil, status: .ok)
    }

    /// The form with a fresh CSRF token, also set as a cookie the POST must echo (there is no
    /// session yet to hold it).
    func signInForm(request: Request, error: String?, status: HTTPResponse.Status) -> Response {
        let csrf = SecretGenerator.make(prefix: "")
        var response = Self.page("sign-in", ["title": "Sign in", "csrf": csrf, "error": error as Any], status: status)
        response.setCookie(Cookie(name: Self.signInCookie, value: csrf, maxAge: 3600, path: "/ui", secure: Self.isTLS(request), httpOnly: true, sameSite: .strict))
        return response
    }

    @Sendable func signIn(request: Request, context: SluiceRequestContext) async throws -> Response {
        let form: SignInForm
        do {
            form = try await URLEncodedFormDecoder().decode(SignInForm.self, from: String(buffer: request.body.collect(upTo: 16 << 10)))
        } catch {
            return signInForm(request: request, error: "The sign-in form could not be read; send it again.", status: .badRequest)
        }
        guard let sent = form.csrf, let expected = request.cookies[Self.signInCookie]?.value,
              constantTimeEquals(Array(sent.utf8), Array(expected.utf8))
        else {
            Counter(label: "sluice_ui_sign_in_failures_total", dimensions: [("reason", "csrf")]).increment()
            return signInForm(
                request: request, error: "This sign-in form expired or did not come from this page (CSRF check failed); sign in again.",
                status: .forbidden
            )
        }
        guard let match = credentials.adminTokens(at: now()).matching(form.token ?? "") else {
            Counter(label: "sluice_ui_sign_in_failures_total", dimensions: [("reason", "token")]).increment()
            let time = now()
            if let summary = failures.note(scope: "ui", ip: context.remoteAddress?.ipAddress, reason: "token", userAgent: request.headers[.userAgent], at: time) {
                // Best effort, like a push's: the person gets the same answer either way.
                try? await store.record(summary)
            }
            return signInForm(request: request, error: "That token is not valid.", status: .unauthorized)
        }
        let requester = Self.requester(name: match.name, request: request, context: context)
        try await storeCall { try await store.record(requester.entry("ui.signed_in", targets: [], metadata: [JSONMember("role", .string(match.role.rawValue))], at: now())) }
        let (id, _) = await sessions.start(name: match.name, role: match.role, digest: match.digest)
        var response = Self.redirect("/ui/events")
        response.setCookie(Cookie(name: Self.sessionCookie, value: id, path: "/", secure: Self.isTLS(request), httpOnly: true, sameSite: .strict))
        response.setCookie(Cookie(name: Self.signInCookie, value: "", maxAge: 0, path: "/ui", secure: Self.isTLS(request), httpOnly: true, sameSite: .strict))
        return response
    }

    @Sendable func signOut(request: Request, context: SluiceRequestContext) async throws -> Response {
        guard let (id, session) = await signedIn(request) else { return Self.redirect("/ui/sign-in") }
        let form = try? await URLEncodedFormDecoder().decode(CSRFForm.self, from: String(buffer: request.body.collect(upTo: 16 << 10)))
        guard let sent = form?.csrf, constantTimeEquals(Array(sent.utf8), Array(session.csrf.utf8)) else {
            return Self.page("problem", [
                "title": "Not signed out", "message": "The form did not carry this session's CSRF token; reload the page and try again.",
                "user": Self.user(session), "csrf": session.csrf,
            ], status: .forbidden)
        }
        await sessions.end(id)
        let requester = Self.requester(name: session.name, request: request, context: context)
        try await storeCall { try await store.record(requester.entry("ui.signed_out", targets: [], at: now())) }
        var response = Self.redirect("/ui/sign-in")
        response.setCookie(Cookie(name: Self.sessionCookie, value: "", maxAge: 0, path: "/", secure: Self.isTLS(request), httpOnly: true, sameSite: .strict))
        return response
    }

    /// The live session of this request; a session whose token was revoked since is ended.
    func signedIn(_ request: Request) async -> (String, WebSessions.Session)? {
        guard let id = request.cookies[Self.sessionCookie]?.value, !id.isEmpty, var session = await sessions.session(id) else { return nil }
        guard let token = credentials.adminTokens(at: now()).first(where: { $0.digest == session.digest }) else {
            await sessions.end(id)
            return nil
        }
        session.role = token.role
        return (id, session)
    }

    // MARK: Audit log

    static let filterFields: [(name: String, label: String, hint: String)] = [
        ("target", "Target", "id or name"), ("action", "Event type", "user.created or user.*"), ("actor", "Actor", "id or name"),
        ("actor_type", "Actor type", "user, api_key, …"), ("feed", "Feed or collector", "incident-io"), ("log_type", "Log type", "INCIDENT_IO"),
        ("since", "From (UTC)", "2026-11-01 or RFC 3339"), ("until", "Until (UTC)", "2026-11-30"), ("q", "Text", "anything"),
    ]

    @Sendable func events(request: Request, context: SluiceRequestContext) async throws -> Response {
        guard let (_, session) = await signedIn(request) else { return Self.redirect("/ui/sign-in") }
        let query = request.uri.queryParameters
        let chosen = Self.filterFields.compactMap { field in query[Substring(field.name)].map { (field.name, String($0)) } }.filter { !$0.1.isEmpty }
        var values: [String: Any] = [
            "title": "Audit log", "user": Self.user(session), "csrf": session.csrf, "onEvents": true,
            "filters": Self.filterFields.map { field in
                ["name": field.name, "label": field.label, "hint": field.hint, "value": chosen.first { $0.0 == field.name }?.1 ?? ""]
            },
            "exportCSV": Self.link("/ui/events/export", chosen + [("format", "csv")]),
            "exportNDJSON": Self.link("/ui/events/export", chosen + [("format", "ndjson")]),
        ]
        let filter: EventFilter
        do {
            filter = try EventFilterParser.parse(Self.parameters(chosen))
        } catch {
            values["error"] = error.message
            return Self.page("events", values, status: .badRequest)
        }
        var cursor: EventCursor?
        if let token = query["cursor"] {
            guard let parsed = EventCursor(token: String(token)) else {
                values["error"] = "The page link is not one this server made; start again from the newest events."
                return Self.page("events", values, status: .badRequest)
            }
            cursor = parsed
            values["first"] = Self.link("/ui/events", chosen)
        }
        let page = try await storeCall { try await store.events(matching: filter, after: cursor, limit: 50) }
        values["events"] = page.events.map { event -> [String: Any] in
            let n = event.normalized
            return [
                "id": event.id.description, "time": n.occurredAt.rfc3339, "action": n.action,
                "actor": n.actor.map { $0.name ?? $0.id } ?? "", "actorType": n.actor?.type as Any,
                "targets": n.targets.map { "\($0.type): \($0.name ?? $0.id)" }.joined(separator: ", "),
                "feed": event.source, "logType": event.logType,
            ]
        }
        if let next = page.nextCursor { values["older"] = Self.link("/ui/events", chosen + [("cursor", next.token)]) }
        return Self.page("events", values, status: .ok)
    }

    @Sendable func export(request: Request, context: SluiceRequestContext) async throws -> Response {
        guard await signedIn(request) != nil else { return Self.redirect("/ui/sign-in") }
        let query = request.uri.queryParameters
        let chosen = Self.filterFields.compactMap { field in query[Substring(field.name)].map { (field.name, String($0)) } }.filter { !$0.1.isEmpty }
        let filter = try EventFilterParser.parse(Self.parameters(chosen))
        return try await EventsController.exportResponse(
            store: store, filter: filter, format: query["format"].map(String.init) ?? "csv", filename: "sluice-audit-log", logger: context.logger
        )
    }

    @Sendable func event(request: Request, context: SluiceRequestContext) async throws -> Response {
        guard let (_, session) = await signedIn(request) else { return Self.redirect("/ui/sign-in") }
        let text = context.parameters.get("id") ?? ""
        var values: [String: Any] = ["user": Self.user(session), "csrf": session.csrf, "onEvents": true]
        guard let id = EventID(text), let event = try await storeCall({ try await store.event(id: id) }) else {
            values["title"] = "No such entry"
            values["message"] = "There is no audit-log entry with the id \(text)."
            return Self.page("problem", values, status: .notFound)
        }
        let n = event.normalized
        values["title"] = n.action
        values["action"] = n.action
        var fields: [(String, String)] = [
            ("Occurred (UTC)", n.occurredAt.rfc3339), ("Received (UTC)", event.receivedAt.rfc3339), ("Feed or collector", event.source),
            ("Log type", event.logType), ("Actor type", n.actor?.type ?? ""), ("Actor id", n.actor?.id ?? ""), ("Actor name", n.actor?.name ?? ""),
            ("Location", n.context.location ?? ""), ("User agent", n.context.userAgent ?? ""), ("Schema version", n.schemaVersion.map(String.init) ?? ""),
            ("Event id", event.id.description), ("Sequence", String(event.seq)),
        ]
        fields.removeAll { $0.1.isEmpty }
        values["fields"] = fields.map { ["label": $0.0, "value": $0.1] }
        values["targets"] = n.targets.map { ["type": $0.type, "id": $0.id, "name": $0.name ?? ""] }
        values["raw"] = (try? JSONParser.parse(event.raw)).map { $0.prettyPrinted() } ?? String(decoding: event.raw, as: UTF8.self)
        return Self.page("event", values, status: .ok)
    }

    // MARK: Helpers

    static func page(_ template: String, _ values: [String: Any], status: HTTPResponse.Status) -> Response {
        Response(
            status: status,
            headers: [
                .contentType: "text/html; charset=utf-8", .cacheControl: "no-store",
                .contentSecurityPolicy: "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
                HTTPField.Name("X-Content-Type-Options")!: "nosniff", HTTPField.Name("Referrer-Policy")!: "no-referrer",
            ],
            body: .init(byteBuffer: ByteBuffer(string: WebTemplates.render(template, values)))
        )
    }

    static func redirect(_ location: String) -> Response {
        Response(status: .seeOther, headers: [.location: location, .cacheControl: "no-store"])
    }

    static func user(_ session: WebSessions.Session) -> [String: Any] {
        ["name": session.name, "role": session.role.rawValue]
    }

    /// Whether the browser reached Sluice over TLS (directly or through a proxy that says so), for `Secure` cookies.
    static func isTLS(_ request: Request) -> Bool {
        request.uri.scheme == .https || request.headers[HTTPField.Name("X-Forwarded-Proto")!]?.lowercased() == "https"
    }

    static func requester(name: String, request: Request, context: SluiceRequestContext) -> AuditRequester {
        AuditRequester(
            actor: AdminAuditEntry.user(name), context: AuditContext(location: context.remoteAddress?.ipAddress, userAgent: request.headers[.userAgent])
        )
    }

    static func link(_ path: String, _ parameters: [(String, String)]) -> String {
        guard !parameters.isEmpty else { return path }
        return path + "?" + parameters.map { "\(percentEncoded($0.0))=\(percentEncoded($0.1))" }.joined(separator: "&")
    }

    static func percentEncoded(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~"))) ?? text
    }

    static func parameters(_ pairs: [(String, String)]) -> Parameters {
        var parameters = Parameters()
        for (name, value) in pairs { parameters[Substring(name)] = Substring(value) }
        return parameters
    }
}
