"""--concurrency N: one worker runs N jobs at once, sharing one instance of
a thread-safe plugin and giving a plugin that is not thread-safe one
instance per thread.

concurrency_multiplies_a_slow_plugins_throughput: the (thread-safe) sleep
plugin at 1 ms per record; one worker with --concurrency 1, then another
drain with --concurrency 4: from the first job's start to the last job's
end, the second takes at most 1/2.5 of the time.

non_thread_safe_plugins_get_one_instance_per_thread: the `exclusive`
fixture aborts the worker if two threads are ever inside one instance.
With --concurrency 3 the worker creates 3 instances, runs jobs in parallel
(their begin/done intervals overlap) and never aborts. The same code
wrongly claiming to be thread-safe (exclusive_claims_safe) is shared and
aborts: the check is real.

a_shared_instance_gets_each_calls_own_job: the call_context fixture (ABI
1.2), one thread-safe instance on 3 lanes, learns each call's job and lane
only from the call context, rejects (dead-letters) any record that is not
in its call's job, and emits through the call. Each job's DONE counts its
own records, plus the one job_end_call emits, as emitted: no emit went to
another lane's job.

fault_fails_each_jobs_first_attempt: fault's fail_attempts=1, shared by 2
lanes, fails every job's first attempt (read from the call context) and
passes the second."""
import collections
import os
import re
import time

from harness import (BUILD, Broker, committed, consume_all, expect,
                     fetched_records, high_watermarks, log_events, log_note,
                     main, produce, start_scheduler, start_worker, test,
                     ts_seconds, unique, wait_for)

FIXTURES = os.path.join(BUILD, "tests", "fixtures")
PARTITIONS = 4


def records(per):
    for p in range(PARTITIONS):
        for i in range(per):
            rid = p * per + i
            yield (str(rid), str(rid), p)


def drain(plugin, concurrency, per, plugin_opts=None, expect_ok=True):
    src, out, group = unique("in"), unique("out"), unique("g")
    with Broker(topics={src: PARTITIONS, out: PARTITIONS,
                        src + ".dlq": 1}) as kafka:
        produce(kafka, src, records(per))
        hwm = high_watermarks(kafka, src)
        sched = start_scheduler(kafka, src, group,
                                name="scheduler-%s-c%d"
                                % (os.path.basename(plugin), concurrency),
                                args=["--job-records", "100",
                                      "--max-attempts", "1"])
        worker = start_worker(kafka, sched.endpoint, plugin,
                              name="worker-%s-c%d"
                              % (os.path.basename(plugin), concurrency),
                              output_topic=out, plugin_opts=plugin_opts,
                              args=["--concurrency", str(concurrency),
                                    "--batch-size", "50", "--drain"] +
                              # The liar aborts: see the worker exit (a
                              # supervised one would be started again).
                              ([] if expect_ok else ["--supervise", "off"]))
        if not expect_ok:
            rc = worker.wait(60)
            return worker, rc
        rc = sched.wait(120, watch=[worker])
        expect(rc == 0, "the drain finishes", "exit %d" % rc)
        #  Its lanes stop one by one; the worker used to hang in its
        #  last step (waiting for a lane's exit signal it had read).
        expect(worker.wait(30) == 0, "the worker exits 0 after the drain")
        # The span of the work itself, from the first job's start to the
        # last job's end: the group join and start-up do not count.
        t0 = log_events(worker, "job begin")[0]["_ts"]
        t1 = log_events(worker, "job done")[-1]["_ts"]
        seen = collections.Counter(int(r.key) for r in consume_all(kafka, out))
        missing = [i for i in range(PARTITIONS * per) if not seen[i]]
        expect(not missing, "every id is in the output",
               "%d missing" % len(missing))
        expect(committed(kafka, group, src) == hwm, "committed to the end")
        return worker, ts_seconds(t1) - ts_seconds(t0)


def overlapping(worker):
    """How many jobs ran at the same time, at most (from begin/done)."""
    events = sorted([(e["_ts"], 1) for e in log_events(worker, "job begin")] +
                    [(e["_ts"], -1) for e in log_events(worker, "job done")])
    now = peak = 0
    for _, d in events:
        now += d
        peak = max(peak, now)
    return peak


