import Crypto
import SluiceCore

/// Something verification found wrong, with the seqs and ids that locate it.
public enum IntegrityProblem: Sendable, Hashable, CustomStringConvertible {
    /// A checkpoint event that does not read as a checkpoint.
    case damagedCheckpoint(seq: Int64, id: String)
    /// A checkpoint signed by a key the verifier was not given (or forged with another key).
    case unknownKey(checkpointSeq: Int64, keyID: String)
    /// A checkpoint whose signature does not match what it states.
    case badSignature(checkpointSeq: Int64)
    /// The checkpoint does not follow the one before it: one was removed or replaced in between.
    /// `uncovered` are the events that only the missing checkpoint covered.
    case missingCheckpoint(beforeSeq: Int64, uncovered: SeqRanges)
    /// Events a checkpoint covers that are no longer stored.
    case missingEvents(checkpointSeq: Int64, seqs: SeqRanges)
    /// A stored event inside a checkpoint's range that the checkpoint does not list.
    case insertedEvent(seq: Int64, id: String, checkpointSeq: Int64)
    /// A covered event no longer matches its fingerprint in the checkpoint's (authentic) list:
    /// its bytes, a normalized field, or its seq changed.
    case changedEvent(seq: Int64, id: String, checkpointSeq: Int64)
    /// The events a checkpoint covers are all there, but no longer hash to its root, and which
    /// of them changed cannot be told (the fingerprint list is gone or was altered too).
    case changedEvents(checkpointSeq: Int64, seqs: SeqRanges)
    /// A checkpoint covering seqs that an earlier one covered.
    case overlappingCheckpoint(checkpointSeq: Int64)
    /// A stored event older than a checkpoint that no checkpoint covers.
    case uncoveredEvent(seq: Int64, id: String)
    /// The chain's recorded end (the `sluice/integrity` position) is not the newest checkpoint
    /// stored: the newest checkpoints were removed. `uncovered` are the events they covered.
    case newestCheckpointMissing(throughSeq: Int64, uncovered: SeqRanges)

    public var description: String {
        switch self {
        case .damagedCheckpoint(let seq, let id): "checkpoint event seq \(seq) (\(id)) is damaged: it does not read as a checkpoint"
        case .unknownKey(let seq, let keyID): "checkpoint seq \(seq) is signed by key \(keyID), which is not a trusted key: it was forged or replaced (or pass that key with --public-key)"
        case .badSignature(let seq): "checkpoint seq \(seq) does not match its signature: it was changed"
        case .missingCheckpoint(let seq, let uncovered):
            "the checkpoint before seq \(seq) is missing or was replaced (the chain breaks there)"
                + (uncovered.count > 0 ? "; events \(uncovered) were covered only by it" : "")
        case .missingEvents(let seq, let seqs): "events \(seqs) are covered by checkpoint seq \(seq) but are no longer stored"
        case .insertedEvent(let seq, let id, let checkpoint): "event seq \(seq) (\(id)) lies in the range of checkpoint seq \(checkpoint), which does not cover it: it was added later"
        case .changedEvent(let seq, let id, let checkpoint): "event seq \(seq) (\(id)) changed after checkpoint seq \(checkpoint) covered it"
        case .changedEvents(let seq, let seqs): "events \(seqs) no longer match the root of checkpoint seq \(seq): one or more of them changed"
        case .overlappingCheckpoint(let seq): "checkpoint seq \(seq) covers seqs an earlier checkpoint covered"
        case .uncoveredEvent(let seq, let id): "event seq \(seq) (\(id)) is older than a checkpoint but covered by none"
        case .newestCheckpointMissing(let seq, let uncovered):
            "the newest checkpoint (through seq \(seq)) is missing: the chain's recorded end matches no stored checkpoint"
                + (uncovered.count > 0 ? "; events \(uncovered) were covered only by it" : "")
        }
    }
}

/// What `sluice verify` found.
public struct IntegrityReport: Sendable {
    public var checkpoints = 0
    /// Events whose checkpoint is intact and signed by a trusted key.
    public var verifiedEvents = 0
    /// The last checkpoint through which everything is intact: its seq, the last seq it covers, its time.
    public var verifiedThrough: (checkpointSeq: Int64, lastSeq: Int64, time: Timestamp)?
    public var problems: [IntegrityProblem] = []
    /// Events committed after the last checkpoint: the next checkpoint covers them.
    public var pending: SeqRanges = SeqRanges([])
    /// Covered events that retention purged (recorded by its `retention.purged` entries).
    public var purgedEvents = 0
    /// Events still stored in checkpoints that retention thinned out: present and listed, but
    /// their root cannot be recomputed without the purged ones.
    public var unprovableAfterPurge = 0

    public var isIntact: Bool { problems.isEmpty }
}

