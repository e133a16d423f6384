import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import SluiceCore
import SluiceStorePostgres
import SluiceStoreSQLite
import SluiceTesting
import Testing

/// The web UI's operations pages over real HTTP: what each shows, that every change needs the
/// session's CSRF token and the admin role, that hostile text is escaped, and that changes made
/// from the pages are audited like the API's.
@Suite struct WebOperationsTests {
    static let admin: HTTPFields = [.authorization: "Bearer \(TestSluice.adminToken)"]

    static func post(_ client: some TestClientProtocol, _ uri: String, cookie: String, _ fields: [(String, String)]) async throws -> TestResponse {
        var headers = WebUITests.formType
        headers[.cookie] = cookie
        return try await client.execute(uri: uri, method: .post, headers: headers, body: WebUITests.form(fields))
    }

    static func html(_ client: some TestClientProtocol, _ uri: String, cookie: String) async throws -> String {
        let response = try await client.execute(uri: uri, method: .get, headers: [.cookie: cookie])
        #expect(response.status == .ok, "\(uri)")
        return String(buffer: response.body)
    }

    static func push(_ client: some TestClientProtocol, secret: String, body: String) async throws -> HTTPResponse.Status {
        try await client.execute(
            uri: "/v1/feeds/default/events", method: .post, headers: [HTTPField.Name("X-Webhook-Access-Key")!: secret], body: ByteBuffer(string: body)
        ).status
    }

