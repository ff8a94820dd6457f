"""benchlib - processes, brokers and statistics for sluice's benchmark suite.

Only Debian's /usr/bin/python3, its python3-confluent-kafka and the
standard library. bench/run.py is the entry point; bench/figures.py has
one function per figure. See bench/README.md.

Every child process is a direct child of this one and is reaped with
os.wait4(), so its CPU time (user + system, all threads) and peak RSS
come from the kernel's rusage, not from sampling. Long-lived processes
we do not reap within a measurement (the broker) are read from
/proc/PID/stat before and after it.
"""

import atexit
import calendar
import ctypes
import json
import os
import re
import select
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

SOURCE = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
BUILD = os.path.abspath(os.environ.get("SLUICE_BUILD_DIR")
                        or os.path.join(SOURCE, "build"))
BIN = os.path.join(BUILD, "bin")
PLUGINS = os.path.join(BUILD, "plugins")
BENCH_BIN = os.path.join(BUILD, "bench")
KAFKA_SH = os.path.join(SOURCE, "tests", "kafka", "kafka.sh")
CLK_TCK = os.sysconf("SC_CLK_TCK")


class BenchError(Exception):
    """A measurement could not be made; the message says why."""


def note(msg):
    """A progress line on stderr."""
    sys.stderr.write("[%s] %s\n" % (time.strftime("%H:%M:%S"), msg))
    sys.stderr.flush()


