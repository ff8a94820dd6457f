#!/usr/bin/env bash
# make image: build the sluice image from the repository's Dockerfile.
#
#   tests/k8s/image.sh build          build $SLUICE_IMAGE (localhost/sluice:<version>)
#   tests/k8s/image.sh save FILE      write it as a docker-archive (for containerd)
#   tests/k8s/image.sh run ARGS..     podman run ARGS.. (with this script's settings)
#   tests/k8s/image.sh engine         print the engine in use (docker or podman)
#
# With a Docker engine, `docker build`. Otherwise podman from Debian, set up
# by lib.sh to stay off the host's network (no bridge: containers share the
# host's network namespace) and out of host paths (storage in
# ~/.cache/sluice-image). Without a registry the Dockerfile's bases are
# bootstrapped once with mmdebstrap --variant=minbase and tagged
# docker.io/library/debian:12 and :12-slim, so the Dockerfile builds
# unchanged. minbase stands in for debian:12-slim: both are Debian 12's
# Essential and required packages plus apt, without docs or recommends.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

bootstrap_bases() {
	local tar=$PODMAN_HOME/debian-12-minbase.tar t0
	if podman_private image exists docker.io/library/debian:12 &&
		podman_private image exists docker.io/library/debian:12-slim; then
		return 0
	fi
	if [ ! -s "$tar" ]; then
		t0=$(k8s_now)
		k8s_say "bootstrapping Debian 12 (mmdebstrap --variant=minbase) into $tar"
		mmdebstrap --quiet --variant=minbase --format=tar bookworm "$tar.tmp" http://deb.debian.org/debian >&2 ||
			k8s_die "mmdebstrap failed: Debian's package repository must be reachable"
		mv "$tar.tmp" "$tar"
		k8s_say "bootstrapped in $(k8s_since "$t0")"
	fi
	podman_private import --quiet --change 'CMD ["bash"]' "$tar" localhost/debian:12 >/dev/null
	podman_private tag localhost/debian:12 docker.io/library/debian:12 docker.io/library/debian:12-slim
}

cmd=${1:-build}
[ $# -gt 0 ] && shift
engine=$(image_engine)
[ "$engine" = podman ] && podman_env # image_engine ran in a subshell
case $cmd in
engine) echo "$engine" ;;
build)
	t0=$(k8s_now)
	if [ "$engine" = podman ]; then
		bootstrap_bases
		podman_private build --quiet --network=host --pull=never -t "$SLUICE_IMAGE" \
			-f "$K8S_TOP/Dockerfile" "$K8S_TOP" >/dev/null ||
			k8s_die "podman build failed (run it without --quiet: podman build -f Dockerfile .)"
		size=$(podman_private image inspect --format '{{.Size}}' "$SLUICE_IMAGE")
	else
		docker build --quiet -t "$SLUICE_IMAGE" "$K8S_TOP" >/dev/null
		size=$(docker image inspect --format '{{.Size}}' "$SLUICE_IMAGE")
	fi
	podman_cgroups_cleanup
	k8s_say "built $SLUICE_IMAGE with $engine in $(k8s_since "$t0") ($((size / 1000000)) MB)"
	;;
save)
	[ $# = 1 ] || k8s_die "usage: image.sh save FILE"
	rm -f "$1"
	if [ "$engine" = podman ]; then
		podman_private save --quiet --format docker-archive -o "$1" "$SLUICE_IMAGE"
	else
		docker save -o "$1" "$SLUICE_IMAGE"
	fi
	;;
run)
	rc=0
	if [ "$engine" = podman ]; then
		podman_private run --pull=never --network=host "$@" || rc=$?
	else
		docker run "$@" || rc=$?
	fi
	podman_cgroups_cleanup
	exit "$rc"
	;;
*) k8s_die "unknown command '$cmd': build, save FILE, run ARGS.., or engine" ;;
esac
