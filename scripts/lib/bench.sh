# Shared by the benchmark scripts: source it from the repository root. Builds the release binary
# and defines `bin` (RATINGS_BIN to measure another build, e.g. an older commit's, side by side;
# then nothing is built), `work` (the scratch folder) and the helpers below, with those of
# scripts/lib/services.sh (`free_port`).
[ -n "${RATINGS_BIN:-}" ] || cargo build --release --locked -q
bin=${RATINGS_BIN:-target/release/ratings-stream}
work=.cache/bench
mkdir -p "$work"
. scripts/lib/services.sh

# status_field PORT FIELD: a field of a dashboard's /api/status (feed.backfilled, windows_kept)
status_field() {
  curl -s "http://127.0.0.1:$1/api/status" | python3 -c "import json,sys; s=json.load(sys.stdin); print(eval('s' + ''.join(f'[\"{k}\"]' for k in '$2'.split('.'))))"
}

# kafka_topics PREFIX: makes sure the broker runs, sets `bootstrap` and `run_id`, and creates the
# 3-partition topics PREFIX-ratings-RUN, PREFIX-metrics-RUN and PREFIX-dead-RUN.
kafka_topics() {
  scripts/kafka.sh status >/dev/null 2>&1 || scripts/kafka.sh start
  bootstrap=$(scripts/kafka.sh bootstrap)
  run_id=$(date +%s)
  for t in ratings metrics dead; do scripts/kafka.sh create "$1-$t-$run_id" 3; done
}
