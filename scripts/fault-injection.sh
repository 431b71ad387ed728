#!/usr/bin/env bash
# The exactly-once fault-injection test with more kills: while the generator writes, the processor
# is killed with SIGKILL at KILLS random instants (default 50; CI runs 10) and restarted; its
# committed outputs are then compared with an uninterrupted run's (counts are printed) and
# audited (`verify --audit`).
# With HA=1, the high-availability version: three `run --standby` processors, the active one
# SIGKILLed KILLS times (a fresh standby started each time) and once SIGSTOPped past the session
# timeout; the same comparison and audit.
# With TABLE_FORMAT=delta, every processor writes Delta tables, and each table's log is checked
# commit by commit (one commit per epoch, epochs increasing, no file added twice, all present).
# Usage: scripts/fault-injection.sh [KILLS] [SEED]      HA=1 scripts/fault-injection.sh [KILLS] [SEED]
# Starts Kafka if it is not running (scripts/kafka.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/kafka.sh status >/dev/null 2>&1 || scripts/kafka.sh start
export KAFKA_BOOTSTRAP=$(scripts/kafka.sh bootstrap)
kills=${1:-50}
if [ -n "${TABLE_FORMAT:-}" ]; then
  export RATINGS_TABLE_FORMAT=$TABLE_FORMAT
fi
seed=${2:-$(date +%s)}
if [ "${HA:-0}" = 1 ]; then
  echo "fault injection, high availability: $kills kills of the active processor, seed $seed"
  export RATINGS_HA_KILLS=$kills RATINGS_HA_SEED=$seed
  exec cargo test --locked -q -p ratings-stream --test ha \
    standbys_take_over_from_killed_and_paused_processors_and_outputs_stay_exact -- --exact --nocapture
fi
echo "fault injection: $kills kills, seed $seed"
export RATINGS_FAULT_KILLS=$kills RATINGS_FAULT_SEED=$seed
cargo test --locked -q -p ratings-stream --test exactly_once sigkill_at_random_instants -- --nocapture
