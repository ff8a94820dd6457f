#!/usr/bin/env bash
# A full drain on the embedded broker with the scheduler and a worker under
# valgrind memcheck; fails if valgrind reports an error or a definite leak.
#
#   tests/valgrind/run.sh BUILD_DIR [RECORDS]
#
# Both daemons stop on their own (--drain), so every exit path runs:
# consumer close, final commit, plugin destroy, producer flush. The fault
# plugin rejects the records containing "77", so the dead-letter path runs
# too.
set -euo pipefail
build=$(cd "${1:?usage: run.sh BUILD_DIR [RECORDS]}" && pwd)
records=${2:-5000}
work=$(mktemp -d /tmp/sluice-valgrind-XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true' EXIT
vg=(valgrind --tool=memcheck --leak-check=full --errors-for-leak-kinds=definite
    --show-leak-kinds=definite --error-exitcode=99 --track-fds=no
    --suppressions="$(dirname "$0")/sluice.supp")

# The broker: its stdin stays open (a fifo) so it runs until we stop it.
mkfifo "$work/ctl"
"$build/bin/sluice" kafka --topic in:2 --topic out:2 --topic in.dlq:1 \
    <"$work/ctl" >"$work/boot" 2>"$work/kafka.log" &
exec 3>"$work/ctl"
for _ in $(seq 100); do [ -s "$work/boot" ] && break; sleep 0.1; done
brokers=$(head -1 "$work/boot")
seq 1 "$records" | awk '{print $1 ":" $1}' |
    kcat -P -b "$brokers" -t in -K: -p -1 2>/dev/null

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"${vg[@]}" --log-file="$work/scheduler.vg" "$build/bin/sluice-scheduler" \
    --brokers "$brokers" --topic in --group vg --bind "tcp://127.0.0.1:$port" \
    --drain --progress off --job-records 500 2>"$work/scheduler.log" &
sched=$!
"${vg[@]}" --log-file="$work/worker.vg" "$build/bin/sluice-worker" \
    --brokers "$brokers" --scheduler "tcp://127.0.0.1:$port" \
    --plugin "$build/plugins/fault.so" --plugin-opt reject_on=77 \
    --output-topic out --drain \
    -X fetch.wait.max.ms=10 2>"$work/worker.log" &
worker=$!
rc=0
wait $sched || rc=$?
wait $worker || rc=$((rc ? rc : $?))
exec 3>&-
for who in scheduler worker; do
    summary=$(grep -E "ERROR SUMMARY|definitely lost" "$work/$who.vg" | sed 's/^==[0-9]*== //')
    echo "valgrind $who: $(echo "$summary" | tr '\n' ' ')"
done
if [ $rc -ne 0 ]; then
    echo "valgrind: a daemon exited $rc (99: memcheck found errors); logs in $work" >&2
    grep -B2 -A25 "definitely lost in\|Invalid \|uninitialised" "$work"/*.vg | head -80 >&2 || true
    exit 1
fi
out=$(kcat -C -b "$brokers" -t out -e -q 2>/dev/null | wc -l)
dlq=$(kcat -C -b "$brokers" -t in.dlq -e -q 2>/dev/null | wc -l)
[ "$((out + dlq))" -ge "$records" ] && [ "$dlq" -gt 0 ] || {
    echo "valgrind: $out in the output and $dlq dead-lettered of $records" >&2
    exit 1
}
echo "valgrind: clean drain of $records records ($out out, $dlq dead-lettered); logs in $work"
