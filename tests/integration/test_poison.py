"""A record that crashes (or hangs) every worker is isolated and
dead-lettered.

One partition of 2,000 records; the value of one record contains POISON,
and the `fault` plugin aborts the worker process on it. Workers are
restarted when they die, as Kubernetes would. The scheduler notices each
dead worker by its missed heartbeats, retries the job --max-attempts times,
then bisects the range until the single offset is isolated, and sends it to
a worker in dead-letter mode, which copies it to the DLQ with headers
without running the plugin. Every other record reaches the output, and the
drain completes.

The hang variant: the plugin blocks for ever on the record. The job's lease
(--job-timeout-ms) expires, the scheduler takes the job back and cancels it;
the worker, whose plugin ignores the cancel for longer than --grace-ms,
exits so it can be restarted, and the same isolation follows."""
import collections
import time

from harness import (Broker, committed, consume_all, expect, high_watermarks,
                     log_events, log_note, main, produce, start_scheduler,
                     start_worker, test, unique, wait_for)

RECORDS = 2000
POISON_AT = 1234


def value(i):
    return "record %d%s" % (i, " POISON" if i == POISON_AT else "")


def run_fault(fault, sched_args, worker_args):
    src, out, group = unique("in"), unique("out"), unique("g")
    dlq = src + ".dlq"
    with Broker(topics={src: 1, out: 1, dlq: 1}) as kafka:
        produce(kafka, src, ((str(i), value(i), 0) for i in range(RECORDS)))
        hwm = high_watermarks(kafka, src)
        sched = start_scheduler(kafka, src, group, args=[
            "--max-attempts", "2", "--heartbeat-ms", "200", "--liveness",
            "3"] + sched_args)
        crashes = collections.Counter()
        workers = {}

        def spawn(slot):
            crashes[slot] += 1
            workers[slot] = start_worker(
                kafka, sched.endpoint, "fault", output_topic=out,
                name="worker-%d-%d" % (slot, crashes[slot]),
                plugin_opts={fault: "POISON"},
                args=["--heartbeat-ms", "200", "--supervise", "off"] +
                worker_args)

        for slot in (1, 2):
            spawn(slot)

        def supervise():
            for slot, w in list(workers.items()):
                if not w.alive():
                    spawn(slot)
            return sched.returncode is not None
        wait_for(supervise, 150, "the drain finishes while crashed workers "
                 "are restarted", interval=0.2)
        expect(sched.returncode == 0, "the scheduler exits 0",
               "exit %s" % sched.returncode)
        total_crashes = sum(crashes.values()) - len(crashes)
        log_note("worker crashes: %d" % total_crashes)
        expect(total_crashes >= 2, "the poison record crashed workers",
               total_crashes)

        dead = consume_all(kafka, dlq)
        expect(len(dead) == 1, "exactly one record is dead-lettered",
               [(r.key, r.value) for r in dead])
        headers = {k: (v or b"").decode() for k, v in dead[0].headers or []}
        expect(dead[0].value == value(POISON_AT).encode(),
               "the DLQ holds the raw poison record", dead[0].value)
        expect(headers.get("sluice.source.offset") == str(POISON_AT) and
               headers.get("sluice.source.topic") == src and
               headers.get("sluice.source.partition") == "0" and
               "sluice.reason" in headers and "sluice.attempts" in headers,
               "the DLQ record carries its source and reason headers",
               headers)

        seen = set(int(r.key) for r in consume_all(kafka, out))
        missing = sorted(set(range(RECORDS)) - {POISON_AT} - seen)
        expect(not missing, "every other record is in the output",
               missing[:20])
        expect(POISON_AT not in seen, "the poison record is not in the output")
        expect(committed(kafka, group, src) == hwm,
               "the group is committed to the end")
        bisected = [e for e in log_events(sched, "job keeps failing, "
                                          "bisecting")]
        expect(bisected, "the scheduler bisected the failing range")
        for w in workers.values():
            w.stop(20)
        return sched