@test
def concurrency_multiplies_a_slow_plugins_throughput():
    opts = {"us_per_record": 5000}
    _, one = drain("sleep", 1, 200, opts)
    w4, four = drain("sleep", 4, 200, opts)
    log_note("800 records at 5 ms each: %.2f s with --concurrency 1, "
             "%.2f s with 4 (%.2fx)" % (one, four, one / four))
    expect(overlapping(w4) >= 3, "jobs ran side by side", overlapping(w4))
    expect(one / four >= 2.5, "4 threads are at least 2.5x faster",
           "%.2f s vs %.2f s" % (one, four))
    created = log_events(w4, "concurrency")
    expect(created and created[0]["plugin_instances"] == "1",
           "a thread-safe plugin is one instance shared", created)


@test
def non_thread_safe_plugins_get_one_instance_per_thread():
    plugin = os.path.join(FIXTURES, "exclusive.so")
    worker, took = drain(plugin, 3, 200, {"us_per_batch": 20000})
    instances = log_events(worker, "exclusive instance created")
    expect(len(instances) == 3, "three instances for three threads",
           len(instances))
    expect(overlapping(worker) >= 2, "jobs still ran side by side",
           overlapping(worker))
    log_note("exclusive: %d instances, up to %d jobs at once, %.2f s"
             % (len(instances), overlapping(worker), took))

    liar = os.path.join(FIXTURES, "exclusive_claims_safe.so")
    worker, rc = drain(liar, 3, 200, {"us_per_batch": 20000},
                       expect_ok=False)
    expect(rc != 0 and "two threads in one instance" in worker.log_text(),
           "a plugin claiming thread safety is shared between threads "
           "(and this one, which is not, aborts)", "exit %s" % rc)


@test
def lanes_read_their_own_partitions_once():
    """With noop there is nothing to share but the fetch: each lane reads
    on through its own partition. The scheduler once treated the worker as
    one reader (one partition it followed) and the worker gave each job to
    its least busy lane, so lanes took turns on one partition, each
    seeking to its job and reading ahead into the next lane's: a 10M drain
    with --concurrency 4 fetched 1.54x its records."""
    src, group = unique("in"), unique("g")
    per = 25000
    with Broker(topics={src: PARTITIONS}) as kafka:
        produce(kafka, src, ((None, b"%099d" % i, i % PARTITIONS)
                             for i in range(PARTITIONS * per)),
                **{"batch.size": 65536})
        hwm = high_watermarks(kafka, src)
        sched = start_scheduler(kafka, src, group,
                                args=["--job-records", "1000"])
        worker = start_worker(kafka, sched.endpoint, "noop",
                              args=["--concurrency", "4", "--drain", "-X",
                                    "statistics.interval.ms=100"])
        rc = sched.wait(120, watch=[worker])
        expect(rc == 0, "the drain finishes", "exit %d" % rc)
        expect(worker.wait(30) == 0, "the worker exits 0 after the drain")
        expect(committed(kafka, group, src) == hwm, "committed to the end")
        fetched, total = fetched_records(worker), PARTITIONS * per
        log_note("4 lanes fetched %d records for %d (%.2fx), up to %d jobs "
                 "at once" % (fetched, total, fetched / total,
                              overlapping(worker)))
        expect(total <= fetched < 1.2 * total, "the lanes read the "
               "partitions about once", "%d fetched for %d"
               % (fetched, total))
        expect(overlapping(worker) >= 2, "jobs still ran side by side",
               overlapping(worker))


@test
def a_worker_stopping_with_one_lane_busy_exits():
    """SIGTERM while one of three lanes runs a job: the idle lanes stop at
    once, the busy one after its job. The worker's loop used to read the
    idle lanes' exit signals while it waited for the busy one, and then
    waited for ever for those signals when it destroyed the lanes."""
    src, group = unique("in"), unique("g")
    with Broker(topics={src: 1}) as kafka:
        produce(kafka, src, ((None, b"%d" % i, 0) for i in range(100)))
        sched = start_scheduler(kafka, src, group, drain=False,
                                args=["--job-records", "100"])
        worker = start_worker(kafka, sched.endpoint, "sleep",
                              plugin_opts={"us_per_record": 20000},
                              args=["--concurrency", "3",
                                    "--batch-size", "50"])
        wait_for(lambda: log_events(worker, "job begin"), 60, "a job began")
        t0 = time.monotonic()
        rc = worker.stop(timeout=20)
        took = time.monotonic() - t0
        log_note("stopped with exit %d in %.1f s" % (rc, took))
        expect(rc == 0, "the worker exits 0 after finishing its job", rc)
        expect(log_events(worker, "job done"), "it finished the job first")


