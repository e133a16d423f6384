import Foundation
import GRDB
import SluiceCore
import SluiceStoreKit

/// A newest-first filtered listing over the SQLite store.
///
/// The filter index (`event_postings`) is built shortly after commit, so a listing has two parts
/// read in one snapshot: events up to the indexing watermark, found through the most selective
/// term of the filter, and the few events past it, found by reading them. Both parts decode the
/// candidate rows and keep those ``EventFilter/matches(_:)`` accepts, so both apply exactly the
/// same conditions, and so does the PostgreSQL store.
struct SQLiteEventQuery: Sendable {
    /// How the indexed part finds candidates.
    enum Driver: Sendable {
        /// Walk one term newest first.
        case term(String)
        /// Walk a range of terms (action prefix) and merge them.
        case termRange(String, String)
        /// No term applies: walk the time index.
        case time
    }

    let filter: EventFilter
    let driver: Driver
    let cursor: EventCursor?
    let limit: Int

    init(filter: EventFilter, cursor: EventCursor?, limit: Int) {
        self.filter = filter
        self.cursor = cursor
        self.limit = limit
        // The most selective term the filter names drives the index walk.
        if let v = filter.actor {
            driver = .term(EventTerms.term(.actor, v))
        } else if let v = filter.target {
            driver = .term(EventTerms.term(.target, v))
        } else if case .exact(let v)? = filter.action {
            driver = .term(EventTerms.term(.action, v))
        } else if let v = filter.targetType {
            driver = .term(EventTerms.term(.targetType, v))
        } else if let v = filter.source {
            driver = .term(EventTerms.term(.feed, v))
        } else if let v = filter.logType {
            driver = .term(EventTerms.term(.logType, v))
        } else if let v = filter.actorType {
            driver = .term(EventTerms.term(.actorType, v))
        } else if case .prefix(let v)? = filter.action {
            let start = EventTerms.term(.action, v)
            driver = .termRange(start, Self.prefixEnd(start))
        } else {
            driver = .time
        }
    }

    /// Text compares bytewise; U+10FFFF sorts after any character that can follow the prefix.
    static func prefixEnd(_ prefix: String) -> String { prefix + "\u{10FFFF}" }

    /// Conditions on `occurred_at` and `seq` shared by every part.
    private var timeConditions: (sql: [String], arguments: [DatabaseValue]) {
        var sql: [String] = []
        var args: [DatabaseValue] = []
        if let since = filter.since { sql.append("occurred_at >= ?"); args.append(since.microseconds.databaseValue) }
        if let until = filter.until { sql.append("occurred_at < ?"); args.append(until.microseconds.databaseValue) }
        if let cursor {
            sql.append("(occurred_at, seq) < (?, ?)")
            args += [cursor.occurredAt.microseconds.databaseValue, cursor.seq.databaseValue]
        }
        return (sql, args)
    }

    static func whereClause(_ parts: [String]) -> String {
        parts.isEmpty ? "1" : parts.joined(separator: " AND ")
    }

    /// Most distinct actions an action prefix is walked term by term; past it, the time index is walked.
    static let maximumPrefixTerms = 64

    /// Most events one page of a free-text search reads when no indexed term narrows it.
    static let textScanLimit = QueryLimits.textScanLimit

    private var searchesText: Bool { !(filter.text ?? "").isEmpty }

    /// Runs both parts and merges them, newest first: at most `limit` events, and where a
    /// bounded free-text scan stopped without filling the page.
    func run(_ rows: SQLiteEventRows, indexedThrough: Int64) throws -> ([StoredEvent], EventCursor?) {
        // Exact names become label ids; a name no row has matches nothing (rows of the earlier
        // layout, which hold text, are still checked one by one).
        var names = LabelCondition()
        var unknown = false
        func id(_ kind: LabelTable.Kind, _ value: String?) throws -> Int64? {
            guard let value else { return nil }
            let found = try rows.labels.existingID(kind, value, in: rows.db)
            if found == nil { unknown = true }
            return found
        }
        names.source = try id(.source, filter.source)
        names.logType = try id(.logType, filter.logType)
        if case .exact(let action)? = filter.action { names.action = try id(.action, action) }
        if unknown && !rows.legacy { return ([], nil) }
        var query = self
        query.names = unknown ? LabelCondition(source: -1) : names
        return try query.runNamed(rows, indexedThrough: indexedThrough)
    }

    /// Label conditions resolved by ``run(_:indexedThrough:)``.
    var names = LabelCondition()

