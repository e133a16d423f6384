import Crypto
import SluiceCore

/// A signed statement that a run of stored events, named by their `seq`s, had the Merkle root
/// `root` when it was written, and that it follows the checkpoint whose hash is `previous`.
/// Removing or replacing a checkpoint breaks the chain at the next one; changing, removing or
/// adding a covered event changes the root.
///
/// The signed text (``statement``), UTF-8, each line ending in a line feed:
///
///     sluice integrity checkpoint v2
///     key 3f2a9c1d0e8b7a65
///     seqs 1-1000,1002-1500
///     count 1499
///     root <64 hex digits>
///     fingerprints <64 hex digits>
///     previous <64 hex digits; all zero for the first checkpoint>
///     time <microseconds since 1970-01-01T00:00:00Z>
///
/// `signature` is Ed25519 over those bytes; the checkpoint's ``hash``, which the next one names
/// as `previous`, is SHA-256 over the statement's bytes followed by the 64 signature bytes.
/// `fingerprints` is SHA-256 over the covered leaves' first ``fingerprintWidth`` bytes each, in
/// order: the list itself is stored beside the chain (not in the event), so that when a root no
/// longer matches, verification can name which events changed, trusting the list only when it
/// hashes to the signed value.
public struct IntegrityCheckpoint: Sendable, Hashable {
    public static let header = "sluice integrity checkpoint v2"
    /// Bytes of each leaf kept as its fingerprint: a changed event escapes being named with odds
    /// of 2^-32 (and is then still reported with its checkpoint's range).
    public static let fingerprintWidth = 4
    /// The `previous` of the first checkpoint.
    public static let origin = MerkleHash(repeating: 0, count: 32)

    public var keyID: String
    public var seqs: SeqRanges
    public var root: MerkleHash
    /// SHA-256 of the fingerprint list (``fingerprints(of:)``).
    public var fingerprints: MerkleHash
    public var previous: MerkleHash
    public var time: Timestamp
    public var signature: [UInt8]

    /// Signs a new checkpoint over `seqs` with `root`, following `previous`.
    public static func sign(
        seqs: SeqRanges, root: MerkleHash, fingerprints: MerkleHash, previous: MerkleHash, time: Timestamp, key: IntegrityKey
    ) throws -> IntegrityCheckpoint {
        var checkpoint = IntegrityCheckpoint(
            keyID: key.publicKey.id, seqs: seqs, root: root, fingerprints: fingerprints, previous: previous, time: time, signature: []
        )
        checkpoint.signature = try key.sign(Array(checkpoint.statement.utf8))
        return checkpoint
    }

    init(keyID: String, seqs: SeqRanges, root: MerkleHash, fingerprints: MerkleHash, previous: MerkleHash, time: Timestamp, signature: [UInt8]) {
        self.keyID = keyID
        self.seqs = seqs
        self.root = root
        self.fingerprints = fingerprints
        self.previous = previous
        self.time = time
        self.signature = signature
    }

    /// Reads a checkpoint back from its statement and signature; nil when the statement is not
    /// one this version writes (a damaged checkpoint is reported, never trusted in part).
    public init?(statement: String, signature: [UInt8]) {
        let lines = statement.split(separator: "\n", omittingEmptySubsequences: false)
        guard lines.count == 9, lines[0] == Self.header, lines[8].isEmpty else { return nil }
        func value(_ line: Substring, _ name: String) -> String? {
            line.hasPrefix(name + " ") ? String(line.dropFirst(name.count + 1)) : nil
        }
        guard let keyID = value(lines[1], "key"), keyID.count == 16,
              let seqs = value(lines[2], "seqs").flatMap(SeqRanges.init(parsing:)),
              let count = value(lines[3], "count").flatMap(Int64.init), count == seqs.count,
              let root = value(lines[4], "root").flatMap({ [UInt8](hex: $0) }), root.count == 32,
              let fingerprints = value(lines[5], "fingerprints").flatMap({ [UInt8](hex: $0) }), fingerprints.count == 32,
              let previous = value(lines[6], "previous").flatMap({ [UInt8](hex: $0) }), previous.count == 32,
              let micros = value(lines[7], "time").flatMap(Int64.init),
              signature.count == 64 else { return nil }
        self.init(
            keyID: keyID, seqs: seqs, root: root, fingerprints: fingerprints, previous: previous, time: Timestamp(microseconds: micros),
            signature: signature
        )
        // Only the canonical form reads back: a statement with other spellings is not this one.
        guard self.statement == statement else { return nil }
    }

