#!/usr/bin/env bash
# What each costs, side by side on this machine: ratings-stream and the seed's Spark job.
#
# Usage: bench/spark/cost.sh drain [N]            drain one pre-filled topic of N ratings (default
#                                                 1,000,000): wall time, ratings/s, CPU seconds,
#                                                 peak RSS, start-up time to the first processed
#                                                 record, for both, with ratios
#        bench/spark/cost.sh steady [RATE] [SECS]   both live on one topic fed at RATE ratings/s
#                                                 (default 100, the seed's load) for SECS seconds
#                                                 (default 180): RSS and CPU of each process tree
#        bench/spark/cost.sh latency [RATE] [SECS]  both live on one topic fed at RATE ratings/s
#                                                 (default 100) with event time 50x the clock (a
#                                                 window becomes final every 1.2 s): for SECS
#                                                 seconds (default 180) examples/output_latency
#                                                 measures each one's window-final -> readable
#                                                 (read_committed) latency: p50/p99, with ratios
set -euo pipefail
cd "$(dirname "$0")/../.."
mode=${1:-drain}
. scripts/lib/bench.sh
. bench/spark/submit.sh
scripts/kafka.sh status >/dev/null 2>&1 || scripts/kafka.sh start
bootstrap=$(scripts/kafka.sh bootstrap)
run_id=$(date +%s)
movies=../shared/data/movielens/ml-latest-small/movies.csv
topic=cost-$mode-$run_id
out=$work/cost-$run_id
mkdir -p "$out"
scripts/kafka.sh create "$topic" 3 >/dev/null
for side in ours spark; do scripts/kafka.sh create "$topic-metrics-$side" 3 >/dev/null; done
scripts/kafka.sh create "$topic-dead-ours" 3 >/dev/null

# ours PORT: the ratings-stream command line (add flags after it).
ours() {
  ours=("$bin" run --bootstrap-servers "$bootstrap" --ratings-topic "$topic"
    --metrics-topic "$topic-metrics-ours" --dead-letter-topic "$topic-dead-ours"
    --group-id "$topic-ours" --storage "$out/ours" --movies "$movies"
    --metrics-address "127.0.0.1:$1" --progress-interval 1h)
}
spark=("${spark_submit[@]}" --bootstrap "$bootstrap" --topic "$topic"
  --metrics-topic "$topic-metrics-spark" --output "$out/spark" --movies "$movies")

# first_record PORT FILE: writes the time ratings-stream first reports a processed record.
first_record() {
  until curl -fs "http://127.0.0.1:$1/metrics" 2>/dev/null | grep -q '^ratings_stream_records_in_total [1-9]'; do
    sleep 0.02
  done
  date +%s.%N > "$2"
}

