import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import SluiceApp
import SluiceCompression
import SluiceCore
import SluiceSources
import SluiceStorePostgres
import SluiceStoreSQLite
import SluiceTesting
import Testing

/// Push feeds over a real socket against a real SQLite file.
@Suite struct PushHTTPTests {
    static let feedSecret = "incident-io-feed-secret-value"
    static let otherSecret = "other-feed-secret-value"
    static let ingestionKey = "instance-ingestion-key-value"
    static let webhookSecret = "whsec_" + Data("sci-signing-key-0123456789".utf8).base64EncodedString()
    static let bearer = "bearer-token-for-workos-stream"

    static let yaml = """
        server:
          ingestion_key: "${env:INGESTION_KEY}"
        feeds:
          incident-io:
            log_type: INCIDENT_IO
            secret: "${env:FEED_SECRET}"
          other:
            secret: "${env:OTHER_SECRET}"
          small:
            secret: "${env:OTHER_SECRET}"
            max_body_bytes: 1KiB
          sci-alerts:
            log_type: CISCO_SCI_ALERT
            verify: { standard_webhooks: { secrets: ["${env:WEBHOOK_SECRET}"] } }
          workos:
            log_type: INCIDENT_IO
            verify: { bearer: { token: "${env:BEARER}" } }
        """

    static let environment = [
        "FEED_SECRET": feedSecret, "OTHER_SECRET": otherSecret, "INGESTION_KEY": ingestionKey,
        "WEBHOOK_SECRET": webhookSecret, "BEARER": bearer,
    ]

    static let authHeaders: HTTPFields = [
        HTTPField.Name("X-Webhook-Access-Key")!: feedSecret,
        HTTPField.Name("X-goog-api-key")!: ingestionKey,
    ]

    func withServer(_ backend: StoreBackend = .sqlite, _ body: @Sendable @escaping (any TestClientProtocol, TestSluice) async throws -> Void) async throws {
        try await backend.withStore { store in
            let sluice = try await TestSluice(yaml: Self.yaml, environment: Self.environment, store: backend == .sqlite ? nil : store)
            defer { sluice.cleanUp() }
            try await sluice.withLiveServer { client in try await body(client, sluice) }
            // Whatever happened, no secret reached the logs.
            let logs = sluice.allLogText
            for secret in [Self.feedSecret, Self.otherSecret, Self.ingestionKey, Self.webhookSecret, Self.bearer, TestSluice.adminToken] {
                #expect(!logs.contains(secret), "a secret appeared in the logs")
            }
        }
    }

    static func push(
        _ client: any TestClientProtocol, _ body: [UInt8], feed: String = "incident-io", headers: HTTPFields = authHeaders, query: String = ""
    ) async throws -> TestResponse {
        try await client.execute(uri: "/v1/feeds/\(feed)/events\(query)", method: .post, headers: headers, body: ByteBuffer(bytes: body))
    }

    /// Stored pushed events (Sluice's own audit entries, such as failed-authentication summaries, aside).
    static func count(_ sluice: TestSluice) async throws -> Int {
        let audit = try await sluice.store.events(matching: EventFilter(source: AdminAuditEntry.source), after: nil, limit: 1_000).events.count
        return try await sluice.store.count() - audit
    }

    static func errorMessage(_ response: TestResponse) -> String {
        let value = try? JSONParser.parse(Array(buffer: response.body))
        return value?["error"]?["message"]?.stringValue ?? ""
    }

    @Test(arguments: StoreBackend.available) func acceptsObjectArrayAndNDJSONAndDeduplicates(_ backend: StoreBackend) async throws {
        try await withServer(backend) { client, sluice in
            let array = try Fixtures.bytes("incidentio_audit_log_entries_array.json")
            let r1 = try await Self.push(client, array)
            #expect(r1.status == .ok)
            #expect(String(buffer: r1.body) == "{\"accepted\":4,\"duplicates\":0}\n")
            // The same entries as NDJSON, re-serialized differently: all duplicates.
            let r2 = try await Self.push(client, try Fixtures.bytes("incidentio_audit_log_entries.ndjson"))
            #expect(String(buffer: r2.body) == "{\"accepted\":0,\"duplicates\":4}\n")
            let single = try await Self.push(client, try Fixtures.bytes("incidentio_audit_log_api_key_created.json"))
            #expect(single.status == .ok)
            #expect(try await Self.count(sluice) == 4 + (String(buffer: single.body).contains("\"accepted\":1") ? 1 : 0))
        }
    }

