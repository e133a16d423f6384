/// The `seq` values a checkpoint covers, as ascending runs: `1-100,102-250,260`. Sequences have
/// gaps (PostgreSQL draws values that a rolled-back transaction never uses), so a checkpoint names
/// exactly which events it covers, and verification can tell a removed event from one that never was.
public struct SeqRanges: Sendable, Hashable, CustomStringConvertible {
    public private(set) var ranges: [ClosedRange<Int64>]

    /// From ascending, distinct `seqs`.
    public init(_ seqs: some Sequence<Int64>) {
        var ranges: [ClosedRange<Int64>] = []
        for seq in seqs {
            if let last = ranges.last, last.upperBound &+ 1 == seq {
                ranges[ranges.count - 1] = last.lowerBound...seq
            } else {
                precondition(ranges.last.map { seq > $0.upperBound } ?? true, "seqs must ascend")
                ranges.append(seq...seq)
            }
        }
        self.ranges = ranges
    }

    /// Reads the text form; nil when it is not ascending runs of positive numbers.
    public init?(parsing text: String) {
        var ranges: [ClosedRange<Int64>] = []
        guard !text.isEmpty else {
            self.ranges = []
            return
        }
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            let ends = part.split(separator: "-", omittingEmptySubsequences: false)
            guard (1...2).contains(ends.count), let low = Int64(ends[0]), let high = Int64(ends[ends.count - 1]), low >= 1, low <= high else { return nil }
            // Runs ascend and do not touch (touching runs would have been written as one).
            if let last = ranges.last, low <= last.upperBound &+ 1 { return nil }
            ranges.append(low...high)
        }
        self.ranges = ranges
    }

    public var count: Int64 { ranges.reduce(0) { $0 + ($1.upperBound - $1.lowerBound + 1) } }
    public var first: Int64? { ranges.first?.lowerBound }
    public var last: Int64? { ranges.last?.upperBound }

    public func contains(_ seq: Int64) -> Bool {
        // Binary search over the runs.
        var low = 0
        var high = ranges.count - 1
        while low <= high {
            let mid = (low + high) / 2
            if seq < ranges[mid].lowerBound {
                high = mid - 1
            } else if seq > ranges[mid].upperBound {
                low = mid + 1
            } else {
                return true
            }
        }
        return false
    }

    public var description: String {
        ranges.map { $0.lowerBound == $0.upperBound ? "\($0.lowerBound)" : "\($0.lowerBound)-\($0.upperBound)" }.joined(separator: ",")
    }
}
