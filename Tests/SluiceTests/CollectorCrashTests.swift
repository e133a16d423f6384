import Foundation
import Logging
import SluiceCore
import SluiceStorePostgres
import SluiceStoreSQLite
import SluiceTesting
import Testing

/// `sluice collect --once` as a real process, killed with SIGKILL mid-run, again and again: the
/// final store holds every file event exactly once.
@Suite struct CollectorCrashTests {
    @Test func killedRunsResumeWithoutLossOrDuplicates() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: SluiceCommandLine.binary), "build the sluice executable first (swift build --build-tests)")
        let total = 3_000
        let double = IncydrTestDouble(latency: .milliseconds(15))
        double.addFileEvents(count: total, insertedFrom: SluiceRuntimeClock.now() - .seconds(900))
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let (killedMidRun, served, finalStatus) = try await double.withServer { baseURL -> (Int, Int, Int32) in
            let config = directory.path + "/sluice.yaml"
            try double.collectorsYAML(baseURL: baseURL, streams: "file_events", extra: ["page_size: { file_events: 50 }"])
                .write(toFile: config, atomically: true, encoding: .utf8)
            func start() async throws -> ChildProcess {
                try await SluiceCommandLine.start(
                    ["collect", "incydr", "--once", "--config", config, "--data-dir", directory.path, "--log-level", "error"],
                    environment: ["INCYDR_SECRET": double.clientSecret]
                )
            }
            var served = 0
            var killedMidRun = 0
            for kill in 0..<4 {
                let process = try await start()
                // Let a few pages through (a different number each time), then SIGKILL.
                let target = served + 4 + kill * 3
                for _ in 0..<2_000 {
                    if double.stats.requestsByPath["/v2/file-events", default: 0] >= target || !process.isRunning { break }
                    try await Task.sleep(for: .milliseconds(5))
                }
                process.kill()
                if try await process.wasSignaled() { killedMidRun += 1 }
                served = double.stats.requestsByPath["/v2/file-events", default: 0]
            }
            let last = try await start()
            return (killedMidRun, served, try await last.exitStatus())
        }
        // Every kill landed inside a run (3,000 events in pages of 50 take 60 requests).
        #expect(killedMidRun == 4)
        #expect(served < 60)
        #expect(finalStatus == 0)
        let store = try SQLiteEventStore(configuration: .init(path: directory.path + "/sluice.db"), logger: Logger(label: "test"))
        #expect(try await store.integrityCheck() == "ok")
        var ids = Set<String>()
        var stored = 0
        var runsRecorded = 0
        var seq: Int64 = 0
        while true {
            let batch = try await store.events(afterSeq: seq, limit: 1_000)
            guard let lastEvent = batch.last else { break }
            seq = lastEvent.seq
            for event in batch {
                // Each start of `sluice collect --once` is in Sluice's own audit log too.
                if event.source == AdminAuditEntry.source {
                    runsRecorded += event.normalized.action == "collector.run_triggered" ? 1 : 0
                    continue
                }
                stored += 1
                let raw = try JSONParser.parse(event.raw)
                ids.insert(raw.value(at: FieldPath("event.id"))?.stringValue ?? "")
            }
        }
        #expect(stored == total)
        #expect(ids.count == total)
        #expect(runsRecorded == killedMidRun + 1, "one entry per start, killed or not")
    }

    /// Exit codes for external schedulers: 0 only when every stream succeeded, 1 when one
    /// failed (with its summary on stdout), 2 for a bad command line.
    @Test func exitCodesOfCollectOnce() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: SluiceCommandLine.binary), "build the sluice executable first (swift build --build-tests)")
        let double = IncydrTestDouble()
        double.addFileEvents(count: 5, insertedFrom: SluiceRuntimeClock.now() - .seconds(60))
        double.setFailing("/v1/audit/search-audit-log", true)
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let results = try await double.withServer { baseURL -> [(Int32, String)] in
            let config = directory.path + "/sluice.yaml"
            try double.collectorsYAML(baseURL: baseURL, streams: "file_events, audit", extra: ["retry: { attempts: 2, base_delay: 1s, max_delay: 1s }"])
                .write(toFile: config, atomically: true, encoding: .utf8)
            let cli = SluiceCommandLine(
                trailingArguments: ["--config", config, "--data-dir", directory.path, "--log-level", "critical"],
                environment: ["INCYDR_SECRET": double.clientSecret], outputDirectory: directory.path
            )
            func run(_ arguments: [String]) async throws -> (Int32, String) {
                let result = try await cli.run(arguments)
                return (result.status, result.output)
            }
            return [
                try await run(["collect", "incydr", "--once", "--stream", "file_events"]),
                try await run(["collect", "incydr", "--once"]),
                try await run(["collect", "nope", "--once"]),
                try await run(["collect", "incydr", "--since", "2026-01-01"]),
                try await run(["collect", "incydr", "--since", "2026-01-01", "--until", "2026-01-02", "--stream", "file_events"]),
            ]
        }
        #expect(results[0].0 == 0)
        #expect(results[0].1.contains("\"outcome\":\"succeeded\""))
        #expect(results[1].0 == 1)
        #expect(results[1].1.contains("\"outcome\":\"failed\""))
        #expect(!results[1].1.contains(double.clientSecret))
        #expect(results[2].0 == 2)
        #expect(results[3].0 == 2)
        #expect(results[4].0 == 0)
        // Runs the CLI started are in the audit log, by the operator's login; refused commands are
        // not. The failing audit stream is there too, once, by Sluice itself.
        let store = try SQLiteEventStore(configuration: .init(path: directory.path + "/sluice.db"), logger: Logger(label: "test"))
        let all = try await store.events(matching: EventFilter(source: AdminAuditEntry.source), after: nil, limit: 10).events
        let audit = all.filter { $0.normalized.action != "collector.stream_failed" }
        #expect(audit.map(\.normalized.action).sorted() == ["collector.backfill_started", "collector.run_triggered", "collector.run_triggered"])
        #expect(audit.allSatisfy { $0.normalized.actor?.id.hasPrefix("cli:") == true && $0.normalized.targets.first?.id == "incydr" })
        let failed = all.filter { $0.normalized.action == "collector.stream_failed" }
        #expect(failed.map { $0.normalized.targets.map(\.id) } == [["incydr", "incydr/audit"]])
        #expect(failed.first?.normalized.actor == AdminAuditEntry.system)
        let backfill = audit.first { $0.normalized.action == "collector.backfill_started" }
        #expect(backfill?.normalized.targets.map(\.id) == ["incydr", "incydr/file_events"])
    }
}
