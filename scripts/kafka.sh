#!/usr/bin/env bash
# A real single-node Apache Kafka broker (KRaft: broker + controller in one JVM) on 127.0.0.1,
# run from Maven Central jars with `java -cp`. Everything lives in .cache/kafka (ignored by git):
# the jars (downloaded once, reused), the configuration, the data and the log.
# Besides the PLAINTEXT listener, a SASL_SSL one (SCRAM-SHA-512 over TLS) on another port: a
# test CA and the broker's certificate (for IP 127.0.0.1) are made once with openssl in
# .cache/kafka/tls, with a second CA the broker does not use (for "untrusted CA" tests), and
# the SCRAM user `ratings` with a random password (.cache/kafka/tls/password) is created at
# each start.
#
# Usage: scripts/kafka.sh start|stop|status|topics|bootstrap|sasl-env|create T [N]|reset
#   start      download the jars if needed, format the storage on first use, start the broker,
#              wait until it answers, create the topics
#   stop       stop the broker cleanly (SIGTERM, then SIGKILL after 60 s)
#   status     say whether it runs and where
#   topics     create the topics (idempotent) and list them
#   bootstrap  print the bootstrap address (127.0.0.1:PORT)
#   sasl-env   print KEY=VALUE lines for clients of the SASL_SSL listener: KAFKA_SASL_BOOTSTRAP,
#              KAFKA_SASL_USER, KAFKA_SASL_PASSWORD, KAFKA_SASL_CA (the CA file to trust),
#              KAFKA_OTHER_CA (a CA the broker's certificate is not signed by)
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
sasl_portfile="$cache/sasl-port"
tls="$cache/tls"
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

# make_tls: the test CA, the broker's key and certificate (PKCS12 keystore), another CA and the
# SCRAM password, once.
make_tls() {
  [ -f "$tls/.complete" ] && return
  command -v openssl >/dev/null || { echo "kafka.sh: openssl not found" >&2; exit 1; }
  rm -rf "$tls"
  mkdir -p "$tls"
  (
    cd "$tls"
    umask 077
    openssl rand -hex 16 > password
    openssl rand -hex 16 > store-password
    for ca in ca other-ca; do
      openssl req -x509 -newkey rsa:2048 -nodes -keyout "$ca.key" -out "$ca.pem" -days 3650 \
        -subj "/CN=ratings-stream test $ca" 2>/dev/null
    done
    openssl req -newkey rsa:2048 -nodes -keyout broker.key -out broker.csr -subj /CN=127.0.0.1 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1\n' > san.ext
    openssl x509 -req -in broker.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 3650 \
      -extfile san.ext -out broker.pem 2>/dev/null
    openssl pkcs12 -export -in broker.pem -inkey broker.key -certfile ca.pem -name broker \
      -out broker.p12 -passout "pass:$(cat store-password)"
    chmod 644 ca.pem other-ca.pem
  )
  touch "$tls/.complete"
}

write_config() {
  local port=$1 controller=$2 sasl=$3 store
  store=$(cat "$tls/store-password")
  cat > "$cache/server.properties" <<CONF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$controller
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$controller,SASL_SSL://127.0.0.1:$sasl
advertised.listeners=PLAINTEXT://127.0.0.1:$port,SASL_SSL://127.0.0.1:$sasl
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SASL_SSL:SASL_SSL
sasl.enabled.mechanisms=SCRAM-SHA-512
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
ssl.keystore.type=PKCS12
ssl.keystore.location=$tls/broker.p12
ssl.keystore.password=$store
ssl.key.password=$store
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

# create_scram_user: the SCRAM-SHA-512 user `ratings` with the password in $tls/password.
create_scram_user() {
  java_tool kafka.admin.ConfigCommand --bootstrap-server "127.0.0.1:$(cat "$portfile")" --alter \
    --add-config "SCRAM-SHA-512=[iterations=4096,password=$(cat "$tls/password")]" \
    --entity-type users --entity-name ratings >/dev/null
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
  make_tls
  local port controller sasl
  port=$(start_port "$portfile" "${KAFKA_PORT:-19092}")
  sasl=$(start_port "$sasl_portfile" "${KAFKA_SASL_PORT:-19093}")
  controller=$(free_port)
  write_config "$port" "$controller" "$sasl"
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
  create_scram_user
  echo "kafka.sh: broker up on 127.0.0.1:$port, SASL_SSL on 127.0.0.1:$sasl (log $log)"
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
  sasl-env)
    running || { echo "kafka.sh: not running" >&2; exit 1; }
    echo "KAFKA_SASL_BOOTSTRAP=127.0.0.1:$(cat "$sasl_portfile")"
    echo "KAFKA_SASL_USER=ratings"
    echo "KAFKA_SASL_PASSWORD=$(cat "$tls/password")"
    echo "KAFKA_SASL_CA=$tls/ca.pem"
    echo "KAFKA_OTHER_CA=$tls/other-ca.pem" ;;
  create)
    running || { echo "kafka.sh: not running" >&2; exit 1; }
    java_tool org.apache.kafka.tools.TopicCommand --bootstrap-server "127.0.0.1:$(cat "$portfile")" \
      --create --if-not-exists --topic "${2:?topic name}" --partitions "${3:-3}" --replication-factor 1 >/dev/null ;;
  reset) stop; rm -rf "$data" "$portfile" "$sasl_portfile" ;;
  help|-h|--help) usage "$0" ;;
  *) usage "$0" >&2; exit 2 ;;
esac
