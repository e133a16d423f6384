#!/usr/bin/env python3
"""The four built-in `http_pull` presets against doubles their vendors' SDKs vouch for
(audit_log_doubles.py): okta_system_log, slack_audit_logs, duo_admin_logs, google_workspace_reports.

For each preset:
1. the vendor's SDK client reads everything the double serves back (the double is as real as
   the SDK can tell), and every request it sends passes the double's checks;
2. `sluice collect NAME --once` through the faults (429 with Retry-After, 500s, a page that
   repeats the previous one, an empty last page): every record stored exactly once, byte for
   byte as served; every request Sluice sent is one the SDK would send (signature, parameters);
3. a second run stores nothing;
4. an expired credential: the access tokens of Google and of an Okta service app (OAuth with
   private_key_jwt) expire mid-run and are fetched again; the static keys of Okta, Slack and Duo
   are refused, and the run fails naming the 401 while storing nothing
   and leaving the checkpoint, and succeeds once the key is good again;
5. more records, `sluice collect` killed with SIGKILL twice mid-run, then a run to the end:
   every record stored exactly once.

Run with the test venv's Python (scripts/test installs okta, slack-sdk, duo-client and
google-api-python-client there).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from audit_log_doubles import (DuoDouble, GoogleDouble, OktaDouble, SlackDouble, iso, vouch_duo,  # noqa: E402
                               vouch_google, vouch_okta, vouch_slack)
from sluice_harness import Checks, compare, kill_when, raw_member  # noqa: E402

COMMON = """    allow_private_networks: true
    lookback: 2h
    requests_per_minute: 100000
    retry: { attempts: 8, base_delay: 1s, max_delay: 2s }
