"""Transactions: the last stable offset, aborted records, control records.

The mock broker has no transactions. One partition, written by a
transactional producer:

    offsets   0..88   committed transaction A      commit marker at  89
             90..138  aborted transaction B        abort marker at  139
            140..248  committed transaction C      commit marker at 249
            250..299  transaction D, left open     (last stable offset 250)

With --job-records 10 the jobs [80,90), [130,140) and [240,250) end on a
transaction marker, and [90,100) .. [120,130) hold only aborted records;
none of them has a record at end - 1, so each must end by the consumer's
position. The scheduler reads end offsets with read_committed (librdkafka's
default), so while D is open it must cut nothing past 250: the worker logs
show no `job begin` with end > 250 and the group stays committed at 250.
The copy plugin's output must hold every record of A and C and none of B.
Then D is committed (marker at 300): the scheduler goes on to 301, the last
job [300,301) holding only D's commit marker. Finally a --drain scheduler
in a new group, with one worker, drains the whole partition and commits
301: there [300,301) follows [290,300) on the same worker, whose consumer
already reached the end of the log past the marker, so the worker must
seek rather than wait for an end-of-partition event it already had."""
import time

from confluent_kafka import Producer

from harness import (Broker, committed, consume_all, expect, log_note, main,
                     start_scheduler, start_worker, test, unique, wait_for)
from realkafka import jobs, require_real_broker, watermarks

JOB_RECORDS = 10
LAYOUT = [("A", 89, "commit"), ("B", 49, "abort"), ("C", 109, "commit"),
          ("D", 50, "open")]
LSO = 250            # first offset of the open transaction D
END = 301            # high watermark once D is committed
HOLD_S = 3           # how long D stays open after the group reached LSO


def values(name, n):
    return ["%s-%d" % (name, i) for i in range(n)]


@test
def read_committed_stops_at_the_stable_offset_and_skips_aborts():
    require_real_broker()
    src, out = unique("in"), unique("out")
    group, group2 = unique("g"), unique("g2")
    with Broker(topics={src: 1, out: 1, src + ".dlq": 1}) as kafka:
        tx = Producer(kafka.conf(**{"transactional.id": unique("tx"),
                                    "transaction.timeout.ms": 60000,
                                    "linger.ms": 5}))
        tx.init_transactions(30)
        for name, n, outcome in LAYOUT:
            tx.begin_transaction()
            for v in values(name, n):
                tx.produce(src, key=v, value=v, partition=0)
            tx.flush(30)
            if outcome == "commit":
                tx.commit_transaction(30)
            elif outcome == "abort":
                tx.abort_transaction(30)
        low, high = watermarks(kafka, src)
        expect((low, high) == (0, 300), "the log is laid out as planned "
               "(A, marker, B, marker, C, marker, D open)",
               "watermarks %d, %d" % (low, high))

        sched = start_scheduler(kafka, src, group, drain=False, args=[
            "--job-records", str(JOB_RECORDS), "--commit-interval-ms", "200"])
        workers = [start_worker(kafka, sched.endpoint, "copy",
                                name="worker-%d" % i, output_topic=out)
                   for i in (1, 2)]

        # With D open: everything below the LSO is done and committed ...
        wait_for(lambda: committed(kafka, group, src)[0] == LSO, 30,
                 lambda: "the group to commit the last stable offset %d "
                 "(at %s)" % (LSO, committed(kafka, group, src)))
        # ... and nothing past it is cut, however often the scheduler asks.
        time.sleep(HOLD_S)
        expect(sched.alive(), "the scheduler runs", sched.log_tail(5))
        open_jobs = jobs(workers, src)
        past = [j for j in open_jobs if j.end > LSO]
        expect(not past, "no job is cut past the last stable offset %d "
               "while the transaction is open" % LSO, past[:5])
        expect(committed(kafka, group, src)[0] == LSO,
               "the group stays at the last stable offset")
        done = {(j.start, j.end) for j in jobs(workers, src, "job done")}
        for rng in ((80, 90), (130, 140), (240, 250), (100, 110)):
            expect(rng in done, "the job [%d,%d) completes (it ends on a "
                   "marker or holds only aborted records)" % rng,
                   sorted(done))

        got = [r.value.decode() for r in consume_all(kafka, out)]
        want = set(values("A", 89)) | set(values("C", 109))
        expect(set(got) == want, "the output holds A and C, no aborted "
               "record of B, nothing of the open D",
               "extra %s, missing %s" % (sorted(set(got) - want)[:5],
                                         sorted(want - set(got))[:5]))

        # Commit D: the scheduler goes on to the true end.
        tx.commit_transaction(30)
        expect(watermarks(kafka, src)[1] == END, "D's commit marker is at "
               "%d" % (END - 1))
        wait_for(lambda: committed(kafka, group, src)[0] == END, 30,
                 lambda: "the group to commit %d (at %s)"
                 % (END, committed(kafka, group, src)))
        expect((END - 1, END) in {(j.start, j.end)
                                  for j in jobs(workers, src, "job done")},
               "the job [%d,%d), only a commit marker, completes"
               % (END - 1, END))
        rc = sched.stop(20)
        expect(rc == 0, "the scheduler exits 0 on SIGTERM", "exit %d" % rc)

        got = [r.value.decode() for r in consume_all(kafka, out)]
        want |= set(values("D", 50))
        expect(set(got) == want and not any(v.startswith("B-") for v in got),
               "the output holds A, C and D and nothing of B",
               "extra %s, missing %s" % (sorted(set(got) - want)[:5],
                                         sorted(want - set(got))[:5]))

        # A drain over the whole partition, in a new group.
        drain = start_scheduler(kafka, src, group2, name="drain", args=[
            "--job-records", str(JOB_RECORDS)])
        w = start_worker(kafka, drain.endpoint, "noop", name="drain-worker")
        rc = drain.wait(30, watch=[w])
        expect(rc == 0, "a drain over markers and aborted records exits 0",
               "exit %d" % rc)
        expect(committed(kafka, group2, src) == {0: END},
               "the drain commits the high watermark %d" % END)
        log_note("%d jobs while D was open, %d in all" %
                 (len(open_jobs), len(jobs(workers, src))))


if __name__ == "__main__":
    main()
