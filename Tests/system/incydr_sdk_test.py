#!/usr/bin/env python3
"""The Incydr collector against a double the official SDK vouches for (incydr_sdk_double.py).

Every request `sluice collect` sends is checked against the `incydr` SDK's request models and
shapes (milliseconds in date filters, every member of the audit search, the cases' sort order,
a token request without a body, page tokens issued for that query); every answer is built from
the SDK's response models, and the SDK's own client first reads each endpoint back. Then:

1. all four streams in one run, with tokens the server drops after 2 s (advertised for 900),
   a 429 with Retry-After every 17th data request, and 25,000 audit entries in one window (the
   search serves at most 10,000 and never says how many there are): every item is stored
   exactly once and byte for byte as served, and SUPPORT_USER keeps its own actor type;
2. a second run stores nothing; after changes, a third stores exactly the new and changed items;
3. kill -9 of `sluice collect` twice in the middle of the file events, then a run to the end:
   every file event stored exactly once.
Any request the SDK would not send fails the test.

Run with the test venv's Python (scripts/test installs `incydr` there).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from incydr_sdk_double import IncydrSDKDouble, vouch  # noqa: E402
from sluice_harness import Checks, compare, kill_when, raw_member  # noqa: E402

CLIENT_ID = "key-sdk-test"
CLIENT_SECRET = "incydr-sdk-test-secret-value"


def write_config(path, base_url, streams, page_sizes):
    sizes = ", ".join(f"{k}: {v}" for k, v in page_sizes.items())
    with open(path, "w") as f:
        f.write(f"""collectors:
  incydr:
    type: code42_incydr
    allow_private_networks: true
    base_url: {base_url}
    client_id: {CLIENT_ID}
    client_secret: "${{env:INCYDR_SECRET}}"
    streams: [{", ".join(streams)}]
    lookback: 2h
    page_size: {{ {sizes} }}
    requests_per_minute: 100000
    retry: {{ attempts: 8, base_delay: 1s, max_delay: 2s }}
