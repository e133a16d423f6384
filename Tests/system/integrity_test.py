#!/usr/bin/env python3
"""Tamper evidence end to end: a real `sluice serve` on a real SQLite file, changed behind its back.

    python3 Tests/system/integrity_test.py --binary .build/debug/sluice

1. Events pushed, the instance stopped (its last checkpoint covers them): `sluice verify` exits 0.
2. kill -9 while pushing: after the restart and a clean stop, every event is covered (nothing
   was left between a commit and its checkpoint).
3. `sluice events export --with-proof`: the export verified offline by docs/examples/verify_export.py
   (standard library and `cryptography` only) with the public key; one byte changed, refused.
4. On copies of the database, each change made with SQL (a row deleted, an event's time changed,
   two events' seqs swapped, a checkpoint deleted, the newest checkpoint deleted, a key file opened
   to others) makes `sluice verify` exit 1 naming exactly that change, and nothing else.
Nothing outside 127.0.0.1 is contacted.
"""
import argparse
import base64
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sluice_harness import Checks, SluiceProcess, write_config  # noqa: E402

ADMIN = "integrity-admin-token-0123456789"
SECRET = "integrity-feed-secret-0123456789"
# The config's secret references, for the CLI's own reading of it.
ENV = dict(os.environ, SLUICE_ADMIN_TOKEN=ADMIN, SLUICE_DEFAULT_FEED_SECRET=SECRET)