    @Test func theFeedsPageCountsPushesAndRotatesASecretShownOnceForAdminsOnly() async throws {
        let sluice = try await TestSluice()
        defer { sluice.cleanUp() }
        let secret = try await sluice.withLiveServer { client -> String in
            #expect(try await Self.push(client, secret: TestSluice.defaultFeedSecret, body: #"{"id":"a"}"# + "\n" + #"{"id":"b"}"#) == .ok)
            #expect(try await Self.push(client, secret: TestSluice.defaultFeedSecret, body: #"{"id":"a"}"#) == .ok)
            #expect(try await Self.push(client, secret: "wrong", body: "{}") == .unauthorized)
            #expect(try await Self.push(client, secret: TestSluice.defaultFeedSecret, body: "{") == .badRequest)

            let session = try await WebUITests.signIn(client)
            let page = try await Self.html(client, "/ui/feeds", cookie: session.cookie)
            #expect(page.contains("<th scope=\"row\">default<br><svg class=\"spark\"") && page.contains("</svg></th><td>shared_secret</td>"))
            #expect(page.contains("Events per hour over the last 24 hours: 2 in all"), "the store's count of the feed's events, duplicates aside")
            #expect(page.contains("<td>2</td><td>1</td>"), "2 accepted, 1 duplicate")
            #expect(!page.contains("none stored"), "the newest stored event is shown")
            #expect(page.contains("invalid_json: 1") && page.contains("unauthorized: 1"))
            #expect(page.contains("id=\"url-maker\"") && page.contains("action=\"/ui/feeds/default/rotate\""))

            // Without the session's CSRF token: refused, nothing rotated.
            let forged = try await Self.post(client, "/ui/feeds/default/rotate", cookie: session.cookie, [("grace", "0s")])
            #expect(forged.status == .forbidden)
            #expect(try await Self.push(client, secret: TestSluice.defaultFeedSecret, body: #"{"id":"c"}"#) == .ok)

            // A viewer sees no rotate form, and a crafted post is refused.
            let viewer = try JSONParser.parse(Array(try await client.execute(
                uri: "/v1/admin-tokens", method: .post, headers: Self.admin, body: ByteBuffer(string: #"{"name":"vera","role":"viewer"}"#)
            ).body.readableBytesView))
            let viewerSession = try await WebUITests.signIn(client, token: try #require(viewer["token"]?.stringValue))
            let viewerPage = try await Self.html(client, "/ui/feeds", cookie: viewerSession.cookie)
            #expect(!viewerPage.contains("/rotate\"") && viewerPage.contains("Only admins can rotate secrets."))
            let refused = try await Self.post(client, "/ui/feeds/default/rotate", cookie: viewerSession.cookie, [("csrf", viewerSession.csrf), ("grace", "0s")])
            #expect(refused.status == .forbidden && String(buffer: refused.body).contains("viewer"))

            let rotated = try await Self.post(client, "/ui/feeds/default/rotate", cookie: session.cookie, [("csrf", session.csrf), ("grace", "1h")])
            #expect(rotated.status == .ok && rotated.headers[.cacheControl] == "no-store")
            let shown = String(buffer: rotated.body)
            let range = try #require(shown.range(of: "id=\"ns-secret\" value=\""))
            let secret = String(shown[range.upperBound...].prefix { $0 != "\"" })
            #expect(secret.hasPrefix("sluice_feed_"))
            #expect(shown.contains("accepted until"), "the old secret's grace period is shown")
            #expect(try await Self.push(client, secret: secret, body: #"{"id":"d"}"#) == .ok)
            #expect(try await Self.push(client, secret: TestSluice.defaultFeedSecret, body: #"{"id":"e"}"#) == .ok, "still in its grace period")
            #expect(!(try await Self.html(client, "/ui/feeds", cookie: session.cookie)).contains(secret), "shown once only")
            return secret
        }
        let entries = try await sluice.store.events(matching: EventFilter(source: AdminAuditEntry.source, action: .exact("feed.secret_rotated")), after: nil, limit: 10).events
        #expect(entries.count == 1 && entries.first?.normalized.actor == AdminAuditEntry.user("admin"))
        #expect(!entries.contains { String(decoding: $0.raw, as: UTF8.self).contains(secret) })
    }

    @Test func theDestinationsPagePausesResumesAndEscapesTheReason() async throws {
        let sluice = try await TestSluice(yaml: """
            feeds:
              default: { log_type: INCIDENT_IO, secret: "${env:SLUICE_DEFAULT_FEED_SECRET}" }
            destinations:
              disk: { type: file, path: "{{DIR}}/out" }
            routes:
              - { from: [default], to: [disk] }
            """)
        defer { sluice.cleanUp() }
        try await sluice.withLiveServer { client in
            let session = try await WebUITests.signIn(client)
            let page = try await Self.html(client, "/ui/destinations", cookie: session.cookie)
            #expect(page.contains("<h2 id=\"d-disk\">disk") && page.contains("sending"))
            // Showing the page measures the lag: this minute has a sample, drawn in the hour's sparkline.
            #expect(page.contains("aria-label=\"Lag per minute over the last hour: at most 0.0 s\""))
            let hostile = "<script>alert(1)</script> =HYPERLINK(\"http://x\",\"y\")"
            let paused = try await Self.post(client, "/ui/destinations/disk/pause", cookie: session.cookie, [("csrf", session.csrf), ("reason", hostile)])
            #expect(paused.status == .seeOther && paused.headers[.location]?.hasPrefix("/ui/destinations?done=") == true)
            let after = try await Self.html(client, "/ui/destinations", cookie: session.cookie)
            #expect(!after.contains("<script>alert(1)</script>") && after.contains("&lt;script&gt;alert(1)&lt;/script&gt;"))
            #expect(after.contains("action=\"/ui/destinations/disk/resume\""))
            let empty = try await Self.post(client, "/ui/destinations/disk/pause", cookie: session.cookie, [("csrf", session.csrf), ("reason", " ")])
            #expect(empty.status == .badRequest && String(buffer: empty.body).contains("Say why delivery stops"))
            let resumed = try await Self.post(client, "/ui/destinations/disk/resume", cookie: session.cookie, [("csrf", session.csrf)])
            #expect(resumed.headers[.location]?.contains("resumed") == true)
            let noSuch = try await Self.post(client, "/ui/destinations/nope/resume", cookie: session.cookie, [("csrf", session.csrf)])
            #expect(noSuch.status == .notFound)
            let redrive = try await Self.post(client, "/ui/destinations/disk/redrive", cookie: session.cookie, [("csrf", session.csrf)])
            #expect(redrive.headers[.location]?.contains("0%20dead%20letter") == true)
        }
        let actions = try await sluice.store.events(matching: EventFilter(source: AdminAuditEntry.source, action: .prefix("destination.")), after: nil, limit: 10).events
            .map(\.normalized.action).sorted()
        #expect(actions == ["destination.dead_letters_redriven", "destination.paused", "destination.resumed"])
    }

    @Test func theCollectorsPageRunsBackfillsAndRewindsOnlyWithConfirmation() async throws {
        let double = IncydrTestDouble()
        double.addFileEvents(count: 3, insertedFrom: SluiceRuntimeClock.now() - .seconds(600))
        try await double.withServer { baseURL in
            let sluice = try await TestSluice(
                yaml: "feeds:\n  default: { log_type: INCIDENT_IO, secret: \"${env:SLUICE_DEFAULT_FEED_SECRET}\" }\n"
                    + double.collectorsYAML(baseURL: baseURL, streams: "file_events, audit", extra: ["schedule: { every: 1h }"]),
                environment: ["INCYDR_SECRET": double.clientSecret]
            )
            defer { sluice.cleanUp() }
            try await sluice.withLiveServer { client in
                let session = try await WebUITests.signIn(client)
                let page = try await Self.html(client, "/ui/collectors", cookie: session.cookie)
                #expect(page.contains("<h2 id=\"c-incydr\">incydr") && page.contains("<th scope=\"row\">file_events</th>"))
                #expect(!page.contains(double.clientSecret))

                let run = try await Self.post(client, "/ui/collectors/incydr/run", cookie: session.cookie, [("csrf", session.csrf)])
                #expect(run.status == .seeOther && run.headers[.location]?.contains("requested") == true)
                let future = try await Self.post(client, "/ui/collectors/incydr/backfill", cookie: session.cookie, [
                    ("csrf", session.csrf), ("since", "2026-01-01"), ("until", "2999-01-01"),
                ])
                #expect(future.status == .badRequest && String(buffer: future.body).contains("before now"))
                let backfill = try await Self.post(client, "/ui/collectors/incydr/backfill", cookie: session.cookie, [
                    ("csrf", session.csrf), ("since", "2026-01-01"), ("until", "2026-01-02"),
                ])
                #expect(backfill.status == .seeOther)
                let unconfirmed = try await Self.post(client, "/ui/collectors/incydr/rewind", cookie: session.cookie, [
                    ("csrf", session.csrf), ("stream", "audit"), ("to", "2026-01-01T00:00"),
                ])
                #expect(unconfirmed.status == .badRequest && String(buffer: unconfirmed.body).contains("confirmation"))
                // The scheduled first run may be going on; once it ends, the rewind is accepted.
                #expect(try await eventually {
                    let rewind = try await Self.post(client, "/ui/collectors/incydr/rewind", cookie: session.cookie, [
                        ("csrf", session.csrf), ("stream", "audit"), ("to", "2026-01-01T00:00"), ("confirm", "yes"),
                    ])
                    return rewind.status == .seeOther
                })
            }
            let actions = try await sluice.store.events(matching: EventFilter(source: AdminAuditEntry.source, action: .prefix("collector.")), after: nil, limit: 10).events
            #expect(actions.map(\.normalized.action).sorted() == ["collector.backfill_started", "collector.checkpoint_rewound", "collector.run_triggered"])
            let rewound = actions.first { $0.normalized.action == "collector.checkpoint_rewound" }
            let rewoundRaw = rewound.map { String(decoding: $0.raw, as: UTF8.self) } ?? ""
            #expect(rewoundRaw.contains("\"to\":\"2026-01-01T00:00:00"))
        }
    }