def free_port():
    """A loopback TCP port that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bench_bin(name):
    """build/bench/<name>, checked."""
    path = os.path.join(BENCH_BIN, name)
    if not os.path.exists(path):
        raise BenchError("%s is missing: build with `make build` "
                         "(CMake option SLUICE_BENCH=ON)" % path)
    return path


def snapshot(logdir):
    """Copy build/bin, build/plugins and build/bench into logdir and use
    the copies, so one invocation measures one build even if the tree is
    rebuilt meanwhile."""
    global BIN, PLUGINS, BENCH_BIN
    dst = os.path.join(logdir, "build")
    for src, attr in ((BIN, "bin"), (PLUGINS, "plugins"),
                      (BENCH_BIN, "bench")):
        if not os.path.isdir(src):
            raise BenchError("%s is missing: run `make build` first" % src)
        target = os.path.join(dst, attr)
        os.makedirs(target, exist_ok=True)
        for name in os.listdir(src):
            path = os.path.join(src, name)
            if os.path.isfile(path):
                shutil.copy2(path, target)
    BIN = os.path.join(dst, "bin")
    PLUGINS = os.path.join(dst, "plugins")
    BENCH_BIN = os.path.join(dst, "bench")


def bin_path(name):
    """A sluice binary (sluice, sluice-scheduler, sluice-worker)."""
    return os.path.join(BIN, name)


def plugin_path(name):
    """A bundled plugin, build/plugins/<name>.so."""
    return os.path.join(PLUGINS, name + ".so")


# ------------------------------------------------------------- processes --

_libc = ctypes.CDLL(None, use_errno=True)
_PR_SET_PDEATHSIG = 1
_children = []
_lock = threading.Lock()


def _die_with_parent():
    parent = os.getpid()

    def preexec():
        _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:
            os._exit(127)
    return preexec


class Child:
    """A child process: stdout to <dir>/<name>.out, stderr to .log.

    Reaped with os.wait4: .cpu (user + system seconds), .rc, .t_exit
    (monotonic) once it has ended. With track_hwm, .hwm_kb is the peak
    VmHWM read from /proc/PID/status every 20 ms while it runs: the
    kernel's ru_maxrss cannot be used, since it keeps the peak of the
    process before exec, i.e. of this Python process it was forked from.
    """

    def __init__(self, name, argv, logdir, env=None, stdout_pipe=False,
                 track_hwm=False):
        self.name = name
        self.argv = [str(a) for a in argv]
        self.out_path = os.path.join(logdir, name + ".out")
        self.log_path = os.path.join(logdir, name + ".log")
        full_env = dict(os.environ)
        full_env.update(env or {})
        self._out = open(self.out_path, "ab")
        self._log = open(self.log_path, "ab")
        self.t_spawn = time.monotonic()
        self.wall_spawn = time.time()
        self.popen = subprocess.Popen(
            self.argv, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE if stdout_pipe else self._out,
            stderr=self._log, env=full_env, preexec_fn=_die_with_parent(),
            close_fds=True)
        self.pid = self.popen.pid
        self.rc = None
        self.cpu = None
        self.t_exit = None
        self._buf = b""
        self.hwm_kb = None
        self.anon_kb = None
        self.file_kb = None
        with _lock:
            _children.append(self)
        if track_hwm:
            threading.Thread(target=self._sample_hwm, daemon=True).start()

    def _sample_hwm(self):
        """Keep the largest VmHWM seen until the process is gone (a
        zombie's status has no VmHWM), and the largest RssAnon (private
        memory) and RssFile (mapped files: mostly shared libraries, whose
        pages every process on the machine shares) seen by the samples."""
        while self.rc is None:
            st = self.status()
            kb = st.get("VmHWM")
            if kb is None:
                if self.hwm_kb is not None:
                    return
            elif self.hwm_kb is None or kb > self.hwm_kb:
                self.hwm_kb = kb
            for key, attr in (("RssAnon", "anon_kb"), ("RssFile", "file_kb")):
                v = st.get(key)
                if v is not None and v > (getattr(self, attr) or 0):
                    setattr(self, attr, v)
            time.sleep(0.02)

    def __repr__(self):
        return "<Child %s pid=%d rc=%r>" % (self.name, self.pid, self.rc)

    def poll(self):
        """Reap if it ended; True once it has."""
        if self.rc is not None:
            return True
        try:
            pid, status, ru = os.wait4(self.pid, os.WNOHANG)
        except ChildProcessError:
            self.rc = self.popen.returncode if self.popen.returncode \
                is not None else -1
            self.t_exit = time.monotonic()
            return True
        if pid == 0:
            return False
        self.t_exit = time.monotonic()
        self.rc = os.waitstatus_to_exitcode(status)
        self.popen.returncode = self.rc  # Popen must not wait again
        self.cpu = ru.ru_utime + ru.ru_stime
        self._close()
        with _lock:
            if self in _children:
                _children.remove(self)
        return True

    def alive(self):
        return not self.poll()

    def wait(self, timeout, watch=()):
        """Wait up to timeout seconds for the exit code; on timeout, or if
        a process in `watch` fails first (exits non-zero: one that exits
        0 has finished its part), stop it and raise BenchError."""
        deadline = time.monotonic() + timeout
        while not self.poll():
            for other in watch:
                if other.poll() and other.rc != 0:
                    raise BenchError("%s exited (%s) while %s ran; see %s"
                                     % (other.name, other.rc, self.name,
                                        other.log_path))
            if time.monotonic() > deadline:
                self.stop(5)
                raise BenchError("%s did not finish in %gs; see %s"
                                 % (self.name, timeout, self.log_path))
            time.sleep(0.005)
        return self.rc

    def signal(self, signo):
        if self.rc is None:
            try:
                os.kill(self.pid, signo)
            except ProcessLookupError:
                pass

    def stop(self, timeout=10):
        """SIGTERM, wait, then SIGKILL. Returns the exit code."""
        self.signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while not self.poll():
            if time.monotonic() > deadline:
                self.signal(signal.SIGKILL)
                deadline = time.monotonic() + 5
            time.sleep(0.01)
        return self.rc

    def _close(self):
        for f in (self._out, self._log):
            try:
                f.close()
            except OSError:
                pass

    def read_line(self, timeout):
        """The next stdout line of a child started with stdout_pipe."""
        fd = self.popen.stdout.fileno()
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buf and time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.1)
            if ready:
                chunk = os.read(fd, 65536)
                if not chunk:
                    break
                self._buf += chunk
            elif not self.alive():
                break
        if b"\n" not in self._buf:
            return None
        line, self._buf = self._buf.split(b"\n", 1)
        return line.decode().strip()

    def out_json(self):
        """Every JSON object line it printed on stdout."""
        out = []
        with open(self.out_path, "rb") as f:
            for line in f.read().decode("utf-8", "replace").splitlines():
                line = line.strip()
                if line.startswith("{"):
                    try:
                        out.append(json.loads(line))
                    except ValueError:
                        pass
        return out

    def result(self):
        """The last JSON line without an "event" key (the summary)."""
        rows = [r for r in self.out_json() if "event" not in r]
        if not rows:
            raise BenchError("%s printed no result; see %s and %s"
                             % (self.name, self.out_path, self.log_path))
        return rows[-1]

    def log_text(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def status(self):
        """{VmRSS, VmHWM, RssAnon, RssFile} in KiB from /proc/PID/status,
        {} if gone."""
        out = {}
        try:
            with open("/proc/%d/status" % self.pid) as f:
                for line in f:
                    k, _, v = line.partition(":")
                    if k in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
                        out[k] = int(v.split()[0])
        except OSError:
            pass
        return out


def proc_cpu(pid):
    """utime + stime of a running process, in seconds (None if gone)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK
    except (OSError, IndexError, ValueError):
        return None