def push(port, n, start=0):
    for i in range(start, start + n):
        body = json.dumps({"action": "user.login", "occurred_at": f"2026-12-06T10:{i // 60 % 60:02d}:{i % 60:02d}Z", "actor": {"id": f"u{i}"},
                           "id": f"evt-{i}"}).encode()
        request = urllib.request.Request(f"http://127.0.0.1:{port}/v1/feeds/default/events", data=body, method="POST",
                                         headers={"X-Webhook-Access-Key": SECRET, "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as r:
            assert r.status == 200


def verify(binary, data, *extra):
    result = subprocess.run([binary, "verify", "--data-dir", data, "--json", *extra], capture_output=True, text=True, timeout=120, env=ENV)
    report = json.loads(result.stdout) if result.stdout.strip() else {}
    return result.returncode, report, result.stderr


def checkpoints(db):
    with sqlite3.connect(db) as c:
        return [seq for (seq,) in c.execute(
            "SELECT seq FROM events WHERE log_type IN (SELECT id FROM labels WHERE CAST(value AS TEXT) = 'SLUICE_INTEGRITY') ORDER BY seq")]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", required=True)
    parser.add_argument("--python", default=os.path.join(os.environ.get("SLUICE_TEST_VENV", ".build/test-venv"), "bin", "python"),
                        help="a Python with `cryptography`, for the docs' verifier")
    args = parser.parse_args()
    checks = Checks()
    with tempfile.TemporaryDirectory() as tmp:
        data = os.path.join(tmp, "data")
        config = write_config(os.path.join(tmp, "sluice.yaml"), feed="log_type: JSON")
        with open(config, "a") as f:
            f.write("integrity: { interval: 1s }\n")
        sluice = SluiceProcess(args.binary, data, ADMIN, SECRET, os.path.join(tmp, "serve.log"), config=config).start(60)
        # Three bursts more than the interval apart: a checkpoint after each.
        for burst in range(3):
            push(sluice.port, 15, start=burst * 15)
            time.sleep(1.5)
        checks("a clean stop exits 0", sluice.signal(signal.SIGTERM) == 0)
        code, report, _ = verify(args.binary, data, "--config", config)
        checks("sluice verify: intact after a clean stop", code == 0 and report.get("intact") is True and report["pending"]["count"] == 0,
               json.dumps(report))

        # kill -9 mid-stream: what was committed is covered by the next checkpoint after restart.
        sluice.start(60)
        push(sluice.port, 30, start=45)
        sluice.signal(signal.SIGKILL)
        code, report, _ = verify(args.binary, data, "--config", config)
        # Usually the last pushes beat the next checkpoint: pending, and verify fails on them.
        pending = report.get("pending", {}).get("count", -1)
        checks("after kill -9 nothing is damaged; events newer than the last checkpoint fail verify as pending",
               report.get("problems") == [] and pending >= 0 and code == (1 if pending else 0), json.dumps(report))
        code, report, _ = verify(args.binary, data, "--config", config, "--allow-pending")
        checks("--allow-pending: intact", code == 0, json.dumps(report))
        sluice.start(60)
        # The API's export with proofs, once a checkpoint has covered everything (interval 1 s).
        time.sleep(2.5)
        request = urllib.request.Request(f"http://127.0.0.1:{sluice.port}/v1/events/export?format=ndjson&proof=true",
                                         headers={"Authorization": f"Bearer {ADMIN}"})
        combined = os.path.join(tmp, "api-export.ndjson")
        with urllib.request.urlopen(request, timeout=60) as r, open(combined, "wb") as f:
            f.write(r.read())
        checks("after the restart and a clean stop", sluice.signal(signal.SIGTERM) == 0)
        code, report, _ = verify(args.binary, data, "--config", config)
        checks("every event committed before the kill is covered", code == 0 and report["pending"]["count"] == 0, json.dumps(report))
        # A verifiable export, checked with nothing of Sluice's but the public key.
        exported = os.path.join(tmp, "export.ndjson")
        result = subprocess.run([args.binary, "events", "export", "--format", "ndjson", "--with-proof", "--out", exported, "--data-dir", data,
                                 "--config", config], capture_output=True, text=True, timeout=120, env=ENV)
        checks("export with proofs", result.returncode == 0 and os.path.exists(exported + ".proofs.ndjson"), result.stderr)
        key = subprocess.run([args.binary, "integrity", "public-key", "--data-dir", data, "--config", config], capture_output=True, text=True,
                             timeout=60, env=ENV).stdout.split()[0]
        verifier = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "docs", "examples", "verify_export.py")
        offline = subprocess.run([args.python, verifier, exported, key], capture_output=True, text=True, timeout=120)
        with open(exported) as f:
            lines = f.read().splitlines()
        checks("the docs' Python verifier accepts the export", offline.returncode == 0 and f"intact: {len(lines)} events verified" in offline.stdout,
               offline.stdout + offline.stderr)
        # One byte of one event's action changed in the export.
        victim = next(i for i, line in enumerate(lines) if '"action":"user.login"' in line)
        lines[victim] = lines[victim].replace('"action":"user.login"', '"action":"user.logon"', 1)
        with open(exported, "w") as f:
            f.write("\n".join(lines) + "\n")
        offline = subprocess.run([args.python, verifier, exported, key], capture_output=True, text=True, timeout=120)
        checks("one byte changed: the verifier refuses exactly that event", offline.returncode == 1 and offline.stdout.count("FAIL") == 1
               and "not the event its checkpoint covers" in offline.stdout, offline.stdout)
        offline = subprocess.run([args.python, verifier, combined, key], capture_output=True, text=True, timeout=120)
        checks("the API's export with proof=true verifies offline too", offline.returncode == 0 and "intact:" in offline.stdout,
               offline.stdout[-500:] + offline.stderr[-500:])
        other = base64.b64encode(os.urandom(32)).decode()
        offline = subprocess.run([args.python, verifier, exported + "", other], capture_output=True, text=True, timeout=120)
        checks("another public key verifies nothing", offline.returncode == 1, offline.stdout[-300:])

        # A seq range verifies only the checkpoints covering it; a bad range is refused with exit 2.
        code, report, _ = verify(args.binary, data, "--config", config, "--first-seq", "1", "--last-seq", "5")
        checks("verify --first-seq/--last-seq: only the first checkpoint", code == 0 and report["checkpoints"] == 1, json.dumps(report))
        code, _, err = verify(args.binary, data, "--config", config, "--since", "yesterday")
        checks("verify --since yesterday: refused, naming the option", code == 2 and "--since yesterday" in err, err)

        db = os.path.join(data, "sluice.db")
        marks = checkpoints(db)
        checks("several checkpoints were written", len(marks) >= 3, str(marks))

        def tampered(name, statements, expect):
            copy = os.path.join(tmp, name)
            shutil.copytree(data, copy)
            with sqlite3.connect(os.path.join(copy, "sluice.db")) as c:
                for sql in statements:
                    c.execute(sql)
            code, report, _ = verify(args.binary, copy, "--config", config)
            problems = report.get("problems", [])
            # Each expected problem is a text, or a tuple of texts, found in that problem.
            ok = code == 1 and len(problems) == len(expect) and all(
                all(part in p for part in (e if isinstance(e, tuple) else (e,))) for e, p in zip(expect, problems))
            checks(f"verify names exactly: {name}", ok, json.dumps(problems))

        first = marks[0]
        tampered("row-deleted", [f"DELETE FROM events WHERE seq = {first - 2}"], [f"events {first - 2} are covered by checkpoint seq {first}"])
        changed = lambda seq: (f"event seq {seq} (", f") changed after checkpoint seq {first} covered it")
        tampered("time-changed", [f"UPDATE events SET occurred_at = occurred_at + 1 WHERE seq = {first - 3}"], [changed(first - 3)])
        tampered("seqs-swapped", [f"UPDATE events SET seq = -1 WHERE seq = {first - 5}", f"UPDATE events SET seq = {first - 5} WHERE seq = {first - 4}",
                                  f"UPDATE events SET seq = {first - 4} WHERE seq = -1"], [changed(first - 5), changed(first - 4)])
        # Without an authentic fingerprint list the change is still found, for the whole checkpoint.
        tampered("time-changed-fingerprints-altered", [f"UPDATE events SET occurred_at = occurred_at + 1 WHERE seq = {first - 3}",
                                                       "UPDATE collector_entities SET digest = zeroblob(length(digest)) WHERE stream = 'sluice/integrity'"],
                 [f"no longer match the root of checkpoint seq {first}"])
        tampered("checkpoint-deleted", [f"DELETE FROM events WHERE seq = {marks[1]}"], [f"the checkpoint before seq {marks[2]} is missing"])
        tampered("newest-checkpoint-deleted", [f"DELETE FROM events WHERE seq = {marks[-1]}"], ["the newest checkpoint"])

        # A key file others can read is refused, by verify and at start.
        key = os.path.join(data, "integrity.key")
        os.chmod(key, 0o644)
        result = subprocess.run([args.binary, "verify", "--data-dir", data, "--config", config], capture_output=True, text=True, timeout=60, env=ENV)
        checks("a key file readable by others is refused, with the fix", result.returncode == 1 and "chmod 600" in result.stderr, result.stderr)
        try:
            sluice.start(15)
            started = True
            sluice.signal(signal.SIGTERM)
        except RuntimeError:
            started = False
        checks("serve refuses to start with that key file", not started)
        os.chmod(key, 0o600)
    return checks.summary()


if __name__ == "__main__":
    sys.exit(main())
