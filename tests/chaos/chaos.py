"""chaos - drain a topic while everything that can break, breaks.

    chaos.py [--short] [--records N] [--partitions N] [--workers N] [--seed S]
             [--mode plain|markers|eos]

Drains unique ids over several partitions with the `fault` plugin (which
copies records to an output topic) while:

  * a random worker is SIGKILLed every ~300 ms and a new one started;
  * one worker is frozen with SIGSTOP (longer than the scheduler's
    liveness) and thawed with SIGCONT, so its late answers arrive;
  * the scheduler is SIGKILLed twice, at about a third and two thirds of
    the drain, and a new one started on the same endpoint and group;
  * the broker goes away for a second (embedded: `broker down all` on the
    control channel of `sluice kafka`; real Kafka: the JVM is SIGSTOPped);
    with `--mode eos` on real Kafka it is also SIGKILLed once and started
    again on its data (a crash);
  * the scheduler's own loop stalls for 3 s (SIGSTOP, then SIGCONT),
    longer than its workers' liveness window and the workers' own;
  * the output refuses produces for a while, a fault of the destination
    which must cost no record an attempt (embedded: 12 Produce requests
    answered TOPIC_AUTHORIZATION_FAILED, at 80%; real Kafka, started with
    KRaft's StandardAuthorizer: right after the second scheduler kill, a
    DENY ACL on the output topic for 20 s, so every produce to it is
    refused TOPIC_AUTHORIZATION_FAILED, then removed);
  * 3 poison records make `fault` abort the worker that meets them.

Then an independent client (python3-confluent-kafka) checks: every
non-poison id is in the output topic; the 3 poison ids, and nothing else,
are in the DLQ with their source headers (so neither the stall nor the
refusing output sent an innocent record there); the committed offsets equal the
high watermarks. Duplicates are counted and checked against the bound
implied by the jobs that ran: no id may appear more often than the
number of started jobs that covered its offset (worker logs, "job begin"),
and the re-runs implied by those jobs are reported with the jobs in flight
at each kill.

`--short` (ctest chaos/<broker>) is sized to finish in about a minute (it
fails past 150 s; on real Kafka the output's 20 s refusal and the
scheduler's backoff of up to 16 s behind it are most of the run);
`make chaos` runs the long variant. `--mode markers` runs the schedulers
with `--state-topic`, `--mode eos` also both daemons with `--exactly-once`
(transactions, and the scheduler fences a job's holder before the job
runs again; the workers' transaction.timeout.ms is 10 s, so an open
transaction of a killed worker that no one fenced holds readers back no
longer): the duplicates are counted as the output's read_committed reader
sees them, and must be 0. The broker kind comes from
SLUICE_TEST_BROKER (embedded or kafka) as for the integration tests.
"""
import argparse
import collections
import os
import random
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "integration"))

from harness import (AUTHORIZER_PROPS, BROKER_KIND,  # noqa: E402
                     SANITIZED, Broker, committed, consume_all,
                     deny_topic_acl, remove_topic_acls,
                     expect, free_port, high_watermarks, log_events,
                     wait_stable,
                     log_note, main, produce, start_scheduler, start_worker,
                     test, unique, wait_for)

POISON = "POISON"
HEARTBEAT_MS = 200
LIVENESS = 3
# Real Kafka: how long the output topic refuses every produce (a DENY ACL).
OUTPUT_REFUSAL_S = 20.0
# A SIGKILLed scheduler stays in the group until its session times out.
GROUP_PROPS = ["-X", "session.timeout.ms=6000",
               "-X", "heartbeat.interval.ms=500"]


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--short", action="store_true",
                    help="the variant make test runs (under 90 s)")
    ap.add_argument("--records", type=int, default=200000)
    ap.add_argument("--partitions", type=int, default=8)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--kill-every-ms", type=int, default=300)
    ap.add_argument("--job-records", type=int, default=500)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--mode", choices=("plain", "markers", "eos"),
                    default="plain",
                    help="markers: --state-topic; eos: also --exactly-once "
                         "workers")
    ap.add_argument("--timeout", type=int, default=None,
                    help="seconds the drain may take (default: 80 short, "
                         "600 long)")
    return ap.parse_args()


ARGS = parse_args()
# Under ASan and UBSan a worker is several times slower to start and to
# run a job: at the same kill rate nearly every job would be killed, and
# the innocent neighbours of a poison record would fail --max-attempts
# times for nothing (see docs/RELIABILITY.md, limits). Kill less often.
if SANITIZED:
    ARGS.kill_every_ms *= 4
