#!/usr/bin/env bash
# Run every libFuzzer harness of a fuzz build for a bounded time, all at
# once, each on a working corpus seeded from tests/fuzz/corpus/<name>.
#
#   tests/fuzz/run.sh BUILD_DIR SECONDS
#
# Prints each harness's executions, executions/s and corpus size; exits 1
# if any harness found a crash, a leak or an abort (its reproducer is kept
# in BUILD_DIR/fuzz/artifacts and the first lines of its log are shown).
set -euo pipefail
build=${1:?usage: run.sh BUILD_DIR SECONDS}
seconds=${2:?usage: run.sh BUILD_DIR SECONDS}
top=$(cd "$(dirname "$0")/../.." && pwd)
out=$build/fuzz
mkdir -p "$out/artifacts"
pids=()
names=()
for bin in "$out"/fuzz_*; do
    [ -x "$bin" ] || continue
    name=$(basename "$bin")
    name=${name#fuzz_}
    mkdir -p "$out/corpus/$name"
    "$bin" -max_total_time="$seconds" -print_final_stats=1 -timeout=10 \
        -rss_limit_mb=1024 -artifact_prefix="$out/artifacts/$name-" \
        "$out/corpus/$name" "$top/tests/fuzz/corpus/$name" \
        >"$out/$name.log" 2>&1 &
    pids+=($!)
    names+=("$name")
done
[ ${#pids[@]} -gt 0 ] || { echo "fuzz: no harness in $out; make fuzz-build" >&2; exit 1; }
rc=0
for i in "${!pids[@]}"; do
    name=${names[$i]}
    if wait "${pids[$i]}"; then
        execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out/$name.log")
        rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$out/$name.log")
        units=$(ls "$out/corpus/$name" | wc -l)
        printf 'fuzz %-6s ok: %s executions in %ss (%s/s), corpus %s\n' \
            "$name" "$execs" "$seconds" "$rate" "$units"
    else
        rc=1
        echo "fuzz $name FAILED; log $out/$name.log:" >&2
        grep -m1 -A12 -E 'ERROR|runtime error|deadly signal' "$out/$name.log" >&2 || tail -20 "$out/$name.log" >&2
    fi
done
exit $rc
