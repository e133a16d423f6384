#!/usr/bin/env python3
"""Histogram and facet times at 5,000,000 stored events (issue 25), and push throughput while
the audit log page is open.

    python3 bench/run_overview.py --binary .build/release/sluice [--events 5000000] [--repeat 20]

All on 127.0.0.1. `sluice serve` (embedded default config) is filled through the push API with
incident.io audit entries, 10,000 a request: 5,000 actors, 977 targets, five actions, one every
6 seconds (a year for 5,000,000), and left to finish indexing. Then each request is made
`--repeat` times, one at a time over a kept-alive connection (time from sending to the last
byte, so loopback HTTP is in it; `/healthz` is the floor). Last, wrk pushes single events for
8 seconds: alone, while another client loads `/ui/events` for the slowest filter measured once a
second (someone clicking through the page), while it loads it back to back, and alone again. Writes bench/results/overview-latest.json.
"""
import argparse
import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "Tests", "system"))
import run_ui_pages  # noqa: E402
from run_ui_pages import fill, sign_in, timed  # noqa: E402
from sluice_harness import SluiceProcess  # noqa: E402

from run_ui_pages import ADMIN, SECRET  # noqa: E402
START = 1_733_000_000  # 2024-11-30: a year of events before the run's dates
FIELDS = "fields=action,actor,target,feed"


def entry(n):
    return run_ui_pages.entry(n, start=START, step=6)


def api_timed(port, path, repeat):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    times, status, body = [], 0, b""
    for _ in range(repeat):
        started = time.perf_counter()
        conn.request("GET", path, headers={"Authorization": f"Bearer {ADMIN}"})
        response = conn.getresponse()
        body = response.read()
        times.append((time.perf_counter() - started) * 1000)
        status = response.status
    conn.close()
    times.sort()
    return {"path": path, "status": status, "bytes": len(body), "median_ms": round(times[len(times) // 2], 2),
            "p95_ms": round(times[int(len(times) * 0.95) - 1], 2), "max_ms": round(times[-1], 2), "answer": json.loads(body) if status == 200 else None}


def push_rate(port, seconds=8):
    lua = os.path.join(HERE, "unique_events.lua")
    out = subprocess.run(
        ["wrk", "-t", "2", "-c", "32", "-d", f"{seconds}s", "--timeout", "10s", "-s", lua, f"http://127.0.0.1:{port}/v1/feeds/default/events",
         "--", "1", f"X-Webhook-Access-Key: {SECRET}"], capture_output=True, text=True, check=True).stdout
    line = next(l for l in out.splitlines() if l.startswith("WRKJSON "))
    return json.loads(line[len("WRKJSON "):])["rps"]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", required=True)
    parser.add_argument("--events", type=int, default=5_000_000)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="sluice-overview-bench-") as tmp:
        server = SluiceProcess(args.binary, os.path.join(tmp, "data"), ADMIN, SECRET, os.path.join(tmp, "server.log")).start()
        try:
            started = time.time()
            fill(server.port, args.events, make=entry)
            filled = time.time() - started
            time.sleep(15)  # let the filter index catch up with the last commits
            actor = "actor=Actor+Number+4321"
            api = [
                "/healthz",
                "/v1/events/histogram?buckets=60",
                f"/v1/events/facets?{FIELDS}",
                f"/v1/events/histogram?buckets=60&{actor}",
                f"/v1/events/facets?{FIELDS}&{actor}",
                "/v1/events/histogram?buckets=60&action=user.*",
                f"/v1/events/facets?{FIELDS}&action=user.*",
                "/v1/events/histogram?buckets=60&since=2025-06-01&until=2025-06-02",
                f"/v1/events/facets?{FIELDS}&since=2025-06-01&until=2025-06-02",
            ]
            api_results = [api_timed(server.port, path, args.repeat) for path in api]
            cookie = sign_in(server.port)
            pages = ["/ui/events", f"/ui/events?{actor}", "/ui/events?action=user.*", "/ui/events?since=2025-06-01&until=2025-06-02"]
            page_results = [timed(server.port, path, cookie, args.repeat) for path in pages]
            slowest = max(page_results, key=lambda r: r["p95_ms"])["path"]
            alone = push_rate(server.port)

            def while_browsing(pause):
                """Push rate while another client loads the slowest page, `pause` seconds apart."""
                stop = threading.Event()
                loads = [0]

                def browse():
                    while not stop.is_set():
                        timed(server.port, slowest, cookie, 1)
                        loads[0] += 1
                        stop.wait(pause)
                browser = threading.Thread(target=browse)
                browser.start()
                try:
                    return push_rate(server.port), loads[0]
                finally:
                    stop.set()
                    browser.join()
            person, person_loads = while_browsing(1.0)
            hammer, hammer_loads = while_browsing(0.0)
            alone_again = push_rate(server.port)
        finally:
            server.signal(15)
    floor = api_results[0]["median_ms"]
    total = api_results[1]["answer"]["total"] if api_results[1]["answer"] else None
    print(f"{args.events:,} events stored in {filled:.0f} s (histogram total {total}); {args.repeat} requests each, one at a time")
    print(f"{'request':<78} {'status':>6} {'median ms':>10} {'p95 ms':>8} {'max ms':>8} {'x healthz':>9}")
    for r in api_results + page_results:
        print(f"{r['path']:<78} {r['status']:>6} {r['median_ms']:>10} {r['p95_ms']:>8} {r['max_ms']:>8} {r['median_ms'] / floor:>9.1f}")
    for r in api_results:
        if r["answer"] and "complete" in r["answer"] and not r["answer"]["complete"]:
            print(f"  {r['path']}: counted {r['answer'].get('events_counted')} events (bounded)")
    print(f"push, 1 event a request, 32 connections, 8 s each: {alone:.0f} req/s alone; {person:.0f} req/s while {slowest} loads once a second"
          f" ({person_loads} loads); {hammer:.0f} req/s while it loads back to back ({hammer_loads} loads); {alone_again:.0f} req/s alone again")
    out = {"events": args.events, "fill_seconds": round(filled, 1), "repeat": args.repeat,
           "requests": [{k: v for k, v in r.items() if k != "answer"} for r in api_results] + page_results,
           "push": {"alone": alone, "page_each_second": person, "page_each_second_loads": person_loads, "pages_back_to_back": hammer,
                    "pages_back_to_back_loads": hammer_loads, "alone_again": alone_again, "browsed": slowest}}
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    with open(os.path.join(HERE, "results", "overview-latest.json"), "w") as f:
        json.dump(out, f, indent=2)
    return 0 if all(r["status"] == 200 for r in api_results + page_results) else 1


if __name__ == "__main__":
    sys.exit(main())
