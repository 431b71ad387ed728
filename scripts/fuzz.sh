#!/usr/bin/env bash
# The long hostile-input runs (CI runs both smaller):
#  1. the parser property test over CASES hostile and mutated records (default 1,000,000):
#     never a panic, and exactly the records a plain serde_json reading accepts;
#  2. COUNT generated records (default 1,000,000) and as many hostile ones through the real
#     broker to the exactly-once processor: every record counted, each hostile one a dead
#     letter with a reason, everything else equal to a run without them and to a computation
#     by hand.
# Both in release builds. Usage: scripts/fuzz.sh [CASES] [COUNT] [SEED]
# Starts Kafka if it is not running (scripts/kafka.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
cases=${1:-1000000}
count=${2:-1000000}
seed=${3:-$(date +%s)}
echo "== parser property test: $cases cases, seed $seed"
RATINGS_FUZZ_CASES=$cases RATINGS_FUZZ_SEED=$seed /usr/bin/time -f "%e s, %M KB" \
  cargo test --release --locked -q -p ratings-generator --test parser_fuzz -- --nocapture
scripts/kafka.sh status >/dev/null 2>&1 || scripts/kafka.sh start
export KAFKA_BOOTSTRAP=$(scripts/kafka.sh bootstrap)
echo "== $count records and as many hostile ones through the broker"
RATINGS_HOSTILE_COUNT=$count /usr/bin/time -f "%e s, %M KB" \
  cargo test --release --locked -q -p ratings-stream --test hostile -- --nocapture
