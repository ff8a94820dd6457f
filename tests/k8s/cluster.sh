#!/usr/bin/env bash
# A one-node Kubernetes cluster from real parts, for tests/k8s:
#
#   tests/k8s/cluster.sh up DIR      start it (DIR: its work directory)
#   tests/k8s/cluster.sh exec DIR CMD..
#                                    run CMD inside the cluster's namespaces
#                                    with KUBECONFIG set and kubectl/helm on PATH
#   tests/k8s/cluster.sh keda DIR    add KEDA (operator and metrics adapter,
#                                    built by build.sh) to a running cluster
#   tests/k8s/cluster.sh down DIR    stop everything it started, remove what
#                                    it created; the logs stay in DIR/logs
#
# etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubelet and
# kube-proxy (Kubernetes $K8S_VERSION), CoreDNS, containerd with runc and the
# CNI bridge plugin. Built by build.sh; containerd, runc and CNI are Debian's.
#
# Isolation. Everything runs inside new PID, network and mount namespaces,
# held by a small init (PID 1 of the PID namespace, which reaps orphans):
#   - the network namespace has only loopback, the node address
#     ($NODE_IP, on lo) and what CNI creates for pods (the cni0 bridge,
#     $POD_CIDR); Services are $SERVICE_CIDR. None of it exists on the
#     host: nothing is added to the host's interfaces, routes or iptables;
#   - the mount namespace is private, with tmpfs over /run, /var/lib and
#     /var/log: containerd's and kubelet's state, pod volumes and logs, the
#     CNI configuration and IPAM state live there and vanish with it;
#     the components' own logs and configuration go to DIR;
#   - ports are fixed (6443, 2379, 10250, ...) because the namespace is ours.
# Stopping: each component is sent SIGTERM by the PID it was started with,
# inside the PID namespace where it cannot name anything else; then the init
# is killed, which kills whatever is left in the namespace (containers,
# shims) and frees the namespaces and their mounts. Last, the cgroups kubelet
# made under its own root (/$CGROUP_ROOT-*) are removed.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

NODE_IP=10.203.0.1
POD_CIDR=10.204.0.0/24
POD_GW=10.204.0.1
SERVICE_CIDR=10.205.0.0/24
KUBERNETES_SVC_IP=10.205.0.1
DNS_IP=10.205.0.10
NODE_NAME=sluice-node
CLUSTER_DOMAIN=cluster.local
CGROUP_ROOT=sluice-k8s

