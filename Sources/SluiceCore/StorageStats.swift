/// What a store holds and how compactly: events and bytes per source, log type and encoding.
public struct StorageStats: Sendable, Hashable {
    /// How a part's payloads are stored.
    public enum Encoding: Sendable, Hashable, CustomStringConvertible {
        /// As they are: compression would not have made them smaller.
        case plain
        /// zstd without a dictionary (before the stream had one, or too unlike it).
        case zstd
        /// zstd with a dictionary trained on the stream's own events.
        case dictionary(Int64, bytes: Int)

        public var description: String {
            switch self {
            case .plain: "plain"
            case .zstd: "zstd"
            case .dictionary(let id, let bytes): "zstd+dictionary \(id) (\(bytes) B)"
            }
        }
    }

    public struct Part: Sendable, Hashable {
        public var source: String
        public var logType: String
        public var encoding: Encoding
        public var events: Int
        /// Bytes of the events as received.
        public var rawBytes: Int64
        /// Bytes of their stored payloads (records: raw bytes and normalized fields, compressed).
        public var storedBytes: Int64

        public init(source: String, logType: String, encoding: Encoding, events: Int, rawBytes: Int64, storedBytes: Int64) {
            self.source = source
            self.logType = logType
            self.encoding = encoding
            self.events = events
            self.rawBytes = rawBytes
            self.storedBytes = storedBytes
        }

        /// Raw bytes per stored byte.
        public var ratio: Double { storedBytes > 0 ? Double(rawBytes) / Double(storedBytes) : 0 }
    }

    public var parts: [Part]
    /// Events still in the previous layout, waiting to be compressed.
    public var uncompressedEvents: Int
    public var dictionaries: Int
    /// Bytes of the database in use (pages not free), all tables and indexes.
    public var databaseBytes: Int64
    /// Bytes of the store's files on disk (SQLite: database, WAL and shared memory).
    public var fileBytes: Int64
    /// Why moving old rows into the compressed layout is paused, when it is.
    public var compactionPaused: String?

    public init(
        parts: [Part], uncompressedEvents: Int, dictionaries: Int, databaseBytes: Int64, fileBytes: Int64, compactionPaused: String? = nil
    ) {
        self.parts = parts
        self.uncompressedEvents = uncompressedEvents
        self.dictionaries = dictionaries
        self.databaseBytes = databaseBytes
        self.fileBytes = fileBytes
        self.compactionPaused = compactionPaused
    }

    /// Events in the compressed layout.
    public var events: Int { parts.reduce(0) { $0 + $1.events } }
    public var rawBytes: Int64 { parts.reduce(0) { $0 + $1.rawBytes } }
    public var storedBytes: Int64 { parts.reduce(0) { $0 + $1.storedBytes } }
}

/// What reading every stored event back found (`sluice storage check`).
public struct StorageCheck: Sendable, Hashable {
    /// An event whose stored bytes do not decode (a damaged page, a missing dictionary).
    public struct Unreadable: Sendable, Hashable {
        public var seq: Int64
        public var id: String
        public var reason: String

        public init(seq: Int64, id: String, reason: String) {
            self.seq = seq
            self.id = id
            self.reason = reason
        }
    }

    /// Events read.
    public var checked: Int
    /// The first unreadable events found (at most the number asked for).
    public var unreadable: [Unreadable]
    /// All unreadable events found, listed or not.
    public var unreadableCount: Int
    /// The database's own consistency check: "ok", or what it found.
    public var database: String

    public init(checked: Int, unreadable: [Unreadable], unreadableCount: Int, database: String) {
        self.checked = checked
        self.unreadable = unreadable
        self.unreadableCount = unreadableCount
        self.database = database
    }

    public var isHealthy: Bool { unreadableCount == 0 && database == "ok" }

    /// What a check has found so far, keeping at most `maxReported` unreadable events listed.
    public struct Tally: Sendable {
        public let maxReported: Int
        public private(set) var checked = 0
        public private(set) var unreadable: [Unreadable] = []
        public private(set) var unreadableCount = 0

        public init(maxReported: Int) {
            self.maxReported = maxReported
        }

        /// One event read back: nil when it decoded, else why not.
        public mutating func record(seq: Int64, occurredAt: Timestamp, failure: (any Error)?) {
            checked += 1
            guard let failure else { return }
            unreadableCount += 1
            if unreadable.count < maxReported {
                let reason = (failure as? StoreError)?.message ?? "\(failure)"
                unreadable.append(Unreadable(seq: seq, id: EventID.stored(occurredAt: occurredAt, seq: seq).rawValue, reason: reason))
            }
        }

        public mutating func merge(_ other: Tally) {
            checked += other.checked
            unreadableCount += other.unreadableCount
            unreadable += other.unreadable.prefix(max(0, maxReported - unreadable.count))
        }

        public func check(database: String) -> StorageCheck {
            StorageCheck(checked: checked, unreadable: unreadable, unreadableCount: unreadableCount, database: database)
        }
    }
}
