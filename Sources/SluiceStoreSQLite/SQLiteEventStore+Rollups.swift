import Foundation
import GRDB
import SluiceCore
import SluiceStoreKit

/// Histograms and facets over the SQLite store, read in one snapshot like a listing: what the
/// filter index has indexed is counted from its postings and rollups (`event_postings`,
/// `event_minutes`, `index_terms`) without reading an event, and the few events past its
/// watermark are read and checked with ``EventFilter/matches(_:)``.
extension SQLiteEventStore {
    public func occurredRange() async throws(StoreError) -> ClosedRange<Timestamp>? {
        do {
            return try await pool.read { db in
                var low: Int64?
                var high: Int64?
                for table in self.hasLegacy(db) ? ["events", "events_v1"] : ["events"] {
                    // Two statements: SQLite answers each of min and max with one index seek.
                    if let l = try Int64.fetchOne(db, sql: "SELECT min(occurred_at) FROM \(table)"),
                       let h = try Int64.fetchOne(db, sql: "SELECT max(occurred_at) FROM \(table)") {
                        low = min(low ?? l, l)
                        high = max(high ?? h, h)
                    }
                }
                guard let low, let high else { return nil }
                return Timestamp(microseconds: low)...Timestamp(microseconds: high)
            }
        } catch {
            throw Self.storeError(error, doing: "read the range of stored times")
        }
    }

    public func eventCounts(matching filter: EventFilter, buckets: HistogramBuckets) async throws(StoreError) -> EventCounts {
        guard buckets.count > 0 else { return EventCounts(counts: []) }
        do {
            return try await readRows { rows in
                let indexedThrough = try Self.termsIndexedThrough(rows.db)
                return try SQLiteEventCounter(filter: filter, buckets: buckets, rows: rows, indexedThrough: indexedThrough).counts()
            }
        } catch {
            throw Self.storeError(error, doing: "count events")
        }
    }

    public func facets(matching filter: EventFilter, fields: [FacetField], limit: Int) async throws(StoreError) -> EventFacets {
        do {
            return try await readRows { rows in
                let indexedThrough = try Self.termsIndexedThrough(rows.db)
                if filter == EventFilter() {
                    return try Self.facetTotals(fields: fields, limit: limit, rows: rows, indexedThrough: indexedThrough)
                }
                let (events, stoppedAt) = try SQLiteEventQuery(filter: filter, cursor: nil, limit: FacetScan.maximumEvents)
                    .run(rows, indexedThrough: indexedThrough)
                var counts: [FacetField: [String: Int]] = [:]
                FacetScan.count(events, fields: fields, into: &counts)
                return EventFacets(
                    fields: Dictionary(uniqueKeysWithValues: fields.map { ($0, FacetValue.ranked(counts[$0] ?? [:], limit: limit)) }),
                    eventsCounted: events.count, complete: events.count < FacetScan.maximumEvents && stoppedAt == nil
                )
            }
        } catch {
            throw Self.storeError(error, doing: "count facets")
        }
    }

    /// Facets of every stored event: the indexed ones from `index_terms` (the top of each field
    /// is one index walk), plus those past the watermark, read. A value outside the top `limit`
    /// of the totals that no unindexed event has cannot overtake one inside it.
    static func facetTotals(fields: [FacetField], limit: Int, rows: SQLiteEventRows, indexedThrough: Int64) throws -> EventFacets {
        let db = rows.db
        let tail = try rows.events(where: "seq > ?", arguments: [indexedThrough.databaseValue], order: .seq, notIndexed: true)
        var tailCounts: [FacetField: [String: Int]] = [:]
        for event in tail {
            for term in terms(of: event) {
                guard let (field, value) = FacetField.split(term) else { continue }
                tailCounts[field, default: [:]][value, default: 0] += 1
            }
        }
        // The index's order (most events first, then by term), so ties list as FacetValue.ranked does.
        let top = try db.cachedStatement(sql: "SELECT term, events FROM index_terms WHERE field = ? ORDER BY events DESC, term LIMIT ?")
        let one = try db.cachedStatement(sql: "SELECT events FROM index_terms WHERE term = ?")
        var result: [FacetField: [FacetValue]] = [:]
        for field in fields {
            var counts: [String: Int] = [:]
            let prefixLength = EventTerms.term(field.termField, "").utf8.count
            for row in try Row.fetchAll(top, arguments: [field.code, limit]) {
                let term: String = row[0]
                counts[String(decoding: term.utf8.dropFirst(prefixLength), as: UTF8.self)] = row[1]
            }
            for (value, n) in tailCounts[field] ?? [:] {
                if counts[value] == nil {
                    counts[value] = try Int.fetchOne(one, arguments: [EventTerms.term(field.termField, value)]) ?? 0
                }
                counts[value, default: 0] += n
            }
            result[field] = FacetValue.ranked(counts, limit: limit)
        }
        let indexed = try Int.fetchOne(db, sql: "SELECT coalesce(sum(events), 0) FROM event_hours") ?? 0
        return EventFacets(fields: result, eventsCounted: indexed + tail.count, complete: true)
    }
}

