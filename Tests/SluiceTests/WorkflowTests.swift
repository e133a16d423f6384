import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import SluiceCore
import SluiceApp
import SluiceHTTP
import SluiceStorePostgres
import SluiceStoreSQLite
import SluiceTesting
import SluiceWorkflows
import Testing

/// Alert-to-incident workflows inside `sluice serve`, over real HTTP to loopback IROH and CTIA
/// doubles and a real SQLite store.
@Suite struct WorkflowTests {
    static let admin: HTTPFields = [.authorization: "Bearer ops-token-value-123"]
    static let viewer: HTTPFields = [.authorization: "Bearer soc-token-value-456"]
    static let feedHeaders: HTTPFields = [HTTPField.Name("X-Webhook-Access-Key")!: "sci-feed-secret-value"]

    static func environment(_ double: CTIATestDouble) -> [String: String] {
        [
            "OPS_TOKEN": "ops-token-value-123", "SOC_TOKEN": "soc-token-value-456", "SCI_FEED_SECRET": "sci-feed-secret-value",
            "CTR_CLIENT_ID": double.clientID, "CTR_CLIENT_PASSWORD": double.clientSecret,
        ]
    }

    /// The repository's example (SecureX workflow 0059) pointed at the doubles.
    static func exampleConfig(base: String) throws -> String {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("docs/examples/sci-alerts-to-ctia.yaml")
        var text = try String(contentsOf: url, encoding: .utf8)
        text = text.replacingOccurrences(of: "https://visibility.amp.cisco.com", with: base)
            .replacingOccurrences(of: "https://private.intel.amp.cisco.com", with: base)
            .replacingOccurrences(of: "    - { name: ops, role: admin, token: \"${env:SLUICE_ADMIN_TOKEN}\" }", with: """
                    - { name: ops, role: admin, token: "${env:OPS_TOKEN}" }
                    - { name: soc, role: viewer, token: "${env:SOC_TOKEN}" }
                """)
            .replacingOccurrences(of: "    trigger:\n", with: "    allow_private_networks: true\n    retry: { request_backoff: 10ms, request_max_backoff: 50ms, run_backoff: 50ms }\n    trigger:\n")
        return text
    }

    /// Runs `body` against a Sluice prepared from the example config (changed by `edit`) and a fresh CTIA double.
    static func withExample(
        _ double: CTIATestDouble = CTIATestDouble(), backend: StoreBackend = .sqlite, edit: @escaping @Sendable (String) -> String = { $0 },
        _ body: @escaping @Sendable (CTIATestDouble, TestSluice) async throws -> Void
    ) async throws {
        try await double.withServer { base in
            try await backend.withStore { store in
                let sluice = try await TestSluice(yaml: edit(try exampleConfig(base: base)), environment: environment(double), store: backend == .sqlite ? nil : store)
                defer { sluice.cleanUp() }
                try await body(double, sluice)
            }
        }
    }

    static let alert = """
        {"name":"aws-s3-bucket-public","description":"S3 bucket is publicly readable","level":"HIGH",
         "query0Data":[{"id":"arn:aws:s3:::example-bucket","entity":{"_type":"aws_s3_bucket","displayName":"<b>example-bucket</b>"},
                        "properties":{"public":true}}]}
        """

    static func push(_ client: some TestClientProtocol, _ body: String) async throws -> HTTPResponse.Status {
        try await client.execute(uri: "/v1/feeds/sci-alerts/events", method: .post, headers: feedHeaders, body: ByteBuffer(string: body)).status
    }

    static func get(_ client: some TestClientProtocol, _ uri: String, _ headers: HTTPFields = viewer) async throws -> JSONValue {
        let response = try await client.execute(uri: uri, method: .get, headers: headers)
        #expect(response.status == .ok, "GET \(uri)")
        return try JSONParser.parse(Array(response.body.readableBytesView))
    }

