import GRDB

extension SQLiteEventStore {
    /// Named, append-only migrations: never edit one that has shipped; add a new one.
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("2026-11-21-events") { db in
            // seq is AUTOINCREMENT so a purged tail never lets a seq be reused under a consumer's cursor.
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
                CREATE INDEX events_source ON events(source, occurred_at, seq);
                CREATE INDEX events_log_type ON events(log_type, occurred_at, seq);
                CREATE INDEX events_action ON events(action, occurred_at, seq);
                CREATE INDEX events_actor_id ON events(actor_id, occurred_at, seq);
                CREATE INDEX events_actor_name ON events(actor_name, occurred_at, seq);
                CREATE INDEX events_actor_type ON events(actor_type, occurred_at, seq);
                CREATE TABLE event_targets (
                    seq INTEGER NOT NULL,
                    ord INTEGER NOT NULL,
                    occurred_at INTEGER NOT NULL,
                    type TEXT NOT NULL,
                    id TEXT NOT NULL,
                    name TEXT,
                    PRIMARY KEY (seq, ord)
                ) WITHOUT ROWID;
                CREATE INDEX event_targets_id ON event_targets(id, occurred_at, seq);
                CREATE INDEX event_targets_name ON event_targets(name, occurred_at, seq);
                CREATE INDEX event_targets_type ON event_targets(type, occurred_at, seq);
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
        return migrator
    }
}
