"""Starts and stops a real `sluice serve` process on a loopback port chosen at runtime.

Shared by the crash-recovery test and the benchmarks.
"""
import collections
import os
import signal
import socket
import subprocess
import time
import urllib.request


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_kib(pid, field="VmRSS"):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


class SluiceProcess:
    """`sluice serve --data-dir DIR [--config FILE]` with the admin token and default feed secret set."""

    def __init__(self, binary, data_dir, admin_token, feed_secret, log_path=None, config=None):
        self.binary, self.data_dir, self.config = binary, data_dir, config
        self.admin_token, self.feed_secret = admin_token, feed_secret
        self.log_path = log_path or os.path.join(data_dir + ".log")
        self.proc = None
        self.port = None

    def start(self, timeout=30):
        self.port = free_port()
        env = dict(os.environ, SLUICE_ADMIN_TOKEN=self.admin_token, SLUICE_DEFAULT_FEED_SECRET=self.feed_secret)
        log = open(self.log_path, "ab")
        command = [self.binary, "serve", "--data-dir", self.data_dir, "--listen", f"127.0.0.1:{self.port}", "--log-level", "warning"]
        if self.config:
            command += ["--config", self.config]
        self.proc = subprocess.Popen(command, stdout=log, stderr=log, env=env)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"sluice exited with {self.proc.returncode} at start; see {self.log_path}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=1) as r:
                    if r.status == 200:
                        return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"sluice did not become healthy within {timeout} s")

    def signal(self, sig, timeout=60):
        """Sends `sig` and waits for the process to exit; returns its exit code."""
        self.proc.send_signal(sig)
        return self.proc.wait(timeout=timeout)


def write_config(path, feed="log_type: INCIDENT_IO", destinations="", routes=""):
    """A `sluice serve` config with the admin token and the `default` feed SluiceProcess provides
    (their values come from the environment it sets); `destinations` and `routes` are YAML text."""
    with open(path, "w") as f:
        f.write('server:\n  admin_tokens:\n    - { name: ops, role: admin, token: "${env:SLUICE_ADMIN_TOKEN}" }\n')
        f.write('feeds:\n  default:\n    secret: "${env:SLUICE_DEFAULT_FEED_SECRET}"\n')
        f.write("".join(f"    {line}\n" for line in feed.splitlines()))
        if destinations:
            f.write("destinations:\n" + destinations)
        if routes:
            f.write("routes:\n" + routes)
    return path


class Checks:
    """Named pass/fail checks, printed as they happen; `summary()` is the exit code."""

    def __init__(self):
        self.passed, self.failed = 0, 0

    def __call__(self, name, ok, detail=""):
        if ok:
            self.passed += 1
            print(f"ok   {name}")
        else:
            self.failed += 1
            print(f"FAIL {name} {detail}")

    def summary(self):
        print(f"{self.passed} passed, {self.failed} failed")
        return 1 if self.failed else 0


def raw_member(line):
    """The `raw` member of one event exported as NDJSON: the bytes as received (it is the last
    member, and every string before it escapes its quotes, so the first `,"raw":` is the member)."""
    start = line.index(',"raw":') + len(',"raw":')
    return line[start:-1]


def compare(checks, name, stored, served):
    """One check that `stored` holds each of `served` exactly once and nothing else."""
    stored, served = collections.Counter(stored), collections.Counter(served)
    twice = [line[:120] for line, n in stored.items() if n > 1]
    missing = [line[:120] for line in served if line not in stored]
    extra = [line[:120] for line in stored if line not in served]
    checks(name, not twice and not missing and not extra and sum(stored.values()) == sum(served.values()),
           f"{sum(stored.values())} stored, {sum(served.values())} served; twice {twice[:2]}; missing {missing[:2]}; not served {extra[:2]}")


def kill_when(process, condition, timeout=120):
    """SIGKILLs `process` (a Popen) once `condition()` holds; True when it was still running
    then, so the kill landed mid-run."""
    deadline = time.time() + timeout
    while time.time() < deadline and process.poll() is None and not condition():
        time.sleep(0.02)
    running = process.poll() is None
    process.send_signal(signal.SIGKILL)
    process.wait()
    return running
