#!/usr/bin/env python3
"""Sluice ingest/query benchmarks, measured side by side with the nginx ceiling in one run.

    python3 bench/run_benchmarks.py --binary .build/release/sluice --shared ../shared/bench

Steps (all on 127.0.0.1, every load bounded in time):
 1. nginx ceiling: shared/bench/nginx_ceiling.sh at 32 and 128 connections (1 KB POST).
 2. Sluice, fresh data dir, synchronous=FULL: idle RSS; wrk with bench/unique_events.lua, one
    distinct 1 KB event per request at 32 and 128 connections, then NDJSON batches of 100.
 3. A second fresh instance seeded with 1,000,000 events (5,000 actors): GET /v1/events?actor=…
    latency over 400 requests, and a CSV export of all 1,000,000 with RSS sampled throughout.
Writes bench/results/latest.json and prints a summary.
"""
import argparse
import http.client
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "Tests", "system"))
from sluice_harness import SluiceProcess, rss_kib  # noqa: E402

SECRET = "bench-feed-secret-0123456789"
ADMIN = "bench-admin-token-0123456789"


def start_sluice(binary, data_dir):
    return SluiceProcess(binary, data_dir, ADMIN, SECRET).start(timeout=60)


def wrk(url, conns, batch, duration, threads=2):
    cmd = ["wrk", "-t", str(min(threads, conns)), "-c", str(conns), "-d", f"{duration}s", "--timeout", "10s",
           "-s", os.path.join(HERE, "unique_events.lua"), url, "--", str(batch), f"X-Webhook-Access-Key: {SECRET}"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60).stdout
    for line in out.splitlines():
        if line.startswith("WRKJSON "):
            return json.loads(line[8:])
    raise RuntimeError(out)


def peak_sampler(pid, stop, box):
    """Peak VmRSS and peak RssAnon (heap, excluding file pages the kernel may drop)."""
    while not stop.is_set():
        try:
            box["peak"] = max(box.get("peak", 0), rss_kib(pid))
            box["peak_anon"] = max(box.get("peak_anon", 0), rss_kib(pid, "RssAnon"))
        except OSError:
            return
        time.sleep(0.05)


