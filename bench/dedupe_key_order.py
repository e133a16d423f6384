#!/usr/bin/env python3
"""What a random-order unique key costs SQLite, next to an append-order one.

Sluice's events table has a unique index on each event's dedupe key, a hash: every event lands
on a random leaf page of that index, and in WAL mode each commit writes every page it dirtied.
This probe isolates that cost: the same ~1 KB rows, WAL, synchronous=FULL, 100 rows a
transaction, into a table already holding --prefill rows, with a 16-byte unique key that is
either a counter (append order) or the first 16 bytes of a SHA-256 (random order).

    python3 bench/dedupe_key_order.py --prefill 300000 --seconds 4 --repeats 3
"""
import argparse
import hashlib
import os
import sqlite3
import statistics
import tempfile
import time

from sqlite_probe import fresh_database


def run(directory, random_key, prefill, batch, seconds):
    db = fresh_database(os.path.join(directory, "probe.db"))
    db.execute("PRAGMA cache_size=-32768")  # the 32 MiB Sluice's writer uses
    db.execute("CREATE TABLE events (seq INTEGER PRIMARY KEY, dedupe_key BLOB NOT NULL, raw BLOB NOT NULL)")
    db.execute("CREATE UNIQUE INDEX events_dedupe ON events (dedupe_key)")
    raw = os.urandom(512).hex().encode()

    def key(n):
        return hashlib.sha256(str(n).encode()).digest()[:16] if random_key else n.to_bytes(16, "big")

    db.execute("BEGIN")
    db.executemany("INSERT INTO events (dedupe_key, raw) VALUES (?, ?)", ((key(n), raw) for n in range(prefill)))
    db.execute("COMMIT")
    n, inserted = prefill, 0
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        db.execute("BEGIN")
        db.executemany("INSERT INTO events (dedupe_key, raw) VALUES (?, ?)", [(key(n + i), raw) for i in range(batch)])
        db.execute("COMMIT")
        n += batch
        inserted += batch
    elapsed = time.perf_counter() - started
    db.close()
    return inserted / elapsed


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--prefill", type=int, default=300_000)
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    results = {False: [], True: []}
    with tempfile.TemporaryDirectory(prefix="dedupe-order-") as directory:
        for _ in range(args.repeats):
            for random_key in (False, True):
                results[random_key].append(run(directory, random_key, args.prefill, args.batch, args.seconds))
    append_order, random_order = statistics.median(results[False]), statistics.median(results[True])
    print(f"SQLite {sqlite3.sqlite_version}, {args.prefill:,} rows already stored, {args.batch} rows a transaction")
    print(f"append-order key: {append_order:,.0f} rows/s (runs {', '.join(f'{r:,.0f}' for r in results[False])})")
    print(f"random-order key: {random_order:,.0f} rows/s (runs {', '.join(f'{r:,.0f}' for r in results[True])})")
    print(f"random / append: {random_order / append_order:.2f}")


if __name__ == "__main__":
    main()
