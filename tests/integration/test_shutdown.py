"""Graceful shutdown of either side loses nothing and costs no attempt.

scheduler_sigterm: a scheduler (not draining) is SIGTERMed while workers
are busy. It must commit what is complete (the group's committed offsets
equal what it logs at revocation), tell its workers (they log `scheduler
said bye` and keep running), and exit 0. A new scheduler on the same
endpoint gets the same worker processes back and finishes the drain with
every id in the output.

worker_sigterm: a worker holding a running job and a queued one (credit
2) is SIGTERMed. It must give the queued job back at once (the scheduler
logs `job returned`, and counts no failed attempt), finish the running one
within --grace-ms, and exit 0; another worker finishes the drain."""
import collections
import json
import os
import signal
import time

from harness import (BIN, Broker, committed, committed_with_metadata,
                     consume_all, decode_meta, expect, free_port,
                     high_watermarks, log_events, log_note, main, produce,
                     run_cli, start_scheduler, start_worker, test, unique,
                     utc_now_iso, wait_for)

PARTITIONS = 2
PER_PARTITION = 1500
GROUP_PROPS = ["-X", "session.timeout.ms=6000",
               "-X", "heartbeat.interval.ms=500"]


def records():
    for p in range(PARTITIONS):
        for i in range(PER_PARTITION):
            rid = p * PER_PARTITION + i
            yield (str(rid), str(rid), p)


def check_output(kafka, out, group, src, hwm):
    total = PARTITIONS * PER_PARTITION
    seen = collections.Counter(int(r.key) for r in consume_all(kafka, out))
    missing = [i for i in range(total) if not seen[i]]
    expect(not missing, "every id is in the output",
           "%d missing, first %s" % (len(missing), missing[:10]))
    expect(committed(kafka, group, src) == hwm,
           "committed offsets equal the high watermarks")


@test
def scheduler_sigterm_commits_tells_workers_and_exits_0():
    src, out, group = unique("in"), unique("out"), unique("g")
    port = free_port()
    args = ["--job-records", "100", "--commit-interval-ms", "5000",
            "--heartbeat-ms", "200"] + GROUP_PROPS
    with Broker(topics={src: PARTITIONS, out: PARTITIONS,
                        src + ".dlq": 1}) as kafka:
        produce(kafka, src, records())
        hwm = high_watermarks(kafka, src)
        first = start_scheduler(kafka, src, group, port=port, drain=False,
                                name="scheduler-1", args=args)
        workers = [start_worker(kafka, first.endpoint, "sleep",
                                name="worker-%d" % i, output_topic=out,
                                plugin_opts={"us_per_record": 1000},
                                args=["--heartbeat-ms", "200"])
                   for i in (1, 2)]
        # Several jobs done; the 5 s commit interval has not come yet, so
        # only the shutdown commit can record them.
        wait_for(lambda: sum(len(log_events(w, "job done"))
                             for w in workers) >= 4, 60,
                 "workers to finish a few jobs")
        # The jobs each worker has finished by now. A worker's DONEs reach
        # the scheduler in order on its one connection: once `sluice
        # status` counts that many from each, every one of them arrived.
        cutoff = utc_now_iso()
        want = {log_events(w, "worker started")[0]["worker"]:
                sum(1 for e in log_events(w, "job done")
                    if e["_ts"] < cutoff) for w in workers}

        def arrived():
            rc, out, _ = run_cli([os.path.join(BIN, "sluice"), "status",
                                  "--scheduler", first.endpoint, "--json"])
            if rc != 0:
                return False
            got = {w["worker"]: w["jobs_done"]
                   for w in json.loads(out)["workers"]}
            return all(got.get(k, 0) >= n for k, n in want.items())
        wait_for(arrived, 10, "the scheduler to have the DONEs of %s" % want)
        t0 = time.monotonic()
        rc = first.stop(20)
        took = time.monotonic() - t0
        log_note("scheduler stopped in %.2f s" % took)
        expect(rc == 0, "the scheduler exits 0 on SIGTERM", "exit %d" % rc)
        revoked = {int(e["partition"]): int(e["committed"])
                   for e in log_events(first, "revoked")}
        expect(len(revoked) == PARTITIONS,
               "the scheduler logs what it committed at shutdown", revoked)
        snap = committed_with_metadata(kafka, group, src)
        got = {p: off for p, (off, _) in snap.items()}
        expect(got == revoked, "the group is committed where the scheduler "
               "said, before the next commit tick",
               "committed %s, logged %s" % (got, revoked))
        # Everything complete is in the commit: below the committed offset
        # or in the metadata's completed ranges.
        complete = {p: [(0, off)] + decode_meta(off, meta)
                    for p, (off, meta) in snap.items()}
        finished = [(int(e["partition"]), int(e["start"]), int(e["end"]))
                    for w in workers for e in log_events(w, "job done")
                    if e["_ts"] < cutoff]
        expect(finished, "some jobs were finished before the SIGTERM")
        missing = [j for j in finished
                   if not any(s <= j[1] and j[2] <= e
                              for s, e in complete[j[0]])]
        expect(not missing, "every job finished before the SIGTERM is in "
               "the shutdown commit", "not committed: %s; commit %s"
               % (missing, snap))
        log_note("shutdown commit covers %d finished jobs: %s"
                 % (len(finished), complete))
        for w in workers:
            wait_for(lambda: log_events(w, "scheduler said bye"), 5,
                     "%s to be told the scheduler is going" % w.name)
            expect(w.alive(), "%s keeps running" % w.name, w.returncode)

        second = start_scheduler(kafka, src, group, port=port,
                                 name="scheduler-2", args=args)
        rc = second.wait(120, watch=workers)
        expect(rc == 0, "a new scheduler finishes the drain with the same "
               "workers", "exit %d" % rc)
        joined = {e["worker"] for e in log_events(second, "worker joined")}
        expect(len(joined) == 2, "both workers joined the new scheduler",
               joined)
        check_output(kafka, out, group, src, hwm)


