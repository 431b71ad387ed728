#!/usr/bin/env bash
# An S3-compatible endpoint on 127.0.0.1 for the S3 tests: moto's server (PyPI `moto[server]`,
# an AWS emulator; no real S3 is reachable from this machine), with the bucket `ratings-test`.
# It checks credentials like a real S3 (IAM authentication on; scripts/s3/setup.py makes the
# one user and access key that `env` prints), and keeps its objects in memory: a restart
# starts empty.
#
# Usage: scripts/s3.sh start|stop|status|env
#   env   print the AWS_* variables that point object_store clients at it
# Environment: S3_PORT (default 19030, or a free port if that one is taken at first start).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cache="$root/.cache/s3"
pidfile="$cache/s3.pid"
portfile="$cache/port"
mkdir -p "$cache"
. "$root/scripts/lib/services.sh"

start() {
  if pid_running "$pidfile"; then echo "s3.sh: already running on 127.0.0.1:$(cat "$portfile")"; return; fi
  local python port
  python=$("$root/scripts/python-env.sh")
  port=$(start_port "$portfile" "${S3_PORT:-19030}")
  # authentication is enforced after the three requests setup.py makes to create the user
  INITIAL_NO_AUTH_ACTION_COUNT=3 \
    nohup "$(dirname "$python")/moto_server" -H 127.0.0.1 -p "$port" > "$cache/server.log" 2>&1 &
  record_pid "$pidfile" $!
  # moto's own API answers without counting as a request
  wait_ready s3.sh "$pidfile" "$cache/server.log" 30 \
    curl -fs "http://127.0.0.1:$port/moto-api/data.json" -o /dev/null
  "$python" "$root/scripts/s3/setup.py" "http://127.0.0.1:$port" "$cache/credentials"
  echo "s3.sh: S3 endpoint up at http://127.0.0.1:$port (bucket ratings-test)"
}

case "${1:-}" in
  start) start ;;
  stop) stop_pid "$pidfile" s3.sh 10 ;;
  status)
    if pid_running "$pidfile"; then echo "s3.sh: running at http://127.0.0.1:$(cat "$portfile")"
    else echo "s3.sh: not running"; exit 1; fi ;;
  env)
    [ -f "$cache/credentials" ] || { echo "s3.sh: not started yet (no credentials)" >&2; exit 1; }
    port=$(choose_port "$portfile" "${S3_PORT:-19030}")
    echo "AWS_ENDPOINT=http://127.0.0.1:$port AWS_ALLOW_HTTP=true AWS_REGION=us-east-1 $(cat "$cache/credentials")" ;;
  help|-h|--help) usage "$0" ;;
  *) usage "$0" >&2; exit 2 ;;
esac
