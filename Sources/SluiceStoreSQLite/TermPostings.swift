import SluiceStoreKit

/// The postings of one indexing pass, grouped by term (by ``TermBytes``): sorting a few thousand
/// distinct terms and then integers per term costs far less than sorting every posting by its text.
struct TermPostings {
    private var byTerm: [TermBytes: [Posting]] = [:]
    /// Events per minute of `occurred_at` (minutes since 1970), for `event_minutes`.
    private(set) var minutes: [Int64: Int] = [:]

    /// The same per hour, for `event_hours`.
    var hours: [Int64: Int] {
        var hours: [Int64: Int] = [:]
        for (minute, n) in minutes { hours[EventMinute.hour(ofMinute: minute), default: 0] += n }
        return hours
    }

    mutating func add(_ terms: [TermBytes], occurredAt: Int64, seq: Int64) {
        minutes[EventMinute.of(occurredAt), default: 0] += 1
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

extension TermPostings {
    /// Each term with how many events of the pass have it, in index order.
    func termCounts() -> [(term: TermBytes, events: Int)] {
        byTerm.map { ($0.key, $0.value.count) }.sorted { $0.term.bytes.lexicographicallyPrecedes($1.term.bytes) }
    }
}

/// Minutes since 1970 (floored, also before it), the grain of `event_minutes`.
enum EventMinute {
    static let microseconds: Int64 = 60_000_000

    static func of(_ occurredAt: Int64) -> Int64 { floorDiv(occurredAt, microseconds) }

    static func hour(ofMinute minute: Int64) -> Int64 { floorDiv(minute, 60) }

    static func floorDiv(_ a: Int64, _ b: Int64) -> Int64 { a >= 0 ? a / b : -((-a + b - 1) / b) }
}
