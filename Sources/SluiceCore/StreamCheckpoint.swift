/// A collector stream's durable position as the store keeps it. The value is the collector's
/// own JSON; the store only versions it, so that two writers can never both move it.
public struct StreamCheckpoint: Sendable, Hashable {
    /// `collector/stream`, for example `incydr/file_events`.
    public var stream: String
    public var value: String
    /// Incremented by every write; a stream that was never written has version 0.
    public var version: Int64
    public var updatedAt: Timestamp
    /// The collector's summary of its last run (JSON), written after each run.
    public var lastRun: String?

    public init(stream: String, value: String, version: Int64, updatedAt: Timestamp, lastRun: String? = nil) {
        self.stream = stream
        self.value = value
        self.version = version
        self.updatedAt = updatedAt
        self.lastRun = lastRun
    }
}

/// A checkpoint move committed in the same transaction as the events it covers.
public struct CheckpointUpdate: Sendable, Hashable {
    public var stream: String
    /// The version the writer read. The commit fails with ``StoreError/Code/conflict`` when the
    /// stored version differs: another run (or an admin's rewind) moved it meanwhile.
    public var expectedVersion: Int64
    public var value: String
    /// Content digests of snapshot entities (user id → digest) recorded with this page.
    public var entityDigests: [String: [UInt8]]
    /// The lease the collecting instance holds (nil when one instance owns the store): a store
    /// shared by several instances refuses the page with ``StoreError/Code/conflict`` once that
    /// lease has changed hands, so a page pulled under a lost lease is never committed.
    public var fence: Lease?

    public init(stream: String, expectedVersion: Int64, value: String, entityDigests: [String: [UInt8]] = [:], fence: Lease? = nil) {
        self.stream = stream
        self.expectedVersion = expectedVersion
        self.value = value
        self.entityDigests = entityDigests
        self.fence = fence
    }
}
