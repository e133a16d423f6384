import Foundation
import Logging
import SluiceCore
import SluiceDestinations
import SluiceEngine
import SluiceHTTP
import SluiceStorePostgres
import SluiceStoreSQLite
import SluiceTesting
import Testing

/// Service-account tokens, the Chronicle import API and GCS uploads against the loopback Google
/// double over real HTTP (it verifies the RS256 assertion with the account's public key), and
/// GCS objects in gcp-storage-emulator from PyPI.
@Suite struct GoogleDestinationTests {
    static func grant(_ account: GoogleTestAccount, base: String, scope: String = GoogleJWTGrant.cloudPlatformScope) throws -> GoogleJWTGrant {
        GoogleJWTGrant(key: try GoogleServiceAccountKey(json: Array(account.keyFile(tokenURI: base + "/token").utf8)), scope: scope)
    }

    static func tokens(_ grant: GoogleJWTGrant) -> AccessTokenCache {
        AccessTokenCache { try await grant.request(using: .shared) }
    }

    static func chronicleImport(
        _ grant: GoogleJWTGrant, base: String, logType: String? = nil, limits: BatchLimits = BatchLimits(maxEvents: 100, maxBytes: 3_900_000)
    ) -> ChronicleImportDestination {
        let configuration = ChronicleImportDestination.Configuration(
            name: "secops", endpoint: base, project: "123456789", location: "us", instance: "3b7a442e-0000-4000-8000-000000000001", logType: logType,
            namespace: "prod", labels: [("source", "sluice"), ("team", "soc")], limits: limits
        )
        return ChronicleImportDestination(
            configuration: configuration, tokens: tokens(grant), transport: .shared, guardrail: OutboundURLGuard(allowPrivateNetworks: true), timeout: .seconds(5)
        )
    }

    static func gcs(_ grant: GoogleJWTGrant, endpoint: String, bucket: String = "sluice-archive", gzip: Bool = false) -> GCSDestination {
        GCSDestination(
            configuration: .init(
                name: "archive", bucket: bucket, endpoint: endpoint, layout: ObjectLayout(prefix: "code42/", format: .ndjson, gzip: gzip),
                limits: BatchLimits(maxEvents: 100, maxBytes: 1 << 20)
            ),
            tokens: tokens(grant), transport: .shared, guardrail: OutboundURLGuard(allowPrivateNetworks: true), timeout: .seconds(10)
        )
    }

    @Test func theTokenEndpointAcceptsTheSignedAssertionAndTokensAreShared() async throws {
        let account = try GoogleTestAccount()
        let double = SinkTestDouble(google: account)
        try await double.withServer { base in
            let cache = Self.tokens(try Self.grant(account, base: base, scope: GoogleJWTGrant.storageReadWriteScope))
            let tokens = try await withThrowingTaskGroup(of: String.self) { group in
                for _ in 0..<8 { group.addTask { try await cache.token() } }
                return try await group.reduce(into: Set<String>()) { $0.insert($1) }
            }
            #expect(tokens.count == 1 && tokens.first?.hasPrefix("ya29.") == true)
            #expect(double.received.tokensIssued == 1, "one fetch for eight concurrent callers")
            #expect(double.received.tokenScopes == [GoogleJWTGrant.storageReadWriteScope])

            // Another key under the same account name: Google refuses the signature, and says so.
            let impostor = try Self.grant(try GoogleTestAccount(), base: base)
            do {
                _ = try await impostor.request(using: .shared)
                Issue.record("an assertion signed with the wrong key must be refused")
            } catch let error as TokenError {
                #expect(!error.isTransient)
                #expect(error.message.contains("Invalid JWT Signature."))
                #expect(!error.message.contains("PRIVATE KEY"))
            }
            // A clock far off is refused too (iat outside Google's window).
            let late = try Self.grant(account, base: base)
            do {
                _ = try await late.request(using: .shared, now: Date().addingTimeInterval(-7200))
                Issue.record("an assertion from two hours ago must be refused")
            } catch let error as TokenError {
                #expect(error.message.contains("iat and exp"))
            }
        }
    }