SEED = ARGS.seed if ARGS.seed is not None else random.randrange(1 << 30)
RNG = random.Random(SEED)
TIMEOUT = ARGS.timeout or (150 if ARGS.short else 600)


def poison_ids(total, partitions):
    """3 ids on 3 different partitions, away from the very ends."""
    per = total // partitions
    parts = RNG.sample(range(partitions), 3)
    return {p * per + RNG.randrange(per // 10, per - per // 10)
            for p in parts}


def records(total, partitions, poison):
    per = total // partitions
    for rid in range(total):
        p = rid // per
        yield (str(rid), "%d%s" % (rid, " " + POISON if rid in poison
                                   else ""), p)


class Progress(threading.Thread):
    """Samples the group's committed total every 250 ms."""

    def __init__(self, kafka, group, topic):
        super().__init__(daemon=True)
        self.args = (kafka, group, topic)
        self.total = 0
        self.history = []       # (monotonic, committed total)
        self.regressions = []
        self.last = {}
        self.halt = threading.Event()

    def run(self):
        while not self.halt.wait(0.25):
            try:
                now = committed(*self.args)
            except Exception:   # broker away, coordinator moving: later
                continue
            for p, off in now.items():
                prev = self.last.get(p)
                if prev is not None and off < prev:
                    self.regressions.append((p, prev, off))
                self.last[p] = off if prev is None else max(off, prev)
            self.total = sum(max(v, 0) for v in self.last.values())
            self.history.append((time.monotonic(), self.total))

    def resumed_after(self, t, level):
        """Seconds from t until the committed total first exceeded level."""
        for when, total in self.history:
            if when >= t and total > level:
                return when - t
        return None


class BrokerOutage:
    """Takes the broker away for a second, as the broker kind allows."""

    def __init__(self, kafka):
        self.kafka = kafka

    def __call__(self, seconds=1.0):
        if self.kafka.embedded:
            self.kafka.control("broker down all")
            time.sleep(seconds)
            self.kafka.control("broker up all")
        else:
            pid = self.kafka.pid()
            os.kill(pid, signal.SIGSTOP)
            log_note("fault: broker JVM %d stopped" % pid)
            try:
                time.sleep(seconds)
            finally:
                os.kill(pid, signal.SIGCONT)
                log_note("fault: broker JVM %d continued" % pid)


def job_runs(procs):
    """Every started processing job in the workers' logs:
    [(proc, partition, start, end, ts)]."""
    runs = []
    for w in procs:
        for e in log_events(w, "job begin"):
            if e.get("mode", "process") == "process":
                runs.append((w, int(e["partition"]), int(e["start"]),
                             int(e["end"]), e["_ts"]))
    return runs


def in_flight(proc):
    """Jobs a (dead) worker had begun and not finished: [(start, end)]."""
    done = {e["job"] for e in log_events(proc, "job done")}
    done |= {e["job"] for e in log_events(proc, "job failed")}
    done |= {e["job"] for e in log_events(proc, "job abandoned")}
    return [(int(e["start"]), int(e["end"]))
            for e in log_events(proc, "job begin") if e["job"] not in done]


@test
def chaos():
    total = ARGS.records - ARGS.records % ARGS.partitions
    parts = ARGS.partitions
    per = total // parts
    poison = poison_ids(total, parts)
    src, out, group = unique("chaos"), unique("chaos-out"), unique("g")
    dlq = src + ".dlq"
    log_note("chaos: seed=%d records=%d partitions=%d workers=%d poison=%s"
             % (SEED, total, parts, ARGS.workers, sorted(poison)))
    # Real Kafka: a broker of the test's own (it is SIGSTOPped), with an
    # authorizer that lets everyone do everything until the output fault
    # adds a DENY ACL on the output topic (harness.AUTHORIZER_PROPS).
    private = {} if BROKER_KIND == "embedded" else \
        {"private": True, "props": AUTHORIZER_PROPS}
    with Broker(topics={src: parts, out: parts, dlq: 1}, **private) as kafka:
        expect(produce(kafka, src, records(total, parts, poison)) == total,
               "input produced")
        hwm = high_watermarks(kafka, src)
        port = free_port()
        sched_args = ["--job-records", str(ARGS.job_records), "--window", "8",
                      "--commit-interval-ms", "200", "--max-attempts", "3",
                      "--heartbeat-ms", str(HEARTBEAT_MS),
                      "--liveness", str(LIVENESS),
                      "--job-timeout-ms", "20000",
                      "--instance-id", "chaos-scheduler"] + GROUP_PROPS
        if ARGS.mode != "plain":
            sched_args += ["--state-topic", src + ".state"]
        eos = (["--exactly-once", "-X", "transaction.timeout.ms=10000"]
               if ARGS.mode == "eos" else [])
        if ARGS.mode == "eos":
            sched_args.append("--exactly-once")
        scheds = []

        def new_scheduler():
            s = start_scheduler(kafka, src, group, port=port,
                                name="scheduler-%d" % (len(scheds) + 1),
                                args=sched_args)
            scheds.append(s)
            return s

        sched = new_scheduler()
        endpoint = sched.endpoint
        workers = {}            # slot -> Proc
        every_worker = []
        counts = collections.Counter()

        def spawn(slot):
            counts["spawned"] += 1
            w = start_worker(kafka, endpoint, "fault", output_topic=out,
                             name="worker-%d-%d" % (slot, counts["spawned"]),
                             plugin_opts={"crash_on": POISON},
                             args=["--heartbeat-ms", str(HEARTBEAT_MS),
                                   "--liveness", str(LIVENESS),
                                   "--grace-ms", "2000"] + eos)
            workers[slot] = w
            every_worker.append(w)

        for slot in range(ARGS.workers):
            spawn(slot)
        progress = Progress(kafka, group, src)
        progress.start()
        outage = BrokerOutage(kafka)

        # Events by drain progress (fraction of records committed).
        plan = [(0.15, "freeze"), (0.30, "scheduler"), (0.40, "stall"),
                (0.50, "broker"), (0.65, "scheduler")]
        # Real Kafka drains the short variant at some 15% a second, and the
        # committed total lags the work done (a commit interval, a sample,
        # the window): at "80%" all that is left may be produced already
        # and the refusal would meet no produce, and a fault put off until
        # commits move after the one before may come after the end. Right
        # after the second scheduler kill (the next pass of this loop),
        # work is left: the jobs the killed one had out run again. That
        # kill's recovery then runs into the refusal and is not measured.
        plan.append((0.80, "output") if kafka.embedded else (0.65, "output"))
        if ARGS.mode == "eos" and not kafka.embedded:
            # Transactions through a broker crash (issue 22): the JVM is
            # SIGKILLed (no clean shutdown) and started again on its data.
            plan.insert(plan.index((0.50, "broker")) + 1, (0.55, "restart"))
        done_events = []
        recoveries = collections.defaultdict(list)
        kills_in_flight = []    # (what, jobs, records) at each kill
        frozen = None
        thaw_at = 0.0
        acl_until = None        # real Kafka: when the output's DENY goes
        acl_level = 0           # committed total when it was added
        t_start = time.monotonic()
        next_kill = t_start + 1.0
        deadline = t_start + TIMEOUT

        while True:
            now = time.monotonic()
            expect(now < deadline, "the drain finishes within %ds" % TIMEOUT,
                   "committed %d of %d; events %s"
                   % (progress.total, total, done_events))
            if sched.returncode is not None:
                break
            # Restart whatever died: poison crashes and our kills alike.
            for slot, w in list(workers.items()):
                if not w.alive():
                    rc = w.returncode
                    if rc == -signal.SIGABRT or rc == 134:
                        counts["poison crashes"] += 1
                    elif rc != -signal.SIGKILL:
                        counts["other exits"] += 1
                        log_note("%s exited %s" % (w.name, rc))
                    spawn(slot)
            if acl_until is not None and now >= acl_until:
                remove_topic_acls(kafka, out)
                t_event, level = time.monotonic(), progress.total
                # Work produced before the ACL is committed within a
                # second or so of it; after that nothing should be.
                settled = next((n for when, n in progress.history
                                if when >= acl_until - OUTPUT_REFUSAL_S + 2.0),
                               level)
                log_note("fault: output refused produces %.0f s; committed "
                         "%d at the ACL, %d 2 s later, %d at its removal"
                         % (OUTPUT_REFUSAL_S, acl_level, settled, level))
                acl_until = None
                # Recovery counts from the end of the refusal.
                done_events.append(("output", round(level / total, 2),
                                    t_event, level))
            if frozen and now >= thaw_at:
                frozen.signal_tree(signal.SIGCONT)
                log_note("fault: %s thawed" % frozen.name)
                frozen = None
            if now >= next_kill:
                next_kill = now + RNG.uniform(0.5, 1.5) * \
                    ARGS.kill_every_ms / 1000.0
                victims = [s for s, w in workers.items()
                           if w.alive() and w is not frozen]
                if victims:
                    w = workers[RNG.choice(victims)]
                    w.kill()
                    counts["worker kills"] += 1
                    jobs = in_flight(w)
                    kills_in_flight.append(("worker", len(jobs),
                                            sum(e - s for s, e in jobs)))
            frac = progress.total / total
            if plan and frac >= plan[0][0]:
                _, what = plan.pop(0)
                t_event, level = time.monotonic(), progress.total
                if what == "freeze":
                    slot = RNG.choice(list(workers))
                    frozen = workers[slot]
                    frozen.signal_tree(signal.SIGSTOP)
                    # Far longer than heartbeat x liveness: declared dead.
                    thaw_at = t_event + 3.0
                    log_note("fault: %s frozen" % frozen.name)
                elif what == "scheduler":
                    alive_jobs = sum(len(in_flight(w)) for w in
                                     workers.values())
                    sched.kill()
                    counts["scheduler kills"] += 1
                    kills_in_flight.append(("scheduler", alive_jobs,
                                            alive_jobs * ARGS.job_records))
                    log_note("fault: %s SIGKILLed at %.0f%%"
                             % (sched.name, 100 * frac))
                    sched = new_scheduler()
                elif what == "broker":
                    outage(1.0)
                    counts["broker outages"] += 1
                elif what == "restart":
                    kafka.kill()
                    kafka.restart()
                    counts["broker restarts"] += 1
                elif what == "stall":
                    sched.signal(signal.SIGSTOP)
                    time.sleep(3.0)  # the fault: a stall this long
                    sched.signal(signal.SIGCONT)
                    counts["scheduler stalls"] += 1
                    log_note("fault: %s stalled 3 s" % sched.name)
                elif what == "output" and kafka.embedded:
                    kafka.control("errors Produce 12 "
                                  "TOPIC_AUTHORIZATION_FAILED")
                    counts["output outages"] += 1
                elif what == "output":
                    # An ACL missing, then added: the broker answers every
                    # produce to the output TOPIC_AUTHORIZATION_FAILED;
                    # the source, the DLQ and the group are not touched.
                    deny_topic_acl(kafka, out)
                    acl_until = time.monotonic() + OUTPUT_REFUSAL_S
                    acl_level = progress.total
                    counts["output outages"] += 1
                    if done_events and done_events[-1][0] == "scheduler":
                        # (see the plan) not a recovery from the kill
                        done_events[-1] = done_events[-1][:3] + (None,)
                if what != "output" or kafka.embedded:
                    # (the ACL's event is recorded at its removal)
                    done_events.append((what, round(frac, 2), t_event,
                                        level))
            time.sleep(0.02)

        took = time.monotonic() - t_start
        if acl_until is not None:
            # The drain ended under the refusal: the output must be
            # readable for the checks (and the refusal was not waited out).
            remove_topic_acls(kafka, out)
            expect(False, "the output's refusal ended before the drain",
                   "the scheduler exited %.1f s early"
                   % (acl_until - time.monotonic()))
        progress.halt.set()
        if frozen:
            frozen.signal_tree(signal.SIGCONT)
        expect(sched.returncode == 0, "the last scheduler exits 0",
               "exit %s; log %s" % (sched.returncode, sched.log_path))
        expect(not plan, "every planned fault happened before the end",
               "left: %s" % plan)
        refused = sum(len(log_events(s, "output refused, pausing dispatch; "
                                        "no attempt is charged"))
                      for s in scheds)
        if counts["output outages"]:
            expect(refused, "the schedulers saw the output refuse")
        # The refusal is the output's fault: no job may be charged for it.
        charged = [e for s in scheds
                   for what in ("job failed, retrying",
                                "offset keeps failing, dead-lettering")
                   for e in log_events(s, what)
                   if "authorization" in e.get("reason", "").lower()]
        expect(not charged, "no job was charged for the output's refusal",
               charged[:3])
        stalls = sum(len(log_events(s, "scheduler loop stalled, not "
                                       "counted against workers or leases"))
                     for s in scheds)
        expect(stalls, "the stalled scheduler saw its own stall")
        for what, frac, t_event, level in done_events:
            r = progress.resumed_after(t_event, level) \
                if level is not None else "-"
            recoveries[what].append(r)
        for w in workers.values():
            w.stop(10)

        # -- the independent client's view ------------------------------
        got = committed(kafka, group, src)
        expect(got == hwm, "committed offsets equal the high watermarks",
               "committed %s, high watermarks %s" % (got, hwm))
        expect(not progress.regressions, "committed offsets never went back",
               progress.regressions[:5])

        if ARGS.mode == "eos":
            # A killed worker's open transaction holds read_committed
            # readers at its start until the broker aborts it (its
            # successor has another transactional.id).
            waited = wait_stable(kafka, out, 90)
            log_note("CHAOS open transactions in the output ended %.1f s "
                     "after the drain" % waited)
        output = consume_all(kafka, out)
        seen = collections.Counter(int(r.key) for r in output)
        missing = [i for i in range(total) if i not in poison and not seen[i]]
        if missing:  # which of them were written at all (aborted or not)?
            written = set(int(r.key) for r in consume_all(
                kafka, out, isolation="read_uncommitted"))
            log_note("CHAOS %d missing ids, %d of them written (read "
                     "uncommitted); output ends %s"
                     % (len(missing), len(written & set(missing)),
                        high_watermarks(kafka, out)))
        expect(not missing, "every non-poison id is in the output",
               "%d missing, first %s" % (len(missing), missing[:10]))
        expect(not (set(seen) & poison), "no poison id is in the output",
               sorted(set(seen) & poison))
        expect(set(seen) <= set(range(total)), "no foreign ids in output")

        dead = consume_all(kafka, dlq)
        dead_ids = collections.Counter(int(r.key) for r in dead)
        expect(set(dead_ids) == poison,
               "exactly the poison ids are dead-lettered",
               "DLQ %s, poison %s" % (dict(dead_ids), sorted(poison)))
        per_part = total // parts
        for r in dead:
            h = {k: (v or b"").decode() for k, v in r.headers or []}
            rid = int(r.key)
            want = {"sluice.source.topic": src,
                    "sluice.source.partition": str(rid // per_part),
                    "sluice.source.offset": str(rid % per_part)}
            expect(all(h.get(k) == v for k, v in want.items()) and
                   h.get("sluice.reason") and h.get("sluice.attempts"),
                   "DLQ record %d carries its source headers" % rid, h)

        # -- duplicates against the jobs that ran ------------------------
        coverage = [[0] * (per + 1) for _ in range(parts)]
        runs = job_runs(every_worker)
        for _, p, start, end, _ in runs:
            coverage[p][start] += 1
            coverage[p][min(end, per)] -= 1
        bound = 0
        over = []
        for p in range(parts):
            c = 0
            for off in range(per):
                c += coverage[p][off]
                rid = p * per + off
                bound += max(0, c - 1)
                if seen[rid] > max(c, 1):
                    over.append((rid, seen[rid], c))
        dups = sum(n - 1 for n in seen.values() if n > 1)
        expect(not over, "no id is in the output more often than jobs "
               "covering it ran", over[:10])
        expect(dups <= bound, "duplicates within the re-run bound",
               "%d > %d" % (dups, bound))
        if ARGS.mode == "eos":
            expect(dups == 0, "--exactly-once: no duplicate is read "
                   "(read_committed)", "%d duplicates" % dups)

        # Supervised workers (the default) do not exit on a crash: their
        # parents report it (sched_crash) and start a new one.
        for w in every_worker:
            for e in log_events(w, "worker died"):
                if e.get("at_fault") == "yes" and e.get("cause") == "SIGABRT":
                    counts["poison crashes"] += 1
        worker_kills = [k for k in kills_in_flight if k[0] == "worker"]
        sched_kills = [k for k in kills_in_flight if k[0] == "scheduler"]
        log_note("CHAOS broker=%s seed=%d records=%d partitions=%d "
                 "workers=%d took=%.1fs" % (kafka.kind, SEED, total, parts,
                                            ARGS.workers, took))
        log_note("CHAOS faults: %s" % dict(counts))
        log_note("CHAOS mode=%s lost=0 duplicates=%d (%.2f%%) "
                 "rerun_bound=%d jobs_started=%d"
                 % (ARGS.mode, dups, 100.0 * dups / total, bound, len(runs)))
        log_note("CHAOS in flight at worker kills: %d jobs, <= %d records; "
                 "at scheduler kills: %d jobs"
                 % (sum(k[1] for k in worker_kills),
                    sum(k[2] for k in worker_kills),
                    sum(k[1] for k in sched_kills)))
        for what, rs in recoveries.items():
            log_note("CHAOS recovery after %s: %s s (commits moving again)"
                     % (what, ", ".join("%.1f" % r if isinstance(r, float)
                                         else r or "?" for r in rs)))


if __name__ == "__main__":
    if ARGS.short:
        log_note("chaos: short variant")
    main([])
