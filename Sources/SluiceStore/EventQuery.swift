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

    private static func whereClause(_ parts: [String]) -> String {
        parts.isEmpty ? "1" : parts.joined(separator: " AND ")
    }

    /// Runs both parts and merges them, newest first, at most `limit` rows.
    func run(in db: Database, indexedThrough: Int64) throws -> [Row] {
        let order = "ORDER BY e.occurred_at DESC, e.seq DESC"
        switch driver {
        case .time:
            let (time, timeArgs) = timeConditions(occurred: "e.occurred_at", seq: "e.seq")
            let sql = "SELECT \(Self.columns) FROM events e WHERE \(Self.whereClause(time + conditions)) \(order) LIMIT ?"
            return try Row.fetchAll(db, sql: sql, arguments: StatementArguments(timeArgs + values + [limit.databaseValue]))
        case .term, .termRange:
            var termSQL: String
            var termArgs: [DatabaseValue]
            if case .term(let term) = driver {
                termSQL = "t.term = ?"
                termArgs = [term.databaseValue]
            } else if case .termRange(let start, let end) = driver {
                termSQL = "t.term >= ? AND t.term < ?"
                termArgs = [start.databaseValue, end.databaseValue]
            } else {
                termSQL = "0"
                termArgs = []
            }
            let (time, timeArgs) = timeConditions(occurred: "t.occurred_at", seq: "t.seq")
            let indexed = """
                SELECT \(Self.columns) FROM event_terms t JOIN events e ON e.seq = t.seq \
                WHERE \(Self.whereClause([termSQL, "t.seq <= ?"] + time + conditions)) \
                ORDER BY t.occurred_at DESC, t.seq DESC LIMIT ?
                """
            var rows = try Row.fetchAll(
                db, sql: indexed,
                arguments: StatementArguments(termArgs + [indexedThrough.databaseValue] + timeArgs + values + [limit.databaseValue])
            )
            // The unindexed tail: a rowid range (NOT INDEXED keeps SQLite from walking the time
            // index over the whole table to find it).
            let (tailTime, tailTimeArgs) = timeConditions(occurred: "e.occurred_at", seq: "e.seq")
            let tail = """
                SELECT \(Self.columns) FROM events e NOT INDEXED \
                WHERE \(Self.whereClause(["e.seq > ?"] + tailTime + conditions)) \(order) LIMIT ?
                """
            let tailRows = try Row.fetchAll(
                db, sql: tail,
                arguments: StatementArguments([indexedThrough.databaseValue] + tailTimeArgs + values + [limit.databaseValue])
            )
            if !tailRows.isEmpty {
                rows += tailRows
                rows.sort { a, b in
                    let (ta, tb): (Int64, Int64) = (a["occurred_at"], b["occurred_at"])
                    if ta != tb { return ta > tb }
                    return (a["seq"] as Int64) > (b["seq"] as Int64)
                }
                rows = Array(rows.prefix(limit))
            }
            return rows
        }
    }
}
