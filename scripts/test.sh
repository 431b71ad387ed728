#!/usr/bin/env bash
# Runs every check the project promises: formatting, lints, and the whole test suite, including
# the integration tests against a real Apache Kafka broker and a real HDFS (each started here if
# it is not running, and stopped again at the end) and the Parquet interop tests (pyarrow, DuckDB).
# Usage: scripts/test.sh [extra cargo test arguments]
set -euo pipefail
cd "$(dirname "$0")/.."

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

echo "== Python readers for the Parquet interop tests (scripts/python-env.sh)"
RATINGS_PYTHON=$(scripts/python-env.sh)
export RATINGS_PYTHON

echo "== promtool test rules (deploy/prometheus)"
promtool check rules deploy/prometheus/ratings-stream-alerts.yml
(cd deploy/prometheus && promtool test rules ratings-stream-alerts.test.yml)

echo "== cargo test"
cargo test --workspace --locked "$@"
