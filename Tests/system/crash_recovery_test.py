#!/usr/bin/env python3
"""Crash-recovery test for Sluice's durability promise.

Starts `sluice serve` on a real SQLite file, pushes NDJSON batches from several client threads,
kills the server with SIGKILL mid-load, restarts it, and repeats. Afterwards every event the
server acknowledged with a 200 must be stored exactly once, and PRAGMA integrity_check must be
"ok". A final round checks that SIGTERM drains in-flight requests and exits cleanly.

Everything listens on 127.0.0.1 on ports chosen at runtime; every loop is bounded in time.
"""
import argparse
import json
import os
import random
import signal
import sqlite3
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sluice_harness import Checks, SluiceProcess  # noqa: E402

ADMIN = "crash-test-admin-token"
SECRET = "crash-test-feed-secret"


def push_loop(port, client, iteration, acked, stop, deadline):
    n = 0
    while not stop.is_set() and time.time() < deadline:
        batch = [{"client": client, "iter": iteration, "n": n + i, "pad": "x" * random.randint(10, 400)} for i in range(20)]
        n += 20
        body = "\n".join(json.dumps(e) for e in batch).encode()
        req = urllib.request.Request(
            f"http://127.0.0.1:{port}/v1/feeds/default/events", data=body, method="POST",
            headers={"X-Webhook-Access-Key": SECRET, "Content-Type": "application/x-ndjson"},
        )
        try:
            with urllib.request.urlopen(req, timeout=5) as r:
                reply = json.loads(r.read())
                if r.status == 200 and reply.get("accepted", 0) + reply.get("duplicates", 0) == len(batch):
                    acked.extend((e["client"], e["iter"], e["n"]) for e in batch)
        except (OSError, urllib.error.URLError, ValueError):
            # Refused or cut off: not acknowledged, so not owed.
            time.sleep(0.01)


def stored_keys(port):
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}/v1/events/export?format=ndjson&feed=default", headers={"Authorization": f"Bearer {ADMIN}"}
    )
    keys = []
    with urllib.request.urlopen(req, timeout=120) as r:
        for line in r:
            raw = json.loads(line)["raw"]
            keys.append((raw["client"], raw["iter"], raw["n"]))
    return keys


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", required=True)
    parser.add_argument("--cycles", type=int, default=10)
    parser.add_argument("--clients", type=int, default=4)
    args = parser.parse_args()

    check = Checks()

    with tempfile.TemporaryDirectory(prefix="sluice-crash-") as tmp:
        data_dir = os.path.join(tmp, "data")
        server = SluiceProcess(args.binary, data_dir, ADMIN, SECRET, os.path.join(tmp, "server.log"))
        acked = []
        for cycle in range(args.cycles):
            server.start()
            stop = threading.Event()
            deadline = time.time() + 10
            threads = [threading.Thread(target=push_loop, args=(server.port, c, cycle, acked, stop, deadline)) for c in range(args.clients)]
            for t in threads:
                t.start()
            time.sleep(random.uniform(0.6, 1.6))
            server.signal(signal.SIGKILL)
            stop.set()
            for t in threads:
                t.join(timeout=15)
            print(f"cycle {cycle + 1}: killed with SIGKILL; {len(acked)} events acknowledged so far")

        # Graceful stop under load: in-flight requests finish and the process exits 0.
        server.start()
        stop = threading.Event()
        threads = [threading.Thread(target=push_loop, args=(server.port, c, 999, acked, stop, time.time() + 10)) for c in range(args.clients)]
        for t in threads:
            t.start()
        time.sleep(0.8)
        code = server.signal(signal.SIGTERM)
        stop.set()
        for t in threads:
            t.join(timeout=15)
        check("SIGTERM under load exits 0", code == 0, f"exit code {code}")

        server.start()
        keys = stored_keys(server.port)
        server.signal(signal.SIGTERM)
        stored = set(keys)
        missing = [k for k in set(acked) if k not in stored]
        check(f"every acknowledged event is stored ({len(set(acked))} acknowledged, {len(stored)} stored)", not missing, f"{len(missing)} missing, e.g. {missing[:3]}")
        check("no event is stored twice", len(keys) == len(stored), f"{len(keys) - len(stored)} duplicates")
        check("acknowledgements happened in every cycle", len({k[1] for k in acked}) >= args.cycles, "some cycles acknowledged nothing")

        db = sqlite3.connect(os.path.join(data_dir, "sluice.db"))
        result = db.execute("PRAGMA integrity_check").fetchall()
        db.close()
        check("PRAGMA integrity_check is ok", result == [("ok",)], str(result))

    return check.summary()


if __name__ == "__main__":
    sys.exit(main())