/// Counts one histogram in one read snapshot.
struct SQLiteEventCounter {
    let filter: EventFilter
    let buckets: HistogramBuckets
    let rows: SQLiteEventRows
    let indexedThrough: Int64
    /// Where counting starts and stops: the buckets' span cut to the filter's own bounds.
    let low: Int64
    let high: Int64

    init(filter: EventFilter, buckets: HistogramBuckets, rows: SQLiteEventRows, indexedThrough: Int64) {
        self.filter = filter
        self.buckets = buckets
        self.rows = rows
        self.indexedThrough = indexedThrough
        low = max(buckets.edges.first!.microseconds, filter.since?.microseconds ?? .min)
        high = min(buckets.edges.last!.microseconds, filter.until?.microseconds ?? .max)
    }

    private var db: Database { rows.db }

    func counts() throws -> EventCounts {
        var counts = [Int](repeating: 0, count: buckets.count)
        guard low < high else { return EventCounts(counts: counts) }
        if let text = filter.text, !text.isEmpty { return try scanned() }
        var conditions: [[String]] = []
        func term(_ field: EventTerms.Field, _ value: String?) { if let value { conditions.append([EventTerms.term(field, value)]) } }
        term(.actor, filter.actor)
        term(.target, filter.target)
        if case .exact(let v)? = filter.action { term(.action, v) }
        term(.targetType, filter.targetType)
        term(.feed, filter.source)
        term(.logType, filter.logType)
        term(.actorType, filter.actorType)
        if case .prefix(let v)? = filter.action {
            let start = EventTerms.term(.action, v)
            guard let actions = try SQLiteEventQuery.terms(from: start, to: SQLiteEventQuery.prefixEnd(start), in: db, atMost: 1_000) else {
                return try scanned()
            }
            conditions.append(actions)
        }
        if conditions.isEmpty {
            // Counts the unindexed events itself.
            try countAll(into: &counts)
            return EventCounts(counts: counts)
        } else if conditions.count == 1, conditions[0].count == 1 {
            try countTerm(conditions[0][0], into: &counts)
        } else {
            // Every condition's postings in the window, intersected in (occurred_at, seq) order:
            // an event's posting is the same pair under each of its terms.
            var lists = try conditions.map { terms in
                try terms.count == 1 ? postings(terms[0]) : terms.flatMap { try postings($0) }.sorted()
            }
            lists.sort { $0.count < $1.count }
            var matched = lists[0]
            for other in lists.dropFirst() { matched = Self.intersect(matched, other) }
            for posting in matched { add(posting.occurredAt, to: &counts) }
        }
        for event in try tail() where filter.matches(event) { add(event.normalized.occurredAt.microseconds, to: &counts) }
        return EventCounts(counts: counts)
    }

    private func add(_ occurredAt: Int64, to counts: inout [Int]) {
        guard occurredAt >= low, occurredAt < high, let bucket = buckets.bucket(of: Timestamp(microseconds: occurredAt)) else { return }
        counts[bucket] += 1
    }

    /// The unindexed events in the window (read and decoded; a few hundred at most while the
    /// index keeps up).
    private func tail() throws -> [StoredEvent] {
        try rows.events(
            where: "seq > ? AND occurred_at >= ? AND occurred_at < ?", arguments: [indexedThrough.databaseValue, low.databaseValue, high.databaseValue],
            order: .seq, notIndexed: true
        )
    }

    /// One term: whole blocks inside one bucket count without being decoded.
    private func countTerm(_ term: String, into counts: inout [Int]) throws {
        let blocks = try self.blocks(term)
        while let block = try blocks.next() {
            let last: Int64 = block[0]
            let first: Int64 = block[1]
            if first >= low, last < high, let b = buckets.bucket(of: Timestamp(microseconds: first)), b == buckets.bucket(of: Timestamp(microseconds: last)) {
                counts[b] += block[3] as Int
                continue
            }
            for posting in try PostingBlock.decode(row: block, firstColumn: 1) { add(posting.occurredAt, to: &counts) }
        }
    }

    /// A term's postings in the window, in (occurred_at, seq) order.
    private func postings(_ term: String) throws -> [Posting] {
        let blocks = try self.blocks(term)
        var out: [Posting] = []
        while let block = try blocks.next() {
            out += try PostingBlock.decode(row: block, firstColumn: 1).lazy.filter { $0.occurredAt >= low && $0.occurredAt < high }
        }
        // Blocks of late events overlap in time.
        out.sort()
        return out
    }

