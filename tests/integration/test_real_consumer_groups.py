"""Kafka's own kafka-consumer-groups tool sees a sluice drain's lag fall to 0.

The scheduler joins the group and commits through Kafka's group protocol,
so standard tools (kafka-consumer-groups, Burrow, kafka_exporter, KEDA)
see its lag. During a drain slowed down by the sleep plugin, the test runs
`kafka.sh consumer-groups --describe --group G` again and again and parses
its table: while the drain runs the scheduler is listed as the member that
owns the partitions (CLIENT-ID sluice-scheduler) and the LAG column is
above 0 and never grows; after the drain every partition's LAG is 0, with
CURRENT-OFFSET and LOG-END-OFFSET equal to the committed offsets and high
watermarks the test reads itself."""
import time

from harness import (Broker, committed, expect, high_watermarks, log_note,
                     main, produce, start_scheduler, start_worker, test,
                     unique, TestFailure)
from realkafka import kafka_sh, require_real_broker

PARTITIONS = 3
PER_PARTITION = 1500
US_PER_RECORD = 2000      # 4500 records, 1 worker: about 9 s


def describe(kafka, group, topic):
    """Parse `kafka-consumer-groups --describe`: {partition: row}, each
    row a dict of the table's columns (GROUP, TOPIC, PARTITION,
    CURRENT-OFFSET, LOG-END-OFFSET, LAG, CONSUMER-ID, HOST, CLIENT-ID)."""
    rc, out, err = kafka_sh("consumer-groups", "--bootstrap-server",
                            kafka.bootstrap, "--describe", "--group", group)
    if rc != 0:
        raise TestFailure("kafka-consumer-groups --describe exited %d: %s"
                          % (rc, (err or out).strip()[-500:]))
    rows, header = {}, None
    for line in out.splitlines():
        cols = line.split()
        if cols[:2] == ["GROUP", "TOPIC"]:
            header = cols
        elif header and len(cols) == len(header) and cols[1] == topic:
            row = dict(zip(header, cols))
            rows[int(row["PARTITION"])] = row
    return rows


def total_lag(rows):
    """Sum of the LAG column, or None while some partition shows "-" (no
    commit yet) or is not listed."""
    if len(rows) < PARTITIONS or any(r["LAG"] == "-" for r in rows.values()):
        return None
    return sum(int(r["LAG"]) for r in rows.values())


@test
def consumer_groups_tool_shows_the_lag_going_to_zero():
    require_real_broker()
    src, group = unique("in"), unique("g")
    with Broker(topics={src: PARTITIONS, src + ".dlq": 1}) as kafka:
        produce(kafka, src, ((str(i), str(i), i % PARTITIONS)
                             for i in range(PARTITIONS * PER_PARTITION)))
        hwm = high_watermarks(kafka, src)
        sched = start_scheduler(kafka, src, group, args=[
            "--job-records", "250", "--commit-interval-ms", "200"])
        worker = start_worker(kafka, sched.endpoint, "sleep",
                              plugin_opts={"us_per_record": US_PER_RECORD})

        samples = []            # (seconds, total lag or None, members)
        t0 = time.monotonic()
        while sched.alive() and time.monotonic() - t0 < 45:
            expect(worker.alive(), "the worker runs", worker.log_tail(5))
            rows = describe(kafka, group, src)
            members = {r["CLIENT-ID"] for r in rows.values()} - {"-"}
            samples.append((time.monotonic() - t0, total_lag(rows),
                            members))
        rc = sched.wait(10, watch=[worker])
        expect(rc == 0, "the drain exits 0", "exit %d" % rc)

        final = describe(kafka, group, src)
        log_note("lag samples: %s; final %s" % (
            ", ".join("%.1fs:%s" % (t, lag) for t, lag, _ in samples),
            total_lag(final)))
        lags = [lag for _, lag, _ in samples if lag is not None]
        expect(any(lag > 0 for lag in lags), "the tool showed a lag above 0 "
               "during the drain", samples)
        expect(all(a >= b for a, b in zip(lags, lags[1:])),
               "the lag never grew during the drain", lags)
        expect(any("sluice-scheduler" in m for _, _, m in samples),
               "the tool listed the scheduler as the group's member",
               samples)
        expect(total_lag(final) == 0, "the tool shows lag 0 after the "
               "drain", final)
        got = committed(kafka, group, src)
        for p, row in final.items():
            expect(int(row["CURRENT-OFFSET"]) == got[p] and
                   int(row["LOG-END-OFFSET"]) == hwm[p],
                   "partition %d: the tool's offsets match the group's "
                   "commit and the high watermark" % p,
                   "%s vs committed %s, high watermark %s"
                   % (row, got[p], hwm[p]))


if __name__ == "__main__":
    main()
