#!/usr/bin/env bash
# State under adversarial cardinality: PER_MINUTE ratings per minute of event time (default
# 1,000,000) for MINUTES minutes (default 20), each of a movie id of its own unknown to the
# catalog (`generate --distinct-unknown-movies`), against the same stream over the catalog's
# movies. File mode: wall time and peak RSS of each. Kafka mode (exactly-once, default
# settings, unless KAFKA=0): peak RSS, the largest state rows count the progress reports saw,
# and the size of the checkpoint's largest state file.
# Usage: scripts/bench-cardinality.sh [PER_MINUTE] [MINUTES]
set -euo pipefail
cd "$(dirname "$0")/.."
per_minute=${1:-1000000}
minutes=${2:-20}
. scripts/lib/bench.sh
n=$((per_minute * minutes))
generate() { # KIND EXTRA...: the input file of that kind
  local file="$work/cardinality-$1-$n.jsonl"
  shift
  [ -f "$file" ] || "$bin" generate --rate 0 --count "$n" --events-per-second $((per_minute / 60)) \
    --start-time 1761764400 --seed 3 "$@" --output "$file" 2>/dev/null
  echo "$file"
}
report() { # KIND TIME-FILE
  read -r wall rss < "$2"
  awk -v k="$1" -v n="$n" -v w="$wall" -v r="$rss" 'BEGIN {
    printf "%-9s %d ratings in %.1f s, peak RSS %.0f MB\n", k, n, w, r / 1024 }'
}
echo "== file mode: $n ratings, $per_minute per minute"
for kind in catalog distinct; do
  extra=()
  [ "$kind" = distinct ] && extra=(--distinct-unknown-movies)
  input=$(generate "$kind" "${extra[@]}")
  /usr/bin/time -f "%e %M" -o "$work/time" \
    "$bin" run --input "$input" --metrics-file /dev/null 2>/dev/null
  report "$kind" "$work/time"
done
[ "${KAFKA:-1}" = 1 ] || exit 0
echo "== Kafka mode, exactly-once: the same inputs"
kafka_topics cardinality
for kind in catalog distinct; do
  topic="cardinality-$kind-$run_id"
  scripts/kafka.sh create "$topic" 3
  extra=()
  [ "$kind" = distinct ] && extra=(--distinct-unknown-movies)
  "$bin" generate --rate 0 --count "$n" --events-per-second $((per_minute / 60)) \
    --start-time 1761764400 --seed 3 "${extra[@]}" --bootstrap-servers "$bootstrap" \
    --ratings-topic "$topic" 2>/dev/null
  checkpoint="$work/cardinality-checkpoint-$kind-$run_id"
  /usr/bin/time -f "%e %M" -o "$work/time" \
    "$bin" run --bootstrap-servers "$bootstrap" --ratings-topic "$topic" \
    --metrics-topic "cardinality-metrics-$run_id" --dead-letter-topic "cardinality-dead-$run_id" \
    --group-id "cardinality-$kind-$run_id" --checkpoint-storage "$checkpoint" \
    --metrics-address off --exit-at-end --progress-interval 2s --progress-json \
    2> "$work/cardinality-$kind.log"
  report "$kind" "$work/time"
  rows=$(grep -o '"numRowsTotal":[0-9]*' "$work/cardinality-$kind.log" | cut -d: -f2 | sort -n | tail -1)
  state=$(find "$checkpoint" -path '*state*' -type f -printf '%s\n' | sort -n | tail -1)
  echo "          state rows at most ${rows:-?}; largest state file ${state:-0} bytes"
  rm -rf "$checkpoint"
done
