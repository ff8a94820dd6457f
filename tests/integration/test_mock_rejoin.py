"""test_mock_rejoin - a scheduler stranded in its group without partitions,
while the group has lag that nobody works off, rejoins on its own.

The report (issue 19): on another broker implementation a scheduler
whose group request timed out sat without partitions for over five
minutes and never rejoined. librdkafka 2.0.2 recovers by itself from a
SyncGroup that fails or times out (it rejoins 2 s after the 9 s timeout
with session.timeout.ms=6000; tried on the embedded broker), but a
JoinGroup whose answer never comes is waited for max.poll.interval.ms +
3 s: 303 s by default, the "over five minutes" of the report. So the
stuck state is made that way: the embedded broker holds the answer to the
scheduler's JoinGroup for 600 s (`broker-errors 1 JoinGroup 1 NO_ERROR
600000`, a delay, not an error). The scheduler is then a consumer that
asked to join and holds nothing, every partition has lag, and no commit
moves: before the rejoin check it stayed so for 303 s.

The scheduler must notice within a few session timeouts (3 x 6 s here),
log one line with the figures, rejoin, get the partitions and drain the
backlog; sluice_scheduler_rejoins_total counts it.

The second test is the other side: a standby scheduler without
partitions in a group where another scheduler drains the topic (the
commits move) must not rejoin, or two schedulers would trade rebalances.
"""

import time

from harness import (Broker, committed, expect, free_port, high_watermarks,
                     log_events, log_note, main, produce, scrape_metrics,
                     start_scheduler, start_worker, test, unique, wait_for)

SESSION_MS = 6000
PARTITIONS = 4
PER_PARTITION = 500
#  The rejoin is due 3 session timeouts after the stall is first seen (a
#  check runs once a session timeout); the embedded coordinator then
#  takes a few seconds to hand out the partitions.
REJOINED_S = 3 * SESSION_MS / 1000 + 2 * SESSION_MS / 1000 + 15
SCHED_ARGS = ["--job-records", "100", "--commit-interval-ms", "200",
              "-X", "session.timeout.ms=%d" % SESSION_MS,
              "-X", "heartbeat.interval.ms=500"]


@test
def a_scheduler_stranded_without_partitions_rejoins():
    src, group = unique("in"), unique("g")
    with Broker(topics={src: PARTITIONS}) as kafka:
        total = produce(kafka, src, ((str(i), str(i), i % PARTITIONS)
                                     for i in range(PARTITIONS *
                                                    PER_PARTITION)))
        hwm = high_watermarks(kafka, src)
        #  The answer to the scheduler's JoinGroup is held for 600 s.
        kafka.control("broker-errors 1 JoinGroup 1 NO_ERROR 600000")
        port = free_port()
        t0 = time.monotonic()
        sched = start_scheduler(kafka, src, group, drain=False,
                                args=SCHED_ARGS + ["--metrics-addr",
                                                   "127.0.0.1:%d" % port])
        start_worker(kafka, sched.endpoint, "noop")
        wait_for(lambda: kafka.control("errors-left 1 JoinGroup") == "ok 0",
                 30, "the scheduler's JoinGroup to meet the held answer")
        time.sleep(2 * SESSION_MS / 1000)
        expect(not log_events(sched, "assigned"),
               "the scheduler is stuck: no partition two session timeouts "
               "after its JoinGroup", log_events(sched, "assigned"))
        expect(all(v < 0 for v in committed(kafka, group, src).values()),
               "nothing is committed while it is stuck")

        wait_for(lambda: log_events(sched, "assigned"), REJOINED_S,
                 "the stranded scheduler to rejoin and be assigned "
                 "partitions (librdkafka alone waits 303 s)", interval=0.2)
        t_assigned = time.monotonic() - t0
        rejoins = log_events(sched, "rejoining the group:")
        expect(len(rejoins) == 1, "one rejoin, logged once", rejoins)
        r = rejoins[0]
        log_note("rejoin line: %s" % {k: v for k, v in r.items()
                                      if not k.startswith("_")})
        expect(r["_level"] == "warn", "the rejoin is a warning", r)
        expect(int(r["group_lag"]) == total and
               int(r["lagged_partitions"]) == PARTITIONS and
               int(r["partitions"]) == PARTITIONS,
               "the line has the group's lag: %d records on %d partitions"
               % (total, PARTITIONS), r)
        expect(float(r["held_none_s"]) >= 3 * SESSION_MS / 1000 and
               float(r["committed_still_s"]) >= 3 * SESSION_MS / 1000,
               "it waited 3 session timeouts", r)

        def first_commit():
            return any(v > 0 for v in committed(kafka, group, src).values())
        wait_for(first_commit, 30, "a first commit after the rejoin",
                 interval=0.1)
        t_commit = time.monotonic() - t0
        wait_for(lambda: committed(kafka, group, src) == hwm, 60,
                 "the backlog to drain (committed at %s)" % hwm,
                 interval=0.2)
        log_note("stuck at 0 s (start), rejoined and assigned at %.1f s, "
                 "first commit at %.1f s, drained at %.1f s"
                 % (t_assigned, t_commit, time.monotonic() - t0))
        m = scrape_metrics(port)
        expect(m and m.get("sluice_scheduler_rejoins_total") == 1,
               "sluice_scheduler_rejoins_total counts the rejoin",
               m and m.get("sluice_scheduler_rejoins_total"))
        expect(sched.stop() == 0, "the scheduler stops cleanly")


@test
def a_standby_scheduler_does_not_rejoin_while_others_work():
    src, group = unique("in"), unique("g")
    #  One partition: whoever holds it, the other scheduler holds nothing.
    with Broker(topics={src: 1}) as kafka:
        produce(kafka, src, ((str(i), str(i), 0) for i in range(3000)))
        hwm = high_watermarks(kafka, src)
        a = start_scheduler(kafka, src, group, name="scheduler-a",
                            drain=False, args=SCHED_ARGS)
        wait_for(lambda: log_events(a, "assigned"), 60,
                 "scheduler A to own the partition")
        b = start_scheduler(kafka, src, group, name="scheduler-b",
                            drain=False, args=SCHED_ARGS)
        #  The slow worker (about 30 s of work) serves both; whichever
        #  scheduler the group gives the partition works it off while the
        #  other stands by.
        start_worker(kafka, [a.endpoint, b.endpoint], "sleep",
                     plugin_opts={"us_per_record": 10000})
        t0 = time.monotonic()
        wait_for(lambda: committed(kafka, group, src) == hwm, 120,
                 "the partition to be drained", interval=0.5)
        busy_s = time.monotonic() - t0
        #  And stand by a while with nothing to do.
        time.sleep(4 * SESSION_MS / 1000)
        log_note("drained in %.1f s, then idle %.0f s"
                 % (busy_s, 4 * SESSION_MS / 1000))
        expect(busy_s >= 4 * SESSION_MS / 1000,
               "the standby saw commits move for longer than the rejoin "
               "wait", "%.1f s" % busy_s)
        for s in (a, b):
            expect(not log_events(s, "rejoining the group:"),
                   "%s did not rejoin" % s.name,
                   log_events(s, "rejoining the group:"))


if __name__ == "__main__":
    main()
