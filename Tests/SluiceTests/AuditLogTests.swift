import Foundation
import HTTPTypes
import Logging
import HummingbirdTesting
import NIOCore
import SluiceCore
@testable import SluiceServer
import SluiceStorePostgres
import SluiceStoreSQLite
import SluiceTesting
import Testing

/// Sluice's own audit log (log type SLUICE_AUDIT): failed push authentication summarized within
/// bounds, CLI actions recorded with the operator's login, and the audit source routable.
@Suite struct AuditLogTests {
    static func auditEntries(_ store: any SluiceStorage) async throws -> [StoredEvent] {
        try await store.events(matching: EventFilter(source: AdminAuditEntry.source), after: nil, limit: 1_000).events
    }

    @Test func aBurstOfBadPushesStoresOneSummaryPerFeedAndAddress() async throws {
        let sluice = try await TestSluice()
        defer { sluice.cleanUp() }
        let wrongSecret = "not-the-secret-\(UUID().uuidString)"
        try await sluice.withLiveServer { client in
            for _ in 0..<10_000 {
                let response = try await client.execute(
                    uri: "/v1/feeds/default/events", method: .post,
                    headers: [HTTPField.Name("X-Webhook-Access-Key")!: wrongSecret, .userAgent: "scanner/1.0"], body: ByteBuffer(string: "{}")
                )
                #expect(response.status == .unauthorized)
            }
        }
        let entries = try await Self.auditEntries(sluice.store).filter { $0.normalized.action == "feed.auth_failed" }
        #expect(entries.count == 1, "10,000 refused pushes from one address in one window: one summary")
        let summary = try #require(entries.first)
        #expect(summary.normalized.action == "feed.auth_failed" && summary.logType == AdminAuditEntry.logType)
        #expect(summary.normalized.targets == [AuditTarget(type: "feed", id: "default")])
        #expect(summary.normalized.context == AuditContext(location: "127.0.0.1", userAgent: "scanner/1.0"))
        #expect(summary.normalized.actor?.type == "api_key")
        #expect(!String(decoding: summary.raw, as: UTF8.self).contains(wrongSecret))
        #expect(try await sluice.store.count() == (try await Self.auditEntries(sluice.store).count), "no pushed event was stored")
    }

    @Test func summariesCountEveryFailureAndStayBoundedAgainstRotatingAddresses() {
        let start = Timestamp(seconds: 1_795_000_000)
        let steady = AuthFailureSummaries(action: "feed.auth_failed", targetType: "feed", window: .seconds(60), maxTracked: 100)
        var reports: [AdminAuditEntry] = []
        // 10,000 failures from one address over 10,000 s: one report per 60 s window.
        for i in 0..<10_000 {
            if let entry = steady.note(scope: "default", ip: "203.0.113.9", reason: "wrong_secret", userAgent: nil, at: start + .seconds(Int64(i))) {
                reports.append(entry)
            }
        }
        let counted = reports.compactMap { entry in entry.metadata.first { $0.key == "failures" }?.value.textValue.flatMap { Int($0) } }
        #expect(reports.count == 167, "the first failure, then one report per 60 s window")
        #expect(counted.reduce(0, +) == 9_961, "every failure counted, except those of the open window")
        #expect(counted.first == 1 && counted.dropFirst().allSatisfy { $0 == 60 })

        // 10,000 failures from 10,000 addresses in one window: at most maxTracked + 1 reports.
        let rotating = AuthFailureSummaries(action: "feed.auth_failed", targetType: "feed", window: .seconds(60), maxTracked: 100)
        var rotated = 0
        for i in 0..<10_000 {
            if rotating.note(scope: "default", ip: "198.51.\(i / 256).\(i % 256)", reason: "wrong_secret", userAgent: nil, at: start) != nil { rotated += 1 }
        }
        #expect(rotated == 101)
    }

    @Test func commandLineReplayAndRedriveAreRecordedWithTheOperatorsLogin() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: SluiceCommandLine.binary), "build the sluice executable first (swift build --build-tests)")
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let config = directory.path + "/sluice.yaml"
        try """
            feeds:
              incident-io: { log_type: INCIDENT_IO, secret: "${env:FEED_SECRET}" }
            destinations:
              disk: { type: file, path: \(directory.path)/out }
            routes:
              - { from: [incident-io, sluice], to: [disk] }
            """.write(toFile: config, atomically: true, encoding: .utf8)
        let cli = SluiceCommandLine(
            trailingArguments: ["--config", config, "--data-dir", directory.path, "--log-level", "critical"],
            environment: ["FEED_SECRET": "cli-feed-secret-value", "USER": "alice"], outputDirectory: directory.path
        )
        func run(_ arguments: [String]) async throws -> Int32 { try await cli.run(arguments).status }
        #expect(try await run(["replay", "disk", "--since", "2026-11-01", "--until", "2026-11-02"]) == 0)
        #expect(try await run(["replay", "disk", "--since", "2026-11-03"]) == 0)
        #expect(try await run(["dead-letters", "redrive", "disk"]) == 0)
        #expect(try await run(["replay", "nowhere", "--since", "2026-11-01"]) != 0)
        #expect(try await run(["pause", "disk", "--reason", "disk almost full"]) == 0)
        #expect(try await run(["pause", "disk", "--reason", "still full"]) == 0, "already paused: nothing changes, nothing is recorded")
        #expect(try await run(["pause", "disk", "--reason", ""]) == 2)
        #expect(try await run(["replay", "disk", "--since", "2026-11-03", "--until", "2026-11-02"]) == 2, "since after until")
        let held = try await SQLiteEventStore(configuration: .init(path: directory.path + "/sluice.db"), logger: .init(label: "test")).hold(destination: "disk")
        #expect(held?.heldBy == "cli:alice" && held?.reason == "disk almost full")
        #expect(try await run(["resume", "disk"]) == 0)

        let store = try SQLiteEventStore(configuration: .init(path: directory.path + "/sluice.db"), logger: .init(label: "test"))
        let entries = try await Self.auditEntries(store)
        #expect(entries.map(\.normalized.action).sorted() == [
            "destination.dead_letters_redriven", "destination.paused", "destination.replay_started", "destination.replay_started", "destination.resumed",
        ])
        // A replay without an end records null, not the "no end" instant printed as a date.
        let untils = try entries.filter { $0.normalized.action == "destination.replay_started" }
            .map { try JSONParser.parse($0.raw)["metadata"]?["until"] }
        #expect(untils.contains(.string("2026-11-02T00:00:00.000000Z")))
        #expect(untils.contains(.null))
        #expect(try await store.hold(destination: "disk") == nil)
        #expect(entries.allSatisfy { $0.normalized.actor == AdminAuditEntry.console("alice") })
        #expect(entries.allSatisfy { $0.normalized.context == AuditContext(location: "local", userAgent: "sluice-cli") })
        #expect(entries.allSatisfy { $0.normalized.targets == [AuditTarget(type: "destination", id: "disk")] })
        let replays = try await store.openReplays(destination: "disk")
        #expect(replays.count == 2)
    }
}
