"""--order key: each key's records run, and their outputs are produced, in
offset order; different keys run in parallel on several workers.

Records carry a per-key sequence ("KEY:SEQ"), with a skewed key set: three
hot keys take 40% of the records, a long tail of 300 keys the rest, and a
few records have no key (unordered, never held). The sleep plugin copies
each record to the output, keyed as it came, so each key's copies land in
one output partition in the order the workers produced them. An
independent reader (confluent-kafka) then finds, for every key, the first
appearance of each sequence number in order (a re-run repeats records:
allowed; a later record before an earlier one: never) and nothing lost.

The chaos case kills a worker (SIGKILL, twice), stops another (SIGTERM:
parked jobs go back) and kills the scheduler (SIGKILL, then a new one
takes the group over) while keys wait on each other."""
import collections
import random
import time

from harness import (Broker, committed, consume_all, expect, free_port,
                     high_watermarks, log_events, log_note, main, produce,
                     start_scheduler, start_worker, test, unique, wait_for)

PARTITIONS = 2
RECORDS = 12000
HOT = ["hot-a", "hot-b", "hot-c"]
TAIL = ["k%03d" % i for i in range(300)]
UNKEYED_EVERY = 97
JOB_RECORDS = 50
SCHED_ARGS = ["--order", "key", "--job-records", str(JOB_RECORDS),
              "--window", "24", "--commit-interval-ms", "200",
              "--heartbeat-ms", "200", "--liveness", "5",
              "-X", "session.timeout.ms=6000",
              "-X", "heartbeat.interval.ms=500"]
US_PER_RECORD = 150


def workload(seed):
    """(key or None, value, partition) in produce order, and each key's
    record count."""
    rnd = random.Random(seed)
    seq = collections.Counter()
    out = []
    for i in range(RECORDS):
        if i % UNKEYED_EVERY == 0:
            out.append((None, "-:%d" % i, i % PARTITIONS))
            continue
        key = rnd.choice(HOT) if rnd.random() < 0.4 else rnd.choice(TAIL)
        # All of a key's records on one partition, as a keyed producer.
        part = sum(key.encode()) % PARTITIONS
        out.append((key, "%s:%d" % (key, seq[key]), part))
        seq[key] += 1
    return out, seq


def check_output(kafka, out, seq):
    """Every key's sequence in order on first appearance, nothing lost."""
    firsts = collections.defaultdict(list)
    seen = collections.defaultdict(set)
    unkeyed = set()
    copies = 0
    for r in consume_all(kafka, out):
        copies += 1
        k, n = r.value.decode().rsplit(":", 1)
        if k == "-":
            expect(r.key is None, "an unkeyed record stays unkeyed", r)
            unkeyed.add(int(n))
            continue
        expect(r.key.decode() == k, "key matches value", r)
        if int(n) not in seen[k]:
            seen[k].add(int(n))
            firsts[k].append(int(n))
    bad = {}
    for k, count in seq.items():
        f = firsts[k]
        back = [(a, b) for a, b in zip(f, f[1:]) if b < a]
        if back or sorted(f) != list(range(count)):
            bad[k] = (len(back), back[:3], len(f), count)
    expect(not bad, "every key's records in order, none lost",
           "%d keys wrong, e.g. %s" % (len(bad), list(bad.items())[:3]))
    expect(len(unkeyed) == len(range(0, RECORDS, UNKEYED_EVERY)),
           "every unkeyed record is in the output",
           "%d of %d" % (len(unkeyed), len(range(0, RECORDS, UNKEYED_EVERY))))
    return copies


def gate_totals(sched):
    ev = log_events(sched, "key order")
    expect(ev, "the scheduler logs its key order totals")
    return {k: int(ev[-1][k])
            for k in ("gates", "gates_held", "releases", "keys_done")}


@test
def keys_stay_in_order_across_workers():
    src, out, group = unique("in"), unique("out"), unique("g")
    recs, seq = workload(1)
    with Broker(topics={src: PARTITIONS, out: 4, src + ".dlq": 1}) as kafka:
        produce(kafka, src, recs)
        hwm = high_watermarks(kafka, src)
        sched = start_scheduler(kafka, src, group, args=SCHED_ARGS)
        workers = [start_worker(kafka, sched.endpoint, "sleep",
                                name="worker-%d" % i, output_topic=out,
                                plugin_opts={"us_per_record": US_PER_RECORD},
                                args=["--concurrency", "2"] if i == 0 else [])
                   for i in range(3)]
        t0 = time.monotonic()
        rc = sched.wait(300, watch=workers)
        expect(rc == 0, "the scheduler exits 0", "exit %d" % rc)
        log_note("drained %d records in %.1f s" % (RECORDS,
                                                   time.monotonic() - t0))
        for w in workers:
            w.stop(20)
        totals = gate_totals(sched)
        log_note("gates %(gates)d, holding keys %(gates_held)d, "
                 "releases %(releases)d, keys done early %(keys_done)d"
                 % totals)
        # The test means something only if keys did wait on each other.
        expect(totals["gates_held"] > 0 and totals["releases"] > 0,
               "some jobs waited for earlier records of their keys", totals)
        jobs_by_worker = [len(log_events(w, "job done")) for w in workers]
        expect(all(jobs_by_worker), "every worker ran jobs", jobs_by_worker)
        copies = check_output(kafka, out, seq)
        log_note("%d copies of %d records" % (copies, RECORDS))
        expect(committed(kafka, group, src) == hwm,
               "committed offsets equal the high watermarks")


