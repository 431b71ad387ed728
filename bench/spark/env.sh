#!/usr/bin/env bash
# Prints the path of a Python interpreter with PySpark (the reference Spark), creating the
# virtualenv .cache/spark/venv from PyPI on first use (and again whenever the version changes).
# Source bench/spark/submit.sh for the spark-submit command line built on it.
# The Kafka connector jars of the same version come from Maven Central when the job first runs
# (spark.jars.packages, cached in .cache/spark/ivy). Spark needs Java 17+.
set -euo pipefail
cd "$(dirname "$0")/../.."
venv=.cache/spark/venv
requirements="pyspark==${SPARK_VERSION:-4.1.1}"
if [ "$(cat "$venv/.complete" 2>/dev/null)" != "$requirements" ]; then
  rm -rf "$venv"
  mkdir -p .cache/spark
  python3 -m venv "$venv" >&2
  # shellcheck disable=SC2086
  "$venv/bin/pip" install -q --disable-pip-version-check $requirements >&2
  echo "$requirements" > "$venv/.complete"
fi
echo "$PWD/$venv/bin/python"