/// Reads the whole store in commit order once, recomputing each event's leaf, and checks every
/// checkpoint: its signature under the trusted keys, its link to the one before, that the events
/// it lists are all stored and none was added in its range, and that they still hash to its root.
public struct IntegrityVerifier: Sendable {
    public let store: any EventStore
    public let keys: [IntegrityPublicKey]
    public var pageSize = 50_000

    public init(store: any EventStore, keys: [IntegrityPublicKey]) {
        self.store = store
        self.keys = keys
    }

    private struct Leaf {
        var row: IntegrityRow
        var seq: Int64 { row.seq }
        var hash: SHA256Digest { row.leaf! }
        var id: EventID { row.id }
    }

    /// The covered events whose leaves no longer match their fingerprints, when the checkpoint's
    /// fingerprint list is stored and hashes to its signed value; none otherwise. `covered` are
    /// stored events the checkpoint lists, ascending (some of its events may be gone). A match is
    /// 4 bytes: it names what changed, while the root is what proves that something did.
    func changedByFingerprint(_ covered: [IntegrityRow], checkpoint: IntegrityCheckpoint) async throws(StoreError) -> [IntegrityRow] {
        let width = IntegrityCheckpoint.fingerprintWidth
        guard !covered.isEmpty,
              let list = try await store.entityDigest(stream: IntegrityCheckpointer.stream, entity: checkpoint.fingerprintsEntity),
              list.count == Int(checkpoint.seqs.count) * width, Array(SHA256.hash(data: list)) == checkpoint.fingerprints else { return [] }
        // Each event's position among the listed seqs: one walk over both, in order.
        var changed: [IntegrityRow] = []
        var run = 0
        var before = 0
        let ranges = checkpoint.seqs.ranges
        for row in covered {
            while run < ranges.count && ranges[run].upperBound < row.seq {
                before += Int(ranges[run].upperBound - ranges[run].lowerBound + 1)
                run += 1
            }
            guard run < ranges.count, ranges[run].contains(row.seq), let leaf = row.leaf else { continue }
            let index = before + Int(row.seq - ranges[run].lowerBound)
            let matches = leaf.withUnsafeBytes { $0.prefix(width).elementsEqual(list[index * width..<(index + 1) * width]) }
            if !matches { changed.append(row) }
        }
        return changed
    }

    /// The seqs retention recorded as purged, as sorted runs.
    func purgedRuns() async throws(StoreError) -> [ClosedRange<Int64>] {
        var runs: [ClosedRange<Int64>] = []
        var cursor: EventCursor?
        repeat {
            let page = try await store.events(
                matching: EventFilter(source: AdminAuditEntry.source, action: ActionMatch(Self.purgedAction)), after: cursor, limit: 1_000
            )
            for event in page.events {
                guard let document = try? JSONParser.parse(event.raw), case .string(let text)? = document["metadata"]?["seqs"],
                      let seqs = SeqRanges(parsing: text) else { continue }
                runs += seqs.ranges
            }
            cursor = page.nextCursor
        } while cursor != nil
        return runs.sorted { $0.lowerBound < $1.lowerBound }
    }

    /// The action of retention's record of each purged batch (`RetentionService`).
    public static let purgedAction = "retention.purged"

    /// What to verify.
    public enum Scope: Sendable, Hashable {
        /// The whole store, through its newest event.
        case all
        /// The checkpoints written in this time range and the events they cover.
        case written(ClosedRange<Timestamp>)
        /// The checkpoints covering any seq in this range and the events they cover.
        case seqs(ClosedRange<Int64>)
    }

    public func verify(_ scope: Scope = .all) async throws(StoreError) -> IntegrityReport {
        var start: Int64 = 0
        var through: Int64 = .max
        var startLink = IntegrityCheckpoint.origin
        if scope != .all {
            let chosen = try await IntegrityCheckpoint.stored(in: store).filter { seq, checkpoint in
                switch scope {
                case .all: true
                case .written(let times): times.contains(checkpoint.time)
                case .seqs(let seqs): (checkpoint.seqs.first ?? seq) <= seqs.upperBound && (checkpoint.seqs.last ?? seq) >= seqs.lowerBound
                }
            }
            guard let first = chosen.first, let last = chosen.last else { return IntegrityReport() }
            // The range starts at its first checkpoint, trusting its link to the one before (not read).
            start = (first.checkpoint.seqs.first ?? first.seq) - 1
            through = last.seq
            startLink = first.checkpoint.previous
        }
        return try await verify(after: start, through: through, startLink: startLink, toTheEnd: scope == .all)
    }

