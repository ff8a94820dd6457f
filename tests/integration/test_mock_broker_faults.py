"""Broker faults injected mid-drain lose nothing and skip no commit.

Each test drains 4 partitions with 2 workers (the sleep plugin copies every
record to the output topic, slowly enough that the drain lasts several
seconds) and, once the group has committed part of the way, injects one
kind of fault through `sluice kafka`'s control channel (librdkafka's mock
API: rd_kafka_mock_push_request_errors, rd_kafka_mock_broker_set_down/up,
rd_kafka_mock_broker_set_rtt). Throughout, a sampler reads the group's
committed offsets: they may stall but never move backwards. At the end
every id is in the output (read by an independent client), the committed
offsets equal the high watermarks, and the scheduler exits 0.

Only the embedded broker has the control channel, so this file runs on
the embedded broker only (test_mock_*, see tests/tests.cmake)."""
import collections
import json
import os
import threading
import time

from harness import (BIN, Broker, committed, consume_all, expect,
                     high_watermarks, log_events, log_note, main,
                     metrics_port, produce, run_cli, scrape_metrics,
                     start_scheduler, start_worker,
                     test, unique, wait_for)

PARTITIONS = 4
PER_PARTITION = 3000
US_PER_RECORD = 250     # 2 workers: about 3 s of work in all
DRAIN_TIMEOUT = 120
SCHED_ARGS = ["--job-records", "200", "--window", "4",
              "--commit-interval-ms", "100", "--heartbeat-ms", "250"]


def records():
    for p in range(PARTITIONS):
        for i in range(PER_PARTITION):
            rid = p * PER_PARTITION + i
            yield (str(rid), str(rid), p)


class CommitSampler(threading.Thread):
    """Samples the committed offsets every 100 ms; records a regression."""

    def __init__(self, kafka, group, topic):
        super().__init__(daemon=True)
        self.kafka, self.group, self.topic = kafka, group, topic
        self.last = {}
        self.samples = 0
        self.regressions = []
        self.halt = threading.Event()

    def run(self):
        while not self.halt.wait(0.1):
            try:
                now = committed(self.kafka, self.group, self.topic)
            except Exception:  # the broker may be down: try again
                continue
            self.samples += 1
            for p, off in now.items():
                prev = self.last.get(p)
                if prev is not None and off < prev:
                    self.regressions.append((p, prev, off))
                self.last[p] = off if prev is None else max(off, prev)

    def stop(self):
        self.halt.set()
        self.join(10)


def drain_with_fault(inject, before_start=None, worker_args=(), result=None,
                     sched_args=()):
    """Run a drain and call inject(kafka, sched) once a tenth of it is
    committed (before_start(kafka) runs after the data is in, before the
    scheduler starts). Checks that nothing is lost; returns the scheduler
    Proc and the seconds the drain took after the fault. worker_args go to
    both workers, sched_args to the scheduler; result, a dict, gets the
    workers ("workers") and the dead letters ("dlq": the records in the
    DLQ topic, read at the end)."""
    src, out, group = unique("in"), unique("out"), unique("g")
    total = PARTITIONS * PER_PARTITION
    with Broker(topics={src: PARTITIONS, out: PARTITIONS,
                        src + ".dlq": 1}) as kafka:
        expect(produce(kafka, src, records()) == total, "input produced")
        hwm = high_watermarks(kafka, src)
        if before_start:
            before_start(kafka)
        sched = start_scheduler(kafka, src, group,
                                args=SCHED_ARGS + list(sched_args))
        workers = [start_worker(kafka, sched.endpoint, "sleep",
                                name="worker-%d" % i, output_topic=out,
                                plugin_opts={"us_per_record": US_PER_RECORD},
                                args=["--heartbeat-ms", "250"] +
                                list(worker_args))
                   for i in (1, 2)]
        if result is not None:
            result["workers"] = workers
        sampler = CommitSampler(kafka, group, src)
        sampler.start()

        def progressed():
            expect(sched.alive(), "the scheduler is still draining",
                   "exit %s: %s" % (sched.returncode, sched.log_tail()))
            return sum(max(v, 0) for v in sampler.last.values()) >= total / 10
        wait_for(progressed, 60, "a tenth of the drain to be committed")
        t0 = time.monotonic()
        inject(kafka, sched)
        rc = sched.wait(DRAIN_TIMEOUT, watch=workers)
        took = time.monotonic() - t0
        sampler.stop()
        expect(rc == 0, "the scheduler exits 0 after the drain",
               "exit %d; log %s" % (rc, sched.log_path))
        for w in workers:
            expect(w.alive(), "%s survived the fault" % w.name)

        seen = collections.Counter(int(r.key) for r in consume_all(kafka, out))
        missing = [i for i in range(total) if seen[i] == 0]
        dups = sum(c - 1 for c in seen.values() if c > 1)
        log_note("fault recovered: drain finished %.1f s after the fault; "
                 "%d records, %d duplicates, %d commit samples"
                 % (took, total, dups, sampler.samples))
        expect(not missing, "every id is in the output",
               "%d missing, first %s" % (len(missing), missing[:10]))
        expect(not sampler.regressions, "committed offsets never go back",
               sampler.regressions[:5])
        got = committed(kafka, group, src)
        expect(got == hwm, "committed offsets equal the high watermarks",
               "committed %s, high watermarks %s" % (got, hwm))
        if result is not None:
            result["dlq"] = consume_all(kafka, src + ".dlq")
        return sched, took


