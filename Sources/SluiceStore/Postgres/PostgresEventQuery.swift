import Logging
import PostgresNIO
import SluiceCore

/// A newest-first filtered listing over the PostgreSQL store.
///
/// Every exact filter (feed, log type, actor, actor type, action, target, target type) is a term
/// of the event's `terms` array, so one containment test served by the GIN index covers them all;
/// PostgreSQL's planner chooses between that index and walking `(occurred_at, seq)` backwards.
struct PostgresEventQuery: Sendable {
    private var conditions: [String] = []
    private var binds = PostgresBindings()
    private var text: String?
    private let limit: Int

    /// Nil when a filter value holds NUL: no stored term can match it.
    init?(filter: EventFilter, cursor: EventCursor?, limit: Int) {
        self.limit = limit
        var terms: [String] = []
        if let v = filter.source { terms.append(EventTerms.term(.feed, v)) }
        if let v = filter.logType { terms.append(EventTerms.term(.logType, v)) }
        if let v = filter.actor { terms.append(EventTerms.term(.actor, v)) }
        if let v = filter.actorType { terms.append(EventTerms.term(.actorType, v)) }
        if case .exact(let v)? = filter.action { terms.append(EventTerms.term(.action, v)) }
        if let v = filter.target { terms.append(EventTerms.term(.target, v)) }
        if let v = filter.targetType { terms.append(EventTerms.term(.targetType, v)) }
        if terms.contains(where: { $0.utf8.contains(0) }) { return nil }
        if !terms.isEmpty { conditions.append("e.terms @> \(bind(terms))::text[]") }
        if case .prefix(let v)? = filter.action {
            if v.utf8.contains(0) { return nil }
            conditions.append("starts_with(e.action, \(bind(v)))")
        }
        if let since = filter.since { conditions.append("e.occurred_at >= \(bind(since.microseconds))") }
        if let until = filter.until { conditions.append("e.occurred_at < \(bind(until.microseconds))") }
        if let cursor {
            conditions.append("(e.occurred_at, e.seq) < (\(bind(cursor.occurredAt.microseconds)), \(bind(cursor.seq)))")
        }
        if let v = filter.text, !v.isEmpty {
            if v.utf8.contains(0) { return nil }
            text = v.lowercased()
        }
    }

    private mutating func bind<Value: PostgresDynamicTypeEncodable>(_ value: Value) -> String {
        binds.append(value)
        return "$\(binds.count)"
    }

    private static let order = "ORDER BY e.occurred_at DESC, e.seq DESC"

    private var whereClause: String {
        conditions.isEmpty ? "true" : conditions.joined(separator: " AND ")
    }

    /// The page's events, and where a bounded free-text scan stopped without filling it.
    func run(on connection: PostgresConnection, logger: Logger) async throws -> ([StoredEvent], EventCursor?) {
        guard let text else {
            let sql = "SELECT \(PostgresEventRow.selectColumns) FROM events e WHERE \(whereClause) \(Self.order) LIMIT \(limit)"
            let rows = try await connection.query(PostgresQuery(unsafeSQL: sql, binds: binds), logger: logger).collect()
            return (try rows.map(PostgresEventRow.storedEvent(from:)), nil)
        }
        // Free text is answered by the raw event only: read at most textScanLimit candidates
        // newest first, so a rare needle never reads the whole store in one request.
        var textBinds = binds
        textBinds.append(text)
        let needle = "$\(textBinds.count)"
        let window = "SELECT e.seq FROM events e WHERE \(whereClause) \(Self.order) LIMIT \(EventQuery.textScanLimit)"
        let sql = """
            SELECT \(PostgresEventRow.selectColumns) FROM events e WHERE e.seq IN (\(window))
            AND (strpos(lower(e.action), \(needle)) > 0 OR strpos(lower(convert_from(e.raw, 'UTF8')), \(needle)) > 0)
            \(Self.order) LIMIT \(limit)
            """
        let rows = try await connection.query(PostgresQuery(unsafeSQL: sql, binds: textBinds), logger: logger).collect()
        let events = try rows.map(PostgresEventRow.storedEvent(from:))
        guard events.count < limit else { return (events, nil) }
        let lastSQL = "SELECT e.occurred_at, e.seq FROM events e WHERE \(whereClause) \(Self.order) LIMIT 1 OFFSET \(EventQuery.textScanLimit - 1)"
        for try await (occurredAt, seq) in try await connection.query(PostgresQuery(unsafeSQL: lastSQL, binds: binds), logger: logger).decode((Int64, Int64).self) {
            return (events, EventCursor(occurredAt: Timestamp(microseconds: occurredAt), seq: seq))
        }
        return (events, nil)
    }
}
