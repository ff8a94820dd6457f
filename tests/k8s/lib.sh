# shellcheck shell=bash disable=SC2034  # sourced: the variables are used by its callers
# Shared by tests/k8s/*.sh (sourced): versions, cache paths, helpers.
#
# Everything expensive is cached by version under the user's cache directory
# ($XDG_CACHE_HOME, else ~/.cache), so a second run starts in seconds:
#   sluice-image/        podman's storage and the bootstrapped Debian base
#   sluice-k8s/<key>/    the cluster's binaries, one directory per component
#                        and version (key: version + hash of its go.mod/go.sum)

K8S_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
K8S_TOP=$(cd "$K8S_HERE/../.." && pwd)
K8S_CACHE_ROOT=${XDG_CACHE_HOME:-${HOME:?HOME is not set}/.cache}

K8S_VERSION=v1.34.4
ETCD_VERSION=v3.6.8
COREDNS_VERSION=v1.12.1
KEDA_VERSION=v2.19.0
PAUSE_VERSION=3.10

SLUICE_VERSION=$(sed -n 's/^project (sluice VERSION \([0-9.]*\).*/\1/p' "$K8S_TOP/CMakeLists.txt")
SLUICE_IMAGE=${SLUICE_IMAGE:-localhost/sluice:$SLUICE_VERSION}
PAUSE_IMAGE=localhost/pause:$PAUSE_VERSION

K8S_PROG=${K8S_PROG:-$(basename "$0")}
k8s_say() { echo "$K8S_PROG: $*" >&2; }
k8s_die() {
	echo "$K8S_PROG: $*" >&2
	exit 1
}

# Seconds since the epoch with centiseconds, and "N.NN s" since such a mark.
k8s_now() { date +%s.%N; }
k8s_since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f s", b - a }'; }

# Install Debian packages that are missing (names only: no versions).
k8s_apt() {
	local p missing=
	for p in "$@"; do
		dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' ||
			missing="$missing $p"
	done
	[ -z "$missing" ] && return 0
	k8s_say "installing$missing"
	local sudo=
	[ "$(id -u)" = 0 ] || sudo=sudo
	$sudo apt-get update -qq &&
		DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $missing >/dev/null ||
		k8s_die "apt-get install$missing failed"
}

# --- podman, configured to stay off the host's network and paths ----------
#
# No bridge network (podman's default creates 10.88.0.0/16 and iptables
# chains on the host): every container shares the host's network namespace,
# which is all an image build and `podman run` of a CLI need. runc, because
# crun 1.8.1 refuses a cgroup v1 host with a cgroup2 mount. Storage in the
# cache directory; limits the sandbox can grant.
PODMAN_HOME=$K8S_CACHE_ROOT/sluice-image
podman_env() {
	mkdir -p "$PODMAN_HOME/storage" "$PODMAN_HOME/tmp"
	cat >"$PODMAN_HOME/containers.conf" <<EOF
[containers]
netns = "host"
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$PODMAN_HOME/events.log"
image_copy_tmp_dir = "$PODMAN_HOME/tmp"
EOF
	cat >"$PODMAN_HOME/storage.conf" <<EOF
[storage]
driver = "overlay"
graphroot = "$PODMAN_HOME/storage"
runroot = "/run/sluice-podman"
EOF
	export CONTAINERS_CONF=$PODMAN_HOME/containers.conf
	export CONTAINERS_STORAGE_CONF=$PODMAN_HOME/storage.conf
	export TMPDIR=$PODMAN_HOME/tmp
}

# podman ARGS.. in a mount namespace of its own with tmpfs over /run and
# /var/lib: its run state, runc's, /run/netns and the blob cache it keeps in
# /var/lib/containers vanish with it instead of landing on the host.
podman_private() {
	unshare --mount --propagation private -- sh -c \
		'mount -t tmpfs sluice-podman-run /run && mount -t tmpfs sluice-podman-lib /var/lib && exec podman "$@"' \
		podman "$@"
}

# podman's cgroups (cgroupfs manager): libpod_parent under each hierarchy,
# created by the containers we ran. Removed when empty.
podman_cgroups_cleanup() {
	local d
	for d in /sys/fs/cgroup/*/libpod_parent; do
		[ -d "$d" ] || continue
		find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null || true
	done
}

# The engine `make image` uses: docker when a Docker engine answers, else
# podman (installed from Debian if missing).
image_engine() {
	if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
		echo docker
		return
	fi
	k8s_apt podman buildah runc fuse-overlayfs uidmap mmdebstrap containernetworking-plugins iptables
	podman_env
	echo podman
}
