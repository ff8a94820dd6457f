"""Completion markers (--state-topic): progress without the 4 KB limit.

One partition of 30,000 records, jobs of one record. Ten workers with
1,024 credits each join and are frozen (SIGSTOP) before the records are
written; ten more run. The scheduler hands jobs to the worker with the
most credit, so the 10,240 jobs the frozen ones hold are spread through
the partition
and the running workers complete the ranges between them: thousands of
disjoint completed ranges above the committed offset, far more than the
commit metadata's 4 KB holds (about 900 of these). The running worker
stop gracefully (their markers delivered), the scheduler commits and is
SIGKILLed. A new scheduler in the same group, with a fresh worker,
drains the partition: it must read the markers the metadata points at
and run none of the ranges the running workers had finished. Without the
state topic every completed range past the metadata's reach ran again.

A state topic name Kafka would refuse is refused at start, in one line.
"""
import collections
import os
import signal

from harness import (BIN, Broker, committed, committed_with_metadata, consume_all,
                     decode_meta, expect, free_port, log_events, log_note,
                     main, metrics_port, produce, run_cli, scrape_metrics,
                     start_scheduler, start_worker, test, unique, wait_for)

RECORDS = 30000
HOLDERS = RUNNERS = 10
DONE_BEFORE_KILL = 15000
GROUP_PROPS = ["-X", "session.timeout.ms=6000",
               "-X", "heartbeat.interval.ms=500"]


def sched_args(state, patient=False):
    # patient: frozen workers are not dropped for their silence (300 s).
    return (["--job-records", "1", "--window", "100000",
             "--commit-interval-ms", "200", "--state-topic", state] +
            (["--heartbeat-ms", "10000", "--liveness", "30"] if patient
             else []) + GROUP_PROPS)


def done_starts(workers):
    return {int(e["start"]) for w in workers for e in log_events(w, "job done")}


@test
def a_takeover_runs_no_range_a_marker_says_is_done():
    src, out, group = unique("in"), unique("out"), unique("g")
    state = unique("state")
    port = free_port()
    with Broker(topics={src: 1, out: 1, src + ".dlq": 1}) as kafka:
        sched = start_scheduler(kafka, src, group, port=port, drain=False,
                                args=sched_args(state, patient=True))
        # Holders and runners join in turn: the scheduler serves workers of
        # equal credit in the order it served them last, so each round of
        # dispatch alternates a frozen worker's job and a running one's.
        holders, runners = [], []
        for i in range(HOLDERS):
            holders.append(start_worker(
                kafka, sched.endpoint, "fault", name="holder-%d" % i,
                output_topic=out,
                args=["--credits", "1024", "--supervise", "off"]))
            wait_for(lambda: len(log_events(sched, "worker joined")) >
                     len(runners) + i, 30, "holder %d joins" % i)
            holders[-1].signal_tree(signal.SIGSTOP)
            if i < RUNNERS:
                runners.append(start_worker(
                    kafka, sched.endpoint, "fault", name="runner-%d" % i,
                    output_topic=out,
                    args=["--credits", "1024", "--liveness", "100",
                          "--supervise", "off"]))
                wait_for(lambda: len(log_events(sched, "worker joined")) >
                         len(runners) + i, 30, "runner %d joins" % i)
        # The records come once every worker is there (the group may have
        # assigned the partition already).
        produce(kafka, src, ((str(i), str(i), 0) for i in range(RECORDS)))
        wait_for(lambda: len(done_starts(runners)) >= DONE_BEFORE_KILL, 120,
                 lambda: "%d jobs done (of %d wanted)"
                 % (len(done_starts(runners)), DONE_BEFORE_KILL))
        for r in runners:  # gracefully: their markers are delivered
            r.stop(30)
        done = done_starts(runners)

        # A commit after the runner left: version 2 (where the markers
        # begin) with as many ranges as 4 KB holds.
        snap = {}

        def settled():
            snap.update(committed_with_metadata(kafka, group, src))
            off, meta = snap.get(0, (-1, ""))
            return meta.startswith("s2:") and decode_meta(max(off, 0), meta)
        wait_for(settled, 30, lambda: "a version-2 commit (last: %.80s)"
                 % (snap.get(0),))
        sched.kill()
        for h in holders:
            h.signal_tree(signal.SIGKILL)
            h.signal_tree(signal.SIGCONT)
        off, meta = committed_with_metadata(kafka, group, src)[0]
        in_meta = decode_meta(max(off, 0), meta)
        gaps = sum(1 for s in done if s - 1 not in done)
        log_note("killed the scheduler: %d ranges done by the runners in %d "
                 "disjoint runs above committed %d; the metadata (%d bytes) "
                 "holds %d of them: %.60s..."
                 % (len(done), gaps, off, len(meta), len(in_meta), meta))
        expect(gaps > 5000, "more than 5,000 completed gaps above the "
               "committed offset", gaps)

        sched2 = start_scheduler(kafka, src, group, name="scheduler-2",
                                 port=port, args=sched_args(state) + [
                                     "--metrics-addr", "127.0.0.1:0"])
        fresh = start_worker(kafka, sched2.endpoint, "fault", name="fresh",
                             output_topic=out)
        mport = metrics_port(sched2)
        scraped = {}

        def counted():
            scraped.update(scrape_metrics(mport) or {})
            return scraped.get("sluice_marked_ranges_total", 0) > 0
        wait_for(counted, 60, lambda: "the takeover's markers in /metrics "
                 "(%s)" % {k: v for k, v in scraped.items()
                           if "mark" in k})
        rc = sched2.wait(120, watch=[fresh])
        expect(rc == 0, "the new scheduler drains the partition and exits 0",
               "exit %s" % rc)
        fresh.stop(20)
        assigned = log_events(sched2, "assigned")
        marked = int(assigned[0].get("marked_ranges", 0)) if assigned else 0
        begun = {int(e["start"]) for e in log_events(fresh, "job begin")}
        rerun = sorted(begun & done)
        log_note("takeover: %d ranges from markers; the new worker ran %d "
                 "jobs, %d of them done before the kill"
                 % (marked, len(begun), len(rerun)))
        expect(scraped["sluice_marked_ranges_total"] == marked and
               scraped["sluice_markers_read_total"] >= marked,
               "/metrics counts the markers read and the ranges they gave",
               {k: v for k, v in scraped.items() if "mark" in k})
        expect(not rerun, "no range done before the kill ran again",
               "%d did, first %s" % (len(rerun), rerun[:10]))
        seen = collections.Counter(int(r.key) for r in consume_all(kafka, out))
        missing = [i for i in range(RECORDS) if not seen[i]]
        expect(not missing, "every record is in the output",
               "%d missing, first %s" % (len(missing), missing[:10]))
        expect(committed(kafka, group, src) == {0: RECORDS},
               "the group is committed at the end")


@test
def a_state_topic_that_is_no_topic_name_is_refused():
    rc, out, err = run_cli([os.path.join(BIN, "sluice-scheduler"),
                            "--brokers", "127.0.0.1:9", "--group", "g",
                            "--topic", "t", "--state-topic", "no good!"])
    lines = err.strip().splitlines()
    expect(rc == 2 and len(lines) == 1 and "--state-topic" in lines[0] and
           "not a topic name" in lines[0],
           "one line on stderr says what is wrong, exit 2",
           "exit %s: %r" % (rc, err))


if __name__ == "__main__":
    main()
