import Foundation
import HTTPTypes
import Hummingbird
import Metrics
import NIOCore
import SluiceCore
import SluiceIntegrity

/// The web UI at `/ui`: sign-in with an admin or viewer token (a session cookie, CSRF tokens on
/// every form), the audit log with filters, cursor paging and exports of exactly the current
/// filter, and each entry with its raw JSON.
struct WebUIController: Sendable {
    let store: any EventStore
    let integrity: IntegrityVerification
    /// Sessions and the tokens they were signed in with, shared with the operations pages.
    let gate: WebGate
    let strip: SilenceStrip
    var credentials: CredentialRegistry { gate.credentials }
    var sessions: WebSessions { gate.sessions }
    var now: @Sendable () -> Timestamp { gate.now }
    let failures = AuthFailureSummaries(action: "ui.sign_in_failed", targetType: nil)

    static let sessionCookie = WebGate.sessionCookie
    static let signInCookie = "sluice_signin"

    func addRoutes(to router: Router<SluiceRequestContext>) {
        router.get("/") { _, _ in WebPages.redirect("/ui/events") }
        router.get("ui") { _, _ in WebPages.redirect("/ui/events") }
        router.get("ui/assets/sluice.css") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "text/css; charset=utf-8", .cacheControl: "max-age=3600"],
                body: .init(byteBuffer: ByteBuffer(string: WebTemplates.stylesheet))
            )
        }
        router.get("ui/assets/sluice.js") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "text/javascript; charset=utf-8", .cacheControl: "max-age=3600"],
                body: .init(byteBuffer: ByteBuffer(string: WebTemplates.script))
            )
        }
        router.get("ui/sign-in", use: signInPage)
        router.post("ui/sign-in", use: signIn)
        router.post("ui/sign-out", use: signOut)
        router.get("ui/events", use: events)
        router.get("ui/events/export", use: export)
        router.get("ui/events/{id}", use: event)
        router.get("ui/integrity", use: integrityPage)
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
        if await signedIn(request) != nil { return WebPages.redirect("/ui/events") }
        return signInForm(request: request, error: nil, status: .ok)
    }

    /// The form with a fresh CSRF token, also set as a cookie the POST must echo (there is no
    /// session yet to hold it).
    func signInForm(request: Request, error: String?, status: HTTPResponse.Status) -> Response {
        let csrf = SecretGenerator.make(prefix: "")
        var response = WebPages.page("sign-in", ["title": "Sign in", "csrf": csrf, "error": WebPages.present(error)], status: status)
        response.setCookie(Cookie(name: Self.signInCookie, value: csrf, maxAge: 3600, path: "/ui", secure: WebPages.isTLS(request), httpOnly: true, sameSite: .strict))
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
        let requester = WebPages.requester(name: match.name, request: request, context: context)
        try await storeCall { try await store.record(requester.entry("ui.signed_in", targets: [], metadata: [JSONMember("role", .string(match.role.rawValue))], at: now())) }
        let (id, _) = await sessions.start(name: match.name, role: match.role, digest: match.digest)
        var response = WebPages.redirect("/ui/events")
        response.setCookie(Cookie(name: Self.sessionCookie, value: id, path: "/", secure: WebPages.isTLS(request), httpOnly: true, sameSite: .strict))
        response.setCookie(Cookie(name: Self.signInCookie, value: "", maxAge: 0, path: "/ui", secure: WebPages.isTLS(request), httpOnly: true, sameSite: .strict))
        return response
    }

    @Sendable func signOut(request: Request, context: SluiceRequestContext) async throws -> Response {
        guard let (id, session) = await signedIn(request) else { return WebPages.redirect("/ui/sign-in") }
        let form = try? await URLEncodedFormDecoder().decode(CSRFForm.self, from: String(buffer: request.body.collect(upTo: 16 << 10)))
        guard let sent = form?.csrf, constantTimeEquals(Array(sent.utf8), Array(session.csrf.utf8)) else {
            return WebPages.page("problem", [
                "title": "Not signed out", "message": "The form did not carry this session's CSRF token; reload the page and try again.",
                "user": WebPages.user(session), "csrf": session.csrf,
            ], status: .forbidden)
        }
        await sessions.end(id)
        let requester = WebPages.requester(name: session.name, request: request, context: context)
        try await storeCall { try await store.record(requester.entry("ui.signed_out", targets: [], at: now())) }
        var response = WebPages.redirect("/ui/sign-in")
        response.setCookie(Cookie(name: Self.sessionCookie, value: "", maxAge: 0, path: "/", secure: WebPages.isTLS(request), httpOnly: true, sameSite: .strict))
        return response
    }

    func signedIn(_ request: Request) async -> (String, WebSessions.Session)? {
        await gate.signedIn(request)
    }

    // MARK: Audit log

    static let filterFields: [(name: String, label: String, hint: String)] = [
        ("target", "Target", "id or name"), ("action", "Event type", "user.created or user.*"), ("actor", "Actor", "id or name"),
        ("actor_type", "Actor type", "user, api_key, …"), ("feed", "Feed or collector", "incident-io"), ("log_type", "Log type", "INCIDENT_IO"),
        ("since", "From", "2026-11-01 or 2026-11-01T08:00"), ("until", "Until", "2026-11-30"), ("q", "Text", "anything"),
    ]

    @Sendable func events(request: Request, context: SluiceRequestContext) async throws -> Response {
        guard let (_, session) = await signedIn(request) else { return WebPages.redirect("/ui/sign-in") }
        let query = request.uri.formQueryParameters
        let offset = WebPages.offset(request)
        let zone = offset == 0 ? [(String, String)]() : [("zone", "local"), ("tz", String(offset))]
        let chosen = Self.filterFields.compactMap { field in query[Substring(field.name)].map { (field.name, String($0)) } }.filter { !$0.1.isEmpty }
        var values: [String: Any] = [
            "local": offset != 0, "tz": String(offset), "zoneName": offset == 0 ? "UTC" : "in this browser's time zone",
            "title": "Audit log", "user": WebPages.user(session), "csrf": session.csrf, "onEvents": true,
            "filters": Self.filterFields.map { field in
                ["name": field.name, "label": field.label, "hint": field.hint, "value": chosen.first { $0.0 == field.name }?.1 ?? ""]
            },
            "exportCSV": WebPages.link("/ui/events/export", chosen + zone + [("format", "csv")]),
            "exportNDJSON": WebPages.link("/ui/events/export", chosen + zone + [("format", "ndjson")]),
        ]
        values["strip"] = await strip.values(offsetMinutes: offset)
        let filter: EventFilter
        do {
            filter = try EventFilterParser.parse(WebPages.parameters(Self.inUTC(chosen, offsetMinutes: offset)))
        } catch {
            values["error"] = error.message
            return WebPages.page("events", values, status: .badRequest)
        }
        var cursor: EventCursor?
        if let token = query["cursor"] {
            guard let parsed = EventCursor(token: String(token)) else {
                values["error"] = "The page link is not one this server made; start again from the newest events."
                return WebPages.page("events", values, status: .badRequest)
            }
            cursor = parsed
            values["first"] = WebPages.link("/ui/events", chosen + zone)
        }
        // The picture and the list read the store side by side.
        let overview = EventOverview(store: store)
        var histogramRequest = EventOverview.HistogramRequest()
        histogramRequest.zone = TimeZone(secondsFromGMT: offset * 60) ?? histogramRequest.zone
        async let histogram = overview.histogram(filter, histogramRequest, now: gate.now())
        async let facets = overview.facets(filter, EventOverview.FacetRequest())
        let page = try await storeCall { try await store.events(matching: filter, after: cursor, limit: 50) }
        let (buckets, counts) = try await histogram
        values["chart"] = WebPages.chart(buckets, counts, offsetMinutes: offset) { start, end in
            WebPages.link("/ui/events", chosen.filter { $0.0 != "since" && $0.0 != "until" } + [("since", start.rfc3339), ("until", end.rfc3339)] + zone)
        }
        values["facets"] = WebPages.facets(try await facets, fields: EventOverview.FacetRequest.defaultFields) { field, value in
            WebPages.link("/ui/events", chosen.filter { $0.0 != field.rawValue } + [(field.rawValue, value)] + zone)
        }
        values["events"] = page.events.map { event -> [String: Any] in
            let n = event.normalized
            return [
                "id": event.id.description, "time": WebPages.time(n.occurredAt, offsetMinutes: offset), "action": n.action,
                "actor": n.actor.map { $0.name ?? $0.id } ?? "", "actorType": WebPages.present(n.actor?.type),
                "targets": n.targets.map { "\($0.type): \($0.name ?? $0.id)" }.joined(separator: ", "),
                "feed": event.source, "logType": event.logType,
            ]
        }
        if let next = page.nextCursor { values["older"] = WebPages.link("/ui/events", chosen + zone + [("cursor", next.token)]) }
        if let line = await integrity.line(offsetMinutes: offset) { values["integrity"] = line }
        if page.partial { values["partial"] = true }
        return WebPages.page("events", values, status: .ok)
    }

    /// `/ui/integrity`: verifies the whole store now (it reads every event) and shows what it found.
    @Sendable func integrityPage(request: Request, context: SluiceRequestContext) async throws -> Response {
        guard let (_, session) = await signedIn(request) else { return WebPages.redirect("/ui/sign-in") }
        let offset = WebPages.offset(request)
        var values: [String: Any] = ["title": "Integrity", "user": WebPages.user(session), "csrf": session.csrf, "keyID": integrity.key?.id ?? ""]
        values["strip"] = await strip.values(offsetMinutes: offset)
        guard let report = try await integrity.verify() else {
            values["off"] = true
            return WebPages.page("integrity", values, status: .notFound)
        }
        var shown: [String: Any] = [
            "intact": report.isIntact, "none": report.isIntact && report.checkpoints == 0, "checkpoints": report.checkpoints, "verified": report.verifiedEvents,
            "problems": report.problems.map(\.description),
        ]
        if let through = report.verifiedThrough {
            shown["through"] = ["lastSeq": through.lastSeq, "checkpointSeq": through.checkpointSeq, "time": WebPages.time(through.time, offsetMinutes: offset)]
        }
        if report.pending.count > 0 { shown["pending"] = report.pending.count }
        if report.purgedEvents > 0 { shown["purged"] = report.purgedEvents }
        values["report"] = shown
        return WebPages.page("integrity", values, status: .ok)
    }

    /// The filter with `since`/`until` written in the page's zone turned into UTC RFC 3339; a
    /// value that is not a time is left as typed, for the parser to name.
    static func inUTC(_ chosen: [(String, String)], offsetMinutes: Int) -> [(String, String)] {
        chosen.map { name, value in
            guard name == "since" || name == "until", let time = WebPages.parseTime(value, offsetMinutes: offsetMinutes) else { return (name, value) }
            return (name, time.rfc3339)
        }
    }

    @Sendable func export(request: Request, context: SluiceRequestContext) async throws -> Response {
        guard await signedIn(request) != nil else { return WebPages.redirect("/ui/sign-in") }
        let query = request.uri.formQueryParameters
        let chosen = Self.filterFields.compactMap { field in query[Substring(field.name)].map { (field.name, String($0)) } }.filter { !$0.1.isEmpty }
        let filter = try EventFilterParser.parse(WebPages.parameters(Self.inUTC(chosen, offsetMinutes: WebPages.offset(request))))
        return try await EventsController.exportResponse(
            store: store, filter: filter, format: query["format"].map(String.init) ?? "csv", filename: "sluice-audit-log", logger: context.logger
        )
    }

    @Sendable func event(request: Request, context: SluiceRequestContext) async throws -> Response {
        guard let (_, session) = await signedIn(request) else { return WebPages.redirect("/ui/sign-in") }
        let text = context.parameters.get("id") ?? ""
        var values: [String: Any] = ["user": WebPages.user(session), "csrf": session.csrf, "onEvents": true]
        values["strip"] = await strip.values(offsetMinutes: WebPages.offset(request))
        guard let id = EventID(text), let event = try await storeCall({ try await store.event(id: id) }) else {
            values["title"] = "No such entry"
            values["message"] = "There is no audit-log entry with the id \(text)."
            return WebPages.page("problem", values, status: .notFound)
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
        return WebPages.page("event", values, status: .ok)
    }
}