    private func runNamed(_ rows: SQLiteEventRows, indexedThrough: Int64) throws -> ([StoredEvent], EventCursor?) {
        switch driver {
        case .time:
            return try timeWalk(rows)
        case .term(let term):
            return (merged([try indexedEvents(term: term, rows, indexedThrough: indexedThrough), try tailEvents(rows, indexedThrough: indexedThrough)]), nil)
        case .termRange(let start, let end):
            // A prefix names a few actions: walk each one's index newest first and merge, instead of
            // sorting every match of the range (a million rows for a common prefix).
            guard let terms = try Self.terms(from: start, to: end, in: rows.db, atMost: Self.maximumPrefixTerms) else {
                return try timeWalk(rows)
            }
            var parts = try terms.map { try indexedEvents(term: $0, rows, indexedThrough: indexedThrough) }
            parts.append(try tailEvents(rows, indexedThrough: indexedThrough))
            return (merged(parts), nil)
        }
    }

    /// The distinct terms in [start, end), one index seek each; nil when there are more than `atMost`.
    static func terms(from start: String, to end: String, in db: Database, atMost: Int) throws -> [String]? {
        var terms: [String] = []
        var next = try String.fetchOne(db, sql: "SELECT term FROM event_postings WHERE term >= ? AND term < ? ORDER BY term LIMIT 1", arguments: [start, end])
        while let term = next {
            guard terms.count < atMost else { return nil }
            terms.append(term)
            next = try String.fetchOne(db, sql: "SELECT term FROM event_postings WHERE term > ? AND term < ? ORDER BY term LIMIT 1", arguments: [term, end])
        }
        return terms
    }

    /// Newest first through the time index. Without free text every row in the time window
    /// matches (a time walk is chosen only when no other condition is set); with it, rows are
    /// read and searched newest first, at most `textScanLimit` of them, so a rare needle never
    /// reads the whole store in one request.
    private func timeWalk(_ rows: SQLiteEventRows) throws -> ([StoredEvent], EventCursor?) {
        let (time, timeArgs) = timeConditions
        guard searchesText else {
            return (try rows.events(where: Self.whereClause(time), arguments: timeArgs, order: .timeDescending, limit: limit, names: names, keep: filter.matches), nil)
        }
        // The window of rows the scan may read: its oldest position bounds every table's part.
        let lastSQL = "SELECT occurred_at, seq FROM \(rows.legacy ? "(SELECT occurred_at, seq FROM events UNION ALL SELECT occurred_at, seq FROM events_v1)" : "events") WHERE \(Self.whereClause(time)) ORDER BY occurred_at DESC, seq DESC LIMIT 1 OFFSET \(Self.textScanLimit - 1)"
        let last = try Row.fetchOne(rows.db, sql: lastSQL, arguments: StatementArguments(timeArgs)).map { EventCursor(occurredAt: Timestamp(microseconds: $0[0]), seq: $0[1]) }
        var window = time
        var windowArgs = timeArgs
        if let last {
            window.append("(occurred_at, seq) >= (?, ?)")
            windowArgs += [last.occurredAt.microseconds.databaseValue, last.seq.databaseValue]
        }
        let found = try rows.events(where: Self.whereClause(window), arguments: windowArgs, order: .timeDescending, limit: limit, names: names, keep: filter.matches)
        guard found.count < limit, let last else { return (found, nil) }
        return (found, last)
    }

    /// The indexed part for one term: its postings up to the watermark, newest first.
    ///
    /// Blocks come newest last posting first; a posting already decoded is final once it is newer
    /// than the last posting of the next block, since no later block holds a newer one. Final
    /// postings are checked against their events (which apply every condition) a chunk at a
    /// time, until the page is full.
    private func indexedEvents(term: String, _ rows: SQLiteEventRows, indexedThrough: Int64) throws -> [StoredEvent] {
        let window = PostingWindow(since: filter.since, until: filter.until, cursor: cursor, indexedThrough: indexedThrough)
        let blocks = try Row.fetchCursor(
            rows.db,
            sql: """
                SELECT last_occurred_at, last_seq, first_occurred_at, first_seq, count, postings FROM event_postings \
                WHERE term = ? AND last_occurred_at >= ? AND first_occurred_at <= ? ORDER BY last_occurred_at DESC, last_seq DESC
                """,
            arguments: [term, window.lowestOccurredAt, window.highestOccurredAt]
        )
        var matcher = PostingMatcher(query: self, rows: rows)
        var pending: [Posting] = []
        while let block = try blocks.next() {
            let last = Posting(occurredAt: block[0], seq: block[1])
            try matcher.check(taking: &pending, newerThan: last)
            if matcher.events.count >= limit { return matcher.events }
            let postings = try PostingBlock.decode(row: block, firstColumn: 2)
            pending += postings.lazy.filter(window.contains)
        }
        try matcher.check(taking: &pending, newerThan: nil)
        return matcher.events
    }

