#!/usr/bin/env python3
"""Sluice delivery benchmarks against shared/bench/mock_sink.py, side by side in one run.

    python3 bench/run_delivery.py --binary .build/release/sluice --shared ../shared/bench

All on 127.0.0.1; every load is bounded in time. Events are incident.io audit entries padded to
1 KB; the destination is a Chronicle webhook feed (NDJSON, at most 1,000,000 bytes a request).
 1. Sink ceiling: a Python client POSTs ready-made 1 MB NDJSON bodies to mock_sink.py from 4
    connections; events/s the sink takes (the most any sender can get out of it here).
 2. Throughput: a store holding N events, then `sluice serve` started with the destination; events/s
    between the sink's first and last event (a backlog drained with full batches); median of 3.
 3. Lag at 10,000 events/s of ingest: batches of 100 pushed on a fixed schedule (4 connections) for D seconds to an
    instance with two healthy destinations (two sinks); lag = time from the push's 200 to the
    moment the sink's count covers it (sink polled every 10 ms). p50/p99 for the first destination.
 4. The same with the second destination down (its sink answers 503 to everything): p50/p99 of the
    healthy destination, and its ratio to run 3.
Writes bench/results/delivery-latest.json and prints a summary.
"""
import argparse
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "Tests", "system"))
from sluice_harness import SluiceProcess, free_port, write_config  # noqa: E402

SECRET = "bench-feed-secret-0123456789"
ADMIN = "bench-admin-token-0123456789"
API_KEY = "bench-chronicle-api-key"


def event(n, pad_to=1024):
    base = {
        "action": ["api_key.created", "user.logged_in", "secret.rotated", "workflow.updated"][n % 4],
        "actor": {"id": f"actor-{n % 5000}", "type": "user", "name": f"Actor Number {n % 5000}"},
        "context": {"location": f"10.{n % 250}.{n // 250 % 250}.1", "user_agent": "bench"},
        "occurred_at": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + ".000000Z",
        "targets": [{"id": f"target-{n % 977}", "type": "api_key", "name": f"Key {n % 977}"}],
        "version": 1, "n": n, "pad": "",
    }
    text = json.dumps(base)
    base["pad"] = "x" * max(0, pad_to - len(text))
    return json.dumps(base)