    @Test func chronicleAliasWithHeadersOrQueryParameters() async throws {
        try await withServer { client, sluice in
            let body = try Fixtures.bytes("chronicle_webhook_body.ndjson")
            let path = "/v1alpha/projects/123/locations/us/instances/abc/feeds/incident-io:importPushLogs"
            let viaHeaders = try await client.execute(uri: path, method: .post, headers: Self.authHeaders, body: ByteBuffer(bytes: body))
            #expect(viaHeaders.status == .ok)
            let query = "?key=\(Self.ingestionKey)&secret=\(Self.feedSecret)"
            let viaQuery = try await client.execute(uri: "/v1/projects/1/locations/eu/instances/x/feeds/incident-io:importPushLogs\(query)", method: .post, body: ByteBuffer(string: "{\"n\":1}"))
            #expect(viaQuery.status == .ok)
            #expect(String(buffer: viaQuery.body) == "{\"accepted\":1,\"duplicates\":0}\n")
            let unknown = try await client.execute(uri: "/v1alpha/projects/1/locations/us/instances/x/feeds/nope:importPushLogs", method: .post, headers: Self.authHeaders, body: ByteBuffer(string: "{}"))
            #expect(unknown.status == .notFound)
            _ = sluice
        }
    }

    @Test func everyAuthenticationFailureLooksTheSame() async throws {
        try await withServer { client, sluice in
            let body = Array("{\"a\":1}".utf8)
            let accessKey = HTTPField.Name("X-Webhook-Access-Key")!
            let apiKey = HTTPField.Name("X-goog-api-key")!
            let attempts: [(HTTPFields, String)] = [
                ([:], ""),
                ([accessKey: "wrong", apiKey: Self.ingestionKey], ""),
                ([accessKey: Self.otherSecret, apiKey: Self.ingestionKey], ""),       // another feed's secret
                ([accessKey: Self.feedSecret], ""),                                  // missing ingestion key
                ([accessKey: Self.feedSecret, apiKey: "wrong"], ""),
                ([:], "?secret=wrong&key=\(Self.ingestionKey)"),
                ([.authorization: "Bearer \(Self.feedSecret)"], ""),
            ]
            var bodies = Set<String>()
            for (headers, query) in attempts {
                let response = try await Self.push(client, body, headers: headers, query: query)
                #expect(response.status == .unauthorized)
                bodies.insert(String(buffer: response.body))
            }
            #expect(bodies.count == 1, "every refusal must have the same body")
            #expect(try await Self.count(sluice) == 0)
            // Seven refusals from one address: one summary, holding none of the values sent.
            let audit = try await sluice.store.events(matching: EventFilter(source: AdminAuditEntry.source, action: .prefix("feed.")), after: nil, limit: 10).events
            #expect(audit.map(\.normalized.action) == ["feed.auth_failed"])
            let raw = String(decoding: audit.first?.raw ?? [], as: UTF8.self)
            #expect(![Self.feedSecret, Self.otherSecret, Self.ingestionKey, "wrong"].contains { raw.contains($0) })
        }
    }

    @Test func unknownFeedIs404() async throws {
        try await withServer { client, _ in
            let response = try await Self.push(client, Array("{}".utf8), feed: "does-not-exist")
            #expect(response.status == .notFound)
            #expect(Self.errorMessage(response).contains("does-not-exist"))
        }
    }

    @Test(arguments: StoreBackend.available) func badBodiesAreRefusedPreciselyAndStoreNothing(_ backend: StoreBackend) async throws {
        try await withServer(backend) { client, sluice in
            _ = try await Self.push(client, Array("{\"before\":true}".utf8))
            var invalidUTF8 = Array("{\"a\":\"ok\"}\n{\"b\":\"".utf8)
            invalidUTF8.append(0xFE)
            invalidUTF8.append(contentsOf: Array("\"}".utf8))
            let deep = String(repeating: "{\"a\":", count: 65) + "1" + String(repeating: "}", count: 65)
            let tooMany = Array(String(repeating: "{}\n", count: 10_001).utf8)
            let cases: [(String, [UInt8], HTTPResponse.Status, String)] = [
                ("ndjson line", Array("{\"a\":1}\n{\"a\":2}\n{\"a\":3,}\n".utf8), .badRequest, "line 3"),
                ("utf8", invalidUTF8, .badRequest, "byte offset 17"),
                ("depth", Array(deep.utf8), .badRequest, "nested deeper than 64"),
                ("count", tooMany, .contentTooLarge, "more than 10000 events"),
                ("not object", Array("[{\"a\":1},2]".utf8), .badRequest, "not a JSON object"),
                ("empty", [], .badRequest, "empty"),
            ]
            for (name, body, status, fragment) in cases {
                let response = try await Self.push(client, body)
                #expect(response.status == status, "\(name)")
                #expect(Self.errorMessage(response).contains(fragment), "\(name): \(Self.errorMessage(response))")
            }
            #expect(try await Self.count(sluice) == 1)
        }
    }