def stop_all(timeout=5, keep=()):
    """Stop every child still running (SIGTERM, then SIGKILL), except
    those in keep."""
    with _lock:
        kids = [c for c in _children if c not in keep]
    for c in kids:
        c.signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for c in kids:
        while not c.poll():
            if time.monotonic() > deadline:
                c.signal(signal.SIGKILL)
            time.sleep(0.01)


atexit.register(stop_all)


# ----------------------------------------------------------------- logs --

_TS = re.compile(r"^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)\.(\d{3})Z\s+"
                 r"(\w+)\s+(.*)$")
_KV = re.compile(r'([a-z_][a-z0-9_.-]*)=("(?:[^"\\]|\\.)*"|\S*)')


def log_events(text, message):
    """[(epoch seconds, {key: value})] of the daemon log lines whose
    message is `message` (text format: TS LEVEL message k=v...)."""
    out = []
    for line in text.splitlines():
        m = _TS.match(line)
        if not m or not (m.group(9) == message or
                         m.group(9).startswith(message + " ")):
            continue
        y, mo, d, h, mi, s, ms = (int(m.group(i)) for i in range(1, 8))
        t = calendar.timegm((y, mo, d, h, mi, s, 0, 0, 0)) + ms / 1000.0
        kv = {k: v.strip('"') for k, v in
              _KV.findall(m.group(9)[len(message):])}
        out.append((t, kv))
    return out


# ---------------------------------------------------------------- stats --

def summary(values):
    """{median, min, max, n} of a list of numbers (None if empty)."""
    vals = [v for v in values if v is not None]
    if not vals:
        return None
    return {"median": statistics.median(vals), "min": min(vals),
            "max": max(vals), "n": len(vals)}


def percentile(values, p):
    """The p-th percentile (nearest rank) of a list."""
    if not values:
        return None
    s = sorted(values)
    k = max(0, min(len(s) - 1, int(round(p / 100.0 * len(s) + 0.5)) - 1))
    return s[k]


def per_million(cpu, count):
    """CPU seconds per million of count."""
    if cpu is None or not count:
        return None
    return cpu * 1e6 / count


# --------------------------------------------------------------- brokers --

