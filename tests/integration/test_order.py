"""--window 1 processes each partition strictly in order.

Every record of source partition P has the key "pP" and the value "P:SEQ"
with SEQ increasing. The copy plugin emits with partition -1 and the same
key, so all of P's records land in one output partition, and their order
there is the order in which the jobs ran. Small jobs (100 records) and two
workers give plenty of chances to run P's jobs out of order."""
import collections

from harness import (Broker, committed, consume_all, expect, high_watermarks,
                     log_events, log_note, main, produce, start_scheduler,
                     start_worker, test, unique)

PARTITIONS = 4
PER_PARTITION = 3000
JOB_RECORDS = 100
DRAIN_TIMEOUT = 200


def records():
    for seq in range(PER_PARTITION):
        for p in range(PARTITIONS):
            yield ("p%d" % p, "%d:%d" % (p, seq), p)


def check_jobs_sequential(workers):
    """From the worker logs: with --window 1 a partition's next job begins
    only after its previous job is done (first attempts, by start offset)."""
    jobs = collections.defaultdict(dict)  # partition -> start -> [begin, done]
    for w in workers:
        for e in log_events(w, "job begin"):
            jobs[e["partition"]].setdefault(int(e["start"]), [None, None])[0] \
                = e["_ts"]
        for e in log_events(w, "job done"):
            jobs[e["partition"]].setdefault(int(e["start"]), [None, None])[1] \
                = e["_ts"]
    for p, by_start in jobs.items():
        starts = sorted(by_start)
        for a, b in zip(starts, starts[1:]):
            done_a, begin_b = by_start[a][1], by_start[b][0]
            if done_a and begin_b:
                expect(begin_b >= done_a,
                       "partition %s: job at %d begins after job at %d is "
                       "done" % (p, b, a), "%s < %s" % (begin_b, done_a))
    return sum(len(v) for v in jobs.values())


@test
def window_1_keeps_partition_order():
    src, out, group = unique("in"), unique("out"), unique("g")
    with Broker(topics={src: PARTITIONS, out: PARTITIONS,
                        src + ".dlq": 1}) as kafka:
        produce(kafka, src, records())
        hwm = high_watermarks(kafka, src)
        sched = start_scheduler(kafka, src, group, args=[
            "--window", "1", "--job-records", str(JOB_RECORDS)])
        workers = [start_worker(kafka, sched.endpoint, "copy",
                                name="worker-%d" % i, output_topic=out)
                   for i in (1, 2)]
        rc = sched.wait(DRAIN_TIMEOUT, watch=workers)
        expect(rc == 0, "the scheduler exits 0", "exit %d" % rc)
        for w in workers:
            w.stop(20)

        by_key = collections.defaultdict(list)
        for r in consume_all(kafka, out):
            p, seq = r.value.decode().split(":")
            expect(r.key.decode() == "p" + p, "key matches value", r)
            by_key[r.key.decode()].append(int(seq))
        for p in range(PARTITIONS):
            seqs = by_key["p%d" % p]
            # A re-run job (at-least-once) repeats records; order is judged
            # on each record's first appearance.
            firsts, seen = [], set()
            for s in seqs:
                if s not in seen:
                    seen.add(s)
                    firsts.append(s)
            bad = [(a, b) for a, b in zip(firsts, firsts[1:]) if b <= a]
            expect(not bad, "source partition %d stays in order" % p,
                   "%d inversions, first %s" % (len(bad), bad[:5]))
            expect(firsts == list(range(PER_PARTITION)),
                   "source partition %d: every record is in the output" % p,
                   "%d of %d" % (len(firsts), PER_PARTITION))
            if len(seqs) != len(firsts):
                log_note("partition %d: %d duplicates"
                         % (p, len(seqs) - len(firsts)))
        njobs = check_jobs_sequential(workers)
        log_note("%d jobs ran one at a time per partition" % njobs)
        expect(committed(kafka, group, src) == hwm,
               "committed offsets equal the high watermarks")


if __name__ == "__main__":
    main()
