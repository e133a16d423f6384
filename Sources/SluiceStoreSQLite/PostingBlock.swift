import Foundation
import GRDB
import SluiceCore

/// One posting of the filter index: an event (by `seq`) and its time, the order queries walk.
struct Posting: Comparable, Hashable, Sendable {
    var occurredAt: Int64
    var seq: Int64

    static func < (a: Posting, b: Posting) -> Bool {
        a.occurredAt != b.occurredAt ? a.occurredAt < b.occurredAt : a.seq < b.seq
    }
}

/// The postings of one term from one indexing pass, stored as one `event_postings` row.
///
/// A row per posting made the filter index the writer's largest cost (about ten B-tree inserts
/// per event); a block is one insert per term and pass. The row carries the first and
/// last posting in columns, so a query can pick blocks by time without reading their bytes; the
/// blob holds the others as varint deltas from the one before: the time (never negative, as a
/// block is sorted) and the seq (zigzag, since a late event has a lower time but a higher seq).
enum PostingBlock {
    /// Most postings in one block: bounds what a query decodes to reach the newest few.
    static let maximumCount = 2_048

    /// The bytes of `postings` (sorted, at least one) after the first.
    static func encode(_ postings: ArraySlice<Posting>) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(postings.count * 5)
        var previous = postings.first!
        for posting in postings.dropFirst() {
            appendVarint(UInt64(bitPattern: posting.occurredAt &- previous.occurredAt), to: &bytes)
            let seqDelta = posting.seq &- previous.seq
            appendVarint(UInt64(bitPattern: (seqDelta << 1) ^ (seqDelta >> 63)), to: &bytes)
            previous = posting
        }
        return bytes
    }

    /// The `count` postings of a block whose first posting is `first`, ascending.
    static func decode(_ bytes: some Collection<UInt8>, first: Posting, count: Int) throws(StoreError) -> [Posting] {
        // Each posting after the first takes at least two bytes.
        guard count >= 1, count - 1 <= bytes.count / 2 else {
            throw StoreError(.corrupt, "a filter index block (event_postings) claims \(count) postings in \(bytes.count) bytes: the database file is damaged")
        }
        var postings: [Posting] = []
        postings.reserveCapacity(count)
        postings.append(first)
        var index = bytes.startIndex
        func next() throws(StoreError) -> UInt64 {
            var value: UInt64 = 0
            var shift: UInt64 = 0
            while index != bytes.endIndex, shift < 64 {
                let byte = bytes[index]
                bytes.formIndex(after: &index)
                value |= UInt64(byte & 0x7F) << shift
                if byte & 0x80 == 0 { return value }
                shift += 7
            }
            throw StoreError(.corrupt, "a filter index block (event_postings) is truncated or malformed: the database file is damaged")
        }
        var previous = first
        while postings.count < count {
            let occurredDelta = Int64(bitPattern: try next())
            let zigzag = try next()
            let seqDelta = Int64(bitPattern: zigzag >> 1) ^ -Int64(bitPattern: zigzag & 1)
            previous = Posting(occurredAt: previous.occurredAt &+ occurredDelta, seq: previous.seq &+ seqDelta)
            postings.append(previous)
        }
        guard index == bytes.endIndex else {
            throw StoreError(.corrupt, "a filter index block (event_postings) holds more postings than its count: the database file is damaged")
        }
        return postings
    }

    /// The postings of an `event_postings` row read with `first_occurred_at, first_seq, count,
    /// postings` as consecutive columns from `firstColumn`.
    static func decode(row: Row, firstColumn column: Int) throws -> [Posting] {
        let first = Posting(occurredAt: row[column], seq: row[column + 1])
        return try row.withUnsafeData(atIndex: column + 3) { data in
            try decode(data ?? Data(), first: first, count: row[column + 2])
        }
    }

    private static func appendVarint(_ value: UInt64, to bytes: inout [UInt8]) {
        var value = value
        while value >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: value) | 0x80)
            value >>= 7
        }
        bytes.append(UInt8(value))
    }
}
