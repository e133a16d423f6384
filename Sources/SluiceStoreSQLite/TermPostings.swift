import SluiceStoreKit

/// The postings of one indexing pass, grouped by term (by ``TermBytes``): sorting a few thousand
/// distinct terms and then integers per term costs far less than sorting every posting by its text.
struct TermPostings {
    private var byTerm: [TermBytes: [Posting]] = [:]

    mutating func add(_ terms: some Sequence<String>, occurredAt: Int64, seq: Int64) {
        for term in terms {
            byTerm[TermBytes(term), default: []].append(Posting(occurredAt: occurredAt, seq: seq))
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

/// A term's UTF-8 bytes, hashed as one run rather than byte by byte. Terms are compared as
/// SQLite compares them: `String` equality would merge canonically equivalent spellings (`é`
/// and `e` + U+0301) that SQLite keeps apart.
struct TermBytes: Hashable {
    let bytes: [UInt8]

    init(_ term: String) { bytes = Array(term.utf8) }

    var term: String { String(decoding: bytes, as: UTF8.self) }

    func hash(into hasher: inout Hasher) {
        bytes.withUnsafeBytes { hasher.combine(bytes: $0) }
    }
}
