"""A scheduler restart re-runs only the jobs that were really in flight.

A drain runs with the sleep plugin, so it takes several seconds. One slow
worker beside two fast ones makes jobs complete out of order, so commits
carry completed ranges above the committed offset in their metadata
(selective ACKs). Once the group has committed something and some commit
records such ranges, the scheduler is SIGKILLed and a new one starts in the
same group on the same endpoint. The commit metadata is read at the kill
with librdkafka's rd_kafka_committed (through ctypes: Debian's
confluent-kafka 1.7.0 does not expose TopicPartition.metadata), and the
worker logs (`job begin ... start=S end=E`) show that no job begun after
the kill overlaps a range that was complete at the kill. Nothing may be
missing from the output."""
import collections

from harness import (Broker, committed, committed_with_metadata, consume_all,
                     decode_meta, expect, free_port, high_watermarks,
                     log_events, log_note, main, produce, start_scheduler,
                     start_worker, test, unique, utc_now_iso, wait_for)

PARTITIONS = 4
PER_PARTITION = 10000
JOB_RECORDS = 250
FAST_US, SLOW_US = 300, 3000
DRAIN_TIMEOUT = 200
# A SIGKILLed member stays in the group until its session times out; keep
# that short so the new scheduler gets the partitions soon.
GROUP_PROPS = ["-X", "session.timeout.ms=6000",
               "-X", "heartbeat.interval.ms=500"]
SCHED_ARGS = ["--job-records", str(JOB_RECORDS), "--window", "8",
              "--commit-interval-ms", "200"] + GROUP_PROPS


def records():
    for p in range(PARTITIONS):
        for i in range(PER_PARTITION):
            rid = p * PER_PARTITION + i
            yield (str(rid), str(rid), p)


def completed_ranges(snapshot):
    """{partition: [(start, end)]} complete per a committed_with_metadata
    snapshot: the committed prefix plus the metadata's ranges."""
    done = {}
    for p, (offset, meta) in snapshot.items():
        base = max(offset, 0)
        done[p] = ([(0, base)] if base > 0 else []) + decode_meta(base, meta)
    return done


def overlaps(a, b):
    return a[0] < b[1] and b[0] < a[1]


@test
def restart_reruns_only_jobs_in_flight():
    src, out, group = unique("in"), unique("out"), unique("g")
    port = free_port()
    with Broker(topics={src: PARTITIONS, out: PARTITIONS,
                        src + ".dlq": 1}) as kafka:
        total = produce(kafka, src, records())
        hwm = high_watermarks(kafka, src)
        sched = start_scheduler(kafka, src, group, port=port,
                                args=SCHED_ARGS)
        workers = [
            start_worker(kafka, sched.endpoint, "sleep", name=name,
                         output_topic=out,
                         plugin_opts={"us_per_record": us})
            for name, us in (("fast-1", FAST_US), ("fast-2", FAST_US),
                             ("slow", SLOW_US))]

        # Wait for a commit that has both a committed prefix somewhere and
        # completed ranges above it somewhere.
        state = {}

        def worth_killing():
            expect(sched.alive(), "the first scheduler still drains",
                   "it exited %s before a commit with selective ACKs was "
                   "seen; make the sleep plugin slower" % sched.returncode)
            snap = committed_with_metadata(kafka, group, src)
            state["snap"] = snap
            prefix = any(off > 0 for off, _ in snap.values())
            ranges = any(decode_meta(max(off, 0), meta)
                         for off, meta in snap.values())
            return prefix and ranges
        wait_for(worth_killing, 60,
                 lambda: "a commit with completed ranges (last: %s)"
                 % state.get("snap"))

        sched.kill()
        kill_ts = utc_now_iso()
        at_kill = committed_with_metadata(kafka, group, src)
        done = completed_ranges(at_kill)
        log_note("killed the scheduler at %s; complete then: %s"
                 % (kill_ts, dict(done)))
        expect(any(decode_meta(max(off, 0), meta)
                   for off, meta in at_kill.values()),
               "some range above a committed offset was complete at the "
               "kill", at_kill)

        sched2 = start_scheduler(kafka, src, group, name="scheduler-2",
                                 port=port, args=SCHED_ARGS)
        rc = sched2.wait(DRAIN_TIMEOUT, watch=workers)
        expect(rc == 0, "the new scheduler finishes the drain and exits 0",
               "exit %d" % rc)
        for w in workers:
            w.stop(20)

        # No job begun after the kill overlaps a range complete at the kill.
        rerun, violations = [], []
        for w in workers:
            for e in log_events(w, "job begin"):
                if e["_ts"] <= kill_ts or e.get("topic") != src:
                    continue
                p, job = int(e["partition"]), (int(e["start"]), int(e["end"]))
                rerun.append((p, job))
                bad = [r for r in done.get(p, []) if overlaps(job, r)]
                if bad:
                    violations.append((w.name, p, job, bad))
        log_note("%d jobs began after the kill" % len(rerun))
        expect(rerun, "jobs ran after the restart (the drain was not over)")
        expect(not violations,
               "no range complete at the kill ran again",
               "%d did, first: %s" % (len(violations), violations[:5]))

        seen = collections.Counter(int(r.key) for r in consume_all(kafka, out))
        missing = [i for i in range(total) if seen[i] == 0]
        log_note("output: %d distinct ids, %d duplicates (jobs in flight at "
                 "the kill)" % (len(seen),
                                sum(c - 1 for c in seen.values() if c > 1)))
        expect(not missing, "nothing is lost",
               "%d ids missing, first %s" % (len(missing), missing[:10]))
        expect(committed(kafka, group, src) == hwm,
               "committed offsets equal the high watermarks")


if __name__ == "__main__":
    main()
