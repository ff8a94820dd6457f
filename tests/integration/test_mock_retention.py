"""The embedded broker keeps about 5 MB per partition: records pushed out
of it before they were processed are reported lost, counted, and the
drain goes on from the log start.

The group commits offset 0 (a plain consumer commit) while the partition
is small; then 8 MB more are produced, so librdkafka's mock deletes the
head of the log. A drain from that commit must find [0, log start) gone:
the worker logs `records lost to retention ...` for exactly that range,
the scheduler logs and counts it (sluice_records_lost_total on
/metrics), and everything from the log start on reaches the output.

(test_real_retention does the same against Kafka's own retention.)"""
import collections

from confluent_kafka import Consumer, TopicPartition

from harness import (Broker, committed, consume_all, expect, free_port,
                     log_events, log_note, main, produce, start_scheduler,
                     scrape_metrics, start_worker, test, unique, wait_for)
from realkafka import merge, watermarks

RECORDS = 8000
VALUE = "v" * 1000          # 8 MB in all: more than the mock keeps


def lost_ranges(procs, message):
    return merge([(int(e["start"]), int(e["end"]))
                  for p in procs for e in log_events(p, message)])


@test
def records_pushed_out_of_the_mock_are_reported_lost():
    src, out, group = unique("in"), unique("out"), unique("g")
    with Broker(topics={src: 1, out: 1, src + ".dlq": 1}) as kafka:
        produce(kafka, src, ((str(i), VALUE, 0) for i in range(100)))
        c = Consumer(kafka.consumer_conf(**{"group.id": group}))
        c.commit(offsets=[TopicPartition(src, 0, 0)], asynchronous=False)
        c.close()
        produce(kafka, src, ((str(i), VALUE, 0)
                             for i in range(100, RECORDS)))
        start, high = watermarks(kafka, src)
        log_note("log start %d, high watermark %d" % (start, high))
        expect(high == RECORDS and 0 < start < RECORDS,
               "the mock deleted the head of the log and kept the tail",
               (start, high))

        port = free_port()
        # Not a drain: the scheduler stays up so /metrics can be read once
        # everything is committed.
        sched = start_scheduler(kafka, src, group, drain=False, args=[
            "--job-records", "500", "--metrics-addr", "127.0.0.1:%d" % port])
        worker = start_worker(kafka, sched.endpoint, "copy", output_topic=out)
        wait_for(lambda: committed(kafka, group, src) == {0: RECORDS}, 60,
                 "the group to be committed at the high watermark",
                 interval=0.3)

        # The mock can move its log start after the produce that pushed
        # the head out (seen: 3000 just after it, 3058 when the worker
        # asked): what counts is the log start the workers met, which
        # stays put once nothing more is produced to the partition.
        moved, _ = watermarks(kafka, src)
        if moved != start:
            log_note("log start moved from %d to %d after the produce"
                     % (start, moved))
        start = moved
        lost_metric = wait_for(lambda: scrape_metrics(port), 10,
                               "/metrics").get("sluice_records_lost_total")
        expect(lost_metric == start, "sluice_records_lost_total says %d"
               % start, lost_metric)
        expect(sched.stop() == 0, "the scheduler exits 0 on SIGTERM")

        reported = lost_ranges([worker], "records lost to retention before "
                               "they were processed")
        expect(reported == [(0, start)],
               "the worker reports exactly [0, %d) lost" % start, reported)
        expect(lost_ranges([sched], "records lost to retention") ==
               [(0, start)], "the scheduler logs the lost range",
               lost_ranges([sched], "records lost to retention"))
        lost_jobs = sum(int(e["lost"]) for e in log_events(worker,
                                                           "job done"))
        expect(lost_jobs == start, "the worker's jobs count %d records lost"
               % start, lost_jobs)

        seen = collections.Counter(int(r.key) for r in consume_all(kafka, out))
        missing = [i for i in range(start, RECORDS) if not seen[i]]
        expect(not missing, "every record from the log start on is "
               "processed", "%d missing, first %s"
               % (len(missing), missing[:10]))
        expect(committed(kafka, group, src) == {0: RECORDS},
               "committed at the high watermark")


if __name__ == "__main__":
    main()