"""


class Sluice:
    def __init__(self, binary, tmp, name, body, env):
        self.binary, self.name, self.env = binary, name, dict(os.environ, **env)
        self.config = os.path.join(tmp, f"{name}.yaml")
        self.data = os.path.join(tmp, f"{name}-data")
        with open(self.config, "w") as f:
            f.write(f"collectors:\n  {name}:\n{body}{COMMON}")

    def command(self, *arguments):
        return [self.binary, *arguments, "--config", self.config, "--data-dir", self.data]

    def check_config(self):
        return subprocess.run([self.binary, "config", "check", self.config], capture_output=True, text=True, env=self.env, timeout=60)

    def collect(self):
        done = subprocess.run(self.command("collect", self.name, "--once"), capture_output=True, text=True, env=self.env, timeout=600)
        reports = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
        return done, {r["stream"]: r for r in reports}

    def start_collect(self):
        return subprocess.Popen(self.command("collect", self.name, "--once"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=self.env)

    def export(self):
        done = subprocess.run(self.command("events", "export", "--format", "ndjson", "--feed", self.name),
                              capture_output=True, text=True, env=self.env, timeout=600)
        if done.returncode != 0:
            raise RuntimeError(f"export failed: {done.stderr}")
        return [line for line in done.stdout.splitlines() if line]


def exercise(checks, label, sluice, double, streams, add_more, static_key):
    """Steps 2-5 of the module's docstring, for one preset."""
    done = sluice.check_config()
    checks(f"{label}: config check accepts the preset", done.returncode == 0, done.stdout + done.stderr)
    double.reset_stats()
    double.throttle_every, double.fail_every, double.repeat_every, double.empty_last_page = 4, 6, 2, True
    done, reports = sluice.collect()
    checks(f"{label}: first run through the faults succeeds on every stream",
           done.returncode == 0 and sorted(reports) == sorted(streams) and all(r["outcome"] == "succeeded" for r in reports.values()),
           done.stdout[-1500:] + done.stderr[-1500:])
    stored = sluice.export()
    compare(checks, f"{label}: every record stored exactly once, byte for byte", [raw_member(line) for line in stored], double.served_items())
    with double.lock:
        stats = dict(double.stats)
    checks(f"{label}: the faults happened (429, 500, a repeated page, an empty last page)",
           stats["status_429"] > 0 and stats["status_500"] > 0 and stats["repeats"] > 0 and stats["empty_pages"] > 0, stats)
    checks(f"{label}: the 429s were counted as throttled", sum(r.get("throttled", 0) for r in reports.values()) == stats["status_429"],
           ([r.get("throttled") for r in reports.values()], stats["status_429"]))
    # Each 429 says how long to wait (Retry-After; Okta's X-Rate-Limit-Reset), and was read.
    checks(f"{label}: every 429 was waited out as long as it asked", "rate limited; asked to wait" in done.stderr
           and "no wait asked" not in done.stderr, done.stderr[-600:])

    done, reports = sluice.collect()
    new = sum(r.get("events_new", 0) for r in reports.values())
    checks(f"{label}: a second run stores nothing new", done.returncode == 0 and new == 0, (new, done.stderr[-800:]))

    count_before = len(sluice.export())
    if static_key:
        double.credential_valid = False
        done, reports = sluice.collect()
        failed = [r for r in reports.values() if r["outcome"] != "succeeded"]
        checks(f"{label}: with the key refused, the run fails naming the 401",
               done.returncode != 0 and failed and all("401" in (r.get("error") or "") for r in failed), done.stdout[-800:] + done.stderr[-800:])
        checks(f"{label}: the refused key never appears in the output", static_key not in done.stdout + done.stderr)
        double.credential_valid = True
        add_more()
        served = len(double.served_items())
        done, reports = sluice.collect()
        checks(f"{label}: with the key good again, a run stores exactly the new records",
               done.returncode == 0 and len(sluice.export()) == served, (count_before, len(sluice.export()), served, done.stderr[-800:]))
    else:
        # The access tokens expire mid-run, long before the hour they were issued for: the
        # collector is refused (401), fetches another and goes on.
        add_more()
        served = len(double.served_items())
        with double.lock:
            pages, tokens_before = double.stats["pages"], double.stats["token_requests"]
        double.page_delay = 0.3
        process = sluice.start_collect()
        deadline = time.time() + 60
        while time.time() < deadline and process.poll() is None and double.stats["pages"] < pages + 1:
            time.sleep(0.02)
        double.expire_access_tokens()
        process.wait(timeout=600)
        double.page_delay = 0.0
        checks(f"{label}: with the access tokens expired mid-run, the run stores exactly the new records",
               process.returncode == 0 and len(sluice.export()) == served, (process.returncode, count_before, len(sluice.export()), served))
        with double.lock:
            checks(f"{label}: the expired access tokens were refused and another fetched",
                   double.stats["status_401"] > 0 and double.stats["token_requests"] > tokens_before, double.stats)

    # kill -9 twice mid-run, then a run to the end.
    add_more(big=True)
    double.page_delay = 0.25
    for kill in (1, 2):
        with double.lock:
            pages = double.stats["pages"]
        running = kill_when(sluice.start_collect(), lambda: double.stats["pages"] >= pages + 2)
        checks(f"{label}: kill {kill}: sluice collect was killed mid-run", running)
    double.page_delay = 0.0
    done, reports = sluice.collect()
    checks(f"{label}: after two kill -9, the next run succeeds", done.returncode == 0, done.stdout[-800:] + done.stderr[-800:])
    compare(checks, f"{label}: after two kill -9, every record stored exactly once, byte for byte",
            [raw_member(line) for line in sluice.export()], double.served_items())
    with double.lock:
        checks(f"{label}: every request was one the SDK would send", double.violations == [], double.violations[:5])


def okta(binary, tmp, checks):
    double = OktaDouble("00Okta-test-api-token-value")
    try:
        now = time.time()
        double.add_events(2500, now - 3000, 1.0)
        vouch_okta(double, checks, iso(now - 3600))
        sluice = Sluice(binary, tmp, "okta", f"    type: okta_system_log\n    base_url: {double.base_url}\n    token: \"${{env:OKTA_TOKEN}}\"\n",
                        {"OKTA_TOKEN": double.token})

        def more(big=False):
            start = time.time() - 5
            double.add_events(4500 if big else 300, start - (4.5 if big else 0.3), 0.001)

        exercise(checks, "okta", sluice, double, ["system_log"], more, static_key=double.token)
    finally:
        double.close()


