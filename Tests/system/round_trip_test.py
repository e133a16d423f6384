#!/usr/bin/env python3
"""100,000 varied events through the real binary, byte for byte: pushed over HTTP, read back
through the query API, the NDJSON export and a file destination, across a restart (so every read
decompresses from disk, with the dictionaries loaded from the store).

Events: incident.io-style entries, file events, pretty-printed alerts with line breaks, NUL
characters (escaped in the JSON), non-ASCII text raw and escaped, deep nesting, numbers as
written (exponents, -0), an empty object, and a few 1 MB events. NDJSON outputs (export, file
destination) put each event on one line by turning its CR and LF bytes into spaces, which JSON
allows only as whitespace (docs/query-api.md); every other byte must be exactly as pushed.
"""
import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sluice_harness import Checks, SluiceProcess, write_config  # noqa: E402

ADMIN = "round-trip-admin-token"
SECRET = "round-trip-feed-secret"


def events(count, rnd):
    """`count` distinct events as the exact bytes to push (each but `{}` carries its number)."""
    out = [b"{}"]
    for n in range(1, count):
        kind = n % 9
        if n % 33_333 == 0:
            blob = "".join(rnd.choice("0123456789abcdef") for _ in range(1 << 20))
            text = json.dumps({"n": n, "blob": blob})
        elif kind == 0:
            text = json.dumps({"action": "api_key.created", "n": n, "actor": {"id": f"01FCN{n:07d}", "type": "api_key", "name": f"Key {n % 50}"},
                               "occurred_at": "2026-12-06T10:00:00.000000Z", "targets": [{"id": f"t{n % 977}", "type": "api_key"}], "version": 1},
                              separators=(",", ":"))
        elif kind == 1:
            text = json.dumps({"@timestamp": "2026-12-06T09:59:59.123Z", "n": n, "event": {"id": f"0_{rnd.getrandbits(64):x}", "action": "file-downloaded"},
                               "user": {"email": f"user{n % 400}@example.com"}, "file": {"name": f"report-{n}.pdf", "sha256": f"{rnd.getrandbits(256):064x}"}})
        elif kind == 2:
            text = "{\n  \"alert\": {\"id\": \"a%d\",\r\n    \"title\": \"Suspicious login\"},\n  \"n\": %d\n}" % (rnd.getrandbits(40), n)
        elif kind == 3:
            text = "{\"n\":%d,\"s\":\"a\\u0000b\",\"actor\":{\"id\":\"x\\u0000%d\",\"type\":\"user\"}}" % (n, n)
        elif kind == 4:
            text = json.dumps({"n": n, "text": f"Grüße, 東京, 🛡️ {n}", "ключ": "значение"}, ensure_ascii=False)
        elif kind == 5:
            text = json.dumps({"n": n, "text": f"Grüße, 東京, 🛡️ {n}"}, ensure_ascii=True)
        elif kind == 6:
            text = "{\"n\":%d,\"deep\":[[[[[{\"a\":[1,2.5e-3,-0,1E+2,true,false,null]}]]]]],\"esc\":\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\"}" % n
        elif kind == 7:
            text = "  {  \"n\" : %d ,  \"spaced\" : [ 1 , 2 ]  }  " % n
        else:
            text = json.dumps({"n": n, "action": "custom.event", "payload": {"k": rnd.getrandbits(32)}})
        out.append(text.strip().encode())
    return out


def flat(raw):
    return raw.replace(b"\r", b" ").replace(b"\n", b" ")


def number(raw):
    return -1 if raw == b"{}" else json.loads(raw)["n"]


def request(port, path, body=None, headers=None):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=body, method="POST" if body is not None else "GET",
                                 headers=headers or {"Authorization": f"Bearer {ADMIN}"})
    try:
        with urllib.request.urlopen(req, timeout=300) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def push_all(port, pushed):
    """Pushes as JSON arrays of at most about 2 MB (plus one event: under the 4 MiB body limit);
    returns how many events the server accepted."""
    accepted, batch, size = 0, [], 0
    for raw in pushed + [None]:
        if raw is None or (batch and size + len(raw) > 2 << 20) or len(batch) >= 2_000:
            status, body = request(port, "/v1/feeds/default/events", b"[" + b",".join(batch) + b"]", {"X-Webhook-Access-Key": SECRET})
            if status != 200:
                raise RuntimeError(f"push: {status} {body[:300]!r}")
            accepted += json.loads(body)["accepted"]
            batch, size = [], 0
        if raw is not None:
            batch.append(raw)
            size += len(raw)
    return accepted


