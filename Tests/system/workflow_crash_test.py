#!/usr/bin/env python3
"""Crash test for exactly-once incidents.

Starts `sluice serve` with a workflow that turns alerts on the `default` feed into CTIA
incidents, against a loopback IROH token endpoint and CTIA (protocols.md D.1, D.2: HTTP Basic
client credentials, bearer tokens, required incident fields, external-id lookup). The CTIA double
holds one request open so that the server can be killed with SIGKILL at a chosen instant:

1. between token and create: the token is fetched and journaled, the lookup is in flight;
2. between create and journal write: CTIA has stored the incident, its answer is in flight.

After a restart the run must finish with exactly one incident in CTIA (the lookup by external id
finds the one created before the kill). Then `sluice workflow test` (the dry run) must print the
incident it would create and call nothing.

Everything listens on 127.0.0.1 on ports chosen at runtime; every wait is bounded.
"""
import argparse
import base64
import http.server
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sluice_harness import Checks, SluiceProcess  # noqa: E402

ADMIN = "workflow-crash-admin-token"
FEED_SECRET = "workflow-crash-feed-secret"
CLIENT_ID = "ctr-client-crash"
CLIENT_SECRET = "ctr-client-password-crash"
REQUIRED = ("confidence", "status")


class CTIA:
    """IROH's token endpoint and CTIA's incident routes; `hold` keeps one request open."""

    def __init__(self):
        self.lock = threading.Lock()
        self.incidents = []
        self.tokens = set()
        self.requests = []
        self.hold = None  # "lookup" or "create-after-store"
        self.failing = False  # answer every create with 500
        self.held = threading.Event()
        self.release = threading.Event()
        ctia = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def answer(self, status, body):
                data = json.dumps(body).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    pass  # the client was killed while we held its request

            def authorized(self):
                header = self.headers.get("Authorization", "")
                with ctia.lock:
                    return header.startswith("Bearer ") and header[7:] in ctia.tokens

            def wait_if_held(self, kind):
                if ctia.hold == kind:
                    ctia.hold = None
                    ctia.held.set()
                    ctia.release.wait(60)

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with ctia.lock:
                    ctia.requests.append(("POST", self.path))
                if self.path == "/iroh/oauth2/token":
                    expected = "Basic " + base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
                    if self.headers.get("Authorization") != expected:
                        return self.answer(401, {"error": "invalid_client"})
                    if "grant_type=client_credentials" not in body.decode().split("&"):
                        return self.answer(400, {"error": "unsupported_grant_type"})
                    with ctia.lock:
                        token = f"iroh-token-{len(ctia.tokens) + 1}"
                        ctia.tokens.add(token)
                    return self.answer(200, {"access_token": token, "token_type": "bearer", "expires_in": 600, "scope": "private-intel"})
                if self.path == "/ctia/incident":
                    if not self.authorized():
                        return self.answer(401, {"error": "invalid token"})
                    if ctia.failing:
                        return self.answer(500, {"error": "injected server error"})
                    incident = json.loads(body)
                    if "id" in incident:
                        return self.answer(403, {"error": "Normal users shouldn't be allowed to set the ids during creation"})
                    missing = [k for k in REQUIRED if not incident.get(k)]
                    if not incident.get("incident_time", {}).get("opened"):
                        missing.append("incident_time.opened")
                    if missing:
                        return self.answer(400, {"errors": {k: "missing-required-key" for k in missing}})
                    with ctia.lock:
                        incident["id"] = f"https://private.intel.amp.cisco.com:443/ctia/incident/incident-{len(ctia.incidents) + 1:04d}"
                        ctia.incidents.append(incident)
                    self.wait_if_held("create-after-store")
                    return self.answer(201, incident)
                self.answer(404, {"error": "not found"})

            def do_GET(self):
                with ctia.lock:
                    ctia.requests.append(("GET", self.path))
                prefix = "/ctia/incident/external_id/"
                if self.path.startswith(prefix):
                    if not self.authorized():
                        return self.answer(401, {"error": "invalid token"})
                    self.wait_if_held("lookup")
                    wanted = urllib.parse.unquote(self.path[len(prefix):])
                    with ctia.lock:
                        found = [i for i in ctia.incidents if wanted in i.get("external_ids", [])]
                    return self.answer(200, found)
                self.answer(404, {"error": "not found"})

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"

    def reset(self, hold):
        with self.lock:
            self.incidents, self.tokens, self.requests = [], set(), []
        self.hold = hold
        self.failing = False
        self.held.clear()
        self.release.clear()


