"""Builds a Sluice SQLite store in the layout before the lean store (release 929f3ce), from the
checked-in schema of such a store (fixtures/sluice-929f3ce-schema.sql): events with random ULID
ids, text columns, JSON targets and raw bytes, as that release wrote them.
"""
import hashlib
import json
import os
import random
import sqlite3

HERE = os.path.dirname(os.path.abspath(__file__))
CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def ulid(ms, rnd):
    value = (ms << 80) | rnd.getrandbits(80)
    return "".join(CROCKFORD[(value >> (5 * (25 - i))) & 31] for i in range(26))


def timed_key(occurred_us, key):
    """The stored dedupe key: the event's time (8 big-endian bytes, sign bit flipped), then the
    first 16 bytes of the producer's key (SHA-256 here)."""
    ordered = (occurred_us & 0xFFFFFFFFFFFFFFFF) ^ (1 << 63)
    return ordered.to_bytes(8, "big") + hashlib.sha256(key.encode()).digest()[:16]


def build(path, count, seed=1, base_us=None):
    """Creates the store at `path` with `count` events, one a second from `base_us` (by default
    ten days before now, well inside the default retention); returns [(id, seq, raw bytes)]."""
    rnd = random.Random(seed)
    if base_us is None:
        import time
        base_us = int((time.time() - 10 * 86_400) * 1_000_000)
    db = sqlite3.connect(path)
    db.executescript(open(os.path.join(HERE, "fixtures", "sluice-929f3ce-schema.sql")).read())
    db.execute("INSERT INTO store_state (name, value) VALUES ('terms_indexed_through', 0), ('untimed_dedupe_keys_through', 0)")
    out = []
    for n in range(1, count + 1):
        occurred = base_us + n * 1_000_003
        received = occurred + 5_000_000
        if n % 3 == 0:
            source, log_type, action = "incydr", "CODE42_INCYDR", "file-downloaded"
            actor = (f"user{rnd.randrange(400)}@example.com", "user")
            raw = json.dumps({"@timestamp": f"n{n}", "event": {"id": f"0_{rnd.getrandbits(64):x}", "action": action},
                              "user": {"email": actor[0]}, "file": {"name": f"report-{n}.pdf", "sha256": f"{rnd.getrandbits(256):064x}"}},
                             separators=(",", ":"))
            targets = [{"type": "file", "id": f"f{n}", "name": f"report-{n}.pdf"}]
            origin = f"file_events@2026-12-01T00:00:00.000000Z#{n // 1000 + 1}"
        else:
            source, log_type, action = "default", "INCIDENT_IO", rnd.choice(["api_key.created", "user.updated", "role.deleted"])
            actor = (f"01FCNDV{rnd.randrange(99):02d}", "api_key")
            raw = json.dumps({"action": action, "actor": {"id": actor[0], "type": actor[1]}, "n": n,
                              "context": {"location": f"10.0.{n % 250}.1"}, "note": "\u00e9t\u00e9 \U0001f6e1"}, ensure_ascii=n % 2 == 0)
            targets = [{"type": "api_key", "id": f"k{n % 97}", "name": "Key"}]
            origin = None
        event_id = ulid(received // 1000, rnd)
        raw_bytes = raw.encode()
        cur = db.execute(
            "INSERT INTO events (id, source, dedupe_key, log_type, occurred_at, received_at, action, actor_type, actor_id, actor_name,"
            " actor_metadata, targets, location, user_agent, schema_version, raw, origin)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (event_id, source, timed_key(occurred, f"{source}-{n}"), log_type, occurred, received, action, actor[1], actor[0], None,
             "{}", json.dumps(targets, separators=(",", ":")), "10.0.0.1", None, 1, raw_bytes, origin))
        out.append((event_id, cur.lastrowid, raw_bytes))
    db.commit()
    db.close()
    return out
