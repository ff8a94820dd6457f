"""Records deleted by retention before they were processed are reported as
lost, never skipped silently, and the drain goes on to the end.

The mock broker deletes only by its own fixed limits. Here one partition
has 4 KiB segments (internal.segment.bytes) and a retention.bytes limit.

lost_head_is_reported: the group has committed offset 0 (a plain consumer
commit), then retention deletes the head of the log; a drain starting from
that commit cuts jobs from 0. The worker finds [0, log start) gone: it
logs `records lost to retention ... start=S end=E` for exactly that range
(one job after another: a job after a lost one must seek, its consumer has
no position), the scheduler logs it again and counts it in its final
`lost=` (from the DONE messages), everything from the log start on is
processed, and the scheduler exits 0.

lost_during_a_slow_drain: a slow drain (sleep plugin, prefetch kept
small) is running when a producer writes enough to push the segments it
has not reached yet out of the log. Every offset below the drain target
must be processed or inside a range the worker reported lost, every
reported range must really be gone, records after the deleted stretch must
be processed, and the scheduler exits 0."""
import collections

from confluent_kafka import Consumer, TopicPartition

from harness import (Broker, committed, consume_all, expect, log_events,
                     log_note, main, produce, start_scheduler, start_worker,
                     test, unique, wait_for)
from realkafka import (create_topic, jobs, merge, require_real_broker,
                       uncovered, watermarks)

# A consumer prefetches far ahead (64 MiB), and a record already fetched
# is not lost when retention deletes it on the broker. Keep the slow
# drain's prefetch to about one fetch of 1 KiB.
NO_PREFETCH = ["-X", "queued.max.messages.kbytes=1",
               "-X", "max.partition.fetch.bytes=1024"]
# Small batches: a batch larger than a segment is refused.
SMALL_BATCHES = {"batch.size": 1500}


def lost_ranges(procs, message):
    """Merged [(start, end)] of the `message` log lines of procs."""
    return merge([(int(e["start"]), int(e["end"]))
                  for p in procs for e in log_events(p, message)])


def commit_offset(kafka, group, topic, offset):
    c = Consumer(kafka.consumer_conf(**{"group.id": group}))
    try:
        c.commit(offsets=[TopicPartition(topic, 0, offset)],
                 asynchronous=False)
    finally:
        c.close()


def wait_stable_log_start(kafka, topic, what, timeout=30):
    """Wait until the log start offset moved above 0 and stayed put for a
    couple of retention checks; return it."""
    state = {"prev": None}

    def moved_and_stable():
        low = watermarks(kafka, topic)[0]
        prev, state["prev"] = state["prev"], low
        return low > 0 and low == prev
    wait_for(moved_and_stable, timeout, lambda: "%s (log start %s)"
             % (what, state["prev"]), interval=1.5)
    return state["prev"]