class Broker:
    """The cluster a figure runs against.

    kind "embedded": `sluice kafka` with the figure's topics (the mock has
    no CreateTopics), one process per `with broker.topics(...)` block.
    kind "kafka": one real broker per invocation (tests/kafka/kafka.sh),
    topics created through the admin API; or BENCH_BROKERS=host:port.
    """

    def __init__(self, kind, logdir):
        self.kind = kind
        self.logdir = logdir
        self.bootstrap = None
        self.proc = None          # embedded: the sluice kafka Child
        self.kafka_dir = None     # kafka: the kafka.sh DIR
        self.pid = None           # the process serving the cluster

    @property
    def embedded(self):
        return self.kind == "embedded"

    def start(self, props=()):
        """Start a real broker (embedded ones start per topic set), with
        server.properties overrides props ["KEY=VALUE", ...]."""
        if self.embedded:
            return self
        if os.environ.get("BENCH_BROKERS"):
            self.bootstrap = os.environ["BENCH_BROKERS"]
            return self
        self.kafka_dir = os.path.join(self.logdir, "kafka")
        os.makedirs(self.kafka_dir, exist_ok=True)
        log = open(os.path.join(self.logdir, "kafka-sh.log"), "ab")
        note("starting a real Kafka broker (tests/kafka/kafka.sh)")
        p = subprocess.run([KAFKA_SH, "start", self.kafka_dir] + list(props),
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=log, timeout=180)
        log.close()
        lines = p.stdout.decode().split()
        if p.returncode != 0 or not lines:
            raise BenchError("kafka.sh start failed (exit %d); see %s; "
                             "`make kafka-deps` installs what it needs"
                             % (p.returncode, log.name))
        self.bootstrap = lines[-1]
        with open(os.path.join(self.kafka_dir, "pid")) as f:
            self.pid = int(f.read().strip())
        return self

    def stop(self):
        if self.proc:
            self.proc.stop(10)
            self.proc = None
        if self.kafka_dir:
            subprocess.run([KAFKA_SH, "stop", self.kafka_dir],
                           stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, timeout=90)
            self.kafka_dir = None

    def topics(self, topics):
        """A context manager: a cluster that has `topics` {name: parts}."""
        return _TopicScope(self, topics)

    def cpu(self):
        """CPU seconds the broker process has used so far (None if not
        ours to read)."""
        return proc_cpu(self.pid) if self.pid else None

    def _start_embedded(self, topics):
        argv = [bin_path("sluice"), "kafka"]
        for name, parts in topics.items():
            argv += ["--topic", "%s:%d" % (name, parts)]
        self.proc = Child("kafka-%d" % len(os.listdir(self.logdir)), argv,
                          self.logdir, stdout_pipe=True)
        line = self.proc.read_line(60)
        if not line:
            raise BenchError("sluice kafka printed no bootstrap; see %s"
                             % self.proc.log_path)
        self.bootstrap = line
        self.pid = self.proc.pid

    def _create(self, topics):
        from confluent_kafka import KafkaError, KafkaException
        from confluent_kafka.admin import AdminClient, NewTopic
        admin = AdminClient({"bootstrap.servers": self.bootstrap})
        futs = admin.create_topics([NewTopic(n, p, 1)
                                    for n, p in topics.items()],
                                   operation_timeout=120)
        for name, fut in futs.items():
            try:
                fut.result(180)
            except KafkaException as e:
                if e.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                    raise BenchError("cannot create topic %s: %s" % (name, e))
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            md = admin.list_topics(timeout=30)
            if all(n in md.topics and not md.topics[n].error and
                   len(md.topics[n].partitions) == p and
                   all(pm.leader >= 0
                       for pm in md.topics[n].partitions.values())
                   for n, p in topics.items()):
                return
            time.sleep(0.2)
        raise BenchError("topics %s have no leaders" % list(topics))

    def watermarks(self, topic, partition):
        """(low, high) of one partition."""
        from confluent_kafka import Consumer, TopicPartition
        c = Consumer({"bootstrap.servers": self.bootstrap,
                      "group.id": "bench-wm",
                      "isolation.level": "read_uncommitted"})
        try:
            return c.get_watermark_offsets(TopicPartition(topic, partition),
                                           timeout=30)
        finally:
            c.close()


