#!/usr/bin/env python3
"""Three `sluice serve` instances on one PostgreSQL: failover without loss.

The instances share a schema of the server the test script started (SLUICE_TEST_POSTGRES_URL).
Clients push to all three; a collector reads a loopback Incydr double (protocols.md A: OAuth with
HTTP Basic, `POST /v2/file-events` paged by pgToken, sorted by event.inserted, new events arriving
all the time); an HTTPS destination delivers everything to a loopback sink that answers slowly and
sometimes 500. The instance holding the destination's lease is killed with SIGKILL and restarted,
twice; then an instance is killed while its commit waits inside its transaction (a session holds
a lock every insert needs); then PostgreSQL itself is stopped as by a crash (`pg_ctl -m immediate`) while the pushes go
on: every instance's /readyz must fail and pushes get 503; then it starts again.

Checked at the end: every push an instance acknowledged is stored exactly once; every Incydr
event is stored exactly once; every stored event reached the sink; duplicates at the sink are
bounded by the delivery passes that can be in flight at a kill or the outage; every instance accepts
pushes again after the database restart. Everything listens on 127.0.0.1 on ports chosen at
runtime; every loop is bounded in time.
"""
import argparse
import base64
import collections
import datetime
import http.server
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sluice_harness import Checks, SluiceProcess  # noqa: E402

ADMIN = "pg-cluster-admin-token"
SECRET = "pg-cluster-feed-secret"
INCYDR_ID, INCYDR_SECRET = "cluster-client", "cluster-incydr-secret"
SINK_TOKEN = "cluster-sink-token"
BATCH, CONCURRENCY = 100, 2


def rfc3339_ms(t):
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def parse_time(text):
    return datetime.datetime.strptime(text.replace("Z", "+0000"), "%Y-%m-%dT%H:%M:%S.%f%z").timestamp()


class Loopback:
    """A threading HTTP server on 127.0.0.1 that ignores clients that went away."""

    def __init__(self, handler):
        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address):
                if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
                    super().handle_error(request, client_address)

        self.server = Server(("127.0.0.1", 0), handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()


def answer(handler, status, body):
    data = json.dumps(body).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)


class Incydr:
    """File events with ids fe-0, fe-1, ...: `initial` inserted over the last 50 minutes, then
    more inserted as time passes (by the `grow` thread)."""

    def __init__(self, initial):
        self.lock = threading.Lock()
        now = time.time()
        self.events = [(now - 3000 + i * 2900 / initial, f"fe-{i}") for i in range(initial)]
        self.stop_growing = threading.Event()
        incydr = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if self.path == "/v1/oauth":
                    expected = "Basic " + base64.b64encode(f"{INCYDR_ID}:{INCYDR_SECRET}".encode()).decode()
                    if self.headers.get("Authorization") != expected:
                        return answer(self, 401, {"error": "invalid_client"})
                    return answer(self, 200, {"access_token": "cluster-token", "token_type": "bearer", "expires_in": 900})
                if self.headers.get("Authorization") != "Bearer cluster-token":
                    return answer(self, 401, {"error": "unauthorized"})
                if self.path != "/v2/file-events":
                    return answer(self, 404, {"error": "not found"})
                query = json.loads(body)
                start, end = 0.0, float("inf")
                for group in query.get("groups", []):
                    for f in group.get("filters", []):
                        if f.get("term") == "event.inserted":
                            if f["operator"] == "ON_OR_AFTER":
                                start = parse_time(f["value"])
                            elif f["operator"] == "ON_OR_BEFORE":
                                end = parse_time(f["value"])
                with incydr.lock:
                    window = [e for e in incydr.events if start <= round(e[0], 3) <= end]
                size = int(query.get("pgSize", 100))
                offset = int(query.get("pgToken") or "0")
                page = window[offset:offset + size]
                more = offset + size < len(window)
                answer(self, 200, {
                    "totalCount": len(window),
                    "fileEvents": [incydr.render(t, i) for t, i in page],
                    "nextPgToken": str(offset + size) if more else None,
                    "problems": None,
                })

        self.http = Loopback(Handler)
        threading.Thread(target=self.grow, daemon=True).start()

    @staticmethod
    def render(inserted, event_id):
        n = int(event_id.split("-")[1])
        stamp = rfc3339_ms(inserted)
        return {"@timestamp": stamp, "event": {"id": event_id, "inserted": stamp, "action": "file-downloaded", "observer": "Endpoint"},
                "user": {"email": f"user{n % 7}@example.com", "id": f"u{n % 7}"},
                "file": {"name": f"report-{n}.pdf", "directory": "/home/u/", "sizeInBytes": 1000 + n},
                "destination": {"category": "Cloud Storage", "name": "Dropbox"}}

    def grow(self):
        while not self.stop_growing.wait(0.5):
            with self.lock:
                base = len(self.events)
                self.events += [(time.time(), f"fe-{base + i}") for i in range(5)]

    def ids(self):
        with self.lock:
            return {i for _, i in self.events}


