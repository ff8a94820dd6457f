"""A real broker dies mid-drain (SIGKILL) and comes back: the drain stalls
cleanly, then finishes with nothing lost.

Each test starts a broker of its own (Broker(private=True): the suite's
shared broker must not be killed), with a short broker session so that the
restarted broker registers at once instead of waiting out the dead one's
9 s session. A drain runs with the sleep plugin (it copies every record to
an output topic, so no job can be DONE before Kafka acknowledged its
output) and three workers. Once part of the input, but not all of it, is
committed, the broker JVM is SIGKILLed, kept down for a while, and
restarted on the same ports and data; the drain must then finish and exit
0 with:
- every input id in the output topic (read by an independent consumer);
- the group committed at the high watermarks;
- Kafka's committed offsets, read before the kill, after the restart and
  at the end, never moving backwards (across the crash too) and never
  ahead of the jobs the workers had logged `job done` for by then (no
  offset committed, i.e. skipped, before its job finished);
- every process alive throughout, and no worker dropped by the scheduler.

broker_killed_mid_drain_stalls_then_finishes: a short outage (5 s, well
inside the group session). `sluice status` during the outage must list
every worker with a fresh heartbeat and its credit intact (credits + jobs
in flight), and the scheduler's own committed offsets and records done
must stop moving (and never move backwards or run ahead of the work
done). Each worker joins once and runs jobs after the restart.

broker_down_past_the_group_session: an outage longer than the
scheduler's group session (session.timeout.ms=6000). librdkafka then
declares the assignment lost and the scheduler gives up every partition,
cancelling the jobs in flight (whose output is still waiting for the dead
broker). The scheduler must wait for its next assignment rather than call
the drain complete, and the workers must not take those cancelled jobs,
stuck on Kafka rather than on the plugin, for a hung plugin (they run with
--grace-ms 2000 and the broker stays down longer than that after the
cancel). After the restart the group assigns the partitions again and the
drain finishes from the committed offsets.

Duplicates (re-run jobs) and the times are reported."""
import collections
import json
import os
import time

from confluent_kafka import KafkaException

from harness import (BIN, Broker, TestFailure, committed, consume_all, expect,
                     high_watermarks, log_events, log_note, main, produce,
                     run_cli, start_scheduler, start_worker, test, unique,
                     utc_now_iso, wait_for)
from realkafka import GROUP_PROPS, merge, require_real_broker

PARTITIONS = 4
PER_PARTITION = 10000
TOTAL = PARTITIONS * PER_PARTITION
JOB_RECORDS = 250
US_PER_RECORD = 500        # 3 workers: 4000-6000 records/s, 7-10 s of work
WORKERS = 3
CREDITS = 2                # sluice-worker --credits default
SCHED_ARGS = ["--job-records", str(JOB_RECORDS), "--window", "8",
              "--commit-interval-ms", "200", "--progress", "lines"]
# A SIGKILLed broker stays registered with the KRaft controller until its
# session (broker.session.timeout.ms, 9 s by default) runs out; the
# restarted one cannot register before. Keep it short.
BROKER_PROPS = {"broker.session.timeout.ms": 2000,
                "broker.heartbeat.interval.ms": 500}


def records():
    for p in range(PARTITIONS):
        for i in range(PER_PARTITION):
            rid = p * PER_PARTITION + i
            yield (str(rid), str(rid), p)


def status(sched):
    """The scheduler's own view (`sluice status --json`): it answers over
    ZeroMQ, without Kafka."""
    rc, out, err = run_cli([os.path.join(BIN, "sluice"), "status",
                            "--scheduler", sched.endpoint, "--json",
                            "--timeout-ms", "2000"], timeout=10)
    expect(sched.alive(), "the scheduler keeps running while the broker is "
           "down", "exit %s; log %s:\n%s" % (sched.returncode, sched.log_path,
                                             sched.log_tail(15)))
    expect(rc == 0, "sluice status answers (the scheduler serves its "
           "workers and clients while Kafka is down)",
           "exit %d: %s" % (rc, err.strip()))
    return json.loads(out)


def status_committed(snap):
    return {p["partition"]: p["committed"] for p in snap["partitions"]}


