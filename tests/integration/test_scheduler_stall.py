"""A scheduler whose own loop stalled judges its workers fairly.

A scheduler stopped for longer than its liveness window and its leases
(SIGSTOP here; a rebalance callback waiting on a slow coordinator, or a
starved CPU, does the same) used to wake up, run its expired timers before
reading its socket, declare every live worker dead for "missed
heartbeats", charge their jobs an attempt and re-run them. Now it reads
what is waiting before it judges anyone, and a gap between its own timers
longer than a second is counted as its stall, not as the workers' silence
or their jobs' slowness: nobody is dropped, no job is retried, and the
drain completes with every record once.

The workers' own liveness window (8 s) is longer than the stall (3 s), so
they keep their jobs: only the scheduler's judgement is under test."""
import collections
import signal
import time

from harness import (Broker, committed, consume_all, expect, high_watermarks,
                     log_events, log_note, main, produce, start_scheduler,
                     start_worker, test, unique, wait_for)

PARTITIONS = 2
PER = 400
STALL_S = 3


@test
def a_stalled_scheduler_drops_no_live_worker():
    src, out, group = unique("in"), unique("out"), unique("g")
    with Broker(topics={src: PARTITIONS, out: PARTITIONS,
                        src + ".dlq": 1}) as kafka:
        produce(kafka, src, ((str(p * PER + i), str(p * PER + i), p)
                             for p in range(PARTITIONS) for i in range(PER)))
        hwm = high_watermarks(kafka, src)
        # Liveness 1 s and leases of 1.5 s, both shorter than the stall.
        sched = start_scheduler(kafka, src, group, args=[
            "--job-records", "200", "--heartbeat-ms", "200",
            "--liveness", "5", "--job-timeout-ms", "1500"])
        # 200 records x 15 ms: 3 s a job, PROGRESS every 10 records.
        workers = [start_worker(kafka, sched.endpoint, "sleep",
                                name="worker-%d" % i, output_topic=out,
                                plugin_opts={"us_per_record": 15000},
                                args=["--batch-size", "10",
                                      "--heartbeat-ms", "200",
                                      "--liveness", "40"])
                   for i in (1, 2)]
        wait_for(lambda: all(log_events(w, "job begin") for w in workers),
                 30, "both workers run a job")
        sched.signal(signal.SIGSTOP)
        time.sleep(STALL_S)  # the fault itself: a stall this long
        sched.signal(signal.SIGCONT)
        rc = sched.wait(90, watch=workers)
        expect(rc == 0, "the drain finishes", "exit %d" % rc)
        gone = log_events(sched, "worker gone")
        expect(not gone, "no live worker was dropped",
               [(e.get("worker"), e.get("reason")) for e in gone])
        expect(not log_events(sched, "job failed, retrying"),
               "no job was charged an attempt", sched.log_path)
        stalls = log_events(sched, "scheduler loop stalled, not counted "
                            "against workers or leases")
        log_note("stall seen by the scheduler: %s"
                 % [e.get("stall_ms") for e in stalls])
        expect(stalls and int(stalls[0]["stall_ms"]) >= STALL_S * 1000 - 200,
               "the scheduler saw its own stall", sched.log_path)
        begun = [e for w in workers for e in log_events(w, "job begin")]
        expect(all(e["attempt"] == "1" for e in begun),
               "every job ran once",
               [(e["start"], e["attempt"]) for e in begun])
        seen = collections.Counter(int(r.key)
                                   for r in consume_all(kafka, out))
        total = PARTITIONS * PER
        missing = [i for i in range(total) if not seen[i]]
        expect(not missing, "every id is in the output", missing[:10])
        expect(committed(kafka, group, src) == hwm,
               "committed offsets equal the high watermarks")


if __name__ == "__main__":
    main()
