#!/usr/bin/env python3
"""Push ingest: three Sluice instances on one PostgreSQL vs one Sluice on SQLite, same run.

    python3 bench/run_postgres_ingest.py --binary .build/release/sluice [--baseline OLD_BINARY]
    python3 bench/run_postgres_ingest.py --binary .build/release/sluice --delay-ms 1

With --delay-ms, PostgreSQL is reached through bench/delay_proxy.c (or .py without a C compiler;
that much delay each way, as between machines) and the comparison is one instance with --connections against three with
--connections each, single events. With --baseline, an earlier build is measured first in the
same run, on its own schemas.

The same client in both cases: three wrk processes at once (bench/unique_events.lua, every event
distinct), each with a third of the connections, against the one SQLite instance or one wrk per
PostgreSQL instance. Each measured load follows `--warmup` seconds (3 by default) of the same
load with events of its own, and on PostgreSQL a CHECKPOINT. Both stores commit durably (SQLite synchronous=FULL; PostgreSQL fsync=on,
synchronous_commit=on). While each load runs, the CPU time of the Sluice processes, of
PostgreSQL's processes and of wrk is sampled from /proc, and PostgreSQL's commit count from
pg_stat_database, to show where the time goes. A throwaway PostgreSQL cluster is started on a
loopback port (scripts/postgres-cluster) and removed at the end. Writes
bench/results/postgres-ingest.json.
"""
import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "Tests", "system"))
from sluice_harness import SluiceProcess  # noqa: E402

SECRET = "bench-feed-secret-0123456789"
ADMIN = "bench-admin-token-0123456789"
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids):
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
        except OSError:
            pass
    return total / TICKS


