import Logging
import PostgresNIO
import SluiceCore
import SluiceStoreKit

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

    /// Whether the filter needs the decoded event (free text), so SQL alone cannot count it.
    var searchesText: Bool { text != nil }

    /// Matching events per bucket of `edges` (ascending), counted by PostgreSQL: `width_bucket`
    /// gives each row's bucket, and the filter's conditions are the listing's. No free text.
    func counts(edges: [Int64], on connection: PostgresConnection, logger: Logger) async throws -> [Int] {
        var binds = self.binds
        binds.append(edges)
        let edgesBind = "$\(binds.count)"
        binds.append(edges.first!)
        let low = "$\(binds.count)"
        binds.append(edges.last!)
        let high = "$\(binds.count)"
        let sql = """
            SELECT width_bucket(e.occurred_at, \(edgesBind)::bigint[]) AS b, count(*) FROM events e \
            WHERE \(whereClause) AND e.occurred_at >= \(low) AND e.occurred_at < \(high) GROUP BY b
            """
        var counts = [Int](repeating: 0, count: edges.count - 1)
        for row in try await connection.query(PostgresQuery(unsafeSQL: sql, binds: binds), logger: logger).collect() {
            let (bucket, n) = try row.decode((Int32, Int64).self)
            if bucket >= 1, Int(bucket) <= counts.count { counts[Int(bucket) - 1] += Int(n) }
        }
        return counts
    }

    /// The page's events, and where a bounded free-text scan stopped without filling it. Rows are
    /// decoded and kept when ``EventFilter/matches(_:)`` accepts them, the rule both stores share
    /// (the SQL conditions select the same rows; free text is answered from the decoded event).
    func run(on connection: PostgresConnection, decoder: PostgresEventDecoder, filter: EventFilter, logger: Logger) async throws -> ([StoredEvent], EventCursor?) {
        guard text != nil else {
            let sql = "SELECT \(PostgresEventRow.selectColumns) FROM events e WHERE \(whereClause) \(Self.order) LIMIT \(limit)"
            let rows = try await connection.query(PostgresQuery(unsafeSQL: sql, binds: binds), logger: logger).collect()
            return (try await decoder.events(rows).filter(filter.matches), nil)
        }
        // Free text is answered by the decoded event only: read at most textScanLimit candidates
        // newest first, a chunk at a time, so a rare needle never reads the whole store.
        var found: [StoredEvent] = []
        var scanned = 0
        var position: (Int64, Int64)?
        let chunk = 2_000
        while scanned < QueryLimits.textScanLimit {
            var chunkBinds = binds
            var conditions = [whereClause]
            if let position {
                chunkBinds.append(position.0)
                chunkBinds.append(position.1)
                conditions.append("(e.occurred_at, e.seq) < ($\(chunkBinds.count - 1), $\(chunkBinds.count))")
            }
            let take = min(chunk, QueryLimits.textScanLimit - scanned)
            let sql = "SELECT \(PostgresEventRow.selectColumns) FROM events e WHERE \(conditions.joined(separator: " AND ")) \(Self.order) LIMIT \(take)"
            let rows = try await connection.query(PostgresQuery(unsafeSQL: sql, binds: chunkBinds), logger: logger).collect()
            let events = try await decoder.events(rows)
            for event in events where filter.matches(event) {
                found.append(event)
                if found.count >= limit { return (found, nil) }
            }
            scanned += events.count
            guard events.count == take, let last = events.last else { return (found, nil) }
            position = (last.normalized.occurredAt.microseconds, last.seq)
        }
        return (found, position.map { EventCursor(occurredAt: Timestamp(microseconds: $0.0), seq: $0.1) })
    }
}
