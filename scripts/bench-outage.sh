#!/usr/bin/env bash
# A broker outage seen from a live exactly-once processor: `generate --rate 500` feeds a fresh
# topic while `ratings-stream run` processes it with a progress line every second; the broker is
# stopped for OUTAGE seconds (default 30) and started again. Prints how far apart the progress
# lines were during the outage (how long the main loop was held up) and how long after the
# broker reported "started" records flowed again.
# Usage: scripts/bench-outage.sh [OUTAGE] [extra run flags, e.g. --kafka-property k=v]
set -euo pipefail
cd "$(dirname "$0")/.."
outage=${1:-30}
. scripts/lib/bench.sh
kafka_topics outage
log="$work/outage-run-$run_id.log"

"$bin" generate --rate 500 --bootstrap-servers "$bootstrap" \
  --ratings-topic "outage-ratings-$run_id" 2> "$work/outage-generate.log" &
generator=$!
"$bin" run --bootstrap-servers "$bootstrap" --ratings-topic "outage-ratings-$run_id" \
  --metrics-topic "outage-metrics-$run_id" --dead-letter-topic "outage-dead-$run_id" \
  --group-id "outage-$run_id" --checkpoint-storage "$work/checkpoint-outage-$run_id" \
  --metrics-address off --progress-interval 1s "${@:2}" \
  2> >(while IFS= read -r line; do echo "$(date +%s.%N | cut -c1-14) $line"; done > "$log") &
processor=$!
trap 'kill $generator $processor 2>/dev/null || true' EXIT
sleep 8
stopped=$(date +%s.%N)
scripts/kafka.sh stop > /dev/null
sleep "$outage"
scripts/kafka.sh start > /dev/null
started=$(date +%s.%N)
sleep 15
kill -TERM $processor
wait $processor || true
kill $generator 2>/dev/null || true

# progress lines: "<unix time> <log time> INFO progress: <rows> rows ..."
awk -v stopped="$stopped" -v started="$started" '
  {
    p = 0
    for (i = 2; i <= NF; i++) if ($i == "progress:") { p = i; break }
  }
  p {
    if ($1 > stopped && $1 < started) { if (last) { gap = $1 - last; if (gap > max) max = gap; sum += gap; n++ } last = $1 }
    if ($1 > started && $(p + 1) > 0 && !resumed) resumed = $1
  }
  END {
    printf "outage %.0f s: %d progress lines, %.1f s apart on average, %.1f s at most\n", started - stopped, n + 1, sum / n, max
    printf "records flowed again %.1f s after the broker reported started\n", resumed - started
  }' "$log"
