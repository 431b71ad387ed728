#!/usr/bin/env bash
# Same job, same data: runs ratings-stream and the seed's Spark job (bench/spark/job.py) over one
# fresh topic and compares their window results field by field (bench/spark/compare.py).
#
# Usage: bench/spark/compare.sh synthetic [N]   N generated ratings (default 200,000; 3 partitions,
#                                               bounded disorder, no late or malformed records)
#        bench/spark/compare.sh movielens       the 100,836 ml-latest-small ratings in timestamp
#                                               order (1 partition, so nothing is late)
# Both processors read the topic to its end and emit the windows the final watermark has passed
# (ratings-stream: --exit-at-end --no-final-flush; Spark: Trigger.AvailableNow). Starts Kafka if
# needed; Spark comes from bench/spark/env.sh (PyPI + Maven Central, cached in .cache/spark).
set -euo pipefail
cd "$(dirname "$0")/../.."
dataset=${1:-synthetic}
n=${2:-200000}
. scripts/lib/bench.sh
cargo build --release --locked -q --example dump_topic
. bench/spark/submit.sh
scripts/kafka.sh status >/dev/null 2>&1 || scripts/kafka.sh start
bootstrap=$(scripts/kafka.sh bootstrap)
run_id=$(date +%s)
movielens=../shared/data/movielens/ml-latest-small
topic=compare-$dataset-$run_id
out=$work/compare-$run_id
mkdir -p "$out"

case $dataset in
  synthetic)
    scripts/kafka.sh create "$topic" 3 >/dev/null
    "$bin" generate --rate 0 --count "$n" --events-per-second 20 --seed 42 \
      --start-time 1761764400 --movies "$movielens/movies.csv" \
      --bootstrap-servers "$bootstrap" --ratings-topic "$topic" ;;
  movielens)
    scripts/kafka.sh create "$topic" 1 >/dev/null
    "$bin" replay --input "$movielens/ratings.csv" --bootstrap-servers "$bootstrap" \
      --ratings-topic "$topic" ;;
  *) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
for side in ours spark; do scripts/kafka.sh create "$topic-metrics-$side" 3 >/dev/null; done

echo "ratings-stream: reading $topic"
/usr/bin/time -f "%e s wall, %U+%S s CPU, %M KB peak RSS" -o "$out/ours.time" \
  "$bin" run --bootstrap-servers "$bootstrap" --ratings-topic "$topic" \
  --metrics-topic "$topic-metrics-ours" --dead-letter-topic "$topic-metrics-ours" \
  --group-id "$topic-ours" --storage "$out/ours" --movies "$movielens/movies.csv" \
  --exit-at-end --no-final-flush --metrics-address off --progress-interval 1h 2> "$out/ours.log"
echo "Spark $spark_version: reading $topic"
/usr/bin/time -f "%e s wall, %U+%S s CPU, %M KB peak RSS" -o "$out/spark.time" \
  "${spark_submit[@]}" --bootstrap "$bootstrap" --topic "$topic" \
  --metrics-topic "$topic-metrics-spark" --output "$out/spark" --movies "$movielens/movies.csv" \
  --available-now 2> "$out/spark.log"

target/release/examples/dump_topic "$bootstrap" "$topic-metrics-ours" > "$out/ours.jsonl"
target/release/examples/dump_topic "$bootstrap" "$topic-metrics-spark" > "$out/spark.jsonl"
echo "ratings-stream: $(cat "$out/ours.time")"
echo "Spark:          $(cat "$out/spark.time")"
python3 bench/spark/compare.py "$out/ours.jsonl" "$out/spark.jsonl"
