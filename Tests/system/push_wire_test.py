#!/usr/bin/env python3
"""Pushes as real senders write them, over real HTTP to a real `sluice serve`.

gzip bodies made by Python's gzip module and by Debian's gzip and pigz: whole bodies and bodies
of several members are stored whole; a stream cut short (flushed, never closed), a body whose
trailer is missing, and a member followed by garbage each get a 400 that names the problem, and
nothing of them is stored.
"""
import argparse
import gzip
import io
import json
import os
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sluice_harness import Checks, SluiceProcess  # noqa: E402

ADMIN = "push-wire-admin-token"
FEED_SECRET = "push-wire-feed-secret"


def ndjson(case, lines):
    """NDJSON of `lines` distinct incident.io-style events, each naming its case."""
    return "".join(
        json.dumps({"action": "api_key.created", "case": case, "n": n, "actor": {"id": f"u{n}", "type": "user"},
                    "occurred_at": "2026-12-06T10:00:00.000000Z", "targets": [], "version": 1}) + "\n"
        for n in range(lines)
    ).encode()


def tool(command, data):
    return subprocess.run(command, input=data, capture_output=True, check=True).stdout


class Sluice:
    def __init__(self, process):
        self.base = f"http://127.0.0.1:{process.port}"

    def push(self, body, encoding="gzip"):
        request = urllib.request.Request(f"{self.base}/v1/feeds/default/events", data=body, method="POST",
                                         headers={"X-Webhook-Access-Key": FEED_SECRET, "Content-Encoding": encoding,
                                                  "Content-Type": "application/x-ndjson"})
        try:
            with urllib.request.urlopen(request, timeout=30) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())

    def stored(self, case):
        """Events of `case` in the store (the free-text filter reads raw bytes)."""
        count, cursor = 0, None
        while True:
            url = f"{self.base}/v1/events?q=%22case%22%3A%20%22{case}%22&limit=1000" + (f"&cursor={cursor}" if cursor else "")
            request = urllib.request.Request(url, headers={"Authorization": f"Bearer {ADMIN}"})
            with urllib.request.urlopen(request, timeout=30) as r:
                page = json.loads(r.read())
            count += len(page["events"])
            cursor = page.get("next_cursor")
            if not cursor:
                return count


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", required=True)
    args = parser.parse_args()
    checks = Checks()
    with tempfile.TemporaryDirectory() as tmp:
        process = SluiceProcess(args.binary, os.path.join(tmp, "data"), ADMIN, FEED_SECRET).start()
        sluice = Sluice(process)
        try:
            def accepted(name, body, expected):
                status, answer = sluice.push(body)
                checks(f"{name}: 200 with every event", status == 200 and answer == {"accepted": expected, "duplicates": 0},
                       f"{status} {answer}")
                checks(f"{name}: all {expected} stored", sluice.stored(name) == expected, str(sluice.stored(name)))

            def refused(name, body, words):
                status, answer = sluice.push(body)
                message = answer.get("error", {}).get("message", "")
                checks(f"{name}: 400 INVALID_ARGUMENT", status == 400 and answer.get("error", {}).get("status") == "INVALID_ARGUMENT",
                       f"{status} {answer}")
                checks(f"{name}: the error names the problem ({words})", words in message, message)
                checks(f"{name}: nothing stored", sluice.stored(name) == 0, str(sluice.stored(name)))

            # Whole bodies.
            accepted("python-whole", gzip.compress(ndjson("python-whole", 150)), 150)
            accepted("gzip-cli-whole", tool(["gzip", "-c"], ndjson("gzip-cli-whole", 150)), 150)
            accepted("pigz-whole", tool(["pigz", "-c"], ndjson("pigz-whole", 150)), 150)

            # Two members, as `cat a.gz b.gz` makes them: zcat reads both, so must Sluice.
            body = ndjson("python-members", 2)
            accepted("python-members", gzip.compress(body[: len(body) // 2 + 1]) + gzip.compress(body[len(body) // 2 + 1:]), 2)
            first, second = ndjson("cli-members", 30), ndjson("cli-members", 60)[len(ndjson("cli-members", 30)):]
            accepted("cli-members", tool(["gzip", "-c"], first) + tool(["pigz", "-c"], second), 60)

            # A stream cut short: 100 of 150 lines written and flushed, the writer never closed.
            buffer = io.BytesIO()
            writer = gzip.GzipFile(fileobj=buffer, mode="wb")
            lines = ndjson("python-cut", 150).splitlines(keepends=True)
            writer.write(b"".join(lines[:100]))
            writer.flush()
            refused("python-cut", buffer.getvalue(), "before its trailer")
            cut = tool(["pigz", "-c"], ndjson("pigz-cut", 150))
            refused("pigz-cut", cut[: len(cut) // 2], "before its trailer")

            # Complete data whose 8-byte trailer (CRC-32, size) is missing.
            refused("python-no-trailer", gzip.compress(ndjson("python-no-trailer", 20))[:-8], "before its trailer")
            refused("gzip-cli-no-trailer", tool(["gzip", "-c"], ndjson("gzip-cli-no-trailer", 20))[:-8], "before its trailer")

            # A valid member followed by garbage.
            refused("python-garbage", gzip.compress(ndjson("python-garbage", 5)) + b"garbage\n", "not another gzip member")
            refused("pigz-garbage", tool(["pigz", "-c"], ndjson("pigz-garbage", 5)) + b"\x00" * 16, "not another gzip member")

            # A second member cut short: the first member's events are not stored either.
            refused("second-member-cut", gzip.compress(ndjson("second-member-cut", 5)) + gzip.compress(b'{"x":1}\n')[:12],
                    "member 2")

            # A flipped bit in the CRC-32: zlib's own check names it.
            damaged = bytearray(gzip.compress(ndjson("python-crc", 5)))
            damaged[-8] ^= 0xFF
            refused("python-crc", bytes(damaged), "incorrect data check")
        finally:
            process.signal(15)
    return checks.summary()


if __name__ == "__main__":
    sys.exit(main())
