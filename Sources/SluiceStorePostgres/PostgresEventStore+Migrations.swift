import Logging
import PostgresNIO
import SluiceStoreKit

extension PostgresEventStore {
    /// Named, append-only migrations: never edit one that has shipped; add a new one. Each runs
    /// in its own transaction under an advisory lock, so instances starting together apply it once.
    static let migrations: [(name: String, sql: [String])] = [
        ("2026-11-22-postgres-initial", [
            // seq came from a sequence, taken only under an append lock, until
            // 2026-12-08-seq-from-transaction-id. The filter terms of SQLite's event_terms table live in one
            // array column with a GIN index. `escaped` marks a row whose text columns had NUL
            // characters, which PostgreSQL text cannot hold (see PostgresText).
            "CREATE SEQUENCE events_seq",
            """
            CREATE TABLE events (
                seq BIGINT PRIMARY KEY,
                id TEXT NOT NULL,
                source TEXT NOT NULL,
                dedupe_key BYTEA NOT NULL,
                log_type TEXT NOT NULL,
                occurred_at BIGINT NOT NULL,
                received_at BIGINT NOT NULL,
                action TEXT NOT NULL,
                actor_type TEXT,
                actor_id TEXT,
                actor_name TEXT,
                actor_metadata TEXT,
                targets TEXT NOT NULL,
                location TEXT,
                user_agent TEXT,
                schema_version INTEGER,
                raw BYTEA NOT NULL,
                origin TEXT,
                escaped BOOLEAN NOT NULL DEFAULT false,
                terms TEXT[] NOT NULL
            )
            """,
            "CREATE UNIQUE INDEX events_dedupe ON events (source, dedupe_key)",
            "CREATE UNIQUE INDEX events_id ON events (id)",
            "CREATE INDEX events_occurred ON events (occurred_at, seq)",
            "CREATE INDEX events_terms ON events USING gin (terms)",
            "CREATE TABLE consumer_cursors (consumer TEXT PRIMARY KEY, seq BIGINT NOT NULL, updated_at BIGINT NOT NULL)",
            """
            CREATE TABLE collector_streams (
                stream TEXT PRIMARY KEY, value TEXT NOT NULL, version BIGINT NOT NULL, updated_at BIGINT NOT NULL, last_run TEXT
            )
            """,
            "CREATE TABLE collector_entities (stream TEXT NOT NULL, entity TEXT NOT NULL, digest BYTEA NOT NULL, PRIMARY KEY (stream, entity))",
            """
            CREATE TABLE dead_letters (
                destination TEXT NOT NULL, seq BIGINT NOT NULL, reason TEXT NOT NULL, created_at BIGINT NOT NULL,
                attempts INTEGER NOT NULL, redrive BOOLEAN NOT NULL DEFAULT false, PRIMARY KEY (destination, seq)
            )
            """,
            """
            CREATE TABLE replays (
                id BIGSERIAL PRIMARY KEY, destination TEXT NOT NULL, since BIGINT NOT NULL, until BIGINT NOT NULL,
                position_occurred BIGINT, position_seq BIGINT, sent BIGINT NOT NULL DEFAULT 0,
                created_at BIGINT NOT NULL, finished_at BIGINT
            )
            """,
            "CREATE TABLE destination_holds (destination TEXT PRIMARY KEY, reason TEXT NOT NULL, held_by TEXT NOT NULL, held_at BIGINT NOT NULL)",
            """
            CREATE TABLE workflow_runs (
                id BIGSERIAL PRIMARY KEY, workflow TEXT NOT NULL, alert_key TEXT NOT NULL, event_seq BIGINT NOT NULL,
                status TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, next_attempt_at BIGINT, step TEXT, detail TEXT,
                duplicates INTEGER NOT NULL DEFAULT 0, created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL,
                UNIQUE (workflow, alert_key)
            )
            """,
            "CREATE INDEX workflow_runs_due ON workflow_runs (workflow, status, next_attempt_at)",
            """
            CREATE TABLE workflow_steps (
                run_id BIGINT NOT NULL REFERENCES workflow_runs (id) ON DELETE CASCADE, step_key TEXT NOT NULL,
                kind TEXT NOT NULL, status TEXT NOT NULL, input TEXT NOT NULL, output TEXT NOT NULL, error TEXT,
                attempts INTEGER NOT NULL, started_at BIGINT NOT NULL, finished_at BIGINT NOT NULL,
                PRIMARY KEY (run_id, step_key)
            )
            """,
            """
            CREATE TABLE workflow_incidents (
                id BIGSERIAL PRIMARY KEY, workflow TEXT NOT NULL, alert_key TEXT NOT NULL, external_id TEXT NOT NULL,
                remote_id TEXT NOT NULL, title TEXT, run_id BIGINT NOT NULL, event_seq BIGINT NOT NULL,
                created BOOLEAN NOT NULL, recorded_at BIGINT NOT NULL, UNIQUE (workflow, external_id)
            )
            """,
            """
            CREATE TABLE credential_secrets (
                id BIGSERIAL PRIMARY KEY, kind TEXT NOT NULL, name TEXT NOT NULL, digest TEXT NOT NULL, role TEXT,
                created_at BIGINT NOT NULL, created_by TEXT NOT NULL, expires_at BIGINT, revoked_at BIGINT, revoked_by TEXT
            )
            """,
            "CREATE INDEX credential_secrets_by_name ON credential_secrets (kind, name)",
        ]),
        ("2026-11-22-leases", [
            // Rows are never deleted: a released lease keeps its token, so tokens only grow.
            "CREATE TABLE leases (name TEXT PRIMARY KEY, holder TEXT NOT NULL, token BIGINT NOT NULL, expires_at BIGINT NOT NULL)",
        ]),
        ("2026-11-22-workflow-retention", [
            // Retention finds finished runs by their last change, and their incidents by run.
            "CREATE INDEX workflow_runs_updated ON workflow_runs (updated_at)",
            "CREATE INDEX workflow_incidents_run ON workflow_incidents (run_id)",
        ]),
        ("2026-12-04-timed-dedupe-keys", [
            // Keys stored from now on lead with the event's own time (StoredDedupeKey); events
            // stored before keep the old form, and are looked up in it until retention removes them.
            "CREATE TABLE store_state (name TEXT PRIMARY KEY, value BIGINT NOT NULL)",
            "INSERT INTO store_state (name, value) SELECT '\(StoredDedupeKey.untimedThroughState)', COALESCE(MAX(seq), 0) FROM events",
        ]),
        ("2026-12-06-lean-events", [
            // New rows hold the event as a compressed record (payload, with its dictionary in
            // dict), as the SQLite store does (docs/storage.md, "Rows"); their id derives from
            // (occurred_at, seq), and the earlier columns stay NULL. Rows stored before keep their
            // id and move into a payload in the background. Payloads are compressed already:
            // EXTERNAL keeps PostgreSQL from trying again.
            "ALTER TABLE events ADD COLUMN dict BIGINT, ADD COLUMN payload BYTEA, ADD COLUMN raw_length INTEGER",
            "ALTER TABLE events ALTER COLUMN payload SET STORAGE EXTERNAL",
            "ALTER TABLE events ALTER COLUMN id DROP NOT NULL, ALTER COLUMN targets DROP NOT NULL, ALTER COLUMN raw DROP NOT NULL",
            "DROP INDEX events_id",
            "CREATE UNIQUE INDEX events_id ON events (id) WHERE id IS NOT NULL",
            """
            CREATE TABLE dictionaries (
                id BIGSERIAL PRIMARY KEY, source TEXT NOT NULL, log_type TEXT NOT NULL, level INTEGER NOT NULL, samples INTEGER NOT NULL,
                ratio DOUBLE PRECISION NOT NULL, created_at BIGINT NOT NULL, bytes BYTEA NOT NULL
            )
            """,
        ]),
        ("2026-12-07-source-arrivals", [
            // When each source's events last arrived (SilenceWatch), and how many arrived each
            // hour (the sparklines), kept in each commit.
            "CREATE TABLE source_arrivals (source TEXT PRIMARY KEY, received_at BIGINT NOT NULL)",
            "INSERT INTO source_arrivals (source, received_at) SELECT source, MAX(received_at) FROM events GROUP BY source",
            "CREATE TABLE source_hours (source TEXT NOT NULL, hour BIGINT NOT NULL, events BIGINT NOT NULL, PRIMARY KEY (source, hour))",
        ]),
        ("2026-12-08-seq-from-transaction-id", [
            // seq now derives from the inserting transaction's id (SeqOrigin), so no lock orders
            // commits. The origin is this migration's transaction, and the first new seq lies above
            // every seq the sequence gave. Dropping the sequence makes an instance of an earlier
            // version fail its appends instead of interleaving seqs the old way.
            "INSERT INTO store_state (name, value) VALUES ('\(SeqOrigin.transactionState)', pg_current_xact_id()::text::bigint)",
            "INSERT INTO store_state (name, value) SELECT '\(SeqOrigin.seqState)', last_value + 1 FROM events_seq",
            "DROP SEQUENCE events_seq",
        ]),
        ("2026-12-09-insert-events-procedure", [
            // The one insert of events (EventInsert calls it). With `do_commit` it commits inside the
            // CALL, before the server answers: a group commit of pushes is then one round trip
            // instead of three (BEGIN, the insert, COMMIT), and answered only once durable.
            EventInsert.procedure,
        ]),
    ]