    /// The signed text.
    public var statement: String {
        [
            Self.header, "key \(keyID)", "seqs \(seqs)", "count \(seqs.count)", "root \(root.hexString)",
            "fingerprints \(fingerprints.hexString)", "previous \(previous.hexString)", "time \(time.microseconds)", "",
        ].joined(separator: "\n")
    }

    /// The fingerprint list of `leaves`: each one's first ``fingerprintWidth`` bytes, in order.
    public static func fingerprintList(of leaves: [SHA256Digest]) -> [UInt8] {
        var list: [UInt8] = []
        list.reserveCapacity(leaves.count * fingerprintWidth)
        for leaf in leaves { appendFingerprint(of: leaf, to: &list) }
        return list
    }

    public static func appendFingerprint(of leaf: SHA256Digest, to list: inout [UInt8]) {
        leaf.withUnsafeBytes { list.append(contentsOf: $0.prefix(fingerprintWidth)) }
    }

    /// The entity under which the chain's stream keeps this checkpoint's fingerprint list.
    public var fingerprintsEntity: String { "fingerprints/\(hash.hexString)" }

    /// What the next checkpoint names as `previous`.
    public var hash: MerkleHash {
        var hasher = SHA256()
        hasher.update(data: Array(statement.utf8))
        hasher.update(data: signature)
        return Array(hasher.finalize())
    }

    public func isSigned(by key: IntegrityPublicKey) -> Bool {
        key.id == keyID && key.isValidSignature(signature, for: Array(statement.utf8))
    }
}

/// What is wrong with a chain of checkpoints, by position.
public enum CheckpointProblem: Sendable, Hashable {
    /// Signed by a key the verifier was not given.
    case unknownKey(index: Int, keyID: String)
    /// The signature does not match the statement under the key it names.
    case badSignature(index: Int, keyID: String)
    /// `previous` is not the hash of the checkpoint before it: one was removed, replaced or reordered.
    case brokenChain(index: Int)
    /// It covers seqs at or before the end of the checkpoint before it.
    case overlapping(index: Int)
}

extension [IntegrityCheckpoint] {
    /// Checks the signatures and the chain, in order; the first checkpoint may follow one that
    /// is not in the list (`previous`: its hash, or ``IntegrityCheckpoint/origin`` for the very first).
    public func problems(keys: [IntegrityPublicKey], previous: MerkleHash = IntegrityCheckpoint.origin) -> [CheckpointProblem] {
        let byID = Dictionary(keys.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        var problems: [CheckpointProblem] = []
        var expected = previous
        var lastSeq: Int64 = 0
        for (index, checkpoint) in enumerated() {
            if let key = byID[checkpoint.keyID] {
                if !checkpoint.isSigned(by: key) { problems.append(.badSignature(index: index, keyID: checkpoint.keyID)) }
            } else {
                problems.append(.unknownKey(index: index, keyID: checkpoint.keyID))
            }
            if checkpoint.previous != expected { problems.append(.brokenChain(index: index)) }
            if let first = checkpoint.seqs.first {
                if first <= lastSeq { problems.append(.overlapping(index: index)) }
                lastSeq = Swift.max(lastSeq, checkpoint.seqs.last ?? first)
            }
            expected = checkpoint.hash
        }
        return problems
    }
}