def write_config(path, base, retry="{ request_backoff: 50ms, run_backoff: 100ms }"):
    with open(path, "w") as f:
        f.write(f"""server:
  admin_tokens:
    - {{ name: ops, role: admin, token: "${{env:SLUICE_ADMIN_TOKEN}}" }}
feeds:
  default:
    log_type: CISCO_SCI_ALERT
    secret: "${{env:SLUICE_DEFAULT_FEED_SECRET}}"
workflows:
  sci:
    allow_private_networks: true
    trigger: {{ feeds: [default] }}
    retry: {retry}
    steps:
      - {{ id: alert, extract: {{ name: {{ path: $.name, required: true }} }} }}
      - id: token
        oauth_token: {{ url: "{base}/iroh/oauth2/token", client_id: "${{env:CTR_CLIENT_ID}}", client_secret: "${{env:CTR_CLIENT_PASSWORD}}" }}
      - id: incident
        create_ctia_incident:
          url: "{base}"
          token: token
          incident: {{ title: "Secure Cloud Insights Alert - {{{{ name }}}}", status: New, confidence: High, tlp: amber }}
""")
    return path


def api(server, path):
    request = urllib.request.Request(f"http://127.0.0.1:{server.port}{path}", headers={"Authorization": f"Bearer {ADMIN}"})
    with urllib.request.urlopen(request, timeout=10) as r:
        return json.load(r)