def done_ranges(workers, topic, until_ts):
    """{partition: merged [(start, end)]} of the jobs the workers logged
    `job done` for at or before until_ts."""
    ranges = collections.defaultdict(list)
    for w in workers:
        for e in log_events(w, "job done"):
            if e.get("topic") == topic and e["_ts"] <= until_ts:
                ranges[int(e["partition"])].append((int(e["start"]),
                                                    int(e["end"])))
    return {p: merge(r) for p, r in ranges.items()}


def covered_prefix(ranges):
    """The end of the run of ranges that starts at offset 0."""
    return ranges[0][1] if ranges and ranges[0][0] <= 0 else 0


class Drain:
    """One drain against a private broker that the test kills."""

    def __init__(self, kafka, sched_args=(), worker_args=()):
        self.kafka = kafka
        self.src, self.out, self.group = unique("in"), unique("out"), \
            unique("g")
        kafka.create_topics({self.src: PARTITIONS, self.out: PARTITIONS,
                             self.src + ".dlq": 1})
        expect(produce(kafka, self.src, records()) == TOTAL,
               "input produced")
        self.hwm = high_watermarks(kafka, self.src)
        expect(sum(self.hwm.values()) == TOTAL, "high watermarks sum to "
               "the input", self.hwm)
        self.sched = start_scheduler(kafka, self.src, self.group,
                                     args=SCHED_ARGS + list(sched_args))
        self.workers = [
            start_worker(kafka, self.sched.endpoint, "sleep",
                         name="worker-%d" % i, output_topic=self.out,
                         plugin_opts={"us_per_record": US_PER_RECORD},
                         args=list(worker_args))
            for i in range(1, WORKERS + 1)]
        # (tag, UTC time just after the read, {partition: committed});
        # tag "outage" is the scheduler's own view, the others Kafka's.
        self.samples = []

    @property
    def everyone(self):
        return [self.sched] + self.workers

    def check_alive(self, when):
        for p in self.everyone:
            expect(p.alive(), "%s keeps running %s" % (p.name, when),
                   "exit %s; log %s:\n%s" % (p.returncode, p.log_path,
                                             p.log_tail(15)))

    def sample_kafka(self, tag):
        """Kafka's committed offsets, or None while the broker cannot
        answer yet (it may still be loading the group after a restart)."""
        try:
            got = committed(self.kafka, self.group, self.src)
        except (KafkaException, TestFailure) as e:
            log_note("committed offsets not readable yet: %s" % e)
            return None
        self.samples.append((tag, utc_now_iso(), got))
        return got

    def kill_mid_drain(self):
        """Wait until part of the input is committed, then SIGKILL the
        broker. Returns Kafka's committed offsets just before."""
        def mid_drain():
            self.check_alive("before the kill")
            got = self.sample_kafka("before")
            done = sum(max(o, 0) for o in (got or {}).values())
            return got and 0.15 * TOTAL <= done and got
        at_kill = wait_for(mid_drain, 60, lambda: "a sixth of the input to "
                           "be committed (at %s)" % (self.samples[-1:],),
                           interval=0.1)
        expect(sum(at_kill.values()) < 0.6 * TOTAL, "most of the input is "
               "still to do at the kill (else make the plugin slower)",
               at_kill)
        self.kafka.kill()
        self.t_kill = time.monotonic()
        log_note("killed the broker; committed then %s of %s"
                 % (at_kill, self.hwm))
        return at_kill

    def restart_and_finish(self, stalled_at):
        """Restart the broker, wait for new commits past stalled_at and
        the drain's exit 0, then check commits, output and workers.
        Returns (duplicates, seconds to the first new commit after the
        restart, seconds from the restart to the end of the drain)."""
        self.check_alive("until the broker restarts")
        expect(any(stalled_at.get(p, 0) < self.hwm[p] for p in self.hwm),
               "work was left when the broker came back", stalled_at)
        self.kafka.restart()
        t_up = time.monotonic()
        self.up_ts = utc_now_iso()
        log_note("broker back %.1fs after the kill" % (t_up - self.t_kill))

        def progressed():
            self.check_alive("after the restart")
            got = self.sample_kafka("after")
            return got and sum(got.values()) > sum(stalled_at.values())
        wait_for(progressed, 60, lambda: "the committed offsets to move "
                 "past %s after the restart (last %s)"
                 % (stalled_at, self.samples[-1:]), interval=0.1)
        t_progress = time.monotonic()

        rc = self.sched.wait(90, watch=self.workers)
        t_done = time.monotonic()
        expect(rc == 0, "the drain finishes and exits 0 after the restart",
               "exit %d; log:\n%s" % (rc, self.sched.log_tail(15)))
        for w in self.workers:
            expect(w.alive(), "%s outlived the outage" % w.name,
                   "exit %s:\n%s" % (w.returncode, w.log_tail(10)))
        final = committed(self.kafka, self.group, self.src)
        self.samples.append(("final", utc_now_iso(), final))
        expect(final == self.hwm, "committed offsets equal the high "
               "watermarks", "committed %s, high watermarks %s"
               % (final, self.hwm))
        summary = log_events(self.sched, "drain complete")
        expect(summary and summary[-1].get("lost") == "0",
               "the scheduler reports nothing lost", summary[-1:])
        for w in self.workers:
            w.stop(20)
        self.check_commits()

        gone = log_events(self.sched, "worker gone")
        expect(not gone, "no worker was dropped", gone)
        for w in self.workers:
            stuck = log_events(w, "plugin stuck: job cancelled")
            expect(not stuck, "%s took no job waiting for Kafka for a hung "
                   "plugin" % w.name, stuck[:1])

        seen = collections.Counter(int(r.key)
                                   for r in consume_all(self.kafka, self.out))
        missing = [i for i in range(TOTAL) if seen[i] == 0]
        expect(not missing, "every input record is in the output topic",
               "%d missing, first %s" % (len(missing), missing[:10]))
        dups = sum(c - 1 for c in seen.values() if c > 1)
        log_note("records %d, output %d, duplicates %d; jobs failed %d, "
                 "retried %s; commit failures logged %d"
                 % (TOTAL, sum(seen.values()), dups,
                    sum(len(log_events(w, "job failed"))
                        for w in self.workers),
                    summary[-1].get("retried"),
                    len(log_events(self.sched, "commit failed, will retry"))))
        log_note("broker down %.1fs (kill to restart done); drain stalled "
                 "%.1fs (kill to first new commit); recovery %.1fs (restart "
                 "to first new commit); drain finished %.1fs after the "
                 "restart" % (t_up - self.t_kill, t_progress - self.t_kill,
                              t_progress - t_up, t_done - t_up))
        return dups, t_progress - t_up, t_done - t_up

    def check_commits(self):
        """Committed offsets never moved backwards (Kafka's; the
        scheduler's own, which may be ahead of Kafka's, separately), and
        never ran ahead of the jobs the workers had finished by then."""
        prev = {"kafka": {}, "scheduler": {}}
        for tag, ts, got in self.samples:
            done = done_ranges(self.workers, self.src, ts)
            last = prev["scheduler" if tag == "outage" else "kafka"]
            for p, off in got.items():
                if off < 0:
                    continue
                expect(off >= last.get(p, 0), "committed offsets never move "
                       "backwards", "partition %d: %d, then %d (%s at %s)"
                       % (p, last.get(p, 0), off, tag, ts))
                last[p] = off
                expect(off <= covered_prefix(done.get(p, [])),
                       "no offset is committed before its job is done",
                       "partition %d committed %d (%s at %s), but the jobs "
                       "done by then cover only %s" % (p, off, tag, ts,
                                                       done.get(p, [])[:3]))
        kinds = collections.Counter(tag for tag, _, _ in self.samples)
        expect(kinds["before"] and kinds["after"], "committed offsets were "
               "sampled before the kill and after the restart", dict(kinds))


