import Foundation
import Logging
import SluiceApp
import SluiceCore
import SluiceEngine
import SluiceHTTP
import SluiceSources
import SluiceStoreSQLite
import SluiceTesting
import Testing

/// The built-in `http_pull` presets as configuration makes them, and the parts they add to the
/// generic collector: Duo's request signature, Google's delegated assertion, paths into arrays,
/// a target at its own paths. The presets against doubles their vendors' SDKs vouch for are in
/// Tests/system/audit_presets_test.py.
@Suite struct HTTPPullPresetTests {
    /// Duo's own client (`duo_client` 5.7.0, `sign(..., sig_version=5)`) gave this Authorization
    /// for the same request, date and keys; the parameters need sorting and escaping (`:`, `,`,
    /// a space, `/`; `~` kept).
    @Test func duoSignaturesMatchDuoClient() {
        let signer = DuoRequestSigner(integrationKey: "DIWJ8X6AEYOR5OMC6TQ1", secretKey: "Zh5eGmUq9zpfQnyUIu5OL9iWoMMv5ZNmk3zLJ4Ep")
        let url = "https://api-xxxxxxxx.duosecurity.com/admin/v2/logs/authentication?mintime=1346172820000&maxtime=1346172830000&limit=1000"
            + "&sort=ts%3Aasc&next_offset=1346172825000%2Caf0ba235-0b33-23c8-bc23-a31aa0231de8&users=DU%20A%2FB~c"
        let signed = signer.signed(OutboundRequest(method: "GET", url: url), date: Date(timeIntervalSince1970: 1_345_570_158))
        let headers = Dictionary(signed.headers, uniquingKeysWith: { _, last in last })
        #expect(headers["Date"] == "Tue, 21 Aug 2012 17:29:18 -0000")
        #expect(headers["Authorization"] == "Basic RElXSjhYNkFFWU9SNU9NQzZUUTE6M2MwZjZhN2VmNWFiZWI2YjM2MjRkZmUwMGQ3MDVmNThlOGVlMjU3Y2ZlYWMyYTI2NTlkYTllYmMzODYxZGZhMzc2N2IxZDFiZDI0NzdlNDk0MjExMDIzODA0MzZhZjllMWZmYjg3NDgzYjg2YjI2ODYyYmVhNDZlNDhhMmU3MGQ=")
        // Any other date or parameter is another signature.
        let later = signer.signed(OutboundRequest(method: "GET", url: url), date: Date(timeIntervalSince1970: 1_345_570_159))
        #expect(later.headers.first { $0.0 == "Authorization" }?.1 != headers["Authorization"])
    }

    @Test func googleAssertionsActForTheDelegatingAdministrator() throws {
        let account = try GoogleTestAccount()
        let key = try GoogleServiceAccountKey(json: Array(account.keyFile(tokenURI: "http://127.0.0.1:9/token").utf8))
        let grant = GoogleJWTGrant(key: key, scope: HTTPPullPreset.googleReportsScope, subject: "admin@example.com")
        let claims = try Self.claims(of: grant.assertion(now: Date()))
        #expect(claims["sub"]?.stringValue == "admin@example.com")
        #expect(claims["scope"]?.stringValue == "https://www.googleapis.com/auth/admin.reports.audit.readonly")
        // Google's token endpoint is the audience wherever the key's token_uri points.
        #expect(claims["aud"]?.stringValue == "https://oauth2.googleapis.com/token")
        // Without a subject the account acts for itself: no sub claim.
        let own = try Self.claims(of: GoogleJWTGrant(key: key, scope: "s").assertion(now: Date()))
        #expect(own["sub"] == nil && own["iss"]?.stringValue == account.clientEmail)
    }