@test
def failed_commits_are_retried_not_skipped():
    # The coordinator refuses the next commits; the scheduler must send
    # the same offsets again until one is accepted.
    def inject(kafka, sched):
        kafka.control("errors OffsetCommit 6 GROUP_AUTHORIZATION_FAILED")
    sched, _ = drain_with_fault(inject)
    failed = log_events(sched, "commit failed, will retry")
    log_note("commit failures logged: %d" % len(failed))
    expect(failed, "the scheduler saw the refused commits and said so",
           sched.log_path)


@test
def list_offsets_errors_delay_but_do_not_break_the_drain():
    def before(kafka):
        kafka.control("errors ListOffsets 3 REQUEST_TIMED_OUT")

    def inject(kafka, sched):
        kafka.control("errors ListOffsets 5 NOT_LEADER_FOR_PARTITION")
    sched, _ = drain_with_fault(inject, before_start=before)
    retried = [e for m in ("cannot read log start offsets",
                           "cannot read end offsets", "end offsets not known")
               for e in log_events(sched, m)]
    log_note("ListOffsets failures seen by the scheduler: %d" % len(retried))
    expect(retried, "the scheduler met the failing ListOffsets and went on",
           sched.log_path)


@test
def fetch_errors_are_retried_by_the_workers():
    met = []

    # The broker's own error stack (the only fetching clients are the
    # workers: the scheduler never fetches), so the test can ask how many
    # are left: all 20 must have been answered to the workers' fetches.
    def inject(kafka, sched):
        kafka.control("broker-errors 1 Fetch 10 NOT_LEADER_FOR_PARTITION")
        time.sleep(0.5)
        kafka.control("broker-errors 1 Fetch 10 REQUEST_TIMED_OUT")
        t0 = time.monotonic()
        wait_for(lambda: kafka.control("errors-left 1 Fetch") == "ok 0", 30,
                 "the workers' fetches to meet all 20 errors")
        met.append(time.monotonic() - t0)
    drain_with_fault(inject)
    log_note("the workers' fetches met all 20 errors %.1f s after the last "
             "was pushed" % met[0])


@test
def produce_errors_fail_the_job_or_are_retried():
    # Retriable errors are retried by the idempotent producer; the others
    # fail the job, which is run again: duplicates, never a loss.
    def inject(kafka, sched):
        kafka.control("errors Produce 5 NOT_ENOUGH_REPLICAS")
        time.sleep(0.5)
        kafka.control("errors Produce 2 MSG_SIZE_TOO_LARGE")
    drain_with_fault(inject)