    @Test func keyFilesWithMissingOrBadFieldsAreNamed() throws {
        let account = try GoogleTestAccount()
        let good = account.keyFile(tokenURI: "https://oauth2.googleapis.com/token")
        let key = try GoogleServiceAccountKey(json: Array(good.utf8))
        #expect(key.clientEmail == account.clientEmail && key.tokenURI == "https://oauth2.googleapis.com/token")

        func problem(_ json: String) -> String? {
            do {
                _ = try GoogleServiceAccountKey(json: Array(json.utf8))
                return nil
            } catch {
                return error.message
            }
        }
        #expect(problem("not json")?.contains("not a JSON object") == true)
        #expect(problem(#"{"type":"authorized_user","client_email":"a@b"}"#)?.contains("service_account") == true)
        #expect(problem(#"{"type":"service_account","private_key":"x"}"#)?.contains("client_email") == true)
        let badKey = #"{"type":"service_account","client_email":"a@b.iam.gserviceaccount.com","private_key":"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"}"#
        let message = problem(badKey)
        #expect(message?.contains("private_key") == true)
        #expect(message?.contains("AAAA") == false, "the key's text never appears in an error")
    }

    @Test func chronicleImportDeliversBase64LogsPerLogTypeWithTimesNamespaceAndLabels() async throws {
        let account = try GoogleTestAccount()
        let double = SinkTestDouble(google: account)
        try await double.withServer { base in
            try await DeliveryTests.withStore(.sqlite) { store, _ in
                try await DeliveryTests.push(store, count: 150)
                // A second log type in between: batches never mix log types.
                let other = (0..<30).map { i in
                    EventStoreContract.event(
                        source: "incident-io", occurredAt: DeliveryTests.base + .seconds(i), key: "sci\(i)", raw: "{\"id\":\"sci\(i)\"}",
                        logType: "CISCO_SCI_ALERT"
                    )
                }
                _ = try await store.append(other, receivedAt: SluiceRuntimeClock.now())
                try await DeliveryTests.push(store, count: 70, from: 150)
                let destination = Self.chronicleImport(try Self.grant(account, base: base), base: base)
                try await DeliveryTests.delivering([destination], store: store) { _ in
                    let done = try await eventually { try await store.consumerCursor("secops") == store.latestSeq() }
                    #expect(done)
                }
                let received = double.received
                let expected = Set((0..<220).map { "e\($0)" } + (0..<30).map { "sci\($0)" })
                #expect(Set(DeliveryTests.ids(received.events)) == expected)
                #expect(received.events.count == 250, "each event once")
                let byType = Dictionary(grouping: zip(DeliveryTests.ids(received.events), received.importLogTypes), by: { $0.1 })
                #expect(byType["CISCO_SCI_ALERT"]?.allSatisfy { $0.0.hasPrefix("sci") } == true)
                #expect(byType["INCIDENT_IO"]?.count == 220)
                #expect(received.tokensIssued == 1 && received.tokenScopes == [GoogleJWTGrant.cloudPlatformScope])
                let first = try #require(DeliveryTests.ids(received.events).firstIndex(of: "e0"))
                let entry = received.importEntries[first]
                #expect(entry["environment_namespace"]?.stringValue == "prod")
                #expect(entry["labels"]?["team"]?["value"]?.stringValue == "soc")
                #expect(entry["log_entry_time"]?.stringValue == DeliveryTests.base.rfc3339)
            }
        }
    }

