import Foundation
import Logging
import SluiceCore
import SluiceHTTP
import Synchronization

/// What one run of one stream did, as `GET /v1/collectors` shows it.
public struct StreamRunReport: Sendable, Hashable, Codable {
    public enum Outcome: String, Sendable, Hashable, Codable {
        case succeeded
        case failed
        /// Not run: the stream was already running.
        case skipped
    }

    public var stream: String
    public var started: Timestamp
    public var finished: Timestamp
    public var outcome: Outcome
    public var error: String?
    public var pages: Int
    public var eventsNew: Int
    public var eventsDuplicate: Int
    public var requests: Int
    public var throttled: Int
    public var retries: Int
    /// For the window finished by this run: the provider's `totalCount` and what was received.
    public var window: WindowCount?
    public var warnings: [String]

    enum CodingKeys: String, CodingKey {
        case stream, started, finished, outcome, error, pages, requests, throttled, retries, window, warnings
        case eventsNew = "events_new"
        case eventsDuplicate = "events_duplicate"
    }
}

/// Pulls Code42 Incydr's users, audit log, cases and file events into the store. Streams run
/// concurrently and independently: one failing stream never holds back another. All streams
/// of one collector share one access token and one request budget.
public final class IncydrCollector: Sendable {
    public let configuration: IncydrConfiguration
    let store: any EventStore
    let api: IncydrAPI
    let logger: Logger
    let now: @Sendable () -> Timestamp
    private let running = Mutex<Set<String>>([])

    public init(
        configuration: IncydrConfiguration, store: any EventStore, transport: HTTPTransport,
        logger: Logger, now: @escaping @Sendable () -> Timestamp
    ) {
        self.configuration = configuration
        self.store = store
        self.logger = logger
        self.now = now
        self.api = IncydrAPI(configuration: configuration, transport: transport, logger: logger)
    }

    /// Runs `streams` (all configured streams by default) once, concurrently; returns when every
    /// stream has finished, each with its own report.
    ///
    /// - Parameter backfill: read only this window of file events and audit log, under a
    ///   checkpoint of its own beside the live one (users and cases are listings; skipped).
    /// - Parameter fence: the lease this instance holds on the collector, committed with every
    ///   page (nil when one instance owns the store).
    public func run(streams: [IncydrConfiguration.Stream]? = nil, backfill: ClosedRange<Timestamp>? = nil, fence: Lease? = nil) async -> [StreamRunReport] {
        var chosen = streams ?? configuration.streams
        if backfill != nil { chosen.removeAll { $0 == .users || $0 == .cases } }
        return await withTaskGroup(of: StreamRunReport.self) { group in
            for stream in chosen {
                group.addTask { await self.runStream(stream, backfill: backfill, fence: fence) }
            }
            var reports: [StreamRunReport] = []
            for await report in group { reports.append(report) }
            return reports.sorted { $0.stream < $1.stream }
        }
    }

    /// The checkpoint key of a stream, or of a backfill of it.
    public func checkpointKey(_ stream: IncydrConfiguration.Stream, backfill: ClosedRange<Timestamp>? = nil) -> String {
        let key = configuration.checkpointKey(stream)
        guard let backfill else { return key }
        return "\(key)@backfill:\(backfill.lowerBound.rfc3339)..\(backfill.upperBound.rfc3339)"
    }

    public func isRunning(_ stream: IncydrConfiguration.Stream) -> Bool {
        running.withLock { $0.contains(checkpointKey(stream)) }
    }

