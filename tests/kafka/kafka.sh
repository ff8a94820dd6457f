#!/usr/bin/env bash
# A real single-node Apache Kafka broker (KRaft, broker+controller in one JVM)
# for sluice's tests, run from Maven Central jars. See tests/kafka/README.md.
#
#   kafka.sh fetch                    fetch the jars into the cache (once)
#   kafka.sh start DIR [KEY=VALUE..]  start a broker in DIR, print its bootstrap
#   kafka.sh stop DIR                 stop the broker started in DIR
#   kafka.sh restart DIR              stop it and start it again on the same
#                                     ports and data (a broker bounce)
#   kafka.sh kill DIR                 SIGKILL the broker started in DIR (a
#                                     crash: no clean shutdown); restart DIR
#                                     brings it back on the same ports and data
#   kafka.sh run [KEY=VALUE..]        start in a temp dir, print bootstrap,
#                                     run until SIGINT/SIGTERM, then clean up
#   kafka.sh tool CLASS ARGS..        run any Kafka main class on the classpath
#   kafka.sh topics|consumer-groups|configs|get-offsets|delete-records|
#            metadata-quorum|console-producer|console-consumer ARGS..
#   kafka.sh classpath                print the broker's classpath
#
# KEY=VALUE pairs are appended to server.properties and override defaults.
# Everything but the bootstrap address (start, run) and the tools' own output
# goes to stderr.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PROG=kafka.sh

die() {
	echo "$PROG: $*" >&2
	exit 1
}
say() { echo "$PROG: $*" >&2; }

POM_VERSION=$(sed -n 's:.*<kafka\.version>\(.*\)</kafka\.version>.*:\1:p' "$HERE/pom.xml")
[ -n "$POM_VERSION" ] || die "cannot read <kafka.version> from $HERE/pom.xml"
KAFKA_VERSION=${SLUICE_KAFKA_VERSION:-$POM_VERSION}
CACHE=${SLUICE_KAFKA_CACHE:-${HOME:?HOME is not set; set SLUICE_KAFKA_CACHE}/.cache/sluice-kafka/$KAFKA_VERSION}
LIB=$CACHE/lib
HEAP=${SLUICE_KAFKA_HEAP:-512m}
# The address clients use (listeners and advertised.listeners); the
# controller stays on loopback. tests/k8s sets it to the node address pods
# reach.
HOST=${SLUICE_KAFKA_HOST:-127.0.0.1}
START_TIMEOUT=${SLUICE_KAFKA_START_TIMEOUT:-90}
STOP_TIMEOUT=${SLUICE_KAFKA_STOP_TIMEOUT:-30}

# JVM flags: a small heap and quick start-up. C1 only (TieredStopAtLevel=1)
# starts the broker faster and is plenty for test traffic; no hsperfdata files.
# SLUICE_KAFKA_JVM_OPTS is appended (whitespace-separated; later flags win).
JVM_COMMON=(-XX:+UseSerialGC -XX:TieredStopAtLevel=1 -XX:-UsePerfData
	-Xshare:auto -Djava.awt.headless=true -Dfile.encoding=UTF-8)
read -r -a JVM_EXTRA <<<"${SLUICE_KAFKA_JVM_OPTS:-}"
JVM_COMMON+=(${JVM_EXTRA[@]+"${JVM_EXTRA[@]}"})

# ---------------------------------------------------------------- helpers --

now_us() {
	local t=$EPOCHREALTIME
	echo "${t//[.,]/}"
}

# elapsed START_US -> "1.23 s"
elapsed() {
	local d=$(($(now_us) - $1))
	printf '%d.%02d s' $((d / 1000000)) $((d % 1000000 / 10000))
}

