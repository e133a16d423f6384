#!/usr/bin/env python3
"""The lean store's pull figures, side by side in one run: Sluice builds (and the seed's
collector) collecting the same Incydr file events from shared/bench/mock_incydr.py.

    cp -r ../shared/bench /tmp/sbench && bash /tmp/sbench/setup.sh     # the seed's venv, nginx, wrk...
    python3 bench/lean_store.py --shared /tmp/sbench --file-events 200000 --rounds 3 \\
        --sluice before=/tmp/sluice-before --sluice after=.build/release/sluice --seed

Each round runs every contender once, in turn, each Sluice from an empty data directory
(`sluice collect incydr --once`, bench/incydr.yaml, `synchronous: full`). Per run:
  records/s   records the mock served / wall seconds of the whole process;
  CPU µs/ev   the process's user + system time / records served;
  written/served  bytes the process wrote (its rusage `ru_oublock` × 512, as GNU time's %O
              reports file-system outputs) / bytes of the pages the mock served;
  disk/served bytes of the data directory after the process exited / bytes served.
Medians per contender at the end, and each Sluice's records/s against the seed's.
"""
import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def http(method, url, body=None):
    req = urllib.request.Request(url, method=method, data=body, headers={"Content-Type": "application/json"} if body else {})
    with urllib.request.urlopen(req, timeout=30) as r:
        data = r.read()
    return json.loads(data) if data else None


def wait_http(url, proc, seconds=300):
    t0 = time.time()
    while time.time() - t0 < seconds:
        if proc.poll() is not None:
            raise RuntimeError(f"{url}: exited with {proc.returncode}")
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except Exception:
            time.sleep(0.1)
    raise RuntimeError(f"{url} not up after {seconds}s")


def du(path):
    total = 0
    for base, _, files in os.walk(path):
        for name in files:
            total += os.path.getsize(os.path.join(base, name))
    return total


