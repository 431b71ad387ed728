# Shared by scripts/kafka.sh, hdfs.sh and s3.sh: jars from Maven Central, ports, pid files,
# the usage text. Source it; it defines functions only.
# shellcheck shell=bash

# usage SCRIPT: prints the header of SCRIPT (its comment lines after the #! line, up to the first
# line that is not a comment) without their "# ", so the usage text is the header, never code.
usage() {
  awk 'NR == 1 && /^#!/ { next } /^#/ { sub(/^# ?/, ""); print; next } { exit }' "$1"
}

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

# A pid file holds "PID STARTTIME": the process's start time (field 22 of /proc/PID/stat, in
# clock ticks since boot) tells our process from another that got the same pid after it died.

# proc_start PID: the start time of the live process PID (nothing, false for none or a zombie).
proc_start() {
  local stat fields
  [[ $1 =~ ^[0-9]+$ ]] && stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  # the command name (field 2) is in parentheses and may hold spaces: split after the last ")"
  read -r -a fields <<< "${stat##*) }"
  [ "${fields[0]}" != Z ] && echo "${fields[19]}"
}

# record_pid PIDFILE PID: writes PIDFILE for the process PID just started (atomically, so a
# concurrent pid_running never reads a half-written file).
record_pid() {
  echo "$2 $(proc_start "$2")" > "$1.tmp"
  mv -f "$1.tmp" "$1"
}

# pid_of PIDFILE: the pid in PIDFILE.
pid_of() {
  local pid rest
  read -r pid rest < "$1" || true
  echo "$pid"
}

# pid_running PIDFILE: true when the process recorded in PIDFILE is alive and still the one that
# was started (same start time). A stale PIDFILE (the process died, its pid maybe reused since,
# or a file without a start time) means not running and is removed.
pid_running() {
  local pid start
  [ -f "$1" ] || return 1
  read -r pid start < "$1" || true
  if [ -n "$start" ] && [ "$(proc_start "$pid")" = "$start" ]; then return 0; fi
  rm -f "$1"
  return 1
}

# stop_pid PIDFILE WHAT SECONDS: SIGTERM, wait up to SECONDS, then SIGKILL (each signal only
# while the pid is still the recorded process).
stop_pid() {
  local pidfile=$1 what=$2 seconds=$3 pid start
  if ! pid_running "$pidfile"; then echo "$what: not running"; return; fi
  read -r pid start < "$pidfile"
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 $((seconds * 2))); do
    [ "$(proc_start "$pid")" = "$start" ] || { rm -f "$pidfile"; echo "$what: stopped"; return; }
    sleep 0.5
  done
  echo "$what: did not stop in $seconds s; killing it" >&2
  if [ "$(proc_start "$pid")" = "$start" ]; then kill -9 "$pid" 2>/dev/null || true; fi
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
