"""harness - a small library for sluice's integration tests.

Real processes against a real broker, nothing mocked that can run for real.
Only Debian's /usr/bin/python3, its python3-confluent-kafka (1.7.0 on
Debian 12) and the standard library.

    from harness import *

    @test
    def drain_copies_everything():
        with Broker(topics={"in": 4, "out": 4}) as kafka:
            produce(kafka, "in", ((str(i), str(i)) for i in range(1000)))
            sched = start_scheduler(kafka, ["in"], group=unique("g"))
            start_worker(kafka, sched.endpoint, "copy", output_topic="out")
            expect(sched.wait(60) == 0, "scheduler exits 0")

    if __name__ == "__main__":
        main()

Environment (set by ctest, see tests/tests.cmake):
    SLUICE_BUILD_DIR     the build tree (bin/, plugins/); default <repo>/build
    SLUICE_TEST_BROKER   "embedded" (default): `sluice kafka`, topics made
                         at start-up, since librdkafka 2.0.2's mock broker
                         has no CreateTopics; "kafka": a real broker
    SLUICE_TEST_BROKERS  with "kafka": use this running cluster instead of
                         starting one with tests/kafka/kafka.sh

Every process a test starts is registered; it is stopped when its test
ends, at exit, and on SIGTERM/SIGINT. Children also get PR_SET_PDEATHSIG,
so they die with the test process even if it is SIGKILLed (the real
broker started by kafka.sh is the exception: kafka.sh stop ends it, at
exit at the latest).
"""

import atexit
import collections
import ctypes
import ctypes.util
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import uuid

from confluent_kafka import (Consumer, KafkaError, KafkaException, Producer,
                             TopicPartition, OFFSET_BEGINNING)
from confluent_kafka.admin import AdminClient, NewTopic

__all__ = [
    "BIN", "BUILD", "PLUGINS", "SOURCE", "BROKER_KIND", "SANITIZED",
    "TestFailure",
    "Broker", "Proc", "Record", "test", "main", "expect", "wait_for",
    "unique", "free_port", "produce", "consume_all", "high_watermarks",
    "committed", "committed_with_metadata", "decode_meta", "start_proc",
    "start_scheduler", "start_worker", "plugin_path", "parse_kv",
    "log_events", "test_dir", "run_cli", "log_note", "utc_now_iso",
    "scrape_metrics", "NetLab", "netlab_unusable", "scheduler_endpoint",
]

SOURCE = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.path.abspath(os.environ.get("SLUICE_BUILD_DIR")
                        or os.path.join(SOURCE, "build"))
BIN = os.path.join(BUILD, "bin")
PLUGINS = os.path.join(BUILD, "plugins")
BROKER_KIND = os.environ.get("SLUICE_TEST_BROKER", "embedded")


def _sanitizers():
    """The sanitizers the build tree was made with (SLUICE_SANITIZE), or
    "". Under ASan everything is several times slower and bigger: tests
    that measure time or memory scale or skip those checks."""
    try:
        with open(os.path.join(BUILD, "CMakeCache.txt")) as f:
            for line in f:
                if line.startswith("SLUICE_SANITIZE:"):
                    return line.split("=", 1)[1].strip()
    except OSError:
        pass
    return ""


SANITIZED = _sanitizers()
KAFKA_SH = os.path.join(SOURCE, "tests", "kafka", "kafka.sh")

# The embedded broker answers a Fetch that finds nothing new only after
# the full fetch.wait.max.ms (default 500 ms), with one Fetch in flight per
# connection: a partition at its end would hold back all the others.
EMBEDDED_FETCH_WAIT_MS = 10


class TestFailure(Exception):
    """A check failed; the message says what was expected and seen."""


def log_note(msg):
    """Print a progress line on stderr (ctest shows it on failure)."""
    sys.stderr.write("[%s] %s\n" % (time.strftime("%H:%M:%S"), msg))
    sys.stderr.flush()


def expect(cond, what, detail=None):
    """Fail the running test with `what` (and detail) unless cond holds."""
    if not cond:
        raise TestFailure(what if detail is None else "%s: %s" % (what, detail))


def wait_for(cond, timeout, what, interval=0.05):
    """Poll cond() until it returns something truthy and return that.

    Fails after `timeout` seconds with "timed out after Ns waiting for
    <what>"; `what` may be a callable that describes the current state.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() >= deadline:
            desc = what() if callable(what) else what
            raise TestFailure("timed out after %gs waiting for %s"
                              % (timeout, desc))
        time.sleep(interval)


_counter = 0


def unique(name):
    """A topic or group name no other test (or run) uses."""
    global _counter
    _counter += 1
    return "%s-%d-%d-%s" % (name, os.getpid(), _counter, uuid.uuid4().hex[:6])


def free_port():
    """A loopback TCP port that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def plugin_path(name):
    """build/plugins/<name>.so."""
    return os.path.join(PLUGINS, name + ".so")


# ------------------------------------------------------------- processes --

_libc = ctypes.CDLL(None, use_errno=True)
_PR_SET_PDEATHSIG = 1
_procs = []
_procs_lock = threading.Lock()
_dirs = []
_test_dir = None


def _die_with_parent():
    """A preexec_fn: the child gets SIGTERM when we die, even by SIGKILL."""
    parent = os.getpid()

    def preexec():
        _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # we died before prctl took effect
            os._exit(127)
    return preexec


def test_dir():
    """A scratch directory for the running test (logs, broker data).

    Kept if the test fails (its path is printed), removed otherwise.
    """
    global _test_dir
    if _test_dir is None:
        _test_dir = tempfile.mkdtemp(prefix="sluice-test-")
        _dirs.append(_test_dir)
    return _test_dir


