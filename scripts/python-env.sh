#!/usr/bin/env bash
# Prints the path of a Python interpreter that has the independent Parquet readers the interop
# tests use (pyarrow, DuckDB, delta-rs's deltalake) and moto's S3 endpoint (scripts/s3.sh), creating the virtualenv
# .cache/venv from PyPI on first use (and again whenever the list below changes).
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.cache/venv
requirements="pyarrow==26.0.1 duckdb==2.0.1 moto[server]==5.2.5 deltalake==1.6.6"
if [ "$(cat "$venv/.complete" 2>/dev/null)" != "$requirements" ]; then
  rm -rf "$venv"
  python3 -m venv "$venv" >&2
  # shellcheck disable=SC2086
  "$venv/bin/pip" install -q --disable-pip-version-check $requirements >&2
  echo "$requirements" > "$venv/.complete"
fi
echo "$PWD/$venv/bin/python"
