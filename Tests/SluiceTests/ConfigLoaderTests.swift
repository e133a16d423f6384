import Foundation
import SluiceApp
import SluiceCore
import SluiceSources
import SluiceStore
import SluiceTesting
import Testing

@Suite struct ConfigLoaderTests {
    let environment = [
        "SLUICE_ADMIN_TOKEN": "a", "INCIDENT_IO_FEED_SECRET": "s1", "SCI_WEBHOOK_SECRET": "whsec_c2VjcmV0LWtleQ==",
        "INCYDR_CLIENT_ID": "cid", "INCYDR_CLIENT_SECRET": "csecret",
    ]

    @Test func designSampleKeysLoad() throws {
        // The stable keys of DESIGN.md's sample (destinations and routes are reported as not yet supported).
        let yaml = """
            storage:
              sqlite: { path: ./sluice-data/sluice.db }
            server:
              listen: 127.0.0.1:8080
              admin_tokens:
                - { name: ops, role: admin, token: "${env:SLUICE_ADMIN_TOKEN}" }
            retention: { days: 365 }
            feeds:
              incident-io:
                log_type: INCIDENT_IO
                secret: "${env:INCIDENT_IO_FEED_SECRET}"
              sci-alerts:
                log_type: CISCO_SCI_ALERT
                verify: { standard_webhooks: { secrets: ["${env:SCI_WEBHOOK_SECRET}"] } }
            collectors:
              incydr:
                type: code42_incydr
                base_url: https://api.us.code42.com
                client_id: "${env:INCYDR_CLIENT_ID}"
                client_secret: "${env:INCYDR_CLIENT_SECRET}"
                streams: [users, audit, cases, file_events]
                schedule: "0 * * * *"
                lookback: 60m
            routes:
              - { from: [incydr], to: [archive] }
            """
        let config = try ConfigLoader(environment: environment).load(yaml: yaml)
        #expect(config.feeds.map(\.name).sorted() == ["incident-io", "sci-alerts"])
        #expect(config.server.listen == ListenAddress(host: "127.0.0.1", port: 8080))
        #expect(config.server.adminTokens.first?.token == "a")
        #expect(config.retention.days == 365)
        #expect(config.warnings.map(\.path) == ["routes"])
        #expect(config.collectors.map(\.name) == ["incydr"])
        #expect(config.collectors[0].incydr.lookback == .seconds(3_600))
        let incident = try #require(config.feeds.first { $0.name == "incident-io" })
        #expect(incident.normalizer.schema == .incidentIO)
    }

    @Test func everyErrorIsReportedWithItsPath() throws {
        let yaml = """
            storage:
              sqlite: { synchronous: sometimes }
            server:
              listen: nowhere
              admin_tokens:
                - { name: ops, role: root, token: "${env:MISSING_TOKEN}" }
            retention: { days: -1 }
            feeds:
              bad name!:
                secret: x
              no-auth:
                log_type: X
              typo:
                secrte: "${env:INCIDENT_IO_FEED_SECRET}"
              both:
                secret: a
                verify: { bearer: { token: b } }
              signed:
                verify: { standard_webhooks: { secrets: ["not base64 !!"] } }
              sized:
                secret: a
                max_body_bytes: lots
                normalizer: magic
            colour: blue
            """
        #expect {
            _ = try ConfigLoader(environment: environment).load(yaml: yaml)
        } throws: { error in
            guard let errors = error as? ConfigErrors else { return false }
            let paths = Set(errors.issues.map(\.path))
            let expected: Set<String> = [
                "storage.sqlite.synchronous", "server.listen", "server.admin_tokens[0].role", "server.admin_tokens[0].token",
                "retention.days", "feeds.bad name!", "feeds.no-auth", "feeds.typo.secrte", "feeds.typo", "feeds.both",
                "feeds.signed.verify.standard_webhooks.secrets[0]", "feeds.sized.max_body_bytes", "feeds.sized.normalizer", "colour",
            ]
            #expect(paths == expected, "\(errors)")
            // Messages never echo a secret value.
            #expect(!errors.description.contains("s1"))
            return true
        }
    }

    @Test func fileReferencesAndDataDirectoryOverride() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let secretPath = directory.path + "/feed-secret"
        try "from-a-file\n".write(toFile: secretPath, atomically: true, encoding: .utf8)
        let yaml = """
            storage: { sqlite: { path: /var/lib/sluice/sluice.db, synchronous: normal, max_size: 10GiB } }
            server: { idle_timeout: 2m }
            feeds:
              f: { secret: "${file:\(secretPath)}", max_body_bytes: 512KiB, max_depth: 16, fields: { action: kind, occurred_at: [meta.when, ts] } }
            """
        let config = try ConfigLoader(environment: [:], dataDirectory: directory.path).load(yaml: yaml)
        #expect(config.storage.sqlite.path == directory.path + "/sluice.db")
        #expect(config.storage.sqlite.durability == .normal)
        #expect(config.server.idleTimeoutSeconds == 120)
        #expect(config.storage.sqlite.maxSizeBytes == Int64(10) * 1024 * 1024 * 1024)
        let feed = try #require(config.feeds.first)
        guard case .sharedSecrets(let secrets) = feed.auth else { Issue.record("expected a shared secret"); return }
        #expect(secrets == ["from-a-file"])
        #expect(feed.limits.maxBodyBytes == 512 * 1024)
        #expect(feed.limits.maxDepth == 16)
        #expect(feed.normalizer.fields.action == [FieldPath("kind")])
        #expect(feed.normalizer.fields.occurredAt == [FieldPath("meta.when"), FieldPath("ts")])
        #expect(throws: ConfigErrors.self) {
            _ = try ConfigLoader(environment: [:]).load(yaml: "feeds: { f: { secret: \"${file:/nonexistent/x}\" } }")
        }
    }

    @Test func listenAddresses() {
        #expect(ListenAddress("0.0.0.0:80") == ListenAddress(host: "0.0.0.0", port: 80))
        #expect(ListenAddress("[::1]:8080") == ListenAddress(host: "::1", port: 8080))
        #expect(ListenAddress("localhost") == nil)
        #expect(ListenAddress("h:99999") == nil)
    }
}
