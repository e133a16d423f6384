#!/usr/bin/env python3
"""Where a PostgreSQL ingest run spends its time: one load, then the evidence.

    python3 bench/postgres_probe.py --binary .build/release/sluice --instances 3 [--delay-ms 1]
        [--connections N] [--batch 1] [--statements] [--perf sluice|postgres] [--drop-index NAME]

Starts a throwaway PostgreSQL cluster (and the delay proxy with --delay-ms), `--instances`
Sluice processes on one schema, and one wrk per instance for 10 s (bench/run_postgres_ingest.py's
load). Prints the load's row (events/s, p99, CPU seconds), each instance's group commits from its
/metrics (how many, mean duration, events per commit), how many sequential scans each table
had, and with --statements the statements by total time (pg_stat_statements, loaded by restarting
the cluster). --perf records a call graph of the Sluice processes or of PostgreSQL's into
bench/results/probe.perf.data (`perf report -i ...`). --drop-index drops an index of `events`
before the load, to weigh what it costs.
"""
import argparse
import os
import subprocess
import sys
import tempfile
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import run_postgres_ingest as ingest  # noqa: E402

SCHEMA = "probe"


def metrics(node):
    request = urllib.request.Request(f"http://127.0.0.1:{node.port}/metrics", headers={"Authorization": "Bearer " + ingest.ADMIN})
    return urllib.request.urlopen(request, timeout=30).read().decode()


def total(text, name):
    return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith(name))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", required=True)
    parser.add_argument("--instances", type=int, default=3)
    parser.add_argument("--connections", type=int, help="in all (default 24 per instance behind a delay, else 24)")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--delay-ms", type=float, default=0)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3, help="seconds of the same load before the measured one")
    parser.add_argument("--statements", action="store_true")
    parser.add_argument("--perf", choices=["sluice", "postgres"])
    parser.add_argument("--drop-index", action="append", default=[])
    args = parser.parse_args()
    connections = args.connections or (24 * args.instances if args.delay_ms else 24)
    work = tempfile.mkdtemp(prefix="sluice-pg-probe.")
    pg_dir = os.path.join(tempfile.gettempdir(), f"sluice-pg-probe-cluster.{os.getpid()}")
    cluster = os.path.join(ROOT, "scripts", "postgres-cluster")
    url = subprocess.run([cluster, "start", pg_dir], capture_output=True, text=True, check=True).stdout.strip()
    proxy, nodes = None, []
    try:
        if args.statements:
            ingest.psql(url, "ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'")
            subprocess.run([cluster, "crash-restart", pg_dir], check=True, capture_output=True)
            ingest.psql(url, "CREATE EXTENSION pg_stat_statements")
        target = url
        if args.delay_ms:
            host_port = url.split("@", 1)[1].split("/", 1)[0]
            proxy = subprocess.Popen(ingest.delay_proxy_command(work, host_port, args.delay_ms), stdout=subprocess.PIPE, text=True)
            target = url.replace(host_port, "127.0.0.1:" + proxy.stdout.readline().strip())
        nodes = ingest.start_nodes(args.binary, work, "probe", args.instances, target, SCHEMA)
        for index in args.drop_index:
            ingest.psql(url, f"DROP INDEX {SCHEMA}.{index}")
        if args.statements:
            ingest.psql(url, "SELECT pg_stat_statements_reset()")
        ingest.warm_up([n.port for n in nodes], connections, args.batch, args.warmup)
        before = [metrics(n) for n in nodes]
        perf = None
        if args.perf:
            pids = ingest.postgres_pids() if args.perf == "postgres" else [n.proc.pid for n in nodes]
            perf = subprocess.Popen(["perf", "record", "-F", "999", "-g", "-o", os.path.join(HERE, "results", "probe.perf.data"),
                                     "-p", ",".join(map(str, pids)), "--", "sleep", str(max(1, args.duration - 2))],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        row = ingest.measure("probe", [n.proc.pid for n in nodes], [n.port for n in nodes], connections, args.batch, args.duration, pg_url=url)
        after = [metrics(n) for n in nodes]
        if perf:
            perf.wait()
        for node, start, end in zip(nodes, before, after):
            count = total(end, "sluice_store_commit_duration_seconds_count") - total(start, "sluice_store_commit_duration_seconds_count")
            seconds = total(end, "sluice_store_commit_duration_seconds_sum") - total(start, "sluice_store_commit_duration_seconds_sum")
            events = row["events_per_s"] * args.duration / len(nodes)
            print(f"instance :{node.port}: {count:.0f} group commits, mean {1000 * seconds / max(count, 1):.2f} ms, "
                  f"about {events / max(count, 1):.1f} events per commit")
        print(ingest.psql(url, f"SELECT relname, seq_scan, seq_tup_read, idx_scan FROM pg_stat_user_tables WHERE schemaname = '{SCHEMA}' "
                               "ORDER BY seq_tup_read DESC LIMIT 5"))
        if args.statements:
            print(ingest.psql(url, "SELECT calls, round(total_exec_time::numeric, 1), round(mean_exec_time::numeric, 3), "
                                   "regexp_replace(left(query, 100), '\\s+', ' ', 'g') FROM pg_stat_statements ORDER BY total_exec_time DESC LIMIT 12"))
    finally:
        ingest.stop(nodes)
        if proxy:
            proxy.kill()
        subprocess.run([cluster, "stop", pg_dir], capture_output=True)


if __name__ == "__main__":
    main()