    @Test func theWorkflowsPageSaysWhenThereAreNoneAndDatesCanBeLocal() async throws {
        let sluice = try await TestSluice()
        defer { sluice.cleanUp() }
        try await sluice.withLiveServer { client in
            let session = try await WebUITests.signIn(client)
            #expect(try await Self.html(client, "/ui/workflows", cookie: session.cookie).contains("No workflows are configured."))
            #expect(try await Self.html(client, "/ui/collectors", cookie: session.cookie).contains("No collectors are configured."))
            #expect(try await client.execute(uri: "/ui/assets/sluice.js", method: .get).headers[.contentType]?.hasPrefix("text/javascript") == true)
            // A missing value is left out, never rendered as "nil" (the sign-in page had a red "nil").
            #expect(!String(buffer: try await client.execute(uri: "/ui/sign-in", method: .get).body).contains("nil"))
            for page in ["/ui/events", "/ui/feeds", "/ui/collectors", "/ui/destinations", "/ui/workflows"] {
                let html = try await Self.html(client, page, cookie: session.cookie)
                #expect(!html.contains(">nil<") && !html.contains("(nil)") && !html.contains("class=\"notice\""), "\(page)")
            }

            // An event at 23:30 UTC is on the next day at UTC+02:00: a local-date filter finds it there.
            let entry = #"{"id":"late","occurred_at":"2026-03-01T23:30:00Z","action":"user.updated","actor":{"type":"user","id":"u1","name":"Night Owl"}}"#
            #expect(try await Self.push(client, secret: TestSluice.defaultFeedSecret, body: entry) == .ok)
            let local = try await Self.html(client, "/ui/events?since=2026-03-02&until=2026-03-03&zone=local&tz=120", cookie: session.cookie)
            #expect(local.contains("Night Owl") && local.contains("2026-03-02T01:30:00"))
            let utc = try await Self.html(client, "/ui/events?since=2026-03-02&until=2026-03-03", cookie: session.cookie)
            #expect(!utc.contains("Night Owl"))
        }
    }
}

