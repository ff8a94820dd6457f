#!/usr/bin/env bash
# Build the cluster's parts from the package registries, once per version:
#
#   tests/k8s/build.sh [all|kubernetes|etcd|coredns|keda|pause|tools]
#   tests/k8s/build.sh path NAME      print the directory NAME's binaries are in
#
# Go programs come from the Go module proxy through the wrapper modules in
# tests/k8s/go/ (see each go.mod for why it is needed); each lands in
# ~/.cache/sluice-k8s/<name>-<version>-<hash>/, where the hash covers the
# wrapper's go.mod and go.sum, the Go version and the build flags, so a
# change rebuilds and an unchanged tree is reused in a second. The pause
# image (the pod sandbox) is Kubernetes' own build/pause/linux/pause.c,
# compiled statically and packed into an image with podman. containerd,
# runc and the CNI plugins come from Debian.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

K8S_BUILD_ROOT=$K8S_CACHE_ROOT/sluice-k8s

# go_key NAME VERSION LDFLAGS: the cache directory for a wrapper module.
go_key() {
	local name=$1 version=$2 ldflags=$3 hash
	hash=$({
		cat "$K8S_HERE/go/$name/go.mod" "$K8S_HERE/go/$name/go.sum"
		go version
		echo "$ldflags"
	} | sha256sum | cut -c1-12)
	echo "$K8S_BUILD_ROOT/$name-$version-$hash"
}

# go_build NAME VERSION LDFLAGS PACKAGE..: build PACKAGEs of tests/k8s/go/NAME.
go_build() {
	local name=$1 version=$2 ldflags=$3
	shift 3
	local out t0
	out=$(go_key "$name" "$version" "$ldflags")
	if [ -f "$out/.complete" ]; then
		k8s_say "$name $version: cached in $out"
		return 0
	fi
	command -v go >/dev/null || k8s_die "go not found: the cluster is built from the Go module proxy (install Go 1.24+)"
	t0=$(k8s_now)
	k8s_say "$name $version: building $* (cold: minutes; cached afterwards)"
	rm -rf "$out.tmp"
	mkdir -p "$out.tmp"
	(cd "$K8S_HERE/go/$name" &&
		CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -ldflags "$ldflags" -o "$out.tmp/" "$@") ||
		k8s_die "building $name $version failed"
	rm -rf "$out"
	mv "$out.tmp" "$out"
	touch "$out/.complete"
	k8s_say "$name $version: built in $(k8s_since "$t0") into $out"
}

k8s_ldflags() {
	local v=$K8S_VERSION minor
	minor=${v#v1.}
	minor=${minor%%.*}
	local pkg x=
	for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
		x="$x -X $pkg.gitVersion=$v -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
	done
	echo "-s -w$x"
}

build_kubernetes() {
	go_build kubernetes "$K8S_VERSION" "$(k8s_ldflags)" \
		k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
		k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubelet \
		k8s.io/kubernetes/cmd/kube-proxy k8s.io/kubernetes/cmd/kubectl
}
build_etcd() { go_build etcd "$ETCD_VERSION" "-s -w" sluice.local/etcd; }
build_coredns() { go_build coredns "$COREDNS_VERSION" "-s -w" sluice.local/coredns; }
build_keda() {
	local v=${KEDA_VERSION#v}
	go_build keda "$KEDA_VERSION" "-s -w -X github.com/kedacore/keda/v2/version.Version=$v" \
		github.com/kedacore/keda/v2/cmd/operator github.com/kedacore/keda/v2/cmd/adapter
}

# The pod sandbox image: Kubernetes' pause.c, static, in an image of its own.
build_pause() {
	local out=$K8S_BUILD_ROOT/pause-$PAUSE_VERSION src ctx
	if [ -s "$out/pause.tar" ]; then
		k8s_say "pause $PAUSE_VERSION: cached in $out"
		return 0
	fi
	src=$(cd "$K8S_HERE/go/kubernetes" && go mod download -json k8s.io/kubernetes | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
	[ -f "$src/build/pause/linux/pause.c" ] || k8s_die "no build/pause/linux/pause.c in $src"
	rm -rf "$out"
	ctx=$(mktemp -d)
	gcc -Os -Wall -Werror -static -DVERSION="v$PAUSE_VERSION-sluice" \
		-o "$ctx/pause" "$src/build/pause/linux/pause.c" ||
		k8s_die "compiling pause.c failed (needs gcc and Debian's libc6-dev static libc)"
	printf 'FROM scratch\nCOPY pause /pause\nUSER 65535:65535\nENTRYPOINT ["/pause"]\n' >"$ctx/Containerfile"
	k8s_apt podman buildah runc fuse-overlayfs uidmap
	podman_env
	podman_private build --quiet --network=host --pull=never -t "$PAUSE_IMAGE" -f "$ctx/Containerfile" "$ctx" >/dev/null
	mkdir -p "$out"
	podman_private save --quiet --format docker-archive -o "$out/pause.tar.tmp" "$PAUSE_IMAGE"
	mv "$out/pause.tar.tmp" "$out/pause.tar"
	rm -rf "$ctx"
	k8s_say "pause $PAUSE_VERSION: built into $out/pause.tar"
}

# Debian's parts of the node, and what the scripts use.
build_tools() {
	k8s_apt containerd runc containernetworking-plugins iptables conntrack \
		openssl util-linux iproute2 gcc libc6-dev curl
}

case ${1:-all} in
all)
	build_tools
	build_kubernetes
	build_etcd
	build_coredns
	build_keda
	build_pause
	;;
kubernetes | etcd | coredns | keda | pause | tools) "build_$1" ;;
path)
	case ${2:-} in
	kubernetes) go_key kubernetes "$K8S_VERSION" "$(k8s_ldflags)" ;;
	etcd) go_key etcd "$ETCD_VERSION" "-s -w" ;;
	coredns) go_key coredns "$COREDNS_VERSION" "-s -w" ;;
	keda) go_key keda "$KEDA_VERSION" "-s -w -X github.com/kedacore/keda/v2/version.Version=${KEDA_VERSION#v}" ;;
	pause) echo "$K8S_BUILD_ROOT/pause-$PAUSE_VERSION" ;;
	*) k8s_die "path of what? kubernetes, etcd, coredns, keda or pause" ;;
	esac
	;;
*) k8s_die "unknown part '$1': all, kubernetes, etcd, coredns, keda, pause, tools or path NAME" ;;
esac
