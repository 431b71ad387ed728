#!/usr/bin/env bash
# `verify --audit` cost: pre-fills a fresh topic with HOURS hours of event time at RATE ratings
# per second of event time (default 24 h at 100/s, the seed's load: 8.64 M ratings, with 2% late
# and 1% malformed records), runs the exactly-once processor over it to the end with Parquet on
# a local folder (or --storage URL), then times `verify --audit` over every hour and prints its
# wall time, CPU and peak RSS (3 runs) and the audit lines of the last one.
# Usage: scripts/bench-audit.sh [HOURS] [RATE] [extra run flags]
set -euo pipefail
cd "$(dirname "$0")/.."
hours=${1:-24}
rate=${2:-100}
shift 2 || shift $# || true
. scripts/lib/bench.sh
kafka_topics audit
n=$((hours * 3600 * rate))
storage=("$@")
[ ${#storage[@]} -gt 0 ] || storage=(--storage "$work/audit-$run_id")
start_time=1761696000 # 2025-10-29T00:00:00Z; the audit starts an hour before (late records)
args=(--bootstrap-servers "$bootstrap" --ratings-topic "audit-ratings-$run_id"
  --metrics-topic "audit-metrics-$run_id" --dead-letter-topic "audit-dead-$run_id"
  --group-id "audit-$run_id" --metrics-address off "${storage[@]}")
echo "pre-filling audit-ratings-$run_id with $n ratings ($hours h at $rate/s of event time)"
"$bin" generate --rate 0 --count "$n" --events-per-second "$rate" --start-time "$start_time" \
  --late-fraction 0.02 --malformed-fraction 0.01 --seed 5 \
  --bootstrap-servers "$bootstrap" --ratings-topic "audit-ratings-$run_id" 2>&1 | tail -1
"$bin" run "${args[@]}" --exit-at-end 2> "$work/audit-run.log"
grep -E 'processed [0-9]+ records' "$work/audit-run.log" || true
for run in 1 2 3; do
  /usr/bin/time -f "%e %U %S %M" -o "$work/time" "$bin" verify "${args[@]}" --observe 1s \
    --audit --from 2025-10-28T23 > "$work/audit-report.txt" || true
  read -r wall user sys rss < "$work/time"
  awk -v w="$wall" -v u="$user" -v s="$sys" -v r="$rss" -v run="$run" 'BEGIN {
    printf "run %d: verify --audit in %.2f s wall (%.2f s CPU), peak RSS %.1f MB\n", run, w, u + s, r / 1024 }'
done
grep -E '^(PASS|WARN|FAIL)  audit' "$work/audit-report.txt"
