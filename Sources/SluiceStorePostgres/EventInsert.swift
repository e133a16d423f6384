import NIOCore
import PostgresNIO

/// The one statement that stores events: prepared once per connection, since its text never
/// changes (PostgreSQL then neither parses nor plans it again for each commit).
///
/// The columns go as arrays (``PostgresEventRow/Columns``) that `unnest` turns back into rows, in
/// the order given; each row's terms are gathered back by the row's position. A row's seq derives
/// from its transaction's id and its index (``SeqOrigin``), both computed by the server. When
/// `notification` is set and anything was stored, the statement also notifies other instances,
/// which then return one extra row of two NULLs.
struct EventInsert: PostgresPreparedStatement {
    static let name = "sluice_event_insert"
    static let sql = """
        WITH row_terms AS (
            SELECT t.pos, array_agg(t.term ORDER BY t.n) AS terms FROM unnest($11::int[], $12::text[]) WITH ORDINALITY AS t(pos, term, n) GROUP BY t.pos
        ), stored AS (
            INSERT INTO events (seq, source, dedupe_key, log_type, occurred_at, received_at, action, origin, escaped, terms, dict, payload, raw_length)
            SELECT \(SeqOrigin.seqExpression(seq: "$19::bigint", transaction: "$20::bigint", index: "u.i")), u.source, u.dedupe_key, u.log_type,
                u.occurred_at, u.received_at, u.action, CASE WHEN u.has_origin THEN u.origin END, u.escaped, COALESCE(row_terms.terms, '{}'),
                NULLIF(u.dict, -1), u.payload, u.raw_length
            FROM unnest($1::bigint[], $2::text[], $3::bytea[], $4::text[], $5::bigint[], $6::bigint[], $7::text[], $8::text[], $9::bool[], $10::bool[],
                $13::bigint[], $14::bytea[], $15::int[]) WITH ORDINALITY
                AS u(i, source, dedupe_key, log_type, occurred_at, received_at, action, origin, has_origin, escaped, dict, payload, raw_length, pos)
            LEFT JOIN row_terms ON row_terms.pos = u.pos
            ORDER BY u.pos
            ON CONFLICT (source, dedupe_key) DO NOTHING RETURNING source, dedupe_key
        )
        SELECT source, dedupe_key FROM stored
        UNION ALL SELECT NULL, NULL FROM (SELECT pg_notify($16, $17)) AS notified WHERE $18::bool AND EXISTS (SELECT 1 FROM stored)
        """

    typealias Row = PostgresEventRow.Identity?

    var columns: PostgresEventRow.Columns
    var notification: (channel: String, payload: String)?
    var origin: SeqOrigin

    func makeBindings() throws -> PostgresBindings {
        var binds = PostgresBindings(capacity: 20)
        columns.bind(into: &binds)
        binds.append(notification?.channel ?? "")
        binds.append(notification?.payload ?? "")
        binds.append(notification != nil)
        binds.append(origin.seq)
        binds.append(origin.transaction)
        return binds
    }

    /// The identity of a stored row; nil for the notification's row.
    func decodeRow(_ row: PostgresRow) throws -> Row {
        let (source, key) = try row.decode((String?, ByteBuffer?).self)
        guard let source, let key else { return nil }
        return PostgresEventRow.Identity(source: source, key: key)
    }
}