class Sink:
    """shared/bench/mock_sink.py in its own process. With `--status 503` it still counts what it
    was sent, but answers 503, so the sender keeps retrying."""

    def __init__(self, shared, *extra):
        self.port = free_port()
        self.proc = subprocess.Popen(
            [sys.executable, os.path.join(shared, "mock_sink.py"), "--port", str(self.port), "--max-body", "1000000", "--require-key", API_KEY, *extra],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.time() + 20
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/_health", timeout=1):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("mock_sink did not start")

    def stats(self, conn=None):
        c = conn or http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        c.request("GET", "/_stats")
        return json.loads(c.getresponse().read())

    def url(self):
        return f"http://127.0.0.1:{self.port}/v1alpha/projects/1/locations/us/instances/i/feeds/f:importPushLogs"

    def stop(self):
        self.proc.kill()
        self.proc.wait()


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def config(path, sinks):
    destinations = "".join(f"""  sink{i}:
    type: chronicle_webhook
    url: "{sink.url()}"
    api_key: {API_KEY}
    secret: bench-feed-secret
    allow_private_networks: true
    retry: {{ base_delay: 200ms, max_delay: 2s }}
""" for i, sink in enumerate(sinks))
    routes = f"  - {{ from: [default], to: [{', '.join(f'sink{i}' for i in range(len(sinks)))}] }}\n"
    return write_config(path, destinations=destinations, routes=routes)


def push(port, bodies, conns=4):
    """POSTs every body; returns when all were acknowledged."""
    chunks = [bodies[i::conns] for i in range(conns)]

    def work(chunk):
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        for body in chunk:
            c.request("POST", "/v1/feeds/default/events", body, {"X-Webhook-Access-Key": SECRET})
            r = c.getresponse()
            r.read()
            if r.status != 200:
                raise RuntimeError(f"push failed: {r.status}")

    threads = [threading.Thread(target=work, args=(ch,)) for ch in chunks]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def sink_ceiling(shared, seconds):
    sink = Sink(shared)
    try:
        lines = [event(n) for n in range(950)]
        body = ("\n".join(lines) + "\n").encode()
        stop = time.time() + seconds

        def work():
            c = http.client.HTTPConnection("127.0.0.1", sink.port, timeout=30)
            headers = {"X-Webhook-Access-Key": API_KEY, "Content-Type": "application/json"}
            while time.time() < stop:
                c.request("POST", "/ingest", body, headers)
                c.getresponse().read()

        threads = [threading.Thread(target=work) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        s = sink.stats()
        return {"events": s["events"], "events_per_s": s.get("events_per_s", 0), "bytes_per_request": len(body)}
    finally:
        sink.stop()


def median_of(n, run, key):
    """Runs `run(k)` n times; the run with the median `key`, and every run's `key`."""
    runs = sorted((run(k) for k in range(n)), key=lambda r: r[key])
    result = dict(runs[n // 2])
    result[f"{key}_runs"] = [r[key] for r in runs]
    return result


def throughput(binary, shared, tmp, total, k=0):
    data = os.path.join(tmp, f"throughput-{k}")
    sink = Sink(shared)
    try:
        plain = write_config(os.path.join(tmp, "plain.yaml"))
        server = SluiceProcess(binary, data, ADMIN, SECRET, os.path.join(tmp, "throughput.log"), config=plain).start(timeout=60)
        bodies = ["\n".join(event(n) for n in range(s, min(s + 1000, total))).encode() for s in range(0, total, 1000)]
        push(server.port, bodies)
        server.signal(signal.SIGTERM)
        server = SluiceProcess(binary, data, ADMIN, SECRET, os.path.join(tmp, "throughput.log"), config=config(os.path.join(tmp, "one.yaml"), [sink]))
        started = time.time()
        server.start(timeout=60)
        deadline = time.time() + 300
        s = sink.stats()
        while s["events"] < total and time.time() < deadline:
            time.sleep(0.1)
            s = sink.stats()
        wall = time.time() - started
        sluice_cpu, sink_cpu = cpu_seconds(server.proc.pid), cpu_seconds(sink.proc.pid)
        server.signal(signal.SIGTERM)
        return {"events": s["events"], "requests": s["batches"], "events_per_s": s.get("events_per_s", 0),
                "events_per_s_from_start": s["events"] / wall, "complete": s["events"] >= total,
                "wall_s": wall, "sluice_cpu_s": sluice_cpu, "sink_cpu_s": sink_cpu}
    finally:
        sink.stop()


def lag_run(binary, shared, tmp, label, second_down, rate, seconds):
    healthy = Sink(shared)
    other = Sink(shared, "--status", "503") if second_down else Sink(shared)
    data = os.path.join(tmp, label)
    server = SluiceProcess(binary, data, ADMIN, SECRET, os.path.join(tmp, f"{label}.log"),
                           config=config(os.path.join(tmp, f"{label}.yaml"), [healthy, other])).start(timeout=60)
    acked = []  # (cumulative events, time acknowledged)
    lock = threading.Lock()
    total = [0]
    polls = []
    stop = threading.Event()
    try:
        def poll():
            c = http.client.HTTPConnection("127.0.0.1", healthy.port, timeout=10)
            while not stop.is_set():
                polls.append((healthy.stats(c)["events"], time.time()))
                time.sleep(0.01)

        per_request = 100
        pushers_count = 4
        interval = per_request / rate  # between requests, over all pushers
        count = int(rate * seconds / per_request)
        bodies = ["\n".join(event(n) for n in range(i * per_request, (i + 1) * per_request)).encode() for i in range(count)]
        start = time.time() + 0.2

        def pusher(k):
            c = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
            i = 0
            while True:
                index = pushers_count * i + k
                if index >= count:
                    return
                wait = start + index * interval - time.time()
                if wait > 0:
                    time.sleep(wait)
                c.request("POST", "/v1/feeds/default/events", bodies[index], {"X-Webhook-Access-Key": SECRET})
                r = c.getresponse()
                r.read()
                if r.status != 200:
                    raise RuntimeError(f"push failed: {r.status}")
                with lock:
                    total[0] += per_request
                    acked.append((total[0], time.time()))
                i += 1

        poller = threading.Thread(target=poll)
        poller.start()
        pushers = [threading.Thread(target=pusher, args=(k,)) for k in range(pushers_count)]
        for t in pushers:
            t.start()
        for t in pushers:
            t.join()
        deadline = time.time() + 30
        while time.time() < deadline and (not polls or polls[-1][0] < total[0]):
            time.sleep(0.05)
        stop.set()
        poller.join()
        lags = []
        j = 0
        for cumulative, at in acked:
            while j < len(polls) and polls[j][0] < cumulative:
                j += 1
            if j == len(polls):
                break
            lags.append(max(0.0, polls[j][1] - at))
        lags.sort()
        pushed_seconds = acked[-1][1] - acked[0][1] if len(acked) > 1 else 0
        other_stats = other.stats()
        return {
            "pushed": total[0], "ingest_events_per_s": total[0] / pushed_seconds if pushed_seconds else 0,
            "delivered": polls[-1][0] if polls else 0, "measured": len(lags),
            "lag_p50_ms": lags[len(lags) // 2] * 1000 if lags else None,
            "lag_p99_ms": lags[min(len(lags) - 1, int(len(lags) * 0.99))] * 1000 if lags else None,
            "lag_max_ms": lags[-1] * 1000 if lags else None,
            "second_destination": {"down": second_down, "requests": other_stats["batches"], "events": other_stats["events"]},
        }
    finally:
        stop.set()
        server.signal(signal.SIGTERM)
        healthy.stop()
        other.stop()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True)
    ap.add_argument("--shared", default=os.path.join(HERE, "..", "..", "shared", "bench"))
    ap.add_argument("--events", type=int, default=300_000)
    ap.add_argument("--rate", type=int, default=10_000)
    ap.add_argument("--seconds", type=int, default=20)
    ap.add_argument("--only", default="", help="comma-separated steps: sink_ceiling,throughput,lag_both_up,lag_one_down")
    args = ap.parse_args()
    sys.path.insert(0, os.path.join(args.shared, "lib"))
    import noise  # noqa: E402

    results = {"machine": {"cores": os.cpu_count(), "host": socket.gethostname()}, "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    with tempfile.TemporaryDirectory(prefix="sluice-delivery-bench-") as tmp:
        for name, run in [
            ("sink_ceiling", lambda: sink_ceiling(args.shared, 8)),
            ("throughput", lambda: median_of(3, lambda k: throughput(args.binary, args.shared, tmp, args.events, k), "events_per_s")),
            ("lag_both_up", lambda: lag_run(args.binary, args.shared, tmp, "both-up", False, args.rate, args.seconds)),
            ("lag_one_down", lambda: lag_run(args.binary, args.shared, tmp, "one-down", True, args.rate, args.seconds)),
        ]:
            if args.only and name not in args.only.split(","):
                continue
            result, foreign, attempts = noise.measure_clean(run, retries=1, max_wait=60)
            result["foreign_cores"] = round(foreign, 3)
            results[name] = result
            print(name, json.dumps(result), flush=True)
    if args.only:
        return
    up, down = results["lag_both_up"], results["lag_one_down"]
    results["ratios"] = {
        "throughput_vs_sink_ceiling": results["throughput"]["events_per_s"] / results["sink_ceiling"]["events_per_s"],
        "healthy_lag_p99_one_down_vs_both_up": down["lag_p99_ms"] / up["lag_p99_ms"] if up["lag_p99_ms"] else None,
    }
    print("ratios", json.dumps(results["ratios"]))
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    with open(os.path.join(HERE, "results", "delivery-latest.json"), "w") as f:
        json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