def postgres_pids():
    out = subprocess.run(["pgrep", "-u", "postgres"], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def psql(url, sql):
    return subprocess.run(["psql", url, "-Atc", sql], capture_output=True, text=True, timeout=60).stdout.strip()


def wrk_all(ports, conns, batch, duration, tag="w"):
    """One wrk per entry of `ports` (a port may repeat), started together; summed results. `tag`
    starts every event id, so that loads with different tags never repeat each other's events."""
    procs = []
    for index, port in enumerate(ports):
        cmd = ["wrk", "-t", "1", "-c", str(conns // len(ports)), "-d", f"{duration}s", "--timeout", "10s",
               "-s", os.path.join(HERE, "unique_events.lua"), f"http://127.0.0.1:{port}/v1/feeds/default/events",
               "--", str(batch), f"X-Webhook-Access-Key: {SECRET}", f"prefix={tag}{index}-{batch}-"]
        procs.append(subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    results = []
    for p in procs:
        out, _ = p.communicate(timeout=duration + 60)
        line = next(line for line in out.splitlines() if line.startswith("WRKJSON "))
        results.append(json.loads(line[8:]))
    return procs, results


def warm_up(ports, conns, batch, seconds):
    """The same load for `seconds`, not measured: each instance opens its connections to
    PostgreSQL, prepares its statements and trains its zstd dictionaries (once per stream) here,
    so that the measured load sees each instance as it runs after its first seconds."""
    if seconds > 0:
        wrk_all(ports, conns, batch, seconds, tag="warm")


def measure(name, sluice_pids, ports, conns, batch, duration, pg_url=None, warmup=0):
    warm_up(ports, conns, batch, warmup)
    if pg_url:
        # Every load starts right after a checkpoint: one that the WAL of earlier loads triggers
        # in the middle of a later one (writing dirty pages, then full-page images) would slow
        # whichever load it falls in.
        psql(pg_url, "CHECKPOINT")
    pg = postgres_pids() if pg_url else []
    commits_before = int(psql(pg_url, "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()")) if pg_url else 0
    cpu_before = (cpu_seconds(sluice_pids), cpu_seconds(pg))
    started = time.time()
    box = {}

    def sample_wrk():
        # wrk's own CPU, read just before each wrk exits (it is gone once communicate returns).
        time.sleep(max(0, duration - 0.5))
        out = subprocess.run(["pgrep", "-x", "wrk"], capture_output=True, text=True).stdout
        box["wrk_cpu"] = cpu_seconds([int(p) for p in out.split()])

    sampler = threading.Thread(target=sample_wrk)
    sampler.start()
    _, results = wrk_all(ports, conns, batch, duration)
    sampler.join()
    wall = time.time() - started
    cpu_after = (cpu_seconds(sluice_pids), cpu_seconds(postgres_pids() if pg_url else []))
    commits = (int(psql(pg_url, "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()")) - commits_before) if pg_url else None
    requests = sum(r["requests"] for r in results)
    errors = sum(r[k] for r in results for k in ("err_connect", "err_read", "err_write", "err_status", "err_timeout"))
    seconds = max(r["duration_us"] for r in results) / 1e6
    row = {
        "setup": name, "batch": batch, "connections": conns, "requests_per_s": round(requests / seconds),
        "events_per_s": round(requests * batch / seconds), "errors": errors,
        "p99_ms": max(r["lat_p99_us"] for r in results) / 1000,
        "cpu_seconds": {"sluice": round(cpu_after[0] - cpu_before[0], 1), "postgres": round(cpu_after[1] - cpu_before[1], 1),
                        "wrk_approx": round(box.get("wrk_cpu", 0), 1)},
        "wall_seconds": round(wall, 1),
    }
    if commits is not None:
        row["postgres_commits"] = commits
        row["events_per_commit"] = round(requests * batch / commits, 1) if commits else None
    print(json.dumps(row))
    return row


def start_nodes(binary, work, label, count, url, schema):
    config = os.path.join(work, f"{label}-postgres.yaml")
    with open(config, "w") as f:
        f.write('storage:\n  postgres: { url: "${env:PG_URL}", schema: %s }\n'
                'feeds:\n  default: { secret: "${env:SLUICE_DEFAULT_FEED_SECRET}" }\n' % schema)
    os.environ["PG_URL"] = url + "?sslmode=disable"
    return [SluiceProcess(binary, os.path.join(work, f"{label}-pg{i}"), ADMIN, SECRET, os.path.join(work, f"{label}-pg{i}.log"), config=config).start(timeout=60)
            for i in range(count)]


def stop(processes):
    for p in processes:
        try:
            p.signal(signal.SIGTERM)
        except Exception:
            p.proc.kill()


def compare_with_sqlite(binary, label, work, url, args, rows):
    """One SQLite instance, then three on PostgreSQL, both with `connections` in all."""
    sqlite = SluiceProcess(binary, os.path.join(work, f"{label}-sqlite"), ADMIN, SECRET, os.path.join(work, f"{label}-sqlite.log")).start(timeout=60)
    try:
        for batch in (1, 100):
            rows.append(dict(measure("1 x SQLite", [sqlite.proc.pid], [sqlite.port] * 3, args.connections, batch, args.duration, warmup=args.warmup), binary=label))
    finally:
        stop([sqlite])
    nodes = start_nodes(binary, work, label, 3, url, f"bench_{label}")
    try:
        for batch in (1, 100):
            rows.append(dict(measure("3 x PostgreSQL", [n.proc.pid for n in nodes], [n.port for n in nodes], args.connections, batch, args.duration, pg_url=url, warmup=args.warmup), binary=label))
    finally:
        stop(nodes)


def delay_proxy_command(work, host_port, delay_ms):
    """bench/delay_proxy.c compiled into `work` (its own CPU and scheduling delay stay small under
    load), or bench/delay_proxy.py when there is no C compiler."""
    binary = os.path.join(work, "delay_proxy")
    compiled = shutil.which("cc") and subprocess.run(["cc", "-O2", "-o", binary, os.path.join(HERE, "delay_proxy.c")]).returncode == 0
    if compiled:
        return [binary, host_port.rsplit(":", 1)[1], str(int(delay_ms * 1000))]
    return [sys.executable, os.path.join(HERE, "delay_proxy.py"), "--target", host_port, "--delay-ms", str(delay_ms)]


def scale_behind_delay(binary, label, work, url, direct_url, proxy_pid, args, rows):
    """Single events through the delayed link: one instance with `connections`, then three with
    `connections` each (the load grows with the cluster), each on a fresh schema."""
    for count in (1, 3):
        nodes = start_nodes(binary, work, f"{label}-{count}", count, url, f"bench_{label}_{count}")
        try:
            before = cpu_seconds([proxy_pid])
            row = measure(f"{count} x PostgreSQL, {args.delay_ms} ms each way", [n.proc.pid for n in nodes], [n.port for n in nodes],
                          args.connections * count, 1, args.duration, pg_url=direct_url, warmup=args.warmup)
            row["cpu_seconds"]["delay_proxy"] = round(cpu_seconds([proxy_pid]) - before, 1)
            rows.append(dict(row, binary=label))
        finally:
            stop(nodes)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", required=True)
    parser.add_argument("--baseline", help="a second binary (an earlier build) measured in the same run, first")
    parser.add_argument("--duration", type=int, default=15)
    parser.add_argument("--warmup", type=int, default=3, help="seconds of the same load before each measured one (0: none)")
    parser.add_argument("--connections", type=int, default=24)
    parser.add_argument("--delay-ms", type=float, default=0,
                        help="instead of the SQLite comparison: 1 vs 3 instances behind a proxy adding this one-way delay to PostgreSQL")
    args = parser.parse_args()
    binaries = ([("baseline", args.baseline)] if args.baseline else []) + [("binary", args.binary)]
    rows = []
    work = tempfile.mkdtemp(prefix="sluice-pg-bench.")
    pg_dir = os.path.join(tempfile.gettempdir(), f"sluice-pg-bench-cluster.{os.getpid()}")
    url = subprocess.run([os.path.join(ROOT, "scripts", "postgres-cluster"), "start", pg_dir], capture_output=True, text=True, check=True).stdout.strip()
    proxy = None
    try:
        if args.delay_ms > 0:
            host_port = url.split("@", 1)[1].split("/", 1)[0]
            proxy = subprocess.Popen(delay_proxy_command(work, host_port, args.delay_ms), stdout=subprocess.PIPE, text=True)
            proxy_port = proxy.stdout.readline().strip()
            delayed = url.replace(host_port, f"127.0.0.1:{proxy_port}")
            for label, binary in binaries:
                scale_behind_delay(binary, label, work, delayed, url, proxy.pid, args, rows)
        else:
            for label, binary in binaries:
                compare_with_sqlite(binary, label, work, url, args, rows)
    finally:
        if proxy:
            proxy.kill()
        subprocess.run([os.path.join(ROOT, "scripts", "postgres-cluster"), "stop", pg_dir])
        shutil.rmtree(work, ignore_errors=True)
    print()
    for label, _ in binaries:
        mine = [r for r in rows if r["binary"] == label]
        if args.delay_ms > 0:
            one, three = mine[0]["events_per_s"], mine[1]["events_per_s"]
            print(f"{label}: 3 instances / 1 instance behind {args.delay_ms} ms = {three / one:.2f}x ({one} -> {three} events/s)")
        else:
            for batch in (1, 100):
                lite = next(r for r in mine if r["setup"] == "1 x SQLite" and r["batch"] == batch)["events_per_s"]
                pg = next(r for r in mine if r["setup"] == "3 x PostgreSQL" and r["batch"] == batch)["events_per_s"]
                print(f"{label}: batch {batch}: 3 x PostgreSQL / 1 x SQLite = {pg / lite:.2f}x ({pg} vs {lite} events/s)")
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    name = "postgres-ingest-delay.json" if args.delay_ms > 0 else "postgres-ingest.json"
    with open(os.path.join(HERE, "results", name), "w") as f:
        json.dump({"when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "delay_ms": args.delay_ms, "rows": rows}, f, indent=2)


if __name__ == "__main__":
    main()
