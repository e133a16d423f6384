#!/usr/bin/env python3
"""Verify a Sluice export offline: python3 verify_export.py EXPORT.ndjson PUBLIC_KEY_BASE64

EXPORT.ndjson is what `sluice events export --format ndjson --with-proof --out EXPORT.ndjson`
wrote (its proofs are in EXPORT.ndjson.proofs.ndjson beside it), or what
`GET /v1/events/export?format=ndjson&proof=true` answered (the proof lines follow the events). The public key is what
`sluice integrity public-key` prints. Needs only the standard library and `cryptography`.
Exits 0 when every exported event is in a checkpoint signed by that key; else names each failure.
"""
import base64
import calendar
import hashlib
import json
import os
import struct
import sys
from datetime import datetime

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey


def micros(text):
    """RFC 3339 with microseconds and Z, as Sluice writes times, to microseconds since 1970."""
    moment = datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ")
    return calendar.timegm(moment.timetuple()) * 1_000_000 + moment.microsecond


def leaf_data(event, raw):
    """The leaf of one exported event (docs/integrity.md, "What is covered")."""
    out = bytearray()

    def number(value):
        out.extend(struct.pack(">q", value))

    def text(value):
        data = value if isinstance(value, bytes) else value.encode("utf-8")
        out.extend(struct.pack(">I", len(data)))
        out.extend(data)

    def optional(value, write):
        if value is None:
            out.append(0)
        else:
            out.append(1)
            write(value)

    text(event["feed"])
    text(event["log_type"])
    optional(event.get("origin"), text)
    number(micros(event["occurred_at"]))
    number(micros(event["received_at"]))
    text(event["action"])
    actor = event.get("actor")
    if actor is None:
        out.append(0)
    else:
        out.append(1)
        text(actor["type"])
        text(actor["id"])
        optional(actor.get("name"), text)
        metadata = actor.get("metadata") or {}
        out.extend(struct.pack(">I", len(metadata)))
        for key in sorted(metadata, key=lambda k: k.encode("utf-8")):
            text(key)
            text(metadata[key])
    out.extend(struct.pack(">I", len(event["targets"])))
    for target in event["targets"]:
        text(target["type"])
        text(target["id"])
        optional(target.get("name"), text)
    optional(event["context"].get("location"), text)
    optional(event["context"].get("user_agent"), text)
    optional(event.get("schema_version"), number)
    text(raw)
    content = hashlib.sha256(bytes(out)).digest()

    out = bytearray(b"sluice-leaf-v2\n")
    number(event["seq"])
    text(event["id"])
    out.extend(content)
    return bytes(out)


def leaf_hash(data):
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left, right):
    return hashlib.sha256(b"\x01" + left + right).digest()


def verify_inclusion(leaf, index, size, path, root):
    """RFC 9162, section 2.1.3.2."""
    if index >= size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def parse_statement(statement):
    lines = statement.split("\n")
    if len(lines) != 9 or lines[0] != "sluice integrity checkpoint v2" or lines[8] != "":
        raise ValueError("not a v2 checkpoint statement")
    fields = dict(line.split(" ", 1) for line in lines[1:8])
    return {"key": fields["key"], "count": int(fields["count"]), "root": bytes.fromhex(fields["root"])}


def main(export_path, public_key_b64):
    key_bytes = base64.b64decode(public_key_b64)
    public_key = Ed25519PublicKey.from_public_bytes(key_bytes)
    key_id = hashlib.sha256(key_bytes).digest()[:8].hex()
    checkpoints, proofs, failures = {}, {}, []
    beside = export_path + ".proofs.ndjson"
    with open(beside if os.path.exists(beside) else export_path) as f:
        for line in f:
            record = json.loads(line)
            if "type" not in record:
                continue  # an event line of a combined export
            if record["type"] == "checkpoint":
                statement = record["statement"]
                try:
                    public_key.verify(base64.b64decode(record["signature"]), statement.encode("utf-8"))
                    parsed = parse_statement(statement)
                    if parsed["key"] != key_id:
                        raise InvalidSignature()
                    checkpoints[record["seq"]] = parsed
                except (InvalidSignature, ValueError, KeyError):
                    failures.append(f"checkpoint seq {record['seq']}: not signed by this key")
            else:
                proofs[record["seq"]] = record
    verified = 0
    with open(export_path) as f:
        for line in f:
            event = json.loads(line)
            if "type" in event:
                continue  # a proof line of a combined export
            if event["feed"] == "sluice" and event["log_type"] == "SLUICE_INTEGRITY":
                # A checkpoint exported as an event proves itself: its signature.
                try:
                    public_key.verify(base64.b64decode(event["raw"]["signature"]), event["raw"]["statement"].encode("utf-8"))
                    verified += 1
                except (InvalidSignature, KeyError, TypeError):
                    failures.append(f"checkpoint event seq {event['seq']} ({event['id']}): not signed by this key")
                continue
            proof = proofs.get(event["seq"])
            if proof is None or proof["type"] != "event":
                failures.append(f"event seq {event['seq']} ({event['id']}): no proof (not yet covered by a checkpoint)")
                continue
            raw = base64.b64decode(proof["raw"])
            checkpoint = checkpoints.get(proof["checkpoint"])
            if json.loads(raw) != event["raw"]:
                failures.append(f"event seq {event['seq']} ({event['id']}): its raw bytes differ from the exported event")
            elif checkpoint is None or proof["size"] != checkpoint["count"]:
                failures.append(f"event seq {event['seq']} ({event['id']}): its checkpoint is missing or unsigned")
            elif not verify_inclusion(leaf_hash(leaf_data(event, raw)), proof["index"], proof["size"],
                                      [bytes.fromhex(h) for h in proof["path"]], checkpoint["root"]):
                failures.append(f"event seq {event['seq']} ({event['id']}): not the event its checkpoint covers")
            else:
                verified += 1
    for failure in failures:
        print("FAIL", failure)
    print(f"{'intact' if not failures else 'NOT intact'}: {verified} events verified against {len(checkpoints)} checkpoints")
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
