#!/usr/bin/env bash
# Build the Java peers (bench/peers/, issue 20) once per version and print
# the classpath to run sluice.bench.Peers with. The jar and its
# dependencies are cached in ~/.cache/sluice-bench-peers/<hash>, the hash
# of pom.xml and the sources, so a warm run does not touch Maven.
#   bench/peers/build.sh            -> prints CACHE/sluice-bench-peers.jar:CACHE/lib/*
# SLUICE_PEERS_CACHE overrides ~/.cache/sluice-bench-peers.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
HASH=$( (cd "$HERE" && cat pom.xml $(find src -type f | sort)) | sha256sum | cut -c1-16)
ROOT=${SLUICE_PEERS_CACHE:-${HOME:?}/.cache/sluice-bench-peers}
CACHE=$ROOT/$HASH
if [ ! -f "$CACHE/.complete" ]; then
	command -v mvn >/dev/null || { echo "build.sh: mvn not found (apt-get install maven)" >&2; exit 1; }
	mkdir -p "$ROOT"
	exec 9>"$ROOT/.lock"
	flock 9
	if [ ! -f "$CACHE/.complete" ]; then
		echo "build.sh: building the Java peers into $CACHE (Maven Central: kafka-clients, parallel-consumer-core)" >&2
		TMP=$(mktemp -d "$ROOT/build.XXXXXX")
		trap 'rm -rf "$TMP"' EXIT
		cp -r "$HERE/pom.xml" "$HERE/src" "$TMP/"
		rc=0
		( cd "$TMP" && mvn -q -B package dependency:copy-dependencies \
			-DincludeScope=runtime -DoutputDirectory="$TMP/out/lib" 2>&1 |
			sed 's/\x1b\[[0-9;]*m//g' >&2 ) || rc=$?
		[ "$rc" = 0 ] && [ -f "$TMP/target/sluice-bench-peers.jar" ] || {
			echo "build.sh: mvn failed (exit $rc); see above" >&2; exit 1; }
		cp "$TMP/target/sluice-bench-peers.jar" "$TMP/out/"
		rm -rf "$CACHE"
		mv "$TMP/out" "$CACHE"
		rm -rf "$TMP"
		touch "$CACHE/.complete"
	fi
fi
echo "$CACHE/sluice-bench-peers.jar:$CACHE/lib/*"