@test
def a_shared_instance_gets_each_calls_own_job():
    src, out, group = unique("in"), unique("out"), unique("g")
    per = 200
    with Broker(topics={src: PARTITIONS, out: PARTITIONS,
                        src + ".dlq": 1}) as kafka:
        produce(kafka, src, records(per))
        hwm = high_watermarks(kafka, src)
        sched = start_scheduler(kafka, src, group,
                                args=["--job-records", "50",
                                      "--max-attempts", "1"])
        worker = start_worker(kafka, sched.endpoint,
                              os.path.join(FIXTURES, "call_context.so"),
                              output_topic=out,
                              plugin_opts={"us_per_batch": 3000},
                              args=["--concurrency", "3", "--batch-size",
                                    "10", "--drain"])
        rc = sched.wait(120, watch=[worker])
        expect(rc == 0, "the drain finishes", "exit %d" % rc)
        expect(worker.wait(30) == 0, "the worker exits 0 after the drain")
        expect(committed(kafka, group, src) == hwm, "committed to the end")
        created = log_events(worker, "call_context created")
        expect([e["lanes"] for e in created] == ["3"],
               "one instance, told it serves 3 lanes", created)
        dead = consume_all(kafka, src + ".dlq")
        expect(not dead, "no record reached a call of another job",
               [dict(r.headers or []).get("sluice.reason") for r in dead[:3]])
        emitted, ends, lanes = collections.Counter(), {}, set()
        for r in consume_all(kafka, out):
            v = r.value.decode()
            m = re.match(r"(end )?job=(\d+) lane=(\d+) (?:records|offset)="
                         r"(\d+)$", v)
            expect(m, "an output record the fixture wrote", v)
            job, lane = int(m.group(2)), int(m.group(3))
            lanes.add(lane)
            if m.group(1):
                ends[job] = int(m.group(4))
            else:
                emitted[job] += 1
        expect(sum(emitted.values()) == PARTITIONS * per,
               "every record was emitted once", sum(emitted.values()))
        done = log_events(worker, "job done")
        wrong = [e for e in done if int(e["emitted"]) !=
                 int(e["records"]) + 1 or
                 ends.get(int(e["job"])) != int(e["records"]) or
                 emitted[int(e["job"])] != int(e["records"])]
        expect(done and not wrong, "each job's DONE counts exactly the "
               "records emitted through its calls", wrong[:3])
        expect(lanes <= {0, 1, 2} and len(lanes) >= 2,
               "calls came from several lanes, each below lanes", lanes)
        log_note("call_context: %d jobs on lanes %s, up to %d at once"
                 % (len(done), sorted(lanes), overlapping(worker)))


@test
def fault_fails_each_jobs_first_attempt():
    src, out, group = unique("in"), unique("out"), unique("g")
    with Broker(topics={src: 2, out: 2, src + ".dlq": 1}) as kafka:
        produce(kafka, src, ((str(i), str(i), i % 2) for i in range(400)))
        hwm = high_watermarks(kafka, src)
        sched = start_scheduler(kafka, src, group,
                                args=["--job-records", "100",
                                      "--max-attempts", "3"])
        worker = start_worker(kafka, sched.endpoint, "fault",
                              output_topic=out,
                              plugin_opts={"fail_attempts": 1},
                              args=["--concurrency", "2", "--drain"])
        rc = sched.wait(120, watch=[worker])
        expect(rc == 0, "the drain finishes", "exit %d" % rc)
        expect(committed(kafka, group, src) == hwm, "committed to the end")
        failed = log_events(worker, "job failed")
        begun = log_events(worker, "job begin")
        expect(failed and all("failing attempt 1 of job" in e["reason"]
                              for e in failed),
               "first attempts fail in job_begin_call", failed[:2])
        expect(sorted(e["attempt"] for e in begun if e["attempt"] != "1")
               == ["2"] * len(failed),
               "each failed job passes on its second attempt",
               [(e["job"], e["attempt"]) for e in begun])
        keys = {r.key for r in consume_all(kafka, out)}
        expect(len(keys) == 400, "every record reaches the output",
               len(keys))


if __name__ == "__main__":
    main()
