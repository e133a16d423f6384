import Foundation
import SluiceApp
import SluiceCore
import SluiceDestinations
import SluiceEngine
import SluiceHTTP
import SluiceIntegrity
import SluiceSources
import SluiceStorePostgres
import SluiceStoreSQLite
import SluiceTesting
import Testing

@Suite struct ConfigLoaderTests {
    let environment = [
        "SLUICE_ADMIN_TOKEN": "a", "INCIDENT_IO_FEED_SECRET": "s1", "SCI_WEBHOOK_SECRET": "whsec_c2VjcmV0LWtleQ==",
        "INCYDR_CLIENT_ID": "cid", "INCYDR_CLIENT_SECRET": "csecret",
    ]

    @Test func designSampleKeysLoad() throws {
        // The stable keys of DESIGN.md's sample, with the service-account key file where it names one.
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let keyPath = directory.path + "/gcs-sa.json"
        try GoogleTestAccount().keyFile(tokenURI: "https://oauth2.googleapis.com/token").write(toFile: keyPath, atomically: true, encoding: .utf8)
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
            destinations:
              chronicle:
                type: chronicle_webhook
                url: "https://us-chronicle.googleapis.com/v1alpha/projects/P/locations/us/instances/I/feeds/F:importPushLogs"
                api_key: "${env:CHRONICLE_API_KEY}"
                secret: "${env:CHRONICLE_FEED_SECRET}"
              archive:
                type: gcs
                bucket: code42-incydr-logs
                prefix: code42/
                credentials_file: \(keyPath)
            routes:
              - { from: [incydr], to: [archive, chronicle] }
              - { from: [incident-io], to: [chronicle] }
            """
        var env = environment
        env["CHRONICLE_API_KEY"] = "k"
        env["CHRONICLE_FEED_SECRET"] = "fs"
        let config = try ConfigLoader(environment: env).load(yaml: yaml)
        #expect(config.feeds.map(\.name).sorted() == ["incident-io", "sci-alerts"])
        #expect(config.server.listen == ListenAddress(host: "127.0.0.1", port: 8080))
        #expect(config.server.adminTokens.first?.token == "a")
        #expect(config.retention.days == 365)
        #expect(config.warnings.isEmpty)
        #expect(config.destinations.map(\.name) == ["chronicle", "archive"])
        guard case .gcs(let gcs, let grant) = config.destinations[1].kind else { Issue.record("archive is not GCS"); return }
        #expect(gcs.bucket == "code42-incydr-logs" && gcs.layout.prefix == "code42/" && gcs.endpoint == "https://storage.googleapis.com")
        #expect(grant.scope == GoogleJWTGrant.storageReadWriteScope && grant.key.tokenURI == "https://oauth2.googleapis.com/token")
        #expect(config.routes.map(\.from) == [["incydr"], ["incident-io"]])
        #expect(config.collectors.map(\.name) == ["incydr"])
        #expect(config.collectors[0].incydr?.lookback == .seconds(3_600))
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

    @Test func postgresStorageLoadsFromASecretReference() throws {
        let yaml = """
            storage:
              postgres: { url: "${env:PG_URL}", schema: sluice_prod, pool_size: 24, timeout: 3s }
            feeds:
              default: { secret: "${env:INCIDENT_IO_FEED_SECRET}" }
            """
        let config = try ConfigLoader(environment: environment.merging(["PG_URL": "postgres://app:pg-pass@db:5433/telemetry?sslmode=require"]) { $1 }).load(yaml: yaml)
        let postgres = try #require(config.storage.postgres)
        #expect(postgres.host == "db" && postgres.port == 5433 && postgres.database == "telemetry" && postgres.password == "pg-pass")
        #expect(postgres.schema == "sluice_prod" && postgres.poolSize == 24 && postgres.timeout == .seconds(3) && postgres.tls == .require)
        // Several instances would each sign with a key of their own: say so.
        #expect(config.warnings.map(\.path) == ["integrity.key_file"])
        let shared = try ConfigLoader(environment: environment.merging(["PG_URL": "postgres://app:pg-pass@db:5433/telemetry"]) { $1 })
            .load(yaml: yaml + "\nintegrity: { key_file: /etc/sluice/integrity.key, interval: 30s }\n")
        #expect(shared.warnings.isEmpty && shared.integrity.keyFile == "/etc/sluice/integrity.key" && shared.integrity.interval == .seconds(30))
        #expect(throws: ConfigErrors.self) { try ConfigLoader(environment: environment).load(yaml: "integrity: { interval: never }\n") }
        // The key by reference (one shared secret for every instance), and old keys after a rotation.
        let key = IntegrityKey()
        let old = IntegrityKey().publicKey
        let byReference = try ConfigLoader(environment: environment.merging(["PG_URL": "postgres://app@db/t", "SIGNING": key.fileText]) { $1 })
            .load(yaml: yaml + "\nintegrity: { key: \"${env:SIGNING}\", trusted_keys: [\"\(old.base64)\"] }\n")
        #expect(byReference.warnings.isEmpty)
        #expect(try byReference.integritySigningKey(create: false)?.key.publicKey == key.publicKey)
        #expect(byReference.integrityTrustedKeys(own: key.publicKey) == [key.publicKey, old])
        // The base64 line alone is a key too.
        let line = String(key.fileText.split(separator: "\n")[1])
        let bare = try ConfigLoader(environment: ["SIGNING": line]).load(yaml: "integrity: { key: \"${env:SIGNING}\" }\n")
        #expect(try bare.integritySigningKey(create: false)?.key.publicKey == key.publicKey)
        for (wrong, path) in [
            ("integrity: { key: \"${env:SIGNING}\", key_file: /k }\n", "integrity.key"),
            ("integrity: { trusted_keys: [\"not-a-key\"] }\n", "integrity.trusted_keys[0]"),
            ("integrity: { trusted_keys: abc }\n", "integrity.trusted_keys"),
            ("integrity: { key: \"${env:UNSET_SIGNING}\" }\n", "integrity.key"),
        ] {
            #expect(performing: { try ConfigLoader(environment: ["SIGNING": line]).load(yaml: wrong) }, throws: { error in
                (error as? ConfigErrors)?.issues.map(\.path) == [path]
            })
        }
        // A referenced value that is not a key is refused naming the setting, never echoing the value.
        let notAKey = try ConfigLoader(environment: ["SIGNING": "hunter2-not-a-key"]).load(yaml: "integrity: { key: \"${env:SIGNING}\" }\n")
        let refusal = #expect(throws: IntegrityKeyError.self) { try notAKey.integritySigningKey(create: false) }
        #expect(refusal?.message.contains("integrity.key") == true && refusal?.message.contains("hunter2") == false)
        let bad = """
            storage:
              postgres: { url: "${env:PG_URL}", pool_size: 1 }
            feeds:
              default: { secret: "${env:INCIDENT_IO_FEED_SECRET}" }
            """
        #expect {
            _ = try ConfigLoader(environment: environment.merging(["PG_URL": "postgres://app:pg-pass@db/"]) { $1 }).load(yaml: bad)
        } throws: { error in
            guard let errors = error as? ConfigErrors else { return false }
            #expect(Set(errors.issues.map(\.path)) == ["storage.postgres.pool_size", "storage.postgres.url"], "\(errors)")
            #expect(!errors.description.contains("pg-pass"), "the password never appears in an error")
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

@Suite struct DestinationConfigTests {
    let environment = ["FEED": "s", "HEC_TOKEN": "hec-secret", "AWS_KEY": "AKID", "AWS_SECRET": "aws-secret"]

    static func issues(_ yaml: String, _ environment: [String: String]) -> [ConfigIssue] {
        do {
            _ = try ConfigLoader(environment: environment).load(yaml: yaml)
            return []
        } catch {
            return error.issues
        }
    }

    @Test func everyDestinationTypeLoadsWithItsSettings() throws {
        let yaml = """
            feeds:
              incident-io: { log_type: INCIDENT_IO, secret: "${env:FEED}" }
            destinations:
              splunk:
                type: splunk_hec
                url: https://splunk.example.com:8088
                token: "${env:HEC_TOKEN}"
                index: security
                acknowledgement: true
                batch: { max_events: 500, max_bytes: 512KiB, max_wait: 250ms }
                concurrency: 4
                retry: { base_delay: 2s, max_delay: 5m, max_attempts: 100 }
              bucket:
                type: s3
                bucket: audit-logs
                region: eu-west-1
                endpoint: http://127.0.0.1:9000
                allow_private_networks: true
                access_key_id: "${env:AWS_KEY}"
                secret_access_key: "${env:AWS_SECRET}"
                prefix: incident/
                format: json
                gzip: true
              hook:
                type: https
                url: https://collector.example.com/ingest
                format: json_array
                headers: { X-Team: secops }
                bearer_token: "${env:HEC_TOKEN}"
              disk:
                type: file
                path: /var/lib/sluice/out
                max_file_size: 10MiB
                max_file_age: 1h
              secops:
                type: chronicle_import
                credentials_file: "${env:SA_JSON}"
                region: europe-west3
                project: "123456789"
                instance: 3b7a442e-0000-4000-8000-000000000001
                log_type: INCIDENT_IO
                namespace: prod
                labels: { source: sluice }
            routes:
              - { from: [incident-io], to: [splunk, bucket, hook, disk, secops], actions: [user.created] }
            """
        var environment = environment
        environment["SA_JSON"] = try GoogleTestAccount().keyFile(tokenURI: "https://oauth2.googleapis.com/token")
        let config = try ConfigLoader(environment: environment).load(yaml: yaml)
        #expect(config.destinations.map(\.name).sorted() == ["bucket", "disk", "hook", "secops", "splunk"])
        let secops = try #require(config.destinations.first { $0.name == "secops" })
        guard case .chronicleImport(let chronicle, let grant) = secops.kind else { Issue.record("secops is not chronicle_import"); return }
        #expect(chronicle.endpoint == "https://europe-west3-chronicle.googleapis.com" && chronicle.location == "europe-west3")
        #expect(chronicle.logType == "INCIDENT_IO" && chronicle.namespace == "prod" && chronicle.labels.map(\.0) == ["source"])
        #expect(chronicle.limits.maxBytes <= ChronicleImportDestination.maxRequestBytes && grant.scope == GoogleJWTGrant.cloudPlatformScope)
        let splunk = try #require(config.destinations.first { $0.name == "splunk" })
        #expect(splunk.delivery.concurrency == 4 && splunk.delivery.maxWait == .milliseconds(250) && splunk.delivery.maxAttempts == 100)
        #expect(splunk.delivery.backoff.cap == .seconds(300))
        guard case .splunkHEC(let hec) = splunk.kind else { Issue.record("splunk is not HEC"); return }
        #expect(hec.acknowledgement && hec.index == "security" && hec.limits == BatchLimits(maxEvents: 500, maxBytes: 512 << 10))
        #expect(hec.channel.count == 36, "a stable channel GUID is derived from the name")
        let bucket = try #require(config.destinations.first { $0.name == "bucket" })
        guard case .s3(let s3) = bucket.kind else { Issue.record("bucket is not S3"); return }
        #expect(bucket.allowPrivateNetworks && s3.pathStyle && s3.layout == ObjectLayout(prefix: "incident/", format: .json, gzip: true))
        #expect(config.routes.first?.actions == ["user.created"])
    }

    /// The `https` destination's OAuth2 token URL passes the destination's SSRF guard like its URL:
    /// a loopback token endpoint without `allow_private_networks` is never contacted, and the
    /// destination pauses with the guard's reason.
    @Test func theHTTPSDestinationsTokenURLPassesItsGuard() async throws {
        let double = IncydrTestDouble()  // its /v1/oauth is a client-credentials token endpoint
        try await double.withServer { base in
            let yaml = """
                feeds:
                  incident-io: { log_type: INCIDENT_IO, secret: "${env:FEED}" }
                destinations:
                  hook:
                    type: https
                    url: https://ingest.invalid/events
                    oauth2: { token_url: "\(base)/v1/oauth", client_id: \(double.clientID), client_secret: \(double.clientSecret) }
                routes:
                  - { from: [incident-io], to: [hook] }
                """
            let config = try ConfigLoader(environment: environment).load(yaml: yaml)
            let hook = try #require(SluiceRuntime.makeDestinations(config, now: SluiceRuntimeClock.now).first)
            let now = SluiceRuntimeClock.now()
            let event = OutboundEvent(seq: 1, source: "incident-io", logType: "INCIDENT_IO", action: "a", occurredAt: now, receivedAt: now, raw: Array(#"{"a":1}"#.utf8))
            let outcome = await hook.destination.send([event])
            guard case .unauthorized(let reason) = outcome else {
                Issue.record("expected a pause for the refused token URL, got \(outcome)")
                return
            }
            #expect(reason.contains("allow_private_networks"), "\(reason)")
            #expect(double.stats.tokenRequests == 0, "the token endpoint was contacted")
        }
    }

    /// `max_wait: 0s` says "do not wait"; a zero retry delay says nothing sensible and is refused by name.
    @Test func zeroIsADurationOnlyWhereItMeansNone() throws {
        let yaml = """
            feeds:
              incident-io: { log_type: INCIDENT_IO, secret: "${env:FEED}" }
            destinations:
              now: { type: file, path: /tmp/out, batch: { max_wait: 0s } }
              now-ms: { type: file, path: /tmp/out2, batch: { max_wait: 0ms } }
            routes:
              - { from: [incident-io], to: [now, now-ms] }
            """
        let config = try ConfigLoader(environment: environment).load(yaml: yaml)
        #expect(config.destinations.map(\.delivery.maxWait) == [.zero, .zero])
        let refused = Self.issues(yaml.replacingOccurrences(of: "batch: { max_wait: 0s }", with: "retry: { base_delay: 0s }"), environment)
        #expect(refused.map(\.path) == ["destinations.now.retry.base_delay"])
        #expect(refused.first?.message.contains("longer than 0s") == true, "\(refused)")
    }

    @Test func theAuditSourceIsRoutableAndReserved() {
        let yaml = """
            feeds:
              sluice: { log_type: INCIDENT_IO, secret: "${env:FEED}" }
              incident-io: { log_type: INCIDENT_IO, secret: "${env:FEED}" }
            destinations:
              disk: { type: file, path: /tmp/out }
            routes:
              - { from: [incident-io, sluice], to: [disk] }
            """
        let issues = Self.issues(yaml, environment)
        #expect(issues.map(\.path) == ["feeds.sluice"], "the route from sluice is fine; a feed of that name is not")
        #expect(issues.first?.message.contains("Sluice's own audit log") == true)
    }

    @Test func destinationErrorsNameTheirPaths() {
        let yaml = """
            feeds:
              incident-io: { log_type: INCIDENT_IO, secret: "${env:FEED}" }
            destinations:
              archive: { type: gcs, bucket: b }
              secops: { type: chronicle_import, credentials_file: /no/such/key.json, project: "123" }
              badkey: { type: gcs, bucket: b, credentials_file: "${env:FEED}" }
              chronicle: { type: chronicle_webhook, url: "ftp://x", secret: "${env:NOPE}" }
              splunk: { type: splunk_hec, url: "https://s:8088", token: t, batch: { max_bytes: lots } }
              web: { type: chronicle_webhook, url: "https://x.example.com/f:importPushLogs", secret: s, batch: { max_bytes: 4MB } }
            routes:
              - { from: [incident-io, nowhere], to: [splunk, missing] }
            """
        let paths = Self.issues(yaml, environment).map(\.path)
        #expect(paths.contains("destinations.archive.credentials_file"))
        #expect(paths.contains("destinations.secops.credentials_file"))
        #expect(paths.contains("destinations.secops.instance"))
        #expect(paths.contains("destinations.secops.region"))
        #expect(paths.contains("destinations.badkey.credentials_file"))
        #expect(paths.contains("destinations.chronicle.url"))
        #expect(paths.contains("destinations.chronicle.secret"))
        #expect(paths.contains("destinations.splunk.batch.max_bytes"))
        #expect(paths.contains("destinations.web.batch.max_bytes"))
        #expect(paths.filter { $0 == "routes[0].from" }.count == 1)
        #expect(paths.filter { $0 == "routes[0].to" }.count == 1)
        let messages = Self.issues(yaml, environment).map(\.message).joined(separator: "\n")
        #expect(messages.contains("cannot read /no/such/key.json"))
        #expect(messages.contains("cannot read s;"), "a reference whose value is not JSON is read as a path")
        #expect(messages.contains("\"nowhere\"") && messages.contains("\"missing\""))
    }
}
