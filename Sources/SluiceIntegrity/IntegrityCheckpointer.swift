import Crypto
import SluiceCore

/// Writes the next checkpoint: covers every event committed since the last one (checkpoints'
/// own events aside) with a signed Merkle root chained to the last checkpoint, and stores it as
/// an event in the same transaction that moves the `sluice/integrity` stream checkpoint (the
/// last seq read and the checkpoint's hash) and keeps its fingerprint list (an entity digest of
/// that stream). Two writers never both chain onto the same
/// checkpoint: the second one's compare-and-set fails (`.conflict`) and nothing of it is stored.
public struct IntegrityCheckpointer: Sendable {
    public static let stream = "sluice/integrity"

    public let store: any EventStore
    public let key: IntegrityKey
    /// Events read per page.
    public var pageSize = 10_000

    public init(store: any EventStore, key: IntegrityKey) {
        self.store = store
        self.key = key
    }

    /// Where the chain stands: the last seq covered (or read past) and the last checkpoint's hash.
    public struct Position: Sendable, Hashable {
        public var lastSeq: Int64
        public var hash: MerkleHash

        public static let start = Position(lastSeq: 0, hash: IntegrityCheckpoint.origin)

        var text: String { "\(lastSeq) \(hash.hexString)" }

        init(lastSeq: Int64, hash: MerkleHash) {
            self.lastSeq = lastSeq
            self.hash = hash
        }

        public init?(text: String) {
            let parts = text.split(separator: " ")
            guard parts.count == 2, let seq = Int64(parts[0]), let hash = [UInt8](hex: String(parts[1])), hash.count == 32 else { return nil }
            self.init(lastSeq: seq, hash: hash)
        }
    }

    /// Writes a checkpoint over what was committed since the last one; nil (and nothing written)
    /// when nothing new but checkpoints was committed. `fence` is the lease of the instance that
    /// writes checkpoints (nil when one instance owns the store).
    @discardableResult
    public func checkpoint(at time: Timestamp, fence: Lease?) async throws(StoreError) -> IntegrityCheckpoint? {
        let stored = try await store.checkpoint(stream: Self.stream)
        var position = Position.start
        if let stored {
            guard let read = Position(text: stored.value) else {
                throw StoreError(.corrupt, "the integrity chain's position (stream checkpoint \(Self.stream)) is unreadable: \(stored.value)")
            }
            position = read
        }
        var tree = MerkleTree.Builder()
        var fingerprints: [UInt8] = []
        var seqs: [Int64] = []
        var readThrough = position.lastSeq
        try await LeafReader(store: store, pageSize: pageSize, digestsAtCommit: true).read(after: position.lastSeq) { (page) throws(StoreError) in
            for entry in page {
                if let leaf = entry.leaf {
                    tree.append(leaf)
                    IntegrityCheckpoint.appendFingerprint(of: leaf, to: &fingerprints)
                    seqs.append(entry.seq)
                }
            }
            readThrough = page.last?.seq ?? readThrough
        }
        guard tree.count > 0 else { return nil }
        let checkpoint: IntegrityCheckpoint
        do {
            checkpoint = try IntegrityCheckpoint.sign(
                seqs: SeqRanges(seqs), root: tree.root, fingerprints: Array(SHA256.hash(data: fingerprints)), previous: position.hash, time: time, key: key
            )
        } catch {
            throw StoreError(.invalidRequest, "could not sign an integrity checkpoint: \(error)")
        }
        let moved = Position(lastSeq: readThrough, hash: checkpoint.hash)
        _ = try await store.append(
            [checkpoint.incomingEvent], receivedAt: time,
            checkpoint: CheckpointUpdate(
                stream: Self.stream, expectedVersion: stored?.version ?? 0, value: moved.text,
                entityDigests: [checkpoint.fingerprintsEntity: fingerprints], fence: fence
            )
        )
        return checkpoint
    }
}