    /// Applies the migrations this database has not seen, each once, whatever other instances do
    /// meanwhile; only those up to and including `last` when it is given (tests build a schema as
    /// an earlier release left it).
    static func migrate(_ database: PostgresDatabase, schema: String, through last: String? = nil) async throws {
        let logger = database.logger
        // The lock is keyed by the configured name: current_schema() is null until the schema exists.
        let lock: PostgresQuery = "SELECT pg_advisory_xact_lock(1397511491, hashtext(\(schema) || '.migrations'))"
        // Without a deadline: a migration on a large table may take minutes.
        try await database.transaction(timeout: .seconds(86_400)) { connection in
            try await connection.query(lock, logger: logger)
            try await connection.query("CREATE SCHEMA IF NOT EXISTS \(unescaped: schema)", logger: logger)
            try await connection.query(
                "CREATE TABLE IF NOT EXISTS \(unescaped: schema).schema_migrations (name TEXT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
                logger: logger
            )
        }
        let count = last.flatMap { name in migrations.firstIndex { $0.name == name }.map { $0 + 1 } } ?? migrations.count
        for migration in migrations.prefix(count) {
            try await database.transaction(timeout: .seconds(86_400)) { connection in
                try await connection.query(lock, logger: logger)
                let done = try await connection.query(
                    "SELECT 1 FROM \(unescaped: schema).schema_migrations WHERE name = \(migration.name)", logger: logger
                ).collect()
                guard done.isEmpty else { return }
                for statement in migration.sql {
                    try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                }
                try await connection.query("INSERT INTO \(unescaped: schema).schema_migrations (name) VALUES (\(migration.name))", logger: logger)
                logger.info("applied PostgreSQL migration", metadata: ["migration": "\(migration.name)", "schema": "\(schema)"])
            }
        }
    }
}
