"""One asynchronous commit per partition in flight.

Two commits of a partition in flight can reach the group in either order:
librdkafka retries the older one after a coordinator outage, and an older
offset landing last moves the group back (seen once in
test_mock_broker_faults under ASan: committed 1400, then 1000). So the
scheduler sends a partition's next commit only once the previous one has
been answered.

The embedded broker holds the answer to one OffsetCommit for 1.5 s
(rd_kafka_mock_broker_push_request_error_rtts with NO_ERROR) while a
worker keeps finishing jobs and the scheduler commits every 50 ms: the
scheduler's "committing" lines must pause for about that long, then go on
with the offsets it could not send meanwhile. A scheduler that pipelines
commits goes on every 50-100 ms."""
from harness import (Broker, committed, expect, log_events, log_note, main,
                     produce, start_scheduler, start_worker, test, ts_seconds,
                     unique, wait_for)

RECORDS = 3000
HOLD_MS = 1500


@test
def a_slow_commit_holds_back_the_next_one_of_its_partition():
    src, group = unique("in"), unique("g")
    with Broker(topics={src: 1}) as kafka:
        produce(kafka, src, ((None, b"%d" % i, 0) for i in range(RECORDS)))
        sched = start_scheduler(kafka, src, group, drain=False, args=[
            "--job-records", "50", "--commit-interval-ms", "50",
            "--log-level", "debug"])
        # 1 ms a record: a job done every 50 ms, 3 s of work.
        worker = start_worker(kafka, sched.endpoint, "sleep",
                              plugin_opts={"us_per_record": 1000})
        wait_for(lambda: committed(kafka, group, src).get(0, -1) > 0, 30,
                 "a first commit")
        kafka.control("broker-errors 1 OffsetCommit 1 NO_ERROR %d" % HOLD_MS)
        wait_for(lambda: committed(kafka, group, src) == {0: RECORDS}, 60,
                 "committed to the end", interval=0.2)
        commits = [(ts_seconds(e["_ts"]), int(e["offset"]))
                   for e in log_events(sched, "committing")]
        gaps = [(b[0] - a[0], a[1], b[1])
                for a, b in zip(commits, commits[1:])]
        widest = max(gaps)
        log_note("%d commits; widest gap %.2f s, from offset %d to %d"
                 % (len(commits), widest[0], widest[1], widest[2]))
        expect(widest[0] >= 0.8 * HOLD_MS / 1000.0,
               "no commit is sent while the last one is unanswered",
               "widest gap between commits %.2f s" % widest[0])
        expect(widest[2] - widest[1] >= 500,
               "the next commit carries the offsets done meanwhile",
               widest)
        expect(widest[1] < RECORDS, "the held commit came before the end",
               widest)
        worker.stop(20)
        sched.stop(20)


if __name__ == "__main__":
    main()
