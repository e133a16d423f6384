#!/usr/bin/env python3
"""What each HTTP stack answers on this machine for a 1 KB JSON POST, in one run, rounds alternated.

nginx (the issue's reference), Hummingbird 2 and bare SwiftNIO with nothing behind the route
(bench/http-ceiling: the body is read, nothing parsed or stored) and Sluice's push route
(embedded default, synchronous=FULL, every event distinct through bench/unique_events.lua).
The first three get shared/bench's stock 1 KB body (lib/post.lua). Every server is a child of
this process, so shared/bench/lib/noise.py counts only other processes as foreign load.

    (cd bench/http-ceiling && swift build -c release)
    python3 bench/http_ceiling.py --sluice .build/release/sluice [--rounds 3] [--conns 32,128]
"""
import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SECRET = "bench-feed-secret-0123456789"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc):
    for _ in range(200):
        if proc.poll() is not None:
            sys.exit(f"server exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    sys.exit(f"nothing listens on {port}")


def wrk(url, conns, duration, script, script_args):
    cmd = ["wrk", "-t", "2", "-c", str(conns), "-d", f"{duration}s", "--timeout", "5s", "-s", script, url, "--"] + script_args
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 30)
    for line in p.stdout.splitlines():
        if line.startswith("WRKJSON "):
            return json.loads(line[len("WRKJSON "):])
    raise RuntimeError(f"wrk produced no summary: {p.stdout}\n{p.stderr}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sluice", required=True)
    ap.add_argument("--shared", default=os.path.join(HERE, "..", "..", "shared", "bench"))
    ap.add_argument("--ceiling", default=os.path.join(HERE, "http-ceiling", ".build", "release", "http-ceiling"))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--conns", default="32,128")
    ap.add_argument("--duration", type=int, default=8)
    args = ap.parse_args()
    sys.path.insert(0, os.path.join(args.shared, "lib"))
    import noise  # noqa: E402

    if not os.access(args.ceiling, os.X_OK):
        sys.exit(f"build {args.ceiling} first: (cd bench/http-ceiling && swift build -c release)")
    body = os.path.join(args.shared, "lib", "event_1k.json")
    post = os.path.join(args.shared, "lib", "post.lua")
    conns = [int(c) for c in args.conns.split(",")]
    work = tempfile.mkdtemp(prefix="http-ceiling.")
    port = free_port()
    results = {}  # (label, conns) -> [rps]
    foreign = []

    def nginx():
        conf = os.path.join(work, "nginx.conf")
        with open(conf, "w") as f:
            f.write(f"""worker_processes 2;
daemon off;
pid {work}/nginx.pid;
error_log {work}/error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {work};
  keepalive_requests 100000000;
  client_max_body_size 8m;
  client_body_buffer_size 64k;
  server {{
    listen 127.0.0.1:{port} reuseport backlog=4096;
    location = /ingest {{ default_type application/json; return 200 '{{"accepted":1,"duplicates":0}}'; }}
  }}
}}
""")
        return subprocess.Popen(["nginx", "-p", work, "-c", conf]), f"http://127.0.0.1:{port}/ingest", post, [body, "application/json"]

    def stack(name):
        def start():
            return subprocess.Popen([args.ceiling, name, str(port)]), f"http://127.0.0.1:{port}/ingest", post, [body, "application/json"]
        return start

    def sluice():
        data = tempfile.mkdtemp(prefix="data.", dir=work)
        env = dict(os.environ, SLUICE_ADMIN_TOKEN="bench-admin-token-0123456789", SLUICE_DEFAULT_FEED_SECRET=SECRET)
        proc = subprocess.Popen([args.sluice, "serve", "--data-dir", data, "--listen", f"127.0.0.1:{port}", "--log-level", "error"],
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return proc, f"http://127.0.0.1:{port}/v1/feeds/default/events", os.path.join(HERE, "unique_events.lua"), ["1", f"X-Webhook-Access-Key: {SECRET}"]

    servers = [("nginx", nginx), ("hummingbird", stack("hummingbird")), ("nio", stack("nio")), ("sluice", sluice)]
    try:
        for round_ in range(1, args.rounds + 1):
            for label, start in servers:
                proc, url, script, script_args = start()
                try:
                    wait_port(port, proc)
                    for c in conns:
                        r, fc, _ = noise.measure_clean(lambda: wrk(url, c, args.duration, script, script_args), max_wait=30, verbose=False)
                        errors = r["err_connect"] + r["err_read"] + r["err_write"] + r["err_status"] + r["err_timeout"]
                        results.setdefault((label, c), []).append(r["rps"])
                        foreign.append(fc)
                        print(f"round {round_} {label:<12} c={c:<4} {r['rps']:>9.0f} req/s  errors {errors}  foreign cores {fc:.2f}", flush=True)
                        time.sleep(0.5)
                finally:
                    proc.terminate()
                    proc.wait(timeout=30)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print(f"\nmedians of {args.rounds} rounds (stacks alternated within each round); foreign load at most {max(foreign):.2f} cores")
    summary = []
    for c in conns:
        base = statistics.median(results[("nginx", c)])
        for label, _ in servers:
            runs = results[(label, c)]
            m = statistics.median(runs)
            summary.append({"label": label, "conns": c, "rps_median": m, "of_nginx": m / base, "runs": runs})
            print(f"c={c:<4} {label:<12} {m:>9.0f} req/s  {100 * m / base:5.1f}% of nginx   runs: {' / '.join(f'{x:.0f}' for x in runs)}")
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    with open(os.path.join(HERE, "results", "http_ceiling.json"), "w") as f:
        json.dump({"when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "rows": summary}, f, indent=1)


if __name__ == "__main__":
    main()
