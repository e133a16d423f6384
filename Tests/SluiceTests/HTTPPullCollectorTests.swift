import Foundation
import InMemoryLogging
import Logging
import SluiceApp
import SluiceCore
import SluiceEngine
import SluiceHTTP
import SluiceSources
import SluiceStoreSQLite
import SluiceTesting
import Testing

/// The declarative `http_pull` collector against a loopback API paged each way it knows, over
/// real HTTP into a real SQLite file, configured from YAML as an operator would.
@Suite struct HTTPPullCollectorTests {
    static let now = SluiceRuntimeClock.now

    /// Builds the collector named `pull` from the double's YAML and runs `body` with it.
    func withCollector(
        _ double: PagedAPITestDouble, pageSize: Int = 100, checkpoint: String = "window", extra: String = "",
        _ body: @escaping @Sendable (any PullCollector, SQLiteEventStore, @escaping @Sendable () throws -> any PullCollector) async throws -> Void
    ) async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try SQLiteEventStore(configuration: .init(path: directory.path + "/sluice.db"), logger: Logger(label: "test"))
        let logs = InMemoryLogs()
        try await double.withServer { baseURL in
            let yaml = "collectors:\n" + double.collectorYAML(name: "pull", baseURL: baseURL, pageSize: pageSize, checkpoint: checkpoint, extra: extra)
            let make: @Sendable () throws -> any PullCollector = {
                let config = try ConfigLoader(environment: [:]).load(yaml: yaml)
                let collectors = SluiceRuntime.makeCollectors(config, store: store, logger: logs.logger, now: SluiceRuntimeClock.now)
                return collectors[0].collector
            }
            try await body(try make(), store, make)
        }
        #expect(!logs.text.contains(double.token), "the API token reached the logs")
    }

    static func stored(_ store: SQLiteEventStore) async throws -> [StoredEvent] {
        try await store.events(afterSeq: 0, limit: 100_000).filter { $0.source == "pull" }
    }

    @Test(arguments: PagedAPITestDouble.Style.allCases)
    func everyPageExactlyOnceAcrossRuns(_ style: PagedAPITestDouble.Style) async throws {
        let double = PagedAPITestDouble(style: style)
        double.addRecords(count: 250, from: Self.now() - .seconds(7_200))
        try await withCollector(double) { collector, store, _ in
            let first = await collector.run(streamsNamed: nil, backfill: nil, fence: nil)
            #expect(first.map(\.outcome) == [.succeeded], "\(first.map { $0.error ?? "" })")
            #expect(first.first?.eventsNew == 250)
            // The link style always offers a next page: an empty one ends the run.
            #expect(first.first?.pages == (style == .link ? 4 : 3))
            var events = try await Self.stored(store)
            #expect(events.count == 250)
            #expect(Set(events.map { String(decoding: $0.raw, as: UTF8.self) }).count == 250)
            let one = try #require(events.first { String(decoding: $0.raw, as: UTF8.self).contains("\"r-3\"") })
            #expect(one.logType == "TEST_PULL")
            #expect(one.normalized.action == "user.session.start")
            #expect(one.normalized.actor?.id == "u3" && one.normalized.actor?.name == "User 3")
            #expect(one.normalized.context.location == "198.51.100.3")
            #expect(one.origin?.hasPrefix("logs@") == true)
            // New records: the next run reads from its checkpoint (less the overlap) and stores only them.
            double.addRecords(count: 30, from: Self.now() - .seconds(60), prefix: "late")
            let second = await collector.run(streamsNamed: nil, backfill: nil, fence: nil)
            #expect(second.first?.outcome == .succeeded)
            #expect(second.first?.eventsNew == 30)
            events = try await Self.stored(store)
            #expect(events.count == 280)
        }
    }

    @Test func throttlingServerErrorsAndAnExpiredTokenAreRetried() async throws {
        let double = PagedAPITestDouble(style: .nextToken)
        double.addRecords(count: 120, from: Self.now() - .seconds(3_600))
        double.inject([.tooManyRequests(retryAfter: "1"), .serverError, .repeatPrevious])
        try await withCollector(double, pageSize: 50) { collector, store, _ in
            let report = try #require(await collector.run(streamsNamed: ["logs"], backfill: nil, fence: nil).first)
            #expect(report.outcome == .succeeded, "\(report.error ?? "")")
            #expect(report.throttled == 1)
            #expect(report.retries == 2)
            #expect(try await Self.stored(store).count == 120)
        }
        #expect(double.stats.status429 == 1 && double.stats.status500 == 1)
    }

    @Test func aPageServedAgainStoresNothingTwice() async throws {
        let double = PagedAPITestDouble(style: .pageNumber)
        double.addRecords(count: 120, from: Self.now() - .seconds(3_600))
        try await withCollector(double, pageSize: 50) { collector, store, _ in
            _ = await collector.run(streamsNamed: nil, backfill: nil, fence: nil)
            // The next run's first request is answered with the last page of the run before: its
            // records are duplicates, and the new ones are read again by the run after (the
            // window's overlap), never lost.
            double.addRecords(count: 10, from: Self.now() - .seconds(30), prefix: "new")
            double.inject([.repeatPrevious])
            let second = try #require(await collector.run(streamsNamed: nil, backfill: nil, fence: nil).first)
            #expect(second.outcome == .succeeded)
            #expect(second.eventsNew == 0 && second.eventsDuplicate == 20)
            let third = try #require(await collector.run(streamsNamed: nil, backfill: nil, fence: nil).first)
            #expect(third.eventsNew == 10)
            let events = try await Self.stored(store)
            #expect(events.count == 130)
            #expect(Set(events.map(\.raw)).count == 130)
        }
    }

    @Test func aRunCutShortResumesAtItsNextPage() async throws {
        let double = PagedAPITestDouble(style: .offset)
        double.addRecords(count: 230, from: Self.now() - .seconds(3_600))
        try await withCollector(double, pageSize: 50, extra: "    max_pages_per_run: 2\n") { collector, store, _ in
            let first = try #require(await collector.run(streamsNamed: nil, backfill: nil, fence: nil).first)
            #expect(first.outcome == .succeeded)
            #expect(first.eventsNew == 100)
            #expect(first.warnings.first?.contains("max_pages_per_run") == true)
            let checkpoint = try #require(try await store.checkpoint(stream: "pull/logs")?.value)
            #expect(checkpoint.contains("\"offset\":100"))
            // Records after the cut-short window's end: the run that finishes that window reads
            // on to now, so they do not wait for another run.
            double.addRecords(count: 20, from: Self.now() + .milliseconds(1), spacing: .milliseconds(1), prefix: "after")
            // Windows are asked for in whole seconds: let the next one's end pass them.
            try await Task.sleep(for: .milliseconds(1_100))
            var reports: [StreamRunReport] = []
            for _ in 0..<2 { reports += await collector.run(streamsNamed: nil, backfill: nil, fence: nil) }
            #expect(reports.allSatisfy { $0.outcome == .succeeded })
            #expect(reports.reduce(0) { $0 + $1.eventsDuplicate } == 0)
            #expect(reports.map(\.eventsNew) == [100, 50], "\(reports.map { ($0.pages, $0.warnings, $0.eventsDuplicate) })")
            #expect(try await Self.stored(store).count == 250)
        }
    }

    @Test func aCursorFollowsTheLogAsItGrows() async throws {
        let double = PagedAPITestDouble(style: .link)
        double.addRecords(count: 140, from: Self.now() - .seconds(3_600))
        try await withCollector(double, pageSize: 50, checkpoint: "cursor") { collector, store, _ in
            let first = try #require(await collector.run(streamsNamed: nil, backfill: nil, fence: nil).first)
            #expect(first.outcome == .succeeded, "\(first.error ?? "")")
            #expect(first.eventsNew == 140)
            let cursor = try #require(try await store.checkpoint(stream: "pull/logs")?.value)
            #expect(cursor.contains("after=140"))
            double.addRecords(count: 25, from: Self.now() - .seconds(10), prefix: "new")
            let second = try #require(await collector.run(streamsNamed: nil, backfill: nil, fence: nil).first)
            // Only the new records are asked for: no re-read, no duplicates.
            #expect(second.eventsNew == 25)
            #expect(second.eventsDuplicate == 0)
            #expect(try await Self.stored(store).count == 165)
        }
    }

    @Test func aLoopingPaginationStopsTheStreamLeavingItsCheckpoint() async throws {
        let double = PagedAPITestDouble(style: .nextToken)
        double.addRecords(count: 150, from: Self.now() - .seconds(3_600))
        double.loop(on: "c-50")
        try await withCollector(double, pageSize: 50) { collector, store, _ in
            let report = try #require(await collector.run(streamsNamed: nil, backfill: nil, fence: nil).first)
            #expect(report.outcome == .failed)
            #expect(report.error?.contains("pagination loops") == true, "\(report.error ?? "")")
            // The page before the loop is kept, with the checkpoint that follows it; the page that
            // led back is not (the next run reads it again).
            #expect(try await Self.stored(store).count == 50)
            let checkpoint = try #require(try await store.checkpoint(stream: "pull/logs")?.value)
            #expect(checkpoint.contains("\"token\":\"c-50\""))
        }
    }

    @Test func aRecordsPathThatMatchesNothingIsAClearError() async throws {
        let double = PagedAPITestDouble(style: .pageNumber)
        double.addRecords(count: 5, from: Self.now() - .seconds(600))
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try SQLiteEventStore(configuration: .init(path: directory.path + "/sluice.db"), logger: Logger(label: "test"))
        try await double.withServer { baseURL in
            let yaml = "collectors:\n" + double.collectorYAML(name: "pull", baseURL: baseURL).replacingOccurrences(of: "records: \"items\"", with: "records: \"entries\"")
            let config = try ConfigLoader(environment: [:]).load(yaml: yaml)
            let collector = SluiceRuntime.makeCollectors(config, store: store, logger: Logger(label: "t"), now: Self.now)[0].collector
            let report = try #require(await collector.run(streamsNamed: nil, backfill: nil, fence: nil).first)
            #expect(report.outcome == .failed)
            #expect(report.error?.contains("records path \"entries\" matches nothing") == true, "\(report.error ?? "")")
            #expect(try await store.checkpoint(stream: "pull/logs")?.version ?? 0 == 0)
            // The failure is in the audit log once, however often it repeats; so is the recovery.
            _ = await collector.run(streamsNamed: nil, backfill: nil, fence: nil)
            var audit = try await Self.auditActions(store)
            #expect(audit == ["collector.stream_failed"])
            let entry = try #require(try await store.events(afterSeq: 0, limit: 100).first { $0.source == AdminAuditEntry.source })
            #expect(entry.normalized.targets.map(\.id) == ["pull", "pull/logs"])
            #expect(String(decoding: entry.raw, as: UTF8.self).contains("matches nothing"))
            let fixed = try ConfigLoader(environment: [:]).load(yaml: "collectors:\n" + double.collectorYAML(name: "pull", baseURL: baseURL))
            let good = SluiceRuntime.makeCollectors(fixed, store: store, logger: Logger(label: "t"), now: Self.now)[0].collector
            #expect(await good.run(streamsNamed: nil, backfill: nil, fence: nil).first?.outcome == .succeeded)
            audit = try await Self.auditActions(store)
            #expect(audit == ["collector.stream_failed", "collector.stream_recovered"])
        }
    }

    static func auditActions(_ store: SQLiteEventStore) async throws -> [String] {
        try await store.events(afterSeq: 0, limit: 1_000).filter { $0.source == AdminAuditEntry.source }.map(\.normalized.action)
    }

    @Test func aBackfillReadsItsWindowBesideTheLiveCheckpoint() async throws {
        let double = PagedAPITestDouble(style: .nextToken)
        let start = Self.now() - .seconds(40 * 86_400)
        double.addRecords(count: 60, from: start, spacing: .seconds(3_600))
        try await withCollector(double) { collector, store, _ in
            let window = start...(start + .seconds(30 * 3_600))
            let reports = await collector.run(streamsNamed: nil, backfill: window, fence: nil)
            #expect(reports.first?.outcome == .succeeded)
            #expect(reports.first?.eventsNew == 30)
            let live = try await store.checkpoint(stream: "pull/logs")
            #expect(live == nil)
            // Done once: the same backfill again reads nothing.
            #expect(await collector.run(streamsNamed: nil, backfill: window, fence: nil).first?.requests == 0)
        }
    }

    @Test func killedRunsResumeWithoutLossOrDuplicates() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: SluiceCommandLine.binary), "build the sluice executable first (swift build --build-tests)")
        let total = 1_500
        let double = PagedAPITestDouble(style: .nextToken, latency: .milliseconds(15))
        double.addRecords(count: total, from: Self.now() - .seconds(3 * 86_400), spacing: .seconds(60))
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let (killedMidRun, finalStatus) = try await double.withServer { baseURL -> (Int, Int32) in
            let config = directory.path + "/sluice.yaml"
            try ("collectors:\n" + double.collectorYAML(name: "pull", baseURL: baseURL, pageSize: 50)).write(toFile: config, atomically: true, encoding: .utf8)
            func start() async throws -> ChildProcess {
                try await SluiceCommandLine.start(
                    ["collect", "pull", "--once", "--config", config, "--data-dir", directory.path, "--log-level", "error"], environment: [:]
                )
            }
            var killedMidRun = 0
            for kill in 0..<3 {
                let process = try await start()
                // Let a few pages through (a different number each time), then SIGKILL.
                let target = double.stats.requests + 4 + kill * 3
                for _ in 0..<2_000 {
                    if double.stats.requests >= target || !process.isRunning { break }
                    try await Task.sleep(for: .milliseconds(5))
                }
                process.kill()
                if try await process.wasSignaled() { killedMidRun += 1 }
            }
            return (killedMidRun, try await start().exitStatus())
        }
        #expect(killedMidRun == 3)
        #expect(finalStatus == 0)
        let store = try SQLiteEventStore(configuration: .init(path: directory.path + "/sluice.db"), logger: Logger(label: "test"))
        let stored = try await Self.stored(store)
        #expect(stored.count == total)
        #expect(Set(stored.map(\.raw)).count == total)
    }

    @Test func aDryRunPrintsWhatItWouldStoreAndStoresNothing() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: SluiceCommandLine.binary), "build the sluice executable first (swift build --build-tests)")
        let double = PagedAPITestDouble(style: .pageNumber)
        double.addRecords(count: 30, from: Self.now() - .seconds(3_600))
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let (status, output) = try await double.withServer { baseURL -> (Int32, String) in
            let config = directory.path + "/sluice.yaml"
            try ("collectors:\n" + double.collectorYAML(name: "pull", baseURL: baseURL, pageSize: 20)).write(toFile: config, atomically: true, encoding: .utf8)
            let cli = SluiceCommandLine(trailingArguments: ["--config", config, "--data-dir", directory.path, "--log-level", "error"], environment: [:], outputDirectory: directory.path)
            return try await cli.run(["collect", "pull", "--once", "--dry-run"])
        }
        #expect(status == 0)
        let lines = output.split(separator: "\n")
        #expect(lines.filter { $0.hasPrefix("{\"would_store\":\"pull\"") }.count == 30)
        #expect(lines.filter { $0.contains("\"would_move_checkpoint\":\"pull/logs\"") }.count == 2)
        #expect(lines.last?.contains("\"events_new\":30") == true)
        let store = try SQLiteEventStore(configuration: .init(path: directory.path + "/sluice.db"), logger: Logger(label: "test"))
        #expect(try await Self.stored(store).isEmpty)
        let checkpoint = try await store.checkpoint(stream: "pull/logs")
        #expect(checkpoint == nil)
    }

    @Test func theOktaPresetNeedsOnlyAnAddressAndAToken() async throws {
        let double = PagedAPITestDouble(style: .link, token: "okta-api-token-value", path: "/api/v1/logs", scheme: "SSWS")
        double.addRecords(count: 1_300, from: Self.now() - .seconds(1_800), spacing: .seconds(1))
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try SQLiteEventStore(configuration: .init(path: directory.path + "/sluice.db"), logger: Logger(label: "test"))
        try await double.withServer { baseURL in
            let yaml = """
                collectors:
                  okta:
                    type: okta_system_log
                    base_url: "\(baseURL)"
                    token: "${env:OKTA_TOKEN}"
                    allow_private_networks: true
                    lookback: 1h
                """
            let config = try ConfigLoader(environment: ["OKTA_TOKEN": "okta-api-token-value"]).load(yaml: yaml)
            let collector = SluiceRuntime.makeCollectors(config, store: store, logger: Logger(label: "t"), now: Self.now)[0].collector
            #expect(collector.streamNames == ["system_log"])
            let first = try #require(await collector.run(streamsNamed: nil, backfill: nil, fence: nil).first)
            #expect(first.outcome == .succeeded, "\(first.error ?? "")")
            #expect(first.eventsNew == 1_300)
            // Pages of 1,000, then the empty page that ends a poll.
            #expect(first.pages == 3)
            double.addRecords(count: 5, from: Self.now() - .seconds(5), prefix: "new")
            let second = try #require(await collector.run(streamsNamed: nil, backfill: nil, fence: nil).first)
            #expect(second.eventsNew == 5 && second.eventsDuplicate == 0)
        }
        let events = try await store.events(afterSeq: 0, limit: 2_000).filter { $0.source == "okta" }
        #expect(events.count == 1_305)
        let one = try #require(events.first { String(decoding: $0.raw, as: UTF8.self).contains("\"r-2\"") })
        #expect(one.logType == "OKTA")
        #expect(one.normalized.action == "user.session.start")
        #expect(one.normalized.actor == AuditActor(type: "User", id: "u2", name: "User 2"))
        #expect(one.normalized.targets.first?.id == "app-2" && one.normalized.targets.first?.type == "AppInstance")
        #expect(one.normalized.context.location == "198.51.100.2")
    }

    @Test func theConfigCheckNamesWhatCannotWork() throws {
        let yaml = """
            collectors:
              acme:
                type: http_pull
                base_url: https://api.acme.example
                auth: { type: api_key, header: X-Key, query: key, value: abc }
                streams:
                  events:
                    path: "/v1/{{tenant}}/events"
                    time: created_at
                    time_format: iso
                    checkpoint: cursor
                    pagination: { type: page_number }
                  more:
                    path: /v1/more
            """
        do {
            _ = try ConfigLoader(environment: [:]).load(yaml: yaml)
            Issue.record("the config was accepted")
        } catch {
            let text = error.description
            #expect(text.contains("collectors.acme.streams.events.path") && text.contains("unknown template variable {{tenant}}"), "\(text)")
            #expect(text.contains("collectors.acme.streams.events.time_format"), "\(text)")
            #expect(text.contains("collectors.acme.streams.events.pagination.param"), "\(text)")
            #expect(text.contains("collectors.acme.streams.more.time") && text.contains("missing"), "\(text)")
            #expect(text.contains("collectors.acme.auth") && text.contains("exactly one of header and query"), "\(text)")
        }
    }
}
