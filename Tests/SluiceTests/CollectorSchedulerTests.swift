import Foundation
import Logging
import SluiceCore
import SluiceEngine
import SluiceHTTP
import SluiceSources
import SluiceStorePostgres
import SluiceStoreSQLite
import SluiceTesting
import Testing

/// The scheduler's start rule (a missed run runs once at start, a recent one waits for its slot)
/// and runs asked for through `requestRun`.
@Suite struct CollectorSchedulerTests {
    static func summary(started: Timestamp) -> String {
        #"{"events_duplicate":0,"events_new":0,"finished":"\#(started.rfc3339)","outcome":"succeeded","pages":0,"requests":0,"retries":0,"started":"\#(started.rfc3339)","stream":"file_events","throttled":0,"warnings":[]}"#
    }

    @Test func aMissedRunRunsAtStartARecentOneWaitsAndRequestedRunsRun() async throws {
        let double = IncydrTestDouble()
        let now = SluiceRuntimeClock.now()
        double.addFileEvents(count: 10, insertedFrom: now - .seconds(300))
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try SQLiteEventStore(configuration: .init(path: directory.path + "/sluice.db"), logger: Logger(label: "test"))
        // "missed" last ran two hours ago on an hourly schedule; "recent" ten minutes ago.
        try await store.recordRun(stream: "missed/file_events", summary: Self.summary(started: now - .seconds(7_200)), at: now)
        try await store.recordRun(stream: "recent/file_events", summary: Self.summary(started: now - .seconds(600)), at: now)
        try await double.withServer { baseURL in
            let collectors = ["missed", "recent"].map { name in
                var configuration = IncydrConfiguration(name: name, baseURL: baseURL, clientID: double.clientID, clientSecret: double.clientSecret, streams: [.fileEvents])
                configuration.allowPrivateNetworks = true
                return ScheduledCollector(
                    collector: IncydrCollector(configuration: configuration, store: store, transport: .shared, logger: Logger(label: "test"), now: SluiceRuntimeClock.now),
                    schedule: .every(.seconds(3_600))
                )
            }
            let scheduler = CollectorScheduler(collectors: collectors, logger: Logger(label: "test"), now: SluiceRuntimeClock.now)
            func lastRunStarted(_ name: String) async throws -> Timestamp? {
                guard let text = try await store.checkpoint(stream: "\(name)/file_events")?.lastRun else { return nil }
                return try JSONDecoder().decode(StreamRunReport.self, from: Data(text.utf8)).started
            }
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await scheduler.run() }
                // The missed collector runs at once.
                var started: Timestamp?
                for _ in 0..<400 {
                    started = try await lastRunStarted("missed")
                    if let started, started > now - .seconds(60) { break }
                    try await Task.sleep(for: .milliseconds(25))
                }
                #expect(try #require(started) > now - .seconds(60))
                // The recent one is due an hour after its last start.
                var statuses: [CollectorStatus] = []
                for _ in 0..<400 {
                    statuses = try await scheduler.statuses()
                    if statuses.allSatisfy({ $0.nextRun != nil }) { break }
                    try await Task.sleep(for: .milliseconds(25))
                }
                let recent = try #require(statuses.first { $0.name == "recent" })
                #expect(recent.nextRun == now - .seconds(600) + .seconds(3_600))
                #expect(try await lastRunStarted("recent") == now - .seconds(600))
                // Asking for a run starts one now.
                let admin = AuditRequester(actor: AdminAuditEntry.user("ops"))
                let requestedKnown = try await scheduler.requestRun("recent", by: admin)
                let requestedUnknown = try await scheduler.requestRun("unknown", by: admin)
                #expect(requestedKnown && !requestedUnknown)
                var requested: Timestamp?
                for _ in 0..<400 {
                    requested = try await lastRunStarted("recent")
                    if let requested, requested > now - .seconds(60) { break }
                    try await Task.sleep(for: .milliseconds(25))
                }
                #expect(try #require(requested) > now - .seconds(60))
                group.cancelAll()
            }
        }
        // Both collectors read the same ten events into their own sources; the requested run is in the audit log.
        let page = try await store.events(matching: EventFilter(), after: nil, limit: 100)
        #expect(page.events.filter { $0.source != AdminAuditEntry.source }.count == 20)
        let audit = page.events.filter { $0.source == AdminAuditEntry.source }
        #expect(audit.map(\.normalized.action) == ["collector.run_triggered"] && audit.first?.normalized.targets.first?.id == "recent")
    }
}

/// The one administration of collectors that the API, the web UI and the CLI share: one set of
/// checks and words, and an audit entry only for what it starts.
@Suite struct CollectorAdministrationTests {
    @Test func backfillsAndRewindsAreCheckedOnceForEveryCaller() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try SQLiteEventStore(configuration: .init(path: directory.path + "/sluice.db"), logger: Logger(label: "test"))
        var configuration = IncydrConfiguration(name: "incydr", baseURL: "https://incydr.invalid", clientID: "id", clientSecret: "secret", streams: [.users, .fileEvents])
        configuration.allowPrivateNetworks = false
        let collector = IncydrCollector(configuration: configuration, store: store, transport: .shared, logger: Logger(label: "test"), now: SluiceRuntimeClock.now)
        let now = SluiceRuntimeClock.now()
        let admin = CollectorAdministration(collectors: [ScheduledCollector(collector: collector, schedule: .every(.seconds(3_600)))], now: { now })
        let requester = AuditRequester(actor: AdminAuditEntry.console("alice"))
        let refusals: [(String, () async throws(CollectorError) -> Void)] = [
            ("no collector named other; configured: incydr", { () async throws(CollectorError) in
                _ = try await admin.startBackfill("other", window: (now - .seconds(60))...now, by: requester)
            }),
            ("a backfill ends at or before now", { () async throws(CollectorError) in
                _ = try await admin.startBackfill("incydr", window: now...(now + .seconds(60)), by: requester)
            }),
            ("at most 366 days", { () async throws(CollectorError) in
                _ = try await admin.startBackfill("incydr", window: (now - .seconds(400 * 86_400))...now, by: requester)
            }),
            ("cannot backfill users", { () async throws(CollectorError) in
                _ = try await admin.startBackfill("incydr", window: (now - .seconds(60))...now, streams: ["users"], by: requester)
            }),
            ("has no stream cases; its streams are users, file_events", { () async throws(CollectorError) in
                try await admin.rewind("incydr", stream: "cases", to: now, by: requester)
            }),
        ]
        for (words, action) in refusals {
            do throws(CollectorError) {
                try await action()
                Issue.record("not refused: \(words)")
            } catch {
                #expect(error.message.contains(words), "\(error.message)")
                #expect(error.code == .rejected || error.code == .invalid)
            }
        }
        #expect(try await admin.startBackfill("incydr", window: (now - .seconds(3_600))...now, by: requester) == ["file_events"])
        try await admin.rewind("incydr", stream: "file_events", to: now - .seconds(60), by: requester)
        let audit = try await store.events(matching: EventFilter(source: AdminAuditEntry.source), after: nil, limit: 10).events
        #expect(audit.map(\.normalized.action).sorted() == ["collector.backfill_started", "collector.checkpoint_rewound"])
        #expect(audit.allSatisfy { $0.normalized.actor == AdminAuditEntry.console("alice") })
    }
}