OUTAGE_S = 5.0             # the short outage
SETTLE_S = 1.5             # DONEs already on their way may land meanwhile


@test
def broker_killed_mid_drain_stalls_then_finishes():
    require_real_broker()
    with Broker(private=True, props=BROKER_PROPS) as kafka:
        d = Drain(kafka)
        d.kill_mid_drain()

        # The outage: everyone keeps running, the workers stay known,
        # heartbeating and with their credit, and after the DONEs already
        # on their way nothing completes.
        outage = []          # (seconds since the kill, status)
        while time.monotonic() - d.t_kill < OUTAGE_S:
            d.check_alive("while the broker is down")
            snap = status(d.sched)
            outage.append((time.monotonic() - d.t_kill, snap))
            d.samples.append(("outage", utc_now_iso(),
                              status_committed(snap)))
            expect(len(snap["workers"]) == WORKERS, "the scheduler still "
                   "lists every worker while the broker is down",
                   snap["workers"])
            lost_credit = [w for w in snap["workers"]
                           if w["credits"] + w["in_flight"] != CREDITS]
            expect(not lost_credit, "every worker keeps its credit (credits "
                   "+ jobs in flight = %d) while the broker is down"
                   % CREDITS, lost_credit)
            stale = [w for w in snap["workers"]
                     if w["last_heartbeat_ms_ago"] > 3000]
            expect(not stale, "workers keep heartbeating while the broker "
                   "is down", stale)
            time.sleep(0.25)
        settled = [s for t, s in outage if t >= SETTLE_S]
        expect(len(settled) >= 2, "status was sampled during the outage",
               len(outage))
        first, last = settled[0], settled[-1]
        expect(status_committed(first) == status_committed(last) and
               first["records_done"] == last["records_done"],
               "nothing completes while the broker is down",
               "from %s (%d done) to %s (%d done)"
               % (status_committed(first), first["records_done"],
                  status_committed(last), last["records_done"]))
        expect(len(status_committed(last)) == PARTITIONS, "the scheduler "
               "kept its partitions", status_committed(last))

        d.restart_and_finish(status_committed(last))
        expect(any(tag == "outage" for tag, _, _ in d.samples),
               "the scheduler's offsets were sampled during the outage")

        # The workers kept their place with the scheduler.
        joined = collections.Counter(
            e["worker"] for e in log_events(d.sched, "worker joined"))
        expect(len(joined) == WORKERS and set(joined.values()) == {1},
               "each worker joined once and never had to again", joined)
        for w in d.workers:
            for message in ("announcing again",
                            "scheduler silent, dropping its jobs"):
                expect(not log_events(w, message), "%s logs no %r"
                       % (w.name, message), log_events(w, message)[:3])
            expect([e for e in log_events(w, "job begin")
                    if e["_ts"] > d.up_ts],
                   "%s ran jobs after the restart" % w.name)