    /// The time bounds of a listing as they apply to postings.
    struct PostingWindow {
        let since: Int64?
        let until: Int64?
        let cursor: Posting?
        let indexedThrough: Int64

        init(since: Timestamp?, until: Timestamp?, cursor: EventCursor?, indexedThrough: Int64) {
            self.since = since?.microseconds
            self.until = until?.microseconds
            self.cursor = cursor.map { Posting(occurredAt: $0.occurredAt.microseconds, seq: $0.seq) }
            self.indexedThrough = indexedThrough
        }

        var lowestOccurredAt: Int64 { since ?? .min }

        var highestOccurredAt: Int64 {
            var highest = Int64.max
            if let until { highest = until == .min ? .min : until - 1 }
            if let cursor { highest = min(highest, cursor.occurredAt) }
            return highest
        }

        func contains(_ posting: Posting) -> Bool {
            if posting.seq > indexedThrough { return false }
            if let since, posting.occurredAt < since { return false }
            if let until, posting.occurredAt >= until { return false }
            if let cursor, !(posting < cursor) { return false }
            return true
        }
    }

    /// Reads the events of final postings, newest first, keeping those the filter matches.
    struct PostingMatcher {
        private(set) var events: [StoredEvent] = []
        private let limit: Int
        private let filter: EventFilter
        private let names: LabelCondition
        private let rows: SQLiteEventRows
        private var seen: Set<Int64> = []
        /// Final postings whose events are not read yet, newest first.
        private var ready: [Posting] = []
        /// Postings read per statement; grows when few of them match.
        private var chunk: Int

        init(query: SQLiteEventQuery, rows: SQLiteEventRows) {
            limit = query.limit
            filter = query.filter
            names = query.names
            self.rows = rows
            chunk = max(query.limit, 16)
        }

        /// Moves the postings newer than `bound` (all when nil) out of `pending`: they are final,
        /// and newer than any posting a later call moves. Their events are read once enough are
        /// final to fill the page (or at the end), so a page costs a statement or two, not one
        /// per block.
        mutating func check(taking pending: inout [Posting], newerThan bound: Posting?) throws {
            var final: [Posting]
            if let bound {
                final = pending.filter { bound < $0 }
                pending.removeAll { bound < $0 }
            } else {
                final = pending
                pending = []
            }
            final.sort(by: >)
            ready += final.lazy.filter { seen.insert($0.seq).inserted }
            let draining = bound == nil
            while !ready.isEmpty, events.count < limit {
                let need = limit - events.count
                if !draining && ready.count < need { return }
                let slice = ready.prefix(max(chunk, need))
                ready = Array(ready.dropFirst(slice.count))
                chunk = min(chunk * 2, 4_096)
                let seqs = "[" + slice.map { String($0.seq) }.joined(separator: ",") + "]"
                var found: [Int64: StoredEvent] = [:]
                for event in try rows.events(where: "seq IN (SELECT value FROM json_each(?))", arguments: [seqs.databaseValue], order: .seq, names: names, keep: filter.matches) {
                    found[event.seq] = event
                }
                for posting in slice {
                    guard events.count < limit else { break }
                    if let event = found[posting.seq] { events.append(event) }
                }
            }
        }
    }

    /// The unindexed tail, newest first: the rows past the watermark (NOT INDEXED keeps SQLite
    /// from walking the time index over the whole table to find them), read until `limit` match.
    private func tailEvents(_ rows: SQLiteEventRows, indexedThrough: Int64) throws -> [StoredEvent] {
        let (time, timeArgs) = timeConditions
        return try rows.events(
            where: Self.whereClause(["seq > ?"] + time), arguments: [indexedThrough.databaseValue] + timeArgs, order: .timeDescending,
            limit: limit, notIndexed: true, names: names, keep: filter.matches
        )
    }

    /// Newest first across parts that are each newest first; at most `limit` events.
    private func merged(_ parts: [[StoredEvent]]) -> [StoredEvent] {
        let nonEmpty = parts.filter { !$0.isEmpty }
        guard nonEmpty.count > 1 else { return nonEmpty.first ?? [] }
        var events = nonEmpty.flatMap { $0 }
        events.sort { ($0.normalized.occurredAt, $0.seq) > ($1.normalized.occurredAt, $1.seq) }
        return Array(events.prefix(limit))
    }
}
