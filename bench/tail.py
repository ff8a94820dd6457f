"""tail - the two ends of the latency figure (7).

    python3 bench/tail.py produce --brokers B --topic IN --rate 1000 \
        --seconds 15
    python3 bench/tail.py read --brokers B --topic IN --topic OUT \
        [-X key=value]... [--skip-seconds 2]

produce writes --rate records a second for --seconds, paced on the
monotonic clock, round-robin over the topic's partitions; each value is
"SEQ SEND_TIME" (wall-clock seconds, taken just before produce()).

read assigns every partition of every --topic at its end offset, prints
{"event":"ready"}, and for each record it receives computes receive time
minus the send time in the value. The first topic is read straight from
the producer (the baseline: what a plain consumer tailing the input
sees); the others are sluice's output (copy plugin). On SIGTERM it prints
per topic: count, p50, p90, p99, max in milliseconds (records sent in the
first --skip-seconds are left out: start-up).
"""

import argparse
import json
import signal
import sys
import time

from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition


def _props(items):
    out = {}
    for kv in items or []:
        k, _, v = kv.partition("=")
        out[k] = v
    return out


def produce(args):
    p = Producer(dict({"bootstrap.servers": args.brokers, "linger.ms": 1},
                      **_props(args.X)))
    md = p.list_topics(args.topic[0], timeout=30)
    parts = sorted(md.topics[args.topic[0]].partitions)
    t0 = time.monotonic()
    n = int(args.rate * args.seconds)
    failed = []
    for i in range(n):
        due = t0 + i / args.rate
        while True:
            now = time.monotonic()
            if now >= due:
                break
            p.poll(min(due - now, 0.01))
        value = "%010d %.6f" % (i, time.time())
        while True:
            try:
                p.produce(args.topic[0], value=value.encode(),
                          partition=parts[i % len(parts)],
                          on_delivery=lambda e, m: e and failed.append(e))
                break
            except BufferError:
                p.poll(0.01)
        p.poll(0)
    left = p.flush(30)
    print(json.dumps({"records": n, "seconds": time.monotonic() - t0,
                      "undelivered": left, "failed": len(failed)}))
    return 0 if not left and not failed else 1


def _pct(vals, q):
    if not vals:
        return None
    s = sorted(vals)
    k = max(0, min(len(s) - 1, int(round(q / 100.0 * len(s) + 0.5)) - 1))
    return s[k]


def read(args):
    conf = {"bootstrap.servers": args.brokers, "group.id": "bench-tail",
            "enable.auto.commit": False, "enable.partition.eof": False}
    conf.update(_props(args.X))
    c = Consumer(conf)
    tps = []
    for t in args.topic:
        md = c.list_topics(t, timeout=30)
        for p in sorted(md.topics[t].partitions):
            # Assign at the end offset as it is now, resolved here: no
            # record sent after "ready" can be skipped. (Assigning at
            # OFFSET_END and waiting for position() does not work:
            # position() stays unset until a record is consumed.)
            lo, hi = c.get_watermark_offsets(TopicPartition(t, p),
                                             timeout=30)
            tps.append(TopicPartition(t, p, hi))
    c.assign(tps)
    stop = []
    signal.signal(signal.SIGTERM, lambda s, f: stop.append(s))
    print(json.dumps({"event": "ready"}), flush=True)
    lat = {t: [] for t in args.topic}
    first_sent = None
    while not stop:
        msg = c.poll(0.1)
        if msg is None:
            continue
        now = time.time()
        if msg.error():
            if msg.error().code() != KafkaError._PARTITION_EOF:
                sys.stderr.write("tail: %s\n" % msg.error())
            continue
        try:
            seq, sent = msg.value().split()
            sent = float(sent)
        except ValueError:
            continue
        if first_sent is None or sent < first_sent:
            first_sent = sent
        lat[msg.topic()].append((sent, (now - sent) * 1000.0))
    c.close()
    out = {}
    for t, rows in lat.items():
        vals = [ms for sent, ms in rows
                if first_sent is None or sent >= first_sent +
                args.skip_seconds]
        out[t] = {"count": len(vals), "all": len(rows),
                  "p50_ms": _pct(vals, 50), "p90_ms": _pct(vals, 90),
                  "p99_ms": _pct(vals, 99), "max_ms": max(vals or [None],
                                                          key=lambda v: v or 0)}
    print(json.dumps({"latency": out, "topics": args.topic}), flush=True)
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["produce", "read"])
    ap.add_argument("--brokers", required=True)
    ap.add_argument("--topic", action="append", required=True)
    ap.add_argument("--rate", type=float, default=1000)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--skip-seconds", type=float, default=2)
    ap.add_argument("-X", action="append")
    args = ap.parse_args()
    return produce(args) if args.mode == "produce" else read(args)


if __name__ == "__main__":
    sys.exit(main())
