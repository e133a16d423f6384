import Foundation
import HTTPTypes
import Hummingbird
import SluiceCore
import SluiceDestinations
import SluiceSources
import SluiceWorkflows

/// The operations pages of the web UI: feeds (push URLs, 24-hour counts, secret rotation),
/// collectors (checkpoints, runs, Run now, backfill, rewind), destinations (lag, pause, dead
/// letters, re-drive) and workflows (runs by status, Retry, incidents). Every change is a form
/// with the session's CSRF token, for admins only, recorded in the audit log like the API's.
struct WebOperationsController: Sendable {
    let gate: WebGate
    let store: any EventStore
    let feeds: [String: PushFeed]
    let ingestionKeyConfigured: Bool
    let activity: FeedActivity
    let administration: CredentialAdministration
    let collectors: (any CollectorControl)?
    let destinations: (any DestinationControl)?
    let workflows: (any WorkflowControl)?
    let sourceSilence: (@Sendable () async throws(StoreError) -> [SourceSilence])?

    func addRoutes(to router: Router<SluiceRequestContext>) {
        router.get("ui/feeds", use: feedsPage)
        router.post("ui/feeds/{feed}/rotate", use: rotate)
        router.get("ui/collectors", use: collectorsPage)
        router.post("ui/collectors/{name}/run", use: runCollector)
        router.post("ui/collectors/{name}/backfill", use: backfill)
        router.post("ui/collectors/{name}/rewind", use: rewind)
        router.get("ui/destinations", use: destinationsPage)
        router.post("ui/destinations/{name}/redrive", use: redrive)
        router.post("ui/destinations/{name}/pause", use: pause)
        router.post("ui/destinations/{name}/resume", use: resume)
        router.get("ui/workflows", use: workflowsPage)
        router.post("ui/workflows/{name}/runs/{id}/retry", use: retry)
    }

    /// The watched sources by name (none when no source has an `expect_events_within`).
    func silenceBySource() async throws -> [String: SourceSilence] {
        guard let sourceSilence else { return [:] }
        let all = try await storeCall { () async throws(StoreError) in try await sourceSilence() }
        return Dictionary(all.map { ($0.expectation.source, $0) }, uniquingKeysWith: { first, _ in first })
    }

    /// "Silent since …" for a silent source, "expected within …" otherwise.
    static func silenceText(_ silence: SourceSilence, offset: Int) -> [String: Any] {
        let within = "expected within \(silence.expectation.within.shortText)"
        return silence.isSilent
            ? ["silent": true, "text": "Silent since \(WebPages.time(silence.silentFrom, offsetMinutes: offset)) (\(within))"]
            : ["silent": false, "text": within.prefix(1).uppercased() + within.dropFirst()]
    }

    /// Values every operations page shares.
    func base(_ title: String, _ session: WebSessions.Session, _ request: Request, nav: String) async -> [String: Any] {
        var values: [String: Any] = [
            "title": title, "user": WebPages.user(session), "csrf": session.csrf, "admin": session.role == .admin, "on\(nav)": true,
        ]
        values["strip"] = await SilenceStrip(assess: sourceSilence).values(offsetMinutes: WebPages.offset(request))
        if let done = request.uri.formQueryParameters["done"], !done.isEmpty { values["notice"] = String(done) }
        return values
    }

    /// Answers a form that changes something: sign-in or refusal pages for requests that may not,
    /// `body` for an admin's form with the session's CSRF token.
    func adminForm(_ request: Request, _ body: (WebSessions.Session, [String: String]) async -> Response) async -> Response {
        switch await gate.adminForm(request) {
        case .signIn: WebPages.redirect("/ui/sign-in")
        case .refused(let page): page
        case .allowed(let session, let fields): await body(session, fields)
        }
    }