    func verify(after start: Int64, through: Int64, startLink: MerkleHash, toTheEnd: Bool) async throws(StoreError) -> IntegrityReport {
        let purged = try await purgedRuns()
        func wasPurged(_ seq: Int64) -> Bool {
            var low = 0
            var high = purged.count - 1
            while low <= high {
                let mid = (low + high) / 2
                if seq < purged[mid].lowerBound { high = mid - 1 } else if seq > purged[mid].upperBound { low = mid + 1 } else { return true }
            }
            return false
        }
        let trusted = Dictionary(keys.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        var report = IntegrityReport()
        var waiting: [Leaf] = []
        var previous = startLink
        var previousTrusted = true
        var coveredThrough = start
        try await LeafReader(store: store, pageSize: pageSize).read(after: start, through: through) { (page) throws(StoreError) in
            for entry in page {
                guard let event = entry.checkpoint else {
                    if entry.leaf != nil { waiting.append(Leaf(row: entry)) }
                    continue
                }
                report.checkpoints += 1
                guard let checkpoint = IntegrityCheckpoint(event: event) else {
                    report.problems.append(.damagedCheckpoint(seq: event.seq, id: event.id.rawValue))
                    previousTrusted = false
                    continue
                }
                var trustedHere = true
                if let key = trusted[checkpoint.keyID] {
                    if !checkpoint.isSigned(by: key) {
                        report.problems.append(.badSignature(checkpointSeq: event.seq))
                        trustedHere = false
                    }
                } else {
                    report.problems.append(.unknownKey(checkpointSeq: event.seq, keyID: checkpoint.keyID))
                    trustedHere = false
                }
                let first = checkpoint.seqs.first ?? event.seq
                let last = checkpoint.seqs.last ?? 0
                // Events before this checkpoint's range are covered by no checkpoint present.
                let before = waiting.prefix { $0.seq < first }
                waiting.removeFirst(before.count)
                // After an untrusted checkpoint, the broken link only repeats what was reported.
                if checkpoint.previous != previous && previousTrusted {
                    report.problems.append(.missingCheckpoint(beforeSeq: event.seq, uncovered: SeqRanges(before.map(\.seq))))
                } else {
                    report.problems.append(contentsOf: before.map { .uncoveredEvent(seq: $0.seq, id: $0.id.rawValue) })
                }
                if first <= coveredThrough { report.problems.append(.overlappingCheckpoint(checkpointSeq: event.seq)) }
                let inRange = waiting.prefix { $0.seq <= last }
                waiting.removeFirst(inRange.count)
                var covered: [Leaf] = []
                var problemsHere = 0
                for leaf in inRange {
                    if checkpoint.seqs.contains(leaf.seq) {
                        covered.append(leaf)
                    } else {
                        report.problems.append(.insertedEvent(seq: leaf.seq, id: leaf.id.rawValue, checkpointSeq: event.seq))
                        problemsHere += 1
                    }
                }
                if covered.count != Int(checkpoint.seqs.count) {
                    let present = Set(covered.map(\.seq))
                    let absent = checkpoint.seqs.ranges.lazy.flatMap { $0 }.filter { !present.contains($0) }
                    let missing = absent.filter { !wasPurged($0) }
                    report.purgedEvents += absent.count - missing.count
                    if missing.isEmpty {
                        report.unprovableAfterPurge += covered.count
                    } else {
                        report.problems.append(.missingEvents(checkpointSeq: event.seq, seqs: SeqRanges(missing)))
                        problemsHere += 1
                    }
                    // The root cannot be recomputed without every event; the fingerprints still
                    // name a change among those left.
                    let changed = try await changedByFingerprint(covered.map(\.row), checkpoint: checkpoint)
                    report.problems += changed.map { .changedEvent(seq: $0.seq, id: $0.id.rawValue, checkpointSeq: event.seq) }
                    problemsHere += changed.count
                    if missing.isEmpty { covered = [] }
                } else if MerkleTree.root(ofLeaves: covered.map(\.hash)) != checkpoint.root {
                    let changed = try await changedByFingerprint(covered.map(\.row), checkpoint: checkpoint)
                    report.problems += changed.isEmpty
                        ? [.changedEvents(checkpointSeq: event.seq, seqs: checkpoint.seqs)]
                        : changed.map { .changedEvent(seq: $0.seq, id: $0.id.rawValue, checkpointSeq: event.seq) }
                    problemsHere += 1
                }
                if trustedHere && problemsHere == 0 && report.problems.isEmpty {
                    report.verifiedEvents += covered.count
                    report.verifiedThrough = (event.seq, last, checkpoint.time)
                }
                coveredThrough = max(coveredThrough, last)
                previous = checkpoint.hash
                previousTrusted = trustedHere
            }
        }
        // The chain's end as the checkpointer recorded it must be the newest checkpoint read.
        if toTheEnd, let stored = try await store.checkpoint(stream: IntegrityCheckpointer.stream),
           let end = IntegrityCheckpointer.Position(text: stored.value), end.hash != previous {
            let uncovered = waiting.prefix { $0.seq <= end.lastSeq }
            waiting.removeFirst(uncovered.count)
            report.problems.append(.newestCheckpointMissing(throughSeq: end.lastSeq, uncovered: SeqRanges(uncovered.map(\.seq))))
        }
        report.pending = SeqRanges(waiting.map(\.seq))
        return report
    }
}
