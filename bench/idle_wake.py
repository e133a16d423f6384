#!/usr/bin/env python3
"""What an idle `sluice serve` costs, and how soon a pushed event reaches a destination.

    python3 bench/idle_wake.py --sluice before=/tmp/sluice-old --sluice after=.build/release/sluice

Each binary in turn, same configuration: the embedded SQLite store, three `file` destinations
with `batch.max_wait: 1ms` (the least every version accepts) and one workflow whose trigger no pushed event matches.
 1. Idle: after 5 s of settling, the CPU the process used (utime + stime from /proc) over
    --idle seconds with no traffic, as a share of one core.
 2. Latency: --pushes single events, 150 to 250 ms apart at random (a fixed spacing can fall
    into step with a polling loop and hide its wait) into the idle instance; for each, the time
    from the push's 200 to the moment its line is in the first destination's file (the directory
    polled every 0.5 ms). p50, p95 and max.
With --postgres URL, two instances share a fresh schema of that server: the first started holds
every lease (it delivers and runs the workflow); events are pushed to the second, so each one
reaches the destination only once the first instance hears of its commit. The idle figure is
the first instance's.
Prints a table; nothing outside 127.0.0.1 is contacted.
"""
import argparse
import glob
import json
import os
import random
import subprocess
import statistics
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "Tests", "system"))
from sluice_harness import SluiceProcess, free_port, write_config  # noqa: E402

SECRET = "bench-feed-secret-0123456789"
ADMIN = "bench-admin-token-0123456789"
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def config(tmp, postgres=None):
    destinations = "".join(
        f"  out{n}:\n    type: file\n    path: {tmp}/out{n}\n    batch: {{ max_wait: 1ms }}\n" for n in range(3)
    )
    path = write_config(os.path.join(tmp, "sluice.yaml"), destinations=destinations,
                        routes="  - { from: [default], to: [out0, out1, out2] }\n")
    closed = free_port()
    with open(path, "a") as f:
        if postgres:
            f.write(f'storage:\n  postgres: {{ url: "{postgres[0]}", schema: {postgres[1]}, lease_ttl: 10s }}\n')
        f.write(f"""workflows:
  unmatched:
    allow_private_networks: true
    trigger: {{ log_types: [CISCO_SCI_ALERT] }}
    steps:
      - {{ id: alert, extract: {{ name: {{ path: $.name, required: true }} }} }}
      - {{ id: call, http_request: {{ method: GET, url: "http://127.0.0.1:{closed}/x", expect: [200] }} }}
""")
    return path


def push(port, body):
    request = urllib.request.Request(f"http://127.0.0.1:{port}/v1/feeds/default/events", data=body, method="POST",
                                     headers={"X-Webhook-Access-Key": SECRET, "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as r:
        assert r.status == 200, r.status


def delivered(directory, marker):
    for path in glob.glob(os.path.join(directory, "*.ndjson")):
        with open(path, "rb") as f:
            if marker in f.read():
                return True
    return False


def measure(label, binary, args):
    schema = f"idle_{random.randrange(1 << 30):x}"
    postgres = (args.postgres, schema) if args.postgres else None
    with tempfile.TemporaryDirectory(prefix="sluice-idle-") as tmp:
        path = config(tmp, postgres)
        holder = SluiceProcess(binary, os.path.join(tmp, "data"), ADMIN, SECRET, os.path.join(tmp, "serve.log"), config=path).start(60)
        process = holder
        if postgres:
            time.sleep(3)  # the first instance takes every lease before the second starts
            process = SluiceProcess(binary, os.path.join(tmp, "data2"), ADMIN, SECRET, os.path.join(tmp, "serve2.log"), config=path).start(60)
        try:
            time.sleep(5)
            start = cpu_seconds(holder.proc.pid)
            time.sleep(args.idle)
            idle = (cpu_seconds(holder.proc.pid) - start) / args.idle * 100
            lags = []
            spacing = random.Random(7)
            for n in range(args.pushes):
                marker = f"idle-wake-{label}-{n}-{time.time_ns()}".encode()
                body = json.dumps({"action": "user.logged_in", "occurred_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                                   "actor": {"id": "a"}, "marker": marker.decode()}).encode()
                push(process.port, body)
                acknowledged = time.perf_counter()
                while not delivered(os.path.join(tmp, "out0"), marker):
                    if time.perf_counter() - acknowledged > 10:
                        raise RuntimeError(f"{label}: event {n} not delivered within 10 s")
                    time.sleep(0.0005)
                lags.append((time.perf_counter() - acknowledged) * 1000)
                time.sleep(spacing.uniform(0.15, 0.25))
        finally:
            process.signal(15)
            if process is not holder:
                holder.signal(15)
            if postgres:
                subprocess.run(["psql", args.postgres, "-qc", f"DROP SCHEMA IF EXISTS {schema} CASCADE"], capture_output=True, timeout=60)
    lags.sort()
    return {"idle_core_percent": idle, "p50_ms": statistics.median(lags), "p95_ms": lags[int(len(lags) * 0.95) - 1], "max_ms": lags[-1]}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--sluice", action="append", required=True, help="label=path of a sluice binary")
    parser.add_argument("--idle", type=float, default=60)
    parser.add_argument("--pushes", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--postgres", help="a PostgreSQL URL: two instances on a fresh schema, pushes to the one not delivering")
    args = parser.parse_args()
    binaries = [entry.split("=", 1) for entry in args.sluice]
    results = {label: [] for label, _ in binaries}
    for _ in range(args.rounds):
        for label, binary in binaries:
            results[label].append(measure(label, binary, args))
    print(f"{'binary':<10} {'idle % core':>12} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
    for label, runs in results.items():
        for run in runs:
            print(f"{label:<10} {run['idle_core_percent']:>12.3f} {run['p50_ms']:>8.2f} {run['p95_ms']:>8.2f} {run['max_ms']:>8.2f}")


if __name__ == "__main__":
    main()
