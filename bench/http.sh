#!/usr/bin/env bash
# The HTTP servers, old against new, side by side on this machine: the release binary of REF
# (default: main, built in a worktree) and of this tree. For each, in turn:
#   - `demo --dashboard` (windows in memory, no servers): /api/windows?range=1h and /api/status;
#   - `run` against the test broker (scripts/kafka.sh), idle: /metrics;
# at 1, 16 and 64 keep-alive clients for SECONDS each (crates/cli/benches/http_load.rs), and each
# process's resident memory once idle. Usage: bench/http.sh [REF] [SECONDS]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
ref=${1:-main}
seconds=${2:-10}
old_tree="$root/target/bench-old-tree"
if [ ! -d "$old_tree" ]; then git -C "$root" worktree add -q --detach "$old_tree" "$ref"; fi
git -C "$old_tree" checkout -q --detach "$ref"
echo "building $ref and this tree (release)" >&2
(cd "$old_tree" && CARGO_TARGET_DIR="$root/target/bench-old" cargo build --release -q -p ratings-stream)
(cd "$root" && cargo build --release -q -p ratings-stream && cargo bench -q -p ratings-stream --bench http_load --no-run 2>/dev/null)
load=$(ls -t "$root"/target/release/deps/http_load-* | grep -v '\.d$' | head -1)
"$root/scripts/kafka.sh" start >/dev/null
bootstrap=$("$root/scripts/kafka.sh" bootstrap)

rss() { awk '/VmRSS/ {print $2 " kB"}' "/proc/$1/status"; }

bench_one() { # name binary
  local name=$1 binary=$2 port log pid
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  log=$(mktemp)
  "$binary" demo --dashboard "127.0.0.1:$port" --duration 10m >/dev/null 2>"$log" &
  pid=$!
  sleep 20 # windows accumulate (the demo's event time runs ahead)
  echo "$name demo idle RSS: $(rss $pid)"
  for path in "/api/windows?range=1h" "/api/status"; do
    "$load" "http://127.0.0.1:$port$path" "$seconds" | sed "s|^|$name $path |"
  done
  kill $pid; wait $pid 2>/dev/null || true
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  "$binary" generate --bootstrap-servers "$bootstrap" --ratings-topic "bench-http-$$" --count 100 --rate 0 >/dev/null 2>&1
  "$binary" run --bootstrap-servers "$bootstrap" --ratings-topic "bench-http-$$" \
    --metrics-address "127.0.0.1:$port" --checkpoint-storage "$(mktemp -d)" \
    --group-id "bench-http-$name-$$" >/dev/null 2>"$log" &
  pid=$!
  sleep 10
  echo "$name run idle RSS: $(rss $pid)"
  "$load" "http://127.0.0.1:$port/metrics" "$seconds" | sed "s|^|$name /metrics |"
  kill $pid; wait $pid 2>/dev/null || true
  rm -f "$log"
}

bench_one old "$root/target/bench-old/release/ratings-stream"
bench_one new "$root/target/release/ratings-stream"
