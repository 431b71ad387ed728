#!/usr/bin/env bash
# Output latency at a steady load: `generate --rate R` (default 10,000/s; event time SPEEDUP×
# the wall clock, default 50×, so a tumbling and a sliding window become final every 1.2 s) feeds a fresh topic
# while `ratings-stream run` processes it live; for S seconds (default 120) the
# processor-independent `output_latency` measures how long after a window became final (the Kafka
# timestamp of the first input record whose event time reaches its end + the 10-minute delay) its
# record was readable in `metrics` with read_committed.
# STORAGE=URL (e.g. `STORAGE=$(scripts/hdfs.sh url)`) adds the Parquet outputs there, with the
# checkpoint beside them; without it the checkpoint is on the local disk and there is no Parquet.
# After the run it prints the epochs' commit phases (scripts/lib/commit_phases.py: sealing, the
# Kafka steps, finalizing = the data files moved into place, the Delta commits with
# `--table-format delta`, the markers) and, for Delta tables on a local folder, the files per hour
# before and after compaction (scripts/lib/delta_files.py).
# Usage: [STORAGE=URL] [SPEEDUP=N] scripts/bench-latency.sh [RATE] [SECONDS] [extra run flags, e.g. --commit-interval 100ms]
set -euo pipefail
cd "$(dirname "$0")/.."
rate=${1:-10000}
seconds=${2:-120}
. scripts/lib/bench.sh
cargo build --release --locked -q --example output_latency
kafka_topics latency
if [ -n "${STORAGE:-}" ]; then
  outputs=(--storage "$STORAGE/latency-$run_id")
else
  outputs=(--checkpoint-storage "$work/checkpoint-latency-$run_id")
fi

"$bin" generate --rate "$rate" --events-per-second $((rate / ${SPEEDUP:-50})) \
  --bootstrap-servers "$bootstrap" --ratings-topic "latency-ratings-$run_id" \
  2> "$work/latency-generate.log" &
generator=$!
RUST_LOG=${RUST_LOG:-info,ratings_runtime::delivery=debug,deltalake_core=warn,buoyant_kernel=warn,buoyant_kernel_engine=warn} \
  "$bin" run --bootstrap-servers "$bootstrap" --ratings-topic "latency-ratings-$run_id" \
  --metrics-topic "latency-metrics-$run_id" --dead-letter-topic "latency-dead-$run_id" \
  --group-id "latency-$run_id" "${outputs[@]}" \
  --starting-offsets latest --metrics-address off --progress-interval "${PROGRESS_INTERVAL:-30s}" "${@:3}" \
  2> "$work/latency-run.log" &
processor=$!
trap 'kill $generator $processor 2>/dev/null || true' EXIT
sleep 15 # warm-up: the first windows become final after the 10-minute watermark delay
target/release/examples/output_latency "$bootstrap" "latency-ratings-$run_id" \
  "latency-metrics-$run_id" "$seconds" 600 "$work/latency-$run_id.csv"
kill -TERM $processor
wait $processor || true
grep -E 'progress: ' "$work/latency-run.log" | tail -1
python3 scripts/lib/commit_phases.py "$work/latency-run.log"
if [ -d "${STORAGE:-}/latency-$run_id/streams/ratings/raw/_delta_log" ]; then
  python3 scripts/lib/delta_files.py "$STORAGE/latency-$run_id"
fi