    /// Runs a form's change; answers with the refusal page, or returns to `back` saying what was done.
    func change(
        _ request: Request, context: SluiceRequestContext, back: String,
        _ body: @Sendable (AuditRequester, [String: String]) async throws(WebChangeError) -> String
    ) async -> Response {
        await adminForm(request) { session, fields in
            do throws(WebChangeError) {
                let done = try await body(WebPages.requester(name: session.name, request: request, context: context), fields)
                return WebPages.redirect(WebPages.link(back, [("done", done)]))
            } catch {
                return WebPages.problem("Not done", error.message, session: session, status: error.status)
            }
        }
    }

    // MARK: Feeds

    @Sendable func feedsPage(request: Request, context: SluiceRequestContext) async throws -> Response {
        guard let (_, session) = await gate.signedIn(request) else { return WebPages.redirect("/ui/sign-in") }
        var values = await base("Feeds", session, request, nav: "Feeds")
        let offset = WebPages.offset(request)
        let silence = try await silenceBySource()
        let now = activity.now()
        let volume = try await storeCall { try await store.sourceVolume(since: now - .seconds(23 * 3_600)) }
        var rows: [[String: Any]] = []
        for name in feeds.keys.sorted() {
            let feed = feeds[name]!
            let summary = activity.summary(name)
            let rotatable = feed.authentication.modeName != "standard_webhooks"
            // The newest stored event of the feed (by occurrence), whichever instance took it.
            let newest = try await storeCall { try await store.events(matching: EventFilter(source: name), after: nil, limit: 1) }.events.first
            var row: [String: Any] = [
                "name": name, "auth": feed.authentication.modeName, "logType": feed.logType, "path": "/v1/feeds/\(name)/events",
                "lastEvent": newest.map { WebPages.time($0.normalized.occurredAt, offsetMinutes: offset) } ?? "none stored",
                "lastPush": summary.lastAccepted.map { WebPages.time($0, offsetMinutes: offset) } ?? "none in 24 h",
                "accepted": summary.accepted, "duplicates": summary.duplicates,
                "rejected": summary.rejected.sorted { $0.key < $1.key }.map { ["reason": $0.key, "count": $0.value] },
                "rotatable": rotatable, "urlAuth": feed.authentication.modeName == "shared_secret",
                "needsKey": ingestionKeyConfigured && feed.authentication.modeName == "shared_secret",
            ]
            if let watched = silence[name] { row["silence"] = Self.silenceText(watched, offset: offset) }
            row["spark"] = WebPages.sparkline(volume[name] ?? [:], endingAt: now, offsetMinutes: offset)
            rows.append(row)
        }
        values["feeds"] = rows
        return WebPages.page("feeds", values, status: .ok)
    }

    /// Issues a new secret and shows it once, with the push URL filled in.
    @Sendable func rotate(request: Request, context: SluiceRequestContext) async throws -> Response {
        let feed = context.parameters.get("feed") ?? ""
        return await adminForm(request) { session, fields in
            guard let seconds = fields["grace"].flatMap(DurationText.seconds) else {
                return WebPages.problem("Not rotated", "Choose how long the current secrets stay valid.", session: session, status: .badRequest)
            }
            let requester = WebPages.requester(name: session.name, request: request, context: context)
            do throws(CredentialAdministrationError) {
                let result = try await administration.rotateFeedSecret(feed: feed, grace: .seconds(seconds), by: requester)
                await gate.credentials.refresh()
                var values = await base("New secret for \(feed)", session, request, nav: "Feeds")
                values["feed"] = feed
                values["secret"] = result.secret
                values["id"] = String(result.credential.id)
                values["path"] = "/v1/feeds/\(feed)/events"
                values["needsKey"] = ingestionKeyConfigured && feeds[feed]?.authentication.modeName == "shared_secret"
                values["urlAuth"] = feeds[feed]?.authentication.modeName == "shared_secret"
                values["urlAuthText"] = feeds[feed]?.authentication.modeName == "shared_secret" ? "true" : "false"
                values["retiring"] = result.retired.map { ["id": String($0.id), "until": ($0.expiresAt ?? $0.createdAt).rfc3339] }
                return WebPages.page("feed-secret", values, status: .ok)
            } catch {
                let refusal = APIError.from(error)
                return WebPages.problem("Not rotated", refusal.message, session: session, status: refusal.status)
            }
        }
    }