@test
def worker_sigterm_returns_queued_jobs_and_finishes_the_running_one():
    src, out, group = unique("in"), unique("out"), unique("g")
    with Broker(topics={src: PARTITIONS, out: PARTITIONS,
                        src + ".dlq": 1}) as kafka:
        produce(kafka, src, records())
        hwm = high_watermarks(kafka, src)
        sched = start_scheduler(kafka, src, group, args=[
            "--job-records", "250", "--heartbeat-ms", "200"])
        # 250 records x 4 ms: a job runs for about a second.
        leaving = start_worker(kafka, sched.endpoint, "sleep",
                               name="leaving", output_topic=out,
                               plugin_opts={"us_per_record": 4000},
                               args=["--credits", "2", "--grace-ms", "5000"])
        begun = wait_for(lambda: log_events(leaving, "job begin"), 60,
                         "the worker to begin a job")
        # Its second credit holds a queued job: the scheduler has two in
        # flight with it.

        def two_in_flight():
            rc, out, _ = run_cli([os.path.join(BIN, "sluice"), "status",
                                  "--scheduler", sched.endpoint, "--json"])
            return rc == 0 and any(w["in_flight"] >= 2 for w in
                                   json.loads(out)["workers"])
        wait_for(two_in_flight, 10, "a second job queued at the worker")
        t0 = time.monotonic()
        rc = leaving.stop(15)
        took = time.monotonic() - t0
        log_note("worker stopped in %.2f s" % took)
        expect(rc == 0, "the worker exits 0 on SIGTERM", "exit %d" % rc)
        expect(took < 5.0 + 1.0, "it stops within --grace-ms",
               "%.2f s" % took)
        done = {e["job"] for e in log_events(leaving, "job done")}
        expect(begun[0]["job"] in done, "the running job was finished, "
               "not dropped", begun[0])
        returned = log_events(sched, "job returned")
        expect(returned, "the queued job went back to the scheduler",
               sched.log_path)
        expect(not log_events(sched, "job failed, retrying"),
               "a returned job costs no attempt")

        rest = start_worker(kafka, sched.endpoint, "copy", name="rest",
                            output_topic=out)
        rc = sched.wait(120, watch=[rest])
        expect(rc == 0, "another worker finishes the drain", "exit %d" % rc)
        check_output(kafka, out, group, src, hwm)


@test
def scheduler_and_workers_stopped_together_exit_at_once():
    """SIGTERM to the scheduler and its workers at the same moment (a
    Helm uninstall, a node drain). A worker's idle lane stops at once; the
    scheduler's BYE then made the worker tell that lane to drop its jobs,
    and with the lane's thread gone the send blocked for ever: the worker
    hung until it was killed (figure 7 of the bench lost 15 s a round to
    it). Three rounds, since it is a race."""
    src, group = unique("in"), unique("g")
    with Broker(topics={src: PARTITIONS}) as kafka:
        produce(kafka, src, records())
        for rnd in range(3):
            sched = start_scheduler(kafka, src, group, drain=False,
                                    name="scheduler-%d" % rnd)
            workers = [start_worker(kafka, sched.endpoint, "noop",
                                    name="worker-%d-%d" % (rnd, k),
                                    args=["--concurrency", str(1 + k)])
                       for k in range(2)]
            if rnd == 0:
                wait_for(lambda: committed(kafka, group, src) ==
                         high_watermarks(kafka, src), 60,
                         "the backlog is done")
            wait_for(lambda: len(log_events(sched, "worker joined")) == 2,
                     30, "both workers joined")
            t0 = time.monotonic()
            for p in [sched] + workers:
                p.signal(signal.SIGTERM)
            for p in [sched] + workers:
                expect(p.wait(8) == 0, "%s exits 0 within 8 s of SIGTERM"
                       % p.name, p.log_tail() if hasattr(p, "log_tail")
                       else "")
            log_note("round %d: all stopped in %.2f s"
                     % (rnd, time.monotonic() - t0))


if __name__ == "__main__":
    main()
