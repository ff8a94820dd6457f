"""A drain copies every record and commits the group to the high watermarks,
while the scheduler fetches no record payload at all.

4 partitions x 25,000 unique ids, 3 workers with the copy plugin, one
scheduler with --drain."""
import collections
import re
import time

from harness import (Broker, committed, consume_all, expect, high_watermarks,
                     log_events, log_note, main, produce, start_scheduler,
                     start_worker, test, unique, wait_for)

PARTITIONS = 4
PER_PARTITION = 25000
WORKERS = 3
DRAIN_TIMEOUT = 200


def records():
    for p in range(PARTITIONS):
        for i in range(PER_PARTITION):
            rid = p * PER_PARTITION + i
            yield (str(rid), '{"id":%d,"p":%d}' % (rid, p), p)


@test
def drain_copies_every_record_and_commits_to_the_end():
    src, out, group = unique("in"), unique("out"), unique("g")
    topics = {src: PARTITIONS, out: PARTITIONS, src + ".dlq": 1}
    with Broker(topics=topics) as kafka:
        total = produce(kafka, src, records())
        hwm = high_watermarks(kafka, src)
        expect(sum(hwm.values()) == total, "the input holds every record",
               hwm)

        # Statistics every 100 ms: a drain on a real broker can be over in
        # a third of a second, before the default 1 s report.
        sched = start_scheduler(kafka, src, group,
                                args=["-X", "statistics.interval.ms=100"])
        workers = [start_worker(kafka, sched.endpoint, "copy",
                                name="worker-%d" % i, output_topic=out)
                   for i in range(1, WORKERS + 1)]
        rc = sched.wait(DRAIN_TIMEOUT, watch=workers)
        expect(rc == 0, "the scheduler exits 0 after the drain",
               "exit %d" % rc)
        for w in workers:
            wrc = w.stop(20)
            expect(wrc == 0, "%s exits 0 on SIGTERM" % w.name, "exit %d" % wrc)

        # Every id reaches the output at least once; report duplicates.
        seen = collections.Counter(int(r.key) for r in consume_all(kafka, out))
        missing = [i for i in range(total) if seen[i] == 0]
        dups = sum(c - 1 for c in seen.values() if c > 1)
        log_note("output: %d records, %d distinct ids, %d duplicates"
                 % (sum(seen.values()), len(seen), dups))
        expect(not missing, "every id is in the output",
               "%d missing, first %s" % (len(missing), missing[:10]))
        expect(set(seen) <= set(range(total)), "no foreign ids in the output")

        # The group is committed exactly up to the end of every partition.
        got = committed(kafka, group, src)
        expect(got == hwm, "committed offsets equal the high watermarks",
               "committed %s, high watermarks %s" % (got, hwm))

        # The scheduler's consumer fetched no record payload: its record
        # totals are 0 while its byte total shows the statistics are live
        # (at least one sample, and some bytes received from the broker).
        m = re.search(r"rxmsgs=(\d+) rxmsg_bytes=(\d+) rx_bytes=(\d+) "
                      r"samples=(\d+)", sched.log_text())
        expect(m, "the scheduler logs its consumer totals at exit",
               "no 'rxmsgs=N rxmsg_bytes=M rx_bytes=B samples=S' in %s"
               % sched.log_path)
        expect(int(m.group(4)) >= 1 and int(m.group(3)) > 0,
               "the totals rest on live statistics", m.group(0))
        expect(int(m.group(1)) == 0 and int(m.group(2)) == 0,
               "the scheduler fetched no records", m.group(0))


@test
def progress_off_hides_progress_not_the_summary():
    """--progress off silences the bar and the progress lines, not the
    closing `drain complete` line that scripts read for the totals."""
    src, group = unique("in"), unique("g")
    with Broker(topics={src: 2}) as kafka:
        total = produce(kafka, src, ((None, b"r%d" % i, i % 2)
                                     for i in range(2000)))
        sched = start_scheduler(kafka, src, group, args=[
            "--progress", "off", "--job-records", "100"])
        worker = start_worker(kafka, sched.endpoint, "noop")
        expect(sched.wait(60, watch=[worker]) == 0, "the drain finishes")
        expect(not log_events(sched, "drain progress"),
               "no progress line", sched.log_path)
        summary = log_events(sched, "drain complete")
        expect(len(summary) == 1 and int(summary[0]["records"]) == total,
               "one `drain complete` line with the totals", summary)