def seed(port, total, actors=5000, batch=1000, workers=4):
    """Pushes `total` distinct events spread over `actors` actors and 30 days."""
    per_worker = total // workers

    def work(w):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        for start in range(w * per_worker, (w + 1) * per_worker, batch):
            lines = []
            for n in range(start, min(start + batch, (w + 1) * per_worker)):
                a = n % actors
                lines.append(json.dumps({
                    "action": ["api_key.created", "user.logged_in", "secret.rotated", "workflow.updated"][n % 4],
                    "actor": {"id": f"actor-{a}", "type": "user", "name": f"Actor Number {a}"},
                    "context": {"location": f"10.{n % 250}.{n // 250 % 250}.1", "user_agent": "bench"},
                    "occurred_at": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(1_790_000_000 + n * 2.6)) + ".000000Z",
                    "targets": [{"id": f"target-{n % 977}", "type": "api_key", "name": f"Key {n % 977}"}],
                    "version": 1, "n": n}))
            body = "\n".join(lines).encode()
            conn.request("POST", "/v1/feeds/default/events", body, {"X-Webhook-Access-Key": SECRET})
            r = conn.getresponse()
            r.read()
            if r.status != 200:
                raise RuntimeError(f"seed push failed: {r.status}")

    threads = [threading.Thread(target=work, args=(w,)) for w in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True)
    ap.add_argument("--shared", default=os.path.join(HERE, "..", "..", "shared", "bench"))
    ap.add_argument("--duration", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--skip-nginx", action="store_true")
    ap.add_argument("--config", help="config file for the ingest instance (e.g. synchronous: normal)")
    args = ap.parse_args()
    results = {"when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "nproc": os.cpu_count()}

    # 1. nginx ceiling
    if not args.skip_nginx:
        env = dict(os.environ, CONNS="32,128", DURATION=str(args.duration), REPEATS=str(args.repeats), WAITQ="30")
        subprocess.run(["bash", os.path.join(args.shared, "nginx_ceiling.sh")], env=env, check=True)
        with open(os.path.join(args.shared, "results", "nginx_204.json")) as f:
            results["nginx"] = {str(r["conns"]): r["rps_median"] for r in json.load(f)["rows"]}

    # 2. ingest
    tmp = tempfile.mkdtemp(prefix="sluice-bench-")
    try:
        s = start_sluice(args.binary, os.path.join(tmp, "ingest"))
        time.sleep(2)
        results["idle_rss_mib"] = rss_kib(s.proc.pid) / 1024
        url = f"http://127.0.0.1:{s.port}/v1/feeds/default/events"
        stop, box = threading.Event(), {}
        sampler = threading.Thread(target=peak_sampler, args=(s.proc.pid, stop, box))
        sampler.start()
        for label, batch, conns_list in [("1ev", 1, [32, 128]), ("b100", 100, [8, 32])]:
            for conns in conns_list:
                runs = [wrk(url, conns, batch, args.duration) for _ in range(args.repeats)]
                rps = statistics.median(r["rps"] for r in runs)
                errors = sum(r["err_status"] + r["err_timeout"] + r["err_connect"] + r["err_read"] + r["err_write"] for r in runs)
                results[f"sluice_{label}_c{conns}"] = {"rps": rps, "events_per_s": rps * batch, "p99_ms": statistics.median(r["lat_p99_us"] for r in runs) / 1000, "errors": errors}
                print(f"sluice {label} c={conns}: {rps:,.0f} req/s, {rps * batch:,.0f} events/s, errors={errors}", flush=True)
        stop.set()
        sampler.join()
        results["load_peak_rss_mib"] = box.get("peak", 0) / 1024
        results["load_peak_rss_anon_mib"] = box.get("peak_anon", 0) / 1024
        s.signal(signal.SIGTERM)

        # 3. query and export over 1,000,000 events
        s = start_sluice(args.binary, os.path.join(tmp, "query"))
        t0 = time.time()
        seed(s.port, args.events)
        results["seed_seconds"] = time.time() - t0
        conn = http.client.HTTPConnection("127.0.0.1", s.port, timeout=30)
        latencies = []
        rng = random.Random(7)
        for i in range(400):
            actor = f"actor-{rng.randrange(5000)}" if i % 2 else f"Actor%20Number%20{rng.randrange(5000)}"
            t = time.perf_counter()
            conn.request("GET", f"/v1/events?actor={actor}&limit=100", headers={"Authorization": f"Bearer {ADMIN}"})
            r = conn.getresponse()
            body = r.read()
            latencies.append((time.perf_counter() - t) * 1000)
            assert r.status == 200 and body.count(b'"seq"') == 100, (r.status, body[:200])
        latencies.sort()
        results["query_actor_p50_ms"] = latencies[len(latencies) // 2]
        results["query_actor_p95_ms"] = latencies[int(len(latencies) * 0.95)]
        before = rss_kib(s.proc.pid)
        stop, box = threading.Event(), {}
        sampler = threading.Thread(target=peak_sampler, args=(s.proc.pid, stop, box))
        sampler.start()
        t = time.time()
        rows = 0
        req = urllib.request.Request(f"http://127.0.0.1:{s.port}/v1/events/export?format=csv", headers={"Authorization": f"Bearer {ADMIN}"})
        with urllib.request.urlopen(req, timeout=600) as r:
            for _ in r:
                rows += 1
        stop.set()
        sampler.join()
        results["export_rows"] = rows - 1
        results["export_seconds"] = time.time() - t
        results["export_rss_before_mib"] = before / 1024
        results["export_rss_peak_mib"] = box.get("peak", 0) / 1024
        results["export_rss_anon_peak_mib"] = box.get("peak_anon", 0) / 1024
        s.signal(signal.SIGTERM)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    if "nginx" in results:
        for c in ("32", "128"):
            results[f"ratio_1ev_c{c}"] = results[f"sluice_1ev_c{c}"]["rps"] / results["nginx"][c]
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    with open(os.path.join(HERE, "results", "latest.json"), "w") as f:
        json.dump(results, f, indent=1)
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    sys.exit(main())
