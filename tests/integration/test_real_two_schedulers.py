"""Two schedulers in one consumer group: a real rebalance splits the
partitions between them, and when one dies the other takes over.

The mock broker's group coordinator is not Kafka's. Here scheduler A owns
all partitions and its workers (sleep plugin, so the work takes a while)
have begun its jobs when scheduler B joins the group: Kafka's group
protocol must split the partitions, which the `assigned`/`revoked` log
lines show as two disjoint, non-empty sets that together cover the topic.
Mid-drain A is SIGKILLed. After its session times out
(session.timeout.ms=6000) B must be assigned A's partitions too, resume
them from A's commits and finish: the group is committed at every high
watermark and no id is missing from the output. B runs without --drain,
since a draining scheduler exits once its own partitions are done and
might be gone before A's are handed over; the test waits on the committed
offsets instead."""
import collections

from harness import (Broker, committed, consume_all, expect, free_port,
                     high_watermarks, log_events, log_note, main, produce,
                     start_scheduler, start_worker, test, unique, wait_for)
from realkafka import GROUP_PROPS, require_real_broker

PARTITIONS = 4
PER_PARTITION = 2000
US_PER_RECORD = 3000      # 8000 records, 3 workers: about 8 s of work
SCHED_ARGS = ["--job-records", "200", "--commit-interval-ms", "200"]


def records():
    for p in range(PARTITIONS):
        for i in range(PER_PARTITION):
            rid = p * PER_PARTITION + i
            yield (str(rid), str(rid), p)


def owned(sched, topic):
    """The partitions a scheduler owns now, by its assigned/revoked log
    lines, in order."""
    events = [(e["_ts"], 0, e) for e in log_events(sched, "assigned")] + \
             [(e["_ts"], 1, e) for e in log_events(sched, "revoked")]
    parts = set()
    for _, kind, e in sorted(events, key=lambda x: (x[0], x[1])):
        if e.get("topic") != topic:
            continue
        if kind == 0:
            parts.add(int(e["partition"]))
        else:
            parts.discard(int(e["partition"]))
    return parts


@test
def two_schedulers_split_the_group_and_take_over():
    require_real_broker()
    src, out, group = unique("in"), unique("out"), unique("g")
    everything = set(range(PARTITIONS))
    with Broker(topics={src: PARTITIONS, out: PARTITIONS,
                        src + ".dlq": 1}) as kafka:
        total = produce(kafka, src, records())
        hwm = high_watermarks(kafka, src)

        a = start_scheduler(kafka, src, group, name="scheduler-a",
                            drain=False, args=SCHED_ARGS + GROUP_PROPS)
        wait_for(lambda: owned(a, src) == everything, 30,
                 "scheduler A to own every partition")
        # B starts later, but the workers know its endpoint from the start.
        b_port = free_port()
        b_endpoint = "tcp://127.0.0.1:%d" % b_port
        workers = [start_worker(kafka, [a.endpoint, b_endpoint], "sleep",
                                name="worker-%d" % i, output_topic=out,
                                plugin_opts={"us_per_record": US_PER_RECORD})
                   for i in (1, 2, 3)]
        wait_for(lambda: any(w for w in workers
                             if log_events(w, "job begin")),
                 30, "the workers to begin A's jobs")

        # B joins: a real rebalance splits the partitions.
        b = start_scheduler(kafka, src, group, name="scheduler-b",
                            port=b_port, drain=False,
                            args=SCHED_ARGS + GROUP_PROPS)

        def split():
            pa, pb = owned(a, src), owned(b, src)
            return pa and pb and not pa & pb and pa | pb == everything
        wait_for(split, 30, lambda: "the group to split the partitions "
                 "(A owns %s, B owns %s)" % (owned(a, src), owned(b, src)))
        a_parts, b_parts = owned(a, src), owned(b, src)
        log_note("split: A owns %s, B owns %s" % (sorted(a_parts),
                                                  sorted(b_parts)))

        # Mid-drain: some of A's partitions still have work to do.
        def a_mid_drain():
            got = committed(kafka, group, src)
            done = sum(max(got[p], 0) for p in a_parts)
            left = sum(hwm[p] - max(got[p], 0) for p in a_parts)
            return done > 0 and left > 0 and \
                done >= 0.2 * sum(hwm[p] for p in a_parts)
        wait_for(a_mid_drain, 40, lambda: "A to be mid-drain (%s)"
                 % committed(kafka, group, src))
        a.kill()
        at_kill = committed(kafka, group, src)
        expect(any(at_kill[p] < hwm[p] for p in a_parts),
               "A's partitions still had work when it was killed", at_kill)
        log_note("killed A; committed then %s of %s" % (at_kill, hwm))

        # B takes over A's partitions after A's session times out, and
        # finishes everything.
        wait_for(lambda: owned(b, src) == everything, 30,
                 lambda: "B to own every partition (owns %s)"
                 % owned(b, src))
        wait_for(lambda: committed(kafka, group, src) == hwm, 60,
                 lambda: "the group to be committed at the high watermarks"
                 " %s (at %s)" % (hwm, committed(kafka, group, src)),
                 interval=0.5)
        expect(b.alive(), "B still runs", b.log_tail(5))
        for w in workers:
            expect(w.alive(), "%s still runs" % w.name, w.log_tail(5))
        rc = b.stop(20)
        expect(rc == 0, "B exits 0 on SIGTERM", "exit %d" % rc)

        seen = collections.Counter(int(r.key) for r in consume_all(kafka, out))
        missing = [i for i in range(total) if seen[i] == 0]
        log_note("output: %d distinct ids, %d duplicates" %
                 (len(seen), sum(c - 1 for c in seen.values() if c > 1)))
        expect(not missing, "no id is missing from the output",
               "%d missing, first %s" % (len(missing), missing[:10]))


if __name__ == "__main__":
    main()