usage() { k8s_die "usage: cluster.sh up|keda|down DIR, or cluster.sh exec DIR CMD.."; }
[ $# -ge 2 ] || usage
cmd=$1
W=$2
shift 2
mkdir -p "$W"
W=$(cd "$W" && pwd)

bins() {
	KBIN=$("$K8S_HERE/build.sh" path kubernetes)
	EBIN=$("$K8S_HERE/build.sh" path etcd)
	CBIN=$("$K8S_HERE/build.sh" path coredns)
	for d in "$KBIN" "$EBIN" "$CBIN"; do
		[ -f "$d/.complete" ] || k8s_die "$d is not built: run tests/k8s/build.sh first"
	done
	HELM=${HELM:-$K8S_CACHE_ROOT/sluice-helm/helm}
}

init_pid() { cat "$W/init.pid" 2>/dev/null; }

# Run CMD.. inside the namespaces (as a child of the init's namespaces).
in_ns() {
	local pid
	pid=$(init_pid) || k8s_die "no cluster in $W (no init.pid)"
	nsenter --target "$pid" --pid --net --mount -- env \
		KUBECONFIG="$W/admin.kubeconfig" PATH="$KBIN:$(dirname "$HELM"):$PATH" \
		HELM_CACHE_HOME="$W/helm/cache" HELM_CONFIG_HOME="$W/helm/config" \
		HELM_DATA_HOME="$W/helm/data" "$@"
}

# start NAME CMD..: run a component in the background, log to logs/NAME.log,
# and remember its PID inside the namespace in pids/NAME.
start() {
	local name=$1
	shift
	in_ns sh -c 'echo $$ >"$0"; exec "$@"' "$W/pids/$name" "$@" \
		</dev/null >>"$W/logs/$name.log" 2>&1 &
	for _ in $(seq 50); do
		[ -s "$W/pids/$name" ] && return 0
		sleep 0.1
	done
	k8s_die "$name did not start; see $W/logs/$name.log"
}

# wait_for WHAT SECONDS CMD..: retry CMD until it succeeds.
wait_for() {
	local what=$1 secs=$2 t0
	shift 2
	t0=$(k8s_now)
	local deadline=$(($(date +%s) + secs))
	until "$@" >/dev/null 2>&1; do
		if [ "$(date +%s)" -gt "$deadline" ]; then
			k8s_say "$what: not ready after ${secs}s; last lines of the logs:"
			tail -n 15 "$W"/logs/*.log >&2 || true
			return 1
		fi
		sleep 0.2
	done
	k8s_say "$what ready ($(k8s_since "$t0"))"
}

# --- certificates ----------------------------------------------------------

# cert NAME CN ORG SANS: a key and a certificate signed by the cluster CA.
cert() {
	local name=$1 cn=$2 org=$3 sans=$4 pki=$W/pki
	openssl req -new -newkey rsa:2048 -nodes -keyout "$pki/$name.key" \
		-subj "/CN=$cn${org:+/O=$org}" -out "$pki/$name.csr" 2>/dev/null
	{
		echo "basicConstraints=CA:FALSE"
		echo "keyUsage=critical,digitalSignature,keyEncipherment"
		echo "extendedKeyUsage=serverAuth,clientAuth"
		[ -n "$sans" ] && echo "subjectAltName=$sans"
	} >"$pki/$name.ext"
	openssl x509 -req -in "$pki/$name.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" \
		-CAcreateserial -days 2 -extfile "$pki/$name.ext" -out "$pki/$name.crt" 2>/dev/null
	rm -f "$pki/$name.csr" "$pki/$name.ext"
}

make_pki() {
	local pki=$W/pki
	mkdir -p "$pki"
	openssl req -x509 -new -newkey rsa:2048 -nodes -keyout "$pki/ca.key" \
		-subj "/CN=sluice-test-ca" -days 2 -out "$pki/ca.crt" 2>/dev/null
	cert apiserver kube-apiserver "" \
		"IP:$NODE_IP,IP:$KUBERNETES_SVC_IP,IP:127.0.0.1,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.$CLUSTER_DOMAIN,DNS:localhost"
	cert apiserver-kubelet-client kube-apiserver-kubelet-client system:masters ""
	cert front-proxy-client front-proxy-client "" ""
	cert kubelet "system:node:$NODE_NAME" system:nodes "IP:$NODE_IP,DNS:$NODE_NAME"
	# KEDA's metrics adapter and operator (gRPC between them), served on the node.
	cert keda keda "" "IP:$NODE_IP,IP:127.0.0.1,DNS:keda-operator.keda.svc,DNS:keda-operator.keda.svc.$CLUSTER_DOMAIN,DNS:keda-metrics-apiserver.keda.svc,DNS:localhost"
	openssl genrsa -out "$pki/sa.key" 2048 2>/dev/null
	openssl rsa -in "$pki/sa.key" -pubout -out "$pki/sa.pub" 2>/dev/null
	TOKEN=$(openssl rand -hex 16)
	echo "$TOKEN,admin,admin,system:masters" >"$pki/tokens.csv"
	chmod 600 "$pki"/*.key "$pki/tokens.csv"
	cat >"$W/admin.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: sluice-test
  cluster:
    server: https://$NODE_IP:6443
    certificate-authority: $pki/ca.crt
users:
- name: admin
  user:
    token: $TOKEN
contexts:
- name: sluice-test
  context: {cluster: sluice-test, user: admin}
current-context: sluice-test
EOF
	chmod 600 "$W/admin.kubeconfig"
}

# --- configuration files ---------------------------------------------------

write_configs() {
	mkdir -p "$W/conf"
	cat >"$W/conf/containerd.toml" <<EOF
version = 2
root = "/var/lib/containerd"
state = "/run/containerd"
[grpc]
  address = "/run/containerd/containerd.sock"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  # No process here may lower its OOM score (the machine withholds
  # CAP_SYS_RESOURCE): kubelet asks -998 for every pod sandbox, which runc
  # then fails to set. Clamp to containerd's own score instead.
  restrict_oom_score_adj = true
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "/run/sluice-k8s/cni"
EOF
	# The pod network: one bridge, host-local IPAM with an explicit default
	# route (without it pods had "Network is unreachable"), hairpin so a pod
	# reaches itself through a Service.
	cat >"$W/conf/10-sluice.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "sluice-pods",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "cni0",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "ranges": [[{"subnet": "$POD_CIDR", "gateway": "$POD_GW"}]],
        "routes": [{"dst": "0.0.0.0/0"}],
        "dataDir": "/var/lib/cni/networks"
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
EOF
	cat >"$W/conf/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $W/pki/ca.crt}
authorization: {mode: AlwaysAllow}
tlsCertFile: $W/pki/kubelet.crt
tlsPrivateKeyFile: $W/pki/kubelet.key
containerRuntimeEndpoint: unix:///run/containerd/containerd.sock
cgroupDriver: cgroupfs
cgroupRoot: /$CGROUP_ROOT-$(init_pid)
# This machine: cgroup v1 (with a cgroup2 mount holding hugetlb), swap.
failCgroupV1: false
failSwapOn: false
clusterDNS: [$DNS_IP]
clusterDomain: $CLUSTER_DOMAIN
# No host resolver: the namespace has no upstream; pods get cluster DNS only.
resolvConf: ""
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
# The pods' volumes and images live on tmpfs, which kubelet cannot measure:
# no disk-pressure eviction and no image garbage collection.
evictionHard: {memory.available: "100Mi"}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
localStorageCapacityIsolation: false
# Faster status for the tests (defaults: 10s, 1m).
nodeStatusUpdateFrequency: 4s
syncFrequency: 10s
serializeImagePulls: false
maxPods: 110
EOF
	cat >"$W/conf/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
clusterCIDR: $POD_CIDR
hostnameOverride: $NODE_NAME
clientConnection: {kubeconfig: $W/admin.kubeconfig}
bindAddress: $NODE_IP
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
# Leave the kernel's conntrack table size alone (a global setting).
conntrack: {maxPerCore: 0}
iptables: {syncPeriod: 5s, minSyncPeriod: 0s}
EOF
	cat >"$W/conf/Corefile" <<EOF
.:53 {
    bind $NODE_IP
    errors
    health 127.0.0.1:8080
    ready 127.0.0.1:8181
    kubernetes $CLUSTER_DOMAIN in-addr.arpa ip6.arpa {
        kubeconfig $W/admin.kubeconfig
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
        ttl 5
    }
    cache 5
}
EOF
	# Cluster DNS: CoreDNS runs on the node (no image for it here), behind
	# the kube-dns Service at $DNS_IP, routed by kube-proxy like any other.
	cat >"$W/conf/kube-dns.yaml" <<EOF
apiVersion: v1
kind: Service
metadata:
  name: kube-dns
  namespace: kube-system
  labels: {k8s-app: kube-dns}
spec:
  clusterIP: $DNS_IP
  ports:
  - {name: dns, port: 53, protocol: UDP, targetPort: 53}
  - {name: dns-tcp, port: 53, protocol: TCP, targetPort: 53}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: kube-dns-node
  namespace: kube-system
  labels: {kubernetes.io/service-name: kube-dns}
addressType: IPv4
ports:
- {name: dns, port: 53, protocol: UDP}
- {name: dns-tcp, port: 53, protocol: TCP}
endpoints:
- addresses: ["$NODE_IP"]
  conditions: {ready: true}
EOF
}

# --- up / down -------------------------------------------------------------

up() {
	bins
	[ -z "$(init_pid)" ] || k8s_die "a cluster may still run in $W (init.pid exists): cluster.sh down $W first"
	local t0
	t0=$(k8s_now)
	rm -rf "$W/logs" "$W/pids" "$W/conf" "$W/pki" "$W/helm"
	mkdir -p "$W/logs" "$W/pids"

	# The init: PID 1 of new PID, network and mount namespaces. It mounts
	# the tmpfs, brings up loopback with the node address, makes its mounts
	# shared inside the namespace (kubelet and containerd propagate pod
	# mounts), then reaps orphans until killed.
	setsid unshare --pid --fork --kill-child --net --mount --propagation private --mount-proc -- \
		bash -c '
			set -e
			for d in /run /var/lib /var/log; do mount -t tmpfs -o mode=0755 sluice-k8s "$d"; done
			mount --make-rshared /
			mkdir -p /run/sluice-k8s/cni
			ip link set lo up
			ip addr add '"$NODE_IP"'/32 dev lo
			echo ready >"$1"
			exec python3 -c "
import os, signal, time
signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
while True:
    try:
        os.wait()
    except ChildProcessError:
        time.sleep(1)
"' init "$W/init.ready" </dev/null >"$W/logs/init.log" 2>&1 &
	local unshare_pid=$! child=
	for _ in $(seq 100); do
		child=$(cat "/proc/$unshare_pid/task/$unshare_pid/children" 2>/dev/null | awk '{print $1}')
		[ -n "$child" ] && [ -s "$W/init.ready" ] && break
		sleep 0.05
	done
	[ -n "$child" ] && [ -s "$W/init.ready" ] || k8s_die "the namespace init did not start; see $W/logs/init.log"
	echo "$child" >"$W/init.pid"
	echo "$unshare_pid" >"$W/unshare.pid"
	rm -f "$W/init.ready"

	# kubelet's cgroup root, in every cgroup v1 hierarchy (it refuses a root
	# that is missing from one); cpuset needs its CPUs and memory nodes set
	# before a task can join.
	local h
	for h in /sys/fs/cgroup/*; do
		[ -d "$h" ] && [ "$h" != /sys/fs/cgroup/unified ] && [ -f "$h/cgroup.procs" ] || continue
		mkdir -p "$h/$CGROUP_ROOT-$child"
	done
	if [ -d "/sys/fs/cgroup/cpuset/$CGROUP_ROOT-$child" ]; then
		cat /sys/fs/cgroup/cpuset/cpuset.cpus >"/sys/fs/cgroup/cpuset/$CGROUP_ROOT-$child/cpuset.cpus"
		cat /sys/fs/cgroup/cpuset/cpuset.mems >"/sys/fs/cgroup/cpuset/$CGROUP_ROOT-$child/cpuset.mems"
	fi

	make_pki
	write_configs
	in_ns cp "$W/conf/10-sluice.conflist" /run/sluice-k8s/cni/

	start etcd "$EBIN/etcd" --name sluice --data-dir /var/lib/etcd \
		--listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
		--listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
		--initial-cluster sluice=http://127.0.0.1:2380 --unsafe-no-fsync --log-level warn
	start containerd containerd --config "$W/conf/containerd.toml"

	local pki=$W/pki
	start kube-apiserver "$KBIN/kube-apiserver" \
		--etcd-servers=http://127.0.0.1:2379 \
		--advertise-address="$NODE_IP" --bind-address=0.0.0.0 --secure-port=6443 \
		--service-cluster-ip-range="$SERVICE_CIDR" \
		--tls-cert-file="$pki/apiserver.crt" --tls-private-key-file="$pki/apiserver.key" \
		--client-ca-file="$pki/ca.crt" --token-auth-file="$pki/tokens.csv" \
		--authorization-mode=AlwaysAllow --allow-privileged=true \
		--service-account-issuer=https://kubernetes.default.svc.$CLUSTER_DOMAIN \
		--service-account-key-file="$pki/sa.pub" --service-account-signing-key-file="$pki/sa.key" \
		--kubelet-client-certificate="$pki/apiserver-kubelet-client.crt" \
		--kubelet-client-key="$pki/apiserver-kubelet-client.key" \
		--kubelet-certificate-authority="$pki/ca.crt" \
		--kubelet-preferred-address-types=InternalIP \
		--requestheader-client-ca-file="$pki/ca.crt" --requestheader-allowed-names=front-proxy-client \
		--requestheader-username-headers=X-Remote-User --requestheader-group-headers=X-Remote-Group \
		--requestheader-extra-headers-prefix=X-Remote-Extra- \
		--proxy-client-cert-file="$pki/front-proxy-client.crt" --proxy-client-key-file="$pki/front-proxy-client.key" \
		--enable-aggregator-routing=true --profiling=false
	wait_for "etcd and kube-apiserver" 60 in_ns "$KBIN/kubectl" get --raw /readyz

	start kube-controller-manager "$KBIN/kube-controller-manager" \
		--kubeconfig="$W/admin.kubeconfig" --authentication-kubeconfig="$W/admin.kubeconfig" \
		--authorization-kubeconfig="$W/admin.kubeconfig" --leader-elect=false \
		--service-account-private-key-file="$pki/sa.key" --root-ca-file="$pki/ca.crt" \
		--cluster-signing-cert-file="$pki/ca.crt" --cluster-signing-key-file="$pki/ca.key" \
		--use-service-account-credentials=false --bind-address=127.0.0.1 \
		--horizontal-pod-autoscaler-sync-period=5s --profiling=false
	start kube-scheduler "$KBIN/kube-scheduler" \
		--kubeconfig="$W/admin.kubeconfig" --authentication-kubeconfig="$W/admin.kubeconfig" \
		--authorization-kubeconfig="$W/admin.kubeconfig" --leader-elect=false \
		--bind-address=127.0.0.1 --profiling=false

	# The images: imported into containerd's k8s.io namespace, as a node
	# with no registry would get them.
	wait_for containerd 30 in_ns ctr --address /run/containerd/containerd.sock version
	local pause_tar
	pause_tar=$("$K8S_HERE/build.sh" path pause)/pause.tar
	[ -s "$pause_tar" ] || k8s_die "no pause image: run tests/k8s/build.sh pause"
	in_ns ctr --address /run/containerd/containerd.sock -n k8s.io images import --no-unpack "$pause_tar" >/dev/null
	if [ -s "$W/sluice-image.tar" ]; then
		local ti
		ti=$(k8s_now)
		in_ns ctr --address /run/containerd/containerd.sock -n k8s.io images import "$W/sluice-image.tar" >/dev/null
		k8s_say "imported $SLUICE_IMAGE ($(k8s_since "$ti"))"
	fi

	start kubelet "$KBIN/kubelet" --config="$W/conf/kubelet.yaml" \
		--kubeconfig="$W/admin.kubeconfig" --hostname-override="$NODE_NAME" --node-ip="$NODE_IP"
	start kube-proxy "$KBIN/kube-proxy" --config="$W/conf/kube-proxy.yaml"
	start coredns "$CBIN/coredns" -conf "$W/conf/Corefile"

	wait_for "node $NODE_NAME" 90 in_ns "$KBIN/kubectl" wait --for=condition=Ready "node/$NODE_NAME" --timeout=2s
	in_ns "$KBIN/kubectl" apply -f "$W/conf/kube-dns.yaml" >/dev/null
	wait_for "cluster DNS" 30 in_ns "$KBIN/kubectl" get --raw /readyz
	wait_for "CoreDNS" 30 in_ns curl -sf http://127.0.0.1:8181/ready
	wait_for "default service account" 30 in_ns "$KBIN/kubectl" get serviceaccount default
	k8s_say "cluster up in $(k8s_since "$t0"): kubectl via cluster.sh exec $W kubectl ..."
}

# KEDA, as its manifests run it, but as processes on the node (there is no
# image of it here): its CRDs from its module, the operator (ScaledObjects ->
# HPAs, the kafka scaler reading the group's lag from Kafka, a gRPC metrics
# service) and the metrics adapter behind the v1beta1.external.metrics.k8s.io
# APIService, which the HPA controller queries through the aggregator. The
# adapter and the operator's gRPC service use certificates from the cluster
# CA (mutual TLS, as KEDA's own cert rotation would set up).
keda() {
	bins
	local kbin src certs=$W/keda-certs t0
	t0=$(k8s_now)
	kbin=$("$K8S_HERE/build.sh" path keda)
	[ -f "$kbin/.complete" ] || k8s_die "$kbin is not built: run tests/k8s/build.sh keda"
	src=$(cd "$K8S_HERE/go/keda" && go mod download -json github.com/kedacore/keda/v2 | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
	[ -d "$src/config/crd/bases" ] || k8s_die "no KEDA CRDs in $src"
	mkdir -p "$certs"
	cp "$W/pki/ca.crt" "$certs/ca.crt"
	cp "$W/pki/keda.crt" "$certs/tls.crt"
	cp "$W/pki/keda.key" "$certs/tls.key"
	in_ns "$KBIN/kubectl" apply --server-side -f "$src/config/crd/bases" >/dev/null
	local ca
	ca=$(base64 -w0 "$W/pki/ca.crt")
	cat >"$W/conf/keda.yaml" <<EOF
apiVersion: v1
kind: Namespace
metadata: {name: keda}
---
apiVersion: v1
kind: Service
metadata: {name: keda-metrics-apiserver, namespace: keda}
spec:
  ports: [{name: https, port: 443, targetPort: 6444, protocol: TCP}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: keda-metrics-apiserver-node
  namespace: keda
  labels: {kubernetes.io/service-name: keda-metrics-apiserver}
addressType: IPv4
ports: [{name: https, port: 6444, protocol: TCP}]
endpoints: [{addresses: ["$NODE_IP"], conditions: {ready: true}}]
---
apiVersion: apiregistration.k8s.io/v1
kind: APIService
metadata: {name: v1beta1.external.metrics.k8s.io}
spec:
  service: {name: keda-metrics-apiserver, namespace: keda, port: 443}
  group: external.metrics.k8s.io
  version: v1beta1
  caBundle: $ca
  groupPriorityMinimum: 100
  versionPriority: 100
EOF
	in_ns "$KBIN/kubectl" apply -f "$W/conf/keda.yaml" >/dev/null
	local kenv=(env KEDA_CLUSTER_OBJECT_NAMESPACE=keda POD_NAMESPACE=keda WATCH_NAMESPACE=
		OPERATOR_NAME=keda-operator KUBERNETES_SERVICE_HOST= KUBECONFIG="$W/admin.kubeconfig")
	start keda-operator "${kenv[@]}" "$kbin/operator" --kubeconfig="$W/admin.kubeconfig" \
		--cert-dir="$certs" --enable-cert-rotation=false --enable-webhook-patching=false \
		--metrics-bind-address=127.0.0.1:8082 --health-probe-bind-address=127.0.0.1:8083 \
		--metrics-service-bind-address="$NODE_IP:9666" --zap-log-level=info --zap-encoder=console
	start keda-adapter "${kenv[@]}" "$kbin/adapter" --lister-kubeconfig="$W/admin.kubeconfig" \
		--authentication-kubeconfig="$W/admin.kubeconfig" --authorization-kubeconfig="$W/admin.kubeconfig" \
		--secure-port=6444 --bind-address="$NODE_IP" --cert-dir="$certs" \
		--client-ca-file="$certs/ca.crt" --tls-cert-file="$certs/tls.crt" --tls-private-key-file="$certs/tls.key" \
		--metrics-service-address="$NODE_IP:9666" --port=8084 --zap-log-level=info
	wait_for "KEDA operator" 60 in_ns curl -sf http://127.0.0.1:8083/readyz
	wait_for "KEDA metrics APIService" 90 in_ns "$KBIN/kubectl" get --raw /apis/external.metrics.k8s.io/v1beta1
	k8s_say "KEDA $KEDA_VERSION up in $(k8s_since "$t0")"
}

# Processes whose PID namespace is the init's (the init itself included).
ns_procs() {
	local ns pid
	ns=$(readlink "/proc/$1/ns/pid" 2>/dev/null) || return 0
	for pid in /proc/[0-9]*; do
		[ "$(readlink "$pid/ns/pid" 2>/dev/null)" = "$ns" ] && echo "${pid#/proc/}"
	done
	return 0
}

down() {
	local pid unshare_pid name nspid t0
	t0=$(k8s_now)
	pid=$(init_pid || true)
	unshare_pid=$(cat "$W/unshare.pid" 2>/dev/null || true)
	if [ -n "$pid" ] && [ -d "/proc/$pid" ]; then
		local ns
		ns=$(readlink "/proc/$pid/ns/pid")
		# Components first, controllers before the node, by the PID each was
		# started with (inside the namespace, where only ours exist); then
		# wait for those (by their host PIDs, read once) to exit.
		local -A host_pid=()
		local p nsp alive waiting=()
		for p in $(ns_procs "$pid"); do
			nsp=$(awk '/^NSpid:/ { print $NF }' "/proc/$p/status" 2>/dev/null) || continue
			[ -n "$nsp" ] && host_pid[$nsp]=$p
		done
		for name in keda-operator keda-adapter kube-controller-manager kube-scheduler \
			kubelet kube-proxy coredns kube-apiserver containerd etcd; do
			[ -s "$W/pids/$name" ] || continue
			nspid=$(cat "$W/pids/$name")
			nsenter --target "$pid" --pid --mount -- kill -TERM "$nspid" 2>/dev/null || true
			[ -n "${host_pid[$nspid]:-}" ] && waiting+=("${host_pid[$nspid]}")
		done
		# Up to 3 s: the state dies with the namespace anyway (KEDA's
		# operator takes 10 s or more to wind down its controllers).
		for _ in $(seq 30); do
			alive=0
			for p in ${waiting[@]+"${waiting[@]}"}; do
				kill -0 "$p" 2>/dev/null && alive=1 && break
			done
			[ "$alive" = 0 ] && break
			sleep 0.1
		done
		# The init: its death kills what is left in the namespace
		# (containers, shims) and frees the namespaces and their mounts.
		local left
		left=$(ns_procs "$pid")
		kill -KILL "$pid" 2>/dev/null || true
		for _ in $(seq 100); do
			alive=0
			for p in $left; do
				[ "$(readlink "/proc/$p/ns/pid" 2>/dev/null)" = "$ns" ] && alive=1 && break
			done
			[ "$alive" = 0 ] && break
			sleep 0.1
		done
		[ "$alive" = 0 ] || k8s_say "processes of the namespace still running 10 s after it was killed"
	fi
	if [ -n "$unshare_pid" ] && [ -d "/proc/$unshare_pid" ]; then
		kill -KILL "$unshare_pid" 2>/dev/null || true
	fi
	# kubelet's cgroups, under its own root in each hierarchy.
	local d
	for d in ${pid:+/sys/fs/cgroup/*/"$CGROUP_ROOT-$pid"}; do
		[ -d "$d" ] || continue
		find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null || true
		[ -d "$d" ] && k8s_say "could not remove cgroup $d (still in use?)"
	done
	rm -f "$W/init.pid" "$W/unshare.pid" "$W/admin.kubeconfig"
	rm -rf "$W/pki" "$W/pids"
	k8s_say "cluster down in $(k8s_since "$t0"); logs in $W/logs"
}

case $cmd in
up) up ;;
keda) keda ;;
down) down ;;
exec)
	bins
	[ $# -gt 0 ] || usage
	in_ns "$@"
	;;
*) usage ;;
esac
