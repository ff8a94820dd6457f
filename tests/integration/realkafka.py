"""realkafka - helpers for the tests that only a real Kafka broker can
answer (tests/integration/test_real_*.py).

Those tests are registered for the `kafka` broker kind only (see
tests/tests.cmake): they need topic configs (compaction, retention,
max.message.bytes), transactions, real group rebalances and Kafka's own
CLI tools, none of which librdkafka's mock cluster has.
"""

import collections
import os

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

import harness
from harness import (BROKER_KIND, TestFailure, expect, log_events, run_cli,
                     wait_for)

KAFKA_SH = os.path.join(harness.SOURCE, "tests", "kafka", "kafka.sh")

# A SIGKILLed scheduler stays in the group until its session times out;
# keep that short (the broker allows 1 s: group.min.session.timeout.ms).
GROUP_PROPS = ["-X", "session.timeout.ms=6000",
               "-X", "heartbeat.interval.ms=500"]


def require_real_broker():
    """Fail at once, with the reason, unless the suite runs on real Kafka."""
    if BROKER_KIND != "kafka":
        raise TestFailure(
            "this test needs a real Kafka broker: run it with "
            "SLUICE_TEST_BROKER=kafka (tests/tests.cmake registers "
            "test_real_* for the kafka kind only)")


def create_topic(broker, name, partitions=1, config=None, timeout=60):
    """Create a topic with topic-level configs ({key: value}) and wait
    until every partition has a leader."""
    expect(not broker.embedded, "topic configs need a real broker")
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    cfg = {k: str(v) for k, v in (config or {}).items()}
    fut = admin.create_topics([NewTopic(name, partitions, 1, config=cfg)],
                              operation_timeout=timeout)[name]
    try:
        fut.result(timeout)
    except KafkaException as e:
        if e.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
            raise TestFailure("cannot create topic %s %s: %s"
                              % (name, cfg, e))
    broker.topics[name] = partitions

    def ready():
        md = admin.list_topics(name, timeout=10)
        t = md.topics.get(name)
        return (t is not None and not t.error and
                len(t.partitions) == partitions and
                all(pm.leader >= 0 for pm in t.partitions.values()))
    wait_for(ready, timeout, "topic %s to have leaders" % name, interval=0.1)


def kafka_sh(*args, timeout=60):
    """Run tests/kafka/kafka.sh ARGS (a Kafka CLI tool); return
    (exit code, stdout, stderr)."""
    return run_cli([KAFKA_SH] + [str(a) for a in args], timeout=timeout)


def watermarks(broker, topic, partition=0):
    """(low, high) watermarks of one partition. high is the true end of
    the log (read_uncommitted: under read_committed, librdkafka's default,
    it would be the last stable offset)."""
    from confluent_kafka import Consumer, TopicPartition
    c = Consumer(broker.consumer_conf(**{
        "group.id": harness.unique("wm"),
        "isolation.level": "read_uncommitted"}))
    try:
        return c.get_watermark_offsets(TopicPartition(topic, partition),
                                       timeout=10)
    finally:
        c.close()


Job = collections.namedtuple("Job", "worker partition start end ts")


def jobs(workers, topic, message="job begin"):
    """Jobs from the worker logs (`job begin` by default), as Job tuples,
    for one topic."""
    out = []
    for w in workers:
        for e in log_events(w, message):
            if e.get("topic") != topic:
                continue
            out.append(Job(w.name, int(e["partition"]), int(e["start"]),
                           int(e["end"]), e["_ts"]))
    return out


def overlaps(a, b):
    """True if half-open ranges a and b share an offset."""
    return a[0] < b[1] and b[0] < a[1]


def merge(ranges):
    """Sort and merge half-open ranges."""
    out = []
    for s, e in sorted(ranges):
        if out and s <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], e))
        else:
            out.append((s, e))
    return out


def uncovered(lo, hi, ranges):
    """The parts of [lo, hi) that no range covers, as merged ranges."""
    gaps, at = [], lo
    for s, e in merge(ranges):
        if e <= at:
            continue
        if s >= hi:
            break
        if s > at:
            gaps.append((at, min(s, hi)))
        at = max(at, e)
    if at < hi:
        gaps.append((at, hi))
    return gaps