LOST_GRACE_S = 3.0         # the broker stays down this long after the
WORKER_GRACE_MS = 2000     # cancels, longer than the workers' --grace-ms


@test
def broker_down_past_the_group_session():
    require_real_broker()
    with Broker(private=True, props=BROKER_PROPS) as kafka:
        d = Drain(kafka, sched_args=GROUP_PROPS,
                  worker_args=["--grace-ms", str(WORKER_GRACE_MS)])
        at_kill = d.kill_mid_drain()
        kill_ts = utc_now_iso()

        # The session runs out: the scheduler logs each partition revoked
        # (the assignment is lost) and cancels the jobs in flight.
        def revoked():
            d.check_alive("while the broker is down")
            return {int(e["partition"])
                    for e in log_events(d.sched, "revoked")
                    if e["_ts"] > kill_ts} == set(range(PARTITIONS))
        wait_for(revoked, 30, "the scheduler to lose its partitions when "
                 "its group session runs out", interval=0.1)
        t_lost = time.monotonic()
        log_note("assignment lost %.1fs after the kill" % (t_lost - d.t_kill))

        # Owning nothing is not a finished drain, and a job cancelled
        # while it waits for Kafka is not a hung plugin.
        while time.monotonic() - t_lost < LOST_GRACE_S:
            d.check_alive("after its partitions were revoked")
            expect(not log_events(d.sched, "drain complete"), "the drain is "
                   "not called complete while the partitions are revoked",
                   log_events(d.sched, "drain complete"))
            snap = status(d.sched)
            expect(not snap["partitions"], "the scheduler owns nothing "
                   "while its assignment is lost", snap["partitions"])
            expect(len(snap["workers"]) == WORKERS, "the scheduler still "
                   "lists every worker", snap["workers"])
            time.sleep(0.25)

        d.restart_and_finish(at_kill)
        again = {int(e["partition"]) for e in log_events(d.sched, "assigned")
                 if e["_ts"] > kill_ts}
        expect(again == set(range(PARTITIONS)), "the group assigned every "
               "partition again after the restart", again)


if __name__ == "__main__":
    main()
