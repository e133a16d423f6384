/// One collector stream as the admin API shows it.
public struct StreamStatus: Sendable {
    public var stream: String
    public var running: Bool
    /// The collector's checkpoint JSON, when the stream has one.
    public var checkpoint: String?
    public var checkpointVersion: Int64
    public var checkpointUpdatedAt: Timestamp?
    /// The last run's summary JSON (see ``StreamRunReport``).
    public var lastRun: String?

    public init(stream: String, running: Bool, checkpoint: String?, checkpointVersion: Int64, checkpointUpdatedAt: Timestamp?, lastRun: String?) {
        self.stream = stream
        self.running = running
        self.checkpoint = checkpoint
        self.checkpointVersion = checkpointVersion
        self.checkpointUpdatedAt = checkpointUpdatedAt
        self.lastRun = lastRun
    }
}

/// One configured collector as the admin API shows it. Never carries credentials.
public struct CollectorStatus: Sendable {
    public var name: String
    public var type: String
    public var baseURL: String
    public var schedule: String
    public var nextRun: Timestamp?
    public var streams: [StreamStatus]

    public init(name: String, type: String, baseURL: String, schedule: String, nextRun: Timestamp?, streams: [StreamStatus]) {
        self.name = name
        self.type = type
        self.baseURL = baseURL
        self.schedule = schedule
        self.nextRun = nextRun
        self.streams = streams
    }
}

/// What the admin API may see and do with the running collectors.
public protocol CollectorControl: Sendable {
    func statuses() async throws(StoreError) -> [CollectorStatus]
    /// Starts a run of every stream of `name` in the background, once `collector.run_triggered`
    /// by `requester` is stored; false when there is no such collector.
    func requestRun(_ name: String, by requester: AuditRequester) async throws(StoreError) -> Bool
    /// Moves a stream's checkpoint back (or forward) to `time`, recorded as
    /// `collector.checkpoint_rewound` in the same transaction; refused while the stream runs.
    func rewind(_ name: String, stream: String, to time: Timestamp, by requester: AuditRequester) async throws(CollectorError)
    /// Starts a bounded backfill of `name`'s time-windowed streams in the background, beside the
    /// live checkpoints, once `collector.backfill_started` by `requester` is stored.
    func requestBackfill(_ name: String, window: ClosedRange<Timestamp>, by requester: AuditRequester) async throws(CollectorError)
}