class Proc:
    """A child process whose stderr (and stdout unless piped) goes to a log.

    Use start_proc() to make one. The log is `<test_dir>/<name>.log`.
    """

    def __init__(self, name, argv, env=None, stdout_pipe=False,
                 stdin_pipe=False):
        self.name = name
        self.argv = [str(a) for a in argv]
        self.log_path = os.path.join(test_dir(), name + ".log")
        self._log = open(self.log_path, "ab")
        full_env = dict(os.environ)
        full_env.update(env or {})
        self.popen = subprocess.Popen(
            self.argv,
            stdin=subprocess.PIPE if stdin_pipe else subprocess.DEVNULL,
            stdout=subprocess.PIPE if stdout_pipe else self._log,
            stderr=self._log, env=full_env, preexec_fn=_die_with_parent(),
            close_fds=True)
        self.pid = self.popen.pid
        self.started = time.monotonic()
        with _procs_lock:
            _procs.append(self)

    def __repr__(self):
        return "<Proc %s pid=%d rc=%r>" % (self.name, self.pid,
                                           self.popen.poll())

    @property
    def returncode(self):
        return self.popen.poll()

    def alive(self):
        """True while the process runs."""
        return self.popen.poll() is None

    def signal(self, signo):
        """Send a signal if it still runs."""
        if self.alive():
            self.popen.send_signal(signo)

    def descendants(self):
        """The pids of its children, their children, ... (a supervised
        sluice-worker is a parent and the worker it runs)."""
        found, todo = [], [self.pid]
        while todo:
            pid = todo.pop()
            try:
                with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
                    kids = [int(k) for k in f.read().split()]
            except OSError:
                kids = []
            found += kids
            todo += kids
        return found

    @property
    def worker_pid(self):
        """The pid of the process doing the work: a supervised
        sluice-worker's child (its name in the logs is host/that pid),
        else the process itself."""
        kids = self.descendants()
        return kids[0] if kids else self.pid

    def signal_tree(self, signo):
        """Send a signal to it and every descendant (SIGSTOP/SIGCONT: a
        frozen pod freezes all its processes)."""
        if not self.alive():
            return
        for pid in [self.pid] + self.descendants():
            try:
                os.kill(pid, signo)
            except ProcessLookupError:
                pass

    def wait(self, timeout, watch=()):
        """Wait up to timeout seconds; return the exit code.

        A process killed by a signal returns -SIGNUM. Fails the test if it
        is still running after the timeout, or as soon as a process in
        `watch` (e.g. the workers a drain needs) exits first.
        """
        deadline = time.monotonic() + timeout
        while True:
            try:
                return self.popen.wait(0.1)
            except subprocess.TimeoutExpired:
                pass
            for other in watch:
                # A --drain worker exits 0 on its scheduler's "finished":
                # that is the drain's end, not a failure, even while the
                # scheduler is still closing its consumer.
                if not other.alive() and not (
                        other.returncode == 0 and
                        "drain complete" in self.log_text()):
                    raise TestFailure(
                        "%s exited (%s) while %s was still running; log %s:"
                        "\n%s" % (other.name, other.returncode, self.name,
                                  other.log_path, other.log_tail(10)))
            if time.monotonic() >= deadline:
                raise TestFailure("%s (pid %d) still runs after %gs; log %s"
                                  % (self.name, self.pid, timeout,
                                     self.log_path))

    def stop(self, timeout=15):
        """SIGTERM, wait up to timeout, then SIGKILL. Returns the exit code."""
        self.signal(signal.SIGTERM)
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            log_note("%s did not stop on SIGTERM in %gs: SIGKILL"
                     % (self.name, timeout))
            self.popen.kill()
            return self.popen.wait()

    def kill(self):
        """SIGKILL and reap."""
        if self.alive():
            self.popen.kill()
        return self.popen.wait()

    def log_text(self):
        """Everything the process wrote to its log so far."""
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def log_lines(self):
        return self.log_text().splitlines()

    def log_tail(self, n=25):
        return "\n".join(self.log_lines()[-n:])

    def close(self):
        if self.popen.stdout:
            self.popen.stdout.close()
        if self.popen.stdin:
            try:
                self.popen.stdin.close()
            except OSError:
                pass
        self._log.close()


def start_proc(name, argv, env=None, stdout_pipe=False, stdin_pipe=False,
               netns=None):
    """Start argv with its output in <test_dir>/<name>.log; return a Proc.

    netns: run it in that network namespace (`ip netns exec NS argv`, which
    execs argv: the Proc's pid is the program's)."""
    if netns:
        argv = ["ip", "netns", "exec", netns] + list(argv)
    return Proc(name, argv, env=env, stdout_pipe=stdout_pipe,
                stdin_pipe=stdin_pipe)


def _stop_all(timeout=5, keep=()):
    """Stop every registered process still running (SIGTERM, then KILL),
    except those in `keep`."""
    with _procs_lock:
        procs = [p for p in _procs if p not in keep]
        _procs[:] = [p for p in _procs if p in keep]
    for p in procs:
        p.signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for p in procs:
        try:
            p.popen.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.popen.kill()
            p.popen.wait()
        p.close()


