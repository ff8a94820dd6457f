"""test_tail - a record at the tail of a partition goes out as soon as a
worker has seen it arrive.

The scheduler learns where a partition ends by asking the broker: every
--tail-poll-ms (10 ms by default) while it waits for records, else once
a second. A worker lane that is idle at the end of its last job still has
its consumer fetching there (for 200 ms, then it pauses the partition):
when records arrive it takes them for its next job and tells the
scheduler (TAIL), which cuts that job at once.

  records_at_the_tail_go_out_before_the_schedulers_look  one partition,
      one worker, the scheduler's own look slowed to once a second
      (--tail-poll-ms 1000); a record every 100 ms for 4 s. After the
      first job (cut by the scheduler's own look: no lane was at the tail
      yet), each record's job must begin within 150 ms of the record's
      produce at the median (from the scheduler's look alone it
      waits 0-1 s, 0.5 s at the median; 0.4-0.6 s without TAIL), and
      sluice_tail_hints_total counts the TAILs that raised the high
      watermark. Every record is processed once; the group commits the
      end.
"""
import datetime
import statistics
import time

from confluent_kafka import Producer

from harness import (Broker, committed, expect, log_events, log_note, main,
                     metrics_port, scrape_metrics, start_scheduler,
                     start_worker, test, ts_seconds, unique, wait_for)

RECORDS = 40
EVERY_S = 0.1
SKIP = 3
BOUND_S = 0.15


def now_of_day():
    """Seconds since UTC midnight, as ts_seconds counts log times."""
    t = datetime.datetime.now(datetime.timezone.utc)
    return t.hour * 3600 + t.minute * 60 + t.second + t.microsecond / 1e6


@test
def records_at_the_tail_go_out_before_the_schedulers_look():
    src, group = unique("in"), unique("g")
    with Broker(topics={src: 1}) as kafka:
        sched = start_scheduler(kafka, src, group, drain=False, args=[
            "--tail-poll-ms", "1000", "--job-records", "100",
            "--commit-interval-ms", "100", "--metrics-addr", "127.0.0.1:0"])
        port = metrics_port(sched)
        worker = start_worker(kafka, sched.endpoint, "noop")
        wait_for(lambda: log_events(sched, "worker joined") and
                 log_events(sched, "assigned"), 60,
                 "the worker joins and the partition is assigned")
        producer = Producer(kafka.conf(**{"linger.ms": 0}))
        sent = []
        for i in range(RECORDS):
            t = now_of_day()
            producer.produce(src, key=str(i), value=str(i), partition=0)
            producer.flush(10)
            sent.append(t)
            time.sleep(EVERY_S)
        wait_for(lambda: committed(kafka, group, src) == {0: RECORDS}, 30,
                 "the group commits every record")
        begun = [e for e in log_events(worker, "job begin")
                 if e["attempt"] == "1"]
        # Until a lane has run a job here, none sits at the tail: the
        # first job is the scheduler's own look's.
        first_end = min(int(e["end"]) for e in begun)
        waits = []
        for i in range(max(first_end, SKIP), RECORDS):
            job = next((e for e in begun if int(e["start"]) <= i <
                        int(e["end"])), None)
            expect(job, "record %d was in a job" % i)
            waits.append(ts_seconds(job["_ts"]) - sent[i])
        taken = sorted(o for e in begun
                       for o in range(int(e["start"]), int(e["end"])))
        expect(taken == list(range(RECORDS)), "each record in one job",
               taken)
        median = statistics.median(waits)
        hints = (scrape_metrics(port) or {}).get("sluice_tail_hints_total")
        log_note("produce -> job begin: median %.0f ms, max %.0f ms; "
                 "%d jobs; TAILs that raised the high watermark: %s"
                 % (median * 1000, max(waits) * 1000, len(begun), hints))
        expect(median < BOUND_S, "a record at the tail is handed out "
               "within %d ms at the median" % (BOUND_S * 1000),
               "%.0f ms" % (median * 1000))
        expect(hints is not None and hints >= RECORDS // 2,
               "the scheduler counts the TAILs", hints)


if __name__ == "__main__":
    main()
