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

from harness import (BIN, Broker, consume_all, expect, log_events, log_note,
                     main, plugin_path, produce, run_cli, start_scheduler,
                     start_worker, test, unique)

RECORDS = 2000
BAD = 1555


def run(fault, exactly_once):
    src, out, group = unique("in"), unique("out"), unique("g")
    dlq, state = src + ".dlq", unique("state")
    word = "BIG" if fault == "big_on" else "POISON"
    with Broker(topics={src: 1, out: 1, dlq: 1, state: 1}) as kafka:
        produce(kafka, src, ((str(i), word if i == BAD else "v%d" % i, 0)
                             for i in range(RECORDS)))
        sched = start_scheduler(kafka, src, group, args=[
            "--job-records", "200", "--max-attempts", "2",
            "--state-topic", state])
        extra = ["--batch-size", "50", "-X", "message.max.bytes=100000",
                 "-X", "linger.ms=0"] + (
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
            markers=len(consume_all(kafka, state)),
            done=len(log_events(w, "job done")),
            done_twice=sorted(
                r for r, n in collections.Counter(
                    (int(e["start"]), int(e["end"]))
                    for e in log_events(w, "job done")).items() if n > 1))


def duplicates(counter):
    return sum(c - 1 for c in counter.values() if c > 1)


def note(what, r):
    log_note("%s: %d failed attempts; read_committed: %d ids, %d duplicates; "
             "read_uncommitted: %d duplicates; DLQ %s; %d markers for %d "
             "jobs done" % (what, r["failed"], len(r["committed"]),
                            duplicates(r["committed"]), duplicates(r["all"]),
                            r["dead"], r["markers"], r["done"]))


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
    expect_exactly_once(r)


@test
def without_it_a_failed_jobs_outputs_stay():
    r = run("big_on", exactly_once=False)
    note("at-least-once", r)
    expect(duplicates(r["committed"]) > 0,
           "the failed attempts' copies are read as duplicates",
           duplicates(r["committed"]))


@test
def a_crashed_jobs_transaction_is_aborted_by_its_successor():
    r = run("crash_on", exactly_once=True)
    note("exactly-once, crashes", r)
    expect(r["failed"] >= 2, "the record crashed the worker", r["failed"])
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


if __name__ == "__main__":
    main()