    /// The blocks of `term` that may hold a posting in the window.
    private func blocks(_ term: String) throws -> RowCursor {
        try Row.fetchCursor(
            db,
            sql: "SELECT last_occurred_at, first_occurred_at, first_seq, count, postings FROM event_postings WHERE term = ? AND last_occurred_at >= ? AND first_occurred_at < ?",
            arguments: [term, low, high]
        )
    }

    static func intersect(_ a: [Posting], _ b: [Posting]) -> [Posting] {
        var out: [Posting] = []
        var i = 0
        var j = 0
        while i < a.count, j < b.count {
            if a[i] == b[j] {
                out.append(a[i])
                i += 1
                j += 1
            } else if a[i] < b[j] {
                i += 1
            } else {
                j += 1
            }
        }
        return out
    }

    /// No condition but time. Each bar is cut into whole hours (counted from `event_hours`),
    /// whole minutes at their ends (`event_minutes`) and, where an end is not a whole minute
    /// (a narrow width, or the filter's own bounds), the rest through the time index; events
    /// not indexed yet are not in the rollups, so those in whole minutes are added one by one.
    /// A year of 60 bars is a few hundred small statements, whatever the number of events.
    private func countAll(into counts: inout [Int]) throws {
        let minute = EventMinute.microseconds
        let hour = 60 * minute
        func ceil(_ t: Int64, _ unit: Int64) -> Int64 { EventMinute.floorDiv(t, unit) * unit == t ? t : (EventMinute.floorDiv(t, unit) + 1) * unit }
        func floor(_ t: Int64, _ unit: Int64) -> Int64 { EventMinute.floorDiv(t, unit) * unit }
        let tables = rows.legacy ? ["events", "events_v1"] : ["events"]
        let byTime = try tables.map { try db.cachedStatement(sql: "SELECT count(*) FROM \($0) WHERE occurred_at >= ? AND occurred_at < ?") }
        let byMinute = try db.cachedStatement(sql: "SELECT coalesce(sum(events), 0) FROM event_minutes WHERE minute >= ? AND minute < ?")
        let byHour = try db.cachedStatement(sql: "SELECT coalesce(sum(events), 0) FROM event_hours WHERE hour >= ? AND hour < ?")
        func timeIndex(_ a: Int64, _ b: Int64) throws -> Int {
            guard a < b else { return 0 }
            return try byTime.reduce(0) { $0 + (try Int.fetchOne($1, arguments: [a, b]) ?? 0) }
        }
        func minutes(_ a: Int64, _ b: Int64) throws -> Int {
            guard a < b else { return 0 }
            return try Int.fetchOne(byMinute, arguments: [a / minute, b / minute]) ?? 0
        }
        func hours(_ a: Int64, _ b: Int64) throws -> Int {
            guard a < b else { return 0 }
            return try Int.fetchOne(byHour, arguments: [a / hour, b / hour]) ?? 0
        }
        // Per bar, the span its rollups cover: unindexed events inside it are added below.
        var rolled: [(start: Int64, end: Int64)?] = Array(repeating: nil, count: buckets.count)
        for b in 0..<buckets.count {
            let a = max(buckets.edges[b].microseconds, low)
            let z = min(buckets.edges[b + 1].microseconds, high)
            guard a < z else { continue }
            let m1 = ceil(a, minute)
            let m2 = floor(z, minute)
            guard m1 < m2 else {
                counts[b] += try timeIndex(a, z)
                continue
            }
            counts[b] += try timeIndex(a, m1) + timeIndex(m2, z)
            let h1 = ceil(m1, hour)
            let h2 = floor(m2, hour)
            if h1 < h2 {
                counts[b] += try minutes(m1, h1) + hours(h1, h2) + minutes(h2, m2)
            } else {
                counts[b] += try minutes(m1, m2)
            }
            rolled[b] = (m1, m2)
        }
        for table in tables {
            let unindexed = try Int64.fetchAll(
                db, sql: "SELECT occurred_at FROM \(table) NOT INDEXED WHERE seq > ? AND occurred_at >= ? AND occurred_at < ?",
                arguments: [indexedThrough, low, high]
            )
            for t in unindexed {
                guard let b = buckets.bucket(of: Timestamp(microseconds: t)), let span = rolled[b], t >= span.start, t < span.end else { continue }
                counts[b] += 1
            }
        }
    }

    /// Free text (or an action prefix naming over a thousand actions): the newest matching
    /// events the listing's bounded scan reads, counted; incomplete when it stopped early.
    private func scanned() throws -> EventCounts {
        var windowed = filter
        windowed.since = Timestamp(microseconds: low)
        windowed.until = Timestamp(microseconds: high)
        let (events, stoppedAt) = try SQLiteEventQuery(filter: windowed, cursor: nil, limit: QueryLimits.textScanLimit).run(rows, indexedThrough: indexedThrough)
        return EventCounts(scanned: events, stoppedAt: stoppedAt, buckets: buckets)
    }
}