    @Test func oversizedBodiesAre413BeforeBuffering() async throws {
        try await withServer { client, sluice in
            let port = try #require(client.port)
            let auth = ["X-Webhook-Access-Key": Self.otherSecret, "X-goog-api-key": Self.ingestionKey]
            let big = Array(("{\"pad\":\"" + String(repeating: "x", count: 2000) + "\"}").utf8)
            let declared = try RawHTTPClient.send(port: port, path: "/v1/feeds/small/events", headers: auth, body: big)
            #expect(declared.status == 413)
            #expect(declared.body.contains("1024 bytes"))
            // Chunked, with no declared length: refused once the limit is crossed.
            let chunked = try RawHTTPClient.send(port: port, path: "/v1/feeds/small/events", headers: auth, body: big, declareLength: false)
            #expect(chunked.status == 413)
            // The default limit is 4 MiB; a 64 MiB upload is refused from its declared length
            // before any of it is buffered, and the response asks the sender to close.
            let huge = [UInt8](repeating: UInt8(ascii: " "), count: 64 * 1024 * 1024)
            let refused = try RawHTTPClient.send(port: port, path: "/v1/feeds/incident-io/events", headers: ["X-Webhook-Access-Key": Self.feedSecret, "X-goog-api-key": Self.ingestionKey], body: huge)
            #expect(refused.status == 413)
            #expect(refused.headers["connection"] == "close")
            #expect(try await Self.count(sluice) == 0)
        }
    }

    @Test func gzipBodiesAndBombs() async throws {
        try await withServer { client, sluice in
            let gz = ByteBuffer(bytes: try Gzip.compress(try Fixtures.bytes("incidentio_audit_log_entries.ndjson")))
            var headers = Self.authHeaders
            headers[.contentEncoding] = "gzip"
            let ok = try await client.execute(uri: "/v1/feeds/incident-io/events", method: .post, headers: headers, body: gz)
            #expect(ok.status == .ok)
            #expect(String(buffer: ok.body) == "{\"accepted\":4,\"duplicates\":0}\n")
            // 33 MiB of whitespace compresses to a few tens of KB and must stop at 32 MiB.
            let bomb = ByteBuffer(bytes: try Gzip.compress([UInt8](repeating: UInt8(ascii: " "), count: 33 * 1024 * 1024)))
            let refused = try await client.execute(uri: "/v1/feeds/incident-io/events", method: .post, headers: headers, body: bomb)
            #expect(refused.status == .contentTooLarge)
            #expect(Self.errorMessage(refused).contains("expands past"))
            headers[.contentEncoding] = "br"
            let unsupported = try await client.execute(uri: "/v1/feeds/incident-io/events", method: .post, headers: headers, body: ByteBuffer(string: "{}"))
            #expect(unsupported.status == .unsupportedMediaType)
            #expect(try await Self.count(sluice) == 4)
        }
    }

    @Test(arguments: StoreBackend.available) func eventsWithNULAreStoredFaithfullyWithoutFailingTheBatch(_ backend: StoreBackend) async throws {
        try await withServer(backend) { client, sluice in
            let body = Array("{\"action\":\"a\\u0000b\",\"actor\":{\"id\":\"x\\u0000\",\"type\":\"user\"}}\n{\"action\":\"plain\"}\n".utf8)
            let response = try await Self.push(client, body)
            #expect(String(buffer: response.body) == "{\"accepted\":2,\"duplicates\":0}\n")
            let events = try await sluice.store.events(matching: EventFilter(), after: nil, limit: 10).events
            let withNUL = try #require(events.first { $0.normalized.action.contains("\u{0}") })
            #expect(withNUL.normalized.action == "a\u{0}b")
            #expect(withNUL.normalized.actor?.id == "x\u{0}")
            #expect(String(decoding: withNUL.raw, as: UTF8.self) == "{\"action\":\"a\\u0000b\",\"actor\":{\"id\":\"x\\u0000\",\"type\":\"user\"}}")
        }
    }

