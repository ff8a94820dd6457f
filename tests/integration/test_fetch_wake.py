"""test_fetch_wake - a full consumer queue does not idle the worker.

librdkafka (2.0.2) stops fetching a partition once the consumer's queue
holds queued.min.messages records and looks at it again only when its
broker thread next wakes up: up to a second later. A plugin slower than
the broker fills the queue, drains it, then waits out the rest of that
second. The worker wakes the fetcher once half the queue is consumed.

Here the queue holds 1,000 records (-X queued.min.messages=1000), a fetch
brings about 300 (producer batches of 16 KB, fetches of 32 KB per
partition) and the plugin takes 50 us a record, 50 ms a queue: 20,000
records are 1 s of plugin time. Without the wake-up the job took about
7 s on the embedded broker and 12 s on Kafka; with it, little more than
the plugin's time. The job's own duration (the worker's `job done ...
ms=`) is compared with the plugin's, with a margin of 3 s.
"""

import re

from harness import (Broker, expect, log_events, log_note, main, produce,
                     start_scheduler, start_worker, test, unique)

RECORDS = 20000
US_PER_RECORD = 50


@test
def a_slow_plugin_is_not_held_up_by_a_full_queue():
    src, group = unique("in"), unique("g")
    with Broker(topics={src: 1}) as kafka:
        produce(kafka, src,
                ((None, b"%099d" % i, 0) for i in range(RECORDS)),
                **{"batch.size": 16384})
        sched = start_scheduler(kafka, src, group,
                                args=["--job-records", str(RECORDS)])
        worker = start_worker(kafka, sched.endpoint, "sleep",
                              plugin_opts={"us_per_record": US_PER_RECORD},
                              args=["--drain",
                                    "-X", "queued.min.messages=1000",
                                    "-X", "max.partition.fetch.bytes=32768"])
        expect(sched.wait(120, watch=[worker]) == 0, "the drain finishes")
        worker.wait(30)
        done = log_events(worker, "job done")
        expect(len(done) == 1, "one job", len(done))
        ms = int(done[0]["ms"])
        plugin_ms = RECORDS * US_PER_RECORD // 1000
        log_note("job %d ms for %d ms of plugin time" % (ms, plugin_ms))
        expect(plugin_ms <= ms < plugin_ms + 3000,
               "the job takes about the plugin's time, not a second per "
               "queue of 1,000", "job %d ms, plugin %d ms" % (ms, plugin_ms))
        m = re.search(r"fetch_wakeups=(\d+)", worker.log_text())
        expect(m and int(m.group(1)) > 0, "the worker woke its fetcher",
               m.group(0) if m else "no totals line")


if __name__ == "__main__":
    main()