    @Test func chronicleImportRefreshesARevokedTokenOnceAndDeadLettersAPoisonEvent() async throws {
        let account = try GoogleTestAccount()
        let double = SinkTestDouble(google: account)
        try await double.withServer { base in
            try await DeliveryTests.withStore(.sqlite) { store, _ in
                let grant = try Self.grant(account, base: base)
                let destination = Self.chronicleImport(grant, base: base)
                try await DeliveryTests.push(store, count: 40)
                #expect(await destination.send(try await store.outboundEvents(afterSeq: 0, limit: 20)) == .delivered)
                double.revokeTokens()
                #expect(await destination.send(try await store.outboundEvents(afterSeq: 20, limit: 20)) == .delivered, "401, new token, resent")
                #expect(double.received.tokensIssued == 2)
                #expect(double.received.bearerRefusals == 1)

                try await DeliveryTests.push(store, count: 30, from: 40, poison: [55])
                try await DeliveryTests.delivering([destination], store: store) { _ in
                    let done = try await eventually { try await store.consumerCursor("secops") == store.latestSeq() }
                    #expect(done)
                }
                let letters = try await store.deadLetters(destination: "secops", afterSeq: 0, limit: 10)
                #expect(letters.count == 1)
                #expect(letters.first?.reason.contains("could not be parsed") == true)
                let ids = DeliveryTests.ids(double.received.events)
                #expect(Set(ids) == Set((0..<70).filter { $0 != 55 }.map { "e\($0)" }))
            }
        }
        // An account Google does not know: the destination pauses instead of dropping.
        let stranger = SinkTestDouble(google: try GoogleTestAccount())
        try await stranger.withServer { base in
            let outcome = await Self.chronicleImport(try Self.grant(account, base: base), base: base).send([DestinationPartsTests.event(1)])
            guard case .unauthorized(let reason) = outcome else {
                Issue.record("a refused assertion must pause the destination, got \(outcome)")
                return
            }
            #expect(reason.contains("Invalid JWT Signature."))
        }
    }

    @Test func gcsUploadsAreCreateOnlyWithABearerToken() async throws {
        let account = try GoogleTestAccount()
        let double = SinkTestDouble(google: account)
        try await double.withServer { base in
            try await DeliveryTests.withStore(.sqlite) { store, _ in
                try await DeliveryTests.push(store, count: 250)
                let gcs = Self.gcs(try Self.grant(account, base: base, scope: GoogleJWTGrant.storageReadWriteScope), endpoint: base)
                try await DeliveryTests.delivering([gcs], store: store) { _ in
                    let done = try await eventually { try await store.consumerCursor("archive") == store.latestSeq() }
                    #expect(done)
                }
                let objects = double.received.objects
                #expect(objects.count == 3, "250 events in batches of at most 100")
                #expect(objects.keys.allSatisfy { $0.hasPrefix("code42/incident-io/") && $0.hasSuffix(".ndjson") })
                let lines = objects.values.flatMap { String(decoding: $0, as: UTF8.self).split(separator: "\n").map(String.init) }
                #expect(lines.count == 250 && Set(DeliveryTests.ids(lines)).count == 250)

                // A retry of a batch whose answer was lost: 412 from ifGenerationMatch=0 counts as delivered.
                #expect(await gcs.send(try await store.outboundEvents(afterSeq: 0, limit: 100)) == .delivered)
                #expect(double.received.preconditionFailures == 1)
                #expect(double.received.objects.count == 3)
            }
        }
    }