    // MARK: Collectors

    @Sendable func collectorsPage(request: Request, context: SluiceRequestContext) async throws -> Response {
        guard let (_, session) = await gate.signedIn(request) else { return WebPages.redirect("/ui/sign-in") }
        var values = await base("Collectors", session, request, nav: "Collectors")
        let offset = WebPages.offset(request)
        let statuses = try await storeCall { try await collectors?.statuses() ?? [] }
        let silence = try await silenceBySource()
        let now = activity.now()
        let volume = try await storeCall { try await store.sourceVolume(since: now - .seconds(23 * 3_600)) }
        values["collectors"] = statuses.map { status -> [String: Any] in
            var collector: [String: Any] = [
                "name": status.name, "type": status.type, "schedule": status.schedule, "baseURL": status.baseURL,
                "nextRun": status.nextRun.map { WebPages.time($0, offsetMinutes: offset) } ?? "not scheduled",
                "streams": status.streams.map { stream -> [String: Any] in
                    let run = stream.lastRun.flatMap { try? JSONParser.parse(Array($0.utf8)) }
                    func field(_ key: String) -> String { run?[key]?.textValue ?? "" }
                    return [
                        "stream": stream.stream, "running": stream.running ? "running" : "idle",
                        "checkpoint": stream.checkpoint ?? "none yet",
                        "updated": stream.checkpointUpdatedAt.map { WebPages.time($0, offsetMinutes: offset) } ?? "",
                        "outcome": field("outcome"), "started": field("started"), "finished": field("finished"), "pages": field("pages"),
                        "eventsNew": field("events_new"), "eventsDuplicate": field("events_duplicate"), "requests": field("requests"),
                        "throttled": field("throttled"), "error": field("error"),
                    ]
                },
            ]
            if let watched = silence[status.name] { collector["silence"] = Self.silenceText(watched, offset: offset) }
            collector["spark"] = WebPages.sparkline(volume[status.name] ?? [:], endingAt: now, offsetMinutes: offset)
            return collector
        }
        return WebPages.page("collectors", values, status: .ok)
    }

    @Sendable func runCollector(request: Request, context: SluiceRequestContext) async throws -> Response {
        let name = context.parameters.get("name") ?? ""
        return await change(request, context: context, back: "/ui/collectors") { requester, _ throws(WebChangeError) in
            let requested: Bool
            do throws(StoreError) {
                requested = try await collectors?.requestRun(name, by: requester) ?? false
            } catch {
                throw WebChangeError(.serviceUnavailable, error.message)
            }
            guard requested else { throw WebChangeError(.notFound, "There is no collector named \(name).") }
            return "A run of \(name) was requested."
        }
    }

    @Sendable func backfill(request: Request, context: SluiceRequestContext) async throws -> Response {
        let name = context.parameters.get("name") ?? ""
        let offset = WebPages.offset(request)
        return await change(request, context: context, back: "/ui/collectors") { requester, fields throws(WebChangeError) in
            guard let since = fields["since"].flatMap({ WebPages.parseTime($0, offsetMinutes: offset) }),
                  let until = fields["until"].flatMap({ WebPages.parseTime($0, offsetMinutes: offset) }), since < until
            else {
                throw WebChangeError(.badRequest, "Give the backfill a start and a later end (dates such as 2026-11-01, or date and time).")
            }
            guard let collectors else { throw WebChangeError(.notFound, "There is no collector named \(name).") }
            do throws(CollectorError) {
                try await collectors.requestBackfill(name, window: since...until, by: requester)
            } catch {
                throw WebChangeError(APIError.from(error))
            }
            return "A backfill of \(name) from \(since.rfc3339) to \(until.rfc3339) was started."
        }
    }

