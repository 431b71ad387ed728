#!/usr/bin/env bash
# Steady-state footprint at the original platform's load: `generate --rate R` (default 100/s,
# event time = wall clock) feeds a fresh topic while `ratings-stream run` processes it live for
# S seconds (default 150); RSS and CPU of the processor are sampled every 5 s from /proc.
# Usage: scripts/bench-steady.sh [RATE] [SECONDS] [extra run flags]
set -euo pipefail
cd "$(dirname "$0")/.."
rate=${1:-100}
seconds=${2:-150}
. scripts/lib/bench.sh
kafka_topics steady

"$bin" generate --rate "$rate" --bootstrap-servers "$bootstrap" --ratings-topic "steady-ratings-$run_id" \
  2> "$work/steady-generate.log" &
generator=$!
"$bin" run --bootstrap-servers "$bootstrap" --ratings-topic "steady-ratings-$run_id" \
  --metrics-topic "steady-metrics-$run_id" --dead-letter-topic "steady-dead-$run_id" \
  --group-id "steady-$run_id" --checkpoint-storage "$work/checkpoint-steady-$run_id" \
  --metrics-address off --progress-interval 30s "${@:3}" 2> "$work/steady-run.log" &
processor=$!
trap 'kill $generator $processor 2>/dev/null || true' EXIT

ticks=$(getconf CLK_TCK)
max=0
for ((t = 5; t <= seconds; t += 5)); do
  sleep 5
  rss=$(awk '/VmRSS/ {print $2}' "/proc/$processor/status")
  [ "$rss" -gt "$max" ] && max=$rss
  cpu=$(awk -v hz="$ticks" '{printf "%.2f", ($14 + $15) / hz}' "/proc/$processor/stat")
  echo "t=${t}s RSS $((rss / 1024)) MB, CPU ${cpu} s"
done
kill -TERM $processor
wait $processor || true
kill $generator 2>/dev/null || true
echo "steady ${rate}/s for ${seconds}s: max RSS $((max / 1024)) MB, final CPU ${cpu} s ($(awk -v c="$cpu" -v s="$seconds" 'BEGIN {printf "%.2f", 100 * c / s}')% of one core)"
grep -E 'progress: ' "$work/steady-run.log" | tail -1
