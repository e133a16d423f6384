#!/usr/bin/env python3
"""Reads over a large store, side by side for several builds: each build gets a fresh instance
(embedded default, SQLite, synchronous=FULL) seeded with the same N pushed incident.io-style
events (run_benchmarks.py's seed: 5,000 actors, 4 actions, 977 targets, 30 days), then:

  - bytes on disk per event (`sluice storage stats` where the build has it, else the files);
  - query latency, 400 requests each, limit 100: by actor (id or name), target + action, and a
    one-day date range; p50 and p95;
  - an NDJSON and a CSV export of every event (events/s, peak RSS while exporting).

    python3 bench/store_reads.py --events 1000000 --build before=/tmp/sluice-before --build after=.build/release/sluice
"""
import argparse
import http.client
import os
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "Tests", "system"))
from run_benchmarks import ADMIN, peak_sampler, seed, start_sluice  # noqa: E402


def latencies(port, paths):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    out = []
    for path in paths:
        t = time.perf_counter()
        conn.request("GET", path, headers={"Authorization": f"Bearer {ADMIN}"})
        r = conn.getresponse()
        body = r.read()
        out.append((time.perf_counter() - t) * 1000)
        if r.status != 200:
            raise RuntimeError(f"{path}: {r.status} {body[:200]!r}")
    out.sort()
    return round(out[len(out) // 2], 2), round(out[int(len(out) * 0.95)], 2)


def export(port, pid, fmt):
    stop, box = threading.Event(), {}
    sampler = threading.Thread(target=peak_sampler, args=(pid, stop, box))
    sampler.start()
    t = time.time()
    rows = 0
    req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/events/export?format={fmt}", headers={"Authorization": f"Bearer {ADMIN}"})
    with urllib.request.urlopen(req, timeout=1800) as r:
        while True:
            chunk = r.read(1 << 20)
            if not chunk:
                break
            rows += chunk.count(b"\n")
    seconds = time.time() - t
    stop.set()
    sampler.join()
    if fmt == "csv":
        rows -= 1
    return rows, seconds, box.get("peak", 0) / 1024


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--build", action="append", required=True, help="LABEL=BINARY, repeatable")
    a = ap.parse_args()
    for spec in a.build:
        label, binary = spec.split("=", 1)
        tmp = tempfile.mkdtemp(prefix=f"reads-{label}-")
        try:
            s = start_sluice(binary, os.path.join(tmp, "data"))
            t0 = time.time()
            seed(s.port, a.events)
            seeded = time.time() - t0
            # Let the index catch up with the last commits before timing queries.
            time.sleep(3)
            rnd = random.Random(7)
            actor = latencies(s.port, [f"/v1/events?actor={f'actor-{rnd.randrange(5000)}' if i % 2 else f'Actor%20Number%20{rnd.randrange(5000)}'}&limit=100" for i in range(400)])
            actions = ["api_key.created", "user.logged_in", "secret.rotated", "workflow.updated"]
            target = latencies(s.port, [f"/v1/events?target=target-{rnd.randrange(977)}&action={rnd.choice(actions)}&limit=100" for _ in range(400)])
            day = 86_400
            first = 1_790_000_000
            span = int(a.events * 2.6)
            ranges = []
            for _ in range(400):
                start = first + rnd.randrange(max(1, span - day))
                ranges.append(f"/v1/events?since={time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(start))}&until={time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(start + day))}&limit=100")
            dated = latencies(s.port, ranges)
            nd_rows, nd_s, nd_rss = export(s.port, s.proc.pid, "ndjson")
            csv_rows, csv_s, csv_rss = export(s.port, s.proc.pid, "csv")
            s.signal(15)
            disk = sum(os.path.getsize(os.path.join(b, f)) for b, _, fs in os.walk(os.path.join(tmp, "data")) for f in fs)
            print(f"{label:<8} seeded {a.events} in {seeded:.1f}s ({a.events / seeded:.0f} ev/s); disk {disk / a.events:.0f} B/event; "
                  f"actor p50/p95 {actor[0]}/{actor[1]} ms; target+action {target[0]}/{target[1]} ms; one day {dated[0]}/{dated[1]} ms; "
                  f"ndjson {nd_rows} in {nd_s:.1f}s = {nd_rows / nd_s:.0f} ev/s (peak RSS {nd_rss:.0f} MiB); "
                  f"csv {csv_rows / csv_s:.0f} ev/s (peak RSS {csv_rss:.0f} MiB)", flush=True)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
