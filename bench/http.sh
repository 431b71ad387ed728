#!/usr/bin/env bash
# The HTTP servers, old against new, side by side on this machine (issue 25): the release binary
# of REF (default: main, built in a worktree) and of this tree. For each, in turn:
#   - `dashboard --history 7d` on a topic with 7 days of windows (`examples/dashboard_load`, as in
#     scripts/bench-dashboard.sh): resident memory once the week is read, then
#     `/api/windows?range=1h` under load, then resident memory again, and 15 s later;
#   - `run` (exactly-once) idle on an empty topic: resident memory, `/metrics` under load, memory;
# each endpoint at 1, 16 and 64 keep-alive clients for SECONDS each (crates/cli/benches/http_load.rs).
# Usage: bench/http.sh [REF] [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
ref=${1:-main}
seconds=${2:-10}
old_tree="$root/target/bench-old-tree"
[ -d "$old_tree" ] || git worktree add -q --detach "$old_tree" "$ref"
git -C "$old_tree" checkout -q --detach "$ref"
echo "building $ref ($(git -C "$old_tree" rev-parse --short HEAD)) and this tree (release)" >&2
(cd "$old_tree" && CARGO_TARGET_DIR="$root/target/bench-old" cargo build --release --locked -q -p ratings-stream)
cargo bench --locked -q -p ratings-stream --bench http_load --no-run 2>/dev/null
load=$(ls -t target/release/deps/http_load-* | grep -v '\.d$' | head -1)
. scripts/lib/bench.sh # builds this tree; bin, work, kafka_topics, free_port, status_field
cargo build --release --locked -q --example dashboard_load
kafka_topics http
target/release/examples/dashboard_load "$bootstrap" "http-metrics-$run_id" 7 >/dev/null

rss() { awk '/VmRSS/ {printf "%.1f MB", $2 / 1024}' "/proc/$1/status"; }
# measure NAME PATH PORT: the load at each concurrency, one line each
measure() {
  "$load" "http://127.0.0.1:$3$2" "$seconds" | sed "s|^|$1 $2 |"
}

bench_one() { # name binary
  local name=$1 binary=$2 port pid
  port=$(free_port)
  "$binary" dashboard --bootstrap-servers "$bootstrap" --metrics-topic "http-metrics-$run_id" \
    --listen "127.0.0.1:$port" --history 7d 2>"$work/http-dashboard-$name.log" &
  pid=$!
  until [ "$(status_field "$port" feed.backfilled 2>/dev/null)" = "True" ]; do sleep 0.2; done
  sleep 5
  echo "$name dashboard, 7 days read: RSS $(rss $pid)"
  measure "$name" "/api/windows?range=1h" "$port"
  echo "$name dashboard, after the load: RSS $(rss $pid)"
  sleep 15
  echo "$name dashboard, 15 s later: RSS $(rss $pid)"
  kill $pid; wait $pid 2>/dev/null || true

  port=$(free_port)
  "$binary" run --bootstrap-servers "$bootstrap" --ratings-topic "http-ratings-$run_id" \
    --metrics-topic "http-metrics-run-$name-$run_id" --dead-letter-topic "http-dead-$run_id" \
    --group-id "http-$name-$run_id" --checkpoint-storage "$root/$work/http-checkpoint-$name-$run_id" \
    --metrics-address "127.0.0.1:$port" 2>"$work/http-run-$name.log" &
  pid=$!
  until curl -sf -o /dev/null "http://127.0.0.1:$port/metrics"; do sleep 0.2; done
  sleep 5
  echo "$name run, idle: RSS $(rss $pid)"
  measure "$name" "/metrics" "$port"
  echo "$name run, after the load: RSS $(rss $pid)"
  sleep 15
  echo "$name run, 15 s later: RSS $(rss $pid)"
  kill $pid; wait $pid 2>/dev/null || true
}

bench_one old "$root/target/bench-old/release/ratings-stream"
bench_one new "$root/$bin"
