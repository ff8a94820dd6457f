"""A worker whose scheduler disappears drops that scheduler's jobs, keeps
running, and announces itself again (with its credit) to the scheduler
that comes back on the same endpoint.

One worker, slow jobs (the sleep plugin). Once it is working, the
scheduler is SIGKILLed: no BYE, and ZeroMQ does not tell a DEALER that its
peer went away, so only the missed heartbeats can. Within
heartbeat x liveness the worker must log that the scheduler is silent,
drop its jobs (the running one is abandoned), and keep announcing itself.
A new scheduler on the same endpoint must see the same worker process
join with its full credit and finish the drain with nothing lost."""
import collections
import time

from harness import (Broker, committed, consume_all, expect, free_port,
                     high_watermarks, log_events, log_note, main, produce,
                     start_scheduler, start_worker, test, unique, wait_for)

PARTITIONS = 2
PER_PARTITION = 1500
HEARTBEAT_MS = 200
LIVENESS = 3
CREDITS = 2
GROUP_PROPS = ["-X", "session.timeout.ms=6000",
               "-X", "heartbeat.interval.ms=500"]
SCHED_ARGS = ["--job-records", "250", "--commit-interval-ms", "200",
              "--heartbeat-ms", str(HEARTBEAT_MS),
              "--liveness", str(LIVENESS)] + GROUP_PROPS


def records():
    for p in range(PARTITIONS):
        for i in range(PER_PARTITION):
            rid = p * PER_PARTITION + i
            yield (str(rid), str(rid), p)


@test
def worker_survives_scheduler_loss_and_rejoins():
    src, out, group = unique("in"), unique("out"), unique("g")
    total = PARTITIONS * PER_PARTITION
    port = free_port()
    with Broker(topics={src: PARTITIONS, out: PARTITIONS,
                        src + ".dlq": 1}) as kafka:
        produce(kafka, src, records())
        hwm = high_watermarks(kafka, src)
        first = start_scheduler(kafka, src, group, port=port,
                                name="scheduler-1", args=SCHED_ARGS)
        worker = start_worker(kafka, first.endpoint, "sleep", output_topic=out,
                              plugin_opts={"us_per_record": 2000},
                              args=["--heartbeat-ms", str(HEARTBEAT_MS),
                                    "--liveness", str(LIVENESS),
                                    "--credits", str(CREDITS)])
        wait_for(lambda: log_events(worker, "job begin"), 60,
                 "the worker to begin a job")
        first.kill()
        t_kill = time.monotonic()
        log_note("scheduler-1 SIGKILLed while the worker runs a job")

        silent = wait_for(lambda: log_events(worker, "scheduler silent, "
                                             "dropping its jobs"),
                          10, "the worker to notice the silent scheduler")
        noticed = time.monotonic() - t_kill
        log_note("worker noticed the loss after %.2f s" % noticed)
        expect(noticed <= (HEARTBEAT_MS * (LIVENESS + 2)) / 1000.0 + 1.0,
               "the loss is noticed within about heartbeat x liveness",
               "%.2f s" % noticed)
        expect(silent[0].get("scheduler") == first.endpoint,
               "the worker names the scheduler it lost", silent[0])
        wait_for(lambda: log_events(worker, "announcing again"), 10,
                 "the worker to announce itself again")
        expect(worker.alive(), "the worker keeps running without a "
               "scheduler", worker.returncode)
        # The job it was running is dropped, not finished for nobody.
        wait_for(lambda: log_events(worker, "job abandoned") or
                 log_events(worker, "job done"), 10,
                 "the running job to end")

        second = start_scheduler(kafka, src, group, port=port,
                                 name="scheduler-2", args=SCHED_ARGS)
        joined = wait_for(lambda: log_events(second, "worker joined"), 30,
                          "the same worker to join the new scheduler")
        expect(joined[0].get("credits") == str(CREDITS),
               "the worker re-announces its full credit", joined[0])
        expect(joined[0].get("worker", "").endswith("/%d" % worker.worker_pid),
               "the worker that joined is the same process",
               "%s vs pid %d" % (joined[0], worker.worker_pid))
        rc = second.wait(120, watch=[worker])
        expect(rc == 0, "the new scheduler finishes the drain",
               "exit %d" % rc)
        expect(log_events(worker, "scheduler back") or
               len(log_events(worker, "announcing again")) >= 1,
               "the worker saw its scheduler come back")

        seen = collections.Counter(int(r.key) for r in consume_all(kafka, out))
        missing = [i for i in range(total) if not seen[i]]
        expect(not missing, "every id is in the output",
               "%d missing, first %s" % (len(missing), missing[:10]))
        expect(committed(kafka, group, src) == hwm,
               "committed offsets equal the high watermarks")


if __name__ == "__main__":
    main()