@test
def keys_stay_in_order_through_kills():
    src, out, group = unique("in"), unique("out"), unique("g")
    recs, seq = workload(2)
    port = free_port()
    with Broker(topics={src: PARTITIONS, out: 4, src + ".dlq": 1}) as kafka:
        produce(kafka, src, recs)
        hwm = high_watermarks(kafka, src)
        sched = start_scheduler(kafka, src, group, port=port,
                                name="scheduler-1", args=SCHED_ARGS)

        def worker(i, gen=0):
            return start_worker(kafka, "tcp://127.0.0.1:%d" % port, "sleep",
                                name="worker-%d-%d" % (i, gen),
                                output_topic=out,
                                plugin_opts={"us_per_record": US_PER_RECORD},
                                args=["--heartbeat-ms", "200",
                                      "--liveness", "5"])
        workers = [worker(i) for i in range(3)]
        victim = workers[0]
        for gen in (1, 2):
            wait_for(lambda: len(log_events(victim, "job done")) >= 10, 120,
                     "the victim to complete some jobs")
            victim.kill()
            log_note("worker SIGKILLed (%d)" % gen)
            victim = worker(0, gen)
            workers.append(victim)
        wait_for(lambda: len(log_events(workers[1], "job done")) >= 40, 120,
                 "more jobs to complete")
        # A graceful stop mid-drain: the part running finishes, parked
        # jobs go back, the worker exits 0.
        rc = workers[2].stop(20)
        expect(rc == 0, "a worker stopped with SIGTERM exits 0", rc)
        log_note("worker SIGTERMed: %d jobs returned"
                 % len(log_events(workers[2], "job abandoned")))
        workers.append(worker(2, 1))
        sched.kill()
        log_note("scheduler SIGKILLed")
        sched = start_scheduler(kafka, src, group, port=port,
                                name="scheduler-2", args=SCHED_ARGS)
        rc = sched.wait(300, watch=[w for w in workers if w.alive()])
        expect(rc == 0, "the second scheduler finishes the drain",
               "exit %d" % rc)
        for w in workers:
            if w.alive():
                w.stop(20)
        copies = check_output(kafka, out, seq)
        log_note("%d copies of %d records (%d repeats)"
                 % (copies, RECORDS, copies - RECORDS))
        expect(committed(kafka, group, src) == hwm,
               "committed offsets equal the high watermarks")


@test
def retries_and_a_poison_record_keep_key_order():
    """Every job's first attempt fails (fault fail_attempts=1: the range
    runs again in its place), and one record crashes the plugin every
    time (crash_on): the supervised worker's crash is pinned on it, it
    goes to the DLQ after --max-attempts, and its key's later records go
    on. Every other record is in the output, each key in order."""
    src, out, group = unique("in"), unique("out"), unique("g")
    dlq = src + ".dlq"
    rnd = random.Random(3)
    keys = ["p%02d" % i for i in range(30)]
    seq = collections.Counter()
    recs = []
    poison = None
    for i in range(3000):
        k = rnd.choice(keys[:3]) if rnd.random() < 0.5 else rnd.choice(keys)
        v = "%s:%d" % (k, seq[k])
        if i == 1500:
            poison = (k, seq[k])
            v += ":BOOM"
        recs.append((k, v, 0))
        seq[k] += 1
    with Broker(topics={src: 1, out: 4, dlq: 1}) as kafka:
        produce(kafka, src, recs)
        hwm = high_watermarks(kafka, src)
        sched = start_scheduler(kafka, src, group, args=SCHED_ARGS + [
            "--max-attempts", "3"])
        workers = [start_worker(kafka, sched.endpoint, "fault",
                                name="worker-%d" % i, output_topic=out,
                                plugin_opts={"crash_on": "BOOM",
                                             "fail_attempts": 1})
                   for i in range(2)]
        rc = sched.wait(300, watch=workers)
        expect(rc == 0, "the scheduler exits 0", "exit %d" % rc)
        for w in workers:
            w.stop(20)
        dead = consume_all(kafka, dlq)
        expect([r.value.decode() for r in dead] ==
               ["%s:%d:BOOM" % poison], "exactly the poison record is "
               "dead-lettered", [r.value for r in dead])
        firsts = collections.defaultdict(list)
        for r in consume_all(kafka, out):
            k, n = r.value.decode().split(":")[:2]
            if int(n) not in firsts[k]:
                firsts[k].append(int(n))
        bad = {}
        for k, count in seq.items():
            want = [n for n in range(count) if (k, n) != poison]
            if firsts[k] != want:
                bad[k] = firsts[k][:10]
        expect(not bad, "every other record in the output, each key in "
               "order, the poison record's key going on after it",
               list(bad.items())[:3])
        retried = sum(len(log_events(w, "job failed")) for w in workers)
        summary = log_events(sched, "drain complete")[-1]
        log_note("%d job attempts failed and ran again; poison %s:%d "
                 "dead-lettered; %s" % ((retried,) + poison + (
                     {k: summary.get(k) for k in ("jobs", "retried",
                                                  "bisected",
                                                  "dead_lettered")},)))
        expect(retried > 0, "first attempts failed and ran again")
        expect(committed(kafka, group, src) == hwm,
               "committed offsets equal the high watermarks")


if __name__ == "__main__":
    main()