def push(server, alert):
    request = urllib.request.Request(
        f"http://127.0.0.1:{server.port}/v1/feeds/default/events", data=json.dumps(alert).encode(), method="POST",
        headers={"X-Webhook-Access-Key": FEED_SECRET, "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as r:
        return r.status


def wait_for(condition, limit=60):
    deadline = time.time() + limit
    while time.time() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def scenario(name, hold, binary, ctia, tmp, checks):
    ctia.reset(hold)
    data = os.path.join(tmp, name)
    config = write_config(os.path.join(tmp, f"{name}.yaml"), ctia.base)
    server = SluiceProcess(binary, data, ADMIN, FEED_SECRET, os.path.join(tmp, f"{name}.log"), config=config)
    server.start()
    checks(f"{name}: alert accepted", push(server, {"name": f"alert-{name}", "query0Data": [{"id": "r1"}]}) == 200)
    checks(f"{name}: request held at the chosen instant", ctia.held.wait(60))
    stored_at_kill = len(ctia.incidents)
    server.signal(signal.SIGKILL)
    ctia.release.set()
    server.start()
    finished = wait_for(lambda: api(server, "/v1/workflows")["workflows"][0]["runs"]["succeeded"] == 1)
    checks(f"{name}: run finished after restart", finished, api(server, "/v1/workflows"))
    with ctia.lock:
        count = len(ctia.incidents)
        creates = sum(1 for method, path in ctia.requests if method == "POST" and path == "/ctia/incident")
    checks(f"{name}: exactly one incident in CTIA", count == 1, f"{count} incidents")
    incidents = api(server, "/v1/incidents")["incidents"]
    checks(f"{name}: Sluice records that one incident", len(incidents) == 1 and incidents[0]["remote_id"] == ctia.incidents[0]["id"], incidents)
    if hold == "create-after-store":
        checks(f"{name}: the incident existed before the kill and was found, not created again",
               stored_at_kill == 1 and creates == 1 and incidents[0]["created"] is False, (stored_at_kill, creates, incidents))
    else:
        checks(f"{name}: nothing was created before the kill", stored_at_kill == 0 and incidents[0]["created"] is True, (stored_at_kill, incidents))
    # The same alert again, after all that: still one incident.
    for _ in range(5):
        push(server, {"name": f"alert-{name}", "query0Data": [{"id": "r1"}]})
    time.sleep(1)
    with ctia.lock:
        checks(f"{name}: a re-sent alert makes no second incident", len(ctia.incidents) == 1, len(ctia.incidents))
    code = server.signal(signal.SIGTERM)
    checks(f"{name}: graceful stop", code == 0, code)
    return data, config


def cli_retry(binary, ctia, tmp, checks):
    """A run that failed for good is listed and retried from the command line while serve runs."""
    ctia.reset(None)
    ctia.failing = True
    data = os.path.join(tmp, "cli-retry")
    config = write_config(os.path.join(tmp, "cli-retry.yaml"), ctia.base, retry="{ request_attempts: 1, run_attempts: 1 }")
    server = SluiceProcess(binary, data, ADMIN, FEED_SECRET, os.path.join(tmp, "cli-retry.log"), config=config)
    server.start()
    push(server, {"name": "retried-alert"})
    failed = wait_for(lambda: api(server, "/v1/workflows")["workflows"][0]["runs"]["failed"] == 1)
    checks("cli retry: the run failed for good", failed, api(server, "/v1/workflows"))
    env = dict(os.environ, SLUICE_ADMIN_TOKEN=ADMIN, SLUICE_DEFAULT_FEED_SECRET=FEED_SECRET)
    common = ["--config", config, "--data-dir", data]
    listed = subprocess.run([binary, "workflow", "runs", "sci", "--status", "failed"] + common, capture_output=True, text=True, env=env, timeout=60)
    runs = [json.loads(line) for line in listed.stdout.splitlines() if line.strip()]
    checks("cli retry: sluice workflow runs lists it with its step", len(runs) == 1 and runs[0]["step"] == "incident", listed.stdout + listed.stderr)
    ctia.failing = False
    run_id = str(runs[0]["id"]) if runs else "1"
    retried = subprocess.run([binary, "workflow", "retry", "sci", run_id] + common, capture_output=True, text=True, env=env, timeout=60)
    checks("cli retry: sluice workflow retry queues it", retried.returncode == 0 and '"from_step":"incident"' in retried.stdout, retried.stdout + retried.stderr)
    done = wait_for(lambda: api(server, "/v1/workflows")["workflows"][0]["runs"]["succeeded"] == 1)
    with ctia.lock:
        count = len(ctia.incidents)
    checks("cli retry: the running server finishes it with one incident", done and count == 1, count)
    again = subprocess.run([binary, "workflow", "retry", "sci", run_id] + common, capture_output=True, text=True, env=env, timeout=60)
    checks("cli retry: a succeeded run is not retried", again.returncode == 2 and "only failed or retrying" in again.stderr, again.stderr)
    with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/metrics", timeout=10) as r:
        metrics = r.read().decode()
    checks("metrics: runs and steps per workflow",
           'sluice_workflow_runs_total{workflow="sci",status="failed"} 1' in metrics
           and 'sluice_workflow_runs_total{workflow="sci",status="succeeded"} 1' in metrics
           and 'sluice_workflow_steps_total{workflow="sci",step="incident",status="failed"} 1' in metrics
           and 'sluice_workflow_incidents_created_total{workflow="sci"} 1' in metrics,
           "\n".join(line for line in metrics.splitlines() if "workflow" in line))
    server.signal(signal.SIGTERM)


def dry_run(binary, ctia, tmp, config, data, checks):
    ctia.reset(None)
    alert = os.path.join(tmp, "alert.json")
    with open(alert, "w") as f:
        json.dump({"name": "dry-run-alert", "query0Data": []}, f)
    env = dict(os.environ, SLUICE_ADMIN_TOKEN=ADMIN, SLUICE_DEFAULT_FEED_SECRET=FEED_SECRET, CTR_CLIENT_ID=CLIENT_ID, CTR_CLIENT_PASSWORD=CLIENT_SECRET)
    result = subprocess.run(
        [binary, "workflow", "test", "sci", "--event", alert, "--config", config, "--data-dir", data],
        capture_output=True, text=True, env=env, timeout=60,
    )
    checks("dry run: exit status 0", result.returncode == 0, result.stderr)
    checks("dry run: prints the incident it would create", "would create this incident" in result.stdout
           and "Secure Cloud Insights Alert - dry-run-alert" in result.stdout, result.stdout)
    checks("dry run: no secret printed", CLIENT_SECRET not in result.stdout + result.stderr)
    # The same alert saved with a final newline (as editors save files): a push stores it without
    # one, so the dry run must predict the same alert key and incident (its external id) as for
    # the bytes the store keeps.
    with open(alert, "rb") as f:
        stored_form = f.read().strip()
    with open(alert, "wb") as f:
        f.write(stored_form + b"\n")
    with_newline = subprocess.run(
        [binary, "workflow", "test", "sci", "--event", alert, "--config", config, "--data-dir", data],
        capture_output=True, text=True, env=env, timeout=60,
    )
    def predicted(output):
        keys = [line for line in output.splitlines() if "alert key" in line]
        incidents = [json.loads(line.split("would create this incident: ", 1)[1]) for line in output.splitlines() if "would create this incident: " in line]
        return keys, [i.get("external_ids") for i in incidents]
    keys, external_ids = predicted(result.stdout)
    checks("dry run: a final newline changes neither the alert key nor the incident's external id",
           with_newline.returncode == 0 and predicted(with_newline.stdout) == (keys, external_ids) and len(keys) == 1 and external_ids and external_ids[0],
           (predicted(result.stdout), predicted(with_newline.stdout)))
    with ctia.lock:
        checks("dry run: nothing remote was called", ctia.requests == [], ctia.requests)
    bad = os.path.join(tmp, "bad.json")
    with open(bad, "w") as f:
        f.write("{not json")
    result = subprocess.run([binary, "workflow", "test", "sci", "--event", bad, "--config", config], capture_output=True, text=True, env=env, timeout=60)
    checks("dry run: a malformed alert file is refused with exit status 2", result.returncode == 2 and "not one JSON document" in result.stderr, result.stderr)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", required=True)
    args = parser.parse_args()
    os.environ["CTR_CLIENT_ID"], os.environ["CTR_CLIENT_PASSWORD"] = CLIENT_ID, CLIENT_SECRET
    checks = Checks()
    ctia = CTIA()
    with tempfile.TemporaryDirectory() as tmp:
        scenario("token-then-kill", "lookup", args.binary, ctia, tmp, checks)
        data, config = scenario("create-then-kill", "create-after-store", args.binary, ctia, tmp, checks)
        dry_run(args.binary, ctia, tmp, config, data, checks)
        cli_retry(args.binary, ctia, tmp, checks)
    ctia.server.shutdown()
    return checks.summary()


if __name__ == "__main__":
    sys.exit(main())
