"""Leases: progress keeps a long job's lease; an expired job is re-run; a
late DONE from the old holder is accepted once and never double-counted.

progress_keeps_the_lease: jobs take about 3 s with --job-timeout-ms 1500.
The worker hands the plugin small batches (--batch-size 10) and sends
PROGRESS between them, so no lease expires and every job runs once.

late_done_is_counted_once: a slow worker gets each job as one batch
(--batch-size 500) that takes 2 s, longer than the 1 s lease, and it
cannot send PROGRESS from inside a plugin call. Its lease expires, the
scheduler re-queues the job (attempt + 1) and cancels it; a fast worker
does it. The slow worker then finishes the batch it was in: the range is
complete, so it reports DONE anyway, late. The scheduler must take the
first DONE and ignore the second: sluice_records_done_total equals the
records in the topic exactly, sluice_jobs_total{outcome="late"} counts
the ignored DONEs, the group is committed at the high watermarks, and
nothing is missing from the output."""
import collections

from harness import (Broker, committed, consume_all, expect, free_port,
                     high_watermarks, log_events, log_note, main, produce,
                     scrape_metrics as scrape,
                     start_scheduler, start_worker, test, unique, wait_for)

PARTITIONS = 2


def records(per):
    for p in range(PARTITIONS):
        for i in range(per):
            rid = p * per + i
            yield (str(rid), str(rid), p)


def check_output(kafka, out, group, src, hwm, total):
    seen = collections.Counter(int(r.key) for r in consume_all(kafka, out))
    missing = [i for i in range(total) if not seen[i]]
    expect(not missing, "every id is in the output",
           "%d missing, first %s" % (len(missing), missing[:10]))
    expect(committed(kafka, group, src) == hwm,
           "committed offsets equal the high watermarks")


@test
def progress_keeps_the_lease():
    per = 400
    src, out, group = unique("in"), unique("out"), unique("g")
    with Broker(topics={src: PARTITIONS, out: PARTITIONS,
                        src + ".dlq": 1}) as kafka:
        produce(kafka, src, records(per))
        hwm = high_watermarks(kafka, src)
        sched = start_scheduler(kafka, src, group, args=[
            "--job-records", "200", "--job-timeout-ms", "1500"])
        # 200 records x 15 ms: 3 s per job, twice the lease.
        workers = [start_worker(kafka, sched.endpoint, "sleep",
                                name="worker-%d" % i, output_topic=out,
                                plugin_opts={"us_per_record": 15000},
                                args=["--batch-size", "10"])
                   for i in (1, 2)]
        rc = sched.wait(60, watch=workers)
        expect(rc == 0, "the drain finishes", "exit %d" % rc)
        begun = [e for w in workers for e in log_events(w, "job begin")]
        durations = [int(e["ms"]) for w in workers
                     for e in log_events(w, "job done")]
        log_note("%d jobs, longest %d ms, lease 1500 ms"
                 % (len(begun), max(durations)))
        expect(max(durations) > 1500, "jobs outlast the lease", durations)
        expect(all(e["attempt"] == "1" for e in begun),
               "no job was run twice: PROGRESS kept every lease",
               [(e["start"], e["attempt"]) for e in begun])
        expect(not log_events(sched, "job failed, retrying"),
               "no lease expired", sched.log_path)
        check_output(kafka, out, group, src, hwm, PARTITIONS * per)


@test
def late_done_is_counted_once():
    per = 400
    total = PARTITIONS * per
    src, out, group = unique("in"), unique("out"), unique("g")
    port = free_port()
    with Broker(topics={src: PARTITIONS, out: PARTITIONS,
                        src + ".dlq": 1}) as kafka:
        produce(kafka, src, records(per))
        hwm = high_watermarks(kafka, src)
        # Heartbeats far longer than the lease: the slow worker is alive,
        # only its lease runs out.
        sched = start_scheduler(kafka, src, group, drain=False, args=[
            "--job-records", "200", "--job-timeout-ms", "1000",
            "--heartbeat-ms", "500", "--liveness", "20",
            "--metrics-addr", "127.0.0.1:%d" % port])
        slow = start_worker(kafka, sched.endpoint, "sleep", name="slow",
                            output_topic=out,
                            plugin_opts={"us_per_record": 10000},
                            args=["--batch-size", "500", "--credits", "1"])
        wait_for(lambda: log_events(slow, "job begin"), 30,
                 "the slow worker to begin a job")
        fast = start_worker(kafka, sched.endpoint, "copy", name="fast",
                            output_topic=out)
        wait_for(lambda: committed(kafka, group, src) == hwm, 60,
                 "the group to be committed at the high watermarks",
                 interval=0.3)
        # Wait for the slow worker's last batch to end and its DONE.
        wait_for(lambda: (scrape(port) or {}).get(
            'sluice_jobs_total{outcome="late"}', 0) >= 1, 30,
            "a late DONE to reach the scheduler")
        metrics = scrape(port)
        expired = metrics['sluice_jobs_total{outcome="expired"}']
        late = metrics['sluice_jobs_total{outcome="late"}']
        done = metrics["sluice_records_done_total"]
        log_note("expired %d, late DONEs %d, records done %d of %d"
                 % (expired, late, done, total))
        expect(expired >= 1, "the slow worker's lease expired", expired)
        slow_done = {(e["partition"], e["start"])
                     for e in log_events(slow, "job done")}
        fast_done = {(e["partition"], e["start"])
                     for e in log_events(fast, "job done")}
        expect(slow_done & fast_done, "a range was finished by both the old "
               "holder and the new one", (slow_done, fast_done))
        expect(done == total, "records done counted once each",
               "%d counted for %d records" % (done, total))
        expect(sched.stop() == 0, "the scheduler exits 0")
        check_output(kafka, out, group, src, hwm, total)


if __name__ == "__main__":
    main()