def raw_member(line):
    """The bytes of the `raw` member of one NDJSON event (the last member; everything before it
    is Sluice's own JSON, whose strings escape quotes, so the first `,"raw":` is the member)."""
    start = line.index(b',"raw":') + len(b',"raw":')
    assert line.endswith(b"}")
    return line[start:-1]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", required=True)
    parser.add_argument("--events", type=int, default=100_000)
    args = parser.parse_args()
    checks = Checks()
    rnd = random.Random(5)
    pushed = events(args.events, rnd)
    expected = {number(raw): raw for raw in pushed}
    with tempfile.TemporaryDirectory() as tmp:
        out_dir = os.path.join(tmp, "delivered")
        config = write_config(os.path.join(tmp, "sluice.yaml"), destinations=f"  archive:\n    type: file\n    path: {out_dir}\n",
                              routes="  - { from: [default], to: [archive] }\n")
        data = os.path.join(tmp, "data")
        process = SluiceProcess(args.binary, data, ADMIN, SECRET, config=config).start(timeout=120)
        accepted = push_all(process.port, pushed)
        checks(f"all {len(pushed)} events accepted", accepted == len(pushed), str(accepted))
        process.signal(15)
        process = SluiceProcess(args.binary, data, ADMIN, SECRET, config=config).start(timeout=120)

        # The query API: every event, its raw value as pushed.
        seen, cursor, wrong = 0, None, []
        while True:
            status, body = request(process.port, "/v1/events?limit=1000" + (f"&cursor={cursor}" if cursor else ""))
            if status != 200:
                wrong.append(f"listing: {status} {body[:200]!r}")
                break
            page = json.loads(body)
            for event in page["events"]:
                if event["feed"] != "default":
                    continue
                seen += 1
                n = -1 if event["raw"] == {} else event["raw"].get("n", -2)
                if n not in expected or json.loads(expected[n]) != event["raw"]:
                    wrong.append(n)
            cursor = page.get("next_cursor")
            if not cursor:
                break
        checks("the query API lists every event with its value", seen == len(pushed) and not wrong, f"{seen} listed, wrong: {wrong[:5]}")

        # The NDJSON export: the raw bytes of each, only line breaks turned into spaces.
        status, body = request(process.port, "/v1/events/export?format=ndjson&feed=default")
        lines = body.split(b"\n")[:-1] if status == 200 else []
        mismatched = [n for n, got in ((json.loads(raw_member(line)).get("n", -1) if raw_member(line) != b"{}" else -1, raw_member(line)) for line in lines)
                      if flat(expected.get(n, b"")) != got]
        checks("the export holds every event byte for byte", status == 200 and len(lines) == len(pushed) and not mismatched,
               f"{status}, {len(lines)} lines, mismatched {mismatched[:5]}")

        # The file destination: every event delivered, byte for byte.
        deadline = time.time() + 600
        delivered = []
        while time.time() < deadline:
            delivered = []
            for name in sorted(os.listdir(out_dir)) if os.path.isdir(out_dir) else []:
                with open(os.path.join(out_dir, name), "rb") as f:
                    delivered += f.read().split(b"\n")[:-1]
            if len(delivered) >= len(pushed):
                break
            time.sleep(1)
        by_number = {}
        for line in delivered:
            by_number.setdefault(-1 if line == b"{}" else json.loads(line).get("n", -2), []).append(line)
        missing = [n for n in expected if n not in by_number]
        altered = [n for n, lines in by_number.items() if any(line != flat(expected.get(n, b"")) for line in lines)]
        checks("the destination received every event byte for byte", not missing and not altered,
               f"{len(delivered)} delivered, missing {missing[:5]}, altered {altered[:5]}")
        process.signal(15)
        done = subprocess.run([args.binary, "storage", "check", "--data-dir", data], capture_output=True, text=True, timeout=600)
        checks("storage check reads everything back", done.returncode == 0, done.stdout[-300:] + done.stderr[-300:])
    return checks.summary()


if __name__ == "__main__":
    sys.exit(main())
