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

/// The query API and exports over a real socket.
@Suite struct QueryHTTPTests {
    static let yaml = """
        server:
          admin_tokens:
            - { name: ops, role: admin, token: "${env:OPS_TOKEN}" }
            - { name: soc, role: viewer, token: "${env:SOC_TOKEN}" }
        feeds:
          incident-io:
            log_type: INCIDENT_IO
            secret: "${env:FEED_SECRET}"
        """
    static let environment = ["OPS_TOKEN": "ops-token-value-123", "SOC_TOKEN": "soc-token-value-456", "FEED_SECRET": "feed-secret-789"]
    static let viewer: HTTPFields = [.authorization: "Bearer soc-token-value-456"]
    static let admin: HTTPFields = [.authorization: "Bearer ops-token-value-123"]

    /// Seeds entries: three actors, two actions, targets, spread over days, one hostile name.
    static func seed(_ client: any TestClientProtocol) async throws {
        var lines: [String] = []
        let actors = [("u1", "Alice", "user"), ("k9", "CI key", "api_key"), ("s0", "=HYPERLINK(\\\"http://x\\\")", "system")]
        for i in 0..<30 {
            let (id, name, type) = actors[i % 3]
            let action = i % 2 == 0 ? "api_key.created" : "user.logged_in"
            let day = 10 + i % 10
            lines.append(#"{"action":"\#(action)","actor":{"id":"\#(id)","name":"\#(name)","type":"\#(type)"},"context":{"location":"10.0.0.\#(i)"},"occurred_at":"2026-03-\#(day)T12:00:00.\#(String(format: "%06d", i))Z","targets":[{"id":"t\#(i % 4)","type":"\#(i % 4 == 0 ? "incident" : "api_key")","name":"Target \#(i % 4)"}],"version":1,"n":\#(i)}"#)
        }
        let response = try await client.execute(
            uri: "/v1/feeds/incident-io/events", method: .post,
            headers: [HTTPField.Name("X-Webhook-Access-Key")!: "feed-secret-789"],
            body: ByteBuffer(string: lines.joined(separator: "\n"))
        )
        #expect(String(buffer: response.body) == "{\"accepted\":30,\"duplicates\":0}\n")
    }

    func withSeededServer(_ backend: StoreBackend = .sqlite, _ body: @Sendable @escaping (any TestClientProtocol) async throws -> Void) async throws {
        try await backend.withStore { store in
            let sluice = try await TestSluice(yaml: Self.yaml, environment: Self.environment, store: backend == .sqlite ? nil : store)
            defer { sluice.cleanUp() }
            try await sluice.withLiveServer { client in
                try await Self.seed(client)
                try await body(client)
            }
            for secret in Self.environment.values {
                #expect(!sluice.allLogText.contains(secret))
            }
        }
    }

    static func json(_ response: TestResponse) throws -> JSONValue {
        try JSONParser.parse(response.body.getBytes(at: response.body.readerIndex, length: response.body.readableBytes) ?? [])
    }

    static func list(_ client: any TestClientProtocol, _ query: String) async throws -> (events: [JSONValue], next: String?) {
        let response = try await client.execute(uri: "/v1/events?\(query)", method: .get, headers: viewer)
        #expect(response.status == .ok, "\(query): \(String(buffer: response.body))")
        let value = try json(response)
        return (value["events"]?.arrayValue ?? [], value["next_cursor"]?.stringValue)
    }

    @Test func adminRoutesNeedATokenAndViewersOnlyRead() async throws {
        try await withSeededServer { client in
            #expect(try await client.execute(uri: "/v1/events", method: .get).status == .unauthorized)
            #expect(try await client.execute(uri: "/v1/events", method: .get, headers: [.authorization: "Bearer wrong"]).status == .unauthorized)
            #expect(try await client.execute(uri: "/v1/events", method: .get, headers: Self.viewer).status == .ok)
            #expect(try await client.execute(uri: "/v1/feeds", method: .get, headers: Self.admin).status == .ok)
            let feeds = try Self.json(try await client.execute(uri: "/v1/feeds", method: .get, headers: Self.viewer))
            let text = String(decoding: feeds.serialized(), as: UTF8.self)
            #expect(text.contains("\"incident-io\""))
            #expect(!text.contains("feed-secret-789"))
        }
    }

    @Test(arguments: StoreBackend.available) func filtersNarrowAndPagingIsStable(_ backend: StoreBackend) async throws {
        try await withSeededServer(backend) { client in
            let all = try await Self.list(client, "limit=1000")
            #expect(all.events.count == 30)
            let times = all.events.compactMap { $0["occurred_at"]?.stringValue }
            #expect(times == times.sorted(by: >), "newest first")

            #expect(try await Self.list(client, "actor=u1").events.count == 10)
            #expect(try await Self.list(client, "actor=CI%20key").events.count == 10)
            #expect(try await Self.list(client, "actor_type=api_key").events.count == 10)
            #expect(try await Self.list(client, "action=user.logged_in").events.count == 15)
            #expect(try await Self.list(client, "action=api_key.*").events.count == 15)
            #expect(try await Self.list(client, "target=t1").events.count == 8)
            #expect(try await Self.list(client, "target=Target%202").events.count == 7)
            #expect(try await Self.list(client, "target_type=incident").events.count == 8)
            #expect(try await Self.list(client, "feed=incident-io&log_type=INCIDENT_IO").events.count == 30)
            #expect(try await Self.list(client, "since=2026-03-15&until=2026-03-17").events.count == 6)
            #expect(try await Self.list(client, "q=10.0.0.17").events.count == 1)
            #expect(try await Self.list(client, "actor=u1&action=api_key.*&since=2026-03-12").events.count == 4)

            // Cursor paging visits every event once, even with events added between pages.
            var seen: [String] = []
            var cursor: String?
            var page = 0
            repeat {
                let result = try await Self.list(client, "limit=7" + (cursor.map { "&cursor=\($0)" } ?? ""))
                seen += result.events.compactMap { $0["id"]?.stringValue }
                cursor = result.next
                page += 1
                if page == 2 {
                    _ = try await client.execute(
                        uri: "/v1/feeds/incident-io/events", method: .post,
                        headers: [HTTPField.Name("X-Webhook-Access-Key")!: "feed-secret-789"],
                        body: ByteBuffer(string: #"{"action":"late.arrival","occurred_at":"2026-03-30T00:00:00Z"}"#)
                    )
                }
            } while cursor != nil
            #expect(seen.count == 30)
            #expect(Set(seen).count == 30)
        }
    }

    @Test func badQueryParametersAreNamed() async throws {
        try await withSeededServer { client in
            for (query, fragment) in [
                ("since=yesterday", "since=yesterday"), ("limit=0", "limit=0"), ("limit=5000", "limit=5000"),
                ("cursor=zzz", "cursor"), ("colour=red", "colour"), ("since=2026-03-02&until=2026-03-01", "must be before"),
            ] {
                let response = try await client.execute(uri: "/v1/events?\(query)", method: .get, headers: Self.viewer)
                #expect(response.status == .badRequest, "\(query)")
                #expect(String(buffer: response.body).contains(fragment), "\(query)")
            }
        }
    }

    @Test(arguments: StoreBackend.available) func singleEventHasRawJSON(_ backend: StoreBackend) async throws {
        try await withSeededServer(backend) { client in
            let first = try #require(try await Self.list(client, "actor=u1&limit=1").events.first)
            let id = try #require(first["id"]?.stringValue)
            let response = try await client.execute(uri: "/v1/events/\(id)", method: .get, headers: Self.viewer)
            let event = try Self.json(response)
            #expect(event["raw"]?["actor"]?["id"] == .string("u1"))
            #expect(event["actor"]?["type"] == .string("user"))
            #expect(event["schema_version"] == .number("1"))
            #expect(try await client.execute(uri: "/v1/events/01ARZ3NDEKTSV4RRFFQ69G5FAV", method: .get, headers: Self.viewer).status == .notFound)
            #expect(try await client.execute(uri: "/v1/events/nope", method: .get, headers: Self.viewer).status == .badRequest)
        }
    }

    @Test(arguments: StoreBackend.available) func csvExportMatchesTheFilterAndNeutralizesFormulas(_ backend: StoreBackend) async throws {
        try await withSeededServer(backend) { client in
            let response = try await client.execute(uri: "/v1/events/export?format=csv&actor_type=system", method: .get, headers: Self.viewer)
            #expect(response.status == .ok)
            #expect(response.headers[.contentType] == "text/csv; charset=utf-8")
            let lines = String(buffer: response.body).components(separatedBy: "\r\n").filter { !$0.isEmpty }
            #expect(lines.first == "occurred_at,action,actor_type,actor_id,actor_name,targets,location,user_agent,version,feed,log_type,id")
            #expect(lines.count == 11)
            for line in lines.dropFirst() {
                #expect(line.contains(",system,s0,\"'=HYPERLINK(\"\"http://x\"\")\","), "\(line)")
            }
        }
    }

    @Test(arguments: StoreBackend.available) func ndjsonExportHasOneLinePerEventWithRaw(_ backend: StoreBackend) async throws {
        try await withSeededServer(backend) { client in
            let response = try await client.execute(uri: "/v1/events/export?format=ndjson&action=user.logged_in", method: .get, headers: Self.viewer)
            let lines = String(buffer: response.body).split(separator: "\n")
            #expect(lines.count == 15)
            for line in lines {
                let value = try JSONParser.parse(Array(line.utf8))
                #expect(value["action"] == .string("user.logged_in"))
                #expect(value["raw"]?["action"] == .string("user.logged_in"))
            }
            #expect(try await client.execute(uri: "/v1/events/export?format=xml", method: .get, headers: Self.viewer).status == .badRequest)
        }
    }
}
