"""`sluice status` shows what a running scheduler is doing, and its numbers
match Kafka: committed offsets and high watermarks as the broker reports
them, lag = high watermark - committed, and the connected workers."""
import json
import os

from harness import (BIN, Broker, committed, expect, high_watermarks, main,
                     produce, run_cli, start_scheduler, start_worker, test,
                     unique, wait_for)

PARTITIONS = 3
PER_PARTITION = 2000


def status(endpoint, *extra):
    rc, out, err = run_cli([os.path.join(BIN, "sluice"), "status",
                            "--scheduler", endpoint, *extra])
    expect(rc == 0, "sluice status exits 0", "exit %d: %s" % (rc, err))
    return out


@test
def status_matches_kafka():
    src, group = unique("in"), unique("g")
    with Broker(topics={src: PARTITIONS, src + ".dlq": 1}) as kafka:
        produce(kafka, src, ((str(i), str(i), i % PARTITIONS)
                             for i in range(PARTITIONS * PER_PARTITION)))
        hwm = high_watermarks(kafka, src)
        # No --drain: the scheduler keeps running after it caught up.
        sched = start_scheduler(kafka, src, group, drain=False,
                                args=["--commit-interval-ms", "100"])
        workers = [start_worker(kafka, sched.endpoint, "noop",
                                name="worker-%d" % i) for i in (1, 2)]

        # Both workers listed too: on a real broker one worker can drain
        # all of it in 50 ms, before the other's first HELLO (a worker that
        # came before the scheduler bound announces itself on its next
        # heartbeat, up to a second later).
        def caught_up():
            snap = json.loads(status(sched.endpoint, "--json"))
            parts = snap["partitions"]
            return (len(parts) == PARTITIONS and
                    all(p["lag"] == 0 and p["committed"] > 0 for p in parts)
                    and committed(kafka, group, src) == hwm and
                    len(snap["workers"]) == 2 and snap)
        snap = wait_for(caught_up, 90, "status reports lag 0 on every "
                        "partition, the group is committed to the end and "
                        "both workers are listed")
        for p in snap["partitions"]:
            expect(p["high_watermark"] == hwm[p["partition"]],
                   "status high watermark equals Kafka's", p)
            expect(p["committed"] == hwm[p["partition"]],
                   "status committed equals Kafka's committed offset", p)
            expect(p["lag"] == p["high_watermark"] - p["committed"],
                   "lag = high watermark - committed", p)
        expect(len(snap["workers"]) == 2, "both workers are listed",
               snap["workers"])
        expect(sum(w["jobs_done"] for w in snap["workers"]) > 0,
               "workers have jobs done", snap["workers"])
        expect(snap["records_done"] == PARTITIONS * PER_PARTITION,
               "records done counts every record once", snap["records_done"])

        # The table names every partition and the total lag.
        table = status(sched.endpoint)
        expect("TOTAL" in table and group in table, "the table has a header "
               "line with the group and a TOTAL row", table)
        for p in range(PARTITIONS):
            expect(any(line.split()[:2] == [src, str(p)]
                       for line in table.splitlines()),
                   "the table has a row for partition %d" % p, table)

        # Bad use: one line, exit 2; no scheduler there: exit 1.
        rc, _, err = run_cli([os.path.join(BIN, "sluice"), "status"])
        expect(rc == 2 and len(err.strip().splitlines()) == 1,
               "sluice status without --scheduler exits 2 with one line", err)
        for w in workers:
            w.stop(20)
        sched.stop(20)


if __name__ == "__main__":
    main()