""")


class Sluice:
    def __init__(self, binary, config, data):
        self.binary, self.config, self.data = binary, config, data
        self.env = dict(os.environ, INCYDR_SECRET=CLIENT_SECRET)

    def command(self, *arguments):
        return [self.binary, *arguments, "--config", self.config, "--data-dir", self.data]

    def collect(self, *streams):
        extra = ["--stream", *streams] if streams else []
        done = subprocess.run(self.command("collect", "incydr", "--once", *extra), capture_output=True, text=True, env=self.env, timeout=600)
        reports = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
        return done, {r["stream"]: r for r in reports}

    def start_collect(self, *streams):
        return subprocess.Popen(self.command("collect", "incydr", "--once", "--stream", *streams),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=self.env)

    def export(self, *filters):
        done = subprocess.run(self.command("events", "export", "--format", "ndjson", "--feed", "incydr", *filters),
                              capture_output=True, text=True, env=self.env, timeout=600)
        if done.returncode != 0:
            raise RuntimeError(f"export failed: {done.stderr}")
        return [raw_member(line) for line in done.stdout.splitlines()]


def all_streams(binary, tmp, checks):
    double = IncydrSDKDouble(CLIENT_ID, CLIENT_SECRET)
    try:
        now = time.time()
        double.add_file_events(3000, now - 3000, spacing=0.9)
        double.add_audit_entries(25_000, now - 3300, spacing=0.12)
        double.set_users(230)
        double.set_cases(57)
        vouch(double, checks)
        # Now the ugly parts (the SDK's client reads shapes; Sluice also gets the faults).
        double.reset_stats()
        double.token_lifetime, double.advertised_expiry, double.throttle_every = 2.0, 900, 17
        config = os.path.join(tmp, "all.yaml")
        write_config(config, double.base_url, ["users", "audit", "cases", "file_events"],
                     {"file_events": 500, "audit": 2000, "users": 100, "cases": 20})
        sluice = Sluice(binary, config, os.path.join(tmp, "all-data"))

        done, reports = sluice.collect()
        checks("first run: exit status 0 and every stream succeeded",
               done.returncode == 0 and sorted(reports) == ["audit", "cases", "file_events", "users"]
               and all(r["outcome"] == "succeeded" for r in reports.values()), done.stdout + done.stderr[-2000:])
        checks("first run: no warnings (no audit window was left past the cap)", all(not r.get("warnings") for r in reports.values()),
               [r.get("warnings") for r in reports.values()])
        new = {s: r.get("events_new") for s, r in reports.items()}
        checks("first run: new events per stream", new == {"users": 230, "audit": 25_000, "cases": 57, "file_events": 3000}, new)
        compare(checks, "first run: every served item stored once, byte for byte", sluice.export(), double.served_items())
        with double.lock:
            stats = dict(double.stats)
            by_path = dict(stats["by_path"])
        checks("the audit count was asked before paging (search-results-count)", by_path.get("/v1/audit/search-results-count", 0) >= 7, by_path)
        checks("tokens dropped by the server were refreshed (401s answered, new tokens fetched)",
               stats["status_401"] > 0 and stats["token_requests"] > 1, stats)
        checks("429s with Retry-After were waited out", stats["status_429"] > 0 and sum(r["throttled"] for r in reports.values()) == stats["status_429"],
               (stats["status_429"], [r["throttled"] for r in reports.values()]))
        support = sluice.export("--actor-type", "support_user")
        checks("SUPPORT_USER entries keep their own actor type", len(support) == 25_000 // 4 and all('"actorType":"SUPPORT_USER"' in line for line in support),
               len(support))

        done, reports = sluice.collect()
        new = {s: r.get("events_new") for s, r in reports.items()}
        checks("second run: nothing new", done.returncode == 0 and new == {"users": 0, "audit": 0, "cases": 0, "file_events": 0}, new)

        later = time.time()
        double.add_file_events(200, later - 30, spacing=0.1, prefix="late")
        double.add_audit_entries(50, later - 20, spacing=0.2)
        double.set_users(230, revision=1)
        double.set_cases(57, status={5: "CLOSED", 9: "ARCHIVED"})
        done, reports = sluice.collect()
        new = {s: r.get("events_new") for s, r in reports.items()}
        checks("third run: exactly the new and changed items", done.returncode == 0 and new == {"users": 230, "audit": 50, "cases": 2, "file_events": 200},
               (new, done.stderr[-1000:]))
        stored = sluice.export()
        compare(checks, "third run: every file event and audit entry once, byte for byte",
                [line for line in stored if '"event":' in line or '"type$":' in line],
                [item for item in double.served_items() if '"event":' in item or '"type$":' in item])
        checks("third run: each user stored in both revisions", sum('"userId":' in line for line in stored) == 460)
        with double.lock:
            checks("every request was one the SDK would send", double.violations == [], double.violations[:5])
    finally:
        double.close()


def killed_midway(binary, tmp, checks):
    double = IncydrSDKDouble(CLIENT_ID, CLIENT_SECRET, throttle_every=23)
    try:
        now = time.time()
        double.add_file_events(3000, now - 3000, spacing=0.9)
        config = os.path.join(tmp, "kill.yaml")
        write_config(config, double.base_url, ["file_events"], {"file_events": 100})
        sluice = Sluice(binary, config, os.path.join(tmp, "kill-data"))
        double.page_delay = 0.1
        for kill in (1, 2):
            served_before = double.stats["by_path"].get("/v2/file-events", 0)
            running = kill_when(sluice.start_collect("file_events"), lambda: double.stats["by_path"].get("/v2/file-events", 0) >= served_before + 8)
            checks(f"kill {kill}: sluice collect was killed mid-walk", running)
        double.page_delay = 0.0
        done, reports = sluice.collect("file_events")
        checks("after two kill -9: the next run succeeds", done.returncode == 0 and reports.get("file_events", {}).get("outcome") == "succeeded",
               done.stdout + done.stderr[-1000:])
        compare(checks, "after two kill -9: every file event stored once, byte for byte", sluice.export(), double.served_items())
        with double.lock:
            checks("every request was one the SDK would send", double.violations == [], double.violations[:5])
    finally:
        double.close()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", required=True)
    args = parser.parse_args()
    checks = Checks()
    with tempfile.TemporaryDirectory() as tmp:
        all_streams(os.path.abspath(args.binary), tmp, checks)
        killed_midway(os.path.abspath(args.binary), tmp, checks)
    sys.exit(checks.summary())


if __name__ == "__main__":
    main()
