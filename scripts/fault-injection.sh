#!/usr/bin/env bash
# The exactly-once fault-injection test with more kills: while the generator writes, the processor
# is killed with SIGKILL at KILLS random instants (default 50; CI runs 10) and restarted; its
# committed outputs are then compared with an uninterrupted run's (counts are printed).
# Usage: scripts/fault-injection.sh [KILLS] [SEED]
# Starts Kafka if it is not running (scripts/kafka.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/kafka.sh status >/dev/null 2>&1 || scripts/kafka.sh start
export KAFKA_BOOTSTRAP=$(scripts/kafka.sh bootstrap)
export RATINGS_FAULT_KILLS=${1:-50}
export RATINGS_FAULT_SEED=${2:-$(date +%s)}
echo "fault injection: $RATINGS_FAULT_KILLS kills, seed $RATINGS_FAULT_SEED"
cargo test --locked -q -p ratings-stream --test exactly_once sigkill_at_random_instants -- --nocapture
