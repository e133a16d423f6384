import SluiceStoreKit

/// The postings of one indexing pass, grouped by term (by ``TermBytes``): sorting a few thousand
/// distinct terms and then integers per term costs far less than sorting every posting by its text.
struct TermPostings {
    private var byTerm: [TermBytes: [Posting]] = [:]

    mutating func add(_ terms: [TermBytes], occurredAt: Int64, seq: Int64) {
        for term in terms {
            byTerm[term, default: []].append(Posting(occurredAt: occurredAt, seq: seq))
        }
    }

    /// Terms in SQLite's BINARY (byte) order, each with its postings in (occurred_at, seq) order:
    /// the order of `event_postings`' index.
    func inIndexOrder() -> [(term: String, postings: [Posting])] {
        byTerm.keys
            .sorted { $0.bytes.lexicographicallyPrecedes($1.bytes) }
            .map { ($0.term, byTerm[$0]!.sorted()) }
    }
}
