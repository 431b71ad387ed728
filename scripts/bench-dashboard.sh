#!/usr/bin/env bash
# The dashboard's costs (issue 13): with DAYS (default 7) of windows on a fresh metrics topic
# (`examples/dashboard_load`: one tumbling and one sliding window per minute, shaped like a
# processor's), `ratings-stream dashboard --history ${DAYS}d` is started and measured: time until
# its history is read, peak and steady RSS, CPU while idle over 30 s, and the time to answer the
# page's largest query (24 h of windows). Then a live pipeline (generate at RATE/s, default
# 10,000, event time 50× the clock; `run`, exactly-once) feeds another topic the dashboard
# follows, and `examples/dashboard_latency` measures for SECONDS (default 60) how long after a
# window is readable in the topic (read_committed) the dashboard pushes it to the page.
# Usage: scripts/bench-dashboard.sh [DAYS] [RATE] [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
days=${1:-7}
rate=${2:-10000}
seconds=${3:-60}
. scripts/lib/bench.sh
cargo build --release --locked -q --example dashboard_load --example dashboard_latency
kafka_topics dashboard

# cpu_ticks PID: user + system clock ticks so far
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# start_dashboard TOPIC PORT HISTORY: starts one in the background, sets `dashboard`
start_dashboard() {
  "$bin" dashboard --bootstrap-servers "$bootstrap" --metrics-topic "$1" --listen "127.0.0.1:$2" \
    --history "$3" 2> "$work/dashboard-$2.log" &
  dashboard=$!
}

echo "== $days days of windows"
target/release/examples/dashboard_load "$bootstrap" "dashboard-metrics-$run_id" "$days"
port=$(free_port)
started=$(date +%s.%N)
start_dashboard "dashboard-metrics-$run_id" "$port" "${days}d"
trap 'kill $dashboard 2>/dev/null || true' EXIT
until [ "$(status_field "$port" feed.backfilled 2>/dev/null)" = "True" ]; do sleep 0.05; done
ready=$(date +%s.%N)
kept=$(status_field "$port" windows_kept)
awk -v s="$started" -v r="$ready" -v k="$kept" 'BEGIN { printf "history read: %d windows in %.2f s after start\n", k, r - s }'
curl -s -o /dev/null -w "GET /api/windows?type=tumbling&range=24h: %{size_download} bytes in %{time_total} s\n" \
  "http://127.0.0.1:$port/api/windows?type=tumbling&range=24h"
curl -s -o /dev/null -w "GET /api/windows?type=sliding&range=24h: %{size_download} bytes in %{time_total} s\n" \
  "http://127.0.0.1:$port/api/windows?type=sliding&range=24h"
sleep 2
before=$(cpu_ticks "$dashboard")
sleep 30
after=$(cpu_ticks "$dashboard")
ticks=$(getconf CLK_TCK)
awk -v b="$before" -v a="$after" -v t="$ticks" 'BEGIN { printf "idle CPU: %.2f%% of a core over 30 s\n", (a - b) / t / 30 * 100 }'
grep -E 'VmRSS|VmHWM' "/proc/$dashboard/status" | tr -s ' ' | sed 's/^/dashboard /'
kill $dashboard; wait $dashboard 2>/dev/null || true

echo "== commit → page, live pipeline at $rate ratings/s"
port=$(free_port)
scripts/kafka.sh create "dashboard-live-$run_id" 3 >/dev/null
"$bin" generate --rate "$rate" --events-per-second $((rate / 50)) --bootstrap-servers "$bootstrap" \
  --ratings-topic "dashboard-ratings-$run_id" 2> "$work/dashboard-generate.log" &
generator=$!
"$bin" run --bootstrap-servers "$bootstrap" --ratings-topic "dashboard-ratings-$run_id" \
  --metrics-topic "dashboard-live-$run_id" --dead-letter-topic "dashboard-dead-$run_id" \
  --group-id "dashboard-$run_id" --checkpoint-storage "$work/checkpoint-dashboard-$run_id" \
  --starting-offsets latest --metrics-address off 2> "$work/dashboard-run.log" &
processor=$!
start_dashboard "dashboard-live-$run_id" "$port" 1h
trap 'kill $generator $processor $dashboard 2>/dev/null || true' EXIT
sleep 15
target/release/examples/dashboard_latency "$bootstrap" "dashboard-live-$run_id" "http://127.0.0.1:$port/" "$seconds"
