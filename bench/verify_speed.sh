#!/usr/bin/env bash
# `sluice verify` throughput: each build fills a fresh store of its own (embedded default,
# integrity on, pushes of 100 distinct events from wrk for SECONDS), stops (the last checkpoint
# covers everything), then verifies it ROUNDS times. Prints events, wall and user seconds, events/s.
#   bash bench/verify_speed.sh [SECONDS=10] [ROUNDS=3] BUILD...
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
seconds=$1; rounds=$2; shift 2
secret=bench-feed-secret-0123456789
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
for binary in "$@"; do
  dir=$(mktemp -d /tmp/sluice-verify.XXXXXX)
  SLUICE_ADMIN_TOKEN=bench-admin-token-0123456789 SLUICE_DEFAULT_FEED_SECRET=$secret \
    "$binary" serve --data-dir "$dir" --listen "127.0.0.1:$port" --log-level error >"$dir/log" 2>&1 &
  pid=$!
  for _ in $(seq 1 100); do curl -s -o /dev/null "http://127.0.0.1:$port/healthz" && break; sleep 0.1; done
  wrk -t 2 -c 32 -d "${seconds}s" --timeout 10s -s "$here/unique_events.lua" "http://127.0.0.1:$port/v1/feeds/default/events" \
    -- 100 "X-Webhook-Access-Key: $secret" >/dev/null
  kill "$pid"; wait "$pid" 2>/dev/null || true
  for _ in $(seq 1 "$rounds"); do
    start=$(date +%s.%N)
    out=$( { /usr/bin/time -f "user %U" "$binary" verify --data-dir "$dir" --json >"$dir/report.json"; } 2>&1 )
    end=$(date +%s.%N)
    python3 - "$binary" "$dir/report.json" "$start" "$end" "$out" <<'PY'
import json, sys
binary, report, start, end, out = sys.argv[1:]
r = json.load(open(report))
events = r.get("verified_events") or r.get("verifiedEvents") or 0
wall = float(end) - float(start)
user = out.split("user ")[-1].strip()
print(f"{binary} events={events} intact={r.get('intact')} wall={wall:.2f}s user={user}s events/s={events / wall:,.0f}")
PY
  done
  rm -rf "$dir"
done
