#!/usr/bin/env python3
"""The operator's checkpoint rewind from the command line.

`sluice collect NAME --stream S --rewind-to T` on a real store: the stream's checkpoint is set
back (as GET /v1/collectors of a `sluice serve` on the same store then shows), the change is in
Sluice's audit log with the operator's login, and every misuse is refused with exit status 2 and
a message that names the problem. No Incydr API is needed: nothing runs.
"""
import argparse
import json
import os
import pwd
import subprocess
import sys
import tempfile
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sluice_harness import Checks, SluiceProcess, free_port  # noqa: E402

ADMIN = "collector-cli-admin-token"
FEED_SECRET = "collector-cli-feed-secret"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", required=True)
    args = parser.parse_args()
    checks = Checks()
    os.environ["INCYDR_SECRET"] = "incydr-secret-cli"  # SluiceProcess passes os.environ on
    env = dict(os.environ, SLUICE_ADMIN_TOKEN=ADMIN, SLUICE_DEFAULT_FEED_SECRET=FEED_SECRET)
    with tempfile.TemporaryDirectory() as tmp:
        config = os.path.join(tmp, "sluice.yaml")
        data = os.path.join(tmp, "data")
        with open(config, "w") as f:
            f.write(f"""server:
  admin_tokens:
    - {{ name: ops, role: admin, token: "${{env:SLUICE_ADMIN_TOKEN}}" }}
feeds:
  default: {{ secret: "${{env:SLUICE_DEFAULT_FEED_SECRET}}" }}
collectors:
  incydr:
    type: code42_incydr
    allow_private_networks: true
    base_url: http://127.0.0.1:{free_port()}
    client_id: cli-client
    client_secret: "${{env:INCYDR_SECRET}}"
    streams: [audit, file_events]
    schedule: "0 0 1 1 *"
""")
        common = ["--config", config, "--data-dir", data]

        def sluice(*arguments):
            return subprocess.run([args.binary, *arguments, *common], capture_output=True, text=True, env=env, timeout=60)

        done = sluice("collect", "incydr", "--stream", "audit", "--rewind-to", "2026-11-01T00:00:00Z")
        checks("rewind: exit status 0 and a JSON line", done.returncode == 0
               and json.loads(done.stdout) == {"collector": "incydr", "stream": "audit", "rewound_to": "2026-11-01T00:00:00.000000Z"},
               done.stdout + done.stderr)

        exported = sluice("events", "export", "--format", "ndjson", "--feed", "sluice", "--action", "collector.checkpoint_rewound")
        entries = [json.loads(line) for line in exported.stdout.splitlines() if line.strip()]
        login = os.environ.get("SUDO_USER") or os.environ.get("USER") or os.environ.get("LOGNAME") or pwd.getpwuid(os.getuid()).pw_name
        checks("rewind: one audit entry by the operator's login", len(entries) == 1
               and entries[0]["actor"]["id"] == f"cli:{login}" and entries[0]["targets"][1]["id"] == "incydr/audit",
               exported.stdout + exported.stderr)

        for name, arguments, expected in [
            ("no stream", ["collect", "incydr", "--rewind-to", "2026-11-01"], "exactly one --stream"),
            ("two streams", ["collect", "incydr", "--stream", "audit", "file_events", "--rewind-to", "2026-11-01"], "exactly one --stream"),
            ("with --once", ["collect", "incydr", "--stream", "audit", "--once", "--rewind-to", "2026-11-01"], "neither --once"),
            ("bad time", ["collect", "incydr", "--stream", "audit", "--rewind-to", "last tuesday"], "RFC 3339"),
            ("stream not collected", ["collect", "incydr", "--stream", "cases", "--rewind-to", "2026-11-01"], "has no stream cases"),
            # A backfill from the command line is checked as the API checks it.
            ("backfill past now", ["collect", "incydr", "--since", "2026-01-01", "--until", "2099-01-01"], "ends at or before now"),
        ]:
            refused = sluice(*arguments)
            checks(f"refused ({name}): exit status 2, the problem named", refused.returncode == 2 and expected in refused.stderr, refused.stderr)

        server = SluiceProcess(args.binary, data, ADMIN, FEED_SECRET, os.path.join(tmp, "server.log"), config=config)
        server.start()
        request = urllib.request.Request(f"http://127.0.0.1:{server.port}/v1/collectors", headers={"Authorization": f"Bearer {ADMIN}"})
        with urllib.request.urlopen(request, timeout=10) as r:
            status = json.load(r)
        streams = {s["stream"]: s for s in status["collectors"][0]["streams"]}
        checkpoint = streams["audit"].get("checkpoint") or {}
        checks("serve shows the rewound checkpoint", checkpoint.get("through", "").startswith("2026-11-01T00:00:00"), streams["audit"])
        server.signal(15)
    return checks.summary()


if __name__ == "__main__":
    sys.exit(main())
