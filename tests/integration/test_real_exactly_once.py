"""A worker's transactions (--exactly-once): a job's outputs, dead letters
and completion marker commit together, or nothing of them is seen.

One partition of 2,000 ids, jobs of 200 records read 50 a plugin call.
The fault plugin turns one record (offset 1,555, value BIG) into a 1 MiB
copy, which the worker's producer refuses (message.max.bytes 100,000): a
record fault, so the job fails after the copies of its first 155 records
were produced, runs again, is bisected, and the record is dead-lettered
in the end. Without --exactly-once those copies are delivered anyway and
every reader sees them again when the job re-runs; with it they were in
the job's transaction, which is aborted, so a read_committed reader must
find every other id exactly once in the output, the BIG id once in the
DLQ and one marker per job done in the state topic (a read_uncommitted
reader's count is reported: it sees the aborted copies that had reached
the broker before the abort, on real Kafka).

Then the same with a crash: the plugin aborts the worker on a record
(POISON), the supervising parent starts a new one whose lane producer
has the same transactional.id and so aborts the open transaction. A
read_committed reader never sees the crashed attempts' copies; what it
may see twice is a whole job that committed and ran again because its
DONE died with the worker (the DONE leaves at the main thread's next
turn; the scheduler checking the markers before it re-issues a job is
issue 22's next part): every duplicated id must lie in a range that was
done twice, none in a range done once (seen under ASan on Kafka: 200
duplicates, all of one such job).

A bad --transactional-id is refused at start in one line.

Real Kafka only (test_real_*): librdkafka 2.0.2's mock cluster shows the
records of aborted transactions to read_committed readers (DESIGN.md,
"Facts"), so there the outcome depends on whether the aborted copies had
left the producer before the abort."""
import collections
import os
import signal
import time

from harness import (BIN, Broker, consume_all, expect, log_events, log_note,
                     main, plugin_path, produce, run_cli, start_scheduler,
                     start_worker, test, unique, wait_for)

RECORDS = 2000
BAD = 1555


def run(fault, exactly_once, fencing=True):
    src, out, group = unique("in"), unique("out"), unique("g")
    dlq, state = src + ".dlq", unique("state")
    word = "BIG" if fault == "big_on" else "POISON"
    with Broker(topics={src: 1, out: 1, dlq: 1, state: 1}) as kafka:
        produce(kafka, src, ((str(i), word if i == BAD else "v%d" % i, 0)
                             for i in range(RECORDS)))
        sched = start_scheduler(kafka, src, group, args=[
            "--job-records", "200", "--max-attempts", "2",
            "--state-topic", state] + (
                ["--exactly-once"] if exactly_once and fencing else []))
        extra = ["--batch-size", "50", "-X", "message.max.bytes=100000",
                 "-X", "linger.ms=0", "--credits", "4"] + (
            ["--exactly-once"] if exactly_once else [])
        w = start_worker(kafka, sched.endpoint, "fault", output_topic=out,
                         plugin_opts={fault: word}, args=extra)
        rc = sched.wait(120, watch=[w])
        expect(rc == 0, "the drain finishes", "exit %s" % rc)
        w.stop(20)
        return dict(
            failed=len(log_events(w, "job failed")) + len(
                [line for line in w.log_lines() if "crash_on matched" in line]),
            committed=collections.Counter(
                int(r.key) for r in consume_all(kafka, out)),
            all=collections.Counter(
                int(r.key) for r in consume_all(kafka, out,
                                                isolation="read_uncommitted")),
            dead=[int(r.key) for r in consume_all(kafka, dlq)],
            markers=len([r for r in consume_all(kafka, state)
                         if not any(k == "sluice-record"
                                    for k, _ in r.headers)]),
            done=len(log_events(w, "job done")),
            grouped=len([e for e in log_events(w, "job done")
                         if e.get("committed") == "with_later"]),
            shared=len([e for e in log_events(w, "job failed")
                        if "shared with a later job" in e.get("reason", "")]),
            done_twice=sorted(
                r for r, n in collections.Counter(
                    (int(e["start"]), int(e["end"]))
                    for e in log_events(w, "job done")).items() if n > 1))


