#!/usr/bin/env bash
# End-to-end file-mode benchmark: generates N synthetic ratings (JSON lines, 1,000 per second of
# event time), then runs `ratings-stream run` over them and prints wall/CPU time, rate and peak RSS.
# Usage: scripts/bench-file.sh [N] [extra run flags]     (default N = 5000000)
#   e.g. scripts/bench-file.sh 5000000 --storage file://$PWD/.cache/bench/parquet
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-5000000}
shift || true
. scripts/lib/bench.sh
input="$work/generated-$n.jsonl"
[ -f "$input" ] || "$bin" generate --rate 0 --count "$n" --events-per-second 1000 --start-time 1761764400 --output "$input"
for run in 1 2 3; do
  /usr/bin/time -f "%e %U %S %M" -o "$work/time" \
    "$bin" run --input "$input" --metrics-file "$work/metrics.jsonl" "$@" 2>/dev/null
  rm -rf "$work/parquet"
  read -r wall user sys rss < "$work/time"
  awk -v n="$n" -v w="$wall" -v u="$user" -v s="$sys" -v r="$rss" -v run="$run" 'BEGIN {
    printf "run %d: %d ratings in %.2f s wall (%.2f s CPU): %.2f M ratings/s, peak RSS %.1f MB\n",
      run, n, w, u + s, n / w / 1e6, r / 1024 }'
done