@test
def a_drain_worker_that_comes_after_the_drain_gives_up():
    """--drain-wait-ms: a --drain worker that hears from no unfinished
    scheduler for that long exits 1 with one line saying so, instead of
    waiting for ever for a "drain finished" nobody is left to send (a
    Kubernetes Job would never complete)."""
    src, group = unique("in"), unique("g")
    with Broker(topics={src: 1}) as kafka:
        produce(kafka, src, [(None, b"only", 0)])
        sched = start_scheduler(kafka, src, group)
        worker = start_worker(kafka, sched.endpoint, "noop", name="early",
                              args=["--drain"])
        expect(sched.wait(60, watch=[worker]) == 0, "the drain finishes")
        expect(worker.wait(30) == 0, "the worker there for it exits 0")
        #  The scheduler has exited: nothing answers at its endpoint.
        late = start_worker(kafka, sched.endpoint, "noop", name="late",
                            args=["--drain", "--drain-wait-ms", "1500"])
        t0 = time.monotonic()
        code = late.wait(30)
        waited = time.monotonic() - t0
        expect(code == 1, "the late worker exits 1", code)
        expect(1.4 < waited < 15, "after about --drain-wait-ms", waited)
        text = late.log_text()
        expect("no word from any scheduler" in text and
               "--drain-wait-ms" in text,
               "it says why, naming the flag", text[-600:])
        log_note("the late worker gave up after %.1f s" % waited)


@test
def a_lingering_scheduler_tells_late_workers_the_drain_is_finished():
    """--drain-linger-ms: an empty drain finishes before any worker pod is
    up. The scheduler stays that long after it, and a worker that says
    HELLO then is told the drain is finished and exits 0 (the worker Job
    completes) instead of failing after --drain-wait-ms."""
    src, group = unique("in"), unique("g")
    linger = 4000
    with Broker(topics={src: 2}) as kafka:
        sched = start_scheduler(kafka, src, group,
                                args=["--drain-linger-ms", str(linger)])
        wait_for(lambda: log_events(sched, "drain finished, telling workers "
                                    "that come late for %d ms "
                                    "(--drain-linger-ms)" % linger), 60,
                 "the empty drain finishes and the scheduler lingers")
        t0 = time.monotonic()
        late = start_worker(kafka, sched.endpoint, "noop", name="late",
                            args=["--drain", "--drain-wait-ms", "60000"])
        expect(late.wait(30) == 0, "the late worker exits 0",
               late.log_text()[-600:])
        expect("scheduler finished its drain" in late.log_text(),
               "it was told the drain is finished")
        took = time.monotonic() - t0
        expect(took < linger / 1000.0, "at once, not after --drain-wait-ms",
               took)
        expect(sched.wait(30) == 0, "the scheduler exits 0 after lingering")
        lingered = time.monotonic() - t0
        log_note("late worker done in %.1f s; scheduler exited %.1f s after "
                 "it started" % (took, lingered))
        expect(lingered < linger / 1000.0 + 5, "the linger ends", lingered)



@test
def the_linger_ends_once_every_expected_worker_was_told():
    """--drain-linger-workers N (the chart sets its worker count): the
    scheduler stops lingering as soon as N distinct workers were told the
    drain is finished, those connected when it finished and those that come
    late alike, instead of after the whole --drain-linger-ms. The drain
    Jobs then complete seconds after the last commit."""
    src, group = unique("in"), unique("g")
    linger = 60000
    with Broker(topics={src: 2}) as kafka:
        produce(kafka, src, ((str(i), "v%d" % i, i % 2) for i in range(2000)))
        sched = start_scheduler(kafka, src, group,
                                args=["--drain-linger-ms", str(linger),
                                      "--drain-linger-workers", "3"])
        early = [start_worker(kafka, sched.endpoint, "noop", name="w%d" % i,
                              args=["--drain", "--drain-wait-ms", "60000"])
                 for i in range(2)]
        for w in early:
            expect(w.wait(60) == 0, "a worker there at the end exits 0",
                   w.log_text()[-600:])
        wait_for(lambda: log_events(sched, "drain finished, telling workers "
                                    "that come late for %d ms "
                                    "(--drain-linger-ms) or until 3 have "
                                    "been told (--drain-linger-workers)"
                                    % linger), 30, "the scheduler lingers")
        expect(sched.alive(), "two of three told: it lingers")
        t0 = time.monotonic()
        late = start_worker(kafka, sched.endpoint, "noop", name="late",
                            args=["--drain", "--drain-wait-ms", "60000"])
        expect(late.wait(30) == 0, "the late worker exits 0",
               late.log_text()[-600:])
        expect(sched.wait(30) == 0, "the scheduler exits 0")
        took = time.monotonic() - t0
        log_note("scheduler exited %.1f s after the third worker started "
                 "(linger %d ms)" % (took, linger))
        expect(took < 10, "once the third was told, not after the linger",
               took)
        expect(log_events(sched, "told 3 workers the drain is finished "
                          "(--drain-linger-workers): not lingering longer"),
               "it says why it stopped lingering")

if __name__ == "__main__":
    main()
