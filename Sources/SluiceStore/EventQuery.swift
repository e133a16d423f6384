import Foundation
import GRDB
import SluiceCore

/// A newest-first filtered listing over the SQLite store.
///
/// The filter indexes (`event_terms`) are built shortly after commit, so a listing has two parts
/// read in one snapshot: events up to the indexing watermark, found through the most selective
/// term of the filter, and the few events past it, found by scanning them. Every filter is also
/// checked on the event row itself, so both parts apply exactly the same conditions.
struct EventQuery: Sendable {
    static let columns = """
        e.seq, e.id, e.source, e.log_type, e.occurred_at, e.received_at, e.action, e.actor_type, \
        e.actor_id, e.actor_name, e.actor_metadata, e.targets, e.location, e.user_agent, e.schema_version, e.raw, e.origin
        """

    /// How the indexed part finds candidates.
    enum Driver: Sendable {
        /// Walk one term newest first.
        case term(String)
        /// Walk a range of terms (action prefix) and sort the matches.
        case termRange(String, String)
        /// No term applies: walk the time index.
        case time
    }

    let driver: Driver
    /// Conditions on the event row `e`, with their values, in SQL order.
    let conditions: [String]
    let values: [DatabaseValue]
    let cursor: EventCursor?
    let since: Timestamp?
    let until: Timestamp?
    let limit: Int
    /// The filter has free text, which only the raw event can answer.
    let searchesText: Bool

