#!/usr/bin/env bash
# Runs the whole suite: Criterion units, then the integration tests on the
# embedded broker and on one real Apache Kafka broker started for this run
# (tests/kafka/kafka.sh). SLUICE_TEST_BROKERS=host:port uses an existing
# cluster instead of starting one.
set -euo pipefail
build=${1:-build}
top=$(cd "$(dirname "$0")/.." && pwd)
cmake -S "$top" -B "$build" -DSLUICE_TEST_BROKER_KINDS="embedded;kafka" >/dev/null
if [ -z "${SLUICE_TEST_BROKERS:-}" ]; then
    dir=$(cd "$build" && pwd)/test-kafka
    rm -rf "$dir"
    mkdir -p "$dir"
    t0=$(date +%s.%N)
    SLUICE_TEST_BROKERS=$("$top/tests/kafka/kafka.sh" start "$dir")
    trap '"$top/tests/kafka/kafka.sh" stop "$dir" || true' EXIT
    printf 'real Kafka broker at %s, started in %.1f s\n' \
        "$SLUICE_TEST_BROKERS" "$(echo "$(date +%s.%N) - $t0" | bc)"
    export SLUICE_TEST_BROKERS
fi
cd "$build"
ctest --output-on-failure -j 2 --timeout 300
