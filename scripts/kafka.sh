#!/usr/bin/env bash
# A real single-node Apache Kafka broker (KRaft: broker + controller in one JVM) on 127.0.0.1,
# run from Maven Central jars with `java -cp`. Everything lives in .cache/kafka (ignored by git):
# the jars (downloaded once, reused), the configuration, the data and the log.
#
# Usage: scripts/kafka.sh start|stop|status|topics|bootstrap|create T [N]|reset
#   start      download the jars if needed, format the storage on first use, start the broker,
#              wait until it answers, create the topics
#   stop       stop the broker cleanly (SIGTERM, then SIGKILL after 60 s)
#   status     say whether it runs and where
#   topics     create the topics (idempotent) and list them
#   bootstrap  print the bootstrap address (127.0.0.1:PORT)
#   create T N create topic T with N partitions (default 3) if it does not exist
#   reset      stop and delete the data (the jars stay)
# Environment: KAFKA_PORT (default 19092, or a free port if that one is taken at first start),
#   KAFKA_HEAP (default 512m).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cache="$root/.cache/kafka"
lib="$cache/lib"
data="$cache/data"
pidfile="$cache/kafka.pid"
portfile="$cache/port"
log="$cache/server.log"
mkdir -p "$cache"

# topic name, partitions
TOPICS=("ratings 3" "metrics 3" "ratings-dead-letter 3")

. "$root/scripts/lib/services.sh"

running() {
  pid_running "$pidfile"
}

java_tool() {
  java -Xmx256m -cp "$lib/*" -Dlog4j2.configurationFile="$cache/log4j2.properties" "$@"
}

write_config() {
  local port=$1 controller=$2
  cat > "$cache/server.properties" <<CONF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$controller
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$controller
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$data
num.partitions=3
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=3
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=3
group.initial.rebalance.delay.ms=0
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
CONF
  cat > "$cache/log4j2.properties" <<'CONF'
rootLogger.level = WARN
rootLogger.appenderRef.stdout.ref = STDOUT
appender.stdout.type = Console
appender.stdout.name = STDOUT
appender.stdout.layout.type = PatternLayout
appender.stdout.layout.pattern = [%d] %p %m (%c)%n
logger.kafka.name = kafka.server.KafkaRaftServer
logger.kafka.level = INFO
logger.broker.name = kafka.server.BrokerServer
logger.broker.level = INFO
CONF
}

create_topics() {
  local bootstrap
  bootstrap=127.0.0.1:$(cat "$portfile")
  for spec in "${TOPICS[@]}"; do
    # shellcheck disable=SC2086 # "NAME PARTITIONS", split on purpose
    set -- $spec
    java_tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$bootstrap" \
      --create --if-not-exists --topic "$1" --partitions "$2" --replication-factor 1 >/dev/null
  done
}

start() {
  if running; then echo "kafka.sh: already running on 127.0.0.1:$(cat "$portfile")"; return; fi
  command -v java >/dev/null || { echo "kafka.sh: java not found (install a JDK 17+)" >&2; exit 1; }
  fetch_jars "$root/scripts/kafka/pom.xml" "$lib" kafka.sh
  local port controller
  port=$(start_port "$portfile" "${KAFKA_PORT:-19092}")
  controller=$(free_port)
  write_config "$port" "$controller"
  if [ ! -f "$data/meta.properties" ]; then
    rm -rf "$data"
    java_tool kafka.tools.StorageTool format -t "$(java_tool kafka.tools.StorageTool random-uuid)" \
      -c "$cache/server.properties" >/dev/null
  fi
  : > "$log"
  nohup java -Xmx"${KAFKA_HEAP:-512m}" -Xms128m -XX:+UseG1GC -cp "$lib/*" \
    -Dlog4j2.configurationFile="$cache/log4j2.properties" \
    kafka.Kafka "$cache/server.properties" >> "$log" 2>&1 &
  record_pid "$pidfile" $!
  wait_ready kafka.sh "$pidfile" "$log" 90 grep -q "Kafka Server started" "$log"
  create_topics
  echo "kafka.sh: broker up on 127.0.0.1:$port (log $log)"
}

stop() {
  stop_pid "$pidfile" kafka.sh 60
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status)
    if running; then echo "kafka.sh: running (pid $(pid_of "$pidfile")) on 127.0.0.1:$(cat "$portfile")"
    else echo "kafka.sh: not running"; exit 1; fi ;;
  topics)
    running || { echo "kafka.sh: not running" >&2; exit 1; }
    create_topics
    java_tool org.apache.kafka.tools.TopicCommand --bootstrap-server "127.0.0.1:$(cat "$portfile")" --describe ;;
  bootstrap) echo "127.0.0.1:$(choose_port "$portfile" "${KAFKA_PORT:-19092}")" ;;
  create)
    running || { echo "kafka.sh: not running" >&2; exit 1; }
    java_tool org.apache.kafka.tools.TopicCommand --bootstrap-server "127.0.0.1:$(cat "$portfile")" \
      --create --if-not-exists --topic "${2:?topic name}" --partitions "${3:-3}" --replication-factor 1 >/dev/null ;;
  reset) stop; rm -rf "$data" "$portfile" ;;
  help|-h|--help) usage "$0" ;;
  *) usage "$0" >&2; exit 2 ;;
esac