    @Test func gcsObjectsLandInTheStorageEmulator() async throws {
        let emulator = try await EmulatorProcess(
            executable: "gcp-storage-emulator", arguments: ["start", "--host", "127.0.0.1", "--port", "{port}", "--in-memory", "--default-bucket", "sluice-archive"]
        )
        defer { emulator.stop() }
        let account = try GoogleTestAccount()
        let tokens = SinkTestDouble(google: account)
        try await tokens.withServer { base in
            try await DeliveryTests.withStore(.sqlite) { store, _ in
                try await DeliveryTests.push(store, count: 120)
                let grant = try Self.grant(account, base: base, scope: GoogleJWTGrant.storageReadWriteScope)
                try await DeliveryTests.delivering([Self.gcs(grant, endpoint: emulator.baseURL)], store: store) { _ in
                    let done = try await eventually { try await store.consumerCursor("archive") == store.latestSeq() }
                    #expect(done)
                }
                let gzipped = Self.gcs(grant, endpoint: emulator.baseURL, gzip: true)
                #expect(await gzipped.send(try await store.outboundEvents(afterSeq: 0, limit: 5)) == .delivered)

                let listing = try await HTTPTransport.shared.send(OutboundRequest(method: "GET", url: emulator.baseURL + "/storage/v1/b/sluice-archive/o"))
                let items = (try JSONParser.parse(listing.body))["items"]
                guard case .array(let objects)? = items else {
                    Issue.record("the emulator listed no objects: \(String(decoding: listing.body, as: UTF8.self))")
                    return
                }
                let names = objects.compactMap { $0["name"]?.stringValue }
                #expect(names.filter { $0.hasSuffix(".ndjson") }.count == 2, "120 events in batches of at most 100")
                #expect(names.filter { $0.hasSuffix(".ndjson.gz") }.count == 1)
                #expect(names.allSatisfy { $0.hasPrefix("code42/incident-io/") })
                var lines: [String] = []
                for name in names where name.hasSuffix(".ndjson") {
                    let url = emulator.baseURL + "/download/storage/v1/b/sluice-archive/o/\(HTTPTransport.percentEncoded(name))?alt=media"
                    let object = try await HTTPTransport.shared.send(OutboundRequest(method: "GET", url: url))
                    #expect(object.status == 200)
                    lines += String(decoding: object.body, as: UTF8.self).split(separator: "\n").map(String.init)
                }
                #expect(lines.count == 120 && Set(DeliveryTests.ids(lines)) == Set((0..<120).map { "e\($0)" }))
            }
        }
    }
}

/// The generic HTTPS destination against the double's receiver: configured headers, both body
/// formats, a static bearer, and client-credentials tokens refreshed once after a 401.
@Suite struct HTTPSDestinationTests {
    static func destination(base: String, format: HTTPSDestination.Format, authorization: HTTPSDestination.Authorization) -> HTTPSDestination {
        HTTPSDestination(
            configuration: .init(name: "hook", url: base + "/ingest", format: format, headers: [("X-Team", "secops")], authorization: authorization),
            transport: .shared, guardrail: OutboundURLGuard(allowPrivateNetworks: true), timeout: .seconds(5)
        )
    }

    @Test func bothFormatsAndBothKindsOfTokenAreDelivered() async throws {
        let double = SinkTestDouble()
        try await double.withServer { base in
            try await DeliveryTests.withStore(.sqlite) { store, _ in
                try await DeliveryTests.push(store, count: 30)
                let first = try await store.outboundEvents(afterSeq: 0, limit: 10)
                let array = Self.destination(base: base, format: .jsonArray, authorization: .bearer(SinkTestDouble.staticBearer))
                #expect(await array.send(first) == .delivered)

                let grant = ClientCredentialsGrant(tokenURL: base + "/oauth/token", clientID: SinkTestDouble.clientID, clientSecret: SinkTestDouble.clientSecret)
                let cache = AccessTokenCache { try await grant.request(using: .shared) }
                let ndjson = Self.destination(base: base, format: .ndjson, authorization: .clientCredentials(cache))
                #expect(await ndjson.send(try await store.outboundEvents(afterSeq: 10, limit: 10)) == .delivered)
                double.revokeTokens()
                #expect(await ndjson.send(try await store.outboundEvents(afterSeq: 20, limit: 10)) == .delivered, "401, new token, resent")
                #expect(double.received.tokensIssued == 2)

                let received = double.received
                #expect(DeliveryTests.ids(received.events) == (0..<30).map { "e\($0)" })
                #expect(received.teamHeaders == ["secops", "secops", "secops"])

                let unauthenticated = Self.destination(base: base, format: .ndjson, authorization: .none)
                guard case .unauthorized = await unauthenticated.send(first) else {
                    Issue.record("a request without a token must be refused with 401 and pause the destination")
                    return
                }
            }
        }
    }
}
