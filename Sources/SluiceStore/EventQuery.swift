import GRDB
import SluiceCore

/// Builds the SQL for a newest-first filtered listing.
///
/// Filters on actor and target match either an id or a name; an OR across two columns defeats a
/// single index, so such a filter becomes a union of two index-ordered, limited branches and
/// each branch reads only about `limit` rows whatever the table size.
struct EventQuery: Sendable {
    static let columns = """
        e.seq, e.id, e.source, e.log_type, e.occurred_at, e.received_at, e.action, e.actor_type, \
        e.actor_id, e.actor_name, e.actor_metadata, e.targets, e.location, e.user_agent, e.schema_version, e.raw
        """

    var sql: String
    /// Bound values in SQL order.
    var values: [DatabaseValue]

    init(filter: EventFilter, cursor: EventCursor?, limit: Int) {
        var residual: [String] = []
        var residualArgs: [(any DatabaseValueConvertible)?] = []
        if let source = filter.source {
            residual.append("e.source = ?"); residualArgs.append(source)
        }
        if let logType = filter.logType {
            residual.append("e.log_type = ?"); residualArgs.append(logType)
        }
        if let actorType = filter.actorType {
            residual.append("e.actor_type = ?"); residualArgs.append(actorType)
        }
        switch filter.action {
        case .exact(let action)?:
            residual.append("e.action = ?"); residualArgs.append(action)
        case .prefix(let prefix)?:
            // Text compares bytewise; U+10FFFF sorts after any character that can follow the prefix.
            residual.append("e.action >= ? AND e.action < ?"); residualArgs.append(prefix); residualArgs.append(prefix + "\u{10FFFF}")
        case nil:
            break
        }
        if let targetType = filter.targetType {
            residual.append("EXISTS (SELECT 1 FROM event_targets tt WHERE tt.seq = e.seq AND tt.type = ?)")
            residualArgs.append(targetType)
        }
        if let since = filter.since {
            residual.append("e.occurred_at >= ?"); residualArgs.append(since.microseconds)
        }
        if let until = filter.until {
            residual.append("e.occurred_at < ?"); residualArgs.append(until.microseconds)
        }
        if let text = filter.text, !text.isEmpty {
            let needle = text.lowercased()
            residual.append("(instr(lower(e.action), ?) > 0 OR instr(lower(CAST(e.raw AS TEXT)), ?) > 0)")
            residualArgs.append(needle); residualArgs.append(needle)
        }

        if let target = filter.target, filter.actor != nil {
            // The actor branches drive; the target is checked per candidate row.
            residual.append("EXISTS (SELECT 1 FROM event_targets t2 WHERE t2.seq = e.seq AND (t2.id = ? OR t2.name = ?))")
            residualArgs.append(target); residualArgs.append(target)
        }

        func conditions(_ extra: [String], cursorColumns: String) -> (String, [(any DatabaseValueConvertible)?]) {
            var all = extra + residual
            var args = residualArgs
            if let cursor {
                all.append("(\(cursorColumns)) < (?, ?)")
                args.append(cursor.occurredAt.microseconds); args.append(cursor.seq)
            }
            return (all.isEmpty ? "1" : all.joined(separator: " AND "), args)
        }

        let order = "ORDER BY e.occurred_at DESC, e.seq DESC"
        var branches: [(String, [(any DatabaseValueConvertible)?])] = []
        if let actor = filter.actor {
            for column in ["actor_id", "actor_name"] {
                let (whereClause, args) = conditions(["e.\(column) = ?"], cursorColumns: "e.occurred_at, e.seq")
                branches.append(("SELECT e.seq FROM events e WHERE \(whereClause) \(order) LIMIT ?", [actor] + args + [limit]))
            }
        } else if let target = filter.target {
            for column in ["id", "name"] {
                let (whereClause, args) = conditions(["t.\(column) = ?"], cursorColumns: "t.occurred_at, t.seq")
                let branch = """
                    SELECT DISTINCT t.seq, t.occurred_at FROM event_targets t JOIN events e ON e.seq = t.seq \
                    WHERE \(whereClause) ORDER BY t.occurred_at DESC, t.seq DESC LIMIT ?
                    """
                branches.append((branch, [target] + args + [limit]))
            }
        }
        if branches.isEmpty {
            let (whereClause, args) = conditions([], cursorColumns: "e.occurred_at, e.seq")
            sql = "SELECT \(Self.columns) FROM events e WHERE \(whereClause) \(order) LIMIT ?"
            values = (args + [limit]).map { $0?.databaseValue ?? .null }
        } else {
            let union = branches.map { "SELECT seq FROM (\($0.0))" }.joined(separator: " UNION ALL ")
            sql = "SELECT \(Self.columns) FROM events e WHERE e.seq IN (\(union)) \(order) LIMIT ?"
            values = (branches.flatMap(\.1) + [limit]).map { $0?.databaseValue ?? .null }
        }
    }
}