find_java() {
	if [ -n "${SLUICE_KAFKA_JAVA:-}" ]; then
		JAVA=$SLUICE_KAFKA_JAVA
	elif [ -n "${JAVA_HOME:-}" ] && [ -x "$JAVA_HOME/bin/java" ]; then
		JAVA=$JAVA_HOME/bin/java
	else
		JAVA=$(command -v java) ||
			die "java not found: Kafka $KAFKA_VERSION needs Java 17+ (make kafka-deps, or apt-get install openjdk-17-jre-headless)"
	fi
	local v
	v=$("$JAVA" -version 2>&1 | sed -n '1s/.*version "\([0-9]*\).*/\1/p') || true
	[ -n "$v" ] || die "cannot run $JAVA -version: is it a Java 17+ binary? (set SLUICE_KAFKA_JAVA or JAVA_HOME)"
	[ "$v" -ge 17 ] 2>/dev/null ||
		die "$JAVA is Java $v; Kafka $KAFKA_VERSION needs Java 17+ (set SLUICE_KAFKA_JAVA or JAVA_HOME)"
}

stamp() {
	echo "kafka=$KAFKA_VERSION pom=$(sha256sum "$HERE/pom.xml" | cut -d' ' -f1)"
}

cached() {
	[ -f "$CACHE/.complete" ] && [ "$(cat "$CACHE/.complete")" = "$(stamp)" ]
}

# fetch: copy the jars into $LIB once; later calls only check the stamp.
cmd_fetch() {
	local t0
	t0=$(now_us)
	if cached; then
		say "Kafka $KAFKA_VERSION jars already in $LIB ($(elapsed "$t0"))"
		return 0
	fi
	command -v mvn >/dev/null ||
		die "mvn not found: needed once to fetch Kafka's jars (make kafka-deps, or apt-get install maven)"
	mkdir -p "$CACHE" || die "cannot create cache directory $CACHE (set SLUICE_KAFKA_CACHE)"
	# One fetch at a time per cache (tests may start brokers in parallel). The
	# lock is held in a subshell so no broker inherits its descriptor. set -e
	# does not apply inside it (it runs left of ||): every step is checked.
	(
		exec 9>"$CACHE/.lock" || die "cannot write $CACHE/.lock"
		flock 9 || die "cannot lock $CACHE/.lock"
		cached && exit 3 # another process fetched them while we waited
		say "fetching Kafka $KAFKA_VERSION jars from Maven Central into $LIB ..."
		rm -rf "$CACHE/lib.tmp"
		local rc=0
		# Debian's mvn prints ANSI resets even with -B: strip them.
		mvn -q -B -f "$HERE/pom.xml" \
			-Dkafka.version="$KAFKA_VERSION" \
			dependency:copy-dependencies \
			-DincludeScope=runtime \
			-DoutputDirectory="$CACHE/lib.tmp" 2>&1 |
			sed 's/\x1b\[[0-9;]*m//g' >&2 || rc=$?
		[ "$rc" = 0 ] || die "mvn dependency:copy-dependencies failed (exit $rc) for Kafka $KAFKA_VERSION; see the output above"
		[ -f "$CACHE/lib.tmp/kafka_2.13-$KAFKA_VERSION.jar" ] ||
			die "mvn ran but $CACHE/lib.tmp has no kafka_2.13-$KAFKA_VERSION.jar"
		rm -f "$CACHE/.complete"
		rm -rf "$LIB" && mv "$CACHE/lib.tmp" "$LIB" && stamp >"$CACHE/.complete" ||
			die "cannot move the jars into $LIB"
		exit 0
	) || {
		local rc=$?
		[ "$rc" = 3 ] || exit "$rc"
		say "Kafka $KAFKA_VERSION jars fetched by another process into $LIB ($(elapsed "$t0"))"
		return 0
	}
	say "fetched $(find "$LIB" -name '*.jar' | wc -l) jars ($(du -sh "$LIB" | cut -f1)) into $LIB in $(elapsed "$t0")"
}

ensure_fetched() {
	cached || cmd_fetch
}

# alive PID: running and not a zombie
alive() {
	kill -0 "$1" 2>/dev/null || return 1
	local st
	st=$(sed -n 's/^[0-9]* (.*) \([A-Za-z]\) .*/\1/p' "/proc/$1/stat" 2>/dev/null) || return 1
	[ "$st" != Z ]
}

