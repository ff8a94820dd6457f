"""fig8 - what the scheduler itself fetches from Kafka during a drain.

The scheduler owns the partitions but must never read a record: workers
fetch their ranges themselves. A drain moving about 100 MB of record
values (the embedded broker keeps about 5 MiB per partition, so 24
partitions of 4.2 MB) is run with the noop plugin, and the scheduler's
own librdkafka statistics, logged at exit ("kafka consumer totals
rxmsgs=.. rxmsg_bytes=.. rx_bytes=.. samples=.."), say what its consumer
received: records and record bytes (must be 0) and every byte from the
brokers (group protocol, metadata, offsets), next to the payload the
workers moved. `samples` shows the totals rest on live statistics (taken
every 100 ms here).
"""

import re

from benchlib import BenchError, note, produce, sluice_drain, summary

SIZES = {
    "smoke": {"partitions": 2, "records": 500, "value": 1000, "batch": 100,
              "job": 100, "workers": 2},
    "quick": {"partitions": 8, "records": 1000, "value": 1000, "batch": 100,
              "job": 1000, "workers": 2},
    "full": {"partitions": 24, "records": 4200, "value": 1000, "batch": 100,
             "job": 1000, "workers": 2},
}

_TOTALS = re.compile(r"kafka consumer totals rxmsgs=(\d+) rxmsg_bytes=(\d+) "
                     r"rx_bytes=(\d+) samples=(\d+)")


def fig8(run, sz):
    p, r, value = sz["partitions"], sz["records"], sz["value"]
    topic = run.unique("f8")
    per_round = []
    with run.broker.topics({topic: p}) as b:
        produce(run, b, topic, p, r, value, sz["batch"])
        for i in range(run.rounds):
            note("fig 8: round %d/%d: drain of %.1f MB with %d workers"
                 % (i + 1, run.rounds, p * r * value / 1e6, sz["workers"]))
            sl = sluice_drain(run, b, topic, sz["workers"], "noop",
                              sched_args=["--job-records", sz["job"],
                                          "-X", "statistics.interval.ms=100"],
                              tag="f8-sluice")
            m = _TOTALS.search(sl["sched"].log_text())
            if not m:
                raise BenchError("the scheduler logged no consumer totals; "
                                 "see %s" % sl["sched"].log_path)
            if sl["records"] != p * r:
                raise BenchError("drained %d records of %d"
                                 % (sl["records"], p * r))
            per_round.append({"records_moved": sl["records"],
                              "payload_bytes_moved": sl["records"] * value,
                              "sched_rxmsgs": int(m.group(1)),
                              "sched_rxmsg_bytes": int(m.group(2)),
                              "sched_rx_bytes": int(m.group(3)),
                              "sched_stats_samples": int(m.group(4)),
                              "seconds": sl["wall_s"]})
    row = {"config": {"partitions": p, "records": p * r,
                      "value_bytes": value, "workers": sz["workers"],
                      "job_records": sz["job"]},
           "rounds": per_round}
    for k in ("sched_rx_bytes", "payload_bytes_moved", "seconds"):
        row[k] = {"values": [x[k] for x in per_round],
                  "summary": summary([x[k] for x in per_round])}
    row["sched_rxmsgs_max"] = max(x["sched_rxmsgs"] for x in per_round)
    row["sched_rxmsg_bytes_max"] = max(x["sched_rxmsg_bytes"]
                                       for x in per_round)
    row["sched_stats_samples_min"] = min(x["sched_stats_samples"]
                                         for x in per_round)
    return {"figure": 8, "title": "the scheduler's own fetches from Kafka "
            "while a drain moves ~100 MB", "target": "no record payload "
            "bytes", "metric": "sched_rxmsg_bytes_max", "target_op": "==",
            "target_value": 0, "rows": [row],
            "notes": ["%d partitions x %d records of %d-byte values, noop "
                      "plugin, %d workers, --job-records %d"
                      % (p, r, value, sz["workers"], sz["job"]),
                      "the scheduler's librdkafka statistics (rxmsgs, "
                      "rxmsg_bytes, rx_bytes), logged at its exit; samples "
                      "= statistics callbacks they rest on (the scheduler "
                      "runs with -X statistics.interval.ms=100 here, so "
                      "the last sample is at most 0.1 s old)"]}


def headline(fig):
    r = fig["rows"][0]
    txt = ("scheduler fetched %d records, %d record bytes; %s bytes in all "
           "from Kafka (group, metadata, offsets) while workers moved %s "
           "bytes" % (r["sched_rxmsgs_max"], r["sched_rxmsg_bytes_max"],
                      _med(r["sched_rx_bytes"]),
                      _med(r["payload_bytes_moved"])))
    ok = (r["sched_rxmsgs_max"] == 0 and r["sched_rxmsg_bytes_max"] == 0 and
          r["sched_stats_samples_min"] >= 1)
    return txt, "no record payload bytes", ok


def table(fig):
    out = ["| records moved | payload MB moved | scheduler records fetched "
           "| scheduler record bytes | scheduler bytes from Kafka, all "
           "| ratio to payload | statistics samples | drain s |",
           "|---|---|---|---|---|---|---|---|"]
    for x in fig["rows"][0]["rounds"]:
        out.append("| %d | %.1f | %d | %d | %d | %.5f | %d | %.1f |" % (
            x["records_moved"], x["payload_bytes_moved"] / 1e6,
            x["sched_rxmsgs"], x["sched_rxmsg_bytes"], x["sched_rx_bytes"],
            x["sched_rx_bytes"] / max(x["payload_bytes_moved"], 1),
            x["sched_stats_samples"], x["seconds"]))
    return out


def _med(series):
    s = series.get("summary") or {}
    v = s.get("median")
    return "%d" % v if v is not None else "-"
