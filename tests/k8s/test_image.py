"""The image built from the Dockerfile, run (tests/k8s/run.sh runs this after
`image.sh build`; alone: SLUICE_BUILD_DIR=build /usr/bin/python3
tests/k8s/test_image.py).

- `sluice --help` runs, and every binary and plugin in the image finds all
  of its shared libraries (ldd inside the image);
- `sluice demo` passes as uid 10001 with a read-only root filesystem, as
  the chart runs the daemons;
- a worker in the image drains a real Kafka broker (the suite's own,
  started here on loopback) for a scheduler from the build tree: every id
  reaches the output topic.

Containers share the host's network namespace (image.sh's podman
settings), so they reach the broker and the scheduler on loopback."""
import collections
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "deploy"))
from deploytest import BUILD, SOURCE, TestFailure, expect, main, test  # noqa

from confluent_kafka import Consumer, Producer, TopicPartition  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

IMAGE = os.environ.get("SLUICE_IMAGE", "localhost/sluice:0.1.0")
IMAGE_SH = os.path.join(SOURCE, "tests", "k8s", "image.sh")
KAFKA_SH = os.path.join(SOURCE, "tests", "kafka", "kafka.sh")


def in_image(*argv, opts=(), timeout=300):
    """Run argv in a fresh container of the image; (rc, stdout, stderr)."""
    p = subprocess.run([IMAGE_SH, "run", "--rm", *opts, IMAGE, *argv],
                       capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


@test
def help_runs_and_every_library_resolves():
    rc, out, err = in_image("sluice", "--help")
    expect(rc == 0 and "demo" in out and "status" in out,
           "sluice --help runs in the image", out + err)
    rc, out, err = in_image("sh", "-c", "ldd /opt/sluice/bin/* /plugins/*.so")
    expect(rc == 0, "ldd runs on every binary and plugin", out + err)
    missing = [line.strip() for line in out.splitlines()
               if "not found" in line]
    expect(not missing, "every shared library is in the image", missing)
    rc, out, err = in_image("sh", "-c", "ls /plugins")
    expect({"copy.so", "jsonvalid.so", "sleep.so"} <= set(out.split()),
           "the bundled plugins are in /plugins", out)


@test
def demo_runs_as_10001_on_a_read_only_root():
    rc, out, err = in_image("sh", "-c", "id -u; sluice demo --records 20000",
                            opts=("--read-only", "--user", "10001:10001"))
    expect(rc == 0, "sluice demo passes", (out + err)[-1500:])
    expect(out.splitlines()[0] == "10001", "it ran as uid 10001", out[:80])
    expect("sluice demo: PASS" in out and re.search(r"lost +0\n", out),
           "nothing lost", out[-600:])


@test
def worker_in_the_image_drains_a_real_broker():
    d = tempfile.mkdtemp(prefix="sluice-image-kafka-")
    procs = []
    try:
        brokers = subprocess.run([KAFKA_SH, "start", d], capture_output=True,
                                 text=True, check=True,
                                 timeout=180).stdout.strip()
        a = AdminClient({"bootstrap.servers": brokers})
        for t in ("img-in", "img-out"):
            a.create_topics([NewTopic(t, 4, 1)])[t].result(60)
        n = 20000
        p = Producer({"bootstrap.servers": brokers, "linger.ms": 10})
        for i in range(n):
            while True:
                try:
                    p.produce("img-in", value=b"i-%d" % i)
                    break
                except BufferError:
                    p.poll(0.05)
        expect(p.flush(60) == 0, "the backlog is produced")
        sched_log = open(os.path.join(d, "scheduler.log"), "w")
        sched = subprocess.Popen(
            [os.path.join(BUILD, "bin", "sluice-scheduler"), "--brokers",
             brokers, "--topic", "img-in", "--group", "img-g", "--bind",
             "tcp://127.0.0.1:0", "--drain", "--progress", "lines"],
            stdout=sched_log, stderr=subprocess.STDOUT)
        procs.append(sched)
        endpoint = None
        deadline = time.monotonic() + 30
        while not endpoint and time.monotonic() < deadline:
            with open(os.path.join(d, "scheduler.log")) as f:
                m = re.search(r"(tcp://127\.0\.0\.1:\d+)", f.read())
            endpoint = m and m.group(1)
            time.sleep(0.1)
        expect(endpoint, "the scheduler says where it listens")
        rc, out, err = in_image(
            "sluice-worker", "--brokers", brokers, "--scheduler", endpoint,
            "--plugin", "copy", "--output-topic", "img-out", "--drain",
            opts=("--read-only", "--user", "10001:10001"), timeout=180)
        expect(rc == 0, "the worker in the image exits 0 after the drain",
               (out + err)[-1500:])
        expect(sched.wait(60) == 0, "the scheduler's drain finished")
        c = Consumer({"bootstrap.servers": brokers, "group.id": "img-read",
                      "auto.offset.reset": "earliest"})
        c.assign([TopicPartition("img-out", p, 0) for p in range(4)])
        got = collections.Counter()
        deadline = time.monotonic() + 60
        while sum(got.values()) < n and time.monotonic() < deadline:
            for m in c.consume(5000, 0.5):
                if not m.error():
                    got[m.value()] += 1
        c.close()
        p = a = None  # no client left talking to a broker about to stop
        missing = [i for i in range(n) if not got[b"i-%d" % i]]
        expect(not missing, "every id reached the output",
               "%d missing" % len(missing))
    finally:
        for pr in procs:
            if pr.poll() is None:
                pr.kill()
                pr.wait()
        subprocess.run([KAFKA_SH, "stop", d], capture_output=True)
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
