import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import SluiceCore
import SluiceTesting
import Testing

/// Delivery inside `sluice serve`: pushed events reach the configured destination, and the admin
/// API shows status, lists and re-drives dead letters and queues replays.
@Suite struct DestinationsHTTPTests {
    static let admin: HTTPFields = [.authorization: "Bearer ops-token-value-123"]
    static let viewer: HTTPFields = [.authorization: "Bearer soc-token-value-456"]

    @Test func pushedEventsReachChronicleAndTheAPIShowsAndSteersDelivery() async throws {
        let double = SinkTestDouble()
        try await double.withServer { base in
            let yaml = """
                server:
                  admin_tokens:
                    - { name: ops, role: admin, token: "${env:OPS_TOKEN}" }
                    - { name: soc, role: viewer, token: "${env:SOC_TOKEN}" }
                feeds:
                  incident-io: { log_type: INCIDENT_IO, secret: "${env:FEED_SECRET}" }
                destinations:
                  chronicle:
                    type: chronicle_webhook
                    url: "\(double.chronicleURL(base: base))"
                    api_key: "${env:CHRONICLE_API_KEY}"
                    secret: "${env:CHRONICLE_FEED_SECRET}"
                    allow_private_networks: true
                    batch: { max_wait: 50ms }
                routes:
                  - { from: [incident-io], to: [chronicle] }
                """
            let environment = [
                "OPS_TOKEN": "ops-token-value-123", "SOC_TOKEN": "soc-token-value-456", "FEED_SECRET": "feed-secret-value-789",
                "CHRONICLE_API_KEY": double.apiKey, "CHRONICLE_FEED_SECRET": double.feedSecret,
            ]
            let sluice = try await TestSluice(yaml: yaml, environment: environment)
            defer { sluice.cleanUp() }
            try await sluice.withLiveServer { client in
                let body = (0..<30).map { "{\"id\":\"evt-\($0)\",\"action\":\"user.created\",\"occurred_at\":\"2026-11-20T10:00:\(10 + $0)Z\"}" }.joined(separator: "\n")
                let pushed = try await client.execute(
                    uri: "/v1/feeds/incident-io/events", method: .post, headers: [HTTPField.Name("X-Webhook-Access-Key")!: "feed-secret-value-789"],
                    body: ByteBuffer(string: body)
                )
                #expect(pushed.status == .ok)
                let delivered = try await eventually { double.received.events.count == 30 }
                #expect(delivered)

                let listing = try await client.execute(uri: "/v1/destinations", method: .get, headers: Self.viewer)
                #expect(listing.status == .ok)
                let text = String(buffer: listing.body)
                let json = try JSONParser.parse(Array(listing.body.readableBytesView))
                let status = try #require(json["destinations"]?.arrayValue?.first)
                #expect(status["name"]?.stringValue == "chronicle" && status["type"]?.stringValue == "chronicle_webhook")
                #expect(status["lag_events"]?.textValue == "0" && status["delivered"]?.textValue == "30" && status["paused"] == .bool(false))
                #expect(!text.contains(double.apiKey) && !text.contains(double.feedSecret))

                let letters = try await client.execute(uri: "/v1/destinations/chronicle/dead-letters", method: .get, headers: Self.viewer)
                #expect(letters.status == .ok)
                #expect(try JSONParser.parse(Array(letters.body.readableBytesView))["dead_letters"]?.arrayValue?.isEmpty == true)

                let viewerReplay = try await client.execute(
                    uri: "/v1/destinations/chronicle/replay", method: .post, headers: Self.viewer, body: ByteBuffer(string: "{\"since\":\"2026-11-20T10:00:00Z\"}")
                )
                #expect(viewerReplay.status == .forbidden)
                let badReplay = try await client.execute(
                    uri: "/v1/destinations/chronicle/replay", method: .post, headers: Self.admin, body: ByteBuffer(string: "{\"since\":\"last week\"}")
                )
                #expect(badReplay.status == .badRequest)
                let unknown = try await client.execute(
                    uri: "/v1/destinations/nowhere/replay", method: .post, headers: Self.admin, body: ByteBuffer(string: "{\"since\":\"2026-11-20T10:00:00Z\"}")
                )
                #expect(unknown.status == .notFound)
                var withAgent = Self.admin
                withAgent[.userAgent] = "soc-runbook/2.1"
                let replay = try await client.execute(
                    uri: "/v1/destinations/chronicle/replay", method: .post, headers: withAgent,
                    body: ByteBuffer(string: "{\"since\":\"2026-11-20T10:00:10Z\",\"until\":\"2026-11-20T10:00:20Z\"}")
                )
                #expect(replay.status == .accepted)
                let replayed = try await eventually { double.received.events.count == 40 }
                #expect(replayed, "the ten events of the range are sent again")
                let redrive = try await client.execute(uri: "/v1/destinations/chronicle/dead-letters/redrive", method: .post, headers: withAgent)
                #expect(redrive.status == .accepted)
                #expect(try JSONParser.parse(Array(redrive.body.readableBytesView))["redrive_requested"]?.textValue == "0")

                // Sluice's own audit log: one entry per accepted action, none for refused ones.
                let audit = try await client.execute(uri: "/v1/events?log_type=SLUICE_AUDIT&limit=50", method: .get, headers: Self.viewer)
                let auditText = String(buffer: audit.body)
                let entries = try JSONParser.parse(Array(audit.body.readableBytesView))["events"]?.arrayValue ?? []
                #expect(entries.compactMap { $0["action"]?.stringValue }.sorted() == ["destination.dead_letters_redriven", "destination.replay_started"])
                for entry in entries {
                    #expect(entry["feed"]?.stringValue == "sluice" && entry["schema_version"]?.textValue == "1")
                    #expect(entry["actor"]?["type"]?.stringValue == "user" && entry["actor"]?["name"]?.stringValue == "ops")
                    #expect(entry["targets"]?.arrayValue?.first?["id"]?.stringValue == "chronicle")
                    #expect(entry["context"]?["location"]?.stringValue == "127.0.0.1" && entry["context"]?["user_agent"]?.stringValue == "soc-runbook/2.1")
                }
                let started = entries.first { $0["action"]?.stringValue == "destination.replay_started" }
                let raw = started?["raw"]
                #expect(raw?["metadata"]?["since"]?.stringValue == "2026-11-20T10:00:10.000000Z" && raw?["metadata"]?["replay_id"] != nil)
                #expect(!auditText.contains("ops-token-value-123") && !auditText.contains(double.feedSecret))

                // Pause and resume: admins only, a reason required, shown in status.
                let viewerPause = try await client.execute(
                    uri: "/v1/destinations/chronicle/pause", method: .post, headers: Self.viewer, body: ByteBuffer(string: "{\"reason\":\"x\"}")
                )
                #expect(viewerPause.status == .forbidden)
                let noReason = try await client.execute(uri: "/v1/destinations/chronicle/pause", method: .post, headers: Self.admin, body: ByteBuffer(string: "{}"))
                #expect(noReason.status == .badRequest)
                let pause = try await client.execute(
                    uri: "/v1/destinations/chronicle/pause", method: .post, headers: Self.admin, body: ByteBuffer(string: "{\"reason\":\"SIEM upgrade\"}")
                )
                #expect(pause.status == .ok && String(buffer: pause.body).contains("\"changed\":true"))
                let paused = try await eventually {
                    let listing = try await client.execute(uri: "/v1/destinations", method: .get, headers: Self.viewer)
                    let first = try JSONParser.parse(Array(listing.body.readableBytesView))["destinations"]?.arrayValue?.first
                    return first?["paused"] == .bool(true) && first?["paused_reason"]?.stringValue?.hasSuffix(": SIEM upgrade") == true
                }
                #expect(paused)
                let resume = try await client.execute(uri: "/v1/destinations/chronicle/resume", method: .post, headers: Self.admin)
                #expect(resume.status == .ok && String(buffer: resume.body).contains("\"changed\":true"))
                let again = try await client.execute(uri: "/v1/destinations/chronicle/resume", method: .post, headers: Self.admin)
                #expect(String(buffer: again.body).contains("\"changed\":false"))
                let holds = try await client.execute(uri: "/v1/events?feed=sluice&action=destination.*&limit=50", method: .get, headers: Self.viewer)
                let actions = (try JSONParser.parse(Array(holds.body.readableBytesView))["events"]?.arrayValue ?? []).compactMap { $0["action"]?.stringValue }
                #expect(actions.filter { $0 == "destination.paused" || $0 == "destination.resumed" }.sorted() == ["destination.paused", "destination.resumed"])
            }
            #expect(!sluice.allLogText.contains(double.feedSecret) && !sluice.allLogText.contains(double.apiKey))
        }
    }
}