@test
def an_output_that_refuses_is_no_records_fault():
    """The output refuses every produce for a while (an ACL missing, then
    added): the jobs fail for their destination, not for a record. None
    spends an attempt, none is bisected, nothing is dead-lettered; the
    scheduler pauses dispatch with a backoff, says why, and resumes when
    produces pass again."""
    result = {}

    def refused():
        return [e for w in result["workers"]
                for e in log_events(w, "job failed")
                if "authorization" in e.get("reason", "")]

    def inject(kafka, sched):
        kafka.control("errors Produce 40 TOPIC_AUTHORIZATION_FAILED")
        wait_for(refused, 30, "a job to fail on the refused output")
    sched, took = drain_with_fault(inject, result=result)
    for what in ("job failed, retrying", "job keeps failing, bisecting",
                 "offset keeps failing, dead-lettering"):
        expect(not log_events(sched, what), "no job was charged for the "
               "output's refusal (%s)" % what, sched.log_path)
    outage = log_events(sched, "output refused, pausing dispatch; no "
                        "attempt is charged")
    expect(outage and outage[0]["code"] == "TOPIC_AUTHORIZATION_FAILED",
           "the outage is named with its Kafka error", outage)
    back = log_events(sched, "output accepts again, dispatch resumes")
    expect(back, "the scheduler says when the output accepts again")
    log_note("outage %s ms, %s jobs deferred, none charged; %d jobs "
             "failed on the refused output" % (back[0]["outage_ms"],
                                               back[0]["jobs_deferred"],
                                               len(refused())))


INPUT_FAULT_S = 4.0     # the input refuses this long: two leases
INPUT_LEASE_MS = 2000


@test
def an_input_that_refuses_is_no_records_fault():
    """The input topic refuses every fetch for a while (an ACL missing,
    then added: TOPIC_AUTHORIZATION_FAILED on Fetch for 4 s, twice the
    jobs' lease). The jobs cannot read their records for a reason of the
    cluster, not of a record: none spends an attempt, none is bisected,
    nothing is dead-lettered; the worker says so at once (DONE, fault
    INFRA), the scheduler pauses dispatch with a backoff and says why
    ("input T: CODE", not "output") in its log, /metrics and `sluice
    status`, and resumes once fetches pass again."""
    result = {}
    seen = {"status": [], "deferred": 0.0, "gauge": 0.0, "charged": {}}
    charged = ("failed", "retried", "expired", "bisected", "dead_lettered")

    def inject(kafka, sched):
        port = metrics_port(sched)
        kafka.control("errors Fetch 1000 TOPIC_AUTHORIZATION_FAILED")
        t_end = time.monotonic() + INPUT_FAULT_S
        while time.monotonic() < t_end:
            m = scrape_metrics(port) or {}
            seen["deferred"] = max(seen["deferred"], m.get(
                'sluice_jobs_total{outcome="deferred"}', 0))
            seen["gauge"] = max(seen["gauge"],
                                m.get("sluice_input_outage_seconds", 0))
            for k in charged:
                v = m.get('sluice_jobs_total{outcome="%s"}' % k, 0)
                if v:
                    seen["charged"][k] = v
            rc, out, _ = run_cli([os.path.join(BIN, "sluice"), "status",
                                  "--scheduler", sched.endpoint, "--json"])
            if rc == 0 and json.loads(out).get("outage"):
                seen["status"].append(json.loads(out)["outage"])
            time.sleep(0.2)
        kafka.control("clear-errors Fetch")
    sched, took = drain_with_fault(
        inject, result=result,
        sched_args=["--job-timeout-ms", str(INPUT_LEASE_MS),
                    "--metrics-addr", "127.0.0.1:0"])
    expect(not seen["charged"], "no job was charged while the input "
           "refused (sluice_jobs_total)", seen["charged"])
    for what in ("job failed, retrying", "job keeps failing, bisecting",
                 "offset keeps failing, dead-lettering"):
        expect(not log_events(sched, what), "no job was charged for the "
               "input's refusal (%s)" % what, sched.log_path)
    expect(not result["dlq"], "nothing was dead-lettered",
           "%d records in the DLQ" % len(result["dlq"]))
    failed = [e for w in result["workers"] for e in log_events(w, "job failed")]
    expect(failed and all("TOPIC_AUTHORIZATION_FAILED" in e.get("reason", "")
                          or "authoriz" in e.get("reason", "").lower()
                          for e in failed),
           "the workers failed their jobs on the refused fetch, and on "
           "nothing else", failed[:5])
    outage = log_events(sched, "input refused, pausing dispatch; no "
                        "attempt is charged")
    expect(outage and outage[0]["code"] == "TOPIC_AUTHORIZATION_FAILED",
           "the outage is named with its Kafka error", outage)
    expect(not log_events(sched, "output refused, pausing dispatch; no "
                          "attempt is charged"),
           "the outage is the input's, not the output's")
    back = log_events(sched, "input readable again, dispatch resumes")
    expect(back, "the scheduler says when the input can be read again")
    expect(seen["deferred"] >= 1,
           'sluice_jobs_total{outcome="deferred"} counted the jobs',
           seen["deferred"])
    expect(seen["gauge"] > 0, "sluice_input_outage_seconds showed it")
    expect(seen["status"] and seen["status"][0].startswith("input ") and
           "TOPIC_AUTHORIZATION_FAILED" in seen["status"][0],
           "sluice status shows the input's outage", seen["status"][:3])
    # A job done ends an outage (one whose records were fetched before
    # the fault may): the scheduler may pause more than once.
    log_note("input refused %.1f s: %d jobs failed on it in the workers, "
             "%d deferred (metric %d), none charged, 0 dead letters; "
             "%d outage(s), "
             "%d ms paused in all (status: %r); drain done %.1f s after the "
             "fault began"
             % (INPUT_FAULT_S, len(failed),
                sum(int(e["jobs_deferred"]) for e in back),
                seen["deferred"], len(back),
                sum(int(e["outage_ms"]) for e in back), seen["status"][-1],
                took))