class _TopicScope:
    def __init__(self, broker, topics):
        self.broker = broker
        self.topics = topics

    def __enter__(self):
        if self.broker.embedded:
            self.broker._start_embedded(self.topics)
        else:
            self.broker._create(self.topics)
        return self.broker

    def __exit__(self, *exc):
        stop_all(5, keep=(self.broker.proc,))
        if self.broker.embedded and self.broker.proc:
            self.broker.proc.stop(10)
            self.broker.proc = None
            self.broker.pid = None


# ---------------------------------------------------------------- runs --

class Run:
    """One invocation's settings and scratch directory."""

    def __init__(self, broker_kind, quick=False, smoke=False, rounds=3,
                 logdir=None):
        self.broker_kind = broker_kind
        self.quick = quick or smoke
        self.smoke = smoke
        self.rounds = rounds
        self.logdir = logdir or tempfile.mkdtemp(prefix="sluice-bench-")
        self.broker = Broker(broker_kind, self.logdir)
        self._n = 0
        # The same librdkafka settings for every consumer, baseline or
        # sluice worker, and printed in the report: the worker's own
        # default, 10 ms, on both brokers (the embedded broker answers an
        # empty Fetch only after fetch.wait.max.ms).
        self.fetch_wait_ms = 10
        self.consumer_props = {"fetch.wait.max.ms": self.fetch_wait_ms}

    def dir(self, name):
        """A fresh log directory for one measurement."""
        self._n += 1
        d = os.path.join(self.logdir, "%03d-%s" % (self._n, name))
        os.makedirs(d, exist_ok=True)
        return d

    def xprops(self, extra=None):
        """-X arguments for every consumer."""
        props = dict(self.consumer_props)
        props.update(extra or {})
        out = []
        for k, v in props.items():
            out += ["-X", "%s=%s" % (k, v)]
        return out

    def unique(self, name):
        self._n += 1
        return "%s-%d-%d" % (name, os.getpid(), self._n)

    def cleanup(self, keep):
        if keep:
            note("logs kept in %s" % self.logdir)
        else:
            shutil.rmtree(self.logdir, ignore_errors=True)


def produce(run, broker, topic, partitions, records, value_bytes, batch,
            timeout=600):
    """Fill partitions 0..partitions-1 of topic with `records` each."""
    d = run.dir("produce-" + topic)
    c = Child("produce", [bench_bin("bench_produce"), "--brokers",
                          broker.bootstrap, "--topic", topic,
                          "--partitions", partitions, "--records", records,
                          "--value-bytes", value_bytes, "--batch", batch],
              d)
    if c.wait(timeout) != 0:
        raise BenchError("bench_produce failed; see %s" % c.log_path)
    r = c.result()
    note("produced %d records to %s (%d partitions, batch %d) in %.1fs"
         % (r["records"], topic, partitions, batch, r["seconds"]))
    return r


def start_scheduler(run, broker, d, topic, group, args=(), name="scheduler",
                    drain=True, port=None):
    port = port or free_port()
    argv = [bin_path("sluice-scheduler"), "--brokers",
            broker.bootstrap, "--topic", topic, "--group", group,
            "--bind", "tcp://127.0.0.1:%d" % port]
    if drain:
        argv.append("--drain")
    c = Child(name, argv + [str(a) for a in args], d)
    c.endpoint = "tcp://127.0.0.1:%d" % port
    return c


def start_worker(run, broker, d, endpoint, plugin, name, args=(), env=None,
                 drain=True, track_hwm=False):
    argv = [bin_path("sluice-worker"), "--brokers", broker.bootstrap,
            "--scheduler", endpoint, "--plugin", plugin_path(plugin)]
    if drain:
        argv.append("--drain")
    argv += run.xprops() + [str(a) for a in args]
    return Child(name, argv, d, env=env, track_hwm=track_hwm)


