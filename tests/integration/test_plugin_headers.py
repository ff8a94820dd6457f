"""test_plugin_headers - SLUICE_PLUGIN_F_NO_HEADERS.

A plugin that declares it never reads record headers gets none (the worker
skips librdkafka's header parse, its largest per-record cost with a cheap
plugin); every other plugin gets them as always. The `headers` fixture
rejects every record that arrives with headers ("headers seen"), so the
scheduler's drain summary counts what each plugin was handed: all of them
without the flag, none with it. Dead letters keep the source headers.
"""

import os
import re

from confluent_kafka import Producer

from harness import (BUILD, Broker, consume_all, expect, main,
                     start_scheduler, start_worker, test, unique)

FIXTURES = os.path.join(BUILD, "tests", "fixtures")
RECORDS = 400


def _drain(plugin):
    src, group = unique("in"), unique("g")
    with Broker(topics={src: 2, src + ".dlq": 1}) as kafka:
        p = Producer(kafka.conf())
        for i in range(RECORDS):
            p.produce(src, key=str(i), value="v%d" % i,
                      headers=[("trace", b"t%d" % i)], partition=i % 2)
        expect(p.flush(60) == 0, "every record is acknowledged")
        del p
        sched = start_scheduler(kafka, src, group,
                                args=["--job-records", "100"])
        worker = start_worker(kafka, sched.endpoint,
                              os.path.join(FIXTURES, plugin + ".so"),
                              args=["--drain"])
        expect(sched.wait(60, watch=[worker]) == 0, "the drain finishes")
        m = re.search(r"drain complete .*rejected=(\d+)", sched.log_text())
        expect(m, "the drain summary", sched.log_path)
        dlq = consume_all(kafka, src + ".dlq")
        return int(m.group(1)), dlq


@test
def a_plugin_without_the_flag_gets_every_header():
    rejected, dlq = _drain("headers")
    expect(rejected == RECORDS, "every record reached it with headers",
           "rejected=%d of %d" % (rejected, RECORDS))
    expect(len(dlq) == RECORDS, "all dead-lettered", len(dlq))
    hdrs = dict(dlq[0].headers or [])
    expect("trace" in hdrs, "dead letters keep the source headers", hdrs)


@test
def a_plugin_with_no_headers_gets_none():
    rejected, dlq = _drain("headers_skipped")
    expect(rejected == 0, "no record reached it with headers",
           "rejected=%d of %d" % (rejected, RECORDS))
    expect(not dlq, "nothing dead-lettered", len(dlq))


if __name__ == "__main__":
    main()