def duplicates(counter):
    return sum(c - 1 for c in counter.values() if c > 1)


def note(what, r):
    log_note("%s: %d failed attempts (%d for a shared transaction); "
             "read_committed: %d ids, %d duplicates; read_uncommitted: %d "
             "duplicates; DLQ %s; %d markers for %d jobs done, %d of them "
             "committed with a later job" % (
                 what, r["failed"], r["shared"], len(r["committed"]),
                 duplicates(r["committed"]), duplicates(r["all"]), r["dead"],
                 r["markers"], r["done"], r["grouped"]))


def expect_exactly_once(r):
    want = set(range(RECORDS)) - {BAD}
    expect(set(r["committed"]) == want and duplicates(r["committed"]) == 0,
           "read_committed: every other id exactly once",
           "%d missing, %d duplicates, the bad id there: %s"
           % (len(want - set(r["committed"])), duplicates(r["committed"]),
              BAD in r["committed"]))
    expect(r["dead"] == [BAD], "the DLQ holds the bad id once", r["dead"])
    expect(r["markers"] == r["done"], "one committed marker per job done",
           "%d markers, %d jobs done" % (r["markers"], r["done"]))


@test
def a_failed_jobs_outputs_are_never_read_committed():
    r = run("big_on", exactly_once=True)
    note("exactly-once", r)
    expect(r["failed"] >= 2, "jobs failed on the record", r["failed"])
    expect(r["grouped"] > 0, "jobs done while the next one was queued "
           "committed with it (group commit)", r["grouped"])
    expect_exactly_once(r)


@test
def without_it_a_failed_jobs_outputs_stay():
    r = run("big_on", exactly_once=False)
    note("at-least-once", r)
    expect(duplicates(r["committed"]) > 0,
           "the failed attempts' copies are read as duplicates",
           duplicates(r["committed"]))


@test
def a_crashed_jobs_transaction_is_aborted_and_its_range_checked():
    r = run("crash_on", exactly_once=True)
    note("exactly-once, crashes", r)
    expect(r["failed"] >= 2, "the record crashed the worker", r["failed"])
    expect_exactly_once(r)


@test
def without_fencing_a_lost_done_runs_a_committed_job_again():
    r = run("crash_on", exactly_once=True, fencing=False)
    note("worker transactions only, crashes", r)
    want = set(range(RECORDS)) - {BAD}
    expect(set(r["committed"]) == want and BAD not in r["committed"],
           "read_committed: every other id, the poison one not",
           "%d missing" % len(want - set(r["committed"])))
    twice = [i for i, c in r["committed"].items() if c > 1 and not any(
        a <= i < b for a, b in r["done_twice"])]
    log_note("ranges done twice (a DONE lost with the worker): %s"
             % r["done_twice"])
    expect(not twice, "no id of a crashed attempt is read twice: every "
           "duplicate is a whole job done twice",
           "%d such ids, first %s" % (len(twice), twice[:10]))
    expect(r["dead"] == [BAD], "the DLQ holds the poison id once", r["dead"])


ZOMBIE = 600


