#!/usr/bin/env bash
# A real single-node HDFS on 127.0.0.1: Hadoop's MiniDFSCluster (a NameNode and a DataNode in one
# JVM) from the hadoop-client-minicluster jars on Maven Central, run with `java -cp`. Jars (fetched
# once), data and log live in .cache/hdfs (ignored by git).
#
# Usage: scripts/hdfs.sh start|stop|status|url|reset
#   HDFS_EXTRA_CONF="-D key=value ..." adds Hadoop settings to a start (benchmarks of tunings).
#   start   download the jars if needed, start the cluster (formatting it on first use), wait
#           until the NameNode answers
#   stop    stop it (SIGTERM, then SIGKILL after 30 s)
#   status  say whether it runs
#   url     print the file system URL (hdfs://127.0.0.1:PORT)
#   reset   stop and delete the data
# Environment: HDFS_PORT (default 19020, or a free port if that one is taken at first start).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cache="$root/.cache/hdfs"
lib="$cache/lib"
data="$cache/data"
pidfile="$cache/hdfs.pid"
portfile="$cache/port"
log="$cache/cluster.log"
mkdir -p "$cache"

. "$root/scripts/lib/services.sh"

running() {
  pid_running "$pidfile"
}

start() {
  if running; then echo "hdfs.sh: already running on hdfs://127.0.0.1:$(cat "$portfile")"; return; fi
  command -v java >/dev/null || { echo "hdfs.sh: java not found (install a JDK 17+)" >&2; exit 1; }
  fetch_jars "$root/scripts/hdfs/pom.xml" "$lib" hdfs.sh
  local port format=()
  port=$(start_port "$portfile" "${HDFS_PORT:-19020}")
  # the NameNode keeps its metadata in name-0-1 (format only a new cluster)
  [ -d "$data/name-0-1/current" ] || format=(-format)
  rm -f "$cache/cluster.xml"
  : > "$log"
  nohup java -Xmx512m -cp "$lib/*" org.apache.hadoop.mapreduce.MiniHadoopClusterManager \
    -nomr "${format[@]}" -datanodes 1 -nnport "$port" -nnhttpport 0 \
    -D hdfs.minidfs.basedir="$data" -D dfs.permissions.enabled=false \
    -D dfs.datanode.address=127.0.0.1:0 -D dfs.datanode.http.address=127.0.0.1:0 \
    -D dfs.datanode.ipc.address=127.0.0.1:0 -D dfs.namenode.http-address=127.0.0.1:0 \
    ${HDFS_EXTRA_CONF:-} -writeConfig "$cache/cluster.xml" >> "$log" 2>&1 &
  record_pid "$pidfile" $!
  wait_ready hdfs.sh "$pidfile" "$log" 60 ready "$port"
  echo "hdfs.sh: HDFS up at hdfs://127.0.0.1:$port (data $data)"
}

# ready PORT: the cluster wrote its configuration and the NameNode listens.
ready() {
  [ -s "$cache/cluster.xml" ] && port_in_use "$1"
}

stop() {
  stop_pid "$pidfile" hdfs.sh 30
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status)
    if running; then echo "hdfs.sh: running (pid $(pid_of "$pidfile")) at hdfs://127.0.0.1:$(cat "$portfile")"
    else echo "hdfs.sh: not running"; exit 1; fi ;;
  url) echo "hdfs://127.0.0.1:$(choose_port "$portfile" "${HDFS_PORT:-19020}")" ;;
  reset) stop; rm -rf "$data" "$portfile" ;;
  help|-h|--help) usage "$0" ;;
  *) usage "$0" >&2; exit 2 ;;
esac