def run_cli(argv, timeout=30, env=None):
    """Run a short-lived command; return (exit code, stdout, stderr)."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    p = subprocess.run([str(a) for a in argv], stdin=subprocess.DEVNULL,
                       capture_output=True, timeout=timeout, env=full_env,
                       preexec_fn=_die_with_parent())
    return (p.returncode, p.stdout.decode("utf-8", "replace"),
            p.stderr.decode("utf-8", "replace"))


# ---------------------------------------------------------------- broker --

_brokers = []


class Broker:
    """A Kafka cluster for one test; use as a context manager.

    topics: {name: partitions}, created before start() returns. With the
    embedded broker they are passed to `sluice kafka --topic`, since the
    mock broker has no CreateTopics: every topic a test needs must be named
    here (a topic first used by a client is auto-created with the mock's
    defaults, which is rarely what a test wants).

    private (real Kafka only): start a broker of the test's own with
    kafka.sh even if SLUICE_TEST_BROKERS names a shared cluster, so the
    test may kill() and restart() it; props: {key: value} for its
    server.properties.
    """

    def __init__(self, topics=None, brokers=1, kind=None, private=False,
                 props=None):
        self.kind = kind or BROKER_KIND
        if self.kind not in ("embedded", "kafka"):
            raise TestFailure("SLUICE_TEST_BROKER=%s: use embedded or kafka"
                              % self.kind)
        if (private or props) and self.kind != "kafka":
            raise TestFailure("a private broker (private=, props=) needs "
                              "SLUICE_TEST_BROKER=kafka")
        self.topics = dict(topics or {})
        self.brokers = brokers
        self.private = private or bool(props)
        self.props = dict(props or {})
        self.bootstrap = None
        self.proc = None      # embedded: the `sluice kafka` process
        self._kafka_dir = None  # kafka: the kafka.sh start DIR

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    @property
    def embedded(self):
        return self.kind == "embedded"

    def start(self, timeout=120):
        """Start (or attach to) the cluster and create the topics."""
        if self.embedded:
            self._start_embedded(timeout)
        elif os.environ.get("SLUICE_TEST_BROKERS") and not self.private:
            self.bootstrap = os.environ["SLUICE_TEST_BROKERS"]
        else:
            self._start_kafka(timeout)
        _brokers.append(self)
        if not self.embedded:
            self._create_topics(self.topics, timeout=60)
        log_note("broker %s ready at %s topics %s"
                 % (self.kind, self.bootstrap, self.topics))
        return self

    def _start_embedded(self, timeout):
        argv = [os.path.join(BIN, "sluice"), "kafka",
                "--brokers", str(self.brokers)]
        for name, parts in self.topics.items():
            argv += ["--topic", "%s:%d" % (name, parts)]
        self.proc = start_proc("kafka", argv, stdout_pipe=True,
                               stdin_pipe=True)
        line = _read_line(self.proc, timeout)
        expect(line, "sluice kafka printed its bootstrap list",
               "log %s:\n%s" % (self.proc.log_path, self.proc.log_tail()))
        self.bootstrap = line

    def _start_kafka(self, timeout, command="start"):
        """kafka.sh start DIR [props] (a fresh broker), or restart DIR (the
        same ports and data); sets self.bootstrap."""
        argv = [KAFKA_SH, command]
        if command == "start":
            self._kafka_dir = os.path.join(test_dir(), "kafka")
            os.makedirs(self._kafka_dir, exist_ok=True)
            argv += [self._kafka_dir] + ["%s=%s" % kv
                                         for kv in self.props.items()]
        else:
            argv.append(self._kafka_dir)
        log_path = os.path.join(test_dir(), "kafka-sh.log")
        with open(log_path, "ab") as log:
            try:
                p = subprocess.run(argv, stdin=subprocess.DEVNULL,
                                   stdout=subprocess.PIPE, stderr=log,
                                   timeout=timeout)
            except subprocess.TimeoutExpired:
                self._stop_kafka()
                raise TestFailure("kafka.sh %s did not finish in %gs; "
                                  "see %s" % (command, timeout, log_path))
        lines = p.stdout.decode().split()
        if p.returncode != 0 or not lines:
            raise TestFailure("kafka.sh %s failed (exit %d); see %s; "
                              "`make kafka-deps` installs what it needs"
                              % (command, p.returncode, log_path))
        self.bootstrap = lines[-1]

    def kill(self):
        """SIGKILL a private broker's JVM (a crash, no clean shutdown) and
        wait until it is gone. restart() brings it back."""
        expect(self._kafka_dir, "only a broker the test started "
               "(Broker(private=True)) can be killed")
        log_path = os.path.join(test_dir(), "kafka-sh.log")
        with open(log_path, "ab") as log:
            p = subprocess.run([KAFKA_SH, "kill", self._kafka_dir],
                               stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=log,
                               timeout=30)
        expect(p.returncode == 0, "kafka.sh kill succeeds",
               "exit %d; see %s" % (p.returncode, log_path))
        log_note("broker at %s killed (SIGKILL)" % self.bootstrap)

    def restart(self, timeout=120):
        """Start a private broker again on the same ports and data (after
        kill(), or as a bounce: a running one is stopped first). Returns
        when it answers Metadata."""
        expect(self._kafka_dir, "only a broker the test started "
               "(Broker(private=True)) can be restarted")
        before = self.bootstrap
        self._start_kafka(timeout, command="restart")
        expect(self.bootstrap == before, "the broker restarts on its port",
               "was %s, now %s" % (before, self.bootstrap))
        log_note("broker at %s restarted" % self.bootstrap)

    def pid(self):
        """The process id of a private broker's JVM (kafka.sh's pid file),
        e.g. to SIGSTOP it for a moment."""
        expect(self._kafka_dir, "only a broker the test started "
               "(Broker(private=True)) has a known pid")
        with open(os.path.join(self._kafka_dir, "pid")) as f:
            return int(f.read().strip())

    def _stop_kafka(self):
        if self._kafka_dir:
            subprocess.run([KAFKA_SH, "stop", self._kafka_dir],
                           stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, timeout=60)
            self._kafka_dir = None

    def stop(self):
        """Stop the cluster if we started it. Safe to call twice.

        Every other process the test started is stopped first: they are
        the cluster's clients, and a daemon's clean shutdown (a last
        commit) needs the broker."""
        _stop_all(10, keep=[b.proc for b in _brokers if b.proc])
        if self.proc:
            rc = self.proc.stop(10)
            self.proc = None
            if rc != 0:
                log_note("sluice kafka exited %d" % rc)
        self._stop_kafka()
        if self in _brokers:
            _brokers.remove(self)

    def control(self, command, timeout=10):
        """Inject a fault into the embedded cluster: send one command to
        `sluice kafka`'s control channel and return its reply ("ok ...").
        Fails the test on an "error: ..." reply. Commands (see
        tools/cmd_kafka.c): "broker down 1", "broker up all",
        "rtt all 200", "errors OffsetCommit 5 REQUEST_TIMED_OUT", ...
        """
        expect(self.embedded and self.proc,
               "faults are injected into the embedded broker only",
               command)
        self.proc.popen.stdin.write((command + "\n").encode())
        self.proc.popen.stdin.flush()
        reply = _read_line(self.proc, timeout)
        expect(reply is not None and reply.startswith("ok"),
               "sluice kafka accepts %r" % command, reply)
        log_note("fault: %s" % command)
        return reply

    def create_topics(self, topics):
        """Create more topics {name: partitions} on a running cluster.

        Only a real broker can: the embedded one takes its topics at start.
        """
        expect(not self.embedded,
               "topics on the embedded broker are made at start-up",
               "pass them to Broker(topics=...): %s" % topics)
        self.topics.update(topics)
        self._create_topics(topics, timeout=60)

    def _create_topics(self, topics, timeout):
        if not topics:
            return
        admin = AdminClient({"bootstrap.servers": self.bootstrap})
        futures = admin.create_topics(
            [NewTopic(n, p, 1) for n, p in topics.items()],
            operation_timeout=timeout)
        for name, fut in futures.items():
            try:
                fut.result(timeout)
            except KafkaException as e:
                if e.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                    raise TestFailure("cannot create topic %s: %s" % (name, e))
        # Wait until every partition has a leader, so the first produce or
        # ListOffsets does not race the topic's creation.
        def ready():
            md = admin.list_topics(timeout=10)
            return all(n in md.topics and not md.topics[n].error and
                       len(md.topics[n].partitions) == p and
                       all(pm.leader >= 0
                           for pm in md.topics[n].partitions.values())
                       for n, p in topics.items())
        wait_for(ready, timeout, "topics %s to have leaders" % list(topics))

    def conf(self, **extra):
        """librdkafka properties for a client of this cluster."""
        c = {"bootstrap.servers": self.bootstrap}
        c.update(extra)
        return c

    def consumer_conf(self, **extra):
        """Properties for a consumer: small fetch.wait.max.ms if embedded."""
        c = self.conf(**{"enable.auto.commit": False})
        if self.embedded:
            c["fetch.wait.max.ms"] = EMBEDDED_FETCH_WAIT_MS
        c.update(extra)
        return c

    def daemon_props(self):
        """-X flags for the daemons (the worker's fetch wait, see above)."""
        if self.embedded:
            return ["-X", "fetch.wait.max.ms=%d" % EMBEDDED_FETCH_WAIT_MS]
        return []


def _read_line(proc, timeout):
    """Read the next line a process prints on stdout, within timeout.

    Bytes after the line are kept for the next call (proc._stdout_buf)."""
    fd = proc.popen.stdout.fileno()
    buf = getattr(proc, "_stdout_buf", b"")
    deadline = time.monotonic() + timeout
    while b"\n" not in buf and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            chunk = os.read(fd, 4096)
            if not chunk:
                break
            buf += chunk
        elif not proc.alive():
            break
    if b"\n" not in buf:
        proc._stdout_buf = buf
        return None
    line, proc._stdout_buf = buf.split(b"\n", 1)
    return line.decode().strip()


# ------------------------------------------------------------ kafka data --

Record = collections.namedtuple(
    "Record", "topic partition offset key value headers")


def _text(b):
    return b.decode("utf-8", "replace") if isinstance(b, bytes) else b


def produce(broker, topic, records, timeout=120, **conf):
    """Produce records: (key, value) or (key, value, partition) tuples.

    An idempotent producer; waits until every record is acknowledged and
    fails the test if any is not. Returns the number produced.
    """
    producer = Producer(broker.conf(**dict({
        "enable.idempotence": True, "linger.ms": 5}, **conf)))
    failures = []

    def report(err, msg):
        if err is not None:
            failures.append(err)

    n = 0
    for rec in records:
        key, value = rec[0], rec[1]
        kw = {"partition": rec[2]} if len(rec) > 2 and rec[2] is not None \
            else {}
        while True:
            try:
                producer.produce(topic, value=value, key=key,
                                 on_delivery=report, **kw)
                break
            except BufferError:
                producer.poll(0.05)
        n += 1
        if n % 1000 == 0:
            producer.poll(0)
    left = producer.flush(timeout)
    expect(left == 0 and not failures,
           "every produced record is acknowledged",
           "%d not delivered, %d failed (first: %s)"
           % (left, len(failures), failures[:1]))
    return n


def _partitions(broker, topic, client=None):
    admin = client or AdminClient({"bootstrap.servers": broker.bootstrap})
    md = admin.list_topics(topic, timeout=10)
    t = md.topics.get(topic)
    expect(t is not None and not t.error, "topic %s exists" % topic,
           t.error if t is not None else "not in metadata")
    return sorted(t.partitions)


def high_watermarks(broker, topic, isolation="read_uncommitted"):
    """{partition: high watermark} of a topic; with isolation
    read_committed, the last stable offsets instead (below the high
    watermark while a transaction is open there)."""
    c = Consumer(broker.consumer_conf(**{"group.id": unique("hwm"),
                                         "isolation.level": isolation}))
    try:
        return {p: c.get_watermark_offsets(TopicPartition(topic, p),
                                           timeout=10)[1]
                for p in _partitions(broker, topic, c)}
    finally:
        c.close()


def wait_stable(broker, topic, timeout=60):
    """Wait until no transaction is open in topic (each partition's last
    stable offset has reached its high watermark): a read_committed
    reader reads only up to the last stable offset. Returns the seconds
    waited."""
    t0 = time.monotonic()
    state = {}

    def stable():
        state["lso"] = high_watermarks(broker, topic, "read_committed")
        state["hwm"] = high_watermarks(broker, topic)
        return state["lso"] == state["hwm"]
    wait_for(stable, timeout, lambda: "no open transaction in %s (stable "
             "%s, high %s)" % (topic, state.get("lso"), state.get("hwm")),
             interval=0.5)
    return time.monotonic() - t0


def consume_all(broker, topic, timeout=120, isolation="read_committed"):
    """Every record of a topic, read from the beginning to the high
    watermarks seen at the start; a list of Record, in each partition's
    order. Fails if the read does not finish within timeout. isolation:
    read_committed (librdkafka's default: records of aborted transactions
    are skipped) or read_uncommitted (every record written)."""
    c = Consumer(broker.consumer_conf(**{
        "group.id": unique("read"), "enable.partition.eof": True,
        "isolation.level": isolation}))
    out = []
    try:
        parts = _partitions(broker, topic, c)
        ends = {}
        for p in parts:
            low, high = c.get_watermark_offsets(TopicPartition(topic, p),
                                                timeout=10)
            if high > low:
                ends[p] = high
        c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in ends])
        pos = {p: -1 for p in ends}
        deadline = time.monotonic() + timeout
        while any(pos[p] + 1 < ends[p] for p in ends):
            expect(time.monotonic() < deadline,
                   "read %s to its end within %gs" % (topic, timeout),
                   "at %s of %s" % (pos, ends))
            msg = c.poll(0.1)
            if msg is None:
                continue
            if msg.error():
                if msg.error().code() == KafkaError._PARTITION_EOF:
                    if msg.offset() >= ends[msg.partition()]:
                        pos[msg.partition()] = ends[msg.partition()] - 1
                    continue
                raise TestFailure("reading %s: %s" % (topic, msg.error()))
            p = msg.partition()
            if msg.offset() >= ends[p]:
                continue
            pos[p] = msg.offset()
            out.append(Record(topic, p, msg.offset(), msg.key(), msg.value(),
                              msg.headers() or []))
    finally:
        c.close()
    return out