def run(cmd, env, timeout):
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=open("/tmp/lean-store-run.err", "w"), process_group=0)
    while True:
        pid, status, ru = os.wait4(p.pid, os.WNOHANG)
        if pid:
            return time.monotonic() - t0, os.waitstatus_to_exitcode(status), ru
        if time.monotonic() - t0 > timeout:
            os.killpg(p.pid, signal.SIGKILL)
            _, status, ru = os.wait4(p.pid, 0)
            return time.monotonic() - t0, "timeout", ru
        time.sleep(0.02)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shared", required=True, help="a writable copy of shared/bench with its .venv (setup.sh)")
    ap.add_argument("--file-events", type=int, default=200_000)
    ap.add_argument("--page-size", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--sluice", action="append", default=[], help="LABEL=BINARY, repeatable")
    ap.add_argument("--seed", action="store_true", help="also run the seed's collector (seed_collector.py into a GCS emulator)")
    ap.add_argument("--timeout", type=float, default=1800)
    ap.add_argument("--mock-port", type=int, default=18181)
    ap.add_argument("--gcs-port", type=int, default=18383)
    ap.add_argument("--keep", help="keep each Sluice's last data directory under this path")
    ap.add_argument("--out", default="")
    a = ap.parse_args()
    shared = os.path.abspath(a.shared)
    py = os.path.join(shared, ".venv/bin/python")
    mock = subprocess.Popen([py, os.path.join(shared, "mock_incydr.py"), "--port", str(a.mock_port), "--file-events", str(a.file_events),
                             "--users", "10", "--cases", "10", "--audit", "10", "--page-size", str(a.page_size), "--prerender"],
                            stdout=subprocess.DEVNULL, stderr=open("/tmp/lean-store-mock.err", "w"), process_group=0)
    gcs = None
    results = {}
    try:
        wait_http(f"http://127.0.0.1:{a.mock_port}/_health", mock)
        env = dict(os.environ, INCYDR_BASE_URL=f"http://127.0.0.1:{a.mock_port}", INCYDR_CLIENT_ID="bench-client",
                   INCYDR_CLIENT_SECRET="bench-secret", PAGE_SIZE=str(a.page_size), DATASETS="file-events", GCS_BUCKET="incydr-logs")
        contenders = [tuple(s.split("=", 1)) for s in a.sluice] + ([("seed", None)] if a.seed else [])
        for round_ in range(1, a.rounds + 1):
            for label, binary in contenders:
                data = tempfile.mkdtemp(prefix=f"lean-{label}-")
                if binary:
                    cmd = [os.path.abspath(binary), "collect", "incydr", "--once", "--config", os.path.join(HERE, "incydr.yaml"),
                           "--data-dir", data, "--log-level", "error"]
                else:
                    hits = [os.path.join(b, f) for b, _, fs in os.walk(os.path.join(shared, ".venv")) for f in fs if f.startswith("fake-gcs-server-linux")]
                    gcs = subprocess.Popen([hits[0], "-scheme", "http", "-host", "127.0.0.1", "-port", str(a.gcs_port), "-backend", "memory",
                                            "-public-host", f"127.0.0.1:{a.gcs_port}", "-external-url", f"http://127.0.0.1:{a.gcs_port}",
                                            "-log-level", "error"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, process_group=0)
                    wait_http(f"http://127.0.0.1:{a.gcs_port}/storage/v1/b?project=bench", gcs)
                    http("POST", f"http://127.0.0.1:{a.gcs_port}/storage/v1/b?project=bench", json.dumps({"name": "incydr-logs"}).encode())
                    env["STORAGE_EMULATOR_HOST"] = f"http://127.0.0.1:{a.gcs_port}"
                    cmd = [py, os.path.join(shared, "seed_collector.py")]
                http("POST", f"http://127.0.0.1:{a.mock_port}/_reset")
                wall, rc, ru = run(cmd, env, a.timeout)
                st = http("GET", f"http://127.0.0.1:{a.mock_port}/_stats")
                served = sum(st["records"].values())
                served_bytes = st["bytes_out"]
                disk = du(data)
                cpu = ru.ru_utime + ru.ru_stime
                r = {"label": label, "round": round_, "rc": rc, "wall_s": wall, "records": served, "served_bytes": served_bytes,
                     "records_per_s": served / wall, "cpu_s": cpu, "cpu_us_per_event": cpu / max(1, served) * 1e6,
                     "written_bytes": ru.ru_oublock * 512, "disk_bytes": disk, "maxrss_mib": ru.ru_maxrss / 1024,
                     "written_per_served": ru.ru_oublock * 512 / served_bytes, "disk_per_served": disk / served_bytes}
                results.setdefault(label, []).append(r)
                print(f"{label:<8} round {round_}: rc={rc} {served} records {served_bytes / 2**20:.0f} MiB served in {wall:.2f}s "
                      f"= {r['records_per_s']:.0f} rec/s; cpu {r['cpu_us_per_event']:.1f} us/ev; written {r['written_per_served']:.2f}x, "
                      f"disk {r['disk_per_served']:.2f}x served; peak RSS {r['maxrss_mib']:.0f} MiB", flush=True)
                if rc != 0:
                    print(open("/tmp/lean-store-run.err").read()[-2000:], file=sys.stderr)
                if a.keep and binary:
                    target = os.path.join(a.keep, label)
                    shutil.rmtree(target, ignore_errors=True)
                    shutil.copytree(data, target)
                shutil.rmtree(data, ignore_errors=True)
                if gcs:
                    gcs.terminate()
                    gcs.wait(10)
                    gcs = None
        print()
        medians = {}
        for label, runs in results.items():
            m = {k: statistics.median(r[k] for r in runs) for k in
                 ("records_per_s", "cpu_us_per_event", "written_per_served", "disk_per_served", "maxrss_mib", "wall_s")}
            medians[label] = m
            print(f"{label:<8} MEDIAN {m['records_per_s']:.0f} rec/s, cpu {m['cpu_us_per_event']:.1f} us/ev, "
                  f"written {m['written_per_served']:.2f}x served, disk {m['disk_per_served']:.2f}x served, peak RSS {m['maxrss_mib']:.0f} MiB")
        if "seed" in medians:
            for label, m in medians.items():
                if label != "seed":
                    print(f"{label} / seed records/s: {m['records_per_s'] / medians['seed']['records_per_s']:.2f}x")
        if a.out:
            with open(a.out, "w") as f:
                json.dump({"runs": results, "medians": medians, "file_events": a.file_events}, f, indent=1)
    finally:
        for p in (mock, gcs):
            if p and p.poll() is None:
                p.terminate()
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()


if __name__ == "__main__":
    main()