    private func runStream(_ stream: IncydrConfiguration.Stream, backfill: ClosedRange<Timestamp>?, fence: Lease?) async -> StreamRunReport {
        let key = checkpointKey(stream, backfill: backfill)
        let started = now()
        var report = StreamRunReport(
            stream: stream.rawValue, started: started, finished: started, outcome: .skipped, error: nil, pages: 0, eventsNew: 0,
            eventsDuplicate: 0, requests: 0, throttled: 0, retries: 0, window: nil, warnings: []
        )
        guard running.withLock({ $0.insert(key).inserted }) else {
            report.error = "a run of \(key) is already in progress"
            return report
        }
        defer { _ = running.withLock { $0.remove(key) } }
        var counters = StreamRunCounters()
        do {
            switch stream {
            case .fileEvents:
                var run = try await StreamRun<FileEventsStream.Checkpoint>.start(store: store, key: key, fence: fence, now: now)
                defer { counters = run.counters }
                report.window = try await FileEventsStream(api: api, configuration: configuration).run(&run, backfill: backfill)
            case .audit:
                var run = try await StreamRun<AuditLogStream.Checkpoint>.start(store: store, key: key, fence: fence, now: now)
                defer { counters = run.counters }
                try await AuditLogStream(api: api, configuration: configuration).run(&run, backfill: backfill, warnings: &report.warnings)
            case .users, .cases:
                var run = try await StreamRun<SnapshotStream.Checkpoint>.start(store: store, key: key, fence: fence, now: now)
                defer { counters = run.counters }
                try await SnapshotStream(api: api, configuration: configuration, stream: stream).run(&run)
            }
            report.outcome = .succeeded
        } catch {
            report.outcome = .failed
            report.error = error.message
            logger.error("collector stream run failed; its checkpoint stays at the last committed page", metadata: [
                "collector.name": "\(configuration.name)", "collector.stream": "\(stream.rawValue)", "error": "\(error.message)",
            ])
        }
        report.finished = now()
        report.pages = counters.pages
        report.eventsNew = counters.eventsNew
        report.eventsDuplicate = counters.eventsDuplicate
        report.requests = counters.requests
        report.throttled = counters.throttled
        report.retries = counters.retries
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
            "collector.name": "\(configuration.name)", "collector.stream": "\(stream.rawValue)", "outcome": "\(report.outcome.rawValue)",
            "pages": "\(report.pages)", "events.new": "\(report.eventsNew)", "events.duplicate": "\(report.eventsDuplicate)",
        ])
        return report
    }
}

extension IncydrCollector {
    /// Sets a stream's checkpoint so that its next run reads from `time` (file events and audit
    /// log, less the overlap); for users and cases, forgets any half-finished listing.
    /// Moves `stream`'s checkpoint to `time`; `audit` is stored in the same transaction.
    public func rewind(_ stream: IncydrConfiguration.Stream, to time: Timestamp, audit: AdminAuditEntry? = nil) async throws(CollectorError) {
        let key = checkpointKey(stream)
        guard !isRunning(stream) else {
            throw CollectorError(.conflict, "\(key) is running; rewind it after the run ends")
        }
        // Encoded without reading the stored value: a rewind must also repair an unreadable one.
        let value = switch stream {
        case .fileEvents: try StreamRun.encode(FileEventsStream.Checkpoint(insertedThrough: time, window: nil), key: key)
        case .audit: try StreamRun.encode(AuditLogStream.Checkpoint(through: time, run: nil), key: key)
        case .users, .cases: try StreamRun.encode(SnapshotStream.Checkpoint(lastCompleted: nil, run: nil), key: key)
        }
        do {
            let version = try await store.checkpoint(stream: key)?.version ?? 0
            let update = CheckpointUpdate(stream: key, expectedVersion: version, value: value)
            _ = try await store.append(audit.map { [$0.incomingEvent()] } ?? [], receivedAt: now(), checkpoint: update)
        } catch {
            throw CollectorError.from(error)
        }
    }

    /// Stores an audit entry about this collector (a requested run).
    public func record(_ entry: AdminAuditEntry) async throws(StoreError) {
        try await store.record(entry)
    }

    /// The streams' stored checkpoints and last runs.
    public func streamStatuses() async throws(StoreError) -> [StreamStatus] {
        let stored = try await store.checkpoints(prefix: configuration.name + "/")
        let byKey = Dictionary(stored.map { ($0.stream, $0) }, uniquingKeysWith: { a, _ in a })
        return configuration.streams.map { stream in
            let checkpoint = byKey[checkpointKey(stream)]
            return StreamStatus(
                stream: stream.rawValue, running: isRunning(stream),
                checkpoint: checkpoint.flatMap { $0.value.isEmpty ? nil : $0.value }, checkpointVersion: checkpoint?.version ?? 0,
                checkpointUpdatedAt: checkpoint.flatMap { $0.version > 0 ? $0.updatedAt : nil }, lastRun: checkpoint?.lastRun
            )
        }
    }

    /// When the most recent run of any stream started, from the stored run summaries.
    public func lastRunStarted() async -> Timestamp? {
        guard let statuses = try? await streamStatuses() else { return nil }
        let decoder = JSONDecoder()
        return statuses.compactMap { status in
            status.lastRun.flatMap { try? decoder.decode(StreamRunReport.self, from: Data($0.utf8)).started }
        }.max()
    }
}
