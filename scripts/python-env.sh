#!/usr/bin/env bash
# Prints the path of a Python interpreter that has the independent Parquet readers the interop
# tests use (pyarrow, DuckDB), creating the virtualenv .cache/venv from PyPI on first use.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.cache/venv
if [ ! -f "$venv/.complete" ]; then
  rm -rf "$venv"
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install -q --disable-pip-version-check pyarrow==26.0.1 duckdb==2.0.1 >&2
  touch "$venv/.complete"
fi
echo "$PWD/$venv/bin/python"
