#!/usr/bin/env python3
"""The lean store under upgrade and crashes, with the real binary.

1. A store of the layout before the lean store (built from the checked-in schema of release
   929f3ce by legacy_store.py, 30,000 events) is opened by `sluice serve`, which moves its rows
   into the compressed layout in the background while pushes arrive; the server is killed with
   SIGKILL at random moments, eight times (during the upgrade's batches, during dictionary
   training, during commits). After each restart: every acknowledged push and every old event is
   there once, old ids still resolve, and the store reads back whole.
2. Once the upgrade is done: `sluice storage stats` shows no row left uncompressed and a
   dictionary in use, and `sluice storage check` reads everything back.
3. One payload damaged on disk: the API answers 500 naming that event, the export stops with
   the reason (exit 1), and `sluice storage check` lists it (exit 1); other events still read.
"""
import argparse
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import legacy_store  # noqa: E402
from sluice_harness import Checks, SluiceProcess  # noqa: E402

ADMIN = "lean-store-admin-token"
SECRET = "lean-store-feed-secret"


def get(port, path):
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers={"Authorization": f"Bearer {ADMIN}"})
    try:
        with urllib.request.urlopen(request, timeout=60) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def push(port, body):
    request = urllib.request.Request(f"http://127.0.0.1:{port}/v1/feeds/default/events", data=body, method="POST",
                                     headers={"X-Webhook-Access-Key": SECRET})
    with urllib.request.urlopen(request, timeout=30) as r:
        return json.loads(r.read())


def sluice(binary, data, *arguments):
    env = dict(os.environ, SLUICE_ADMIN_TOKEN=ADMIN, SLUICE_DEFAULT_FEED_SECRET=SECRET)
    return subprocess.run([binary, *arguments, "--data-dir", data], capture_output=True, text=True, env=env, timeout=300)