# is_our_broker PID DIR: the process is a kafka.Kafka run on DIR's config
is_our_broker() {
	tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -qF "kafka.Kafka $2/server.properties"
}

# Two free loopback ports, distinct (both held open while asked for).
free_ports() {
	local py
	py=$(command -v /usr/bin/python3 python3 | head -n 1) || true
	if [ -n "$py" ]; then
		"$py" -c '
import socket
s = [socket.socket() for _ in range(2)]
for x in s:
    x.bind(("'"$HOST"'", 0))
print(*[x.getsockname()[1] for x in s])'
	else
		# Fallback: random ports in 20000-29999 nobody listens on.
		local p c
		while :; do
			p=$((20000 + RANDOM % 10000)) c=$((20000 + RANDOM % 10000))
			[ "$p" != "$c" ] || continue
			ss -Htln "( sport = :$p or sport = :$c )" 2>/dev/null | grep -q . || break
		done
		echo "$p $c"
	fi
}

# A random Kafka cluster id: 16 random bytes, URL-safe base64, no padding,
# not starting with '-' (as org.apache.kafka.common.Uuid.randomUuid()).
random_cluster_id() {
	local id
	while :; do
		id=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')
		[ "${id:0:1}" != - ] && break
	done
	echo "$id"
}

write_config() { # DIR PORT CPORT KEY=VALUE...
	local dir=$1 port=$2 cport=$3
	shift 3
	cat >"$dir/server.properties" <<EOF
# Written by tests/kafka/kafka.sh: single-node KRaft broker+controller for tests.
process.roles=broker,controller
node.id=1
listeners=PLAINTEXT://$HOST:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://$HOST:$port
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
# KIP-853 dynamic quorum: formatted with --standalone, this node is the voter.
controller.quorum.bootstrap.servers=127.0.0.1:$cport
log.dirs=$dir/data

# One broker: every internal topic has one replica.
num.partitions=1
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
auto.create.topics.enable=true
delete.topic.enable=true

# Fast groups: no initial rebalance delay; allow short session timeouts.
group.initial.rebalance.delay.ms=0
group.min.session.timeout.ms=1000

# Retention and compaction act within about a second, so tests can watch them
# (the first retention check too: it otherwise waits 30 s after start).
log.initial.task.delay.ms=0
log.retention.check.interval.ms=1000
log.segment.delete.delay.ms=1000
log.cleaner.backoff.ms=1000
log.cleaner.dedupe.buffer.size=16777216
file.delete.delay.ms=1000

num.network.threads=2
num.io.threads=4
EOF
	if [ $# -gt 0 ]; then
		echo "# from the command line" >>"$dir/server.properties"
		local kv
		for kv in "$@"; do
			case $kv in
			?*=*) echo "$kv" >>"$dir/server.properties" ;;
			*) die "bad broker property '$kv': expected KEY=VALUE, e.g. log.retention.ms=1000" ;;
			esac
		done
	fi
}

# PID of a broker being started, killed if start fails half-way.
STARTING_PID=
cleanup_failed_start() {
	if [ -n "$STARTING_PID" ] && alive "$STARTING_PID"; then
		kill -KILL "$STARTING_PID" 2>/dev/null || true
	fi
}