def sched_times(sched):
    """(first 'assigned' time, 'drain complete' time, its key=values)
    from a scheduler's log."""
    text = sched.log_text()
    assigned = log_events(text, "assigned")
    done = log_events(text, "drain complete")
    if not assigned or not done:
        raise BenchError("%s logged no assignment or no drain summary; "
                         "see %s" % (sched.name, sched.log_path))
    return assigned[0][0], done[-1][0], done[-1][1]


def wait_started(ws, timeout=120):
    """Wait until every worker has logged 'worker started' (its plugin
    loaded, its consumers made, connecting to the scheduler)."""
    deadline = time.monotonic() + timeout
    for w in ws:
        while not log_events(w.log_text(), "worker started"):
            if w.poll() or time.monotonic() > deadline:
                raise BenchError("%s did not start; see %s"
                                 % (w.name, w.log_path))
            time.sleep(0.02)


def sluice_drain(run, broker, topic, workers, plugin="noop", sched_args=(),
                 worker_args=(), worker_env=None, timeout=600, tag="sluice",
                 workers_first=False):
    """Drain topic with one scheduler (--drain) and `workers` workers,
    all started at once, or with workers_first the workers first, the
    scheduler once every one of them has started (a fleet already
    running, as the peers' JVM threads are before their first record).
    Returns records, wall seconds (scheduler spawn to exit 0), steady
    seconds (first assignment to drain complete, from its log), CPU
    seconds (scheduler + workers, from rusage), workers' peak RSS
    (VmHWM)."""
    d = run.dir(tag)
    group = run.unique("g")
    cpu0 = broker.cpu()
    port = free_port()
    endpoint = "tcp://127.0.0.1:%d" % port
    ws = []
    if workers_first:
        ws = [start_worker(run, broker, d, endpoint, plugin,
                           "worker-%d" % i, worker_args, env=worker_env,
                           track_hwm=True)
              for i in range(workers)]
        wait_started(ws)
    sched = start_scheduler(run, broker, d, topic, group, sched_args,
                            port=port)
    if not workers_first:
        ws = [start_worker(run, broker, d, sched.endpoint, plugin,
                           "worker-%d" % i, worker_args, env=worker_env,
                           track_hwm=True)
              for i in range(workers)]
    rc = sched.wait(timeout, watch=ws)
    if rc != 0:
        raise BenchError("scheduler exited %d; see %s" % (rc, sched.log_path))
    # A --drain worker exits once the scheduler's BYE `finished` reaches
    # it. The scheduler closes its ROUTER without linger right after
    # sending it, so the BYE is sometimes lost and the worker would run
    # on: give it 3 s, then stop it (SIGTERM) and count it.
    no_bye = 0
    deadline = time.monotonic() + 3.0
    for w in ws:
        while not w.poll() and time.monotonic() < deadline:
            time.sleep(0.01)
        if not w.poll():
            no_bye += 1
            w.stop(30)
        elif w.rc != 0:
            raise BenchError("%s exited %d; see %s"
                             % (w.name, w.rc, w.log_path))
    cpu1 = broker.cpu()
    t_assigned, t_done, summ = sched_times(sched)
    records = int(summ.get("records", 0))
    first_job_ms = []
    for w in ws:
        done = log_events(w.log_text(), "job done")
        if done:
            first_job_ms.append(int(done[0][1].get("ms", 0)))
    return {
        "records": records,
        "wall_s": sched.t_exit - sched.t_spawn,
        "steady_s": max(t_done - t_assigned, 1e-3),
        "join_s": t_assigned - sched.wall_spawn,
        "cpu_s": sched.cpu + sum(w.cpu for w in ws),
        "sched_cpu_s": sched.cpu,
        "worker_cpu_s": sum(w.cpu for w in ws),
        "broker_cpu_s": (cpu1 - cpu0) if cpu0 is not None and cpu1 else None,
        "worker_hwm_kb": max((w.hwm_kb or 0) for w in ws) or None,
        "worker_anon_kb": max((w.anon_kb or 0) for w in ws) or None,
        "worker_file_kb": max((w.file_kb or 0) for w in ws) or None,
        "jobs": int(summ.get("jobs", 0)),
        "workers_without_bye": no_bye,
        "first_job_ms_max": max(first_job_ms) if first_job_ms else None,
        "workers": ws, "sched": sched, "dir": d,
    }


