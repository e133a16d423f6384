#!/usr/bin/env python3
"""Writes the two corpora bench/zstd_probe.c measures: 20,000 Incydr file events as
shared/bench/mock_incydr.py serves them (509 templates with ids and times filled in), and 20,000
file events with random hashes, names, paths and addresses (more entropy than a real tenant's).
Each record is a 4-byte little-endian length, then the JSON bytes.

    python3 bench/zstd_corpora.py --shared ../shared/bench --out /tmp/zstd-corpora
    gcc -O2 -o /tmp/zstd_probe bench/zstd_probe.c -lzstd
    /tmp/zstd_probe /tmp/zstd-corpora/mock.bin && /tmp/zstd_probe /tmp/zstd-corpora/random.bin
"""
import argparse
import hashlib
import json
import os
import random
import sys
import uuid


def random_event(rnd):
    user = f"{rnd.choice(['ana', 'ben', 'chen', 'dara', 'eli'])}.{rnd.choice(['smith', 'kim', 'rossi'])}{rnd.randint(0, 5000)}@corp{rnd.randint(1, 3)}.example.com"
    name = f"{uuid.UUID(int=rnd.getrandbits(128)).hex[:rnd.randint(4, 20)]}-{rnd.choice(['report', 'export', 'backup', 'img'])}.{rnd.choice(['pdf', 'docx', 'xlsx', 'zip'])}"
    return json.dumps({
        "@timestamp": f"2026-12-0{rnd.randint(1, 6)}T{rnd.randint(0, 23):02d}:{rnd.randint(0, 59):02d}:{rnd.randint(0, 59):02d}.{rnd.randint(0, 999):03d}Z",
        "event": {"id": f"0_{uuid.UUID(int=rnd.getrandbits(128))}_{rnd.getrandbits(60)}", "action": rnd.choice(["file-created", "file-modified", "file-downloaded"]),
                  "observer": rnd.choice(["Endpoint", "GoogleDrive", "Box"]), "shareType": [], "relatedEvents": []},
        "user": {"email": user, "id": str(rnd.getrandbits(62)), "deviceUid": str(rnd.getrandbits(62))},
        "file": {"name": name, "directory": f"C:/Users/{user.split('@')[0]}/{rnd.choice(['Documents', 'Downloads'])}/{uuid.UUID(int=rnd.getrandbits(128)).hex[:rnd.randint(0, 12)]}/",
                 "sizeInBytes": rnd.randint(10, 10**9), "hash": {"md5": hashlib.md5(str(rnd.random()).encode()).hexdigest(),
                                                                  "sha256": hashlib.sha256(str(rnd.random()).encode()).hexdigest()}},
        "source": {"ip": f"{rnd.randint(1, 223)}.{rnd.randint(0, 255)}.{rnd.randint(0, 255)}.{rnd.randint(1, 254)}",
                   "privateIp": [f"10.{rnd.randint(0, 255)}.{rnd.randint(0, 255)}.{rnd.randint(1, 254)}"]},
        "risk": {"score": rnd.randint(0, 30), "severity": rnd.choice(["LOW", "HIGH"]), "trusted": False, "trustReason": None},
    }, separators=(",", ":")).encode()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared", required=True)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    sys.path.insert(0, a.shared)
    sys.path.insert(0, os.path.join(a.shared, "lib"))
    from mock_incydr import Data
    os.makedirs(a.out, exist_ok=True)
    data = Data(42, {"file-events": 100_000, "users": 10, "cases": 10, "audit": 10})
    rnd = random.Random(7)
    for name, make in [("mock.bin", lambda i: data.record("file-events", i)), ("random.bin", lambda i: random_event(rnd))]:
        with open(os.path.join(a.out, name), "wb") as f:
            for i in range(20_000):
                record = make(i)
                f.write(len(record).to_bytes(4, "little") + record)


if __name__ == "__main__":
    main()