def okta_service_app(binary, tmp, checks):
    """The same preset as a service app: OAuth 2.0 client credentials proven with the app's
    private key (private_key_jwt), access tokens that expire early and are fetched again."""
    double = OktaDouble(None, client_id="0oa8sluiceservice4app")
    try:
        now = time.time()
        double.add_events(2500, now - 3000, 1.0)
        vouch_okta(double, checks, iso(now - 3600))
        key_file = os.path.join(tmp, "okta-app.pem")
        with open(key_file, "w") as f:
            f.write(double.app_key_pem)
        sluice = Sluice(binary, tmp, "okta_app", f"    type: okta_system_log\n    base_url: {double.base_url}\n"
                        f"    client_id: {double.client_id}\n    private_key: \"${{file:{key_file}}}\"\n", {})

        def more(big=False):
            double.add_events(4500 if big else 300, time.time() - 10, 0.001)

        exercise(checks, "okta service app", sluice, double, ["system_log"], more, static_key=None)
        with double.lock:
            checks("okta service app: every client assertion was accepted (signature, claims, a jti never used before)",
                   double.refused_assertions == [] and double.stats["token_requests"] > 1, (double.refused_assertions[:3], double.stats))
    finally:
        double.close()


def slack(binary, tmp, checks):
    double = SlackDouble("xoxp-slack-test-token-value")
    try:
        now = time.time()
        double.add_entries(2500, now - 3000, 1.0)
        vouch_slack(double, checks, int(now - 3600), int(now))
        sluice = Sluice(binary, tmp, "slack", f"    type: slack_audit_logs\n    base_url: {double.base_url}\n    token: \"${{env:SLACK_TOKEN}}\"\n",
                        {"SLACK_TOKEN": double.token})

        def more(big=False):
            double.add_entries(4500 if big else 300, time.time() - 100, 0.02)

        exercise(checks, "slack", sluice, double, ["logs"], more, static_key=double.token)
    finally:
        double.close()


def duo(binary, tmp, checks):
    double = DuoDouble("DIWJ8X6AEYOR5OMC6TQ1", "Zh5eGmUq9zpfQnyUIu5OL9iWoMMv5ZNmk3zLJ4Ep")
    try:
        now = time.time()
        double.add_authentications(2500, now - 3000, 1.0)
        double.add_administrator(1200, now - 3000, 3)
        double.add_telephony(1500, now - 3000, 1.5)
        vouch_duo(double, checks, now - 3600)
        sluice = Sluice(binary, tmp, "duo", f"    type: duo_admin_logs\n    base_url: {double.base_url}\n"
                        "    integration_key: DIWJ8X6AEYOR5OMC6TQ1\n    secret_key: \"${env:DUO_SKEY}\"\n", {"DUO_SKEY": double.secret_key})

        def more(big=False):
            double.add_authentications(4500 if big else 300, time.time() - 100, 0.02)
            double.add_administrator(2500 if big else 50, time.time() - 60, 50)
            double.add_telephony(100, time.time() - 60, 0.5)

        exercise(checks, "duo", sluice, double, ["authentication", "administrator", "telephony"], more, static_key=double.secret_key)
    finally:
        double.close()


def google(binary, tmp, checks):
    double = GoogleDouble("admin@example.com")
    applications = ["login", "admin", "drive", "token"]
    try:
        now = time.time()
        for i, application in enumerate(applications):
            double.add_activities(application, 1200 + 100 * i, now - 3000, 2.0)
        vouch_google(double, checks, applications, iso(now - 3600), iso(now + 60))
        key_file = os.path.join(tmp, "service-account.json")
        with open(key_file, "w") as f:
            json.dump(double.service_account, f)
        sluice = Sluice(binary, tmp, "workspace", f"    type: google_workspace_reports\n    base_url: {double.base_url}\n"
                        f"    credentials_file: {key_file}\n    subject: {double.subject}\n", {})

        def more(big=False):
            double.add_activities("login", 4500 if big else 300, time.time() - 100, 0.02)
            double.add_activities("drive", 100, time.time() - 60, 0.5)

        exercise(checks, "google", sluice, double, applications, more, static_key=None)
    finally:
        double.close()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", required=True)
    parser.add_argument("--only", choices=["okta", "okta_service_app", "slack", "duo", "google"])
    args = parser.parse_args()
    checks = Checks()
    binary = os.path.abspath(args.binary)
    with tempfile.TemporaryDirectory() as tmp:
        for name, scenario in [("okta", okta), ("okta_service_app", okta_service_app), ("slack", slack), ("duo", duo), ("google", google)]:
            if args.only in (None, name):
                scenario(binary, tmp, checks)
    sys.exit(checks.summary())


if __name__ == "__main__":
    main()