# The group coordinator moving or loading (a new group on a real broker)
# answers an offsets fetch with one of these for a moment: ask again.
_COORDINATOR_BUSY = ("NOT_COORDINATOR", "COORDINATOR_LOAD_IN_PROGRESS",
                     "COORDINATOR_NOT_AVAILABLE")


def committed(broker, group, topic):
    """{partition: committed offset} of a group (-1001 if none)."""
    c = Consumer(broker.consumer_conf(**{"group.id": group}))
    try:
        tps = [TopicPartition(topic, p) for p in _partitions(broker, topic, c)]
        deadline = time.monotonic() + 20
        while True:
            try:
                return {tp.partition: tp.offset
                        for tp in c.committed(tps, timeout=10)}
            except KafkaException as e:
                busy = e.args and e.args[0].name() in _COORDINATOR_BUSY
                if not busy or time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
    finally:
        c.close()


# confluent-kafka 1.7.0 (Debian 12) has no TopicPartition.metadata, so the
# commit metadata is read with librdkafka itself, through ctypes:
# rd_kafka_committed() returns offset and metadata per partition.

class _RdTopicPartition(ctypes.Structure):
    _fields_ = [("topic", ctypes.c_char_p), ("partition", ctypes.c_int32),
                ("offset", ctypes.c_int64), ("metadata", ctypes.c_void_p),
                ("metadata_size", ctypes.c_size_t),
                ("opaque", ctypes.c_void_p), ("err", ctypes.c_int),
                ("_private", ctypes.c_void_p)]


class _RdPartitionList(ctypes.Structure):
    _fields_ = [("cnt", ctypes.c_int), ("size", ctypes.c_int),
                ("elems", ctypes.POINTER(_RdTopicPartition))]


_rdk = None


def _librdkafka():
    global _rdk
    if _rdk is None:
        lib = ctypes.CDLL(ctypes.util.find_library("rdkafka")
                          or "librdkafka.so.1")
        vp, cp, i = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int
        lib.rd_kafka_conf_new.restype = vp
        lib.rd_kafka_conf_set.argtypes = [vp, cp, cp, cp, ctypes.c_size_t]
        lib.rd_kafka_conf_set.restype = i
        lib.rd_kafka_conf_destroy.argtypes = [vp]
        lib.rd_kafka_new.argtypes = [i, vp, cp, ctypes.c_size_t]
        lib.rd_kafka_new.restype = vp
        lib.rd_kafka_topic_partition_list_new.argtypes = [i]
        lib.rd_kafka_topic_partition_list_new.restype = \
            ctypes.POINTER(_RdPartitionList)
        lib.rd_kafka_topic_partition_list_add.argtypes = [
            ctypes.POINTER(_RdPartitionList), cp, ctypes.c_int32]
        lib.rd_kafka_topic_partition_list_add.restype = vp
        lib.rd_kafka_topic_partition_list_destroy.argtypes = [
            ctypes.POINTER(_RdPartitionList)]
        lib.rd_kafka_committed.argtypes = [
            vp, ctypes.POINTER(_RdPartitionList), i]
        lib.rd_kafka_committed.restype = i
        lib.rd_kafka_err2str.argtypes = [i]
        lib.rd_kafka_err2str.restype = cp
        lib.rd_kafka_consumer_close.argtypes = [vp]
        lib.rd_kafka_destroy.argtypes = [vp]
        _rdk = lib
    return _rdk


def committed_with_metadata(broker, group, topic, partitions=None):
    """{partition: (committed offset, metadata string)} of a group.

    partitions defaults to all of the topic's. Offset is -1001 and
    metadata "" where nothing was committed.
    """
    lib = _librdkafka()
    if partitions is None:
        partitions = _partitions(broker, topic)
    err = ctypes.create_string_buffer(512)
    conf = lib.rd_kafka_conf_new()
    for k, v in broker.consumer_conf(**{"group.id": group}).items():
        v = str(v).lower() if isinstance(v, bool) else str(v)
        if lib.rd_kafka_conf_set(conf, k.encode(), v.encode(), err, 512):
            lib.rd_kafka_conf_destroy(conf)
            raise TestFailure("librdkafka property %s: %s"
                              % (k, err.value.decode()))
    rk = lib.rd_kafka_new(1, conf, err, 512)  # RD_KAFKA_CONSUMER
    if not rk:
        lib.rd_kafka_conf_destroy(conf)
        raise TestFailure("cannot make a consumer: %s" % err.value.decode())
    tpl = lib.rd_kafka_topic_partition_list_new(len(partitions))
    try:
        for p in partitions:
            lib.rd_kafka_topic_partition_list_add(tpl, topic.encode(), p)
        rc = lib.rd_kafka_committed(rk, tpl, 10000)
        expect(rc == 0, "read committed offsets of group %s" % group,
               lib.rd_kafka_err2str(rc).decode())
        out = {}
        for i in range(tpl.contents.cnt):
            e = tpl.contents.elems[i]
            meta = (ctypes.string_at(e.metadata, e.metadata_size).decode()
                    if e.metadata and e.metadata_size else "")
            out[e.partition] = (e.offset, meta)
        return out
    finally:
        lib.rd_kafka_topic_partition_list_destroy(tpl)
        lib.rd_kafka_consumer_close(rk)
        lib.rd_kafka_destroy(rk)


# -- topic ACLs (a refusing output or input on real Kafka) -----------------
#
# confluent-kafka 1.7.0 has no ACL calls either, so they too go through
# librdkafka's own Admin API (rd_kafka_CreateAcls / rd_kafka_DeleteAcls,
# librdkafka >= 1.9): a round trip of milliseconds, where the JVM's
# kafka.admin.AclCommand takes seconds to start. The broker must run an
# authorizer: see AUTHORIZER_PROPS.