def all_events(port):
    """Every stored event's (id, raw) through the paging API."""
    out, cursor = [], None
    while True:
        status, body = get(port, "/v1/events?limit=1000" + (f"&cursor={cursor}" if cursor else ""))
        if status != 200:
            raise RuntimeError(f"listing failed: {status} {body[:300]!r}")
        page = json.loads(body)
        out += [(e["id"], json.dumps(e["raw"], separators=(",", ":"), ensure_ascii=False)) for e in page["events"]]
        cursor = page.get("next_cursor")
        if not cursor:
            return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", required=True)
    parser.add_argument("--events", type=int, default=30_000)
    parser.add_argument("--kills", type=int, default=8)
    args = parser.parse_args()
    checks = Checks()
    rnd = random.Random(11)
    with tempfile.TemporaryDirectory() as tmp:
        data = os.path.join(tmp, "data")
        os.makedirs(data)
        legacy = legacy_store.build(os.path.join(data, "sluice.db"), args.events)
        checks("the legacy store was built", len(legacy) == args.events)
        acknowledged = []
        stop = threading.Event()
        process = None

        def pusher():
            n = 0
            while not stop.is_set():
                current = process
                if current is None or current.port is None:
                    time.sleep(0.01)
                    continue
                n += 1
                lines = [json.dumps({"action": "push.test", "n": n, "i": i, "occurred_at": "2026-12-06T10:00:00Z",
                                     "actor": {"id": f"p{n % 7}", "type": "user"}}) for i in range(50)]
                try:
                    answer = push(current.port, ("\n".join(lines)).encode())
                    if answer.get("accepted") == 50:
                        acknowledged.append(n)
                except Exception:
                    time.sleep(0.02)

        thread = threading.Thread(target=pusher, daemon=True)
        thread.start()
        log = os.path.join(tmp, "serve.log")
        for kill in range(args.kills):
            process = SluiceProcess(args.binary, data, ADMIN, SECRET, log_path=log).start(timeout=120)
            time.sleep(rnd.uniform(0.3, 3.0))
            process.proc.send_signal(signal.SIGKILL)
            process.proc.wait(30)
        process = SluiceProcess(args.binary, data, ADMIN, SECRET, log_path=log).start(timeout=120)
        time.sleep(2)
        stop.set()
        thread.join(30)

        # The upgrade finishes in the background; wait for it.
        deadline = time.time() + 300
        stats = {}
        while time.time() < deadline:
            done = sluice(args.binary, data, "storage", "stats", "--json")
            if done.returncode == 0:
                stats = json.loads(done.stdout)
                if stats["uncompressed_events"] == 0:
                    break
            time.sleep(1)
        checks("every old row moved into the compressed layout", stats.get("uncompressed_events") == 0, str(stats)[:300])
        checks("dictionaries were trained and rows use them", stats.get("dictionaries", 0) >= 1
               and any(p["encoding"] == "zstd+dictionary" for p in stats.get("parts", [])), str(stats)[:500])

        events = all_events(process.port)
        ids = [e[0] for e in events]
        checks("no event is stored twice", len(ids) == len(set(ids)))
        expected = args.events + 50 * len(acknowledged)
        pushed = sum(1 for _, raw in events if '"push.test"' in raw)
        checks(f"every old event and every acknowledged push is there ({args.events} + {50 * len(acknowledged)})",
               len(events) >= expected and pushed >= 50 * len(acknowledged), f"{len(events)} stored, {pushed} pushed")
        by_id = dict(events)
        sample = rnd.sample(legacy, 300)
        missing = [i for i, _, _ in sample if i not in by_id]
        checks("old ids are listed as they were", not missing, str(missing[:3]))
        wrong = []
        for event_id, _, raw in sample[:100]:
            status, body = get(process.port, f"/v1/events/{event_id}")
            if status != 200 or json.loads(body)["id"] != event_id or json.dumps(json.loads(body)["raw"], separators=(",", ":"), ensure_ascii=False) != json.dumps(json.loads(raw), separators=(",", ":"), ensure_ascii=False):
                wrong.append((event_id, status))
        checks("old ids resolve to their events, raw unchanged", not wrong, str(wrong[:3]))
        status, body = get(process.port, "/v1/events?actor=user7@example.com&limit=1000")
        expected_actor = sum(1 for _, _, raw in legacy if b'"user7@example.com"' in raw)
        checks("filters find old events through the rebuilt index", status == 200 and len(json.loads(body)["events"]) == expected_actor,
               f"{status} {len(json.loads(body)['events']) if status == 200 else body[:200]} != {expected_actor}")
        process.signal(signal.SIGTERM)

        done = sluice(args.binary, data, "storage", "check")
        checks("storage check reads every event back", done.returncode == 0 and " 0 unreadable" in done.stdout, done.stdout + done.stderr)
        checks("a clean stop leaves no WAL behind", os.path.getsize(os.path.join(data, "sluice.db-wal")) == 0 if os.path.exists(os.path.join(data, "sluice.db-wal")) else True)

        # Damage one payload on disk.
        db = sqlite3.connect(os.path.join(data, "sluice.db"))
        seq, occurred, payload = db.execute("SELECT seq, occurred_at, payload FROM events WHERE dict > 0 ORDER BY seq DESC LIMIT 1 OFFSET 10").fetchone()
        damaged = bytearray(payload)
        damaged[len(damaged) // 2] ^= 0x5A
        db.execute("UPDATE events SET payload = ? WHERE seq = ?", (bytes(damaged), seq))
        db.commit()
        db.close()
        process = SluiceProcess(args.binary, data, ADMIN, SECRET, log_path=log).start(timeout=120)
        status, body = get(process.port, "/v1/events?limit=1000")
        message = json.loads(body).get("error", {}).get("message", "") if status != 200 else ""
        checks("a listing over the damaged event answers 500", status == 500, f"{status} {body[:200]!r}")
        checks("the error names the event's seq", f"seq {seq}" in message, message)
        status, _ = get(process.port, "/v1/events?limit=5")
        checks("events before it in the listing still read", status == 200)
        process.signal(signal.SIGTERM)
        exported = sluice(args.binary, data, "events", "export", "--format", "ndjson", "--out", os.path.join(tmp, "out.ndjson"))
        checks("the export stops with the reason", exported.returncode == 1 and f"seq {seq}" in exported.stderr, exported.stderr[-300:])
        done = sluice(args.binary, data, "storage", "check")
        checks("storage check lists the damaged event and exits 1", done.returncode == 1 and f"(seq {seq})" in done.stdout and "1 unreadable" in done.stdout,
               done.stdout[-400:] + done.stderr[-200:])
    return checks.summary()


if __name__ == "__main__":
    sys.exit(main())
