import Crypto
import Synchronization

/// One stored event as integrity checkpoints and verification read it: what its leaf needs
/// (``IntegrityLeaf``), or, for a checkpoint's own event (not a leaf), the event itself.
public struct IntegrityRow: Sendable {
    public var seq: Int64
    /// The event's time (microseconds); with `seq` it makes the id of an event stored since the
    /// lean store.
    public var occurredAt: Int64
    /// The id an event stored before the lean store keeps (``EventID``).
    public var legacyID: EventID?
    /// The leaf hash (``IntegrityLeaf``); nil for a checkpoint's event.
    public var leaf: SHA256Digest?
    /// A checkpoint's event, when the row was read (nil when it came from ``CommitDigests``).
    public var checkpoint: StoredEvent? { held.first }
    /// Held out of line: rows are many and checkpoints few, so a row stays small to copy.
    private var held: [StoredEvent]

    /// The event's id (made when asked: a verification names few events, and reads them all).
    public var id: EventID {
        legacyID ?? EventID.stored(occurredAt: Timestamp(microseconds: occurredAt), seq: seq)
    }

    /// The row of the event with `seq`, `occurredAt` and `legacyID` whose content digest is
    /// `content` (nil for a checkpoint's event): its leaf is hashed here, on the thread that read it.
    public init(seq: Int64, occurredAt: Int64, legacyID: EventID?, content: SHA256Digest?, checkpoint: StoredEvent?) {
        self.seq = seq
        self.occurredAt = occurredAt
        self.legacyID = legacyID
        self.held = checkpoint.map { [$0] } ?? []
        guard let content else { return }
        if var legacy = legacyID?.rawValue {
            leaf = legacy.withUTF8 { IntegrityLeaf.digest(seq: seq, id: UnsafeRawBufferPointer($0), content: content) }
        } else {
            leaf = EventID.withStoredText(occurredAt: Timestamp(microseconds: occurredAt), seq: seq) {
                IntegrityLeaf.digest(seq: seq, id: $0, content: content)
            }
        }
    }

    /// The row of a stored event.
    public init(reading event: StoredEvent) {
        let occurredAt = event.normalized.occurredAt.microseconds
        // An id that is not the one its row derives is one the event kept from before.
        let legacyID = event.id.names(occurredAt: event.normalized.occurredAt, seq: event.seq) ? nil : event.id
        if Self.isCheckpoint(source: event.source, logType: event.logType) {
            self.init(seq: event.seq, occurredAt: occurredAt, legacyID: legacyID, content: nil, checkpoint: event)
        } else {
            self.init(seq: event.seq, occurredAt: occurredAt, legacyID: legacyID, content: IntegrityLeaf.content(of: event), checkpoint: nil)
        }
    }

    /// Whether an event of this source and log type is an integrity checkpoint.
    public static func isCheckpoint(source: String, logType: String) -> Bool {
        logType == AdminAuditEntry.integrityLogType && source == AdminAuditEntry.source
    }
}

/// Content digests of the events this process committed, kept until a checkpoint takes them so
/// that it need not read those events back. Bounded: past ``capacity`` entries new ones are
/// dropped (a checkpoint then reads those events back), and ``isFilling`` tells the checkpoint
/// service to write one sooner. A checkpoint takes them in seq order, so they are kept in that
/// order and taken with one walk (no lookup per event).
public final class CommitDigests: Sendable {
    public struct Entry: Sendable {
        public var seq: Int64
        public var occurredAt: Int64
        /// Nil for a checkpoint's event.
        public var content: SHA256Digest?

        public init(seq: Int64, occurredAt: Int64, content: SHA256Digest?) {
            self.seq = seq
            self.occurredAt = occurredAt
            self.content = content
        }
    }

    public let capacity: Int
    /// Entries from which ``isFilling`` says a checkpoint is due.
    public let checkpointAt: Int
    private struct State {
        /// In seq order from `start` on (a store's writer commits in seq order); the entries
        /// before `start` were taken.
        var entries: [Entry] = []
        var start = 0
        var count: Int { entries.count - start }
    }
    private let state = Mutex(State())

    /// The defaults keep a checkpoint to about 32,768 events (a few milliseconds of hashing at a
    /// time), with room for four seconds of 50,000 events/s more before any is dropped.
    public init(capacity: Int = 262_144, checkpointAt: Int = 32_768) {
        self.capacity = capacity
        self.checkpointAt = min(checkpointAt, capacity)
    }

    /// Records a commit's entries (after the commit), in seq order.
    public func add(_ committed: [Entry]) {
        state.withLock { state in
            let room = capacity - state.count
            guard room > 0 else { return }
            if state.start > 0 && state.start >= state.entries.count / 2 {
                state.entries.removeFirst(state.start)
                state.start = 0
            }
            let adding = committed.prefix(room)
            if let last = state.entries.last, let first = adding.first, first.seq <= last.seq {
                // Out of order (not from one writer): keep the order all the same.
                state.entries += adding
                state.entries[state.start...].sort { $0.seq < $1.seq }
            } else {
                state.entries += adding
            }
        }
    }

    /// The entries for `seqs` (ascending), removed with every entry before them; nil at a seq
    /// this process did not record.
    public func take(_ seqs: [Int64]) -> [Entry?] {
        state.withLock { state in
            var found: [Entry?] = []
            found.reserveCapacity(seqs.count)
            var i = state.start
            for seq in seqs {
                while i < state.entries.count && state.entries[i].seq < seq { i += 1 }
                if i < state.entries.count && state.entries[i].seq == seq {
                    found.append(state.entries[i])
                    i += 1
                } else {
                    found.append(nil)
                }
            }
            state.start = i
            if state.start == state.entries.count {
                state.entries.removeAll(keepingCapacity: true)
                state.start = 0
            }
            return found
        }
    }

    /// Whether ``checkpointAt`` entries wait: time for a checkpoint, smaller and well before any
    /// entry is dropped.
    public var isFilling: Bool {
        state.withLock { $0.count >= checkpointAt }
    }
}
