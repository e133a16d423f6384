import GRDB
import SluiceCore
import SluiceStoreKit

extension SQLiteEventStore {
    /// Named, append-only migrations: never edit one that has shipped; add a new one.
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("2026-11-21-events") { db in
            // seq is AUTOINCREMENT so a purged tail never lets a seq be reused under a consumer's
            // cursor. Only the indexes the commit itself needs live on this table: dedupe, id and
            // time (which appends for live events). Filter indexes live in event_terms.
            try db.execute(sql: """
                CREATE TABLE events (
                    seq INTEGER PRIMARY KEY AUTOINCREMENT,
                    id TEXT NOT NULL,
                    source TEXT NOT NULL,
                    dedupe_key BLOB NOT NULL,
                    log_type TEXT NOT NULL,
                    occurred_at INTEGER NOT NULL,
                    received_at INTEGER NOT NULL,
                    action TEXT NOT NULL,
                    actor_type TEXT,
                    actor_id TEXT,
                    actor_name TEXT,
                    actor_metadata TEXT,
                    targets TEXT NOT NULL,
                    location TEXT,
                    user_agent TEXT,
                    schema_version INTEGER,
                    raw BLOB NOT NULL
                );
                CREATE UNIQUE INDEX events_dedupe ON events(source, dedupe_key);
                CREATE UNIQUE INDEX events_id ON events(id);
                CREATE INDEX events_occurred ON events(occurred_at, seq);
                CREATE TABLE event_terms (
                    term TEXT NOT NULL,
                    occurred_at INTEGER NOT NULL,
                    seq INTEGER NOT NULL,
                    PRIMARY KEY (term, occurred_at, seq)
                ) WITHOUT ROWID;
                CREATE TABLE store_state (
                    name TEXT PRIMARY KEY,
                    value INTEGER NOT NULL
                );
                INSERT INTO store_state (name, value) VALUES ('terms_indexed_through', 0);
                """)
        }
        migrator.registerMigration("2026-11-21-consumer-cursors") { db in
            try db.execute(sql: """
                CREATE TABLE consumer_cursors (
                    consumer TEXT PRIMARY KEY,
                    seq INTEGER NOT NULL,
                    updated_at INTEGER NOT NULL
                );
                """)
        }
        migrator.registerMigration("2026-11-21-credentials") { db in
            try db.execute(sql: """
                CREATE TABLE credentials (
                    kind TEXT NOT NULL,
                    name TEXT NOT NULL,
                    digest TEXT NOT NULL,
                    role TEXT,
                    created_at INTEGER NOT NULL,
                    PRIMARY KEY (kind, name)
                );
                """)
        }
        migrator.registerMigration("2026-11-21-collector-streams") { db in
            // value is the collector's own JSON; version makes every move a compare-and-set.
            try db.execute(sql: """
                CREATE TABLE collector_streams (
                    stream TEXT PRIMARY KEY,
                    value TEXT NOT NULL,
                    version INTEGER NOT NULL,
                    updated_at INTEGER NOT NULL,
                    last_run TEXT
                );
                CREATE TABLE collector_entities (
                    stream TEXT NOT NULL,
                    entity TEXT NOT NULL,
                    digest BLOB NOT NULL,
                    PRIMARY KEY (stream, entity)
                ) WITHOUT ROWID;
                """)
        }
        migrator.registerMigration("2026-11-21-event-origin") { db in
            try db.execute(sql: "ALTER TABLE events ADD COLUMN origin TEXT")
        }
        migrator.registerMigration("2026-11-22-delivery") { db in
            // Dead letters hold only the seq: the event itself stays in events (and goes with
            // retention like any other). Replays keep their position so they resume after a restart.
            try db.execute(sql: """
                CREATE TABLE dead_letters (
                    destination TEXT NOT NULL,
                    seq INTEGER NOT NULL,
                    reason TEXT NOT NULL,
                    created_at INTEGER NOT NULL,
                    attempts INTEGER NOT NULL,
                    redrive INTEGER NOT NULL DEFAULT 0,
                    PRIMARY KEY (destination, seq)
                ) WITHOUT ROWID;
                CREATE TABLE replays (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    destination TEXT NOT NULL,
                    since INTEGER NOT NULL,
                    until INTEGER NOT NULL,
                    position_occurred INTEGER,
                    position_seq INTEGER,
                    sent INTEGER NOT NULL DEFAULT 0,
                    created_at INTEGER NOT NULL,
                    finished_at INTEGER
                );
                """)
        }
        migrator.registerMigration("2026-11-22-destination-holds") { db in
            // An operator's pause of a destination, kept across restarts and shared by every
            // process on the store (serve, the CLI).
            try db.execute(sql: """
                CREATE TABLE destination_holds (
                    destination TEXT PRIMARY KEY,
                    reason TEXT NOT NULL,
                    held_by TEXT NOT NULL,
                    held_at INTEGER NOT NULL
                ) WITHOUT ROWID
                """)
        }
        migrator.registerMigration("2026-11-22-workflows") { db in
            // One run per (workflow, alert key): the same alert never runs twice. Step entries are
            // keyed by the step's path so a resumed run skips what is done; an incident's
            // external id is unique per workflow.
            try db.execute(sql: """
                CREATE TABLE workflow_runs (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    workflow TEXT NOT NULL,
                    alert_key TEXT NOT NULL,
                    event_seq INTEGER NOT NULL,
                    status TEXT NOT NULL,
                    attempts INTEGER NOT NULL DEFAULT 0,
                    next_attempt_at INTEGER,
                    step TEXT,
                    detail TEXT,
                    duplicates INTEGER NOT NULL DEFAULT 0,
                    created_at INTEGER NOT NULL,
                    updated_at INTEGER NOT NULL,
                    UNIQUE (workflow, alert_key)
                );
                CREATE INDEX workflow_runs_due ON workflow_runs (workflow, status, next_attempt_at);
                CREATE TABLE workflow_steps (
                    run_id INTEGER NOT NULL REFERENCES workflow_runs (id) ON DELETE CASCADE,
                    step_key TEXT NOT NULL,
                    kind TEXT NOT NULL,
                    status TEXT NOT NULL,
                    input TEXT NOT NULL,
                    output TEXT NOT NULL,
                    error TEXT,
                    attempts INTEGER NOT NULL,
                    started_at INTEGER NOT NULL,
                    finished_at INTEGER NOT NULL,
                    PRIMARY KEY (run_id, step_key)
                ) WITHOUT ROWID;
                CREATE TABLE workflow_incidents (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    workflow TEXT NOT NULL,
                    alert_key TEXT NOT NULL,
                    external_id TEXT NOT NULL,
                    remote_id TEXT NOT NULL,
                    title TEXT,
                    run_id INTEGER NOT NULL,
                    event_seq INTEGER NOT NULL,
                    created INTEGER NOT NULL,
                    recorded_at INTEGER NOT NULL,
                    UNIQUE (workflow, external_id)
                );
                """)
        }
        migrator.registerMigration("2026-11-23-credential-rotation") { db in
            // Several secrets per name (rotation with a grace period) and a history that is never
            // deleted: rotated-out secrets get expires_at, revoked ones revoked_at.
            try db.execute(sql: """
                CREATE TABLE credential_secrets (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    kind TEXT NOT NULL,
                    name TEXT NOT NULL,
                    digest TEXT NOT NULL,
                    role TEXT,
                    created_at INTEGER NOT NULL,
                    created_by TEXT NOT NULL,
                    expires_at INTEGER,
                    revoked_at INTEGER,
                    revoked_by TEXT
                );
                CREATE INDEX credential_secrets_by_name ON credential_secrets (kind, name);
                INSERT INTO credential_secrets (kind, name, digest, role, created_at, created_by)
                    SELECT kind, name, digest, role, created_at, 'sluice' FROM credentials;
                DROP TABLE credentials;
                """)
        }
        migrator.registerMigration("2026-11-22-workflow-retention") { db in
            // Retention finds finished runs by their last change, and their incidents by run.
            try db.execute(sql: """
                CREATE INDEX workflow_runs_updated ON workflow_runs (updated_at);
                CREATE INDEX workflow_incidents_run ON workflow_incidents (run_id);
                """)
        }
        migrator.registerMigration("2026-12-04-timed-dedupe-keys") { db in
            // Keys stored from now on lead with the event's own time (StoredDedupeKey); events
            // stored before keep the old form, and are looked up in it until retention removes them.
            try db.execute(
                sql: "INSERT INTO store_state (name, value) SELECT ?, COALESCE(MAX(seq), 0) FROM events",
                arguments: [StoredDedupeKey.untimedThroughState]
            )
        }
        migrator.registerMigration("2026-12-05-posting-blocks") { db in
            // The filter index becomes one row per term and indexing pass (PostingBlock) instead
            // of one per term and event. The old rows are not converted: the watermark goes back
            // to 0 and the store rebuilds the index in the background after opening; until it
            // catches up, queries read the unindexed events by scanning them.
            // Keyed by term and last posting, without a rowid: one B-tree insert per block, which
            // matters for terms unique to one event, whose blocks hold a single posting.
            try db.execute(sql: """
                CREATE TABLE event_postings (
                    term TEXT NOT NULL,
                    last_occurred_at INTEGER NOT NULL,
                    last_seq INTEGER NOT NULL,
                    first_occurred_at INTEGER NOT NULL,
                    first_seq INTEGER NOT NULL,
                    count INTEGER NOT NULL,
                    postings BLOB NOT NULL,
                    PRIMARY KEY (term, last_occurred_at, last_seq)
                ) WITHOUT ROWID;
                DROP TABLE event_terms;
                UPDATE store_state SET value = 0 WHERE name = 'terms_indexed_through';
                """)
        }
        migrator.registerMigration("2026-12-06-lean-events") { db in
            // The lean layout (docs/storage.md, "Rows"): an event is its indexed columns (names
            // as small label ids) and one payload, its record compressed with zstd and, once its
            // stream has one, a dictionary trained on the stream's own events. Ids are derived
            // from (occurred_at, seq), so none is stored or indexed.
            //
            // Events stored before stay in events_v1, readable as they are, and are moved into
            // the new table in the background in small batches (keeping their seq and their id,
            // through legacy_ids); once it is empty, events_v1 is dropped. A store with no events
            // drops it at once.
            try db.execute(sql: """
                ALTER TABLE events RENAME TO events_v1;
                CREATE TABLE labels (
                    id INTEGER PRIMARY KEY,
                    kind INTEGER NOT NULL,
                    value BLOB NOT NULL,
                    UNIQUE (kind, value)
                );
                CREATE TABLE events (
                    seq INTEGER PRIMARY KEY AUTOINCREMENT,
                    source INTEGER NOT NULL,
                    log_type INTEGER NOT NULL,
                    action INTEGER NOT NULL,
                    occurred_at INTEGER NOT NULL,
                    dedupe_key BLOB NOT NULL,
                    origin INTEGER,
                    dict INTEGER,
                    payload BLOB NOT NULL
                );
                CREATE UNIQUE INDEX events_by_key ON events (source, dedupe_key);
                CREATE INDEX events_by_time ON events (occurred_at, seq);
                CREATE TABLE dictionaries (
                    id INTEGER PRIMARY KEY,
                    source TEXT NOT NULL,
                    log_type TEXT NOT NULL,
                    level INTEGER NOT NULL,
                    samples INTEGER NOT NULL,
                    ratio REAL NOT NULL,
                    created_at INTEGER NOT NULL,
                    bytes BLOB NOT NULL
                );
                CREATE TABLE legacy_ids (
                    id BLOB PRIMARY KEY,
                    seq INTEGER NOT NULL
                ) WITHOUT ROWID;
                CREATE TABLE storage_stats (
                    source INTEGER NOT NULL,
                    log_type INTEGER NOT NULL,
                    dict INTEGER NOT NULL,
                    rows INTEGER NOT NULL,
                    raw_bytes INTEGER NOT NULL,
                    stored_bytes INTEGER NOT NULL,
                    PRIMARY KEY (source, log_type, dict)
                ) WITHOUT ROWID;
                INSERT INTO sqlite_sequence (name, seq)
                    SELECT 'events', seq FROM sqlite_sequence WHERE name = 'events_v1';
                """)
            if try Int.fetchOne(db, sql: "SELECT 1 FROM events_v1 LIMIT 1") == nil {
                try db.execute(sql: "DROP TABLE events_v1")
            }
        }
        migrator.registerMigration("2026-12-07-source-arrivals") { db in
            // When each source's events last arrived (SilenceWatch), and how many arrived each
            // hour (the sparklines), kept in each commit. Rows stored before have no time of
            // arrival in a column: their own newest time stands in, never later than now; their
            // hours start empty.
            try db.execute(sql: """
                CREATE TABLE source_arrivals (source INTEGER PRIMARY KEY, received_at INTEGER NOT NULL);
                INSERT INTO source_arrivals (source, received_at)
                    SELECT source, min(max(occurred_at), CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER)) FROM events GROUP BY source;
                CREATE TABLE source_hours (source INTEGER NOT NULL, hour INTEGER NOT NULL, events INTEGER NOT NULL, PRIMARY KEY (source, hour)) WITHOUT ROWID;
                """)
        }
        migrator.registerMigration("2026-12-08-event-rollups") { db in
            // What histograms and facets count without reading events, kept by the indexing pass
            // in the transaction that moves its watermark: events per minute and hour of occurred_at, and
            // events per term (field and value). Rows indexed before start from the postings:
            // minutes from the rows through the watermark, terms from their blocks' counts (a
            // block may still name an event retention removed before purges rewrote blocks;
            // `sluice storage check` does not rely on these totals).
            try db.execute(sql: """
                CREATE TABLE event_minutes (minute INTEGER PRIMARY KEY, events INTEGER NOT NULL);
                INSERT INTO event_minutes (minute, events)
                    SELECT occurred_at / 60000000 - (occurred_at % 60000000 < 0), count(*) FROM events
                    WHERE seq <= (SELECT value FROM store_state WHERE name = 'terms_indexed_through') GROUP BY 1;
                CREATE TABLE event_hours (hour INTEGER PRIMARY KEY, events INTEGER NOT NULL);
                INSERT INTO event_hours (hour, events)
                    SELECT minute / 60 - (minute % 60 < 0), sum(events) FROM event_minutes GROUP BY 1;
                CREATE TABLE index_terms (term TEXT PRIMARY KEY, field INTEGER NOT NULL, events INTEGER NOT NULL) WITHOUT ROWID;
                CREATE INDEX index_terms_by_count ON index_terms (field, events DESC, term);
                """)
            for field in FacetField.allCases {
                let prefix = EventTerms.term(field.termField, "")
                try db.execute(
                    sql: "INSERT INTO index_terms (term, field, events) SELECT term, ?, sum(count) FROM event_postings WHERE term >= ? AND term < ? GROUP BY term",
                    arguments: [field.code, prefix, SQLiteEventQuery.prefixEnd(prefix)]
                )
            }
        }
        return migrator
    }
}
