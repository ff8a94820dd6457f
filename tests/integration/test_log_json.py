"""--log-format json: every line both daemons write on stderr is one JSON
object with what the text format says.

A scheduler (--drain, drain progress as lines) and a worker run a short
drain at --log-level debug, each with librdkafka debugging on, so that
librdkafka's own lines, which hold "k=v" text of their own ("Assignment
dump (started_cnt=0, ...)"), go through the same logger. Every line of
both logs must parse as one JSON object with no repeated member: ts (UTC,
ms), level, proc and msg, then the text format's key=value pairs as string
members. librdkafka's lines keep their whole text in msg, with client and
facility as the only other members. The pairs are the real ones: the
worker's `job done` lines add up to the records produced, and the
scheduler's `drain complete` line carries the whole summary."""
import json
import re

from harness import (Broker, expect, main, produce, start_scheduler,
                     start_worker, test, unique)

PARTITIONS = 2
PER_PARTITION = 1000
TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
LEVELS = {"error", "warn", "info", "debug"}


def _no_repeats(pairs):
    keys = [k for k, _ in pairs]
    expect(len(keys) == len(set(keys)), "no member is repeated", keys)
    return dict(pairs)


def json_lines(proc, name):
    """Every line of a process's log as a dict, after checking its shape."""
    with open(proc.log_path, "rb") as f:
        raw = f.read()
    text = raw.decode("utf-8")  # fails the test if a byte is not UTF-8
    expect(text.endswith("\n"), "%s's log ends with a whole line" % name)
    events = []
    for n, line in enumerate(text.splitlines(), 1):
        where = "%s line %d: %r" % (name, n, line[:300])
        try:
            obj = json.loads(line, object_pairs_hook=_no_repeats)
        except ValueError as e:
            expect(False, "every line is JSON", "%s: %s" % (where, e))
        expect(isinstance(obj, dict), "every line is an object", where)
        expect(list(obj)[:4] == ["ts", "level", "proc", "msg"],
               "ts, level, proc, msg come first", where)
        expect(TS.match(obj["ts"]), "ts is UTC with milliseconds", where)
        expect(obj["level"] in LEVELS, "level is a known level", where)
        expect(obj["proc"] == name, "proc names the daemon", where)
        expect(obj["msg"], "msg is not empty", where)
        expect(all(isinstance(v, str) for v in obj.values()),
               "every member is a string", where)
        events.append(obj)
    return events


def check_librdkafka(events, name):
    """librdkafka's lines: whole text in msg, then client and facility."""
    lines = [e for e in events if e["msg"].startswith("librdkafka: ")]
    expect(lines, "%s logged librdkafka lines (-X debug=...)" % name)
    for e in lines:
        expect(set(e) == {"ts", "level", "proc", "msg", "client",
                          "facility"},
               "a librdkafka line has client and facility, nothing split "
               "out of its text", e)
        expect(e["client"].startswith("sluice-") and e["facility"],
               "client and facility are librdkafka's", e)
    return lines


@test
def json_logs_parse_and_carry_every_field():
    src, group = unique("in"), unique("g")
    total = PARTITIONS * PER_PARTITION
    with Broker(topics={src: PARTITIONS, src + ".dlq": 1}) as kafka:
        produce(kafka, src, ((str(i), str(i), i % PARTITIONS)
                             for i in range(total)))
        json_args = ["--log-format", "json", "--log-level", "debug"]
        sched = start_scheduler(kafka, src, group, args=json_args + [
            "--progress", "lines", "--job-records", "200",
            "-X", "debug=cgrp"])
        # 200 us a record: the drain lasts about 0.4 s, past the first
        # progress line (a noop drain on Kafka can end before it).
        worker = start_worker(kafka, sched.endpoint, "sleep",
                              plugin_opts={"us_per_record": "200"},
                              args=json_args
                              + ["--drain", "-X", "debug=topic"])
        expect(sched.wait(90, watch=[worker]) == 0, "the drain finishes")
        expect(worker.wait(30) == 0, "the worker stops after the drain")

        s_events = json_lines(sched, "scheduler")
        w_events = json_lines(worker, "worker")
        s_rdk = check_librdkafka(s_events, "scheduler")
        check_librdkafka(w_events, "worker")
        expect(any("=" in e["msg"] for e in s_rdk),
               "a librdkafka line with '=' in its text kept it in msg "
               "(debug=cgrp logs \"Assignment dump (started_cnt=...\")")

        done = [e for e in w_events if e["msg"] == "job done"]
        expect(done, "the worker logged `job done` lines")
        for e in done:
            expect({"job", "topic", "partition", "start", "end", "records",
                    "rejected", "emitted", "lost", "ms"} <= set(e),
                   "`job done` has the text format's pairs", e)
            expect(e["topic"] == src, "topic is the source topic", e)
        expect(sum(int(e["records"]) for e in done) == total,
               "the `job done` records add up to the records produced")
        expect(len(done) == total // 200, "one `job done` per job",
               len(done))

        summary = [e for e in s_events if e["msg"] == "drain complete"]
        expect(len(summary) == 1, "one `drain complete` line", summary)
        expect({"records", "total", "seconds", "rate", "jobs", "retried",
                "expired", "bisected", "dead_lettered", "rejected",
                "lost"} <= set(summary[0]), "the summary has every figure",
               summary[0])
        expect(summary[0]["records"] == summary[0]["total"] == str(total),
               "the summary counts every record", summary[0])
        expect(any(e["msg"] == "drain progress" for e in s_events),
               "drain progress goes out as JSON lines too")
        expect(any(e["level"] == "debug" and e["msg"] == "committing"
                   and e["metadata"].startswith("s1:") for e in s_events),
               "debug lines are JSON too (`committing ... metadata=s1:`)")


if __name__ == "__main__":
    main()
