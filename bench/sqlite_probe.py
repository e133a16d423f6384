"""A fresh SQLite file for the store probes in this folder, set up as Sluice's writer is."""
import os
import sqlite3


def fresh_database(path, synchronous="FULL"):
    """Removes `path` and its WAL files, then opens it in WAL mode at `synchronous`."""
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(path + suffix):
            os.unlink(path + suffix)
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute(f"PRAGMA synchronous={synchronous}")
    return db