    @Test(arguments: StoreBackend.available) func standardWebhooksFeedAcceptsSignedAndAcknowledgesReplays(_ backend: StoreBackend) async throws {
        try await withServer(backend) { client, sluice in
            let key = StandardWebhooksVerifier.keyBytes(fromSecret: Self.webhookSecret)!
            let body = Array("{\"name\":\"Public S3 bucket\",\"query0Data\":[{\"id\":\"b1\"}]}".utf8)
            let now = Int64(Date().timeIntervalSince1970)
            func headers(id: String, at t: Int64, signed: [UInt8]) -> HTTPFields {
                [
                    HTTPField.Name("webhook-id")!: id,
                    HTTPField.Name("webhook-timestamp")!: String(t),
                    HTTPField.Name("webhook-signature")!: StandardWebhooksVerifier.sign(id: id, timestamp: t, body: signed, key: key),
                ]
            }
            let first = try await Self.push(client, body, feed: "sci-alerts", headers: headers(id: "msg_1", at: now, signed: body))
            #expect(String(buffer: first.body) == "{\"accepted\":1,\"duplicates\":0}\n")
            // The sender retries the same webhook: acknowledged, stored once.
            let replay = try await Self.push(client, body, feed: "sci-alerts", headers: headers(id: "msg_1", at: now + 5, signed: body))
            #expect(String(buffer: replay.body) == "{\"accepted\":0,\"duplicates\":1}\n")
            let stale = try await Self.push(client, body, feed: "sci-alerts", headers: headers(id: "msg_2", at: now - 600, signed: body))
            #expect(stale.status == .unauthorized)
            let tampered = try await Self.push(client, Array("{\"name\":\"x\"}".utf8), feed: "sci-alerts", headers: headers(id: "msg_3", at: now, signed: body))
            #expect(tampered.status == .unauthorized)
            // The feed secret of another feed does not open a signed feed.
            let wrongScheme = try await Self.push(client, body, feed: "sci-alerts")
            #expect(wrongScheme.status == .unauthorized)
            #expect(try await Self.count(sluice) == 1)
            let stored = try await sluice.store.events(matching: EventFilter(source: "sci-alerts"), after: nil, limit: 5).events
            #expect(stored.first?.logType == "CISCO_SCI_ALERT")
        }
    }

    @Test func bearerFeed() async throws {
        try await withServer { client, sluice in
            let entry = try Fixtures.bytes("incidentio_audit_log_api_key_created.json")
            let ok = try await Self.push(client, entry, feed: "workos", headers: [.authorization: "Bearer \(Self.bearer)"])
            #expect(ok.status == .ok)
            let no = try await Self.push(client, entry, feed: "workos", headers: [.authorization: "Bearer nope"])
            #expect(no.status == .unauthorized)
            #expect(try await Self.count(sluice) == 1)
        }
    }

    @Test func idleAndTricklingConnectionsAreClosed() async throws {
        let sluice = try await TestSluice(adjust: { $0.server.idleTimeoutSeconds = 1 })
        defer { sluice.cleanUp() }
        try await sluice.withLiveServer { client in
            let port = try #require(client.port)
            #expect(try RawHTTPClient.serverCloses(port: port, within: 10))
            // Headers that never finish (slowloris): closed as well.
            #expect(try RawHTTPClient.serverCloses(port: port, sending: Array("POST /v1/feeds/default/events HTTP/1.1\r\nHost: x\r\n".utf8), within: 10))
        }
    }

    @Test func fullStoreAnswers503AndKeepsAcceptedEvents() async throws {
        let sluice = try await TestSluice(yaml: Self.yaml, environment: Self.environment, adjust: { config in
            config.storage.sqlite.maxSizeBytes = 400 * 1024
        })
        defer { sluice.cleanUp() }
        try await sluice.withLiveServer { client in
            let first = try await Self.push(client, Array("{\"keep\":1}".utf8))
            #expect(first.status == .ok)
            // Random padding: stored events are compressed, so repeated bytes would hardly fill anything.
            var random = SplitMix64()
            let lines = (0..<600).map { n in
                let pad = (0..<110).map { _ in String(random.next() as UInt64, radix: 36) }.joined()
                return "{\"i\":\(n),\"pad\":\"\(pad)\"}"
            }.joined(separator: "\n")
            let response = try await Self.push(client, Array(lines.utf8))
            #expect(response.status == .serviceUnavailable)
            #expect(response.headers[.retryAfter] != nil)
            #expect(Self.errorMessage(response).contains("nothing from this request was stored"))
            #expect(try await Self.count(sluice) == 1)
            // Reads still work while writes are refused.
            let query = try await client.execute(uri: "/v1/events", method: .get, headers: [.authorization: "Bearer \(TestSluice.adminToken)"])
            #expect(query.status == .ok)
            #expect(String(buffer: query.body).contains("\"keep\":1"))
        }
    }
}

extension Array where Element == UInt8 {
    init(buffer: ByteBuffer) {
        self = buffer.getBytes(at: buffer.readerIndex, length: buffer.readableBytes) ?? []
    }
}