@test
def a_record_too_large_for_the_output_is_its_own_fault():
    """A record the plugin turns into one too large for the output (its
    copy is 1 MiB; the workers' producers take 100,000 bytes) is bad on its
    own: a record fault, unlike the output refusing everything. It is
    isolated like a crashing record and dead-lettered raw, with the
    producer's reason; the rest reaches the output."""
    src, out, group = unique("in"), unique("out"), unique("g")
    dlq = src + ".dlq"
    with Broker(topics={src: 1, out: 1, dlq: 1}) as kafka:
        produce(kafka, src, ((str(i), "record %d%s" % (
            i, " BIG" if i == POISON_AT else ""), 0) for i in range(RECORDS)))
        sched = start_scheduler(kafka, src, group, args=[
            "--max-attempts", "2", "--job-records", "500"])
        workers = [start_worker(kafka, sched.endpoint, "fault",
                                name="worker-%d" % i, output_topic=out,
                                plugin_opts={"big_on": "BIG"},
                                args=["-X", "message.max.bytes=100000"])
                   for i in (1, 2)]
        expect(sched.wait(120, watch=workers) == 0, "the drain finishes")
        dead = consume_all(kafka, dlq)
        expect(len(dead) == 1 and int(dead[0].key) == POISON_AT,
               "exactly the big record is dead-lettered",
               [(r.key, r.value) for r in dead])
        headers = {k: (v or b"").decode() for k, v in dead[0].headers or []}
        expect("too large" in headers.get("sluice.reason", ""),
               "its reason says it was too large for the output", headers)
        expect(not log_events(sched, "output refused, pausing dispatch; no "
                              "attempt is charged"),
               "not taken for an outage of the output", sched.log_path)
        seen = set(int(r.key) for r in consume_all(kafka, out))
        missing = sorted(set(range(RECORDS)) - {POISON_AT} - seen)
        expect(not missing, "every other record is in the output",
               missing[:20])


@test
def a_crashing_record_alone_is_charged():
    """Supervised workers (the default): the parent of a worker that
    crashed tells the scheduler the records its plugin was on, and the
    scheduler sees the connection close at once. One poison record in a
    1,000-record job: the first crash pins the plugin call's 500 records,
    which come back one record a call; the next names the record, which is
    dead-lettered after --max-attempts crashes with the signal in its
    reason. Its neighbours are never charged, nothing is bisected, and no
    crash waits for a heartbeat or a lease (both left at their defaults).
    The workers are restarted here if they die, as Kubernetes would, so
    the same test runs against a worker without a supervisor (the time it
    takes is the figure to compare)."""
    src, out, group = unique("in"), unique("out"), unique("g")
    dlq = src + ".dlq"
    attempts = 3
    with Broker(topics={src: 1, out: 1, dlq: 1}) as kafka:
        produce(kafka, src, ((str(i), value(i), 0) for i in range(RECORDS)))
        t0 = time.monotonic()
        sched = start_scheduler(kafka, src, group, args=[
            "--max-attempts", str(attempts), "--job-records", "1000"])
        exits = collections.Counter()
        workers = {}

        def spawn(slot):
            workers[slot] = start_worker(
                kafka, sched.endpoint, "fault", output_topic=out,
                name="worker-%d-%d" % (slot, exits[slot]),
                plugin_opts={"crash_on": "POISON"})
        for slot in (1, 2):
            spawn(slot)

        def restart():
            for slot, w in list(workers.items()):
                if not w.alive():
                    exits[slot] += 1
                    spawn(slot)
            return sched.returncode is not None
        wait_for(restart, 300, "the drain finishes", interval=0.2)
        took = time.monotonic() - t0
        expect(sched.returncode == 0, "the scheduler exits 0",
               "exit %s" % sched.returncode)
        deaths = []
        for w in workers.values():
            deaths += log_events(w, "worker died")
        crashes = len([d for d in deaths if d.get("at_fault") == "yes"])
        log_note("one poison record in a 1,000-record job: %d crashes, "
                 "%d worker exits, drained in %.1f s"
                 % (crashes, sum(exits.values()), took))
        expect(crashes == attempts,
               "the record crashed the plugin --max-attempts times, no more",
               "%d crashes; %s" % (crashes, deaths))
        expect(not log_events(sched, "job keeps failing, bisecting"),
               "nothing was bisected", sched.log_path)
        charged = log_events(sched, "plugin crashed on records, charging "
                             "them alone")
        expect(charged and all(int(c["start"]) <= POISON_AT < int(c["end"])
                               for c in charged) and
               (int(charged[-1]["start"]), int(charged[-1]["end"])) ==
               (POISON_AT, POISON_AT + 1),
               "only ranges holding the poison record were charged, "
               "down to the record itself", charged)
        dead = consume_all(kafka, dlq)
        expect(len(dead) == 1 and int(dead[0].key) == POISON_AT,
               "exactly the poison record is dead-lettered",
               [(r.key, r.value) for r in dead])
        headers = {k: (v or b"").decode() for k, v in dead[0].headers or []}
        expect("SIGABRT" in headers.get("sluice.reason", ""),
               "its reason names the signal", headers)
        seen = set(int(r.key) for r in consume_all(kafka, out))
        missing = sorted(set(range(RECORDS)) - {POISON_AT} - seen)
        expect(not missing, "every other record is in the output",
               missing[:20])
        for w in workers.values():
            w.stop(20)