def zombie(fencing):
    """Worker A begins a job of 200 records, read in one plugin call of
    4 s (20 ms a record), and is frozen (SIGSTOP) a second into it, its
    transaction open; the scheduler loses it (heartbeats), takes the job
    back and gives it to worker B. A is resumed once B has begun: its
    plugin call returns at once (its sleep ran out meanwhile) and it goes
    on to produce the copies and commit, before it hears that the
    scheduler dropped it."""
    src, out, group = unique("in"), unique("out"), unique("g")
    state = unique("state")
    with Broker(topics={src: 1, out: 1, src + ".dlq": 1, state: 1}) as kafka:
        produce(kafka, src, ((str(i), "v%d" % i, 0) for i in range(ZOMBIE)))
        sched = start_scheduler(kafka, src, group, args=[
            "--job-records", "200", "--window", "1", "--state-topic", state,
            "--heartbeat-ms", "300", "--liveness", "4",
            "--job-timeout-ms", "60000"] + (
                ["--exactly-once"] if fencing else []))
        #  Not before the assignment: a takeover fences every id in the
        #  state topic's rosters, A's included (its first job would fail).
        wait_for(lambda: log_events(sched, "assigned"), 30, "assignment")
        common = ["--exactly-once", "--supervise", "off", "--credits", "1",
                  "--batch-size", "200", "-X", "linger.ms=0",
                  "--heartbeat-ms", "300"]
        a = start_worker(kafka, sched.endpoint, "sleep", name="zombie",
                         output_topic=out, plugin_opts={"us_per_record": 20000},
                         args=common + ["--transactional-id", unique("a")])
        wait_for(lambda: log_events(a, "job begin"), 30, "A begins a job")
        time.sleep(1.0)
        a.signal(signal.SIGSTOP)
        b = start_worker(kafka, sched.endpoint, "sleep", name="b",
                         output_topic=out, plugin_opts={"us_per_record": 2000},
                         args=common + ["--transactional-id", unique("b")])
        wait_for(lambda: log_events(b, "job begin"), 60, "B is given the job")
        a.signal(signal.SIGCONT)
        rc = sched.wait(120, watch=[b])
        expect(rc == 0, "the drain finishes", "exit %s" % rc)
        ended = ("job failed", "job done", "job abandoned")
        wait_for(lambda: any(log_events(a, e) for e in ended), 60,
                 "A ends its job")
        a.stop(20)
        b.stop(20)
        return dict(
            a_failed=log_events(a, "job failed"),
            a_done=log_events(a, "job done"),
            fenced=[line for line in sched.log_lines()
                    if "range fenced" in line],
            committed=collections.Counter(
                int(r.key) for r in consume_all(kafka, out)))


@test
def a_zombie_workers_commit_is_refused():
    r = zombie(fencing=True)
    log_note("A failed %s; scheduler: %s; read_committed %d ids, %d "
             "duplicates" % ([e.get("reason") for e in r["a_failed"]],
                             r["fenced"][:2], len(r["committed"]),
                             duplicates(r["committed"])))
    expect(r["fenced"], "the scheduler fenced A before the range ran again")
    expect(not [e for e in r["a_done"] if e.get("start") == "0"] and
           any("fenced" in e.get("reason", "") and e.get("start") == "0"
               for e in r["a_failed"]),
           "A's transaction was refused as fenced",
           [e.get("reason") for e in r["a_failed"]])
    expect(set(r["committed"]) == set(range(ZOMBIE)) and
           duplicates(r["committed"]) == 0,
           "read_committed: every id exactly once, nothing of A's",
           "%d missing, %d duplicates" % (
               ZOMBIE - len(set(r["committed"])), duplicates(r["committed"])))


@test
def without_fencing_a_zombie_commits_its_copy():
    r = zombie(fencing=False)
    log_note("A done %d, failed %d; read_committed %d duplicates"
             % (len(r["a_done"]), len(r["a_failed"]),
                duplicates(r["committed"])))
    expect(duplicates(r["committed"]) > 0,
           "A's resumed commit is read as duplicates",
           duplicates(r["committed"]))


@test
def a_bad_transactional_id_is_refused():
    rc, out, err = run_cli([os.path.join(BIN, "sluice-worker"), "--brokers",
                            "127.0.0.1:9", "--scheduler", "tcp://127.0.0.1:9",
                            "--plugin", plugin_path("noop"), "--exactly-once",
                            "--transactional-id", "x" * 300])
    lines = err.strip().splitlines()
    expect(rc == 2 and len(lines) == 1 and "--transactional-id" in lines[0],
           "one line on stderr says what is wrong, exit 2",
           "exit %s: %r" % (rc, err))


@test
def a_scheduler_without_a_state_topic_is_refused():
    rc, out, err = run_cli([os.path.join(BIN, "sluice-scheduler"), "--brokers",
                            "127.0.0.1:9", "--topic", "t", "--group", "g",
                            "--exactly-once"])
    lines = err.strip().splitlines()
    expect(rc == 2 and len(lines) == 1 and "--state-topic" in lines[0],
           "one line on stderr says --exactly-once needs --state-topic, "
           "exit 2", "exit %s: %r" % (rc, err))


if __name__ == "__main__":
    main()
