"""Static membership (--instance-id): a scheduler SIGKILLed and restarted
with the same instance id takes its partitions back at once.

Without it a restarted scheduler is a new member: the group keeps the dead
one's partitions until its session times out (session.timeout.ms, 45 s by
default, 10 s here), and nothing of them is dispatched or committed
meanwhile. With group.instance.id the coordinator recognises the member
when it joins again and hands it its assignment without waiting.

Each test kills the scheduler mid-drain (its workers keep running and find
the new one on the same port), starts it again at once, and measures
SIGKILL -> the new scheduler's assignment -> the group's first commit
after the kill. With the same --instance-id that must be at most
TAKEOVER_S; the control without it shows what it was before."""
import collections
import time

from harness import (Broker, committed, consume_all, expect, free_port,
                     high_watermarks, log_events, log_note, main, produce,
                     start_scheduler, start_worker, test, unique, wait_for)
from realkafka import require_real_broker

PARTITIONS = 4
PER_PARTITION = 3000
SESSION_MS = 10000
TAKEOVER_S = 2.0
SCHED_ARGS = ["--job-records", "100", "--commit-interval-ms", "100",
              "-X", "session.timeout.ms=%d" % SESSION_MS,
              "-X", "heartbeat.interval.ms=500"]


def kill_and_restart(static):
    """Returns (seconds to the new assignment, seconds to the first
    commit) after the kill."""
    src, out, group = unique("in"), unique("out"), unique("g")
    args = SCHED_ARGS + (["--instance-id", "scheduler-0"] if static else [])
    with Broker(topics={src: PARTITIONS, out: PARTITIONS,
                        src + ".dlq": 1}) as kafka:
        total = produce(kafka, src, ((str(p * PER_PARTITION + i),
                                      str(p * PER_PARTITION + i), p)
                                     for p in range(PARTITIONS)
                                     for i in range(PER_PARTITION)))
        hwm = high_watermarks(kafka, src)
        port = free_port()
        first = start_scheduler(kafka, src, group, name="scheduler-1",
                                port=port, drain=False, args=args)
        workers = [start_worker(kafka, first.endpoint, "sleep",
                                name="worker-%d" % i, output_topic=out,
                                plugin_opts={"us_per_record": 1000})
                   for i in (1, 2)]

        def mid_drain():
            got = committed(kafka, group, src)
            done = sum(max(v, 0) for v in got.values())
            return 0.1 * total <= done <= 0.5 * total and got
        at_kill = wait_for(mid_drain, 60, "the drain to be under way",
                           interval=0.1)
        t_kill = time.monotonic()
        first.kill()
        second = start_scheduler(kafka, src, group, name="scheduler-2",
                                 port=port, drain=False, args=args)
        wait_for(lambda: log_events(second, "assigned"), 3 * SESSION_MS,
                 "the new scheduler to be assigned partitions", interval=0.02)
        t_assigned = time.monotonic()
        base = sum(max(v, 0) for v in committed(kafka, group, src).values())

        def moved():
            now = sum(max(v, 0) for v in committed(kafka, group, src).values())
            return now > max(base, sum(max(v, 0) for v in at_kill.values()))
        wait_for(moved, 3 * SESSION_MS, "a commit after the restart",
                 interval=0.02)
        t_commit = time.monotonic()
        wait_for(lambda: committed(kafka, group, src) == hwm, 120,
                 "the group committed at the high watermarks", interval=0.5)
        second.stop(20)
        seen = collections.Counter(int(r.key)
                                   for r in consume_all(kafka, out))
        missing = [i for i in range(total) if not seen[i]]
        expect(not missing, "no id is missing from the output", missing[:10])
        return t_assigned - t_kill, t_commit - t_kill


@test
def a_restarted_static_member_takes_its_partitions_back_at_once():
    require_real_broker()
    assigned, commit = kill_and_restart(static=True)
    log_note("static member: SIGKILL -> assigned %.2f s, -> first commit "
             "%.2f s" % (assigned, commit))
    expect(commit <= TAKEOVER_S, "SIGKILL -> restart -> first commit within "
           "%.1f s" % TAKEOVER_S, "%.2f s" % commit)


@test
def without_an_instance_id_the_session_timeout_is_waited_out():
    require_real_broker()
    assigned, commit = kill_and_restart(static=False)
    log_note("dynamic member: SIGKILL -> assigned %.2f s, -> first commit "
             "%.2f s" % (assigned, commit))
    expect(commit >= 0.5 * SESSION_MS / 1000, "the takeover waited for the "
           "session timeout (the figure static membership improves on)",
           "%.2f s" % commit)


if __name__ == "__main__":
    main()
