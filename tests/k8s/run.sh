#!/usr/bin/env bash
# make k8s-test: the image and the chart on a real one-node cluster.
#
#   tests/k8s/run.sh BUILD [TEST..]
#
# 1. builds the cluster's parts (build.sh; cached by version) and the image
#    (image.sh; podman's layer cache), then runs the image's own checks
#    (test_image.py: --help, `sluice demo` as uid 10001 on a read-only root,
#    a worker in the image against a real broker);
# 2. brings up the cluster (cluster.sh) with the image imported into its
#    containerd, and the suite's own Kafka broker (tests/kafka/kafka.sh)
#    inside the cluster's network namespace, on the node address pods reach;
# 3. runs test_k8s.py inside the namespaces (TEST names pick some), which
#    installs the chart in its modes and checks each against Kafka;
# 4. takes everything down, whatever happened; logs stay in
#    BUILD/k8s-test/ (cluster/logs, pods/, kafka/).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
# shellcheck disable=SC2034 # read by lib.sh
K8S_PROG=k8s-test

BUILD=$(cd "${1:-build}" && pwd)
[ $# -gt 0 ] && shift
W=$BUILD/k8s-test
CLUSTER=$W/cluster
PY=/usr/bin/python3
stage() {
	local took
	took=$(k8s_since "$2")
	k8s_say "$1: $took"
	echo "$1 ${took% s}" >>"$W/stages"
}

t_all=$(k8s_now)
mkdir -p "$W"
rm -f "$W/stages"

# What the host has before: its interfaces, addresses, routes, firewall
# rules, mounts and top-level cgroups. The run must leave exactly that.
host_state() {
	{
		ip -o link | awk '{ print "link", $2 }'
		ip -o addr | awk '{ print "addr", $2, $4 }'
		ip route | sed 's/^/route /'
		{ iptables-save 2>/dev/null || true; } | { grep -v '^[#:]' || true; } | sed 's/^/iptables /'
		awk '{ print "mount", $2, $3 }' /proc/mounts
		for d in /sys/fs/cgroup/*/; do ls -d "$d"*/ 2>/dev/null || true; done | sed 's/^/cgroup /'
	} | sort
}
host_state >"$W/host-before"
[ -x "$BUILD/bin/sluice" ] || k8s_die "no build in $BUILD: make build first"

t=$(k8s_now)
"$K8S_HERE/build.sh" all
stage "cluster binaries (build.sh)" "$t"

t=$(k8s_now)
"$K8S_HERE/image.sh" build
stage "image (image.sh build)" "$t"

t=$(k8s_now)
SLUICE_BUILD_DIR=$BUILD SLUICE_IMAGE=$SLUICE_IMAGE $PY "$K8S_HERE/test_image.py"
stage "image checks (test_image.py)" "$t"

# A cluster left by an interrupted run goes first.
[ -f "$CLUSTER/init.pid" ] && "$K8S_HERE/cluster.sh" down "$CLUSTER" || true
mkdir -p "$CLUSTER"
t=$(k8s_now)
"$K8S_HERE/image.sh" save "$CLUSTER/sluice-image.tar"
stage "image saved for containerd" "$t"

cleanup() {
	local rc=$?
	"$K8S_HERE/cluster.sh" down "$CLUSTER" || rc=1
	rm -f "$CLUSTER/sluice-image.tar"
	host_state >"$W/host-after"
	if ! diff -u "$W/host-before" "$W/host-after" >"$W/host-diff"; then
		k8s_say "the host changed (interfaces, routes, firewall, mounts or cgroups):"
		sed -n '3,40p' "$W/host-diff" >&2
		rc=1
	else
		k8s_say "the host's network, mounts and cgroups are as before"
	fi
	k8s_say "stages (seconds):"
	sed 's/^/    /' "$W/stages" >&2 || true
	k8s_say "total $(k8s_since "$t_all")"
	exit $rc
}
trap cleanup EXIT
t=$(k8s_now)
"$K8S_HERE/cluster.sh" up "$CLUSTER"
stage "cluster up (cluster.sh up)" "$t"
t=$(k8s_now)
"$K8S_HERE/cluster.sh" keda "$CLUSTER"
stage "KEDA up (cluster.sh keda)" "$t"

t=$(k8s_now)
rm -rf "$W/kafka"
mkdir -p "$W/kafka"
brokers=$("$K8S_HERE/cluster.sh" exec "$CLUSTER" env SLUICE_KAFKA_HOST=10.203.0.1 \
	"$K8S_TOP/tests/kafka/kafka.sh" start "$W/kafka")
stage "Kafka broker at $brokers" "$t"

t=$(k8s_now)
"$K8S_HERE/cluster.sh" exec "$CLUSTER" env SLUICE_BUILD_DIR="$BUILD" \
	SLUICE_K8S_DIR="$W" SLUICE_K8S_BROKERS="$brokers" SLUICE_IMAGE="$SLUICE_IMAGE" \
	SLUICE_K8S_KEDA="$("$K8S_HERE/build.sh" path keda)" \
	$PY "$K8S_HERE/test_k8s.py" "$@"
stage "chart on the cluster (test_k8s.py)" "$t"
