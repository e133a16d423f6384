#!/usr/bin/env python3
"""Actor-query latency of one build over an existing data directory, for A/B runs of the query
path on the same machine and session:

    python3 bench/query_ab.py BINARY DATA_DIR [QUERIES=400]

Starts `BINARY serve` on DATA_DIR (127.0.0.1, a free port), waits until the filter index has
caught up with the events (store_state.terms_indexed_through), then asks
`GET /v1/events?actor=…&limit=100` for random actors (seeded, so both builds ask the same
questions) one after another and prints p50 and p95. Build the data directory for each build
with that build (e.g. `sluice collect --once` against shared/bench/mock_incydr.py), since a
newer build migrates an older directory when it opens it.
"""
import http.client
import os
import random
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.parse

ADMIN = "bench-admin-token-0123456789"


def main():
    binary, data = sys.argv[1], sys.argv[2]
    queries = int(sys.argv[3]) if len(sys.argv) > 3 else 400
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(os.environ, SLUICE_ADMIN_TOKEN=ADMIN, SLUICE_DEFAULT_FEED_SECRET="bench-feed-secret-0123456789")
    server = subprocess.Popen([binary, "serve", "--data-dir", data, "--listen", f"127.0.0.1:{port}", "--log-level", "error"],
                              env=env, stdout=subprocess.DEVNULL)
    try:
        db = sqlite3.connect(f"file:{data}/sluice.db?mode=ro", uri=True)
        deadline = time.time() + 300
        while time.time() < deadline:
            try:
                through = db.execute("SELECT value FROM store_state WHERE name = 'terms_indexed_through'").fetchone()[0]
                if through >= db.execute("SELECT MAX(seq) FROM events").fetchone()[0]:
                    break
            except sqlite3.Error:
                pass  # the server may be migrating
            time.sleep(0.3)
        else:
            sys.exit("the filter index did not catch up within 300 s")
        actors = [r[0] for r in db.execute("SELECT DISTINCT actor_id FROM events WHERE actor_type = 'user' ORDER BY actor_id LIMIT 5000")]
        conn = http.client.HTTPConnection("127.0.0.1", port)
        rng = random.Random(7)
        latencies = []
        for _ in range(queries):
            actor = rng.choice(actors)
            started = time.perf_counter()
            conn.request("GET", f"/v1/events?actor={urllib.parse.quote(actor)}&limit=100", headers={"Authorization": f"Bearer {ADMIN}"})
            response = conn.getresponse()
            body = response.read()
            if response.status != 200:
                sys.exit(f"HTTP {response.status}: {body[:200]!r}")
            latencies.append((time.perf_counter() - started) * 1000)
        latencies.sort()
        print(f"{binary}: p50 {latencies[len(latencies) // 2]:.2f} ms, p95 {latencies[int(len(latencies) * 0.95)]:.2f} ms "
              f"({queries} queries over {len(actors)} actors)")
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
