#!/usr/bin/env python3
"""Pushes signed by the official Standard Webhooks library (PyPI `standardwebhooks`), as
incident.io signs its audit-log deliveries, over real HTTP to a real `sluice serve`.

A feed with two `whsec_` secrets (a rotation): deliveries signed with either are stored, byte for
byte; a signature header holding an unknown signature beside a valid one is accepted (the
library sends several during its own rotations); a replayed webhook-id is acknowledged and stored
once; a stale or future timestamp, another secret, a changed body and missing headers get the
same 401 and store nothing, each counted under its reason.

Run with the test venv's Python (scripts/test installs `standardwebhooks` there).
"""
import argparse
import base64
import json
import os
import re
import secrets
import sys
import tempfile
import urllib.error
import urllib.request
from datetime import datetime, timedelta, timezone

from standardwebhooks import Webhook

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sluice_harness import Checks, SluiceProcess  # noqa: E402

ADMIN = "standard-webhooks-admin-token"
# incident.io's public audit-log examples (shared/fixtures/public, copied with the unit tests' fixtures).
FIXTURE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "SluiceTests", "Fixtures", "incidentio_audit_log_entries.ndjson")


def new_secret():
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def raw_member(line):
    """The `raw` member of one exported NDJSON event: the bytes as received (it is the last member,
    and every string before it escapes its quotes, so the first `,"raw":` is the member)."""
    start = line.index(',"raw":') + len(',"raw":')
    return line[start:-1]


class Feed:
    def __init__(self, port):
        self.base = f"http://127.0.0.1:{port}"

    def push(self, body, headers):
        request = urllib.request.Request(f"{self.base}/v1/feeds/incident-io/events", data=body, method="POST",
                                         headers=dict(headers, **{"Content-Type": "application/x-ndjson"}))
        try:
            with urllib.request.urlopen(request, timeout=30) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"{}")

    def get(self, path, admin=True):
        request = urllib.request.Request(self.base + path, headers={"Authorization": f"Bearer {ADMIN}"} if admin else {})
        with urllib.request.urlopen(request, timeout=30) as r:
            return r.read().decode()

    def stored(self):
        return [raw_member(line) for line in self.get("/v1/events/export?format=ndjson&feed=incident-io").splitlines()]


def signed(webhook, body, msg_id, at=None):
    at = at or datetime.now(timezone.utc)
    return {"webhook-id": msg_id, "webhook-timestamp": str(int(at.timestamp())), "webhook-signature": webhook.sign(msg_id, at, body)}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", required=True)
    args = parser.parse_args()
    checks = Checks()
    old, new = new_secret(), new_secret()
    with open(FIXTURE, "rb") as f:
        entries = [line for line in f.read().splitlines() if line.strip()]
    with tempfile.TemporaryDirectory() as tmp:
        config = os.path.join(tmp, "sluice.yaml")
        with open(config, "w") as f:
            f.write(f"""server:
  admin_tokens:
    - {{ name: ops, role: admin, token: "${{env:SLUICE_ADMIN_TOKEN}}" }}
retention:
  days: 3650                        # the public examples occurred in 2021
feeds:
  incident-io:
    log_type: INCIDENT_IO
    verify:
      standard_webhooks:
        secrets: ["{old}", "{new}"]
""")
        process = SluiceProcess(args.binary, os.path.join(tmp, "data"), ADMIN, "unused-feed-secret", config=config).start()
        feed = Feed(process.port)
        try:
            first = b"\n".join(entries[:2]) + b"\n"
            status, answer = feed.push(first, signed(Webhook(old), first, "msg_2Vtq1"))
            checks("signed with the older secret: stored", status == 200 and answer == {"accepted": 2, "duplicates": 0}, f"{status} {answer}")
            second = b"\n".join(entries[2:]) + b"\n"
            status, answer = feed.push(second, signed(Webhook(new), second, "msg_2Vtq2"))
            checks("signed with the newer secret (rotation): stored", status == 200 and answer == {"accepted": len(entries) - 2, "duplicates": 0},
                   f"{status} {answer}")

            # The library signs during its own rotation with several keys: one valid signature suffices.
            third = json.dumps({"action": "api_key.created", "n": 3, "occurred_at": "2026-12-06T10:00:00.000000Z", "version": 1}).encode()
            headers = signed(Webhook(new), third, "msg_2Vtq3")
            stranger = signed(Webhook(new_secret()), third, "msg_2Vtq3", datetime.fromtimestamp(int(headers["webhook-timestamp"]), timezone.utc))
            headers["webhook-signature"] = stranger["webhook-signature"] + " " + headers["webhook-signature"]
            status, answer = feed.push(third, headers)
            checks("an unknown signature beside a valid one: stored", status == 200 and answer == {"accepted": 1, "duplicates": 0}, f"{status} {answer}")

            # A replay: the same webhook-id and body, signed again a little later.
            status, answer = feed.push(first, signed(Webhook(old), first, "msg_2Vtq1", datetime.now(timezone.utc) + timedelta(seconds=2)))
            checks("a replayed webhook-id: acknowledged as duplicates", status == 200 and answer == {"accepted": 0, "duplicates": 2}, f"{status} {answer}")

            refused = {
                "stale timestamp (10 minutes old)": (first, signed(Webhook(old), first, "msg_stale", datetime.now(timezone.utc) - timedelta(minutes=10))),
                "timestamp 10 minutes ahead": (first, signed(Webhook(old), first, "msg_future", datetime.now(timezone.utc) + timedelta(minutes=10))),
                "another secret": (first, signed(Webhook(new_secret()), first, "msg_other")),
                "body changed after signing": (first.replace(b"api_key", b"api_kez", 1), signed(Webhook(old), first, "msg_tampered")),
                "no signature headers": (first, {}),
            }
            bodies = set()
            for name, (body, headers) in refused.items():
                status, answer = feed.push(body, headers)
                bodies.add(json.dumps(answer, sort_keys=True))
                checks(f"{name}: 401", status == 401, f"{status} {answer}")
            checks("every refusal has the same body", len(bodies) == 1, bodies)

            stored = feed.stored()
            wanted = [e.decode() for e in entries] + [third.decode()]
            checks("stored: every accepted event once, byte for byte", sorted(stored) == sorted(wanted),
                   f"{len(stored)} stored, {len(wanted)} accepted")
            metrics = feed.get("/metrics", admin=False)
            for reason, count in [("timestamp_outside_tolerance", 2), ("signature_mismatch", 2), ("missing_signature_headers", 1)]:
                pattern = rf'sluice_push_auth_failures_total\{{[^}}]*reason="{reason}"[^}}]*\}} (\d+)'
                found = [int(m) for m in re.findall(pattern, metrics)]
                checks(f"refusals counted: {reason} = {count}", sum(found) == count, found)
        finally:
            process.signal(15)
    sys.exit(checks.summary())


if __name__ == "__main__":
    main()
