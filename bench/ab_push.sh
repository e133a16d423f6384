#!/usr/bin/env bash
# A/B of two builds on the push path, for changes too small for run_benchmarks.py's one run:
# alternates the builds ROUNDS times; each time a fresh instance (embedded default, SQLite,
# synchronous=FULL) takes two 8-second wrk runs of bench/unique_events.lua. Prints requests/s.
#   bash bench/ab_push.sh BUILD_A BUILD_B [BATCH=1] [CONNS=32] [ROUNDS=2]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
a=$1; b=$2; batch=${3:-1}; conns=${4:-32}; rounds=${5:-2}
secret=bench-feed-secret-0123456789
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
run() {
  local binary=$1 dir pid
  dir=$(mktemp -d /tmp/sluice-ab.XXXXXX)
  SLUICE_ADMIN_TOKEN=bench-admin-token-0123456789 SLUICE_DEFAULT_FEED_SECRET=$secret \
    "$binary" serve --data-dir "$dir" --listen "127.0.0.1:$port" --log-level error >"$dir/log" 2>&1 &
  pid=$!
  for _ in $(seq 1 100); do curl -s -o /dev/null "http://127.0.0.1:$port/healthz" && break; sleep 0.1; done
  local line="$binary batch=$batch conns=$conns"
  for window in 1 2; do
    rps=$(wrk -t 2 -c "$conns" -d 8s --timeout 10s -s "$here/unique_events.lua" "http://127.0.0.1:$port/v1/feeds/default/events" \
      -- "$batch" "X-Webhook-Access-Key: $secret" | sed -n 's/^WRKJSON //p' | python3 -c 'import json, sys; d = json.load(sys.stdin); print(d["rps"], "non-2xx", d["err_status"])')
    line="$line window$window=$rps"
  done
  kill "$pid"; wait "$pid" 2>/dev/null || true
  rm -rf "$dir"
  echo "$line"
}
for _ in $(seq 1 "$rounds"); do run "$a"; run "$b"; done
