"""test_read_on - workers taking turns on a partition read on, not seek.

Two workers share one partition with jobs of 100 records, so most of a
worker's jobs start a little past where its consumer stands (the other
worker had the jobs between). A seek there would drop what the consumer
had already fetched and fetch again, up to max.partition.fetch.bytes (1
MiB) per job on a real broker; reading on through the other worker's
records uses what is already fetched. What both workers fetched (their
librdkafka statistics, exact at exit with statistics.interval.ms=100) is
then about twice the partition, once per worker (2.0 times on both
brokers), and is checked to stay under three times: seeking for every
job fetched it 73 times on the embedded broker and 91 times on Kafka.
"""

import re

from harness import (Broker, expect, fetched_records, log_note, main,
                     produce, start_scheduler, start_worker, test, unique)

RECORDS = 20000


@test
def workers_sharing_a_partition_fetch_it_about_once_each():
    src, group = unique("in"), unique("g")
    with Broker(topics={src: 1}) as kafka:
        produce(kafka, src,
                ((None, b"%099d" % i, 0) for i in range(RECORDS)),
                **{"batch.size": 16384})
        sched = start_scheduler(kafka, src, group,
                                args=["--job-records", "100"])
        workers = [start_worker(kafka, sched.endpoint, "sleep",
                                name="worker-%d" % i,
                                plugin_opts={"us_per_record": 100},
                                args=["--drain",
                                      "-X", "statistics.interval.ms=100"])
                   for i in range(2)]
        expect(sched.wait(180, watch=workers) == 0, "the drain finishes")
        fetched, took_turns = 0, 0
        for w in workers:
            expect(w.wait(30) == 0, "%s exits 0" % w.name)
            text = w.log_text()
            fetched += fetched_records(w)
            took_turns += len(re.findall(r"job done ", text)) > 0
        expect(took_turns == 2, "both workers had jobs", took_turns)
        log_note("fetched %d records for %d (%.2fx)"
                 % (fetched, RECORDS, fetched / RECORDS))
        expect(fetched < 3 * RECORDS,
               "the workers fetch the partition about once each",
               "%d fetched for %d records" % (fetched, RECORDS))


if __name__ == "__main__":
    main()
