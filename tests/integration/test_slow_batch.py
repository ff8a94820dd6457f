"""A slow batch that a CANCEL arrives during is not a stuck plugin.

The stuck-plugin watchdog makes a worker exit 3 when its plugin ignores a
CANCEL: a plugin that never returns would hold its lane for ever. It used
to fire --grace-ms after the CANCEL, so a plugin that was merely slow, in
the middle of a long batch when a rebalance revoked its partition (or its
scheduler said BYE and the worker dropped that scheduler's jobs), killed
its worker. Now the batch may run as long as a batch may between two signs
of progress (the job's lease, which the scheduler holds it to too), and at
least --grace-ms after the CANCEL: only a plugin that makes no progress at
all is stuck (test_poison's hang variant keeps that).

Here each job is one batch of 100 records at 50 ms (5 s), --grace-ms is
1 s and the lease 30 s. 1.5 s into the batches the scheduler is
stopped (SIGTERM: it commits and says BYE), so a worker drops the
running job of that scheduler, as a revoke's CANCEL does. The workers
finish their batches and live on; a new scheduler on the same endpoint
then drains the topic to the end. The second test is issue 19's own
case: a batch of 500 records at 30 ms (15 s), every flag at its default
(--grace-ms 10 s, lease 60 s)."""
import collections
import signal
import time

from harness import (Broker, committed, consume_all, expect, free_port,
                     high_watermarks, log_events, log_note, main, produce,
                     start_scheduler, start_worker, test, unique, wait_for)

PARTITIONS = 2
GROUP_ARGS = ["-X", "session.timeout.ms=6000",
              "-X", "heartbeat.interval.ms=500"]


@test
def a_slow_batch_outlives_its_cancel():
    run(100, 50000, ["--job-timeout-ms", "30000"], ["--grace-ms", "1000"])


@test
def a_15_s_batch_outlives_a_cancel_at_the_defaults():
    run(500, 30000, [], [])


def run(per_partition, us_per_record, sched_extra, worker_extra):
    PER_PARTITION = per_partition
    SCHED_ARGS = ["--job-records", str(per_partition)] + sched_extra + \
        GROUP_ARGS
    batch_s = per_partition * us_per_record / 1e6
    src, out, group = unique("in"), unique("out"), unique("g")
    with Broker(topics={src: PARTITIONS, out: PARTITIONS,
                        src + ".dlq": 1}) as kafka:
        total = produce(kafka, src, ((str(p * PER_PARTITION + i),
                                      str(p * PER_PARTITION + i), p)
                                     for p in range(PARTITIONS)
                                     for i in range(PER_PARTITION)))
        hwm = high_watermarks(kafka, src)
        port = free_port()
        first = start_scheduler(kafka, src, group, name="scheduler-1",
                                port=port, args=SCHED_ARGS)
        workers = [start_worker(kafka, first.endpoint, "sleep",
                                name="worker-%d" % i, output_topic=out,
                                plugin_opts={"us_per_record": us_per_record},
                                args=["--batch-size", str(per_partition),
                                      "--heartbeat-ms", "250"] + worker_extra)
                   for i in (1, 2)]
        # One worker may hold both jobs (it had the credit first): one in
        # a batch is enough.
        wait_for(lambda: any(log_events(w, "job begin") for w in workers),
                 30, "a worker in a batch")
        time.sleep(1.5)  # into the batches: the fault comes mid-batch
        first.signal(signal.SIGTERM)
        first.wait(20)
        t_bye = time.monotonic()
        # Past the old deadline (--grace-ms after the drop) and the batch.
        def ended():
            for w in workers:
                expect(w.alive(), "%s lives on after the BYE (it used to "
                       "call its slow plugin stuck and exit 3)" % w.name,
                       w.log_tail(3))
            return all(log_events(w, "job abandoned") or
                       log_events(w, "job done") for w in workers
                       if log_events(w, "job begin"))
        wait_for(ended, batch_s + 25, "the workers to finish their batches")
        log_note("%.0f s batches ended %.1f s after the BYE (worker flags %s)"
                 % (batch_s, time.monotonic() - t_bye, worker_extra or
                    "at their defaults"))
        for w in workers:
            expect(not [line for line in w.log_text().splitlines()
                        if "plugin stuck" in line],
                   "%s did not call its slow plugin stuck" % w.name,
                   w.log_path)
            expect(w.alive(), "%s lives on" % w.name, w.log_tail(5))
        second = start_scheduler(kafka, src, group, name="scheduler-2",
                                 port=port, args=SCHED_ARGS)
        expect(second.wait(2 * batch_s + 90, watch=workers) == 0,
               "the drain finishes")
        expect(committed(kafka, group, src) == hwm,
               "the group is committed to the end")
        seen = collections.Counter(int(r.key)
                                   for r in consume_all(kafka, out))
        missing = [i for i in range(total) if not seen[i]]
        expect(not missing, "every id is in the output", missing[:10])


if __name__ == "__main__":
    main()
