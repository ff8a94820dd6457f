"""A drain over a compacted topic, whose offsets have gaps.

The mock broker never compacts. One partition with cleanup.policy=compact,
4 KiB segments (internal.segment.bytes), min.cleanable.dirty.ratio=0.01.
Blocks of 100 records alternate between one where every 5th record has a
key of its own and one that holds only a few hot keys written over and
over, so compaction leaves small gaps and whole empty stretches. The test
waits until the log cleaner has really removed records (offsets read back
are no longer contiguous) and the log is stable, then drains it with
--job-records 50: most jobs hold a few records and many none at all, so a
job must end by the consumer's position, not by waiting for a record at
end - 1. The scheduler must exit 0 with the group committed at the high
watermark, and the copy plugin's output must hold exactly the records that
survived compaction."""
import collections
import time

from harness import (Broker, committed, consume_all, expect, log_note, main,
                     produce, start_scheduler, start_worker, test, unique,
                     wait_for)
from realkafka import create_topic, jobs, require_real_broker, watermarks

N = 2400
HOT = 7            # keys written over and over
JOB_RECORDS = 50
TOPIC_CONFIG = {
    "cleanup.policy": "compact",
    "internal.segment.bytes": 4096,    # Kafka 4 refuses segment.bytes < 1 MiB
    "min.cleanable.dirty.ratio": 0.01,
    "delete.retention.ms": 100,
    "min.compaction.lag.ms": 0,
}


def key(i):
    """Blocks of 100 offsets: in even blocks every 5th record has a key of
    its own (it survives compaction), odd blocks hold only hot keys (they
    vanish, but for the last value of each hot key)."""
    if (i // 100) % 2 == 0 and i % 5 == 0:
        return "u%d" % i
    return "h%d" % (i % HOT)


def records():
    for i in range(N):
        yield (key(i), "%s:%d" % (key(i), i), 0)


def snapshot(kafka, topic):
    return [(r.offset, r.key.decode(), r.value.decode())
            for r in consume_all(kafka, topic)]


def gaps(snap):
    """Offsets below the last one read that were not read."""
    return snap[-1][0] + 1 - len(snap) if snap else 0


@test
def drain_over_a_compacted_log_with_gaps():
    require_real_broker()
    src, out, group = unique("in"), unique("out"), unique("g")
    with Broker(topics={out: 1, src + ".dlq": 1}) as kafka:
        create_topic(kafka, src, 1, TOPIC_CONFIG)
        # Small batches: a batch larger than a segment is refused.
        n = produce(kafka, src, records(), **{"batch.size": 1500})
        low, high = watermarks(kafka, src)
        expect((low, high) == (0, n), "every record was written",
               (low, high))

        # Wait for the cleaner: gaps in the offsets, then a stable log.
        state = {"prev": None}

        def compacted_and_stable():
            snap = snapshot(kafka, src)
            prev, state["prev"] = state["prev"], snap
            state["gaps"] = gaps(snap)
            return state["gaps"] > 0 and snap == prev
        t0 = time.monotonic()
        wait_for(compacted_and_stable, 45, lambda: "the log cleaner to "
                 "leave gaps and stop (%s offsets missing)"
                 % state.get("gaps"), interval=1.0)
        before = state["prev"]
        log_note("compacted in %.1fs: %d of %d records left, %d offsets "
                 "missing" % (time.monotonic() - t0, len(before), n,
                              gaps(before)))
        latest = {}
        for i in range(N):
            latest[key(i)] = "%s:%d" % (key(i), i)
        expect(set(latest.items()) <= {(k, v) for _, k, v in before},
               "the latest value of every key survives")

        sched = start_scheduler(kafka, src, group, args=[
            "--job-records", str(JOB_RECORDS)])
        workers = [start_worker(kafka, sched.endpoint, "copy",
                                name="worker-%d" % i, output_topic=out)
                   for i in (1, 2)]
        rc = sched.wait(45, watch=workers)
        expect(rc == 0, "the drain over the compacted log exits 0",
               "exit %d" % rc)
        got = committed(kafka, group, src)
        expect(got == {0: high}, "the group is committed at the high "
               "watermark %d" % high, got)

        done = jobs(workers, src, "job done")
        empty = [j for j in done if not any(j.start <= o < j.end
                                            for o, _, _ in before)]
        log_note("%d jobs, %d of them over offsets compaction removed "
                 "entirely" % (len(done), len(empty)))
        expect(empty, "some job covered only removed offsets (and "
               "completed)")

        after = snapshot(kafka, src)
        output = collections.Counter(
            (r.key.decode(), r.value.decode()) for r in consume_all(kafka,
                                                                    out))
        pre = {(k, v) for _, k, v in before}
        post = {(k, v) for _, k, v in after}
        dups = sum(c - 1 for c in output.values() if c > 1)
        expect(set(output) <= pre, "the output holds no record that "
               "compaction had removed", sorted(set(output) - pre)[:5])
        expect(post <= set(output), "the output holds every record that "
               "survived", sorted(post - set(output))[:5])
        if pre == post:
            expect(set(output) == pre and dups == 0, "the output holds "
                   "exactly the surviving records, once each",
                   "%d distinct of %d, %d duplicates"
                   % (len(output), len(pre), dups))
        else:
            log_note("the cleaner ran again during the drain: %d records "
                     "before, %d after" % (len(pre), len(post)))


if __name__ == "__main__":
    main()