# server.properties for Broker(private=True, props=...): KRaft's own
# authorizer, open to everyone on every resource without ACLs (PLAINTEXT
# clients, the broker and its controller are all User:ANONYMOUS). A DENY
# ACL on one topic then shuts that topic alone, and for every operation:
# StandardAuthorizerData.findAclRule applies allow.everyone.if.no.acl.found
# only to a resource with no ACL at all, and a resource with ACLs but no
# ALLOW that matches is denied (MatchingRuleBuilder.build: DENY_RULE).
AUTHORIZER_PROPS = {
    "authorizer.class.name":
        "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
    "allow.everyone.if.no.acl.found": "true",
}

__all__ += ["AUTHORIZER_PROPS", "deny_topic_acl", "remove_topic_acls"]

_ACL_OPS = {"ALL": 2, "READ": 3, "WRITE": 4, "DESCRIBE": 8}
_RD_RESOURCE_TOPIC, _RD_PATTERN_LITERAL, _RD_PATTERN_ANY = 2, 3, 1
_RD_ACL_OP_ANY, _RD_ACL_PERM_ANY, _RD_ACL_PERM_DENY = 1, 1, 2


def _rdk_admin_calls(lib):
    if getattr(lib, "_acl_ready", False):
        return
    vp, cp, i, sz = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int, \
        ctypes.c_size_t
    for name in ("rd_kafka_AclBinding_new", "rd_kafka_AclBindingFilter_new"):
        f = getattr(lib, name)
        f.argtypes = [i, cp, i, cp, cp, i, i, cp, sz]
        f.restype = vp
    lib.rd_kafka_AclBinding_destroy.argtypes = [vp]
    for name in ("rd_kafka_CreateAcls", "rd_kafka_DeleteAcls"):
        getattr(lib, name).argtypes = [vp, ctypes.POINTER(vp), sz, vp, vp]
    lib.rd_kafka_AdminOptions_new.argtypes = [vp, i]
    lib.rd_kafka_AdminOptions_new.restype = vp
    lib.rd_kafka_AdminOptions_set_request_timeout.argtypes = [vp, i, cp, sz]
    lib.rd_kafka_AdminOptions_destroy.argtypes = [vp]
    lib.rd_kafka_queue_new.argtypes = [vp]
    lib.rd_kafka_queue_new.restype = vp
    lib.rd_kafka_queue_poll.argtypes = [vp, i]
    lib.rd_kafka_queue_poll.restype = vp
    lib.rd_kafka_queue_destroy.argtypes = [vp]
    lib.rd_kafka_event_error.argtypes = [vp]
    lib.rd_kafka_event_error_string.argtypes = [vp]
    lib.rd_kafka_event_error_string.restype = cp
    lib.rd_kafka_event_destroy.argtypes = [vp]
    lib.rd_kafka_CreateAcls_result_acls.argtypes = [vp, ctypes.POINTER(sz)]
    lib.rd_kafka_CreateAcls_result_acls.restype = ctypes.POINTER(vp)
    lib.rd_kafka_acl_result_error.argtypes = [vp]
    lib.rd_kafka_acl_result_error.restype = vp
    lib.rd_kafka_DeleteAcls_result_responses.argtypes = [
        vp, ctypes.POINTER(sz)]
    lib.rd_kafka_DeleteAcls_result_responses.restype = ctypes.POINTER(vp)
    lib.rd_kafka_DeleteAcls_result_response_error.argtypes = [vp]
    lib.rd_kafka_DeleteAcls_result_response_error.restype = vp
    lib.rd_kafka_DeleteAcls_result_response_matching_acls.argtypes = [
        vp, ctypes.POINTER(sz)]
    lib.rd_kafka_DeleteAcls_result_response_matching_acls.restype = vp
    lib.rd_kafka_error_string.argtypes = [vp]
    lib.rd_kafka_error_string.restype = cp
    lib._acl_ready = True


def _rdk_acl_call(broker, what, call, bindings, timeout):
    """Run rd_kafka_CreateAcls or _DeleteAcls on bindings (AclBinding or
    AclBindingFilter pointers, destroyed here); returns the result event's
    per-binding error strings (None where it succeeded) and, for deletes,
    how many ACLs each filter matched."""
    lib = _librdkafka()
    err = ctypes.create_string_buffer(512)
    conf = lib.rd_kafka_conf_new()
    lib.rd_kafka_conf_set(conf, b"bootstrap.servers",
                          broker.bootstrap.encode(), err, 512)
    rk = lib.rd_kafka_new(0, conf, err, 512)  # RD_KAFKA_PRODUCER
    if not rk:
        lib.rd_kafka_conf_destroy(conf)
        raise TestFailure("cannot make an admin client: %s"
                          % err.value.decode())
    q = lib.rd_kafka_queue_new(rk)
    opts = lib.rd_kafka_AdminOptions_new(rk, 0)  # RD_KAFKA_ADMIN_OP_ANY
    lib.rd_kafka_AdminOptions_set_request_timeout(
        opts, int(timeout * 1000), err, 512)
    arr = (ctypes.c_void_p * len(bindings))(*bindings)
    ev = None
    try:
        call(rk, arr, len(bindings), opts, q)
        ev = lib.rd_kafka_queue_poll(q, int(timeout * 1000) + 1000)
        expect(ev, "%s answered within %gs" % (what, timeout))
        code = lib.rd_kafka_event_error(ev)
        expect(code == 0, "%s succeeds" % what,
               (lib.rd_kafka_event_error_string(ev) or b"").decode())
        n = ctypes.c_size_t()
        errors, matched = [], []
        if call == lib.rd_kafka_CreateAcls:
            res = lib.rd_kafka_CreateAcls_result_acls(ev, ctypes.byref(n))
            per = lib.rd_kafka_acl_result_error
        else:
            res = lib.rd_kafka_DeleteAcls_result_responses(ev,
                                                           ctypes.byref(n))
            per = lib.rd_kafka_DeleteAcls_result_response_error
        for k in range(n.value):
            e = per(res[k])
            errors.append(lib.rd_kafka_error_string(e).decode() if e
                          else None)
            if call != lib.rd_kafka_CreateAcls:
                m = ctypes.c_size_t()
                lib.rd_kafka_DeleteAcls_result_response_matching_acls(
                    res[k], ctypes.byref(m))
                matched.append(m.value)
        return errors, matched
    finally:
        if ev:
            lib.rd_kafka_event_destroy(ev)
        for b in bindings:
            lib.rd_kafka_AclBinding_destroy(b)
        lib.rd_kafka_AdminOptions_destroy(opts)
        lib.rd_kafka_queue_destroy(q)
        lib.rd_kafka_destroy(rk)


def deny_topic_acl(broker, topic, operations=("WRITE",),
                   principal="User:ANONYMOUS", timeout=10):
    """Add a DENY ACL (principal, any host, each of operations) on topic:
    on a broker started with AUTHORIZER_PROPS its produces (WRITE) are then
    answered TOPIC_AUTHORIZATION_FAILED, and, the topic now having an ACL,
    so is everything else on it (see AUTHORIZER_PROPS). The broker applies
    the ACL once its metadata log has it: milliseconds on one node.
    remove_topic_acls() takes it away."""
    expect(not broker.embedded, "ACLs need a real broker (the embedded "
           "one has none: use control(\"errors Produce ...\"))")
    lib = _librdkafka()
    _rdk_admin_calls(lib)
    err = ctypes.create_string_buffer(512)
    bindings = []
    for op in operations:
        b = lib.rd_kafka_AclBinding_new(
            _RD_RESOURCE_TOPIC, topic.encode(), _RD_PATTERN_LITERAL,
            principal.encode(), b"*", _ACL_OPS[op], _RD_ACL_PERM_DENY,
            err, 512)
        expect(b, "ACL binding for %s %s" % (op, topic), err.value.decode())
        bindings.append(b)
    errors, _ = _rdk_acl_call(broker, "CreateAcls", lib.rd_kafka_CreateAcls,
                              bindings, timeout)
    expect(errors and not any(errors), "the broker takes the DENY ACL on %s"
           % topic, errors)
    log_note("fault: DENY %s for %s on topic %s (ACL added)"
             % ("+".join(operations), principal, topic))