def split_ranges(broker, topic, partitions, n):
    """n lists of "P:START:END" covering partitions 0..partitions-1:
    whole partitions if n divides them, else each partition's offsets
    cut in n contiguous pieces."""
    if partitions % n == 0:
        return [["%d:begin:end" % p for p in range(i, partitions, n)]
                for i in range(n)]
    out = [[] for _ in range(n)]
    for p in range(partitions):
        lo, hi = broker.watermarks(topic, p)
        step = (hi - lo + n - 1) // n
        for i in range(n):
            s, e = lo + i * step, min(hi, lo + (i + 1) * step)
            if s < e:
                out[i].append("%d:%d:%d" % (p, s, e))
    return out


def consumers_drain(run, broker, topic, partitions, n, stats_ms=0,
                    timeout=600, tag="consumers"):
    """Baseline (b): n bench_consume processes on disjoint ranges, started
    at once. Returns records, bytes, wall (first spawn to last exit),
    steady (first assign to last record), CPU (rusage sum), peak RSS
    (VmHWM) and,
    with stats_ms, librdkafka's fetch totals summed."""
    d = run.dir(tag)
    cpu0 = broker.cpu()
    kids = []
    for i, ranges in enumerate(split_ranges(broker, topic, partitions, n)):
        argv = [bench_bin("bench_consume"), "--brokers", broker.bootstrap,
                "--topic", topic]
        for r in ranges:
            argv += ["--range", r]
        if stats_ms:
            argv += ["--stats-ms", stats_ms]
        kids.append(Child("consume-%d" % i, argv + run.xprops(), d,
                          track_hwm=True))
    for k in kids:
        if k.wait(timeout) != 0:
            raise BenchError("%s exited %d; see %s"
                             % (k.name, k.rc, k.log_path))
    cpu1 = broker.cpu()
    res = [k.result() for k in kids]
    out = {
        "records": sum(r["records"] for r in res),
        "bytes": sum(r["bytes"] for r in res),
        "wall_s": max(k.t_exit for k in kids) - min(k.t_spawn for k in kids),
        "steady_s": max(max(r["t_end"] for r in res) -
                        min(r["t_assign"] for r in res), 1e-3),
        "cpu_s": sum(k.cpu for k in kids),
        "broker_cpu_s": (cpu1 - cpu0) if cpu0 is not None and cpu1 else None,
        "hwm_kb": max((k.hwm_kb or 0) for k in kids) or None,
        "self_reported_hwm_kb": max(r.get("vm_hwm_kb", 0) for r in res),
        "dir": d,
    }
    for key in ("rxmsgs", "rx_bytes", "rxmsg_bytes", "rx_ver_drops"):
        out[key] = sum(r.get(key, 0) for r in res)
    return out


# -------------------------------------------------------------- report --

def fmt_value(v, kind="num"):
    """One number for a report table: rate (12k), ratio (0.95), int or
    3 significant digits; "-" for None."""
    if v is None:
        return "-"
    if kind == "rate":
        return "%.0fk" % (v / 1000.0) if v >= 10000 else "%.0f" % v
    if kind == "ratio":
        return "%.2f" % v
    if kind == "int":
        return "%d" % v
    return "%.3g" % v if abs(v) < 1000 else "%.0f" % v


def fmt_series(series, kind="num"):
    """median [min-max] of a series dict (its "summary"), "-" if none."""
    if not series or not series.get("summary"):
        return "-"
    s = series["summary"]
    if s["n"] == 1:
        return fmt_value(s["median"], kind)
    return "%s [%s-%s]" % (fmt_value(s["median"], kind),
                           fmt_value(s["min"], kind),
                           fmt_value(s["max"], kind))