# start_broker MODE DIR KEY=VALUE... : sets BOOTSTRAP and BROKER_PID.
# MODE fresh: new ports, new config, freshly formatted storage.
# MODE restart: the config, ports and data DIR already has (a broker bounce).
start_broker() {
	local mode=$1 dir=$2
	shift 2
	find_java
	ensure_fetched
	mkdir -p "$dir" || die "cannot create $dir"
	dir=$(cd "$dir" && pwd)
	if [ -f "$dir/pid" ]; then
		local old
		old=$(cat "$dir/pid")
		if alive "$old" && is_our_broker "$old" "$dir"; then
			die "a broker is already running in $dir (pid $old); run: $0 stop $dir"
		fi
		rm -f "$dir/pid"
	fi
	rm -f "$dir/bootstrap"

	local t0 t_format=- t_broker attempt attempts=3 port cport cid pid rc deadline bootstrap
	t0=$(now_us)
	if [ "$mode" = restart ]; then
		{ [ -f "$dir/server.properties" ] && [ -f "$dir/data/meta.properties" ]; } ||
			die "no broker was started in $dir (no server.properties or data/meta.properties); use: $0 start $dir"
		[ $# -eq 0 ] || die "restart takes no KEY=VALUE: it reuses $dir/server.properties"
		port=$(sed -n 's|^advertised.listeners=PLAINTEXT://[^:]*:\([0-9]*\)$|\1|p' "$dir/server.properties")
		HOST=$(sed -n 's|^advertised.listeners=PLAINTEXT://\([^:]*\):[0-9]*$|\1|p' "$dir/server.properties")
		[ -n "$port" ] || die "cannot read the broker port from $dir/server.properties"
		attempts=1
	fi
	for ((attempt = 1; attempt <= attempts; attempt++)); do
		if [ "$mode" = fresh ]; then
			read -r port cport < <(free_ports)
			[ -n "$cport" ] || die "could not pick free loopback ports"
			write_config "$dir" "$port" "$cport" "$@"
			rm -rf "$dir/data"
			cid=$(random_cluster_id)
			rc=0
			t_format=$(now_us)
			"$JAVA" -Xmx256m "${JVM_COMMON[@]}" \
				-Dlog4j2.configurationFile="$HERE/log4j2-tools.properties" \
				-cp "$LIB/*" kafka.tools.StorageTool format \
				--standalone -t "$cid" -c "$dir/server.properties" \
				</dev/null >"$dir/format.log" 2>&1 || rc=$?
			if [ "$rc" != 0 ]; then
				tail -n 20 "$dir/format.log" >&2
				die "formatting the KRaft storage in $dir/data failed (exit $rc); see $dir/format.log"
			fi
			t_format=$(elapsed "$t_format")
		fi
		bootstrap=$HOST:$port
		t_broker=$(now_us)
		[ -f "$dir/kafka.log" ] && [ "$mode" = restart ] && mv "$dir/kafka.log" "$dir/kafka.log.prev"

		# The broker gets none of our descriptors but its log: a caller that
		# reads our stdout (or any pipe it leaked to us) to EOF must not wait
		# for the broker to exit.
		(
			for fd in "/proc/$BASHPID/fd"/*; do
				fd=${fd##*/}
				[ "$fd" -gt 2 ] 2>/dev/null && eval "exec $fd>&-" 2>/dev/null
			done
			exec "$JAVA" -Xms64m -Xmx"$HEAP" "${JVM_COMMON[@]}" \
				-XX:+ExitOnOutOfMemoryError \
				-Dlog4j2.configurationFile="$HERE/log4j2-broker.properties" \
				-Dkafka.logs.dir="$dir" \
				-cp "$LIB/*" kafka.Kafka "$dir/server.properties"
		) </dev/null >"$dir/kafka.log" 2>&1 &
		pid=$!
		STARTING_PID=$pid
		echo "$pid" >"$dir/pid"

		deadline=$(($(now_us) + START_TIMEOUT * 1000000))
		while :; do
			if ! alive "$pid"; then
				wait "$pid" 2>/dev/null && rc=0 || rc=$?
				if [ "$attempt" -lt "$attempts" ] && grep -q 'Address already in use' "$dir/kafka.log"; then
					say "port $port or $cport was taken meanwhile; retrying with new ports"
					mv "$dir/kafka.log" "$dir/kafka.log.$attempt"
					continue 2
				fi
				echo "----- last lines of $dir/kafka.log -----" >&2
				tail -n 40 "$dir/kafka.log" >&2
				rm -f "$dir/pid"
				die "the broker exited (status $rc) before it answered metadata; log: $dir/kafka.log"
			fi
			if broker_answers "$bootstrap" "$dir"; then
				break 2
			fi
			if [ "$(now_us)" -gt "$deadline" ]; then
				echo "----- last lines of $dir/kafka.log -----" >&2
				tail -n 40 "$dir/kafka.log" >&2
				stop_broker "$dir" >/dev/null 2>&1 || true
				die "the broker did not answer metadata at $bootstrap within ${START_TIMEOUT}s (SLUICE_KAFKA_START_TIMEOUT); log: $dir/kafka.log"
			fi
			sleep 0.1
		done
	done
	echo "$bootstrap" >"$dir/bootstrap.tmp"
	mv "$dir/bootstrap.tmp" "$dir/bootstrap"
	STARTING_PID=
	BOOTSTRAP=$bootstrap
	BROKER_PID=$pid
	say "Kafka $KAFKA_VERSION broker up at $bootstrap in $(elapsed "$t0") (format $t_format, broker $(elapsed "$t_broker"); pid $pid, log $dir/kafka.log)"
}