    static func workflowStatus(_ client: some TestClientProtocol) async throws -> JSONValue? {
        try await get(client, "/v1/workflows")["workflows"]?.arrayValue?.first
    }

    @Test(arguments: StoreBackend.available) func theSeedWorkflowTurnsAnAlertIntoOneIncidentHoweverOftenItArrives(_ backend: StoreBackend) async throws {
        try await Self.withExample(backend: backend) { double, sluice in
            try await sluice.withLiveServer { client in
                for _ in 0..<20 { #expect(try await Self.push(client, Self.alert) == .ok) }
                let done = try await eventually { try await Self.workflowStatus(client)?["runs"]?["succeeded"]?.textValue == "1" }
                #expect(done)
                #expect(double.incidents.count == 1)
                let incident = try #require(double.incidents.first)
                #expect(incident["title"] == .string("Secure Cloud Insights Alert - aws-s3-bucket-public"))
                #expect(incident["status"] == .string("New") && incident["confidence"] == .string("High") && incident["tlp"] == .string("amber"))
                #expect(incident["severity"] == .string("High") && incident["source"] == .string("Secure Cloud Insights"))
                let description = try #require(incident["description"]?.stringValue)
                #expect(description.hasPrefix("<table>") && description.contains("&lt;b&gt;example-bucket"))
                let externalID = try #require(incident["external_ids"]?.arrayValue?.first?.stringValue)
                #expect(externalID.hasPrefix("sluice-sci-alert-to-incident-"))

                let incidents = try await Self.get(client, "/v1/incidents")["incidents"]?.arrayValue ?? []
                #expect(incidents.count == 1)
                #expect(incidents.first?["remote_id"] == incident["id"] && incidents.first?["created"] == .bool(true))
                #expect(incidents.first?["external_id"] == .string(externalID))

                let runs = try await Self.get(client, "/v1/workflows/sci-alert-to-incident/runs")["runs"]?.arrayValue ?? []
                let runID = try #require(runs.first?["id"]?.textValue)
                let journal = try await Self.get(client, "/v1/workflows/sci-alert-to-incident/runs/\(runID)")
                let steps = journal["steps"]?.arrayValue ?? []
                #expect(steps.map { $0["step"]?.stringValue ?? "" } == ["alert", "token", "incident"])
                #expect(steps.allSatisfy { $0["status"] == .string("succeeded") })
                #expect(steps[2]["output"]?["id"] == incident["id"])
                // The token lives in memory only: neither the journal nor the API shows it.
                let everything = String(decoding: journal.serialized(), as: UTF8.self)
                #expect(!everything.contains("iroh-") && !everything.contains(double.clientSecret))
                #expect(double.stats.tokenRequests == 1)
                let status = try await Self.workflowStatus(client)
                #expect(status?["incidents_created"]?.textValue == "1" && status?["lag_events"]?.textValue == "0")

                // JupiterOne's templated bodies send the results as a JSON string.
                let templated = #"{"name":"j1-templated","level":"MEDIUM","query0Data":"[{\"id\":\"r1\"},{\"id\":\"r2\"}]"}"#
                #expect(try await Self.push(client, templated) == .ok)
                let second = try await eventually { try await Self.workflowStatus(client)?["runs"]?["succeeded"]?.textValue == "2" }
                #expect(second)
                let j1 = try #require(double.incidents.last)
                #expect(j1["severity"] == .string("Medium"))
                #expect(j1["description"]?.stringValue == "<table><tr><th>id</th></tr><tr><td>r1</td></tr><tr><td>r2</td></tr></table>")
            }
            #expect(!sluice.allLogText.contains(double.clientSecret))
        }
    }

    @Test func alertsWithTheSameKeyShareOneRunAndForEachMakesOneIncidentPerItem() async throws {
        let double = CTIATestDouble()
        try await double.withServer { base in
            let yaml = """
                server:
                  admin_tokens: [{ name: ops, role: admin, token: "${env:OPS_TOKEN}" }, { name: soc, role: viewer, token: "${env:SOC_TOKEN}" }]
                feeds:
                  sci-alerts: { log_type: CISCO_SCI_ALERT, secret: "${env:SCI_FEED_SECRET}" }
                workflows:
                  per-item:
                    allow_private_networks: true
                    trigger: { feeds: [sci-alerts], condition: { path: $.level, in: [HIGH, CRITICAL] } }
                    alert_key: $.alertId
                    steps:
                      - { id: alert, extract: { name: { path: $.name, required: true }, results: { path: $.query0Data, type: list } } }
                      - { id: token, oauth_token: { url: "\(base)/iroh/oauth2/token", client_id: "${env:CTR_CLIENT_ID}", client_secret: "${env:CTR_CLIENT_PASSWORD}" } }
                      - id: each
                        for_each:
                          items: "{{ results }}"
                          as: result
                          item_key: "{{ result.id }}"
                          steps:
                            - id: incident
                              create_ctia_incident:
                                url: "\(base)"
                                token: token
                                incident: { title: "{{ name }}: {{ result.id }}", status: New, confidence: Medium }
                """
            let sluice = try await TestSluice(yaml: yaml, environment: Self.environment(double))
            defer { sluice.cleanUp() }
            try await sluice.withLiveServer { client in
                // The same alert id, re-sent with a new timestamp each time: twenty events, one run.
                for n in 0..<20 {
                    let body = #"{"alertId":"A-1","name":"public buckets","level":"HIGH","sentAt":\#(n),"query0Data":"[{\"id\":\"b1\"},{\"id\":\"b2\"},{\"id\":\"b3\"}]"}"#
                    #expect(try await Self.push(client, body) == .ok)
                }
                #expect(try await Self.push(client, #"{"alertId":"A-2","name":"quiet","level":"LOW","query0Data":[{"id":"x"}]}"#) == .ok)
                // Done when every pushed event has been looked at (the run may finish before the last copies arrive).
                let done = try await eventually {
                    let status = try await Self.workflowStatus(client)
                    return status?["runs"]?["succeeded"]?.textValue == "1" && status?["lag_events"]?.textValue == "0"
                }
                #expect(done)
                #expect(double.incidents.map { $0["title"]?.stringValue ?? "" }.sorted() == ["public buckets: b1", "public buckets: b2", "public buckets: b3"])
                let runs = try await Self.get(client, "/v1/workflows/per-item/runs")["runs"]?.arrayValue ?? []
                #expect(runs.count == 1 && runs.first?["duplicates"]?.textValue == "19")
                let keys = (try await Self.get(client, "/v1/incidents?workflow=per-item")["incidents"]?.arrayValue ?? []).compactMap { $0["alert_key"]?.stringValue }
                #expect(keys.sorted() == ["A-1#b1", "A-1#b2", "A-1#b3"])
            }
        }
    }

    @Test(arguments: StoreBackend.available) func serverErrorsAreRetriedAndAnExpiredTokenIsReplacedOnce(_ backend: StoreBackend) async throws {
        try await Self.withExample(backend: backend) { double, sluice in
            try await sluice.withLiveServer { client in
                double.injectCreateFaults([.serverError, .serverError, .serverError])
                #expect(try await Self.push(client, Self.alert) == .ok)
                let first = try await eventually { try await Self.workflowStatus(client)?["runs"]?["succeeded"]?.textValue == "1" }
                #expect(first)
                #expect(double.incidents.count == 1 && double.stats.status500 == 3 && double.stats.creates == 4)
                let runs = try await Self.get(client, "/v1/workflows/sci-alert-to-incident/runs")["runs"]?.arrayValue ?? []
                let journal = try await Self.get(client, "/v1/workflows/sci-alert-to-incident/runs/\(runs.first?["id"]?.textValue ?? "0")")
                // One lookup and four creates.
                #expect(journal["steps"]?.arrayValue?.last?["attempts"]?.textValue == "5")

                // The cached token still looks fresh to Sluice, but CTIA has expired it.
                double.expireTokens()
                #expect(try await Self.push(client, Self.alert.replacingOccurrences(of: "aws-s3-bucket-public", with: "second-alert")) == .ok)
                let second = try await eventually { try await Self.workflowStatus(client)?["runs"]?["succeeded"]?.textValue == "2" }
                #expect(second)
                #expect(double.incidents.count == 2 && double.stats.tokenRequests == 2 && double.stats.status401 == 1)

                double.injectCreateFaults([.tooManyRequests(retryAfter: "0")])
                #expect(try await Self.push(client, Self.alert.replacingOccurrences(of: "aws-s3-bucket-public", with: "third-alert")) == .ok)
                let third = try await eventually { try await Self.workflowStatus(client)?["runs"]?["succeeded"]?.textValue == "3" }
                #expect(third)
                #expect(double.incidents.count == 3 && double.stats.status429 == 1)
            }
        }
    }

    @Test(arguments: StoreBackend.available) func anAlertWithoutItsRequiredFieldsIsSkippedWithTheReason(_ backend: StoreBackend) async throws {
        try await Self.withExample(backend: backend) { double, sluice in
            try await sluice.withLiveServer { client in
                #expect(try await Self.push(client, #"{"level":"HIGH","query0Data":[{"id":"x"}]}"#) == .ok)
                let skipped = try await eventually { try await Self.workflowStatus(client)?["runs"]?["skipped"]?.textValue == "1" }
                #expect(skipped)
                let run = try #require(try await Self.get(client, "/v1/workflows/sci-alert-to-incident/runs?status=skipped")["runs"]?.arrayValue?.first)
                #expect(run["step"] == .string("alert"))
                #expect(run["detail"]?.stringValue?.contains("no name") == true)
                #expect(double.incidents.isEmpty && double.stats.tokenRequests == 0 && double.stats.creates == 0)
            }
        }
    }

    @Test(arguments: StoreBackend.available) func aFailedRunIsRetriedFromItsFailedStepByAnAdminOnly(_ backend: StoreBackend) async throws {
        let retry = "    retry: { request_attempts: 2, request_backoff: 10ms, run_attempts: 1 }\n"
        try await Self.withExample(backend: backend, edit: { $0.replacingOccurrences(of: "    retry: { request_backoff: 10ms, request_max_backoff: 50ms, run_backoff: 50ms }\n", with: retry) }) { double, sluice in
            try await sluice.withLiveServer { client in
                double.injectCreateFaults([.serverError, .serverError])
                #expect(try await Self.push(client, Self.alert) == .ok)
                let failed = try await eventually { try await Self.workflowStatus(client)?["runs"]?["failed"]?.textValue == "1" }
                #expect(failed)
                let status = try #require(try await Self.workflowStatus(client))
                let failure = try #require(status["failures"]?.arrayValue?.first)
                #expect(failure["step"] == .string("incident") && failure["detail"]?.stringValue?.contains("HTTP 500") == true)
                let runID = try #require(failure["id"]?.textValue)
                let tokensBefore = double.stats.tokenRequests

                let refused = try await client.execute(uri: "/v1/workflows/sci-alert-to-incident/runs/\(runID)/retry", method: .post, headers: Self.viewer)
                #expect(refused.status == .forbidden)
                let retried = try await client.execute(uri: "/v1/workflows/sci-alert-to-incident/runs/\(runID)/retry", method: .post, headers: Self.admin)
                #expect(retried.status == .accepted)
                let succeeded = try await eventually { try await Self.workflowStatus(client)?["runs"]?["succeeded"]?.textValue == "1" }
                #expect(succeeded)
                #expect(double.incidents.count == 1)
                // The extract step was not run again: its journal entry kept its first attempt.
                let journal = try await Self.get(client, "/v1/workflows/sci-alert-to-incident/runs/\(runID)")
                let alertStep = journal["steps"]?.arrayValue?.first { $0["step"] == .string("alert") }
                #expect(alertStep?["attempts"]?.textValue == "1")
                #expect(double.stats.tokenRequests == tokensBefore)
                let again = try await client.execute(uri: "/v1/workflows/sci-alert-to-incident/runs/\(runID)/retry", method: .post, headers: Self.admin)
                #expect(again.status == .conflict)
                let missing = try await client.execute(uri: "/v1/workflows/sci-alert-to-incident/runs/9999/retry", method: .post, headers: Self.admin)
                #expect(missing.status == .notFound)

                let audit = try await sluice.store.events(matching: EventFilter(source: AdminAuditEntry.source, action: .exact("workflow.run_retried")), after: nil, limit: 10)
                #expect(audit.events.count == 1 && audit.events.first?.normalized.actor?.id == "token:ops")
            }
        }
    }

    @Test(arguments: StoreBackend.available) func anIncidentCreatedBeforeACrashIsFoundNotCreatedAgain(_ backend: StoreBackend) async throws {
        try await Self.withExample(backend: backend) { double, sluice in
            let definition = try #require(sluice.prepared.config.workflows.first)
            let runner = WorkflowRunner(definition: definition, transport: .shared, logger: sluice.logger, now: SluiceRuntime.systemNow)
            let alertKey = runner.alertKey(of: OutboundEvent(seq: 0, source: "", logType: "", action: "", occurredAt: .init(seconds: 0), receivedAt: .init(seconds: 0), raw: Array(Self.alert.utf8)), alert: .null)
            // CTIA holds the incident; Sluice's journal never heard of it (the answer was lost).
            double.seed(externalID: runner.externalID(alertKey: alertKey), title: "created before the crash")
            try await sluice.withLiveServer { client in
                #expect(try await Self.push(client, Self.alert) == .ok)
                let done = try await eventually { try await Self.workflowStatus(client)?["runs"]?["succeeded"]?.textValue == "1" }
                #expect(done)
                #expect(double.incidents.count == 1 && double.stats.creates == 0)
                let incident = try #require(try await Self.get(client, "/v1/incidents")["incidents"]?.arrayValue?.first)
                #expect(incident["created"] == .bool(false) && incident["remote_id"] == double.incidents[0]["id"])
            }
        }
    }

    @Test func aDryRunShowsTheIncidentAndCallsNothing() async throws {
        try await Self.withExample { double, sluice in
            let definition = try #require(sluice.prepared.config.workflows.first)
            let runner = WorkflowRunner(definition: definition, transport: .shared, logger: sluice.logger, now: SluiceRuntime.systemNow)
            let event = OutboundEvent(
                seq: 0, source: "sci-alerts", logType: "CISCO_SCI_ALERT", action: "", occurredAt: .init(seconds: 1_790_000_000),
                receivedAt: .init(seconds: 1_790_000_000), raw: Array(Self.alert.utf8)
            )
            let (steps, outcome) = await runner.dryRun(event: event)
            #expect(outcome == .succeeded)
            #expect(steps.map(\.key) == ["alert", "token", "incident"])
            let incident = try #require(steps.last?.input)
            #expect(incident["title"] == .string("Secure Cloud Insights Alert - aws-s3-bucket-public"))
            #expect(incident["incident_time"]?["opened"] == .string("2026-09-21T14:13:20.000Z"))
            #expect(double.stats.tokenRequests == 0 && double.stats.lookups == 0 && double.stats.creates == 0)
            let journaled = try await sluice.store.runs(workflow: definition.name, status: nil, beforeID: nil, limit: 10)
            #expect(journaled.isEmpty)
        }
    }

    @Test func requestStepsCarryTheTokenAndFailedRunsRetryOnTheirOwn() async throws {
        let double = CTIATestDouble(acceptsFormCredentials: true)
        try await double.withServer { base in
            let yaml = """
                feeds:
                  sci-alerts: { log_type: CISCO_SCI_ALERT, secret: "${env:SCI_FEED_SECRET}" }
                workflows:
                  checked:
                    allow_private_networks: true
                    retry: { request_attempts: 2, request_backoff: 10ms, run_attempts: 3, run_backoff: 20ms }
                    trigger: { log_types: [CISCO_SCI_ALERT] }
                    steps:
                      - { id: alert, extract: { name: { path: $.name, required: true } } }
                      - { id: token, oauth_token: { url: "\(base)/iroh/oauth2/token", auth: form, client_id: "${env:CTR_CLIENT_ID}", client_secret: "${env:CTR_CLIENT_PASSWORD}" } }
                      - { id: lookup, http_request: { method: GET, url: "\(base)/ctia/incident/external_id/{{ name }}", token: token, expect: [200] } }
                      - { id: unseen, condition: { value: "{{ lookup.body | json }}", equals: "[]", reason: "CTIA already has an incident named so" } }
                      - id: incident
                        create_ctia_incident: { url: "\(base)", token: token, external_id: "{{ name }}", incident: { title: "{{ name }}", status: New, confidence: Low } }
                """
            let sluice = try await TestSluice(yaml: yaml, environment: Self.environment(double))
            defer { sluice.cleanUp() }
            try await sluice.withLiveServer { client in
                // Three 500s: the first attempt gives up after two, the run waits and its second attempt succeeds.
                double.injectCreateFaults([.serverError, .serverError, .serverError])
                #expect(try await Self.push(client, #"{"name":"first"}"#) == .ok)
                let done = try await eventually { (try await sluice.store.runs(workflow: "checked", status: .succeeded, beforeID: nil, limit: 5)).count == 1 }
                #expect(done)
                let run = try #require(try await sluice.store.runs(workflow: "checked", status: nil, beforeID: nil, limit: 5).first)
                #expect(run.attempts == 2 && run.status == .succeeded)
                #expect(double.incidents.count == 1 && double.incidents.first?["external_ids"] == .array([.string("first")]))
                let steps = try await sluice.store.steps(runID: run.id)
                #expect(steps.first { $0.key == "lookup" }?.output["status"] == .number("200"))

                double.seed(externalID: "second", title: "made by hand")
                #expect(try await Self.push(client, #"{"name":"second"}"#) == .ok)
                let skipped = try await eventually { (try await sluice.store.runs(workflow: "checked", status: .skipped, beforeID: nil, limit: 5)).count == 1 }
                #expect(skipped)
                let skip = try #require(try await sluice.store.runs(workflow: "checked", status: .skipped, beforeID: nil, limit: 5).first)
                #expect(skip.step == "unseen" && skip.detail == "CTIA already has an incident named so")
                #expect(double.incidents.count == 2)
            }
        }
    }

    @Test func refusedCredentialsFailTheRunWithoutRetrying() async throws {
        try await Self.withExample(edit: { $0.replacingOccurrences(of: "auth: basic", with: "auth: form") }) { double, sluice in
            try await sluice.withLiveServer { client in
                #expect(try await Self.push(client, Self.alert) == .ok)
                let failed = try await eventually { try await Self.workflowStatus(client)?["runs"]?["failed"]?.textValue == "1" }
                #expect(failed)
                let failure = try #require(try await Self.workflowStatus(client)?["failures"]?.arrayValue?.first)
                #expect(failure["step"] == .string("token") && failure["attempts"]?.textValue == "1")
                #expect(failure["detail"]?.stringValue?.contains("refused the client credentials") == true)
                #expect(double.stats.creates == 0)
            }
            #expect(!sluice.allLogText.contains(double.clientSecret))
        }
    }
}
