import Foundation
import Logging
import SluiceCore
import Synchronization

/// What every collector does around one run of one stream, whatever it reads: never two runs of
/// a checkpoint at once, the run's report (counts, outcome, error) stored beside the checkpoint
/// and logged, and the rewind and status of a stream. One per collector.
final class StreamRuns: Sendable {
    let collector: String
    let store: any EventStore
    let logger: Logger
    let now: @Sendable () -> Timestamp
    private let running = Mutex<Set<String>>([])

    init(collector: String, store: any EventStore, logger: Logger, now: @escaping @Sendable () -> Timestamp) {
        self.collector = collector
        self.store = store
        self.logger = logger
        self.now = now
    }

    /// The checkpoint key of a backfill of the stream whose live key is `key`.
    static func key(_ key: String, backfill: ClosedRange<Timestamp>?) -> String {
        guard let backfill else { return key }
        return "\(key)@backfill:\(backfill.lowerBound.rfc3339)..\(backfill.upperBound.rfc3339)"
    }

    func isRunning(_ key: String) -> Bool {
        running.withLock { $0.contains(key) }
    }

    /// Runs each of `streams` with `run`, concurrently (one failing stream never holds back
    /// another); returns when all have finished, their reports by stream name.
    static func concurrently<Stream: Sendable>(
        _ streams: [Stream], _ run: @escaping @Sendable (Stream) async -> StreamRunReport
    ) async -> [StreamRunReport] {
        await withTaskGroup(of: StreamRunReport.self) { group in
            for stream in streams {
                group.addTask { await run(stream) }
            }
            var reports: [StreamRunReport] = []
            for await report in group { reports.append(report) }
            return reports.sorted { $0.stream < $1.stream }
        }
    }

    /// Runs `body` as the run of `stream` under checkpoint `key` (skipped when one is in
    /// progress). `body` counts into the counters and may fill the report (warnings, a window count).
    func run(
        stream: String, key: String,
        _ body: (inout StreamRunCounters, inout StreamRunReport) async throws(CollectorError) -> Void
    ) async -> StreamRunReport {
        let started = now()
        var report = StreamRunReport(
            stream: stream, started: started, finished: started, outcome: .skipped, error: nil, pages: 0, eventsNew: 0,
            eventsDuplicate: 0, requests: 0, throttled: 0, retries: 0, window: nil, warnings: []
        )
        guard running.withLock({ $0.insert(key).inserted }) else {
            report.error = "a run of \(key) is already in progress"
            return report
        }
        defer { _ = running.withLock { $0.remove(key) } }
        let previous = await previousRun(key)
        var counters = StreamRunCounters()
        do {
            try await body(&counters, &report)
            report.outcome = .succeeded
        } catch {
            report.outcome = .failed
            report.error = error.message
            logger.error("collector stream run failed; its checkpoint stays at the last committed page", metadata: [
                "collector.name": "\(collector)", "collector.stream": "\(stream)", "error": "\(error.message)",
            ])
        }
        report.finished = now()
        report.pages = counters.pages
        report.eventsNew = counters.eventsNew
        report.eventsDuplicate = counters.eventsDuplicate
        report.requests = counters.requests
        report.throttled = counters.throttled
        report.retries = counters.retries
        await auditTransition(from: previous, to: report, key: key)
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        if let summary = try? encoder.encode(report) {
            do {
                try await store.recordRun(stream: key, summary: String(decoding: summary, as: UTF8.self), at: report.finished)
            } catch {
                logger.warning("cannot record the collector run summary", metadata: ["collector.stream": "\(key)", "error": "\(error)"])
            }
        }
        logger.info("collector stream run finished", metadata: [
            "collector.name": "\(collector)", "collector.stream": "\(stream)", "outcome": "\(report.outcome.rawValue)",
            "pages": "\(report.pages)", "events.new": "\(report.eventsNew)", "events.duplicate": "\(report.eventsDuplicate)",
        ])
        return report
    }

    /// The audit actions of a stream's runs: it started failing (or fails differently), and it
    /// succeeded again. A run failing as the one before did adds nothing.
    static let failedAction = "collector.stream_failed"
    static let recoveredAction = "collector.stream_recovered"

    private func previousRun(_ key: String) async -> StreamRunReport? {
        guard let summary = try? await store.checkpoint(stream: key)?.lastRun else { return nil }
        return try? JSONDecoder().decode(StreamRunReport.self, from: Data(summary.utf8))
    }

    /// Records in the audit log a stream that starts failing (with the error, which names no
    /// secret) or recovers, so a broken key or a changed API is in the log, not only the page.
    private func auditTransition(from previous: StreamRunReport?, to report: StreamRunReport, key: String) async {
        let action: String
        switch (previous?.outcome, report.outcome) {
        case (.failed?, .failed) where previous?.error == report.error: return
        case (_, .failed): action = Self.failedAction
        case (.failed?, .succeeded): action = Self.recoveredAction
        default: return
        }
        var metadata = [JSONMember("checkpoint", .string(key))]
        if let error = report.error { metadata.append(JSONMember("error", .string(error))) }
        let entry = AdminAuditEntry(
            action: action, actor: AdminAuditEntry.system,
            targets: [AuditTarget(type: "collector", id: collector), AuditTarget(type: "collector_stream", id: "\(collector)/\(report.stream)")],
            metadata: metadata, occurredAt: report.finished
        )
        do {
            try await store.record(entry)
        } catch {
            logger.warning("cannot record the collector stream's audit entry", metadata: ["collector.stream": "\(key)", "error": "\(error)"])
        }
    }

    /// Sets the checkpoint `key` to `value` (written without reading the stored one: a rewind
    /// must also repair an unreadable one), with `audit` in the same transaction; refused while
    /// the stream runs.
    func rewind(key: String, to value: String, audit: AdminAuditEntry?) async throws(CollectorError) {
        guard !isRunning(key) else {
            throw CollectorError(.conflict, "\(key) is running; rewind it after the run ends")
        }
        do {
            let version = try await store.checkpoint(stream: key)?.version ?? 0
            let update = CheckpointUpdate(stream: key, expectedVersion: version, value: value)
            _ = try await store.append(audit.map { [$0.incomingEvent()] } ?? [], receivedAt: now(), checkpoint: update)
        } catch {
            throw CollectorError.from(error)
        }
    }

    /// Each stream's stored checkpoint and last run; `streams` pairs a stream's name with its key.
    func statuses(_ streams: [(name: String, key: String)]) async throws(StoreError) -> [StreamStatus] {
        let stored = try await store.checkpoints(prefix: collector + "/")
        let byKey = Dictionary(stored.map { ($0.stream, $0) }, uniquingKeysWith: { a, _ in a })
        return streams.map { stream in
            let checkpoint = byKey[stream.key]
            return StreamStatus(
                stream: stream.name, running: isRunning(stream.key),
                checkpoint: checkpoint.flatMap { $0.value.isEmpty ? nil : $0.value }, checkpointVersion: checkpoint?.version ?? 0,
                checkpointUpdatedAt: checkpoint.flatMap { $0.version > 0 ? $0.updatedAt : nil }, lastRun: checkpoint?.lastRun
            )
        }
    }
}