def remove_topic_acls(broker, topic, timeout=10):
    """Delete every ACL on topic (literal pattern); returns how many went."""
    lib = _librdkafka()
    _rdk_admin_calls(lib)
    err = ctypes.create_string_buffer(512)
    f = lib.rd_kafka_AclBindingFilter_new(
        _RD_RESOURCE_TOPIC, topic.encode(), _RD_PATTERN_LITERAL, None, None,
        _RD_ACL_OP_ANY, _RD_ACL_PERM_ANY, err, 512)
    expect(f, "ACL filter for %s" % topic, err.value.decode())
    errors, matched = _rdk_acl_call(broker, "DeleteAcls",
                                    lib.rd_kafka_DeleteAcls, [f], timeout)
    expect(errors and not any(errors), "the broker deletes the ACLs on %s"
           % topic, errors)
    log_note("fault: ACLs on topic %s removed (%d)" % (topic, matched[0]))
    return matched[0]


def decode_meta(committed_offset, meta):
    """The completed ranges [(start, end)] above committed that a commit's
    metadata records (common/sl_meta.h, version 1: "s1:" then
    GAP.LEN,GAP.LEN... in base 36, each GAP counted from the end of the
    previous range, the first from committed; version 2: "s2:SP.OFF;" then
    the same). "" gives []."""
    if not meta:
        return []
    expect(meta[:3] in ("s1:", "s2:"), "commit metadata is version 1 or 2",
           repr(meta))
    ranges, at = [], committed_offset
    body = meta[3:]
    if meta.startswith("s2:"):  # "SP.OFF;" first: where markers begin
        body = body.split(";", 1)[1]
    for item in body.split(",") if body else []:
        gap, length = (int(x, 36) for x in item.split("."))
        start = at + gap
        ranges.append((start, start + length))
        at = start + length
    return ranges


# --------------------------------------------------------------- daemons --

def start_scheduler(broker, topics, group, name="scheduler", port=None,
                    drain=True, args=(), env=None, netns=None, host=None):
    """Start sluice-scheduler on a free loopback port.

    The Proc gets .endpoint (tcp://127.0.0.1:PORT, for workers) and .group.
    netns and host (the NetLab block below): run it in that network
    namespace, bound to tcp://HOST:0; .endpoint is then None until
    scheduler_endpoint() reads the port it was given from its log.
    """
    if netns:
        bind = "tcp://%s:%d" % (host, port or 0)
    else:
        port = port or free_port()
        bind = "tcp://127.0.0.1:%d" % port
    argv = [os.path.join(BIN, "sluice-scheduler"), "--brokers",
            broker.bootstrap, "--group", group, "--bind", bind]
    for t in ([topics] if isinstance(topics, str) else topics):
        argv += ["--topic", t]
    if drain:
        argv.append("--drain")
    argv += list(args)
    proc = start_proc(name, argv, env=env, netns=netns)
    proc.endpoint = None if netns else bind
    proc.group = group
    return proc


def start_worker(broker, schedulers, plugin, name="worker", output_topic=None,
                 plugin_opts=None, args=(), env=None, netns=None):
    """Start sluice-worker with build/plugins/<plugin>.so (or a path)."""
    path = plugin if "/" in plugin else plugin_path(plugin)
    argv = [os.path.join(BIN, "sluice-worker"), "--brokers",
            broker.bootstrap, "--plugin", path]
    for ep in ([schedulers] if isinstance(schedulers, str) else schedulers):
        argv += ["--scheduler", ep]
    if output_topic:
        argv += ["--output-topic", output_topic]
    for k, v in (plugin_opts or {}).items():
        argv += ["--plugin-opt", "%s=%s" % (k, v)]
    argv += broker.daemon_props() + list(args)
    return start_proc(name, argv, env=env, netns=netns)


_KV = re.compile(r'([a-z_][a-z0-9_.-]*)=("(?:[^"\\]|\\.)*"|\S*)')


def parse_kv(line):
    """The key=value pairs of a text log line, as a dict of strings."""
    return {k: v[1:-1] if v.startswith('"') else v
            for k, v in _KV.findall(line)}


def ts_seconds(ts):
    """A log line's UTC time (2026-11-23T09:40:00.123Z) as seconds since
    that day's midnight, for differences within a test."""
    h, m, s = ts.split("T")[1].rstrip("Z").split(":")
    return int(h) * 3600 + int(m) * 60 + float(s)


def fetched_records(proc):
    """Records a worker's consumers fetched, from the totals line it logs
    as it exits (librdkafka statistics; fails the test without one)."""
    m = re.search(r"kafka consumer totals rxmsgs=(\d+)", proc.log_text())
    expect(m, "%s logs its consumer totals" % proc.name)
    return int(m.group(1))


def log_events(proc_or_path, message):
    """The key=value dicts of the log lines whose message is `message`
    (e.g. "job begin"), in order, each with "_ts" (the line's UTC time,
    ISO 8601 with ms, so strings compare in time order) and "_level".
    Text format: TS LEVEL message k=v..."""
    path = getattr(proc_or_path, "log_path", proc_or_path)
    with open(path, "rb") as f:
        text = f.read().decode("utf-8", "replace")
    pat = re.compile(r"^(\S+)\s+(\w+)\s+" + re.escape(message) + r"(\s|$)")
    events = []
    for line in text.splitlines():
        m = pat.match(line)
        if m:
            e = parse_kv(line[m.end():])
            e["_ts"], e["_level"] = m.group(1), m.group(2)
            events.append(e)
    return events


def metrics_port(proc):
    """The port a daemon started with --metrics-addr HOST:0 listens on
    (from its "metrics listening" line)."""
    line = wait_for(lambda: next((l for l in proc.log_lines()
                                  if "metrics listening" in l), None),
                    30, "%s logs its metrics port" % proc.name)
    return int(re.search(r"port=(\d+)", line).group(1))


def scrape_metrics(port):
    """A daemon's /metrics on 127.0.0.1:port as {series: value}, the
    series with its labels as written ('sluice_jobs_total{outcome="done"}');
    None if it does not answer."""
    import urllib.request
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port,
                                    timeout=2) as r:
            text = r.read().decode()
    except OSError:
        return None
    values = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            values[name] = float(value)
    return values


def utc_now_iso():
    """Now as the logs write it: 2026-11-23T09:40:00.123Z."""
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + \
        ".%03dZ" % int((t % 1) * 1000)


# ------------------------------------------- network namespaces (NetLab) --
# For tests/integration/test_real_netns.py: hosts on a network of their
# own, in network namespaces the test creates and removes. Nothing is added
# to the namespace the test itself runs in (no address, route, bridge,
# qdisc or firewall rule): every interface and rule lives in the lab's
# namespaces, whose names carry the test's pid and a random tag.

_CLONE_NEWNET = 0x40000000
_labs = []


def _run_ip(argv, what=None):
    """Run a short network command (ip, iptables, ...); fail the test with
    its stderr if it fails."""
    p = subprocess.run([str(a) for a in argv], stdin=subprocess.DEVNULL,
                       capture_output=True, timeout=30)
    if p.returncode != 0:
        raise TestFailure("%s failed (exit %d): %s"
                          % (what or " ".join(map(str, argv)), p.returncode,
                             p.stderr.decode("utf-8", "replace").strip()))
    return p.stdout.decode("utf-8", "replace")


