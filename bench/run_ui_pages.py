#!/usr/bin/env python3
"""Web UI page times with 1,000,000 events stored (issue 6: under 200 ms of server time a page).

    python3 bench/run_ui_pages.py --binary .build/release/sluice [--events 1000000]

All on 127.0.0.1. `sluice serve` (embedded default config plus a file destination) is filled
through the push API with incident.io audit entries spread over 365 days (10,000 a request), and
left to finish indexing. Then, signed in through the sign-in form, every page is fetched 20
times, one request at a time, over a kept-alive connection; the time is from sending the request
to the last byte of the answer, so it includes loopback HTTP. `/healthz` is measured the same
way in the same run as the floor of that overhead. Prints median and p95 per page and writes
bench/results/ui-pages-latest.json.
"""
import argparse
import http.client
import json
import os
import re
import statistics
import sys
import tempfile
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "Tests", "system"))
from sluice_harness import SluiceProcess, write_config  # noqa: E402

SECRET = "ui-bench-feed-secret-0123456789"
ADMIN = "ui-bench-admin-token-0123456789"
START = 1_763_000_000  # 2025-11-13: a year of events before the run's dates


def entry(n, start=START, step=31):
    """The n-th entry: one of 5,000 actors and 977 targets, `step` seconds after the one before."""
    return {
        "id": f"evt-{n}",
        "action": ["api_key.created", "user.logged_in", "secret.rotated", "workflow.updated", "schedule.deleted"][n % 5],
        "actor": {"id": f"actor-{n % 5000}", "type": ["user", "api_key", "system"][n % 3], "name": f"Actor Number {n % 5000}"},
        "context": {"location": f"10.{n % 250}.{n // 250 % 250}.1", "user_agent": "ui-bench"},
        "occurred_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start + n * step)),
        "targets": [{"id": f"target-{n % 977}", "type": "api_key", "name": f"Key {n % 977}"}],
        "version": 1,
    }


def fill(port, total, per_request=10_000, make=entry):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    for first in range(0, total, per_request):
        body = "\n".join(json.dumps(make(n)) for n in range(first, min(total, first + per_request)))
        conn.request("POST", "/v1/feeds/default/events", body, {"X-Webhook-Access-Key": SECRET})
        response = conn.getresponse()
        response.read()
        if response.status != 200:
            raise RuntimeError(f"push answered {response.status}")
    conn.close()


def sign_in(port):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", "/ui/sign-in")
    page = conn.getresponse()
    html = page.read().decode()
    cookie = re.search(r"sluice_signin=([^;]+)", page.getheader("Set-Cookie")).group(1)
    csrf = re.search(r'name="csrf" value="([^"]+)"', html).group(1)
    conn.request("POST", "/ui/sign-in", urllib.parse.urlencode({"csrf": csrf, "token": ADMIN}),
                 {"Content-Type": "application/x-www-form-urlencoded", "Cookie": f"sluice_signin={cookie}"})
    answer = conn.getresponse()
    answer.read()
    session = re.search(r"sluice_session=([^;]+)", answer.getheader("Set-Cookie")).group(1)
    conn.close()
    return f"sluice_session={session}"


def timed(port, path, cookie, repeat):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    times, size, status = [], 0, 0
    for _ in range(repeat):
        started = time.perf_counter()
        conn.request("GET", path, headers={"Cookie": cookie})
        response = conn.getresponse()
        body = response.read()
        times.append((time.perf_counter() - started) * 1000)
        size, status = len(body), response.status
    conn.close()
    times.sort()
    return {"path": path, "status": status, "bytes": size, "median_ms": round(statistics.median(times), 2),
            "p95_ms": round(times[int(len(times) * 0.95) - 1], 2), "max_ms": round(times[-1], 2)}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", required=True)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="sluice-ui-bench-") as tmp:
        config = write_config(os.path.join(tmp, "sluice.yaml"),
                              destinations=f"  archive:\n    type: file\n    path: {tmp}/archive\n",
                              routes="  - { from: [sluice], to: [archive] }\n")
        server = SluiceProcess(args.binary, os.path.join(tmp, "data"), ADMIN, SECRET, os.path.join(tmp, "server.log"), config=config).start()
        try:
            started = time.time()
            fill(server.port, args.events)
            filled = time.time() - started
            time.sleep(10)  # let the filter index catch up with the last commits
            cookie = sign_in(server.port)
            conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
            conn.request("GET", "/v1/events?limit=1", headers={"Authorization": f"Bearer {ADMIN}"})
            newest = json.loads(conn.getresponse().read())["events"][0]["id"]
            conn.close()
            pages = [
                "/healthz",
                "/ui/events",
                "/ui/events?actor=Actor+Number+4321",
                "/ui/events?action=user.*",
                "/ui/events?target=target-17&actor_type=api_key",
                "/ui/events?since=2026-03-01&until=2026-03-02",
                "/ui/events?since=2026-03-01&until=2026-03-02&zone=local&tz=330",
                "/ui/events?q=Key+976",
                "/ui/events?q=no-such-text",
                "/ui/events?actor=nobody-at-all",
                f"/ui/events/{newest}",
                "/ui/feeds",
                "/ui/collectors",
                "/ui/destinations",
                "/ui/workflows",
            ]
            results = [timed(server.port, path, cookie, args.repeat) for path in pages]
        finally:
            server.signal(15)
    floor = results[0]["median_ms"]
    print(f"{args.events:,} events stored in {filled:.0f} s; {args.repeat} requests a page, one at a time")
    print(f"{'page':<62} {'status':>6} {'median ms':>10} {'p95 ms':>8} {'max ms':>8} {'x healthz':>9}")
    for r in results:
        print(f"{r['path']:<62} {r['status']:>6} {r['median_ms']:>10} {r['p95_ms']:>8} {r['max_ms']:>8} {r['median_ms'] / floor:>9.1f}")
    out = {"events": args.events, "fill_seconds": round(filled, 1), "repeat": args.repeat, "pages": results}
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    with open(os.path.join(HERE, "results", "ui-pages-latest.json"), "w") as f:
        json.dump(out, f, indent=2)
    return 0 if all(r["status"] == 200 for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