class Sink:
    """The HTTPS destination's receiver: NDJSON with the bearer token; slow, sometimes 500."""

    def __init__(self):
        self.lock = threading.Lock()
        self.received = collections.Counter()
        sink = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if self.headers.get("Authorization") != f"Bearer {SINK_TOKEN}":
                    return answer(self, 401, {"error": "unauthorized"})
                time.sleep(random.uniform(0.0, 0.05))
                if random.random() < 0.05:
                    return answer(self, 500, {"error": "internal"})
                keys = [key_of(json.loads(line)) for line in body.split(b"\n") if line.strip()]
                with sink.lock:
                    sink.received.update(keys)
                answer(self, 200, {})

        self.http = Loopback(Handler)

    def snapshot(self):
        with self.lock:
            return collections.Counter(self.received)


def key_of(raw):
    if "client" in raw:
        return ("push", raw["client"], raw["n"])
    return ("incydr", raw["event"]["id"])


def push_loop(ports, client, acked, stop, deadline):
    """Pushes batches of 20 to the instances in turn; records what was acknowledged."""
    n = 0
    turn = client
    while not stop.is_set() and time.time() < deadline:
        turn += 1
        port = ports[turn % len(ports)]()
        batch = [{"client": client, "n": n + i, "pad": "x" * random.randint(10, 300)} for i in range(20)]
        n += 20
        req = urllib.request.Request(
            f"http://127.0.0.1:{port}/v1/feeds/default/events", data="\n".join(json.dumps(e) for e in batch).encode(), method="POST",
            headers={"X-Webhook-Access-Key": SECRET, "Content-Type": "application/x-ndjson"},
        )
        try:
            with urllib.request.urlopen(req, timeout=15) as r:
                reply = json.loads(r.read())
                if r.status == 200 and reply.get("accepted", 0) + reply.get("duplicates", 0) == len(batch):
                    acked.extend(("push", client, e["n"]) for e in batch)
        except (OSError, urllib.error.URLError, ValueError):
            time.sleep(0.02)


def status_of(url, data=None, headers=None):
    """The HTTP status of one request (None when no answer came within 15 s)."""
    req = urllib.request.Request(url, data=data, headers=headers or {}, method="POST" if data is not None else "GET")
    try:
        with urllib.request.urlopen(req, timeout=15) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except (OSError, urllib.error.URLError):
        return None