@test
def lost_head_is_reported():
    require_real_broker()
    src, out, group = unique("in"), unique("out"), unique("g")
    n = 3000
    with Broker(topics={out: 1, src + ".dlq": 1}) as kafka:
        create_topic(kafka, src, 1, {"internal.segment.bytes": 4096,
                                     "retention.bytes": 16384})
        commit_offset(kafka, group, src, 0)
        produce(kafka, src, ((str(i), str(i), 0) for i in range(n)),
                **SMALL_BATCHES)
        start = wait_stable_log_start(kafka, src, "retention to delete "
                                      "the head of the log")
        low, high = watermarks(kafka, src)
        expect(high == n and 0 < start < n, "retention deleted the head "
               "and kept the tail", (low, high))
        expect(committed(kafka, group, src) == {0: 0},
               "the group is still committed at 0")
        log_note("log start %d, high watermark %d" % (start, high))

        sched = start_scheduler(kafka, src, group,
                                args=["--job-records", "500"])
        # One worker: each job starts where its previous one ended, so a
        # job after a lost one must not trust the consumer's position.
        workers = [start_worker(kafka, sched.endpoint, "copy",
                                name="worker", output_topic=out)]
        rc = sched.wait(40, watch=workers)
        expect(rc == 0, "the drain goes on past the lost range and exits 0",
               "exit %d" % rc)

        reported = lost_ranges(workers, "records lost to retention before "
                               "they were processed")
        expect(reported == [(0, start)], "the workers report exactly "
               "[0, %d) lost" % start, reported)
        expect(lost_ranges([sched], "records lost to retention") ==
               [(0, start)], "the scheduler logs the lost range",
               lost_ranges([sched], "records lost to retention"))
        final = log_events(sched, "drain complete")
        expect(final and int(final[-1]["lost"]) == start,
               "the scheduler counts %d records lost" % start, final)
        lost_jobs = sum(int(e["lost"]) for w in workers
                        for e in log_events(w, "job done"))
        expect(lost_jobs == start, "the worker's jobs count %d records lost"
               % start, lost_jobs)

        seen = collections.Counter(int(r.key) for r in consume_all(kafka, out))
        missing = [i for i in range(start, n) if not seen[i]]
        expect(not missing, "every record from the log start on is "
               "processed", "%d missing, first %s"
               % (len(missing), missing[:10]))
        expect(min(seen) == start, "nothing below the log start was "
               "processed (it was gone)", min(seen))
        expect(committed(kafka, group, src) == {0: n},
               "committed at the high watermark")


@test
def lost_during_a_slow_drain():
    require_real_broker()
    src, out, group = unique("in"), unique("out"), unique("g")
    first, more = 3000, 3000
    with Broker(topics={out: 1, src + ".dlq": 1}) as kafka:
        create_topic(kafka, src, 1, {"internal.segment.bytes": 4096,
                                     "retention.bytes": 65536})
        produce(kafka, src, ((str(i), str(i), 0) for i in range(first)),
                **SMALL_BATCHES)
        expect(watermarks(kafka, src) == (0, first),
               "nothing is deleted yet", watermarks(kafka, src))

        # One slow worker: 5 ms a record, 3000 records to go.
        sched = start_scheduler(kafka, src, group, args=[
            "--job-records", "250", "--window", "2",
            "--commit-interval-ms", "200"])
        worker = start_worker(kafka, sched.endpoint, "sleep", name="worker",
                              output_topic=out,
                              args=NO_PREFETCH + ["--credits", "1"],
                              plugin_opts={"us_per_record": 5000})
        wait_for(lambda: jobs([worker], src), 20, "the first job to begin")
        # A burst of new data: retention now deletes the oldest segments,
        # which the drain has not reached.
        produce(kafka, src, ((str(i), str(i), 0)
                             for i in range(first, first + more)),
                **SMALL_BATCHES)
        rc = sched.wait(40, watch=[worker])
        expect(rc == 0, "the drain goes on past the lost range and exits 0",
               "exit %d" % rc)
        low = watermarks(kafka, src)[0]

        reported = lost_ranges([worker], "records lost to retention before "
                               "they were processed")
        seen = {int(r.key) for r in consume_all(kafka, out)}
        log_note("log start now %d; reported lost %s; %d records processed"
                 % (low, reported, len(seen)))
        expect(reported, "records deleted before they were processed are "
               "reported lost")
        expect(all(e <= low for _, e in reported), "every reported range "
               "was really deleted (log start %d)" % low, reported)
        unaccounted = uncovered(0, first, reported +
                                [(i, i + 1) for i in seen])
        expect(not unaccounted, "every offset below the drain target is "
               "processed or reported lost", unaccounted[:10])
        expect(any(i >= reported[-1][1] for i in seen if i < first),
               "records after the deleted stretch are processed")
        expect(lost_ranges([sched], "records lost to retention"),
               "the scheduler logs the lost ranges")


if __name__ == "__main__":
    main()