@test
def broker_down_for_two_seconds():
    def inject(kafka, sched):
        kafka.control("broker down all")
        time.sleep(2)
        expect(sched.alive(), "the scheduler waits out the outage")
        kafka.control("broker up all")
    sched, took = drain_with_fault(inject)
    expect(took >= 2, "the drain could not finish while the broker was down",
           "%.1f s" % took)


@test
def slow_broker():
    window = []

    def inject(kafka, sched):
        kafka.control("rtt all 300")
        window.append(time.time())
        time.sleep(2)
        kafka.control("rtt all 0")
        window.append(time.time())
    got = {}
    drain_with_fault(inject, result=got)
    # A job's outputs are acknowledged before its DONE: with 300 ms on
    # every round trip, the jobs that ran in the window took that long at
    # least (about 60 ms otherwise: 200 records at 250 us).
    slow = [e for w in got["workers"] for e in log_events(w, "job done")
            if int(e["ms"]) >= 300]
    log_note("jobs that took 300 ms or more: %d" % len(slow))
    expect(slow, "jobs run during the fault met the 300 ms round trips",
           [e["ms"] for w in got["workers"]
            for e in log_events(w, "job done")][:40])


@test
def the_shutdown_commit_is_retried():
    # No periodic commit comes (60 s interval): only the commit made at
    # SIGTERM can record the work, and the broker refuses it twice.
    src, out, group = unique("in"), unique("out"), unique("g")
    with Broker(topics={src: PARTITIONS, out: PARTITIONS,
                        src + ".dlq": 1}) as kafka:
        produce(kafka, src, records())
        sched = start_scheduler(kafka, src, group, drain=False, args=[
            "--job-records", "200", "--commit-interval-ms", "60000"])
        worker = start_worker(kafka, sched.endpoint, "copy",
                              output_topic=out)
        wait_for(lambda: len(log_events(worker, "job done")) >= 8, 60,
                 "the worker to finish some jobs")
        kafka.control("errors OffsetCommit 2 GROUP_AUTHORIZATION_FAILED")
        expect(sched.stop() == 0, "the scheduler exits 0 on SIGTERM")
        failed = log_events(sched, "commit failed, will retry")
        expect(len(failed) >= 2, "the first shutdown commits were refused",
               len(failed))
        revoked = {int(e["partition"]): int(e["committed"])
                   for e in log_events(sched, "revoked")}
        got = committed(kafka, group, src)
        log_note("shutdown commit after %d refusals: %s" % (len(failed), got))
        expect(got == revoked and sum(got.values()) > 0,
               "a later try committed what the scheduler had complete",
               "committed %s, logged %s" % (got, revoked))


if __name__ == "__main__":
    main()
