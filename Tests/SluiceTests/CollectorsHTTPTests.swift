import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import SluiceCore
import SluiceTesting
import Testing

/// The collector inside `sluice serve`: scheduled at start, visible and steerable over the admin API.
@Suite struct CollectorsHTTPTests {
    static let admin: HTTPFields = [.authorization: "Bearer ops-token-value-123"]
    static let viewer: HTTPFields = [.authorization: "Bearer soc-token-value-456"]

    @Test func theCollectorRunsAtStartAndTheAPIShowsAndSteersIt() async throws {
        let double = IncydrTestDouble()
        double.addFileEvents(count: 50, insertedFrom: SluiceRuntimeClock.now() - .seconds(600))
        try await double.withServer { baseURL in
            let yaml = """
                server:
                  admin_tokens:
                    - { name: ops, role: admin, token: "${env:OPS_TOKEN}" }
                    - { name: soc, role: viewer, token: "${env:SOC_TOKEN}" }

                """ + double.collectorsYAML(baseURL: baseURL, streams: "file_events", extra: ["schedule: { every: 1h }"])
            let environment = ["OPS_TOKEN": "ops-token-value-123", "SOC_TOKEN": "soc-token-value-456", "INCYDR_SECRET": double.clientSecret]
            let sluice = try await TestSluice(yaml: yaml, environment: environment)
            defer { sluice.cleanUp() }
            try await sluice.withLiveServer { client in
                // No run was ever recorded, so the first one starts at once.
                var listing = JSONValue.null
                for _ in 0..<400 {
                    let response = try await client.execute(uri: "/v1/collectors", method: .get, headers: Self.viewer)
                    #expect(response.status == .ok)
                    listing = try JSONParser.parse(Array(response.body.readableBytesView))
                    if listing.value(at: FieldPath("collectors"))?.arrayValue?.first?["streams"]?.arrayValue?.first?["last_run"]?.isNull == false { break }
                    try await Task.sleep(for: .milliseconds(50))
                }
                let collector = try #require(listing["collectors"]?.arrayValue?.first)
                #expect(collector["name"]?.stringValue == "incydr")
                #expect(collector["schedule"]?.stringValue == "every 1h")
                #expect(collector["next_run"]?.stringValue != nil)
                let stream = try #require(collector["streams"]?.arrayValue?.first)
                #expect(stream.value(at: FieldPath("last_run.outcome"))?.stringValue == "succeeded")
                #expect(stream.value(at: FieldPath("last_run.events_new"))?.textValue == "50")
                #expect(stream.value(at: FieldPath("last_run.window.expected"))?.textValue == "50")
                #expect(stream.value(at: FieldPath("checkpoint.insertedThrough"))?.stringValue != nil)
                #expect(String(decoding: listing.serialized(), as: UTF8.self).contains(double.clientSecret) == false)

                // Viewers look; only admins act.
                let forbidden = try await client.execute(uri: "/v1/collectors/incydr/run", method: .post, headers: Self.viewer)
                #expect(forbidden.status == .forbidden)
                let started = try await client.execute(uri: "/v1/collectors/incydr/run", method: .post, headers: Self.admin)
                #expect(started.status == .accepted)
                let unknown = try await client.execute(uri: "/v1/collectors/nope/run", method: .post, headers: Self.admin)
                #expect(unknown.status == .notFound)

                let badBody = try await client.execute(
                    uri: "/v1/collectors/incydr/streams/file_events/rewind", method: .post, headers: Self.admin, body: ByteBuffer(string: "{\"to\":\"yesterday\"}")
                )
                #expect(badBody.status == .badRequest)
                let badStream = try await client.execute(
                    uri: "/v1/collectors/incydr/streams/users/rewind", method: .post, headers: Self.admin,
                    body: ByteBuffer(string: "{\"to\":\"2026-01-01T00:00:00Z\"}")
                )
                #expect(badStream.status == .notFound)
                // The requested run may still hold the stream; a rewind then answers 409.
                var rewound = HTTPResponse.Status.conflict
                for _ in 0..<400 where rewound == .conflict {
                    rewound = try await client.execute(
                        uri: "/v1/collectors/incydr/streams/file_events/rewind", method: .post, headers: Self.admin,
                        body: ByteBuffer(string: "{\"to\":\"2026-01-01T00:00:00Z\"}")
                    ).status
                    if rewound == .conflict { try await Task.sleep(for: .milliseconds(50)) }
                }
                #expect(rewound == .ok)
                let after = try await client.execute(uri: "/v1/collectors", method: .get, headers: Self.admin)
                let json = try JSONParser.parse(Array(after.body.readableBytesView))
                #expect(json.value(at: FieldPath("collectors"))?.arrayValue?.first?["streams"]?.arrayValue?.first?
                    .value(at: FieldPath("checkpoint.insertedThrough"))?.stringValue == "2026-01-01T00:00:00.000000Z")

                // One audit entry per accepted action: refused, unknown and conflicting requests leave none.
                let audit = try await client.execute(uri: "/v1/events?feed=sluice&limit=50", method: .get, headers: Self.viewer)
                let entries = try JSONParser.parse(Array(audit.body.readableBytesView))["events"]?.arrayValue ?? []
                #expect(entries.compactMap { $0["action"]?.stringValue }.sorted() == ["collector.checkpoint_rewound", "collector.run_triggered"])
                #expect(entries.allSatisfy { $0["actor"]?["id"]?.stringValue == "token:ops" && $0["log_type"]?.stringValue == "SLUICE_AUDIT" })
                let rewind = entries.first { $0["action"]?.stringValue == "collector.checkpoint_rewound" }
                #expect(rewind?["targets"]?.arrayValue?.compactMap { $0["id"]?.stringValue } == ["incydr", "incydr/file_events"])
                #expect(rewind?["raw"]?["metadata"]?["to"]?.stringValue == "2026-01-01T00:00:00.000000Z")
                #expect(!String(buffer: audit.body).contains("ops-token-value-123"))
            }
            #expect(!sluice.allLogText.contains(double.clientSecret))
        }
    }
}
