import NIOCore
import PostgresNIO

/// The one statement that stores events: a CALL of the schema's `insert_events` procedure,
/// prepared once per connection, since its text never changes.
///
/// The columns go as arrays (``PostgresEventRow/Columns``) that `unnest` turns back into rows, in
/// the order given; each row's terms are gathered back by the row's position. A row's seq derives
/// from its transaction's id and its index (``SeqOrigin``), both computed by the server. When
/// `notification` is set and anything was stored, the procedure also notifies other instances.
/// It answers with the identities of the rows stored (duplicates of stored events are skipped).
///
/// With `commit`, the procedure commits before it returns, so the statement must run outside a
/// transaction and its answer means the rows are durable: one round trip for a whole group
/// commit. Without, it runs inside the caller's transaction.
struct EventInsert: PostgresPreparedStatement {
    static let name = "sluice_insert_events"
    static let sql = """
        CALL insert_events($1::bigint[], $2::text[], $3::bytea[], $4::text[], $5::bigint[], $6::bigint[], $7::text[], $8::text[], $9::bool[],
            $10::bool[], $11::int[], $12::text[], $13::bigint[], $14::bytea[], $15::int[], $16::text, $17::text, $18::bool, $19::bigint,
            $20::bigint, $21::bool, NULL, NULL)
        """

    /// The procedure, created by the migration `2026-12-09-insert-events-procedure`. Its names
    /// are unqualified: each connection's search_path is the store's schema. A schema that has
    /// run that migration never runs it again, so a change here reaches existing databases only
    /// through a new migration that replaces the procedure (`CREATE OR REPLACE PROCEDURE`).
    static let procedure = """
        CREATE PROCEDURE insert_events(
            p_index bigint[], p_source text[], p_dedupe_key bytea[], p_log_type text[], p_occurred_at bigint[], p_received_at bigint[],
            p_action text[], p_origin text[], p_has_origin bool[], p_escaped bool[], p_term_row int[], p_term text[], p_dict bigint[],
            p_payload bytea[], p_raw_length int[], p_channel text, p_message text, p_notify bool, p_origin_seq bigint,
            p_origin_transaction bigint, do_commit bool, INOUT stored_sources text[] DEFAULT NULL, INOUT stored_keys bytea[] DEFAULT NULL
        )
        LANGUAGE plpgsql AS $procedure$
        BEGIN
            WITH row_terms AS (
                SELECT t.pos, array_agg(t.term ORDER BY t.n) AS terms
                FROM unnest(p_term_row, p_term) WITH ORDINALITY AS t(pos, term, n) GROUP BY t.pos
            ), stored AS (
                INSERT INTO events (seq, source, dedupe_key, log_type, occurred_at, received_at, action, origin, escaped, terms, dict, payload, raw_length)
                SELECT \(SeqOrigin.seqExpression(seq: "p_origin_seq", transaction: "p_origin_transaction", index: "u.i")), u.source, u.dedupe_key,
                    u.log_type, u.occurred_at, u.received_at, u.action, CASE WHEN u.has_origin THEN u.origin END, u.escaped,
                    COALESCE(row_terms.terms, '{}'), NULLIF(u.dict, -1), u.payload, u.raw_length
                FROM unnest(p_index, p_source, p_dedupe_key, p_log_type, p_occurred_at, p_received_at, p_action, p_origin, p_has_origin,
                    p_escaped, p_dict, p_payload, p_raw_length) WITH ORDINALITY
                    AS u(i, source, dedupe_key, log_type, occurred_at, received_at, action, origin, has_origin, escaped, dict, payload, raw_length, pos)
                LEFT JOIN row_terms ON row_terms.pos = u.pos
                ORDER BY u.pos
                ON CONFLICT (source, dedupe_key) DO NOTHING RETURNING events.source, events.dedupe_key
            )
            SELECT array_agg(stored.source), array_agg(stored.dedupe_key) INTO stored_sources, stored_keys FROM stored;
            IF p_notify AND stored_sources IS NOT NULL THEN
                PERFORM pg_notify(p_channel, p_message);
            END IF;
            IF do_commit THEN
                COMMIT;
            END IF;
        END
        $procedure$
        """

    typealias Row = [PostgresEventRow.Identity]

    var columns: PostgresEventRow.Columns
    var notification: (channel: String, payload: String)?
    var origin: SeqOrigin
    var commit: Bool

    func makeBindings() throws -> PostgresBindings {
        var binds = PostgresBindings(capacity: 21)
        columns.bind(into: &binds)
        binds.append(notification?.channel ?? "")
        binds.append(notification?.payload ?? "")
        binds.append(notification != nil)
        binds.append(origin.seq)
        binds.append(origin.transaction)
        binds.append(commit)
        return binds
    }

    /// The identities of the rows stored (the procedure's one row of two parallel arrays, NULL
    /// when nothing was stored).
    func decodeRow(_ row: PostgresRow) throws -> Row {
        let (sources, keys) = try row.decode(([String]?, [ByteBuffer]?).self)
        guard let sources, let keys, sources.count == keys.count else { return [] }
        return zip(sources, keys).map { PostgresEventRow.Identity(source: $0, key: $1) }
    }
}
