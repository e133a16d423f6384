#!/usr/bin/env python3
"""Crash test for Sluice's at-least-once delivery.

Starts `sluice serve` with a Chronicle webhook destination pointing at a loopback sink that
follows the feed's wire format (protocols.md C.1: NDJSON, key and secret in headers, at most
1 MB) and answers slowly, with occasional 500s and 429s, so batches are in flight. Clients push
while the server is killed with SIGKILL and restarted, several times. Finally the server runs
until its destination has no lag. Every event the server acknowledged must have reached the
sink at least once; duplicates may only come from batches in flight at a kill, so there are at
most (kills x concurrency x batch size) of them.

Everything listens on 127.0.0.1 on ports chosen at runtime; every loop is bounded in time.
"""
import argparse
import collections
import hashlib
import http.server
import json
import os
import random
import signal
import sys
import tempfile
import threading
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from crash_recovery_test import SECRET, push_loop  # noqa: E402  (push_loop sends this feed secret)
from sluice_harness import Checks, SluiceProcess, write_config  # noqa: E402

ADMIN = "delivery-crash-admin-token"
API_KEY = "chronicle-api-key-crash"
FEED_SECRET = "chronicle-feed-secret-crash"
CONCURRENCY = 4
BATCH = 200


class Sink:
    """The Chronicle webhook feed double: counts every delivered event by its key."""

    def __init__(self):
        self.lock = threading.Lock()
        self.received = collections.Counter()
        self.requests = 0
        self.refused = collections.Counter()
        sink = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def answer(self, status, body, headers=()):
                data = json.dumps(body).encode()
                self.send_response(status)
                for name, value in headers:
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with sink.lock:
                    sink.requests += 1
                if not self.path.endswith(":importPushLogs") or "?" in self.path:
                    return self.answer(404, {"error": {"code": 404, "message": "feed not found", "status": "NOT_FOUND"}})
                if self.headers.get("X-goog-api-key") != API_KEY or self.headers.get("X-Webhook-Access-Key") != FEED_SECRET:
                    return self.answer(401, {"error": {"code": 401, "message": "unauthorized", "status": "UNAUTHENTICATED"}})
                if len(body) > 1_000_000:
                    return self.answer(413, {"error": {"code": 413, "message": "too large", "status": "INVALID_ARGUMENT"}})
                time.sleep(random.uniform(0.0, 0.08))
                roll = random.random()
                if roll < 0.05:
                    with sink.lock:
                        sink.refused[500] += 1
                    return self.answer(500, {"error": {"code": 500, "message": "internal", "status": "INTERNAL"}})
                if roll < 0.08:
                    with sink.lock:
                        sink.refused[429] += 1
                    return self.answer(429, {"error": {"code": 429, "message": "burst", "status": "RESOURCE_EXHAUSTED"}}, [("Retry-After", "0")])
                keys = []
                for line in body.split(b"\n"):
                    if line.strip():
                        event = json.loads(line)
                        keys.append((event["client"], event["iter"], event["n"]))
                with sink.lock:
                    sink.received.update(keys)
                self.answer(200, {})

        class Server(http.server.ThreadingHTTPServer):
            def handle_error(self, request, client_address):
                # A killed sender leaves answers with nobody to read them.
                if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
                    super().handle_error(request, client_address)

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def snapshot(self):
        with self.lock:
            return collections.Counter(self.received)

    def stop(self):
        self.server.shutdown()


def destination_status(port):
    req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/destinations", headers={"Authorization": f"Bearer {ADMIN}"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return {d["name"]: d for d in json.loads(r.read())["destinations"]}


