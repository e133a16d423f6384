import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import SluiceApp
import SluiceCore
import SluiceServer
import SluiceStorePostgres
import SluiceStoreSQLite
import SluiceTesting
import Testing

/// Admin tokens and feed secrets issued, rotated and revoked through the API over real HTTP:
/// what each credential can do afterwards, the audit entry of each change, and that no value
/// leaks into the audit log, the lists or the logs.
@Suite struct CredentialTests {
    static let admin: HTTPFields = [.authorization: "Bearer \(TestSluice.adminToken)", .userAgent: "ops-console/2.0"]

    static func bearer(_ token: String) -> HTTPFields { [.authorization: "Bearer \(token)", .userAgent: "ops-console/2.0"] }

    static func json(_ response: TestResponse) throws -> JSONValue {
        try JSONParser.parse(Array(response.body.readableBytesView))
    }

    static func push(_ client: some TestClientProtocol, secret: String, feed: String = "default") async throws -> HTTPResponse.Status {
        try await client.execute(
            uri: "/v1/feeds/\(feed)/events", method: .post, headers: [HTTPField.Name("X-Webhook-Access-Key")!: secret],
            body: ByteBuffer(string: "{\"id\":\"\(UUID().uuidString)\"}")
        ).status
    }

    /// Audit entries of `action`, oldest first.
    static func entries(_ store: any SluiceStorage, _ action: String) async throws -> [StoredEvent] {
        try await store.events(matching: EventFilter(source: AdminAuditEntry.source), after: nil, limit: 1_000).events
            .filter { $0.normalized.action == action }.sorted { $0.seq < $1.seq }
    }

    /// Every audit entry's raw bytes and the server's log, for leak checks.
    static func everythingRecorded(_ sluice: TestSluice) async throws -> String {
        let all = try await sluice.store.events(matching: EventFilter(source: AdminAuditEntry.source), after: nil, limit: 1_000).events
        return all.map { String(decoding: $0.raw, as: UTF8.self) }.joined(separator: "\n") + sluice.allLogText
    }

    /// A Sluice on the embedded default, on a fresh store of `backend`.
    static func withSluice(_ backend: StoreBackend, _ body: (TestSluice) async throws -> Void) async throws {
        try await backend.withStore { store in
            let sluice = try await TestSluice(store: backend == .sqlite ? nil : store)
            defer { sluice.cleanUp() }
            try await body(sluice)
        }
    }

