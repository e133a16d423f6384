import SluiceStoreKit

/// How the SQLite store trades commit latency against what a crash can take away.
public enum SQLiteDurability: String, Sendable, Hashable, CaseIterable {
    /// `PRAGMA synchronous = FULL`: the WAL is fsynced at every commit. An acknowledged event
    /// survives a process crash, a kernel panic and a power cut.
    case full
    /// `PRAGMA synchronous = NORMAL`: the WAL is fsynced only at checkpoints. An acknowledged
    /// event survives a process crash (kill -9), but a power cut or kernel panic may roll back the
    /// last commits (the database itself stays consistent).
    case normal
}

/// Settings for ``SQLiteEventStore``.
public struct SQLiteStoreConfiguration: Sendable, Hashable {
    /// The database file; its directory is created if missing.
    public var path: String
    public var durability: SQLiteDurability
    /// At most this many events are committed in one group-commit transaction.
    public var maxEventsPerCommit: Int
    /// A cap on the database size in bytes (SQLite `max_page_count`); when reached, writes fail
    /// as "full" and pushes are answered 503 while reads keep working. Nil means no cap.
    public var maxSizeBytes: Int64?
    /// Whether the store builds its filter index by itself after commits. Tests turn it off to
    /// exercise queries over unindexed and partly indexed events.
    public var automaticIndexing: Bool
    /// Whether events stored in the previous layout move into the compressed one in the
    /// background. Off, they stay as they are, readable, until `sluice storage compact`.
    public var automaticCompaction: Bool
    /// When each stream's zstd dictionary is trained and retrained (docs/storage.md).
    public var dictionaries: DictionaryPolicy

    public init(
        path: String, durability: SQLiteDurability = .full, maxEventsPerCommit: Int = 20_000,
        maxSizeBytes: Int64? = nil, automaticIndexing: Bool = true, automaticCompaction: Bool = true,
        dictionaries: DictionaryPolicy = DictionaryPolicy()
    ) {
        self.path = path
        self.durability = durability
        self.maxEventsPerCommit = maxEventsPerCommit
        self.maxSizeBytes = maxSizeBytes
        self.automaticIndexing = automaticIndexing
        self.automaticCompaction = automaticCompaction
        self.dictionaries = dictionaries
    }
}
