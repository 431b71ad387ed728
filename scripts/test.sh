#!/usr/bin/env bash
# Runs every check the project promises: formatting, lints, and the whole test suite, including
# the integration tests against a real Apache Kafka broker and a real HDFS (each started here if
# it is not running, and stopped again at the end), the Parquet interop tests (pyarrow, DuckDB)
# and the Delta interop test (deltalake, Spark with delta-spark).
# Usage: scripts/test.sh [--repeat N] [extra cargo test arguments]
#   --repeat N  runs the test suite N times (fmt, clippy and the services once), going on after a
#               failed round, and fails if any round failed: to catch tests that fail only now
#               and then, e.g. under load (`stress-ng --cpu 2 &` beside it).
# After every round it checks that no process the tests started (processors, generators,
# chromedriver and its Chromium) is still running.
set -euo pipefail
cd "$(dirname "$0")/.."

rounds=1
if [ "${1:-}" = --repeat ]; then
  rounds=${2:?--repeat needs a count}
  shift 2
fi

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy --all-targets -- -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

# Services the integration tests need: a running one is used as it is; one started here is
# stopped again at exit.
started=()
trap 'for service in "${started[@]}"; do scripts/$service.sh stop; done' EXIT
ensure_service() {
  echo "== $1 (scripts/$1.sh)"
  if scripts/"$1".sh status >/dev/null 2>&1; then
    echo "using the running $1"
  else
    scripts/"$1".sh start
    started+=("$1")
  fi
}
ensure_service kafka
ensure_service hdfs
ensure_service s3
KAFKA_BOOTSTRAP=$(scripts/kafka.sh bootstrap)
HDFS_URL=$(scripts/hdfs.sh url)
S3_URL=s3://ratings-test
export KAFKA_BOOTSTRAP HDFS_URL S3_URL
# shellcheck disable=SC2046
export $(scripts/s3.sh env)
# shellcheck disable=SC2046
export $(scripts/kafka.sh sasl-env)

echo "== Python readers for the Parquet and Delta interop tests (scripts/python-env.sh)"
RATINGS_PYTHON=$(scripts/python-env.sh)
export RATINGS_PYTHON
echo "== PySpark for the Delta interop test (bench/spark/env.sh; delta-spark from Maven Central on first use)"
RATINGS_SPARK_PYTHON=$(bench/spark/env.sh)
export RATINGS_SPARK_PYTHON

echo "== promtool test rules (deploy/prometheus)"
promtool check rules deploy/prometheus/ratings-stream-alerts.yml
(cd deploy/prometheus && promtool test rules ratings-stream-alerts.test.yml)

# Processes the tests start, which end with their test: this build's processors and
# generators, chromedriver and the Chromium it drives.
leftovers() {
  pgrep -a -f "$PWD/target/debug/ratings-stream( |$)|chromedriver --port=|--enable-automation" || true
}

# Fails, naming them (and ending them), when any of those outlived the suite; one that is
# ending may take a moment.
check_no_leftovers() {
  local left
  for _ in 1 2 3 4 5 6 7 8 9 10; do
    left=$(leftovers)
    [ -z "$left" ] && { echo "no process left behind by the tests"; return 0; }
    sleep 1
  done
  echo "error: processes started by the tests are still running:" >&2
  echo "$left" >&2
  echo "$left" | awk '{print $1}' | xargs -r kill -9 2>/dev/null || true
  return 1
}

failed=0
for round in $(seq 1 "$rounds"); do
  if [ "$rounds" -gt 1 ]; then
    echo "== cargo test (round $round of $rounds)"
  else
    echo "== cargo test"
  fi
  started_at=$SECONDS
  if cargo test --workspace --locked "$@"; then
    status=passed
  else
    status=failed
    failed=$((failed + 1))
  fi
  check_no_leftovers || { status="$status, processes left"; failed=$((failed + 1)); }
  if [ "$rounds" -gt 1 ]; then
    echo "== round $round of $rounds: $status in $((SECONDS - started_at)) s"
  fi
done
if [ "$failed" -gt 0 ]; then
  echo "error: $failed failure(s) in $rounds round(s)" >&2
  exit 1
fi