# broker_answers BOOTSTRAP DIR: a Metadata request lists broker 1.
broker_answers() {
	# A cheap TCP connect first: kcat waits out its timeout on a closed port.
	(exec 3<>"/dev/tcp/${1%:*}/${1##*:}") 2>/dev/null || return 1
	if command -v kcat >/dev/null; then
		kcat -L -b "$1" -m 2 -q 2>/dev/null | grep -q 'broker 1 at'
	else
		# Without kcat: the broker logged that it started and its port accepts.
		grep -q 'Kafka Server started' "$2/kafka.log" 2>/dev/null
	fi
}

stop_broker() { # DIR
	local dir=$1 pid t0 deadline
	[ -d "$dir" ] || die "no such directory: $dir"
	dir=$(cd "$dir" && pwd)
	if [ ! -f "$dir/pid" ]; then
		say "no broker in $dir (no pid file)"
		return 0
	fi
	pid=$(cat "$dir/pid")
	if ! alive "$pid" || ! is_our_broker "$pid" "$dir"; then
		say "broker in $dir (pid $pid) is not running"
		rm -f "$dir/pid" "$dir/bootstrap"
		return 0
	fi
	t0=$(now_us)
	kill -TERM "$pid" 2>/dev/null || true
	deadline=$(($(now_us) + STOP_TIMEOUT * 1000000))
	while alive "$pid" && [ "$(now_us)" -lt "$deadline" ]; do
		sleep 0.1
	done
	if alive "$pid"; then
		say "broker pid $pid ignored SIGTERM for ${STOP_TIMEOUT}s (SLUICE_KAFKA_STOP_TIMEOUT); sending SIGKILL"
		kill -KILL "$pid" 2>/dev/null || true
		deadline=$(($(now_us) + 10 * 1000000))
		while alive "$pid" && [ "$(now_us)" -lt "$deadline" ]; do
			sleep 0.1
		done
		alive "$pid" && die "broker pid $pid survived SIGKILL"
	fi
	rm -f "$dir/pid" "$dir/bootstrap"
	say "broker in $dir stopped in $(elapsed "$t0")"
}

kill_broker() { # DIR
	local dir=$1 pid t0 deadline
	[ -d "$dir" ] || die "no such directory: $dir"
	dir=$(cd "$dir" && pwd)
	[ -f "$dir/pid" ] || die "no broker in $dir (no pid file)"
	pid=$(cat "$dir/pid")
	if ! alive "$pid" || ! is_our_broker "$pid" "$dir"; then
		rm -f "$dir/pid" "$dir/bootstrap"
		die "broker in $dir (pid $pid) is not running"
	fi
	t0=$(now_us)
	kill -KILL "$pid" 2>/dev/null || true
	deadline=$(($(now_us) + 10 * 1000000))
	while alive "$pid" && [ "$(now_us)" -lt "$deadline" ]; do
		sleep 0.05
	done
	alive "$pid" && die "broker pid $pid survived SIGKILL"
	# server.properties and data/ stay: restart DIR reuses them.
	rm -f "$dir/pid" "$dir/bootstrap"
	say "broker in $dir (pid $pid) killed with SIGKILL in $(elapsed "$t0")"
}

