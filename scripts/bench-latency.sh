#!/usr/bin/env bash
# Output latency at a steady load: `generate --rate R` (default 10,000/s; event time 50× the
# wall clock, so a tumbling and a sliding window become final every 1.2 s) feeds a fresh topic
# while `ratings-stream run` processes it live; a read_committed consumer measures, for S seconds
# (default 120), how long after a window became final its record was readable in `metrics`.
# Usage: scripts/bench-latency.sh [RATE] [SECONDS] [extra run flags, e.g. --commit-interval 100ms]
set -euo pipefail
cd "$(dirname "$0")/.."
rate=${1:-10000}
seconds=${2:-120}
. scripts/lib/bench.sh
cargo build --release --locked -q --example commit_latency
kafka_topics latency

"$bin" generate --rate "$rate" --events-per-second $((rate / 50)) \
  --bootstrap-servers "$bootstrap" --ratings-topic "latency-ratings-$run_id" \
  2> "$work/latency-generate.log" &
generator=$!
"$bin" run --bootstrap-servers "$bootstrap" --ratings-topic "latency-ratings-$run_id" \
  --metrics-topic "latency-metrics-$run_id" --dead-letter-topic "latency-dead-$run_id" \
  --group-id "latency-$run_id" --checkpoint-storage "$work/checkpoint-latency-$run_id" \
  --starting-offsets latest --metrics-address off --progress-interval 30s "${@:3}" \
  2> "$work/latency-run.log" &
processor=$!
trap 'kill $generator $processor 2>/dev/null || true' EXIT
sleep 15 # warm-up: the first windows become final after the 10-minute watermark delay
target/release/examples/commit_latency "$bootstrap" "latency-metrics-$run_id" "$seconds"
kill -TERM $processor
wait $processor || true
grep -E 'progress: ' "$work/latency-run.log" | tail -1
