import Foundation
import Logging
import SluiceCore
import SluiceHTTP
import Synchronization

/// Pulls Code42 Incydr's users, audit log, cases and file events into the store. Streams run
/// concurrently and independently: one failing stream never holds back another. All streams
/// of one collector share one access token and one request budget.
public final class IncydrCollector: Sendable {
    public let configuration: IncydrConfiguration
    let store: any EventStore
    let api: IncydrAPI
    let logger: Logger
    let now: @Sendable () -> Timestamp
    let runs: StreamRuns

    public init(
        configuration: IncydrConfiguration, store: any EventStore, transport: HTTPTransport,
        logger: Logger, now: @escaping @Sendable () -> Timestamp
    ) {
        self.configuration = configuration
        self.store = store
        self.logger = logger
        self.now = now
        self.api = IncydrAPI(configuration: configuration, transport: transport, logger: logger)
        self.runs = StreamRuns(collector: configuration.name, store: store, logger: logger, now: now)
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
        return await StreamRuns.concurrently(chosen) { await self.runStream($0, backfill: backfill, fence: fence) }
    }

    /// The checkpoint key of a stream, or of a backfill of it.
    public func checkpointKey(_ stream: IncydrConfiguration.Stream, backfill: ClosedRange<Timestamp>? = nil) -> String {
        StreamRuns.key(configuration.checkpointKey(stream), backfill: backfill)
    }

    public func isRunning(_ stream: IncydrConfiguration.Stream) -> Bool {
        runs.isRunning(checkpointKey(stream))
    }

    private func runStream(_ stream: IncydrConfiguration.Stream, backfill: ClosedRange<Timestamp>?, fence: Lease?) async -> StreamRunReport {
        let key = checkpointKey(stream, backfill: backfill)
        return await runs.run(stream: stream.rawValue, key: key) { (counters, report) throws(CollectorError) in
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
        }
    }
}

extension IncydrCollector {
    /// Sets a stream's checkpoint so that its next run reads from `time` (file events and audit
    /// log, less the overlap); for users and cases, forgets any half-finished listing.
    /// Moves `stream`'s checkpoint to `time`; `audit` is stored in the same transaction.
    public func rewind(_ stream: IncydrConfiguration.Stream, to time: Timestamp, audit: AdminAuditEntry? = nil) async throws(CollectorError) {
        let key = checkpointKey(stream)
        let value = switch stream {
        case .fileEvents: try StreamRun.encode(FileEventsStream.Checkpoint(insertedThrough: time, window: nil), key: key)
        case .audit: try StreamRun.encode(AuditLogStream.Checkpoint(through: time, run: nil), key: key)
        case .users, .cases: try StreamRun.encode(SnapshotStream.Checkpoint(lastCompleted: nil, run: nil), key: key)
        }
        try await runs.rewind(key: key, to: value, audit: audit)
    }

    /// Stores an audit entry about this collector (a requested run).
    public func record(_ entry: AdminAuditEntry) async throws(StoreError) {
        try await store.record(entry)
    }

    /// The streams' stored checkpoints and last runs.
    public func streamStatuses() async throws(StoreError) -> [StreamStatus] {
        try await runs.statuses(configuration.streams.map { ($0.rawValue, checkpointKey($0)) })
    }
}

extension IncydrCollector: PullCollector {
    public var name: String { configuration.name }
    public var type: String { "code42_incydr" }
    public var baseURL: String { configuration.baseURL }
    public var streamNames: [String] { configuration.streams.map(\.rawValue) }
    public var windowedStreamNames: [String] { configuration.streams.filter { $0 == .fileEvents || $0 == .audit }.map(\.rawValue) }

    public func run(streamsNamed names: [String]?, backfill: ClosedRange<Timestamp>?, fence: Lease?) async -> [StreamRunReport] {
        await run(streams: names.map { $0.compactMap(IncydrConfiguration.Stream.init(rawValue:)) }, backfill: backfill, fence: fence)
    }

    public func rewind(streamNamed name: String, to time: Timestamp, audit: AdminAuditEntry?) async throws(CollectorError) {
        guard let stream = IncydrConfiguration.Stream(rawValue: name) else {
            throw CollectorError(.rejected, "collector \(configuration.name) has no stream \(name); its streams are \(streamNames.joined(separator: ", "))")
        }
        try await rewind(stream, to: time, audit: audit)
    }
}