    static func claims(of assertion: String) throws -> JSONValue {
        let parts = assertion.split(separator: ".").map(String.init)
        try #require(parts.count == 3)
        var payload = parts[1].replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while payload.count % 4 != 0 { payload += "=" }
        return try JSONParser.parse(Array(try #require(Data(base64Encoded: payload))))
    }

    /// An Okta service app proves itself with a JWT its private key signed (private_key_jwt):
    /// issued by and about the app, for the org's token endpoint, each with its own id.
    @Test func oktaServiceAppsSignTheirClientAssertion() throws {
        let account = try GoogleTestAccount()
        let pem = try #require(JSONParser.parse(Array(account.keyFile(tokenURI: "x").utf8))["private_key"]?.stringValue)
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try pem.write(toFile: directory.path + "/app.pem", atomically: true, encoding: .utf8)
        let yaml = """
            collectors:
              okta: { type: okta_system_log, base_url: "https://acme.okta.com", client_id: 0oa1app, private_key: "${file:\(directory.path)/app.pem}", key_id: k1 }
            """
        let config = try ConfigLoader(environment: [:]).load(yaml: yaml)
        guard case .httpPull(let configuration)? = config.collectors.first?.kind, case .clientCredentials(let grant) = configuration.auth else {
            Issue.record("not an OAuth http_pull collector")
            return
        }
        #expect(grant.tokenURL == "https://acme.okta.com/oauth2/v1/token" && grant.scope == "okta.logs.read" && grant.authentication == .privateKeyJWT)
        let first = try grant.clientAssertion(), second = try grant.clientAssertion()
        let claims = try Self.claims(of: first)
        #expect(claims["iss"]?.stringValue == "0oa1app" && claims["sub"]?.stringValue == "0oa1app")
        #expect(claims["aud"]?.stringValue == "https://acme.okta.com/oauth2/v1/token")
        let secondClaims = try Self.claims(of: second)
        #expect(claims["jti"]?.stringValue != nil && claims["jti"] != secondClaims["jti"])
        #expect(first.split(separator: ".").count == 3 && !String(describing: grant).contains("PRIVATE KEY"))

        let both = "collectors:\n  okta: { type: okta_system_log, base_url: \"https://acme.okta.com\", token: t, client_id: 0oa1app, private_key: x }\n"
        do {
            _ = try ConfigLoader(environment: [:]).load(yaml: both)
            Issue.record("a token and a service app were both accepted")
        } catch {
            #expect(error.description.contains("collectors.okta.token") && error.description.contains("not both"), "\(error.description)")
        }
    }

    @Test func eachPresetNeedsOnlyItsCredentials() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let keyPath = directory.path + "/sa.json"
        try GoogleTestAccount().keyFile(tokenURI: "https://oauth2.googleapis.com/token").write(toFile: keyPath, atomically: true, encoding: .utf8)
        let yaml = """
            collectors:
              okta: { type: okta_system_log, base_url: "https://acme.okta.com", token: "${env:OKTA}" }
              slack: { type: slack_audit_logs, token: "${env:SLACK}" }
              duo: { type: duo_admin_logs, base_url: "https://api-1234abcd.duosecurity.com", integration_key: DIABC, secret_key: "${env:DUO}" }
              duo_auth: { type: duo_admin_logs, base_url: "https://api-1234abcd.duosecurity.com", integration_key: DIABC, secret_key: "${env:DUO}", logs: [authentication] }
              workspace: { type: google_workspace_reports, credentials_file: "\(keyPath)", subject: admin@example.com }
              drive: { type: google_workspace_reports, credentials_file: "\(keyPath)", subject: admin@example.com, applications: [drive, saml], customer_id: C03az79cb }
            """
        let config = try ConfigLoader(environment: ["OKTA": "o", "SLACK": "xoxp-1", "DUO": "secret"]).load(yaml: yaml)
        let store = try SQLiteEventStore(configuration: .init(path: directory.path + "/sluice.db"), logger: Logger(label: "test"))
        let collectors = Dictionary(
            uniqueKeysWithValues: SluiceRuntime.makeCollectors(config, store: store, logger: Logger(label: "t"), now: SluiceRuntimeClock.now).map {
                ($0.collector.name, $0.collector)
            }
        )
        let expected: [String: (type: String, base: String, streams: [String])] = [
            "okta": ("okta_system_log", "https://acme.okta.com", ["system_log"]),
            "slack": ("slack_audit_logs", "https://api.slack.com", ["logs"]),
            "duo": ("duo_admin_logs", "https://api-1234abcd.duosecurity.com", ["authentication", "administrator", "telephony"]),
            "duo_auth": ("duo_admin_logs", "https://api-1234abcd.duosecurity.com", ["authentication"]),
            "workspace": ("google_workspace_reports", "https://admin.googleapis.com", ["login", "admin", "drive", "token"]),
            "drive": ("google_workspace_reports", "https://admin.googleapis.com", ["drive", "saml"]),
        ]
        #expect(Set(collectors.keys) == Set(expected.keys))
        for (name, want) in expected {
            let collector = try #require(collectors[name])
            #expect(collector.type == want.type && collector.baseURL == want.base && collector.streamNames == want.streams, "\(name)")
        }
    }

    @Test func presetConfigErrorsNameTheKey() throws {
        let yaml = """
            collectors:
              slack: { type: slack_audit_logs, tokn: x }
              duo: { type: duo_admin_logs, integration_key: DIABC, secret_key: s, logs: [authentication, sms, authentication] }
              workspace: { type: google_workspace_reports, applications: [login, "a/b"] }
            """
        do {
            _ = try ConfigLoader(environment: [:]).load(yaml: yaml)
            Issue.record("the config was accepted")
        } catch {
            let text = error.description
            #expect(text.contains("collectors.slack") && text.contains("tokn"), "\(text)")
            #expect(text.contains("collectors.slack.token") && text.contains("auditlogs:read"), "\(text)")
            #expect(text.contains("collectors.duo.base_url") && text.contains("duosecurity.com"), "\(text)")
            #expect(text.contains("collectors.duo.logs[1]") && text.contains("unknown \"sms\""), "\(text)")
            #expect(text.contains("collectors.duo.logs[2]") && text.contains("listed twice"), "\(text)")
            #expect(text.contains("collectors.workspace.credentials_file"), "\(text)")
            #expect(text.contains("collectors.workspace.subject") && text.contains("domain-wide delegation"), "\(text)")
            #expect(text.contains("collectors.workspace.applications[1]"), "\(text)")
        }
    }

    /// A number in a path indexes an array, in a parsed value and on the tape alike.
    @Test func pathsIndexArrays() throws {
        let text = Array(#"{"page":[{"events":[{"name":"login_success"},{"name":"logout"}],"id":{"time":"2026-12-06T10:00:00Z"}}]}"#.utf8)
        let value = try JSONParser.parse(text)
        let record = try #require(value["page"]?.value(at: FieldPath("0")))
        #expect(record.value(at: FieldPath("events.0.name"))?.stringValue == "login_success")
        #expect(record.value(at: FieldPath("events.1.name"))?.stringValue == "logout")
        #expect(record.value(at: FieldPath("events.2.name")) == nil)
        #expect(record.value(at: FieldPath("events.x")) == nil)
        let viewed = try JSONPage.map(text, itemsKey: "page") { view, _ in
            [view.value(at: FieldPath("events.0.name"))?.stringValue, view.value(at: FieldPath("events.1.name"))?.stringValue,
             view.value(at: FieldPath("events.2.name"))?.stringValue, view.value(at: FieldPath("id.time"))?.stringValue]
        }
        #expect(viewed.items.first == ["login_success", "logout", nil, "2026-12-06T10:00:00Z"])
    }

    /// Records under a nested member (Duo's `response.authlogs`) or as the whole answer (Okta's
    /// list) keep their exact bytes, and the members beside them are parsed.
    @Test func pagesAtAnyDepthKeepEachRecordsBytes() throws {
        let nested = Array(#"{"stat": "OK", "response": {"authlogs": [ {"txid": "a", "n": 1.50} , {"txid": "b"} ], "metadata": {"next_offset": ["1", "b"]}}}"#.utf8)
        let page = try JSONPage.map(nested, itemsPath: ["response", "authlogs"]) { view, raw in
            (view["txid"]?.stringValue, String(decoding: raw, as: UTF8.self))
        }
        #expect(page.hasItems && page.items.map(\.0) == ["a", "b"])
        #expect(page.items.map(\.1) == [#"{"txid": "a", "n": 1.50}"#, #"{"txid": "b"}"#])
        let rest = JSONValue.object(page.fields.map { JSONMember($0.key, $0.value) })
        #expect(rest.value(at: FieldPath("response.metadata.next_offset.1"))?.stringValue == "b")
        #expect(rest.value(at: FieldPath("response.authlogs")) == nil && rest["stat"]?.stringValue == "OK")

        let list = try JSONPage.map(Array(#"[ {"uuid": "x"},{"uuid":"y"} ]"#.utf8), itemsPath: []) { _, raw in String(decoding: raw, as: UTF8.self) }
        #expect(list.items == [#"{"uuid": "x"}"#, #"{"uuid":"y"}"#])

        // The path leads nowhere, or to something that is not a list: no items, nothing thrown.
        #expect(try JSONPage.map(nested, itemsPath: ["response", "items"]) { _, _ in 0 }.hasItems == false)
        #expect(try JSONPage.map(nested, itemsPath: ["response", "metadata"]) { _, _ in 0 }.hasItems == false)
        #expect(throws: JSONSyntaxError.self) { try JSONPage.map(nested, itemsPath: []) { _, _ in 0 } }
        #expect(throws: JSONSyntaxError.self) { try JSONPage.map(Array("[1] 2".utf8), itemsPath: []) { _, _ in 0 } }
    }

    /// Slack's target is the entity named by its type (`entity.user.id`); Google's action is its
    /// first event's name; Duo's administrator log names its target `object`.
    @Test func presetNormalizersFindActorActionAndTarget() throws {
        let slack = HTTPPullPreset.slackAuditLogs(name: "s", baseURL: "https://api.slack.com", token: "t").normalizer
        let entry = try JSONParser.parse(Array(#"""
            {"id":"e1","date_create":1765000000,"action":"file_downloaded","actor":{"type":"user","user":{"id":"W1","name":"ann","email":"ann@example.com"}},
             "entity":{"type":"file","file":{"id":"F9","name":"plan.pdf","filetype":"pdf"}},"context":{"ip_address":"203.0.113.9","ua":"Mozilla"}}
            """#.utf8))
        let s = slack.normalize(entry, receivedAt: Timestamp(microseconds: 0))
        #expect(s.action == "file_downloaded" && s.actor == AuditActor(type: "user", id: "W1", name: "ann@example.com"))
        #expect(s.targets == [AuditTarget(type: "file", id: "F9", name: "plan.pdf")])
        #expect(s.context.location == "203.0.113.9" && s.context.userAgent == "Mozilla")
        #expect(s.occurredAt == Timestamp(microseconds: 1_765_000_000_000_000))

        let account = try GoogleTestAccount()
        let key = try GoogleServiceAccountKey(json: Array(account.keyFile(tokenURI: "https://oauth2.googleapis.com/token").utf8))
        let google = HTTPPullPreset.googleWorkspaceReports(name: "g", baseURL: "https://admin.googleapis.com", key: key, subject: "a@example.com").normalizer
        let activity = try JSONParser.parse(Array(#"""
            {"kind":"admin#reports#activity","id":{"time":"2026-12-06T10:00:00.000Z","uniqueQualifier":"-1","applicationName":"login","customerId":"C1"},
             "actor":{"email":"bob@example.com","profileId":"1001","callerType":"USER"},"ipAddress":"2001:db8::1",
             "events":[{"type":"login","name":"login_failure"}]}
            """#.utf8))
        let g = google.normalize(activity, receivedAt: Timestamp(microseconds: 0))
        #expect(g.action == "login_failure" && g.actor == AuditActor(type: "USER", id: "1001", name: "bob@example.com"))
        #expect(g.targets == [AuditTarget(type: "login", id: "", name: "login")])
        #expect(g.context.location == "2001:db8::1")

        let duo = HTTPPullPreset.duoAdminLogs(name: "d", baseURL: "https://api-1.duosecurity.com", signer: DuoRequestSigner(integrationKey: "i", secretKey: "s"))
            .normalizer
        let admin = try JSONParser.parse(Array(#"{"action":"user_update","object":"jdoe","timestamp":1765000000,"username":"Admin 1"}"#.utf8))
        let d = duo.normalize(admin, receivedAt: Timestamp(microseconds: 0))
        #expect(d.action == "user_update" && d.actor?.name == "Admin 1" && d.targets.first?.name == "jdoe")
    }
}