# ---------------------------------------------------------------- commands --

cmd_start() {
	[ $# -ge 1 ] || die "usage: $PROG start DIR [KEY=VALUE...]"
	trap cleanup_failed_start EXIT
	start_broker fresh "$@"
	trap - EXIT
	echo "$BOOTSTRAP"
}

cmd_restart() {
	[ $# -eq 1 ] || die "usage: $PROG restart DIR"
	[ -d "$1" ] || die "no such directory: $1"
	stop_broker "$1"
	trap cleanup_failed_start EXIT
	start_broker restart "$1"
	trap - EXIT
	echo "$BOOTSTRAP"
}

cmd_stop() {
	[ $# -eq 1 ] || die "usage: $PROG stop DIR"
	stop_broker "$1"
}

cmd_kill() {
	[ $# -eq 1 ] || die "usage: $PROG kill DIR"
	kill_broker "$1"
}

RUN_DIR=
run_cleanup() {
	trap - EXIT INT TERM
	cleanup_failed_start
	if [ -n "$RUN_DIR" ]; then
		stop_broker "$RUN_DIR" || true
		if [ -n "${SLUICE_KAFKA_KEEP:-}" ]; then
			say "kept $RUN_DIR"
		else
			rm -rf "$RUN_DIR"
		fi
	fi
}

cmd_run() {
	RUN_DIR=$(mktemp -d "${TMPDIR:-/tmp}/sluice-kafka.XXXXXX")
	trap 'run_cleanup' EXIT
	trap 'run_cleanup; exit 0' INT TERM
	start_broker fresh "$RUN_DIR" "$@"
	echo "$BOOTSTRAP"
	say "running in $RUN_DIR; Ctrl-C or SIGTERM stops it"
	local rc=0
	# Returns early when a trapped signal arrives (the trap then stops the
	# broker), or when the broker exits by itself.
	wait "$BROKER_PID" || rc=$?
	echo "----- last lines of $RUN_DIR/kafka.log -----" >&2
	tail -n 20 "$RUN_DIR/kafka.log" >&2
	SLUICE_KAFKA_KEEP=1
	die "the broker exited by itself (status $rc); kept $RUN_DIR"
}

cmd_tool() {
	[ $# -ge 1 ] || die "usage: $PROG tool CLASS [ARGS...]"
	local class=$1
	shift
	find_java
	ensure_fetched
	exec "$JAVA" -Xmx256m "${JVM_COMMON[@]}" \
		-Dlog4j2.configurationFile="$HERE/log4j2-tools.properties" \
		-cp "$LIB/*" "$class" "$@"
}

usage() {
	sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"
}

[ $# -ge 1 ] || {
	usage >&2
	exit 2
}
cmd=$1
shift
case $cmd in
fetch) cmd_fetch ;;
start) cmd_start "$@" ;;
stop) cmd_stop "$@" ;;
kill) cmd_kill "$@" ;;
restart) cmd_restart "$@" ;;
run) cmd_run "$@" ;;
tool) cmd_tool "$@" ;;
topics) cmd_tool org.apache.kafka.tools.TopicCommand "$@" ;;
consumer-groups) cmd_tool org.apache.kafka.tools.consumer.group.ConsumerGroupCommand "$@" ;;
configs) cmd_tool kafka.admin.ConfigCommand "$@" ;;
get-offsets) cmd_tool org.apache.kafka.tools.GetOffsetShell "$@" ;;
delete-records) cmd_tool org.apache.kafka.tools.DeleteRecordsCommand "$@" ;;
metadata-quorum) cmd_tool org.apache.kafka.tools.MetadataQuorumCommand "$@" ;;
console-producer) cmd_tool org.apache.kafka.tools.ConsoleProducer "$@" ;;
console-consumer) cmd_tool org.apache.kafka.tools.consumer.ConsoleConsumer "$@" ;;
classpath)
	ensure_fetched
	echo "$LIB/*"
	;;
-h | --help | help) usage ;;
*)
	usage >&2
	die "unknown command '$cmd'"
	;;
esac
