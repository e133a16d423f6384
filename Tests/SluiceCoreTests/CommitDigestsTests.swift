import Crypto
import SluiceCore
import Testing

/// The digests a store keeps between checkpoints: taken by seq in order, stale ones dropped,
/// bounded, and never a digest under another event's seq.
@Suite struct CommitDigestsTests {
    static func entry(_ seq: Int64) -> CommitDigests.Entry {
        CommitDigests.Entry(seq: seq, occurredAt: seq * 10, content: SHA256.hash(data: [UInt8](String(seq).utf8)))
    }

    @Test func takenBySeqAndStaleOnesDropped() {
        let digests = CommitDigests(capacity: 100)
        digests.add([1, 2, 3, 5].map(Self.entry))
        digests.add([8, 9].map(Self.entry))
        // 4 was never recorded (another process committed it); 1 was purged before the checkpoint.
        let taken = digests.take([2, 3, 4, 5])
        #expect(taken.map { $0?.seq } == [2, 3, nil, 5])
        #expect(taken[0]?.content == Self.entry(2).content)
        // 1 went with the take; 8 and 9 wait.
        #expect(digests.take([1, 8]).map { $0?.seq } == [nil, 8])
        #expect(digests.take([9, 10]).map { $0?.seq } == [9, nil])
        #expect(digests.take([9]).map { $0?.seq } == [nil])
    }

    @Test func outOfOrderCommitsAreStillFound() {
        let digests = CommitDigests(capacity: 100)
        digests.add([10, 11].map(Self.entry))
        digests.add([7, 12].map(Self.entry))
        #expect(digests.take([7, 10, 11, 12]).map { $0?.seq } == [7, 10, 11, 12])
    }

    @Test func boundedAndSaysWhenFilling() {
        let digests = CommitDigests(capacity: 4, checkpointAt: 2)
        digests.add([1].map(Self.entry))
        #expect(!digests.isFilling)
        digests.add([2, 3, 4, 5, 6].map(Self.entry))
        #expect(digests.isFilling)
        // Past the capacity new entries are dropped, and those events are read back instead.
        #expect(digests.take([1, 2, 3, 4, 5, 6]).map { $0?.seq } == [1, 2, 3, 4, nil, nil])
        #expect(!digests.isFilling)
    }
}
