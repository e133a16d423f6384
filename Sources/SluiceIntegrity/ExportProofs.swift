import Foundation
import SluiceCore

/// The proofs that travel with an export (`sluice events export --with-proof`): the checkpoints
/// that cover the exported events, and for each event its inclusion proof (RFC 9162's audit
/// path) and its raw bytes exactly as received, so that anyone holding the public key can check
/// the export offline (docs/integrity.md, docs/examples/verify_export.py). Written as JSON lines:
///
///     {"type":"checkpoint","seq":C,"statement":"…","signature":"<base64>"}
///     {"type":"event","seq":S,"id":"…","checkpoint":C,"index":I,"size":N,"path":["<hex>",…],"raw":"<base64>"}
///     {"type":"pending","seq":S}      (committed after the last checkpoint: no proof yet)
///
/// Checkpoints exported as events need no proof: they carry their own signature.
public struct ExportProofs: Sendable {
    public let store: any EventStore
    public var pageSize = 10_000

    public init(store: any EventStore) {
        self.store = store
    }

    /// The proof lines for the events `seqs` (in any order), checkpoints first.
    public func lines(for seqs: [Int64]) async throws(StoreError) -> [[UInt8]] {
        let checkpoints = try await IntegrityCheckpoint.stored(in: store)
        var byCheckpoint: [Int: [Int64]] = [:]
        var pending: [Int64] = []
        // Checkpoints' own events need no proof: they carry their signature.
        let ownEvents = Set(checkpoints.map(\.seq))
        for seq in seqs where !ownEvents.contains(seq) {
            // Checkpoints cover ascending, disjoint runs: find the one whose runs hold `seq`.
            var low = 0
            var high = checkpoints.count - 1
            var found: Int?
            while low <= high {
                let mid = (low + high) / 2
                let covered = checkpoints[mid].checkpoint.seqs
                if seq < covered.first ?? .max { high = mid - 1 } else if seq > covered.last ?? .min { low = mid + 1 } else {
                    found = covered.contains(seq) ? mid : nil
                    break
                }
            }
            if let found { byCheckpoint[found, default: []].append(seq) } else { pending.append(seq) }
        }
        var out: [[UInt8]] = []
        var events: [[UInt8]] = []
        for index in byCheckpoint.keys.sorted() {
            let (checkpointSeq, checkpoint) = checkpoints[index]
            out.append(Self.line([
                JSONMember("type", .string("checkpoint")), JSONMember("seq", .number(String(checkpointSeq))),
                JSONMember("statement", .string(checkpoint.statement)),
                JSONMember("signature", .string(Data(checkpoint.signature).base64EncodedString())),
            ]))
            let wanted = Set(byCheckpoint[index]!)
            let (leaves, covered) = try await leaves(of: checkpoint, keeping: wanted)
            for (position, event) in covered {
                events.append(Self.line([
                    JSONMember("type", .string("event")), JSONMember("seq", .number(String(event.seq))), JSONMember("id", .string(event.id.rawValue)),
                    JSONMember("checkpoint", .number(String(checkpointSeq))), JSONMember("index", .number(String(position))),
                    JSONMember("size", .number(String(leaves.count))),
                    JSONMember("path", .array(MerkleTree.inclusionProof(index: position, leaves).map { .string($0.hexString) })),
                    JSONMember("raw", .string(Data(event.raw).base64EncodedString())),
                ]))
            }
        }
        for seq in pending.sorted() {
            events.append(Self.line([JSONMember("type", .string("pending")), JSONMember("seq", .number(String(seq)))]))
        }
        return out + events
    }

    /// The leaves of `checkpoint`'s events in order, and the wanted events with their positions.
    func leaves(of checkpoint: IntegrityCheckpoint, keeping wanted: Set<Int64>) async throws(StoreError) -> ([MerkleHash], [(Int, StoredEvent)]) {
        guard let first = checkpoint.seqs.first, let last = checkpoint.seqs.last else { return ([], []) }
        var leaves: [MerkleHash] = []
        var kept: [(Int, StoredEvent)] = []
        var cursor = first - 1
        reading: while true {
            let page = try await store.events(afterSeq: cursor, limit: pageSize)
            for event in page {
                if event.seq > last { break reading }
                guard checkpoint.seqs.contains(event.seq) else { continue }
                if wanted.contains(event.seq) { kept.append((leaves.count, event)) }
                leaves.append(IntegrityLeaf.hash(of: event))
            }
            guard let tail = page.last, page.count == pageSize else { break }
            cursor = tail.seq
        }
        return (leaves, kept)
    }

    static func line(_ members: [JSONMember]) -> [UInt8] {
        var out: [UInt8] = []
        JSONValue.object(members).write(into: &out, sortedKeys: false)
        out.append(0x0A)
        return out
    }
}
