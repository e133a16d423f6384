#!/usr/bin/env python3
"""The pull benchmark's ceiling: walk every file-event page of shared/bench/mock_incydr.py and
throw it away. No parsing beyond the next page token, no storage. Run under run_pull.py like
a collector (it reads INCYDR_BASE_URL, INCYDR_CLIENT_ID, INCYDR_CLIENT_SECRET, PAGE_SIZE):

    .venv/bin/python run_pull.py --file-events 1000000 --repeats 3 --label null -- \
        .venv/bin/python /work/main/bench/null_pull.py

What it measures is how fast the mock (and the loopback) hand out pages on this machine, an
upper bound for any collector that reads them one after another.
"""
import base64
import http.client
import json
import os
import re
import sys
import urllib.parse

BASE = urllib.parse.urlsplit(os.environ.get("INCYDR_BASE_URL", "http://127.0.0.1:18181"))
CREDS = f"{os.environ.get('INCYDR_CLIENT_ID', 'bench-client')}:{os.environ.get('INCYDR_CLIENT_SECRET', 'x')}"
PAGE_SIZE = int(os.environ.get("PAGE_SIZE", "1000"))
NEXT = re.compile(rb'"nextPgToken":\s*("(?:[^"\\]|\\.)*"|null)')


def main():
    conn = http.client.HTTPConnection(BASE.hostname, BASE.port)
    conn.request("POST", "/v1/oauth", headers={"Authorization": "Basic " + base64.b64encode(CREDS.encode()).decode()})
    resp = conn.getresponse()
    token = json.loads(resp.read())["access_token"]
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    pg_token, pages, size = "", 0, 0
    while True:
        conn.request("POST", "/v2/file-events", body=json.dumps({"pgSize": PAGE_SIZE, "pgToken": pg_token}), headers=headers)
        resp = conn.getresponse()
        body = resp.read()
        if resp.status != 200:
            sys.exit(f"page {pages + 1}: HTTP {resp.status} {body[:200]!r}")
        pages += 1
        size += len(body)
        found = NEXT.findall(body[-4096:]) or NEXT.findall(body)
        nxt = json.loads(found[-1]) if found else None
        if not nxt:
            break
        pg_token = nxt
    print(f"{pages} pages, {size / 2**20:.0f} MiB", file=sys.stderr)


if __name__ == "__main__":
    main()