@test
def a_killed_worker_is_noticed_at_once():
    """A worker SIGKILLed in the middle of a job: its connection closes,
    and the scheduler drops it at once (its socket monitor), not after
    --heartbeat-ms x --liveness (10 s here); the job it held goes to
    another worker."""
    src, out, group = unique("in"), unique("out"), unique("g")
    with Broker(topics={src: 1, out: 1}) as kafka:
        produce(kafka, src, ((str(i), str(i), 0) for i in range(400)))
        sched = start_scheduler(kafka, src, group, args=[
            "--job-records", "200", "--heartbeat-ms", "1000",
            "--liveness", "10"])
        slow = start_worker(kafka, sched.endpoint, "sleep", name="slow",
                            output_topic=out,
                            plugin_opts={"us_per_record": 20000},
                            args=["--supervise", "off"])
        wait_for(lambda: log_events(slow, "job begin"), 60,
                 "the worker begins a 4 s job")
        killed = time.monotonic()
        slow.kill()
        wait_for(lambda: [e for e in log_events(sched, "worker gone")
                          if e.get("reason") == "connection closed"], 8,
                 "the scheduler sees the connection close", interval=0.05)
        noticed = time.monotonic() - killed
        log_note("a killed worker was dropped %.2f s after SIGKILL "
                 "(liveness window 10 s)" % noticed)
        expect(noticed < 2.0, "dropped within 2 s of the kill", noticed)
        other = start_worker(kafka, sched.endpoint, "sleep", name="other",
                             output_topic=out,
                             plugin_opts={"us_per_record": 0})
        expect(sched.wait(60, watch=[other]) == 0, "the drain finishes")
        seen = set(int(r.key) for r in consume_all(kafka, out))
        expect(seen == set(range(400)), "every record is in the output",
               sorted(set(range(400)) - seen)[:10])
        other.stop(20)


@test
def poison_record_is_bisected_and_dead_lettered():
    run_fault("crash_on", ["--job-records", "500"], [])


@test
def hanging_record_is_taken_back_bisected_and_dead_lettered():
    sched = run_fault("hang_on", ["--job-records", "64",
                                  "--job-timeout-ms", "1500"],
                      ["--grace-ms", "300"])
    expired = log_events(sched, "job failed, retrying") + \
        log_events(sched, "job keeps failing, bisecting")
    expect(any("lease expired" in e.get("reason", "") for e in expired),
           "the hanging jobs were taken back by lease expiry", expired[:3])


if __name__ == "__main__":
    main()
