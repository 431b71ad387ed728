#!/usr/bin/env bash
# Runs every check the project promises: formatting, lints, and the whole test suite, including
# the integration tests against a real Apache Kafka broker (started here if it is not running,
# and stopped again at the end) and the Parquet interop tests with pyarrow and DuckDB.
# Usage: scripts/test.sh [extra cargo test arguments]
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy --all-targets -- -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== Kafka broker (scripts/kafka.sh)"
if scripts/kafka.sh status >/dev/null 2>&1; then
  echo "using the running broker"
else
  scripts/kafka.sh start
  trap 'scripts/kafka.sh stop' EXIT
fi
KAFKA_BOOTSTRAP=$(scripts/kafka.sh bootstrap)
export KAFKA_BOOTSTRAP

echo "== HDFS (scripts/hdfs.sh)"
if scripts/hdfs.sh status >/dev/null 2>&1; then
  echo "using the running HDFS"
else
  scripts/hdfs.sh start
  trap 'scripts/hdfs.sh stop; scripts/kafka.sh stop' EXIT
fi
HDFS_URL=$(scripts/hdfs.sh url)
export HDFS_URL

echo "== Python readers for the Parquet interop tests (scripts/python-env.sh)"
RATINGS_PYTHON=$(scripts/python-env.sh)
export RATINGS_PYTHON

echo "== cargo test"
cargo test --workspace --locked "$@"