    @Sendable func rewind(request: Request, context: SluiceRequestContext) async throws -> Response {
        let name = context.parameters.get("name") ?? ""
        let offset = WebPages.offset(request)
        return await change(request, context: context, back: "/ui/collectors") { requester, fields throws(WebChangeError) in
            guard fields["confirm"] == "yes" else {
                throw WebChangeError(.badRequest, "Tick the confirmation: a rewind makes the stream read again from that time.")
            }
            guard let stream = fields["stream"], let to = fields["to"].flatMap({ WebPages.parseTime($0, offsetMinutes: offset) }) else {
                throw WebChangeError(.badRequest, "Choose a stream and the time it should read from again.")
            }
            guard let collectors else { throw WebChangeError(.notFound, "There is no collector named \(name).") }
            do throws(CollectorError) {
                try await collectors.rewind(name, stream: stream, to: to, by: requester)
            } catch {
                throw WebChangeError(APIError.from(error))
            }
            return "\(name)/\(stream) was rewound to \(to.rfc3339)."
        }
    }

    // MARK: Destinations

    @Sendable func destinationsPage(request: Request, context: SluiceRequestContext) async throws -> Response {
        guard let (_, session) = await gate.signedIn(request) else { return WebPages.redirect("/ui/sign-in") }
        var values = await base("Destinations", session, request, nav: "Destinations")
        let offset = WebPages.offset(request)
        let statuses = try await storeCall { try await destinations?.statuses() ?? [] }
        var rows: [[String: Any]] = []
        for status in statuses {
            var letters: [[String: Any]] = []
            if status.deadLetters > 0, let destinations {
                letters = ((try? await destinations.administration.deadLetters(status.name, afterSeq: 0, limit: 20)) ?? []).map { letter in
                    [
                        "seq": String(letter.seq), "reason": letter.reason, "attempts": letter.attempts,
                        "at": WebPages.time(letter.createdAt, offsetMinutes: offset), "queued": letter.redriveRequested,
                    ]
                }
            }
            rows.append([
                "name": status.name, "type": status.type, "lag": status.lagEvents, "lagCapped": status.lagEventsCapped,
                "lagSeconds": String(format: "%.1f", status.lagSeconds),
                "lastSuccess": status.lastSuccess.map { WebPages.time($0, offsetMinutes: offset) } ?? "never",
                "lastError": status.lastError ?? "", "paused": status.pausedReason != nil, "pausedReason": status.pausedReason ?? "",
                "deadLetters": status.deadLetters, "letters": letters, "hasLetters": !letters.isEmpty,
                "delivered": status.delivered, "retried": status.retried,
                "spark": WebPages.lagSparkline(status.lagLastHour, endingAt: gate.now(), offsetMinutes: offset),
            ])
        }
        values["destinations"] = rows
        return WebPages.page("destinations", values, status: .ok)
    }

    func destinationChange(
        _ request: Request, context: SluiceRequestContext,
        _ body: @Sendable (String, AuditRequester, [String: String], DestinationAdministration) async throws(DeliveryControlError) -> String
    ) async -> Response {
        let name = context.parameters.get("name") ?? ""
        return await change(request, context: context, back: "/ui/destinations") { requester, fields throws(WebChangeError) in
            guard let destinations else { throw WebChangeError(.notFound, "There is no destination named \(name).") }
            do throws(DeliveryControlError) {
                return try await body(name, requester, fields, destinations.administration)
            } catch {
                throw WebChangeError(APIError.from(error))
            }
        }
    }

    @Sendable func redrive(request: Request, context: SluiceRequestContext) async throws -> Response {
        await destinationChange(request, context: context) { name, requester, _, control throws(DeliveryControlError) in
            let marked = try await control.redrive(name, seqs: nil, by: requester)
            return "\(marked) dead letter(s) of \(name) will be sent again."
        }
    }

