import SluiceCore
import SluiceSources

/// An operator's actions on collectors: trigger a run, backfill a window, rewind a stream's
/// checkpoint. Each checks the same things, says the same words and records its audit entry,
/// whether the API and the web UI asked (through ``CollectorScheduler``, which then runs it in the
/// background) or the CLI (which then runs it in the foreground).
public struct CollectorAdministration: Sendable {
    /// Longest window one backfill may cover.
    public static let maximumBackfill = Duration.seconds(366 * 86_400)

    public let collectors: [String: ScheduledCollector]
    public let now: @Sendable () -> Timestamp

    public init(collectors: [ScheduledCollector], now: @escaping @Sendable () -> Timestamp) {
        self.collectors = Dictionary(collectors.map { ($0.collector.name, $0) }, uniquingKeysWith: { a, _ in a })
        self.now = now
    }

    /// The collector named `name`, or why there is none.
    public func collector(_ name: String) throws(CollectorError) -> ScheduledCollector {
        guard let scheduled = collectors[name] else {
            let known = collectors.isEmpty ? "the config has no collectors" : "configured: \(collectors.keys.sorted().joined(separator: ", "))"
            throw CollectorError(.rejected, "no collector named \(name); \(known)")
        }
        return scheduled
    }

    /// The audit entry `collector.run_triggered` by `requester`, recorded before a run starts
    /// (`once` when the CLI runs it in the foreground).
    public func runTriggered(_ name: String, streams: [String]? = nil, once: Bool = false, by requester: AuditRequester) -> AdminAuditEntry {
        let targets = [AuditTarget(type: "collector", id: name)] + (streams ?? []).map { AuditTarget(type: "stream", id: "\(name)/\($0)") }
        return requester.entry("collector.run_triggered", targets: targets, metadata: once ? [JSONMember("once", .bool(true))] : [], at: now())
    }

    /// Checks a backfill of `window` over `streams` (nil: every time-windowed stream of the
    /// collector), records `collector.backfill_started` by `requester`, and returns the streams to read.
    public func startBackfill(
        _ name: String, window: ClosedRange<Timestamp>, streams requested: [String]? = nil, by requester: AuditRequester
    ) async throws(CollectorError) -> [String] {
        let scheduled = try collector(name)
        let current = now()
        guard window.upperBound <= current else {
            throw CollectorError(.invalid, "a backfill ends at or before now (\(current.rfc3339)); the live checkpoint collects what comes after")
        }
        guard window.upperBound.microseconds - window.lowerBound.microseconds <= Int64(Self.maximumBackfill.components.seconds) * 1_000_000 else {
            throw CollectorError(.invalid, "a backfill covers at most 366 days; split longer ones")
        }
        let windowed = scheduled.collector.windowedStreamNames
        let streams = requested ?? windowed
        if let other = streams.first(where: { !windowed.contains($0) }) {
            throw CollectorError(.invalid, "collector \(name) cannot backfill \(other): a backfill reads its time-windowed streams (\(windowed.joined(separator: ", ")))")
        }
        guard !streams.isEmpty else {
            throw CollectorError(.invalid, "collector \(name) has no time-windowed stream to backfill")
        }
        do {
            try await scheduled.collector.record(.backfillStarted(collector: name, streams: streams, window: window, by: requester, at: current))
        } catch {
            throw CollectorError.from(error)
        }
        return streams
    }

    /// Moves a stream's checkpoint to `time`, recorded as `collector.checkpoint_rewound` by
    /// `requester` in the same transaction; refused while the stream runs.
    public func rewind(_ name: String, stream: String, to time: Timestamp, by requester: AuditRequester) async throws(CollectorError) {
        let scheduled = try collector(name)
        let configured = scheduled.collector.streamNames
        guard configured.contains(stream) else {
            throw CollectorError(.rejected, "collector \(name) has no stream \(stream); its streams are \(configured.joined(separator: ", "))")
        }
        try await scheduled.collector.rewind(streamNamed: stream, to: time, audit: .checkpointRewind(collector: name, stream: stream, to: time, by: requester, at: now()))
    }
}
