import Foundation
import SluiceCore
import SluiceHTTP

/// A collector the scheduler, the admin API, the web UI and `sluice collect` can run: named
/// streams, each with a checkpoint committed in the same transaction as its events.
public protocol PullCollector: Sendable {
    /// The collector's name: the events' source and the prefix of its checkpoints.
    var name: String { get }
    /// Its configured type (`code42_incydr`, `http_pull`).
    var type: String { get }
    var baseURL: String { get }
    /// Every configured stream.
    var streamNames: [String] { get }
    /// The streams read by time window, which a backfill can read.
    var windowedStreamNames: [String] { get }
    /// Runs the named streams (all when nil) once, concurrently; with `backfill`, only that
    /// window of the windowed streams, under checkpoints of their own; `fence` is committed
    /// with every page (nil when one instance owns the store).
    func run(streamsNamed names: [String]?, backfill: ClosedRange<Timestamp>?, fence: Lease?) async -> [StreamRunReport]
    /// Moves a stream's checkpoint so that its next run reads from `time`; `audit` is stored in
    /// the same transaction. Refused while the stream runs.
    func rewind(streamNamed name: String, to time: Timestamp, audit: AdminAuditEntry?) async throws(CollectorError)
    /// The streams' stored checkpoints and last runs.
    func streamStatuses() async throws(StoreError) -> [StreamStatus]
    /// Stores an audit entry about this collector.
    func record(_ entry: AdminAuditEntry) async throws(StoreError)
}

extension PullCollector {
    /// When the most recent run of any stream started, from the stored run summaries.
    public func lastRunStarted() async -> Timestamp? {
        guard let statuses = try? await streamStatuses() else { return nil }
        let decoder = JSONDecoder()
        return statuses.compactMap { status in
            status.lastRun.flatMap { try? decoder.decode(StreamRunReport.self, from: Data($0.utf8)).started }
        }.max()
    }
}

/// The settings every pull collector takes the same way (`lookback`, `overlap`,
/// `request_timeout`, `allow_private_networks`, `requests_per_minute`, `max_pages_per_run`, `retry`).
public protocol PullCollectorTuning {
    var lookback: Duration { get set }
    var overlap: Duration { get set }
    var requestTimeout: Duration { get set }
    var allowPrivateNetworks: Bool { get set }
    var requestsPerMinute: Int { get set }
    var maxPagesPerRun: Int { get set }
    var retry: RetryPolicy { get set }
}