    init(filter: EventFilter, cursor: EventCursor?, limit: Int) {
        var conditions: [String] = []
        var values: [DatabaseValue] = []
        func add(_ sql: String, _ args: any DatabaseValueConvertible...) {
            conditions.append(sql)
            values += args.map(\.databaseValue)
        }
        if let v = filter.source { add("e.source = ?", v) }
        if let v = filter.logType { add("e.log_type = ?", v) }
        if let v = filter.actor { add("(e.actor_id = ? OR e.actor_name = ?)", v, v) }
        if let v = filter.actorType { add("e.actor_type = ?", v) }
        switch filter.action {
        case .exact(let v)?: add("e.action = ?", v)
        case .prefix(let v)?: add("e.action >= ? AND e.action < ?", v, Self.prefixEnd(v))
        case nil: break
        }
        if let v = filter.target {
            add("EXISTS (SELECT 1 FROM json_each(e.targets) j WHERE json_extract(j.value, '$.id') = ? OR json_extract(j.value, '$.name') = ?)", v, v)
        }
        if let v = filter.targetType {
            add("EXISTS (SELECT 1 FROM json_each(e.targets) j WHERE json_extract(j.value, '$.type') = ?)", v)
        }
        if let v = filter.text, !v.isEmpty {
            let needle = v.lowercased()
            add("(instr(lower(e.action), ?) > 0 OR instr(lower(CAST(e.raw AS TEXT)), ?) > 0)", needle, needle)
        }
        self.conditions = conditions
        self.values = values
        self.cursor = cursor
        self.since = filter.since
        self.until = filter.until
        self.limit = limit
        self.searchesText = !(filter.text ?? "").isEmpty

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

    /// Conditions on a time column (`occurred_at`, `seq` pairs) shared by every part.
    private func timeConditions(occurred: String, seq: String) -> ([String], [DatabaseValue]) {
        var sql: [String] = []
        var args: [DatabaseValue] = []
        if let since { sql.append("\(occurred) >= ?"); args.append(since.microseconds.databaseValue) }
        if let until { sql.append("\(occurred) < ?"); args.append(until.microseconds.databaseValue) }
        if let cursor {
            sql.append("(\(occurred), \(seq)) < (?, ?)")
            args += [cursor.occurredAt.microseconds.databaseValue, cursor.seq.databaseValue]
        }
        return (sql, args)
    }

    static func whereClause(_ parts: [String]) -> String {
        parts.isEmpty ? "1" : parts.joined(separator: " AND ")
    }

    /// Most distinct actions an action prefix is walked term by term; past it, the time index is walked.
    static let maximumPrefixTerms = 64

    /// Most events one page of a free-text search reads when no indexed term narrows it (about
    /// 100 ms on a 2-core machine); the next page continues where it stopped.
    static let textScanLimit = 50_000

    /// Rows of the page, and where a bounded free-text scan stopped without filling it.
    struct Result {
        var rows: [Row]
        var scanStoppedAt: EventCursor?
    }

    /// Runs both parts and merges them, newest first, at most `limit` rows.
    func run(in db: Database, indexedThrough: Int64) throws -> Result {
        switch driver {
        case .time:
            return try timeWalk(in: db)
        case .term(let term):
            return Result(rows: merged([try indexedRows(term: term, in: db, indexedThrough: indexedThrough), try tailRows(in: db, indexedThrough: indexedThrough)]))
        case .termRange(let start, let end):
            // A prefix names a few actions: walk each one's index newest first and merge, instead of
            // sorting every match of the range (a million rows for a common prefix).
            guard let terms = try Self.terms(from: start, to: end, in: db, atMost: Self.maximumPrefixTerms) else {
                return try timeWalk(in: db)
            }
            var parts = try terms.map { try indexedRows(term: $0, in: db, indexedThrough: indexedThrough) }
            parts.append(try tailRows(in: db, indexedThrough: indexedThrough))
            return Result(rows: merged(parts))
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

    private func timeWalk(in db: Database) throws -> Result {
        let (time, timeArgs) = timeConditions(occurred: "e.occurred_at", seq: "e.seq")
        let order = "ORDER BY e.occurred_at DESC, e.seq DESC"
        guard searchesText else {
            let sql = "SELECT \(Self.columns) FROM events e WHERE \(Self.whereClause(time + conditions)) \(order) LIMIT ?"
            return Result(rows: try Row.fetchAll(db, sql: sql, arguments: StatementArguments(timeArgs + values + [limit.databaseValue])))
        }
        // Nothing indexed narrows a text search, so it reads raw events newest first; a bound on
        // how many keeps a rare needle from reading the whole store in one request.
        let window = "SELECT seq FROM events e WHERE \(Self.whereClause(time)) \(order) LIMIT \(Self.textScanLimit)"
        let sql = "SELECT \(Self.columns) FROM events e WHERE e.seq IN (\(window)) AND \(Self.whereClause(conditions)) \(order) LIMIT ?"
        let rows = try Row.fetchAll(db, sql: sql, arguments: StatementArguments(timeArgs + values + [limit.databaseValue]))
        guard rows.count < limit else { return Result(rows: rows) }
        let lastSQL = "SELECT e.occurred_at, e.seq FROM events e WHERE \(Self.whereClause(time)) \(order) LIMIT 1 OFFSET \(Self.textScanLimit - 1)"
        guard let last = try Row.fetchOne(db, sql: lastSQL, arguments: StatementArguments(timeArgs)) else { return Result(rows: rows) }
        return Result(rows: rows, scanStoppedAt: EventCursor(occurredAt: Timestamp(microseconds: last[0]), seq: last[1]))
    }



    /// The indexed part for one term: its postings up to the watermark, newest first.
    ///
    /// Blocks come newest last posting first; a posting already decoded is final once it is newer
    /// than the last posting of the next block, since no later block holds a newer one. Final
    /// postings are checked against their event rows (which apply every condition) a chunk at a
    /// time, until the page is full.
    private func indexedRows(term: String, in db: Database, indexedThrough: Int64) throws -> [Row] {
        let window = PostingWindow(since: since, until: until, cursor: cursor, indexedThrough: indexedThrough)
        let blocks = try Row.fetchCursor(
            db,
            sql: """
                SELECT last_occurred_at, last_seq, first_occurred_at, first_seq, count, postings FROM event_postings \
                WHERE term = ? AND last_occurred_at >= ? AND first_occurred_at <= ? ORDER BY last_occurred_at DESC, last_seq DESC
                """,
            arguments: [term, window.lowestOccurredAt, window.highestOccurredAt]
        )
        var matcher = try PostingMatcher(query: self, db: db)
        var pending: [Posting] = []
        while let block = try blocks.next() {
            let last = Posting(occurredAt: block[0], seq: block[1])
            try matcher.check(taking: &pending, newerThan: last)
            if matcher.rows.count >= limit { return matcher.rows }
            let first = Posting(occurredAt: block[2], seq: block[3])
            let postings: [Posting] = try block.withUnsafeData(atIndex: 5) { data in
                try PostingBlock.decode(data ?? Data(), first: first, count: block[4])
            }
            pending += postings.lazy.filter(window.contains)
        }
        try matcher.check(taking: &pending, newerThan: nil)
        return matcher.rows
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

    /// Reads the event rows of final postings, newest first, keeping those every condition matches.
    struct PostingMatcher {
        private(set) var rows: [Row] = []
        private let limit: Int
        private let statement: Statement
        private let values: [DatabaseValue]
        private var seen: Set<Int64> = []
        /// Final postings whose events are not read yet, newest first.
        private var ready: [Posting] = []
        /// Postings read per statement; grows when few of them match.
        private var chunk: Int

        init(query: EventQuery, db: Database) throws {
            limit = query.limit
            values = query.values
            chunk = max(query.limit, 16)
            statement = try db.cachedStatement(sql: """
                SELECT \(EventQuery.columns) FROM events e \
                WHERE \(EventQuery.whereClause(["e.seq IN (SELECT value FROM json_each(?))"] + query.conditions))
                """)
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
            while !ready.isEmpty, rows.count < limit {
                let need = limit - rows.count
                if !draining && ready.count < need { return }
                let slice = ready.prefix(max(chunk, need))
                ready = Array(ready.dropFirst(slice.count))
                chunk = min(chunk * 2, 4_096)
                let seqs = "[" + slice.map { String($0.seq) }.joined(separator: ",") + "]"
                var found: [Int64: Row] = [:]
                let cursor = try Row.fetchCursor(statement, arguments: StatementArguments([seqs.databaseValue] + values))
                while let row = try cursor.next() {
                    found[row["seq"]] = row.copy()
                }
                for posting in slice {
                    guard rows.count < limit else { break }
                    if let row = found[posting.seq] { rows.append(row) }
                }
            }
        }
    }

    /// The unindexed tail: a rowid range (NOT INDEXED keeps SQLite from walking the time index
    /// over the whole table to find it).
    private func tailRows(in db: Database, indexedThrough: Int64) throws -> [Row] {
        let (time, timeArgs) = timeConditions(occurred: "e.occurred_at", seq: "e.seq")
        let sql = """
            SELECT \(Self.columns) FROM events e NOT INDEXED \
            WHERE \(Self.whereClause(["e.seq > ?"] + time + conditions)) ORDER BY e.occurred_at DESC, e.seq DESC LIMIT ?
            """
        return try Row.fetchAll(db, sql: sql, arguments: StatementArguments([indexedThrough.databaseValue] + timeArgs + values + [limit.databaseValue]))
    }

    /// Newest first across parts that are each newest first; at most `limit` rows.
    private func merged(_ parts: [[Row]]) -> [Row] {
        let nonEmpty = parts.filter { !$0.isEmpty }
        guard nonEmpty.count > 1 else { return nonEmpty.first ?? [] }
        var rows = nonEmpty.flatMap { $0 }
        rows.sort { a, b in
            let (ta, tb): (Int64, Int64) = (a["occurred_at"], b["occurred_at"])
            if ta != tb { return ta > tb }
            return (a["seq"] as Int64) > (b["seq"] as Int64)
        }
        return Array(rows.prefix(limit))
    }
}