    @Test(arguments: StoreBackend.available) func anIssuedViewerTokenReadsCannotChangeAndStopsWorkingWhenRevoked(_ backend: StoreBackend) async throws {
        try await Self.withSluice(backend) { sluice in
            let token = try await sluice.withLiveServer { client in
                let created = try await client.execute(
                    uri: "/v1/admin-tokens", method: .post, headers: Self.admin, body: ByteBuffer(string: #"{"name": "alice", "role": "viewer"}"#)
                )
                #expect(created.status == .created && created.headers[.cacheControl] == "no-store")
                let body = try Self.json(created)
                let token = try #require(body["token"]?.stringValue)
                #expect(token.hasPrefix("sluice_admin_") && body["role"]?.stringValue == "viewer")

                #expect(try await client.execute(uri: "/v1/events", method: .get, headers: Self.bearer(token)).status == .ok)
                let refused = try await client.execute(
                    uri: "/v1/feeds/default/secrets", method: .post, headers: Self.bearer(token), body: ByteBuffer(string: "{}")
                )
                #expect(refused.status == .forbidden && String(buffer: refused.body).contains("viewer role"))

                // Same name again, bad names and roles: refused, nothing issued.
                let again = try await client.execute(uri: "/v1/admin-tokens", method: .post, headers: Self.admin, body: ByteBuffer(string: #"{"name": "alice"}"#))
                #expect(again.status == .conflict && String(buffer: again.body).contains("already exists"))
                let badName = try await client.execute(uri: "/v1/admin-tokens", method: .post, headers: Self.admin, body: ByteBuffer(string: #"{"name": "a b"}"#))
                #expect(badName.status == .badRequest && String(buffer: badName.body).contains("not valid"))
                let badRole = try await client.execute(
                    uri: "/v1/admin-tokens", method: .post, headers: Self.admin, body: ByteBuffer(string: #"{"name": "carol", "role": "root"}"#)
                )
                #expect(badRole.status == .badRequest && String(buffer: badRole.body).contains("admin or viewer"))

                let list = try await client.execute(uri: "/v1/admin-tokens", method: .get, headers: Self.bearer(token))
                let listed = try #require(try Self.json(list)["admin_tokens"]?.arrayValue)
                #expect(listed.compactMap { $0["name"]?.stringValue } == ["admin", "alice"])
                #expect(!String(buffer: list.body).contains(token) && !String(buffer: list.body).contains(TestSluice.adminToken))

                let revoked = try await client.execute(uri: "/v1/admin-tokens/alice", method: .delete, headers: Self.admin)
                #expect(revoked.status == .ok)
                #expect(try await client.execute(uri: "/v1/events", method: .get, headers: Self.bearer(token)).status == .unauthorized)
                #expect(try await client.execute(uri: "/v1/admin-tokens/alice", method: .delete, headers: Self.admin).status == .notFound)
                let state = try Self.json(try await client.execute(uri: "/v1/admin-tokens", method: .get, headers: Self.admin))
                let alice = try #require(state["admin_tokens"]?.arrayValue?.first { $0["name"]?.stringValue == "alice" })
                #expect(alice["state"]?.stringValue == "revoked" && alice["revoked_by"]?.stringValue == "token:admin")
                return token
            }
            let created = try await Self.entries(sluice.store, "admin_token.created").filter { $0.normalized.actor?.type == "user" }
            #expect(created.count == 1)
            #expect(created.first?.normalized.actor == AdminAuditEntry.user("admin"))
            #expect(created.first?.normalized.targets == [AuditTarget(type: "admin_token", id: "alice")])
            #expect(created.first?.normalized.context == AuditContext(location: "127.0.0.1", userAgent: "ops-console/2.0"))
            let revokedEntries = try await Self.entries(sluice.store, "admin_token.revoked")
            #expect(revokedEntries.count == 1 && revokedEntries.first?.normalized.targets == [AuditTarget(type: "admin_token", id: "alice")])
            let recorded = try await Self.everythingRecorded(sluice)
            #expect(!recorded.contains(token) && !recorded.contains(TestSluice.adminToken))
        }
    }

    @Test func theLastAdminTokenCannotBeRevokedButCanBeReplaced() async throws {
        let sluice = try await TestSluice()
        defer { sluice.cleanUp() }
        try await sluice.withLiveServer { client in
            let last = try await client.execute(uri: "/v1/admin-tokens/admin", method: .delete, headers: Self.admin)
            #expect(last.status == .conflict && String(buffer: last.body).contains("last active token with the admin role"))
            let bob = try Self.json(try await client.execute(
                uri: "/v1/admin-tokens", method: .post, headers: Self.admin, body: ByteBuffer(string: #"{"name": "bob", "role": "admin"}"#)
            ))
            let bobToken = try #require(bob["token"]?.stringValue)
            #expect(try await client.execute(uri: "/v1/admin-tokens/admin", method: .delete, headers: Self.bearer(bobToken)).status == .ok)
            #expect(try await client.execute(uri: "/v1/events", method: .get, headers: Self.admin).status == .unauthorized)
            #expect(try await client.execute(uri: "/v1/events", method: .get, headers: Self.bearer(bobToken)).status == .ok)
        }
        let revoked = try await Self.entries(sluice.store, "admin_token.revoked")
        #expect(revoked.count == 1 && revoked.first?.normalized.actor == AdminAuditEntry.user("bob"))
        // A restart with the same SLUICE_ADMIN_TOKEN does not bring the revoked token back.
        let restarted = try await SluiceRuntime.prepare(
            sluice.prepared.config, environment: ["SLUICE_ADMIN_TOKEN": TestSluice.adminToken, "SLUICE_DEFAULT_FEED_SECRET": TestSluice.defaultFeedSecret],
            prometheus: nil, logger: sluice.logger
        )
        #expect(restarted.dependencies.credentials.adminTokens(at: SluiceRuntime.systemNow()).map(\.name) == ["bob"])
    }

    @Test(arguments: StoreBackend.available) func aRotatedFeedSecretKeepsTheOldOneForTheGracePeriodAndARevocationEndsItAtOnce(_ backend: StoreBackend) async throws {
        try await Self.withSluice(backend) { sluice in
            let old = TestSluice.defaultFeedSecret
            let (second, third) = try await sluice.withLiveServer { client in
                let rotated = try await client.execute(
                    uri: "/v1/feeds/default/secrets", method: .post, headers: Self.admin, body: ByteBuffer(string: #"{"grace": "1h"}"#)
                )
                #expect(rotated.status == .created && rotated.headers[.cacheControl] == "no-store")
                let body = try Self.json(rotated)
                let second = try #require(body["secret"]?["value"]?.stringValue)
                let retiring = try #require(body["retiring"]?.arrayValue)
                #expect(retiring.count == 1)
                let oldID = try #require(retiring.first?["id"]?.textValue)
                #expect(try await Self.push(client, secret: old) == .ok, "the old secret works during the grace period")
                #expect(try await Self.push(client, secret: second) == .ok)

                let list = try await client.execute(uri: "/v1/feeds/default/secrets", method: .get, headers: Self.admin)
                let states = try #require(try Self.json(list)["secrets"]?.arrayValue).compactMap { $0["state"]?.stringValue }
                #expect(states == ["expiring", "active"])
                #expect(!String(buffer: list.body).contains(second) && !String(buffer: list.body).contains(old))

                #expect(try await client.execute(uri: "/v1/feeds/default/secrets/\(oldID)", method: .delete, headers: Self.admin).status == .ok)
                #expect(try await Self.push(client, secret: old) == .unauthorized)
                #expect(try await Self.push(client, secret: second) == .ok)
                #expect(try await client.execute(uri: "/v1/feeds/default/secrets/\(oldID)", method: .delete, headers: Self.admin).status == .notFound)

                // No grace: the second secret stops at once.
                let immediate = try Self.json(try await client.execute(
                    uri: "/v1/feeds/default/secrets", method: .post, headers: Self.admin, body: ByteBuffer(string: #"{"grace": "0s"}"#)
                ))
                let third = try #require(immediate["secret"]?["value"]?.stringValue)
                #expect(try await Self.push(client, secret: second) == .unauthorized)
                #expect(try await Self.push(client, secret: third) == .ok)

                let badGrace = try await client.execute(
                    uri: "/v1/feeds/default/secrets", method: .post, headers: Self.admin, body: ByteBuffer(string: #"{"grace": "forever"}"#)
                )
                #expect(badGrace.status == .badRequest && String(buffer: badGrace.body).contains("0s to 30d"))
                let unknown = try await client.execute(uri: "/v1/feeds/nope/secrets", method: .post, headers: Self.admin, body: ByteBuffer(string: "{}"))
                #expect(unknown.status == .notFound && String(buffer: unknown.body).contains("no feed named \\\"nope\\\""))
                return (second, third)
            }
            let rotations = try await Self.entries(sluice.store, "feed.secret_rotated")
            #expect(rotations.count == 2)
            #expect(rotations.allSatisfy { $0.normalized.targets == [AuditTarget(type: "feed", id: "default")] && $0.normalized.actor == AdminAuditEntry.user("admin") })
            #expect(rotations.allSatisfy { $0.normalized.context == AuditContext(location: "127.0.0.1", userAgent: "ops-console/2.0") })
            #expect(try await Self.entries(sluice.store, "feed.secret_revoked").count == 1)
            let recorded = try await Self.everythingRecorded(sluice)
            for value in [old, second, third] { #expect(!recorded.contains(value)) }
            // The rotation survives a restart.
            let restarted = try await SluiceRuntime.prepare(
                sluice.prepared.config, store: sluice.store,
                environment: ["SLUICE_ADMIN_TOKEN": TestSluice.adminToken, "SLUICE_DEFAULT_FEED_SECRET": TestSluice.defaultFeedSecret],
                prometheus: nil, logger: sluice.logger
            )
            let accepted = restarted.dependencies.credentials.feedSecrets("default", at: SluiceRuntime.systemNow())
            #expect(accepted.count == 1 && accepted.first?.matches(third) == true)
        }
    }

    @Test func signedWebhookFeedsAreRotatedInTheConfigAndConfiguredSecretsStayValid() async throws {
        let sluice = try await TestSluice(yaml: """
            storage: { sqlite: { path: "{{DIR}}/sluice.db" } }
            feeds:
              signed: { log_type: INCIDENT_IO, verify: { standard_webhooks: { secrets: ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"] } } }
              shared: { log_type: INCIDENT_IO, secret: "configured-secret-0123456789" }
            """)
        defer { sluice.cleanUp() }
        try await sluice.withLiveServer { client in
            let signed = try await client.execute(uri: "/v1/feeds/signed/secrets", method: .post, headers: Self.admin, body: ByteBuffer(string: "{}"))
            #expect(signed.status == .conflict && String(buffer: signed.body).contains("config file"))
            let shared = try Self.json(try await client.execute(uri: "/v1/feeds/shared/secrets", method: .post, headers: Self.admin, body: ByteBuffer(string: #"{"grace":"0"}"#)))
            let issued = try #require(shared["secret"]?["value"]?.stringValue)
            #expect(shared["configured_secrets"]?.stringValue?.contains("1 secret(s) from the config file") == true)
            #expect(try await Self.push(client, secret: issued, feed: "shared") == .ok)
            #expect(try await Self.push(client, secret: "configured-secret-0123456789", feed: "shared") == .ok)
        }
        #expect(try await Self.entries(sluice.store, "feed.secret_created").filter { $0.normalized.actor?.type == "user" }.count == 1)
    }

    @Test func revokingATokenEndsItsWebSessionsAndFailedSignInsAreSummarized() async throws {
        let sluice = try await TestSluice()
        defer { sluice.cleanUp() }
        try await sluice.withLiveServer { client in
            let carol = try Self.json(try await client.execute(
                uri: "/v1/admin-tokens", method: .post, headers: Self.admin, body: ByteBuffer(string: #"{"name": "carol", "role": "viewer"}"#)
            ))
            let token = try #require(carol["token"]?.stringValue)
            let session = try await WebUITests.signIn(client, token: token)
            #expect(try await client.execute(uri: "/ui/events", method: .get, headers: [.cookie: session.cookie]).status == .ok)
            #expect(try await client.execute(uri: "/v1/admin-tokens/carol", method: .delete, headers: Self.admin).status == .ok)
            let after = try await client.execute(uri: "/ui/events", method: .get, headers: [.cookie: session.cookie])
            #expect(after.status == .seeOther && after.headers[.location] == "/ui/sign-in")

            for _ in 0..<50 {
                let page = try await client.execute(uri: "/ui/sign-in", method: .get)
                let pre = try #require(WebUITests.cookie("sluice_signin", in: page))
                let csrf = try #require(WebUITests.hiddenCSRF(String(buffer: page.body)))
                var headers = WebUITests.formType
                headers[.cookie] = "sluice_signin=\(pre.value)"
                let refused = try await client.execute(
                    uri: "/ui/sign-in", method: .post, headers: headers, body: WebUITests.form([("csrf", csrf), ("token", "guess-\(UUID().uuidString)")])
                )
                #expect(refused.status == .unauthorized)
            }
        }
        let failures = try await Self.entries(sluice.store, "ui.sign_in_failed")
        #expect(failures.count == 1, "50 failed sign-ins from one address in one window: one summary")
        #expect(failures.first?.normalized.context.location == "127.0.0.1")
    }
}

/// The CLI's `token` and `feed … secret` commands against the store of a running server.
@Suite struct CredentialCommandLineTests {
    @Test func commandLineChangesReachARunningServerAndAreRecordedWithTheLogin() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: SluiceCommandLine.binary), "build the sluice executable first (swift build --build-tests)")
        let yaml = """
            feeds:
              incident-io: { log_type: INCIDENT_IO, secret: "${env:FEED_SECRET}" }
            """
        let sluice = try await TestSluice(yaml: yaml, environment: ["FEED_SECRET": "configured-feed-secret-value"])
        defer { sluice.cleanUp() }
        let config = sluice.directory.path + "/sluice.yaml"
        try yaml.write(toFile: config, atomically: true, encoding: .utf8)
        let cli = SluiceCommandLine(
            trailingArguments: ["--config", config, "--data-dir", sluice.directory.path, "--log-level", "critical"],
            environment: ["FEED_SECRET": "configured-feed-secret-value", "USER": "dana"], outputDirectory: sluice.directory.path
        )
        let issuedValues = try await sluice.withLiveServer { client -> [String] in
            let created = try await cli.run(["token", "create", "ops-bot", "--role", "admin"])
            #expect(created.status == 0)
            let token = try #require(try JSONParser.parse(Array(created.output.utf8))["token"]?.stringValue)
            #expect(try await eventually(limit: .seconds(30)) {
                try await client.execute(uri: "/v1/events", method: .get, headers: CredentialTests.bearer(token)).status == .ok
            }, "the server accepts a token the CLI issued")

            let rotated = try await cli.run(["feed", "rotate-secret", "incident-io", "--grace", "0s"])
            #expect(rotated.status == 0)
            let parsed = try JSONParser.parse(Array(rotated.output.utf8))
            let secret = try #require(parsed["secret"]?["value"]?.stringValue)
            let id = try #require(parsed["secret"]?["id"]?.textValue)
            #expect(try await eventually(limit: .seconds(30)) { try await CredentialTests.push(client, secret: secret, feed: "incident-io") == .ok })
            #expect(try await CredentialTests.push(client, secret: "configured-feed-secret-value", feed: "incident-io") == .ok, "the config file's secret stays")

            let listed = try await cli.run(["feed", "secrets", "incident-io"])
            #expect(listed.status == 0 && listed.output.contains("\"state\":\"active\"") && !listed.output.contains(secret))
            #expect(try await cli.run(["feed", "rotate-secret", "nope"]).status == 2)
            #expect(try await cli.run(["feed", "rotate-secret", "incident-io", "--grace", "soon"]).status == 2)
            #expect(try await cli.run(["token", "create", "ops-bot"]).status == 2, "the name is taken")
            #expect(try await cli.run(["token", "create", "x", "--role", "root"]).status == 2)

            #expect(try await cli.run(["feed", "revoke-secret", "incident-io", id]).status == 0)
            #expect(try await cli.run(["token", "revoke", "ops-bot"]).status == 0)
            #expect(try await eventually(limit: .seconds(30)) {
                try await client.execute(uri: "/v1/events", method: .get, headers: CredentialTests.bearer(token)).status == .unauthorized
            })
            #expect(try await eventually(limit: .seconds(30)) { try await CredentialTests.push(client, secret: secret, feed: "incident-io") == .unauthorized })
            return [token, secret]
        }
        let entries = try await sluice.store.events(matching: EventFilter(source: AdminAuditEntry.source), after: nil, limit: 100).events
            .filter { $0.normalized.actor == AdminAuditEntry.console("dana") }
        #expect(entries.map(\.normalized.action).sorted() == ["admin_token.created", "admin_token.revoked", "feed.secret_created", "feed.secret_revoked"])
        #expect(entries.allSatisfy { $0.normalized.context == AuditContext(location: "local", userAgent: "sluice-cli") })
        let raw = entries.map { String(decoding: $0.raw, as: UTF8.self) }.joined()
        #expect(!issuedValues.contains { raw.contains($0) })
    }
}