def audit_actions(port, action):
    req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/events?feed=sluice&action={action}&limit=100",
                                 headers={"Authorization": f"Bearer {ADMIN}"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())["events"]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", required=True)
    parser.add_argument("--cycles", type=int, default=6)
    parser.add_argument("--clients", type=int, default=3)
    args = parser.parse_args()

    check = Checks()

    sink = Sink()
    with tempfile.TemporaryDirectory(prefix="sluice-delivery-crash-") as tmp:
        config = write_config(
            os.path.join(tmp, "sluice.yaml"),
            feed="log_type: CRASH_TEST\nnormalizer: generic",
            destinations=f"""  chronicle:
    type: chronicle_webhook
    url: "http://127.0.0.1:{sink.port}/v1alpha/projects/1/locations/us/instances/i/feeds/f:importPushLogs"
    api_key: {API_KEY}
    secret: {FEED_SECRET}
    allow_private_networks: true
    batch: {{ max_events: {BATCH}, max_wait: 50ms }}
    concurrency: {CONCURRENCY}
    retry: {{ base_delay: 50ms, max_delay: 1s }}
""",
            routes="  - { from: [default], to: [chronicle] }\n",
        )
        server = SluiceProcess(args.binary, os.path.join(tmp, "data"), ADMIN, SECRET, os.path.join(tmp, "server.log"), config=config)
        acked = []
        delivered_before_kill = []
        for cycle in range(args.cycles):
            server.start()
            stop = threading.Event()
            threads = [threading.Thread(target=push_loop, args=(server.port, c, cycle, acked, stop, time.time() + 10)) for c in range(args.clients)]
            for t in threads:
                t.start()
            time.sleep(random.uniform(0.8, 1.8))
            delivered_before_kill.append(sum(sink.snapshot().values()))
            server.signal(signal.SIGKILL)
            stop.set()
            for t in threads:
                t.join(timeout=15)
            print(f"cycle {cycle + 1}: killed with SIGKILL; {len(acked)} events acknowledged, {delivered_before_kill[-1]} deliveries so far")

        # The last start: nothing is pushed; delivery catches up with everything acknowledged.
        server.start()
        wanted = set(acked)
        deadline = time.time() + 120
        while time.time() < deadline and not wanted.issubset(sink.snapshot().keys()):
            time.sleep(0.2)
        status = {}
        while time.time() < deadline:
            status = destination_status(server.port).get("chronicle", {})
            if status.get("lag_events") == 0:
                break
            time.sleep(0.2)
        starts = audit_actions(server.port, "sluice.config_loaded")
        code = server.signal(signal.SIGTERM)
        sink.stop()

        received = sink.snapshot()
        missing = [k for k in wanted if k not in received]
        duplicates = sum(n - 1 for n in received.values() if n > 1)
        bound = args.cycles * CONCURRENCY * BATCH
        check("events were acknowledged in every cycle", len({k[1] for k in acked}) == args.cycles, f"{len(acked)} acknowledged")
        check(f"every acknowledged event reached the sink ({len(wanted)} acknowledged, {len(received)} distinct received)", not missing,
              f"{len(missing)} missing, e.g. {missing[:3]}")
        check(f"duplicates only from batches in flight at a kill ({duplicates} <= {bound})", duplicates <= bound)
        check("deliveries happened before the kills", sum(1 for n in delivered_before_kill if n > 0) >= args.cycles - 1, str(delivered_before_kill))
        check("the sink's faults were retried", sum(sink.refused.values()) > 0, str(dict(sink.refused)))
        check("the destination reports no lag and no dead letters", status.get("lag_events") == 0 and status.get("dead_letters") == 0, json.dumps(status))
        check("SIGTERM exits 0", code == 0, f"exit code {code}")
        with open(config, "rb") as f:
            config_digest = hashlib.sha256(f.read()).hexdigest()
        check(f"each start is in the audit log ({len(starts)} sluice.config_loaded) with the file's SHA-256",
              len(starts) == args.cycles + 1 and all(e["raw"]["metadata"]["config_sha256"] == config_digest for e in starts),
              json.dumps(starts[:1]))
        check("no secret of the config file is in those entries",
              not any(secret in json.dumps(starts) for secret in (ADMIN, API_KEY, FEED_SECRET, SECRET)))
        if check.failed:
            with open(os.path.join(tmp, "server.log"), errors="replace") as f:
                print("server log (last lines):\n" + "".join(f.readlines()[-20:]))
        print(f"sink: {sink.requests} requests, refused {dict(sink.refused)}, {duplicates} duplicate deliveries")

    return check.summary()


if __name__ == "__main__":
    sys.exit(main())
