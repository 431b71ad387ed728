# Shared by scripts/kafka.sh, hdfs.sh and s3.sh: jars from Maven Central, ports, pid files.
# Source it; it defines functions only.

# fetch_jars POM LIB WHAT: copies the runtime jars of POM into LIB once (marker LIB/.complete).
fetch_jars() {
  local pom=$1 lib=$2 what=$3
  [ -f "$lib/.complete" ] && return
  echo "$what: fetching jars from Maven Central into $lib (once)"
  rm -rf "$lib"
  mvn -q -B -Dstyle.color=never -f "$pom" dependency:copy-dependencies \
    -DoutputDirectory="$lib" -DincludeScope=runtime
  touch "$lib/.complete"
}

# port_in_use PORT: true when something listens on 127.0.0.1:PORT.
port_in_use() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# free_port: a port nothing listens on.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# choose_port PORTFILE DEFAULT: the port remembered in PORTFILE, else DEFAULT if free, else a
# free one (remembered, so the service keeps its address across restarts).
choose_port() {
  local portfile=$1 port=$2
  if [ -f "$portfile" ]; then cat "$portfile"; return; fi
  if port_in_use "$port"; then port=$(free_port); fi
  echo "$port" > "$portfile"
  echo "$port"
}

# start_port PORTFILE DEFAULT: the port for a service about to start (so not running): the
# remembered one, unless something else listens there now (another checkout's service, say);
# then chosen afresh as choose_port does.
start_port() {
  if [ -f "$1" ] && port_in_use "$(cat "$1")"; then rm -f "$1"; fi
  choose_port "$1" "$2"
}

# pid_running PIDFILE: true when the process in PIDFILE is alive.
pid_running() {
  [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null
}

# stop_pid PIDFILE WHAT SECONDS: SIGTERM, wait up to SECONDS, then SIGKILL.
stop_pid() {
  local pidfile=$1 what=$2 seconds=$3 pid
  if ! pid_running "$pidfile"; then echo "$what: not running"; rm -f "$pidfile"; return; fi
  pid=$(cat "$pidfile")
  kill "$pid"
  for _ in $(seq 1 $((seconds * 2))); do
    kill -0 "$pid" 2>/dev/null || { rm -f "$pidfile"; echo "$what: stopped"; return; }
    sleep 0.5
  done
  echo "$what: did not stop in $seconds s; killing it" >&2
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$pidfile"
}

# wait_ready WHAT PIDFILE LOG SECONDS CHECK...: runs the command CHECK... every 0.5 s until it
# succeeds (true) or the process in PIDFILE exits or SECONDS pass (an error showing LOG).
wait_ready() {
  local what=$1 pidfile=$2 log=$3 seconds=$4
  shift 4
  for _ in $(seq 1 $((seconds * 2))); do
    "$@" && return 0
    if ! pid_running "$pidfile"; then
      echo "$what: exited during start-up; see $log:" >&2
      tail -20 "$log" >&2
      exit 1
    fi
    sleep 0.5
  done
  echo "$what: did not start within $seconds s; see $log" >&2
  exit 1
}