def netlab_unusable():
    """None if a NetLab can be built here, else why not (one line): not
    root, no `ip netns`, no iptables or TUN device inside a namespace."""
    if os.geteuid() != 0:
        return ("not root: network namespaces need CAP_SYS_ADMIN and "
                "CAP_NET_ADMIN")
    for tool in ("ip", "iptables"):
        if not shutil.which(tool):
            return "%s not found (apt-get install iproute2 iptables)" % tool
    ns = "sl-probe-%d-%s" % (os.getpid(), uuid.uuid4().hex[:4])
    steps = [["ip", "netns", "add", ns],
             ["ip", "-n", ns, "link", "set", "lo", "up"],
             ["ip", "netns", "exec", ns, "iptables", "-w", "-A", "FORWARD",
              "-s", "10.0.0.1", "-j", "DROP"],
             ["ip", "-n", ns, "tuntap", "add", "dev", "probe0", "mode",
              "tun"]]
    try:
        for argv in steps:
            p = subprocess.run(argv, stdin=subprocess.DEVNULL,
                               capture_output=True, timeout=30)
            if p.returncode != 0:
                return "`%s` failed: %s" % (
                    " ".join(argv[:5]),
                    p.stderr.decode("utf-8", "replace").strip())
        return None
    finally:
        subprocess.run(["ip", "netns", "del", ns], stdin=subprocess.DEVNULL,
                       capture_output=True, timeout=30)