    @Sendable func pause(request: Request, context: SluiceRequestContext) async throws -> Response {
        await destinationChange(request, context: context) { name, requester, fields, control throws(DeliveryControlError) in
            let changed = try await control.setPaused(name, reason: fields["reason"] ?? "", by: requester)
            return changed ? "\(name) is paused." : "\(name) was already paused."
        }
    }

    @Sendable func resume(request: Request, context: SluiceRequestContext) async throws -> Response {
        await destinationChange(request, context: context) { name, requester, _, control throws(DeliveryControlError) in
            let changed = try await control.setPaused(name, reason: nil, by: requester)
            return changed ? "\(name) resumed." : "\(name) was not paused."
        }
    }

    // MARK: Workflows

    @Sendable func workflowsPage(request: Request, context: SluiceRequestContext) async throws -> Response {
        guard let (_, session) = await gate.signedIn(request) else { return WebPages.redirect("/ui/sign-in") }
        var values = await base("Workflows", session, request, nav: "Workflows")
        let offset = WebPages.offset(request)
        guard let workflows else {
            values["workflows"] = [[String: Any]]()
            return WebPages.page("workflows", values, status: .ok)
        }
        let statuses: [WorkflowStatus]
        let incidents: [(id: Int64, incident: WorkflowIncident)]
        do {
            statuses = try await workflows.statuses()
            incidents = try await workflows.incidents(workflow: nil, beforeID: nil, limit: 50)
        } catch {
            return WebPages.problem("Workflows unavailable", error.message, session: session, status: .serviceUnavailable)
        }
        values["workflows"] = statuses.map { status -> [String: Any] in
            [
                "name": status.name, "lag": status.lagEvents, "incidents": status.incidentsCreated,
                "runs": WorkflowRunStatus.allCases.map { ["status": $0.rawValue, "count": status.runs[$0] ?? 0] },
                "failures": status.failures.map { run -> [String: Any] in
                    [
                        "id": String(run.id), "status": run.status.rawValue, "step": run.step ?? "", "detail": run.detail ?? "",
                        "attempts": run.attempts, "updated": WebPages.time(run.updatedAt, offsetMinutes: offset), "workflow": status.name,
                    ]
                },
            ]
        }
        values["incidents"] = incidents.map { entry -> [String: Any] in
            let incident = entry.incident
            let link = incident.remoteID.hasPrefix("https://") ? incident.remoteID : nil
            return [
                "workflow": incident.workflow, "remoteID": incident.remoteID, "link": WebPages.present(link), "externalID": incident.externalID,
                "title": incident.title ?? "", "run": String(incident.runID), "created": incident.created ? "created" : "found existing",
                "at": WebPages.time(incident.recordedAt, offsetMinutes: offset),
            ]
        }
        return WebPages.page("workflows", values, status: .ok)
    }

    @Sendable func retry(request: Request, context: SluiceRequestContext) async throws -> Response {
        let name = context.parameters.get("name") ?? ""
        let id = Int64(context.parameters.get("id") ?? "") ?? -1
        return await change(request, context: context, back: "/ui/workflows") { requester, _ throws(WebChangeError) in
            guard let workflows else { throw WebChangeError(.notFound, "There is no workflow named \(name).") }
            let result: (run: WorkflowRun, changed: Bool)
            do throws(WorkflowControlError) {
                result = try await workflows.retry(name, runID: id, by: requester)
            } catch {
                throw WebChangeError(APIError.from(error))
            }
            guard result.changed else {
                throw WebChangeError(.conflict, "Run \(id) is \(result.run.status.rawValue); only failed or retrying runs can be retried.")
            }
            return "Run \(id) of \(name) is queued again from step \(result.run.step ?? "the start")."
        }
    }
}

/// Why a UI form's change was not made, with the status of the page that says so.
struct WebChangeError: Error {
    var status: HTTPResponse.Status
    var message: String

    init(_ status: HTTPResponse.Status, _ message: String) {
        self.status = status
        self.message = message
    }

    /// The refusal the API would answer, shown as a page.
    init(_ error: APIError) {
        self.init(error.status, error.message)
    }
}
