"""A worker's lanes share one prefetch budget in bytes.

Each lane of a worker (--concurrency N) reads with a Kafka consumer of
its own, and librdkafka prefetches per consumer: up to
queued.max.messages.kbytes (64 MiB by default) of records ahead of what
the plugin has taken. N lanes on one partition used to hold N times that.
The worker now divides the default among its lanes (wrk_reader.c,
s_conf_new; wrk_range_prefetch_kb), so with records of some size a worker
of N lanes holds about what one consumer would. (queued.min.messages is
not divided: it sets how far a lane reads on rather than seek.)

  lanes_share_one_prefetch_budget  one partition of 48 MB (48,000 records
      of 1 KB), a worker of 8 lanes with a slow plugin (1 ms per record,
      jobs of 100): each lane's consumer would prefetch the rest of the
      partition, 8 x 48 MB; with the budget shared, 8 MB each. After the
      lanes have run 320 jobs (about 4 s) the worker's peak RSS (VmHWM of the
      supervised child) must be under 200 MB, and more than twice as
      much with -X setting librdkafka's default on every lane (as
      before).

Only on a real broker: the embedded one keeps at most 5 MiB per
partition, less than one lane's share."""

from harness import (Broker, expect, log_events, log_note, main, produce,
                     start_scheduler, start_worker, test, unique, wait_for)
from realkafka import require_real_broker

RECORDS = 48000
VALUE = "x" * 1000
LANES = 8
BOUND_KB = 200 * 1024


def vm_hwm_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return None


def peak_rss_kb(kafka, src, group, tag, extra=()):
    """Peak RSS of a worker of LANES lanes after 320 jobs on src (each run
    its own log files: `tag`)."""
    sched = start_scheduler(kafka, src, group, drain=False,
                            name="scheduler-" + tag,
                            args=["--job-records", "100"])
    worker = start_worker(kafka, sched.endpoint, "sleep",
                          name="worker-" + tag,
                          plugin_opts={"us_per_record": 1000},
                          args=["--concurrency", str(LANES),
                                "--credits", str(2 * LANES)] + list(extra))
    # Reading long enough for each lane's consumer to prefetch what it
    # may: every lane has run 40 jobs (about 4 s), a condition, not a
    # fixed sleep.
    wait_for(lambda: len(log_events(worker, "job done")) >= 40 * LANES, 120,
             "every lane has run 40 jobs")
    kb = vm_hwm_kb(worker.worker_pid)
    worker.stop()
    sched.stop()
    return kb


@test
def lanes_share_one_prefetch_budget():
    require_real_broker()
    src = unique("in")
    with Broker(topics={src: 1}) as kafka:
        produce(kafka, src, ((str(i), VALUE, 0) for i in range(RECORDS)))
        kb = peak_rss_kb(kafka, src, unique("g"), "shared")
        log_note("%d lanes on one partition of %d MB: peak RSS %d MB"
                 % (LANES, RECORDS // 1000, kb // 1024))
        expect(kb < BOUND_KB, "the lanes share one prefetch budget",
               "peak RSS %d MB" % (kb // 1024))
        # -X overrides the shared budget: librdkafka's own defaults, each
        # lane's consumer prefetching for itself, as before.
        kb_x = peak_rss_kb(kafka, src, unique("g"), "defaults",
                           ["-X", "queued.max.messages.kbytes=65536"])
        log_note("with -X librdkafka's defaults per lane: peak RSS %d MB"
                 % (kb_x // 1024))
        expect(kb_x > 2 * kb,
               "-X overrides the budget (each lane prefetching alone "
               "holds far more)",
               "%d MB against %d MB" % (kb_x // 1024, kb // 1024))

if __name__ == "__main__":
    main()