/// The workflows page with a real workflow: incidents with their remote links, and Retry.
@Suite struct WebWorkflowsPageTests {
    @Test func incidentsAreListedWithTheirRemoteIDs() async throws {
        try await WorkflowTests.withExample { double, sluice in
            try await sluice.withLiveServer { client in
                #expect(try await WorkflowTests.push(client, WorkflowTests.alert) == .ok)
                #expect(try await eventually { try await WorkflowTests.workflowStatus(client)?["incidents_created"]?.textValue == "1" })
                let session = try await WebUITests.signIn(client, token: "soc-token-value-456")
                let page = try await WebOperationsTests.html(client, "/ui/workflows", cookie: session.cookie)
                let remote = try #require(double.incidents.first?["id"]?.stringValue)
                #expect(page.contains("<a href=\"\(remote)\" rel=\"noreferrer\">"), "the remote id links to the incident")
                #expect(page.contains("Secure Cloud Insights Alert - aws-s3-bucket-public") && page.contains("succeeded 1"))
                #expect(!page.contains("/retry\""), "a viewer gets no Retry button")
            }
        }
    }

    @Test func aFailedRunIsRetriedFromTheWorkflowsPage() async throws {
        try await WorkflowTests.withExample(edit: { $0.replacingOccurrences(of: "auth: basic", with: "auth: form") }) { _, sluice in
            try await sluice.withLiveServer { client in
                #expect(try await WorkflowTests.push(client, WorkflowTests.alert) == .ok)
                #expect(try await eventually { try await WorkflowTests.workflowStatus(client)?["runs"]?["failed"]?.textValue == "1" })
                let session = try await WebUITests.signIn(client, token: "ops-token-value-123")
                let page = try await WebOperationsTests.html(client, "/ui/workflows", cookie: session.cookie)
                let range = try #require(page.range(of: "/runs/"))
                let id = String(page[range.upperBound...].prefix { $0.isNumber })
                #expect(page.contains("Retry run \(id) from token") && page.contains("refused the client credentials"))
                let retried = try await WebOperationsTests.post(client, "/ui/workflows/sci-alert-to-incident/runs/\(id)/retry", cookie: session.cookie, [("csrf", session.csrf)])
                #expect(retried.status == .seeOther && retried.headers[.location]?.contains("queued%20again") == true)
                let unknown = try await WebOperationsTests.post(client, "/ui/workflows/sci-alert-to-incident/runs/999999/retry", cookie: session.cookie, [("csrf", session.csrf)])
                #expect(unknown.status == .notFound)
            }
            let retries = try await sluice.store.events(matching: EventFilter(source: AdminAuditEntry.source, action: .exact("workflow.run_retried")), after: nil, limit: 10).events
            #expect(retries.count == 1 && retries.first?.normalized.actor?.type == "user")
        }
    }
}