# tree_usage PID: "RSS_KB CPU_SECONDS" of the process and all its descendants.
tree_usage() {
  local pids=("$1") all=() hz
  hz=$(getconf CLK_TCK)
  while [ ${#pids[@]} -gt 0 ]; do
    all+=("${pids[@]}")
    mapfile -t pids < <(for p in "${pids[@]}"; do pgrep -P "$p" || true; done)
  done
  for p in "${all[@]}"; do
    [ -r "/proc/$p/stat" ] && echo "$(awk '/VmRSS/ {print $2}' "/proc/$p/status") $(awk '{print $14 + $15}' "/proc/$p/stat")"
  done | awk -v hz="$hz" '{ rss += $1; cpu += $2 } END { printf "%d %.2f\n", rss, cpu / hz }'
}

drain() {
  local n=${1:-1000000}
  "$bin" generate --rate 0 --count "$n" --events-per-second 1000 --seed 42 --start-time 1761764400 \
    --movies "$movies" --bootstrap-servers "$bootstrap" --ratings-topic "$topic"
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  start=$(date +%s.%N)
  first_record "$port" "$out/ours.first" &
  ours "$port"
  /usr/bin/time -f "%e %U %S %M" -o "$out/ours.time" \
    "${ours[@]}" --exit-at-end --no-final-flush 2> "$out/ours.log"
  read -r wall user sys rss < "$out/ours.time"
  ours=("$wall" "$(echo "$user + $sys" | bc)" "$rss" "$(echo "$(cat "$out/ours.first") - $start" | bc)")
  start=$(date +%s.%N)
  /usr/bin/time -f "%e %U %S %M" -o "$out/spark.time" \
    "${spark[@]}" --available-now --started-file "$out/spark.first" 2> "$out/spark.log"
  read -r wall user sys rss < "$out/spark.time"
  spark=("$wall" "$(echo "$user + $sys" | bc)" "$rss" "$(echo "$(cat "$out/spark.first") - $start" | bc)")
  awk -v n="$n" -v ow="${ours[0]}" -v oc="${ours[1]}" -v orss="${ours[2]}" -v os="${ours[3]}" \
      -v sw="${spark[0]}" -v sc="${spark[1]}" -v srss="${spark[2]}" -v ss="${spark[3]}" 'BEGIN {
    printf "drain %d ratings          %14s %14s %10s\n", n, "ratings-stream", "Spark", "ratio"
    printf "wall time (s)               %14.2f %14.2f %9.1fx\n", ow, sw, sw / ow
    printf "ratings/s                   %14.0f %14.0f %9.1fx\n", n / ow, n / sw, (n / ow) / (n / sw)
    printf "CPU (s, user + sys)         %14.2f %14.2f %9.1fx\n", oc, sc, sc / oc
    printf "peak RSS (MB)               %14.1f %14.1f %9.1fx\n", orss / 1024, srss / 1024, srss / orss
    printf "start-up to 1st record (s)  %14.2f %14.2f %9.1fx\n", os, ss, ss / os
  }'
}

# start_live GENERATE_FLAGS...: the generator with these flags into the topic, and both
# processors live on it (pids in generator, ours_pid, spark_pid; killed on exit).
start_live() {
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  "$bin" generate "$@" --bootstrap-servers "$bootstrap" --ratings-topic "$topic" \
    --movies "$movies" 2> "$out/generate.log" &
  generator=$!
  ours "$port"
  "${ours[@]}" 2> "$out/ours.log" &
  ours_pid=$!
  "${spark[@]}" 2> "$out/spark.log" &
  spark_pid=$!
  trap 'kill "$generator" "$ours_pid" "$spark_pid" 2>/dev/null || true' EXIT
}

steady() {
  local rate=${1:-100} seconds=${2:-180}
  start_live --rate "$rate"
  local max_ours=0 max_spark=0 t
  for ((t = 10; t <= seconds; t += 10)); do
    sleep 10
    read -r ours_rss ours_cpu < <(tree_usage "$ours_pid")
    read -r spark_rss spark_cpu < <(tree_usage "$spark_pid")
    [ "$ours_rss" -gt "$max_ours" ] && max_ours=$ours_rss
    [ "$spark_rss" -gt "$max_spark" ] && max_spark=$spark_rss
    echo "t=${t}s ratings-stream RSS $((ours_rss / 1024)) MB CPU ${ours_cpu} s | Spark RSS $((spark_rss / 1024)) MB CPU ${spark_cpu} s"
  done
  awk -v r="$rate" -v s="$seconds" -v om="$max_ours" -v sm="$max_spark" -v oc="$ours_cpu" -v sc="$spark_cpu" 'BEGIN {
    printf "steady %d ratings/s for %d s  %14s %14s %10s\n", r, s, "ratings-stream", "Spark", "ratio"
    printf "max RSS (MB)                 %14.1f %14.1f %9.1fx\n", om / 1024, sm / 1024, sm / om
    printf "CPU (s)                      %14.2f %14.2f %9.1fx\n", oc, sc, sc / oc
    printf "CPU (%% of one core)          %14.2f %14.2f\n", 100 * oc / s, 100 * sc / s
  }'
}

latency() {
  local rate=${1:-100} seconds=${2:-180}
  cargo build --release --locked -q --example output_latency
  start_live --rate "$rate" --events-per-second $((rate / 50 > 0 ? rate / 50 : 1))
  # Spark's start-up and the 10-minute watermark delay (12 s at 50x) pass before measuring
  sleep "${WARMUP:-60}"
  local measure=target/release/examples/output_latency
  "$measure" "$bootstrap" "$topic" "$topic-metrics-ours" "$seconds" 600 "$out/ours.csv" > "$out/ours.latency" &
  local ours_measure=$!
  "$measure" "$bootstrap" "$topic" "$topic-metrics-spark" "$seconds" 600 "$out/spark.csv" > "$out/spark.latency"
  wait "$ours_measure"
  echo "ratings-stream: $(cat "$out/ours.latency")"
  echo "Spark:          $(cat "$out/spark.latency")"
  # "windows N latency ms: p50 A, p90 B, p99 C, max D"
  read -r _ on _ _ _ op50 _ _ _ op99 _ < <(tr -d ',' < "$out/ours.latency")
  read -r _ sn _ _ _ sp50 _ _ _ sp99 _ < <(tr -d ',' < "$out/spark.latency")
  awk -v r="$rate" -v on="$on" -v sn="$sn" -v o50="$op50" -v o99="$op99" -v s50="$sp50" -v s99="$sp99" 'BEGIN {
    printf "latency at %d ratings/s       %14s %14s %10s\n", r, "ratings-stream", "Spark", "ratio"
    printf "windows measured             %14d %14d\n", on, sn
    printf "p50 window-final -> readable %11.0f ms %11.0f ms %9.1fx\n", o50, s50, s50 / o50
    printf "p99 window-final -> readable %11.0f ms %11.0f ms %9.1fx\n", o99, s99, s99 / o99
  }'
}

case $mode in
  drain) drain "${2:-1000000}" ;;
  steady) steady "${2:-100}" "${3:-180}" ;;
  latency) latency "${2:-100}" "${3:-180}" ;;
  *) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
