#!/usr/bin/env python3
"""What the layout of `event_postings` costs for terms unique to one event (a file hash, an
alert id), whose blocks each hold a single posting: the same 200,000 blocks, sorted per
transaction of 20,000 as an indexing pass sorts them, into (a) a rowid table with a unique
index on (term, last posting) and an index on the last posting's time, and (b) a table
WITHOUT ROWID keyed by (term, last posting). WAL, synchronous=FULL, Python's sqlite3.

    python3 bench/posting_layout.py [DIR=/tmp/bench-postings]
"""
import hashlib
import os
import sys
import time

from sqlite_probe import fresh_database

DIR = sys.argv[1] if len(sys.argv) > 1 else "/tmp/bench-postings"
COLUMNS = """term TEXT NOT NULL, last_occurred_at INTEGER NOT NULL, last_seq INTEGER NOT NULL,
    first_occurred_at INTEGER NOT NULL, first_seq INTEGER NOT NULL, count INTEGER NOT NULL, postings BLOB NOT NULL"""
LAYOUTS = {
    "rowid + 2 indexes": f"""CREATE TABLE event_postings ({COLUMNS});
        CREATE UNIQUE INDEX by_term ON event_postings (term, last_occurred_at, last_seq, first_occurred_at);
        CREATE INDEX by_time ON event_postings (last_occurred_at);""",
    "without rowid": f"CREATE TABLE event_postings ({COLUMNS}, PRIMARY KEY (term, last_occurred_at, last_seq)) WITHOUT ROWID;",
}


def run(schema, blocks=200_000, per_pass=20_000):
    os.makedirs(DIR, exist_ok=True)
    db = fresh_database(os.path.join(DIR, "postings.db"))
    db.executescript(schema)
    started = time.time()
    seq = 0
    for _ in range(0, blocks, per_pass):
        rows = []
        for _ in range(per_pass):
            seq += 1
            occurred = 1_700_000_000_000_000 + seq * 1000
            rows.append(("target\x1f" + hashlib.sha256(str(seq).encode()).hexdigest(), occurred, seq, occurred, seq, 1, b""))
        rows.sort()
        db.execute("BEGIN")
        db.executemany("INSERT INTO event_postings VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
        db.execute("COMMIT")
    db.close()
    return blocks / (time.time() - started)


for round_ in (1, 2):
    for name, schema in LAYOUTS.items():
        print(f"round {round_}: {name}: {run(schema):,.0f} blocks/s")