def admin_get(port, path, timeout=60):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers={"Authorization": f"Bearer {ADMIN}"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return r.read()


def stored(port, feed):
    keys = collections.Counter()
    for line in admin_get(port, f"/v1/events/export?format=ndjson&feed={feed}", timeout=300).splitlines():
        if line.strip():
            keys[key_of(json.loads(line)["raw"])] += 1
    return keys


def lease_token(url, schema, name):
    out = subprocess.run(["psql", url, "-Atc", f"SELECT token FROM {schema}.leases WHERE name = '{name}'"],
                         capture_output=True, text=True, timeout=30)
    return int(out.stdout.strip() or 0)


def lease_holder(url, schema, name):
    out = subprocess.run(["psql", url, "-Atc", f"SELECT holder FROM {schema}.leases WHERE name = '{name}' AND expires_at > 0"],
                         capture_output=True, text=True, timeout=30)
    return out.stdout.strip() or None


class _kept:
    def __init__(self, path):
        self.path = path
        os.makedirs(path, exist_ok=True)

    def __enter__(self):
        return self.path

    def __exit__(self, *exc):
        return False


def socket_ports(pid):
    """Local TCP ports of the sockets process `pid` holds (from /proc, no tools needed)."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            for line in f.readlines()[1:]:
                fields = line.split()
                if fields[9] in inodes:
                    ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def instance_waiting_in_commit(instances, url):
    """The instance whose PostgreSQL session waits for a lock inside a transaction, if any."""
    out = subprocess.run(["psql", url, "-Atc",
                          "SELECT a.client_port FROM pg_locks l JOIN pg_stat_activity a USING (pid) "
                          "WHERE NOT l.granted AND a.application_name = 'sluice' AND a.xact_start IS NOT NULL"],
                         capture_output=True, text=True, timeout=30).stdout.split()
    waiting = {int(p) for p in out if p.strip().lstrip("-").isdigit()}
    for instance in instances:
        if waiting & socket_ports(instance.proc.pid):
            return instance
    return None


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", required=True)
    parser.add_argument("--pg-dir", required=True, help="the cluster scripts/postgres-cluster started (for the crash restart)")
    parser.add_argument("--keep", help="keep configs and logs in this directory instead of a temporary one")
    args = parser.parse_args()
    url = os.environ["SLUICE_TEST_POSTGRES_URL"]
    schema = f"cluster_{random.randrange(1 << 30):x}"
    checks = Checks()
    incydr, sink = Incydr(3000), Sink()
    os.environ.update(PG_URL=url + "?sslmode=disable", INCYDR_SECRET=INCYDR_SECRET, SINK_TOKEN=SINK_TOKEN)
    with (tempfile.TemporaryDirectory() if not args.keep else _kept(args.keep)) as tmp:
        config = os.path.join(tmp, "sluice.yaml")
        with open(config, "w") as f:
            f.write(f"""storage:
  postgres: {{ url: "${{env:PG_URL}}", schema: {schema}, lease_ttl: 3s, timeout: 5s }}
server:
  admin_tokens:
    - {{ name: ops, role: admin, token: "${{env:SLUICE_ADMIN_TOKEN}}" }}
feeds:
  default: {{ secret: "${{env:SLUICE_DEFAULT_FEED_SECRET}}" }}
collectors:
  incydr:
    type: code42_incydr
    allow_private_networks: true
    base_url: http://127.0.0.1:{incydr.http.port}
    client_id: {INCYDR_ID}
    client_secret: "${{env:INCYDR_SECRET}}"
    streams: [file_events]
    schedule: {{ every: 1s }}
    lookback: 2h
    overlap: 30s
    page_size: {{ file_events: 200 }}
destinations:
  out:
    type: https
    url: http://127.0.0.1:{sink.http.port}/ingest
    bearer_token: "${{env:SINK_TOKEN}}"
    allow_private_networks: true
    batch: {{ max_events: {BATCH}, max_wait: 200ms }}
    concurrency: {CONCURRENCY}
    retry: {{ base_delay: 100ms, max_delay: 1s }}
routes:
  - {{ from: [default, incydr], to: [out] }}
""")
        instances = [SluiceProcess(args.binary, os.path.join(tmp, f"node{i}"), ADMIN, SECRET, os.path.join(tmp, f"node{i}.log"), config=config)
                     for i in range(3)]
        for instance in instances:
            instance.start()
        acked, stop = [], threading.Event()
        ports = [(lambda i=i: instances[i].port) for i in range(3)]
        pushers = [threading.Thread(target=push_loop, args=(ports, c, acked, stop, time.time() + 120)) for c in range(3)]
        for t in pushers:
            t.start()
        kills = 0
        try:
            for round_ in range(2):
                time.sleep(4)
                holder = lease_holder(url, schema, "destination/out")
                victim = next((x for x in instances if holder and f"/{x.proc.pid}/" in holder), None)
                checks(f"kill {round_ + 1}: one instance holds the destination's lease", victim is not None, holder)
                if victim is None:
                    continue
                victim.proc.send_signal(signal.SIGKILL)
                victim.proc.wait(timeout=30)
                kills += 1
                time.sleep(1)
                victim.start()
                taken = None
                deadline = time.time() + 30
                while time.time() < deadline:
                    taken = lease_holder(url, schema, "destination/out")
                    if taken and taken != holder:
                        break
                    time.sleep(0.2)
                checks(f"kill {round_ + 1}: another holding took the destination over", taken is not None and taken != holder, taken)
            # An instance dies in the middle of its commit: a session holds a lock that makes every
            # instance's insert wait inside its transaction, one instance is killed while its
            # transaction waits, then the lock is released. No commit orders the others (nothing
            # of the dead transaction may show, nor hold the others up once it is gone).
            locker = subprocess.Popen(["psql", url, "-v", "ON_ERROR_STOP=1", "-c",
                                       f"BEGIN; LOCK TABLE {schema}.events IN SHARE MODE; SELECT pg_sleep(4); COMMIT;"],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            victim, deadline = None, time.time() + 3.5
            while victim is None and time.time() < deadline:
                victim = instance_waiting_in_commit(instances, url)
                time.sleep(0.05)
            checks("an instance's commit waits inside its transaction", victim is not None)
            victim = victim or instances[2]
            victim.proc.send_signal(signal.SIGKILL)
            victim.proc.wait(timeout=30)
            kills += 1
            before_release = len(acked)
            locker.wait(timeout=60)
            victim.start()
            deadline = time.time() + 20
            while time.time() < deadline and len(acked) <= before_release:
                time.sleep(0.2)
            checks("after an instance died mid-commit, the others' commits are acknowledged", len(acked) > before_release)
            # PostgreSQL stops as if it crashed, with pushes going on: no instance may acknowledge
            # a push, every /readyz must fail, and a push must get 503; then it starts again.
            time.sleep(2)
            subprocess.run(["scripts/postgres-cluster", "crash-stop", args.pg_dir], check=True, timeout=120)
            down_at = len(acked)
            statuses = []
            for instance in instances:
                readyz = push = None
                deadline = time.time() + 30
                while time.time() < deadline and (readyz != 503 or push != 503):
                    readyz = status_of(f"http://127.0.0.1:{instance.port}/readyz")
                    push = status_of(f"http://127.0.0.1:{instance.port}/v1/feeds/default/events", data=b'{"client": 99, "n": 0}',
                                     headers={"X-Webhook-Access-Key": SECRET})
                    time.sleep(0.2)
                statuses.append((readyz, push))
            time.sleep(2)
            acked_while_down = len(acked) - down_at
            subprocess.run(["scripts/postgres-cluster", "resume", args.pg_dir], check=True, timeout=120)
            checks("while the database is down every /readyz fails and a push gets 503", all(s == (503, 503) for s in statuses), statuses)
            # A push in flight at the stop may still have been committed and acknowledged; after
            # the checks above, none can be: 4 s with the database down.
            print(f"     acknowledged while the database was down (pushes in flight at the stop): {acked_while_down}")
            before = len(acked)
            restarted = time.time()
            recovered = {}
            while time.time() < restarted + 60 and len(recovered) < 3:
                for i, instance in enumerate(instances):
                    if i in recovered:
                        continue
                    if status_of(f"http://127.0.0.1:{instance.port}/readyz") == 200:
                        recovered[i] = time.time() - restarted
                time.sleep(0.1)
            checks("after the database restart every instance is ready again", len(recovered) == 3, recovered)
            print(f"     ready again after the restart, seconds: {sorted(round(v, 2) for v in recovered.values())}")
            time.sleep(3)
            checks("pushes are acknowledged again after the restart", len(acked) > before, (before, len(acked)))
        finally:
            stop.set()
            for t in pushers:
                t.join(timeout=60)
            incydr.stop_growing.set()
        # Let delivery and the collector catch up, bounded.
        want_incydr = incydr.ids()
        deadline = time.time() + 120
        while time.time() < deadline:
            got = sink.snapshot()
            incydr_stored = stored(instances[0].port, "incydr")
            if all(k in got for k in acked) and len(incydr_stored) >= len(want_incydr) and all(k in got for k in incydr_stored):
                break
            time.sleep(1)
        pushes = stored(instances[0].port, "default")
        incydr_stored = stored(instances[0].port, "incydr")
        got = sink.snapshot()
        acked_set = set(acked)
        checks(f"every acknowledged push is stored ({len(acked_set)})", all(pushes[k] >= 1 for k in acked_set),
               f"{sum(1 for k in acked_set if pushes[k] == 0)} missing")
        checks("no push is stored twice", all(v == 1 for v in pushes.values()), [k for k, v in pushes.items() if v > 1][:5])
        checks(f"every Incydr event is stored ({len(want_incydr)})", {k[1] for k in incydr_stored} >= want_incydr,
               f"{len(want_incydr - {k[1] for k in incydr_stored})} missing")
        checks("no Incydr event is stored twice", all(v == 1 for v in incydr_stored.values()), [k for k, v in incydr_stored.items() if v > 1][:5])
        everything = set(pushes) | set(incydr_stored)
        checks(f"every stored event reached the destination ({len(everything)})", all(k in got for k in everything),
               f"{sum(1 for k in everything if k not in got)} missing")
        duplicates = sum(v - 1 for v in got.values() if v > 1)
        # A delivery pass reads up to max(500, batch x concurrency) events, sends them, and commits
        # its cursor only when all are settled: each new holding of the destination's lease (a kill,
        # the outage, or a renewal that came later than the 3 s lease on a loaded machine) and the
        # outage itself repeat at most one pass. Tokens only grow, one per holding.
        holdings = lease_token(url, schema, "destination/out")
        bound = max(kills + 1, holdings) * max(500, CONCURRENCY * BATCH)
        checks(f"duplicates at the destination only from delivery passes in flight ({duplicates} <= {bound})", duplicates <= bound)
        print(f"     pushed and acknowledged {len(acked_set)}, Incydr events {len(want_incydr)}, delivered {sum(got.values())} "
              f"({duplicates} duplicates), kills {kills}, holdings of the destination's lease {holdings}")
        for instance in instances:
            try:
                instance.signal(signal.SIGTERM)
            except subprocess.TimeoutExpired:
                checks("SIGTERM stops the instance within 60 s", False, instance.log_path)
                instance.proc.kill()
        incydr.http.stop()
        sink.http.stop()
        subprocess.run(["psql", url, "-qc", f"DROP SCHEMA {schema} CASCADE"], capture_output=True, timeout=60)
    return checks.summary()


if __name__ == "__main__":
    sys.exit(main())