class NetLab:
    """Hosts on a routed network of their own; use as a context manager.

    Each host is a network namespace with one veth (eth0, 10.77.N.2/24) to
    a hub namespace that routes between them (10.77.N.1, N = 1, 2, .. in
    the order of `hosts`). Faults are made in the hub only, so they are
    faults of the network between two hosts, not of either host:

      cut(a, b)      every packet between a and b dropped, silently (a
                     DROP rule each way in the hub's FORWARD chain): a
                     dead link, no RST, no ICMP; heal(a, b) restores it
      impair(a, bs)  the packets between a and each of bs go through a
                     user-space netem in the hub (_netem_main below):
                     delay, jitter and loss per packet, each direction

    Daemons run in a host with netns=lab.ns[host] (start_proc and the
    start_* helpers); the test's own Kafka clients with `with
    lab.inside(host):`. close() (also at exit and on SIGTERM) stops every
    registered process and broker, then deletes every namespace of the
    lab, whatever happened."""

    def __init__(self, hosts):
        tag = "%d-%s" % (os.getpid(), uuid.uuid4().hex[:4])
        self.hub = "sl-%s-hub" % tag
        self.ns = {h: "sl-%s-%s" % (tag, h) for h in hosts}
        self.addr = {h: "10.77.%d.2" % (i + 1) for i, h in enumerate(hosts)}
        self.hosts = list(hosts)
        self.netem = None
        self._rules = []
        self._made = []
        self._closed = False

    def __enter__(self):
        _labs.append(self)
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc):
        self.close()

    def _hub_sysctl(self, key, value):
        _run_ip(["ip", "netns", "exec", self.hub, "sh", "-c",
                 "echo %s > /proc/sys/%s" % (value, key.replace(".", "/"))])

    def start(self):
        _run_ip(["ip", "netns", "add", self.hub])
        self._made.append(self.hub)
        _run_ip(["ip", "-n", self.hub, "link", "set", "lo", "up"])
        self._hub_sysctl("net.ipv4.ip_forward", 1)
        for key in ("all", "default"):
            self._hub_sysctl("net.ipv4.conf.%s.rp_filter" % key, 0)
        for i, h in enumerate(self.hosts, 1):
            ns, hub_if = self.ns[h], "h%d" % i
            _run_ip(["ip", "netns", "add", ns])
            self._made.append(ns)
            _run_ip(["ip", "-n", self.hub, "link", "add", hub_if, "type",
                     "veth", "peer", "name", "eth0", "netns", ns])
            _run_ip(["ip", "-n", self.hub, "addr", "add",
                     "10.77.%d.1/24" % i, "dev", hub_if])
            _run_ip(["ip", "-n", self.hub, "link", "set", hub_if, "up"])
            _run_ip(["ip", "-n", ns, "addr", "add", self.addr[h] + "/24",
                     "dev", "eth0"])
            for dev in ("lo", "eth0"):
                _run_ip(["ip", "-n", ns, "link", "set", dev, "up"])
            _run_ip(["ip", "-n", ns, "route", "add", "default", "via",
                     "10.77.%d.1" % i])
        log_note("netlab: hub %s, hosts %s" % (
            self.hub, ", ".join("%s=%s" % (h, self.addr[h])
                                for h in self.hosts)))

    def _iptables(self, op, a, b):
        for src, dst in ((a, b), (b, a)):
            _run_ip(["ip", "netns", "exec", self.hub, "iptables", "-w", op,
                     "FORWARD", "-s", self.addr[src], "-d", self.addr[dst],
                     "-j", "DROP"])

    def cut(self, a, b):
        """Drop every packet between hosts a and b (both ways)."""
        self._iptables("-I", a, b)
        log_note("netlab: cut %s <-> %s" % (a, b))

    def heal(self, a, b):
        """Undo cut(a, b)."""
        self._iptables("-D", a, b)
        log_note("netlab: healed %s <-> %s" % (a, b))

    def forward_drops(self):
        """Packets the hub's DROP rules have dropped so far."""
        out = _run_ip(["ip", "netns", "exec", self.hub, "iptables", "-w",
                       "-L", "FORWARD", "-n", "-v", "-x"])
        return sum(int(line.split()[0]) for line in out.splitlines()
                   if "DROP" in line.split()[2:3])

    def impair(self, a, others, delay_ms, jitter_ms, loss, seed=1):
        """Send the packets between host a and each host of `others`
        through the hub's user-space netem: each packet is lost with
        probability `loss`, else delayed by delay_ms + uniform(-jitter_ms,
        +jitter_ms) (at least 0), like `tc qdisc ... netem delay D J loss
        L` with uniform jitter, so packets are reordered too. Other paths
        (e.g. to the broker) are left alone. Returns the netem Proc."""
        expect(self.netem is None, "one impair() at a time")
        dev = "netem0"
        self.netem = start_proc(
            "netem", [sys.executable, os.path.abspath(__file__), "--netem",
                      dev, delay_ms, jitter_ms, loss, seed],
            stdout_pipe=True, netns=self.hub)
        line = _read_line(self.netem, 10)
        expect(line == "ready", "the netem forwarder made its TUN device",
               "%r; log %s:\n%s" % (line, self.netem.log_path,
                                    self.netem.log_tail()))
        _run_ip(["ip", "-n", self.hub, "link", "set", dev, "up"])
        self._hub_sysctl("net.ipv4.conf.%s.rp_filter" % dev, 0)
        _run_ip(["ip", "-n", self.hub, "route", "add", "default", "dev", dev,
                 "table", "100"])
        # What the forwarder writes back comes in on its device: route it
        # normally (the main table), or it would loop.
        self._rule(["iif", dev, "lookup", "main", "pref", "100"])
        for b in others:
            for src, dst in ((a, b), (b, a)):
                self._rule(["from", self.addr[src], "to", self.addr[dst],
                            "lookup", "100", "pref", "200"])
        log_note("netlab: %s <-> %s through netem: delay %sms jitter %sms "
                 "loss %s" % (a, ",".join(others), delay_ms, jitter_ms, loss))
        return self.netem

    def _rule(self, spec):
        _run_ip(["ip", "-n", self.hub, "rule", "add"] + spec)
        self._rules.append(spec)

    def unimpair(self):
        """Undo impair(); returns the forwarder's totals {"packets": N,
        "lost": N} (its last log line)."""
        for spec in reversed(self._rules):
            _run_ip(["ip", "-n", self.hub, "rule", "del"] + spec)
        self._rules = []
        self.netem.stop(5)
        m = re.search(r"netem totals packets=(\d+) lost=(\d+)",
                      self.netem.log_text())
        self.netem = None
        expect(m, "the netem forwarder logged its totals")
        return {"packets": int(m.group(1)), "lost": int(m.group(2))}

    @staticmethod
    def _setns(fd):
        if _libc.setns(fd, _CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise TestFailure("setns: %s" % os.strerror(err))

    def inside(self, host):
        """A context manager: the calling thread in host's namespace (and
        whatever it starts: processes, librdkafka's threads) until it
        ends."""
        lab = self

        class _Inside:
            def __enter__(self):
                self.home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
                fd = os.open("/var/run/netns/" + lab.ns[host], os.O_RDONLY)
                try:
                    lab._setns(fd)
                finally:
                    os.close(fd)

            def __exit__(self, *exc):
                try:
                    lab._setns(self.home)
                finally:
                    os.close(self.home)
        return _Inside()

    def start_broker(self, host, topics, props=None):
        """A private real Kafka broker (kafka.sh) in host, listening on its
        address; the Broker's clients must run inside(host) or in a host
        that routes to it."""
        old = os.environ.get("SLUICE_KAFKA_HOST")
        os.environ["SLUICE_KAFKA_HOST"] = self.addr[host]
        try:
            with self.inside(host):
                return Broker(topics=topics, kind="kafka", private=True,
                              props=props).start()
        finally:
            if old is None:
                del os.environ["SLUICE_KAFKA_HOST"]
            else:
                os.environ["SLUICE_KAFKA_HOST"] = old

    def close(self):
        """Stop every process and broker, delete every namespace made."""
        if self._closed:
            return
        self._closed = True
        _stop_all(5)
        for b in list(_brokers):
            b.stop()
        for ns in reversed(self._made):
            subprocess.run(["ip", "netns", "del", ns],
                           stdin=subprocess.DEVNULL, capture_output=True,
                           timeout=30)
        self._made = []
        if self in _labs:
            _labs.remove(self)


def _close_labs():
    for lab in list(_labs):
        lab.close()


def scheduler_endpoint(proc, timeout=30):
    """The endpoint a scheduler bound (its "scheduler started endpoint=..."
    line), e.g. after --bind tcp://HOST:0; also sets proc.endpoint."""
    e = wait_for(lambda: log_events(proc, "scheduler started"), timeout,
                 lambda: "%s to log its endpoint; log:\n%s"
                 % (proc.name, proc.log_tail()))
    proc.endpoint = e[0]["endpoint"]
    return proc.endpoint


def _netem_main(argv):
    """`harness.py --netem DEV DELAY_MS JITTER_MS LOSS SEED`, run in the
    hub by NetLab.impair(): make TUN device DEV, print "ready", then write
    back every IP packet the kernel routes into it, lost with probability
    LOSS, else after DELAY_MS + uniform(-JITTER_MS, +JITTER_MS) ms (at
    least 0). On SIGTERM: "netem totals packets=N lost=N" on stderr."""
    import fcntl
    import heapq
    import random
    import struct
    dev = argv[0]
    delay, jitter, loss = float(argv[1]), float(argv[2]), float(argv[3])
    rng = random.Random(int(argv[4]))
    fd = os.open("/dev/net/tun", os.O_RDWR)
    # TUNSETIFF with IFF_TUN | IFF_NO_PI: bare IP packets.
    fcntl.ioctl(fd, 0x400454ca, struct.pack("16sH", dev.encode(), 0x1001))
    os.set_blocking(fd, False)
    totals = {"packets": 0, "lost": 0}

    def done(signo, frame):
        sys.stderr.write("netem totals packets=%d lost=%d\n"
                         % (totals["packets"], totals["lost"]))
        sys.stderr.flush()
        os._exit(0)
    signal.signal(signal.SIGTERM, done)
    signal.signal(signal.SIGINT, done)
    print("ready", flush=True)
    queue, seq = [], 0
    while True:
        now = time.monotonic()
        while queue and queue[0][0] <= now:
            try:
                os.write(fd, heapq.heappop(queue)[2])
            except OSError:
                pass
        wait = max(0.0, queue[0][0] - now) if queue else 1.0
        if not select.select([fd], [], [], wait)[0]:
            continue
        while True:
            try:
                pkt = os.read(fd, 65536)
            except BlockingIOError:
                break
            totals["packets"] += 1
            if rng.random() < loss:
                totals["lost"] += 1
                continue
            d = max(0.0, delay + rng.uniform(-jitter, jitter)) / 1000.0
            seq += 1
            heapq.heappush(queue, (time.monotonic() + d, seq, pkt))
# ------------------------------------------ network namespaces (end) --


# ------------------------------------------------------------ the runner --

_tests = []


def test(fn):
    """Register a test function; main() runs them in order."""
    _tests.append(fn)
    return fn


def _cleanup_test(passed):
    global _test_dir
    _stop_all()
    for b in list(_brokers):
        b.stop()
    if _test_dir and passed and not os.environ.get("SLUICE_TEST_KEEP"):
        shutil.rmtree(_test_dir, ignore_errors=True)
        _dirs.remove(_test_dir)
    elif _test_dir:
        log_note("kept logs in %s" % _test_dir)
    _test_dir = None


def _show_logs():
    """On failure, print the tail of every log of the test."""
    if not _test_dir:
        return
    for name in sorted(os.listdir(_test_dir)):
        path = os.path.join(_test_dir, name)
        if name.endswith(".log") and os.path.isfile(path):
            with open(path, "rb") as f:
                lines = f.read().decode("utf-8", "replace").splitlines()
            sys.stderr.write("---- %s (last %d of %d lines)\n"
                             % (path, min(20, len(lines)), len(lines)))
            sys.stderr.write("\n".join(lines[-20:]) + "\n")


def _on_signal(signo, frame):
    _stop_all(2)
    for b in list(_brokers):
        b.stop()
    _close_labs()
    sys.stderr.write("interrupted by signal %d\n" % signo)
    os._exit(128 + signo)


def _at_exit():
    _stop_all(2)
    for b in list(_brokers):
        b.stop()
    _close_labs()


atexit.register(_at_exit)


def main(argv=None):
    """Run the registered tests (or those named on the command line) and
    exit: prints "N passed, N failed", exit status 1 if any failed."""
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    names = (argv if argv is not None else sys.argv[1:])
    chosen = [t for t in _tests if not names or t.__name__ in names]
    passed = failed = 0
    for fn in chosen:
        t0 = time.monotonic()
        log_note("RUN  %s (broker: %s)" % (fn.__name__, BROKER_KIND))
        ok = False
        try:
            fn()
            ok = True
        except TestFailure as e:
            sys.stderr.write("FAIL %s: %s\n" % (fn.__name__, e))
        except Exception:
            sys.stderr.write("FAIL %s: unexpected error\n%s"
                             % (fn.__name__, traceback.format_exc()))
        if not ok:
            _show_logs()
        _cleanup_test(ok)
        verdict = "PASS" if ok else "FAIL"
        print("%s %s (%.1fs)" % (verdict, fn.__name__, time.monotonic() - t0),
              flush=True)
        passed += ok
        failed += not ok
    print("%d passed, %d failed" % (passed, failed), flush=True)
    sys.exit(1 if failed or not chosen else 0)


if __name__ == "__main__" and sys.argv[1:2] == ["--netem"]:
    _netem_main(sys.argv[2:])
