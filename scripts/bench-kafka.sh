#!/usr/bin/env bash
# End-to-end Kafka throughput: pre-fills a fresh 3-partition topic with N generated ratings
# (1,000 per second of event time), then runs `ratings-stream run --exit-at-end` until it has
# caught up, and prints ratings/s, CPU seconds and peak RSS — with exactly-once and with
# at-least-once delivery, one after the other on the same topic. The broker runs on the same
# machine.
# Usage: scripts/bench-kafka.sh [N] [extra run flags]     (default N = 5000000)
#   DELIVERY=at-least-once scripts/bench-kafka.sh ...   one mode only.
#   PERF=1 scripts/bench-kafka.sh ...   also records a CPU profile (perf) and prints its top.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-5000000}
shift || true
. scripts/lib/bench.sh
kafka_topics bench

echo "pre-filling bench-ratings-$run_id with $n ratings"
start=$(date +%s.%N)
"$bin" generate --rate 0 --count "$n" --events-per-second 1000 --start-time 1761764400 \
  --bootstrap-servers "$bootstrap" --ratings-topic "bench-ratings-$run_id"
end=$(date +%s.%N)
awk -v n="$n" -v s="$start" -v e="$end" 'BEGIN { printf "producer: %.2f M ratings/s\n", n / (e - s) / 1e6 }'

# run_processor DELIVERY: drains the topic with that --delivery into outputs of its own, prints
# its figures.
run_processor() {
  local delivery=$1 tag="$1-$run_id"
  scripts/kafka.sh create "bench-metrics-$tag" 3 >/dev/null
  scripts/kafka.sh create "bench-dead-$tag" 3 >/dev/null
  # the checkpoint goes to --storage when given, else to the scratch folder
  local checkpoint=(--checkpoint-dir "checkpoints/bench-$tag")
  [[ " ${extra[*]} " == *" --storage "* ]] || checkpoint+=(--checkpoint-storage "$work")
  cmd=("$bin" run --bootstrap-servers "$bootstrap" --ratings-topic "bench-ratings-$run_id"
    --metrics-topic "bench-metrics-$tag" --dead-letter-topic "bench-dead-$tag"
    --group-id "bench-$tag" --delivery "$delivery" "${checkpoint[@]}"
    --exit-at-end --metrics-address off --progress-interval 5s "${extra[@]}")
  if [ "${PERF:-0}" = 1 ]; then
    perf record -g -o "$work/perf.data" -- "${cmd[@]}" 2> "$work/run.log"
    perf report -i "$work/perf.data" --no-children --stdio 2>/dev/null | grep -E '^ +[0-9]' | head -25
    return
  fi
  /usr/bin/time -f "%e %U %S %M" -o "$work/time" "${cmd[@]}" 2> "$work/run-$delivery.log"
  read -r wall user sys rss < "$work/time"
  grep -E 'processed [0-9]+ records' "$work/run-$delivery.log"
  awk -v d="$delivery" -v n="$n" -v w="$wall" -v u="$user" -v s="$sys" -v r="$rss" 'BEGIN {
    printf "%s: %d ratings in %.2f s wall (%.2f s CPU: %.2f user + %.2f sys): %.2f M ratings/s, peak RSS %.1f MB\n",
      d, n, w, u + s, u, s, n / w / 1e6, r / 1024 }'
}

extra=("$@")
# DELIVERY="exactly-once at-least-once" (default): both, one after the other, on the same topic
for delivery in ${DELIVERY:-exactly-once at-least-once}; do
  run_processor "$delivery"
done
