#!/usr/bin/python3
"""peers - sluice side by side with Kafka share groups and Confluent's
Parallel Consumer on one real broker (issue 20). See bench/README.md.

    python3 bench/peers.py [--quick] [--figures scaling,drain,poison,tail]
                           [--rounds N] [--out DIR] [--keep]

Figures (ids p1-p5; each alternates the systems round by round):
  p0 calibration: the Java work function vs the C sleep plugin's sleep
  p1 scaling: 1 and 4 partitions, 1 ms per record, widths 1-32
  p2 drain: 10 M no-op records on 4 partitions (quick: 200 k)
  p3 poison: one record that always fails in 1 M (quick: 100 k)
  p4 tail latency at 1,000 records/s, end point = the output readable
  p5 memory per worker/consumer (measured during p1's 4-partition runs)

The Java drivers (bench/peers/, sluice.bench.Peers) are built by
bench/peers/build.sh into ~/.cache/sluice-bench-peers/<hash>. Results go
to <out>/results.json under "peers" and the tables to results.md.
"""

import argparse
import ctypes
import datetime
import json
import os
import signal
import subprocess
import sys
import threading
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import benchlib  # noqa: E402
import keys  # noqa: E402
from benchlib import (BenchError, Child, Run, bench_bin, consumers_drain,  # noqa: E402
                      note, per_million, percentile, sluice_drain,
                      start_scheduler, start_worker, summary)

HERE = os.path.dirname(os.path.abspath(__file__))
BUILD_SH = os.path.join(HERE, "peers", "build.sh")
TAIL = os.path.join(HERE, "tail.py")

# The test broker gets share groups' heartbeat at 1 s (default 5 s, and a
# 5 s minimum): a share consumer's first assignment otherwise waits a
# heartbeat, as a consumer group's first rebalance would wait
# group.initial.rebalance.delay.ms, which the bench broker sets to 0.
# share.version is 1 by default on a freshly formatted 4.3 cluster; the
# run checks it and upgrades it if not.
BROKER_PROPS = ["group.share.heartbeat.interval.ms=1000",
                "group.share.min.heartbeat.interval.ms=500"]

JVM_OPTS = ["-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
            "-XX:-UsePerfData"]

SIZES = {
    "quick": {
        "p1": {"partitions": [1, 4], "widths": [1, 4], "per_width": 1000,
               "us": 1000, "job": 100, "window": 64},
        "p2": {"partitions": 4, "records": 50000, "width": 4, "job": 10000},
        "p3": {"partitions": 4, "records": 25000, "width": 4, "job": 1000,
               "after_ms": 5000, "retry_ms": 1000},
        "p4": {"seconds": 6, "rate": 1000, "partitions": 4, "width": 2},
        "k1": {"widths": [1, 4], "one_key_widths": [4], "per_width": 500,
               "us": 1000, "job": 20, "window": 128,
               "dists": ["uniform", "one key"]},
    },
    "full": {
        "p1": {"partitions": [1, 4], "widths": [1, 2, 4, 8, 16, 32],
               "per_width": 3000, "us": 1000, "job": 100, "window": 64},
        # Parallel Consumer drains about 20k no-op records/s here: 10 M
        # would take 8 minutes per mode and round; it processes the first
        # pc_records of them (its rate and CPU/M are over those).
        "p2": {"partitions": 4, "records": 2500000, "width": 4,
               "job": 10000, "pc_records": 1000000},
        "p3": {"partitions": 4, "records": 250000, "width": 4, "job": 1000,
               "after_ms": 5000, "retry_ms": 1000},
        "p4": {"seconds": 15, "rate": 1000, "partitions": 4, "width": 2},
        "k1": {"widths": [1, 2, 4, 8, 16, 32], "one_key_widths": [1, 16],
               "per_width": 2000, "us": 1000, "job": 20, "window": 128,
               "dists": ["uniform", "zipf", "one key"]},
    },
}

PEERS = ["share", "pc-unordered", "pc-key"]


# ---------------------------------------------------------------- java --

_CP = None


def classpath():
    """Build (once per version, cached) and return the peers' classpath."""
    global _CP
    if _CP is None:
        p = subprocess.run([BUILD_SH], stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=1800)
        if p.returncode != 0:
            raise BenchError("bench/peers/build.sh failed: %s"
                             % p.stderr.decode()[-2000:])
        _CP = p.stdout.decode().strip().splitlines()[-1]
    return _CP


def java(args):
    return ["java"] + JVM_OPTS + ["-cp", classpath(), "sluice.bench.Peers"] \
        + [str(a) for a in args]


def java_produce(run, b, topic, partitions, records, poison_at=-1,
                 value_bytes=32):
    """Keyed records (key k<seq % 1024>, so Parallel Consumer's KEY mode
    has keys to spread), the same data for every system."""
    d = run.dir("produce-" + topic)
    c = Child("produce", java(["produce", "--brokers", b.bootstrap,
                               "--topic", topic, "--partitions", partitions,
                               "--records", records, "--value-bytes",
                               value_bytes, "--poison-at", poison_at,
                               "--poison", "POISON"]), d)
    if c.wait(1800) != 0:
        raise BenchError("Peers produce failed; see %s" % c.log_path)
    r = c.result()
    note("produced %d keyed records to %s in %.1fs (%.0f/s)"
         % (r["records"], topic, r["seconds"], r["rate"]))
    return r


class TreeRss:
    """Peak VmRSS of each process of a tree (a supervised sluice-worker
    is a parent and its worker child), sampled every 50 ms; and the peak
    of the trees' summed PSS (proportional set size: a page shared by n
    processes counts 1/n in each, so the sum counts the shared library
    pages once, as one JVM's RSS does), sampled every 200 ms."""

    def __init__(self, children):
        self.roots = [c.pid for c in children]
        self.peak = {}   # pid -> (kb, depth)
        self.pss_peak = 0
        self.stop = False
        self.t = threading.Thread(target=self._loop, daemon=True)
        self.t.start()

    @staticmethod
    def _kids(pid):
        out = []
        try:
            for tid in os.listdir("/proc/%d/task" % pid):
                with open("/proc/%d/task/%s/children" % (pid, tid)) as f:
                    out += [int(x) for x in f.read().split()]
        except OSError:
            pass
        return out

    @staticmethod
    def _field_kb(path, key):
        """The kB value of the line `key` of a /proc file, or None."""
        try:
            with open(path) as f:
                for line in f:
                    if line.startswith(key):
                        return int(line.split()[1])
        except OSError:
            pass
        return None

    def _rss(self, pid):
        return self._field_kb("/proc/%d/status" % pid, "VmRSS:")

    def _pss(self, pid):
        return self._field_kb("/proc/%d/smaps_rollup" % pid, "Pss:") or 0

    def _loop(self):
        n = 0
        while not self.stop:
            pss = 0
            for root in self.roots:
                todo = [(root, 0)]
                while todo:
                    pid, depth = todo.pop()
                    kb = self._rss(pid)
                    if kb is not None and kb > self.peak.get(pid, (0, 0))[0]:
                        self.peak[pid] = (kb, depth)
                    if n % 4 == 0:
                        pss += self._pss(pid)
                    todo += [(k, depth + 1) for k in self._kids(pid)]
            self.pss_peak = max(self.pss_peak, pss)
            n += 1
            time.sleep(0.05)

    def done(self):
        self.stop = True
        self.t.join(1)
        roots = [self.peak.get(r, (0, 0))[0] for r in self.roots]
        kids = [kb for pid, (kb, depth) in self.peak.items() if depth > 0]
        return {"root_max_kb": max(roots) if roots else None,
                "child_max_kb": max(kids) if kids else None,
                "root_sum_kb": sum(roots),
                "child_sum_kb": sum(kids) if kids else 0,
                "pss_sum_kb": self.pss_peak or None}


def peer_run(run, b, system, topic, width, us, expect, extra=(),
             timeout=600, tag=None, wait=True):
    """One Java peer: share (one JVM, `width` threads) or pc-<order>
    (one JVM, maxConcurrency `width`)."""
    d = run.dir(tag or system)
    group = run.unique("g" + system)
    if system == "share":
        args = ["share"]
    else:
        args = ["pc", "--order", system.split("-")[1].upper()]
    args += ["--brokers", b.bootstrap, "--topic", topic, "--group", group,
             "--threads", width, "--us", us, "--expect", expect,
             "--timeout-s", timeout, "--fetch-wait-ms", run.fetch_wait_ms]
    args += list(extra)
    cpu0 = b.cpu()
    c = Child(system, java(args), d, track_hwm=True)
    if not wait:
        return c
    if c.wait(timeout + 60) != 0:
        raise BenchError("%s exited %s; see %s" % (system, c.rc, c.log_path))
    cpu1 = b.cpu()
    r = c.result()
    r["wall_s"] = (r["t_done"] or r["t_last"]) - c.wall_spawn
    r["steady_s"] = max((r["t_done"] or r["t_last"]) - r["t_first"], 1e-3)
    r["join_s"] = r["t_first"] - c.wall_spawn
    r["cpu_s"] = c.cpu
    r["broker_cpu_s"] = (cpu1 - cpu0) if cpu0 is not None and cpu1 else None
    r["hwm_kb"] = max(c.hwm_kb or 0, r.get("vm_hwm_kb") or 0) or None
    r["child"] = c
    return r


def _row(config, **series):
    row = {"config": config}
    for name, vals in series.items():
        row[name] = {"values": vals, "summary": summary(vals)}
    return row


def _ratios(a, b):
    return [x / y if x is not None and y else None for x, y in zip(a, b)]


def _group_member(run, b, topic, us):
    """One bench_group member on a 1-partition topic (figure 4's)."""
    d = run.dir("group")
    c = Child("group", [bench_bin("bench_group"), "--brokers", b.bootstrap,
                        "--topic", topic, "--group", run.unique("gb"),
                        "--us-per-record", us] + run.xprops(), d,
              track_hwm=True)
    if c.wait(600) != 0:
        raise BenchError("bench_group failed; see %s" % c.log_path)
    res = c.result()
    return {"records": res["records"],
            "steady_s": res["t_end"] - res["t_first"],
            "wall_s": c.t_exit - c.t_spawn, "cpu_s": c.cpu,
            "hwm_kb": max(c.hwm_kb or 0, res.get("vm_hwm_kb") or 0) or None}


# ----------------------------------------------------------- p0: calib --

def calibration(run):
    """The Java work function vs the C sleep plugin's own sleep: 1,000
    records at 1 ms, back to back on one thread; C as the plugin does it
    (one clock_nanosleep of n x us per batch of 500, to an absolute
    deadline), here through ctypes."""
    d = run.dir("calibrate")
    rows = []
    for work in ("sleep", "busy"):
        vals = []
        for _ in range(run.rounds):
            c = Child("cal-" + work, java(["calibrate", "--us", 1000,
                                           "--records", 1000, "--work",
                                           work]), d)
            c.wait(120)
            vals.append(c.result()["us_per_record"])
        rows.append(_row({"system": "java " + work, "records": 1000,
                          "us": 1000}, us_per_record=vals))

    class timespec(ctypes.Structure):
        _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]
    libc = ctypes.CDLL(None)
    vals = []
    for _ in range(run.rounds):
        t0 = time.monotonic()
        for _batch in range(2):  # 2 batches of 500 records
            ts = timespec()
            libc.clock_gettime(1, ctypes.byref(ts))
            total = ts.tv_nsec + 500 * 1000 * 1000
            ts.tv_sec += total // 1000000000
            ts.tv_nsec = total % 1000000000
            libc.clock_nanosleep(1, 1, ctypes.byref(ts), None)
        vals.append((time.monotonic() - t0) * 1e6 / 1000)
    rows.append(_row({"system": "C sleep plugin (batches of 500)",
                      "records": 1000, "us": 1000}, us_per_record=vals))
    return {"figure": "p0", "title": "calibration: wall time per record of "
            "the per-record work at 1,000 us", "target": "Java = C within "
            "1%", "rows": rows,
            "notes": ["Java: Peers calibrate, 1,000 calls of the work "
                      "function on one thread (sleep: LockSupport.parkNanos "
                      "with the timer's overshoot carried as credit into "
                      "the next record; busy: a spin on System.nanoTime)",
                      "C: the sleep plugin's call, clock_nanosleep to an "
                      "absolute CLOCK_MONOTONIC deadline of n x us per "
                      "batch (--batch-size 500), called through ctypes"]}


# --------------------------------------------------------- p1: scaling --

def scaling(run, sz, mem_rows, fig_id="p1", lanes=False, widths=None):
    """lanes: also sluice as ONE worker process with --concurrency width
    (jobs on width threads, each with its own consumer), the shape of one
    JVM with width threads (figure p1c)."""
    us, per, job, window = sz["us"], sz["per_width"], sz["job"], \
        sz["window"]
    widths = widths or sz["widths"]
    topics = {(p, w): run.unique("%s-p%d-w%d" % (fig_id, p, w))
              for p in sz["partitions"] for w in widths}
    t_member = run.unique("p1-member")
    res = {}
    member = []
    with run.broker.topics(dict({t: p for (p, w), t in topics.items()},
                                **{t_member: 1})) as b:
        for (p, w), t in topics.items():
            java_produce(run, b, t, p, per * w // p)
        java_produce(run, b, t_member, 1, per * 2)
        for i in range(run.rounds):
            note("p1: round %d/%d: one group member" % (i + 1, run.rounds))
            member.append(_group_member(run, b, t_member, us))
            for (p, w), t in topics.items():
                recs = per * w // p * p
                note("p1: round %d/%d: %d partitions, width %d: sluice, "
                     "share, pc-unordered, pc-key"
                     % (i + 1, run.rounds, p, w))
                out = {}
                sl = sluice_drain_tracked(
                    run, b, t, w, "sleep",
                    sched_args=["--job-records", job, "--window", window],
                    worker_args=["--plugin-opt", "us_per_record=%d" % us],
                    workers_first=True)
                out["sluice"] = sl
                if lanes:
                    out["sluice-lanes"] = sluice_drain_tracked(
                        run, b, t, 1, "sleep",
                        sched_args=["--job-records", job, "--window",
                                    window],
                        worker_args=["--plugin-opt", "us_per_record=%d" % us,
                                     "--concurrency", w,
                                     "--credits", 2 * w],
                        workers_first=True)
                for system in PEERS:
                    extra = []
                    if system == "share":
                        # strict: at most max.poll.records per poll (the
                        # default batch_optimized acquires whole producer
                        # batches, so one consumer takes hundreds of
                        # records and the others wait), 100 = sluice's job
                        extra = ["--acquire-mode", "record_limit",
                                 "--max-poll", job]
                    out[system] = peer_run(run, b, system, t, w, us, recs,
                                           extra=extra)
                res.setdefault((p, w), []).append(out)
    rows = []
    m_rate = [x["records"] / x["steady_s"] for x in member]
    m_wall = [x["records"] / x["wall_s"] for x in member]
    for (p, w), outs in sorted(res.items()):
        recs = per * w // p * p
        series = {}
        series["sluice_rps_from_assigned"] = [
            recs / o["sluice"]["steady_from_assigned_s"] for o in outs]
        for s in ["sluice"] + (["sluice-lanes"] if lanes else []) + PEERS:
            series["%s_rps" % s] = [recs / o[s]["steady_s"] for o in outs]
            series["%s_rps_wall" % s] = [recs / o[s]["wall_s"]
                                         for o in outs]
            series["%s_cpu_s_per_M" % s] = [per_million(o[s]["cpu_s"], recs)
                                            for o in outs]
        k = min(w, p)
        # How long after the partitions were assigned the last worker
        # said HELLO. The workers are started (and waited for) before the
        # scheduler, as the peers' JVM threads are before their first
        # record: 32 worker processes take seconds to start on 2 cores,
        # which was inside sluice's measured window before.
        series["sluice_last_join_s"] = [_last_join(o["sluice"])
                                        for o in outs]
        series["group_rps"] = [k * x for x in m_rate[:len(outs)]]
        series["group_rps_wall"] = [k * x for x in m_wall[:len(outs)]]
        best = [max(series["%s_rps" % s][i] for s in PEERS +
                    ["group"]) for i in range(len(outs))]
        best_name = [max(PEERS + ["group"], key=lambda s:
                         series["%s_rps" % s][i]) for i in range(len(outs))]
        series["ratio_best"] = _ratios(series["sluice_rps"], best)
        if lanes:
            series["ratio_lanes_best"] = _ratios(series["sluice-lanes_rps"],
                                                 best)
            series["lanes_worker_kb"] = [o["sluice-lanes"]["tree"].get(
                "child_max_kb") for o in outs]
            series["lanes_total_kb"] = [
                (o["sluice-lanes"]["tree"].get("child_sum_kb") or 0) +
                (o["sluice-lanes"]["tree"].get("root_sum_kb") or 0)
                for o in outs]
        for s in PEERS + ["group"]:
            series["ratio_%s" % s] = _ratios(series["sluice_rps"],
                                             series["%s_rps" % s])
        row = _row({"partitions": p, "width": w, "records": recs,
                    "us_per_record": us}, **series)
        row["best_peer"] = best_name
        rows.append(row)
        if p == max(sz["partitions"]) and mem_rows is not None:
            mem_rows.append(_mem_row(p, w, outs))
    if lanes:
        return {"figure": fig_id, "title": "scaling with sluice as one "
                "worker process of N lanes (--concurrency N) vs N worker "
                "processes vs the peers, 1 ms per record",
                "target": "-", "rows": rows,
                "notes": ["as p1; sluice-lanes: one sluice-worker "
                          "--concurrency N --credits 2N (jobs on N threads, "
                          "each with its own consumer), the shape of one "
                          "JVM with N threads; memory = the worker and its "
                          "supervisor, peak VmRSS"]}
    return {"figure": "p1", "title": "scaling: records/s at 1 ms per "
            "record, sluice vs share group vs Parallel Consumer vs plain "
            "consumer group", "target": "sluice >= 1.0 x the best peer",
            "rows": rows,
            "notes": ["%d records per unit of width (width x %d: a run of "
                      "about 3 s at ideal scaling), keyed (1,024 keys) by "
                      "the Java producer; rates are steady state: first "
                      "record processed to last (sluice: the first 'job "
                      "begin' of any worker to 'drain complete'; "
                      "sluice_rps_from_assigned counts from the "
                      "partitions' assignment, as before 2026-12-07; wall "
                      "rates include group join and JVM start)"
                      % (per, per),
                      "sluice: scheduler --job-records %d --window %d, "
                      "width = sluice-worker processes, sleep plugin "
                      "us_per_record=%d; the workers are started before "
                      "the scheduler and waited for (each logged 'worker "
                      "started'), as the peers' JVM is" % (job, window, us),
                      "share: one JVM, width = KafkaShareConsumer threads "
                      "(one consumer each), explicit acknowledgement, "
                      "share.acquire.mode=record_limit, max.poll.records=%d"
                      % job,
                      "pc-*: one JVM, one KafkaConsumer, Parallel Consumer "
                      "0.5.3.3 maxConcurrency = width, "
                      "PERIODIC_CONSUMER_ASYNCHRONOUS commits",
                      "group: at most one member per partition does work, "
                      "so its rate = min(width, partitions) x one "
                      "bench_group member's rate on 1 partition measured "
                      "in the same round (an upper bound: perfect "
                      "parallelism over partitions)",
                      "Java work: sleep of %d us per record with the timer "
                      "overshoot credited (see p0)" % us]}


def _last_join(sl):
    """Seconds from the first 'assigned' to the last 'worker joined'."""
    text = sl["sched"].log_text()
    joined = benchlib.log_events(text, "worker joined")
    assigned = benchlib.log_events(text, "assigned")
    if not joined or not assigned:
        return None
    return max(0.0, joined[-1][0] - assigned[0][0])


def sluice_drain_tracked(run, b, topic, workers, plugin, **kw):
    """sluice_drain with the workers' process trees' RSS sampled."""
    holder = {}
    orig = benchlib.start_worker

    def tracked(*a, **k):
        c = orig(*a, **k)
        holder.setdefault("ws", []).append(c)
        return c
    benchlib.start_worker = tracked
    sampler = []

    def start_sampler():
        # The workers are spawned right after the scheduler: poll briefly.
        deadline = time.monotonic() + 10
        while len(holder.get("ws", [])) < workers and \
                time.monotonic() < deadline:
            time.sleep(0.005)
        sampler.append(TreeRss(holder.get("ws", [])))
    th = threading.Thread(target=start_sampler, daemon=True)
    th.start()
    try:
        r = sluice_drain(run, b, topic, workers, plugin, **kw)
    finally:
        benchlib.start_worker = orig
    th.join(10)
    r["tree"] = sampler[0].done() if sampler else {}
    # The peers' window runs from their first record processed; sluice's
    # from_assigned one starts at the partitions' assignment, before the
    # workers' HELLOs and first fetches. The same window for all: from
    # the first job begun (its first record) to the drain's end.
    begun = [e[0] for w in r["workers"]
             for e in benchlib.log_events(w.log_text(), "job begin")[:1]]
    _, t_done, _ = benchlib.sched_times(r["sched"])
    r["steady_from_assigned_s"] = r["steady_s"]
    if begun:
        r["steady_s"] = max(t_done - min(begun), 1e-3)
    return r


def _mem_row(p, w, outs):
    def med(vals):
        s = summary([v for v in vals if v])
        return s and s["median"]
    sl_child = [o["sluice"]["tree"].get("child_max_kb") for o in outs]
    sl_parent = [o["sluice"]["tree"].get("root_max_kb") for o in outs]
    sl_total = [(o["sluice"]["tree"].get("child_sum_kb") or 0) +
                (o["sluice"]["tree"].get("root_sum_kb") or 0)
                for o in outs]
    row = {"config": {"partitions": p, "width": w},
           "sluice_worker_kb": med(sl_child),
           "sluice_supervisor_kb": med(sl_parent),
           "sluice_total_kb": med(sl_total),
           "sluice_pss_kb": med([o["sluice"]["tree"].get("pss_sum_kb")
                                 for o in outs])}
    for s in PEERS:
        jvm = med([o[s]["hwm_kb"] for o in outs])
        row["%s_jvm_kb" % s] = jvm
        row["%s_per_thread_kb" % s] = jvm / w if jvm else None
        row["%s_jvm_threads" % s] = med([o[s].get("jvm_threads")
                                         for o in outs])
    return row


# ------------------------------------------------ p1b: threads vs JVMs --

def jvms(run, sz):
    """Share consumers: N threads in one JVM vs N JVMs of one thread, on
    the scaling figure's 1-partition data (1 ms per record)."""
    us, per, job = sz["us"], sz["per_width"], sz["job"]
    widths = [w for w in sz["widths"] if w <= 8]
    topics = {w: run.unique("p1b-w%d" % w) for w in widths}
    extra = ["--acquire-mode", "record_limit", "--max-poll", job]
    res = {}
    with run.broker.topics({t: 1 for t in topics.values()}) as b:
        for w, t in topics.items():
            java_produce(run, b, t, 1, per * w)
        for i in range(run.rounds):
            for w, t in topics.items():
                recs = per * w
                note("p1b: round %d/%d: width %d: one JVM of %d threads, "
                     "then %d JVMs" % (i + 1, run.rounds, w, w, w))
                one = peer_run(run, b, "share", t, w, us, recs, extra=extra)
                d = run.dir("share-jvms")
                group = run.unique("gjvms")
                kids = [Child("share-%d" % k, java(
                    ["share", "--brokers", b.bootstrap, "--topic", t,
                     "--group", group, "--threads", 1, "--us", us,
                     "--expect", 0, "--idle-ms", 3000, "--timeout-s", 600,
                     "--fetch-wait-ms", run.fetch_wait_ms] + extra), d,
                    track_hwm=True) for k in range(w)]
                for k in kids:
                    if k.wait(700) != 0:
                        raise BenchError("%s failed; see %s"
                                         % (k.name, k.log_path))
                rs = [k.result() for k in kids]
                got = sum(x["records"] for x in rs)
                busy = [x for x in rs if x["records"]]
                span = max(x["t_last"] for x in busy) - \
                    min(x["t_first"] for x in busy)
                res.setdefault(w, []).append({
                    "one_rps": recs / one["steady_s"],
                    "one_cpu": per_million(one["cpu_s"], recs),
                    "one_kb": one["hwm_kb"],
                    "many_rps": got / span if span > 0 else None,
                    "many_records": got,
                    "many_cpu": per_million(sum(k.cpu for k in kids), got),
                    "many_kb": sum((k.hwm_kb or 0) for k in kids)})
    rows = []
    for w, xs in sorted(res.items()):
        rows.append(_row({"width": w, "records": per * w},
                         **{k: [x[k] for x in xs] for k in xs[0]},
                         ratio=_ratios([x["many_rps"] for x in xs],
                                       [x["one_rps"] for x in xs])))
    return {"figure": "p1b", "title": "share consumers: N threads in one "
            "JVM vs N JVMs (1 partition, 1 ms per record)",
            "target": "-", "rows": rows,
            "notes": ["same data and settings as p1 (record_limit, "
                      "max.poll.records %d); N JVMs: each exits 3 s after "
                      "its last record, rate = records / (last record - "
                      "first record over all JVMs); memory = sum of the "
                      "JVMs' peak RSS" % job]}


# ----------------------------------------------------------- p2: drain --

def drain(run, sz):
    p, r, w, job = sz["partitions"], sz["records"], sz["width"], sz["job"]
    topic = run.unique("p2")
    recs = p * r
    res = []
    with run.broker.topics({topic: p}) as b:
        java_produce(run, b, topic, p, r)
        for i in range(run.rounds):
            note("p2: round %d/%d: %d no-op records: plain consumers, "
                 "sluice, share, pc-unordered, pc-key"
                 % (i + 1, run.rounds, recs))
            out = {}
            out["plain"] = consumers_drain(run, b, topic, p, w,
                                           timeout=3600)
            out["sluice"] = sluice_drain(run, b, topic, w, "noop",
                                         sched_args=["--job-records", job],
                                         timeout=3600)
            for s in PEERS:
                n = recs if s == "share" else sz.get("pc_records", recs)
                out[s] = peer_run(run, b, s, topic, w, 0, n, timeout=3600)
                out[s]["n"] = n
            for s in ("sluice", "plain"):
                out[s]["n"] = recs
            res.append(out)
    systems = ["sluice", "plain"] + PEERS
    series = {}
    for s in systems:
        series["%s_wall_s" % s] = [o[s]["wall_s"] for o in res]
        series["%s_records" % s] = [o[s]["n"] for o in res]
        series["%s_rps_wall" % s] = [o[s]["n"] / o[s]["wall_s"]
                                     for o in res]
        series["%s_rps_steady" % s] = [o[s]["n"] / o[s]["steady_s"]
                                       for o in res]
        series["%s_cpu_s_per_M" % s] = [per_million(o[s]["cpu_s"],
                                                    o[s]["n"]) for o in res]
        series["%s_broker_cpu_s_per_M" % s] = [
            per_million(o[s]["broker_cpu_s"], o[s]["n"]) for o in res]
    for s in ["plain"] + PEERS:
        series["ratio_wall_%s" % s] = _ratios(series["sluice_rps_wall"],
                                              series["%s_rps_wall" % s])
        series["cpu_ratio_%s" % s] = _ratios(series["sluice_cpu_s_per_M"],
                                             series["%s_cpu_s_per_M" % s])
        series["ratio_steady_%s" % s] = _ratios(
            series["sluice_rps_steady"], series["%s_rps_steady" % s])
    best = [max(series["%s_rps_wall" % s][i] for s in PEERS)
            for i in range(len(res))]
    series["ratio_best_peer_wall"] = _ratios(series["sluice_rps_wall"], best)
    row = _row({"partitions": p, "records": recs, "width": w,
                "job_records": job}, **series)
    return {"figure": "p2", "title": "drain: %d no-op records on %d "
            "partitions, width %d" % (recs, p, w),
            "target": "sluice rate >= 1.0 x the best peer (wall)",
            "rows": [row],
            "notes": ["wall = process start to the last record processed "
                      "(peers: JVM spawn to the %d-th record; sluice: "
                      "scheduler --drain spawn to exit; plain: first "
                      "spawn to last exit)" % recs,
                      "plain = %d bench_consume processes on disjoint "
                      "partitions (what a consumer group's members would "
                      "read, without the group join)" % w,
                      "sluice: %d workers, noop plugin, --job-records %d"
                      % (w, job),
                      "share: one JVM, %d threads, defaults "
                      "(batch_optimized, max.poll.records 500), explicit "
                      "acknowledgement; pc: one JVM, maxConcurrency %d"
                      % (w, w),
                      "steady = first record to last (sluice: first "
                      "'assigned' to 'drain complete'; plain: first "
                      "assign to last record): JVM start and group joins "
                      "excluded",
                      "Parallel Consumer processes the first %d records "
                      "only (its rates and CPU/M are over those): at about "
                      "20k records/s the whole topic would take minutes "
                      "per mode and round" % sz.get("pc_records", recs),
                      "CPU = user+system of every process of the system "
                      "(rusage from wait4; JVMs include JIT and GC "
                      "threads); broker CPU from /proc during the run"]}


# ---------------------------------------------------------- p3: poison --

def _count_topic(bootstrap, topic, timeout=20):
    """Records in a topic and their headers (the DLQ)."""
    from confluent_kafka import Consumer, TopicPartition
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench-dlq",
                  "enable.auto.commit": False,
                  "auto.offset.reset": "earliest",
                  "enable.partition.eof": True})
    try:
        md = c.list_topics(topic, timeout=10)
        if topic not in md.topics or md.topics[topic].error:
            return []
        tps = [TopicPartition(topic, p, 0) for p in md.topics[topic]
               .partitions]
        c.assign(tps)
        out, eof = [], set()
        deadline = time.monotonic() + timeout
        while len(eof) < len(tps) and time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is None:
                continue
            if m.error():
                eof.add(m.partition())
                continue
            out.append({k: (v.decode(errors="replace") if v else v)
                        for k, v in (m.headers() or [])})
        return out
    finally:
        c.close()


def _committed(bootstrap, group, topic, parts):
    from confluent_kafka import Consumer, TopicPartition
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        return [tp.offset for tp in c.committed(
            [TopicPartition(topic, p) for p in range(parts)], timeout=10)]
    finally:
        c.close()


def poison(run, sz):
    p, r, w, job = sz["partitions"], sz["records"], sz["width"], sz["job"]
    recs = p * r
    poison_at = recs // 2 + 1
    rows = []
    names = [(run.unique("p3"), None) for _ in range(run.rounds)]
    names = [(t, t + ".dlq") for t, _ in names]
    with run.broker.topics(dict([(t, p) for t, _ in names] +
                                [(q, 1) for _, q in names])) as b:
        for i in range(run.rounds):
            topic, dlq = names[i]
            java_produce(run, b, topic, p, r, poison_at=poison_at)
            note("p3: round %d/%d: %d records, 1 poison: sluice, share, "
                 "pc-unordered" % (i + 1, run.rounds, recs))
            out = {}
            sl = sluice_drain(run, b, topic, w, "fault",
                              sched_args=["--job-records", job,
                                          "--dlq-topic", dlq],
                              worker_args=["--plugin-opt",
                                           "crash_on=POISON"],
                              timeout=1800)
            crashes = sum(w_.log_text().count("crash_on matched")
                          for w_ in sl["workers"])
            d = _count_topic(b.bootstrap, dlq)
            out["sluice"] = {
                "rest_s": sl["wall_s"], "steady_s": sl["steady_s"],
                "attempts": crashes,
                "where": "DLQ %s: %d record(s)%s" % (
                    "topic", len(d), (", sluice.attempts=%s, "
                                      "sluice.reason=%s" % (
                                          d[0].get("sluice.attempts"),
                                          d[0].get("sluice.reason"))
                                      if d else "")),
                "records": sl["records"]}
            for s in ("share", "pc-unordered"):
                extra = ["--poison", "POISON", "--after-ms",
                         sz["after_ms"]]
                if s != "share":
                    extra += ["--retry-ms", sz["retry_ms"]]
                x = peer_run(run, b, s, topic, w, 0, recs - 1, extra=extra,
                             timeout=1800, tag="p3-" + s)
                pt = x["poison_times"]
                at_rest = sum(1 for t in pt if t <= x["t_done"])
                if s == "share":
                    where = ("archived by the broker after %d deliveries "
                             "(group.share.delivery.count.limit, default "
                             "5); no delivery in the %d ms after" % (
                                 len(pt), sz["after_ms"])) if pt else "?"
                else:
                    where = ("retried for ever every %d ms (no retry "
                             "limit in PC 0.5.3; %d attempts by the end, "
                             "%d ms after the rest); the partition's "
                             "commit cannot pass it"
                             % (sz["retry_ms"], len(pt), sz["after_ms"]))
                out[s] = {"rest_s": x["wall_s"], "steady_s": x["steady_s"],
                          "attempts": at_rest, "attempts_total": len(pt),
                          "where": where, "records": x["records"]}
            rows.append({"config": {"records": recs, "partitions": p,
                                    "width": w, "round": i + 1,
                                    "poison_index": poison_at},
                         "systems": out,
                         "ratio_best_peer": min(
                             out[s]["rest_s"] for s in
                             ("share", "pc-unordered")) / out["sluice"]
                         ["rest_s"]})
    return {"figure": "p3", "title": "one poison record in %d: time until "
            "every other record is processed, attempts spent on it, where "
            "it ends up" % recs, "target": "sluice time <= the best "
            "peer's (ratio = best peer time / sluice time >= 1.0)",
            "rows": rows,
            "notes": ["sluice: fault plugin crash_on=POISON aborts the "
                      "worker (SIGABRT) on the record; the supervising "
                      "parent restarts it and reports the record; "
                      "--max-attempts 3 (default), then the DLQ; %d "
                      "workers, --job-records %d; time = scheduler spawn "
                      "to 'drain complete' exit (the DLQ copy included)"
                      % (w, job),
                      "attempts = crashes logged by the workers "
                      "('crash_on matched') / deliveries of the record "
                      "seen by the peer's handler before the rest was "
                      "done",
                      "share: the handler throws; the record is "
                      "acknowledged RELEASE (redelivered); the broker "
                      "archives it at the delivery count limit; time = "
                      "JVM spawn to the %d-th good record" % (recs - 1),
                      "pc-unordered: the handler throws; PC retries it "
                      "after defaultMessageRetryDelay = %d ms (PC's "
                      "default 1 s kept), with no limit"
                      % sz["retry_ms"]]}


# ------------------------------------------------------------ p4: tail --

def tail(run, sz):
    p, w = sz["partitions"], sz["width"]
    systems = ["sluice"] + PEERS
    rounds = max(1, run.rounds - 1)
    topics = {}
    for i in range(rounds):
        for s in systems:
            topics[(i, s)] = (run.unique("p4-in"), run.unique("p4-out"))
    rows = []
    with run.broker.topics({t: p for pair in topics.values()
                            for t in pair}) as b:
        for i in range(rounds):
            for s in systems:
                t_in, t_out = topics[(i, s)]
                note("p4: round %d/%d: %s at %d records/s for %d s"
                     % (i + 1, rounds, s, sz["rate"], sz["seconds"]))
                d = run.dir("p4-" + s)
                procs = []
                if s == "sluice":
                    sched = start_scheduler(run, b, d, t_in,
                                            run.unique("g"), drain=False)
                    procs = [sched] + [
                        start_worker(run, b, d, sched.endpoint, "copy",
                                     "worker-%d" % k,
                                     ["--output-topic", t_out], drain=False)
                        for k in range(w)]
                    from figures import _wait_assigned
                    _wait_assigned(sched, p)
                else:
                    procs = [peer_run(run, b, s, t_in, w, 0, 0,
                                      extra=["--out-topic", t_out,
                                             "--timeout-s", 300],
                                      tag="p4-" + s, wait=False)]
                    time.sleep(6.0)  # JVM start and the group join
                reader = Child("reader", ["/usr/bin/python3", TAIL, "read",
                                          "--brokers", b.bootstrap,
                                          "--topic", t_in, "--topic", t_out]
                               + run.xprops(), d, stdout_pipe=True)
                if reader.read_line(60) is None:
                    raise BenchError("reader not ready; see %s"
                                     % reader.log_path)
                time.sleep(2.0)
                prod = Child("producer", ["/usr/bin/python3", TAIL,
                                          "produce", "--brokers",
                                          b.bootstrap, "--topic", t_in,
                                          "--rate", sz["rate"], "--seconds",
                                          sz["seconds"]], d)
                if prod.wait(sz["seconds"] + 60) != 0:
                    raise BenchError("producer failed; see %s"
                                     % prod.log_path)
                time.sleep(3.0)
                reader.stop(10)
                res = json.loads(reader.read_line(10) or "{}")
                for c in procs:
                    c.signal(signal.SIGTERM)
                for c in procs:
                    c.stop(15)
                lat = res.get("latency", {})
                rows.append({"config": {"system": s, "round": i + 1,
                                        "rate": sz["rate"],
                                        "seconds": sz["seconds"],
                                        "partitions": p, "width": w},
                             "out": lat.get(t_out, {}),
                             "input": lat.get(t_in, {})})
    return {"figure": "p4", "title": "tail latency at %d records/s: send "
            "-> the record's copy readable in the output topic"
            % sz["rate"], "target": "sluice p99 <= the best peer's",
            "rows": rows,
            "notes": ["the same end point for every system: each copies "
                      "the record to an output topic after its (no-op) "
                      "work, and one reader (bench/tail.py) measures "
                      "receive time - send time written in the value; "
                      "'input' is the same reader on the input topic (a "
                      "plain consumer tailing it); first 2 s left out",
                      "sluice: scheduler + %d workers, copy plugin, "
                      "defaults (as figure 7); share: one JVM, %d threads, "
                      "defaults; pc: one JVM, maxConcurrency %d; Java "
                      "producers linger.ms=5 (librdkafka's default, the "
                      "worker's)" % (w, w, w)]}


# -------------------------------------------------------------- report --

_f = benchlib.fmt_value
_s = benchlib.fmt_series


def _med(x):
    return x and x.get("summary") and x["summary"]["median"]


def _table(head, rows):
    out = ["| " + " | ".join(head) + " |",
           "|" + "|".join("---" for _ in head) + "|"]
    for r in rows:
        out.append("| " + " | ".join(str(x) for x in r) + " |")
    return out


def headline(fig):
    f, rows = fig["figure"], fig.get("rows", [])
    if f == "k1":
        return keys.headline(fig)
    if not rows:
        return "-", fig.get("target", ""), None
    if f == "p0":
        return "; ".join("%s %s us" % (r["config"]["system"],
                                       _s(r["us_per_record"]))
                         for r in rows), fig["target"], None
    if f == "p1":
        worst = min(rows, key=lambda r: _med(r["ratio_best"]))
        n_ok = sum(1 for r in rows if _med(r["ratio_best"]) >= 1.0)
        return ("%d of %d configurations >= 1.0; worst %s at %d "
                "partitions, width %d" % (
                    n_ok, len(rows), _f(_med(worst["ratio_best"]), "ratio"),
                    worst["config"]["partitions"], worst["config"]["width"]),
                ">= 1.0", n_ok == len(rows))
    if f == "p2":
        r = rows[0]
        v = _med(r["ratio_best_peer_wall"])
        return ("sluice / best peer (wall) %s; sluice / plain %s" % (
            _f(v, "ratio"), _s(r["ratio_wall_plain"], "ratio")), ">= 1.0",
            v >= 1.0)
    if f == "p3":
        v = min(r["ratio_best_peer"] for r in rows)
        return ("best peer time / sluice time, worst round %s" %
                _f(v, "ratio"), ">= 1.0", v >= 1.0)
    if f == "p4":
        by = {}
        for r in rows:
            by.setdefault(r["config"]["system"], []).append(
                r["out"].get("p99_ms"))
        med = {s: summary(v) and summary(v)["median"] for s, v in by.items()}
        best = min((v for s, v in med.items() if s != "sluice" and v),
                   default=None)
        ok = med.get("sluice") is not None and best is not None and \
            med["sluice"] <= best
        return ("p99 ms: " + ", ".join("%s %s" % (s, _f(v))
                                       for s, v in med.items()),
                "sluice <= best peer", ok)
    if f == "p5":
        # All N units' memory (sluice: the workers' summed PSS) against
        # the lightest peer's one JVM at the same width.
        parts = []
        ok = True
        for r in rows:
            best = min([r.get("%s_jvm_kb" % p) for p in PEERS
                        if r.get("%s_jvm_kb" % p)] or [0])
            if not r.get("sluice_pss_kb") or not best:
                return "see table", "-", None
            x = r["sluice_pss_kb"] / best
            ok = ok and x <= 1.0
            parts.append("w%d %s" % (r["config"]["width"], _f(x, "ratio")))
        return ("sluice workers' summed PSS / lightest peer JVM: " +
                ", ".join(parts), "<= 1.0", ok)
    if f == "p1c":
        return ("sluice N lanes / best peer: " + ", ".join(
            "%dp w%d %s" % (r["config"]["partitions"], r["config"]["width"],
                            _s(r["ratio_lanes_best"], "ratio"))
            for r in rows), "-", None)
    if f == "p1b":
        return ("N JVMs / one JVM of N threads, records/s: " + ", ".join(
            "w%d %s" % (r["config"]["width"], _s(r["ratio"], "ratio"))
            for r in rows), "-", None)
    return "-", "", None


def table(fig):
    f, rows = fig["figure"], fig.get("rows", [])
    if f == "k1":
        return keys.table(fig)
    if f == "p0":
        return _table(["work", "records", "us per record"],
                      [[r["config"]["system"], r["config"]["records"],
                        _s(r["us_per_record"])] for r in rows])
    if f == "p1":
        return _table(
            ["partitions", "width", "records", "sluice rec/s", "share",
             "pc-unordered", "pc-key", "group (ideal)",
             "sluice / best peer", "/ share", "/ pc-unordered", "/ pc-key",
             "/ group", "sluice: last worker joined, s after assigned",
             "CPU s/M: sluice / share / pc-u / pc-k"],
            [[r["config"]["partitions"], r["config"]["width"],
              r["config"]["records"], _s(r["sluice_rps"], "rate"),
              _s(r["share_rps"], "rate"), _s(r["pc-unordered_rps"], "rate"),
              _s(r["pc-key_rps"], "rate"), _s(r["group_rps"], "rate"),
              _s(r["ratio_best"], "ratio"), _s(r["ratio_share"], "ratio"),
              _s(r["ratio_pc-unordered"], "ratio"),
              _s(r["ratio_pc-key"], "ratio"), _s(r["ratio_group"], "ratio"),
              _s(r.get("sluice_last_join_s")),
              " / ".join(_f(_med(r["%s_cpu_s_per_M" % s]))
                         for s in ["sluice"] + PEERS)]
             for r in rows])
    if f == "p2":
        r = rows[0]
        out = []
        for s in ["sluice", "plain"] + PEERS:
            out.append([s, _f(_med(r["%s_records" % s])),
                        _s(r["%s_wall_s" % s]),
                        _s(r["%s_rps_wall" % s], "rate"),
                        _s(r["%s_rps_steady" % s], "rate"),
                        _s(r["%s_cpu_s_per_M" % s]),
                        _s(r["%s_broker_cpu_s_per_M" % s]),
                        "-" if s == "sluice" else
                        _s(r["ratio_wall_%s" % s], "ratio"),
                        "-" if s == "sluice" else
                        _s(r["ratio_steady_%s" % s], "ratio"),
                        "-" if s == "sluice" else
                        _s(r["cpu_ratio_%s" % s], "ratio")])
        return _table(["system", "records", "wall s", "rec/s (wall)",
                       "rec/s (steady)", "CPU s/M",
                       "broker CPU s/M", "sluice rate / this (wall)",
                       "sluice rate / this (steady)",
                       "sluice CPU / this"], out)
    if f == "p3":
        out = []
        for r in rows:
            for s, x in r["systems"].items():
                out.append([r["config"]["round"], s, _f(x["rest_s"]),
                            x["attempts"], x.get("attempts_total", "-"),
                            x["where"]])
        return _table(["round", "system", "s until the rest is done",
                       "attempts on the poison record by then",
                       "attempts by the end", "where it ends up"], out) + \
            ["", "best peer time / sluice time per round: " + ", ".join(
                _f(r["ratio_best_peer"], "ratio") for r in rows)]
    if f == "p4":
        return _table(["system", "round", "out/in records", "p50 ms",
                       "p90 ms", "p99 ms", "max ms", "input p99 ms",
                       "p99 / input p99"],
                      [[r["config"]["system"], r["config"]["round"],
                        "%s/%s" % (r["out"].get("count"),
                                   r["input"].get("count")),
                        _f(r["out"].get("p50_ms")), _f(r["out"].get(
                            "p90_ms")), _f(r["out"].get("p99_ms")),
                        _f(r["out"].get("max_ms")),
                        _f(r["input"].get("p99_ms")),
                        _f(r["out"]["p99_ms"] / r["input"]["p99_ms"]
                           if r["out"].get("p99_ms") and
                           r["input"].get("p99_ms") else None, "ratio")]
                       for r in rows])
    if f == "p1c":
        return _table(
            ["partitions", "width", "sluice N workers rec/s",
             "sluice 1 worker x N lanes rec/s", "share", "pc-unordered",
             "pc-key", "N workers / best peer", "N lanes / best peer",
             "lanes: worker + supervisor MB", "CPU s/M: workers / lanes"],
            [[r["config"]["partitions"], r["config"]["width"],
              _s(r["sluice_rps"], "rate"), _s(r["sluice-lanes_rps"], "rate"),
              _s(r["share_rps"], "rate"), _s(r["pc-unordered_rps"], "rate"),
              _s(r["pc-key_rps"], "rate"), _s(r["ratio_best"], "ratio"),
              _s(r["ratio_lanes_best"], "ratio"),
              _f((_med(r["lanes_total_kb"]) or 0) / 1024.0),
              "%s / %s" % (_f(_med(r["sluice_cpu_s_per_M"])),
                           _f(_med(r["sluice-lanes_cpu_s_per_M"])))]
             for r in rows])
    if f == "p1b":
        return _table(["width", "records", "one JVM rec/s", "N JVMs rec/s",
                       "N JVMs / one JVM", "CPU s/M one / N",
                       "RSS MB one / N (sum)"],
                      [[r["config"]["width"], r["config"]["records"],
                        _s(r["one_rps"], "rate"), _s(r["many_rps"], "rate"),
                        _s(r["ratio"], "ratio"),
                        "%s / %s" % (_f(_med(r["one_cpu"])),
                                     _f(_med(r["many_cpu"]))),
                        "%s / %s" % (_f((_med(r["one_kb"]) or 0) / 1024.0),
                                     _f((_med(r["many_kb"]) or 0) / 1024.0))]
                       for r in rows])
    if f == "p5":
        def mb(kb):
            return _f(kb / 1024.0) if kb else "-"
        return _table(
            ["width", "sluice worker MB (each)", "sluice supervisor MB "
             "(each)", "sluice all workers MB (RSS summed)",
             "sluice all workers MB (PSS summed)", "share JVM MB",
             "share MB/thread", "pc-unordered JVM MB", "pc-u MB/thread",
             "pc-key JVM MB", "pc-k MB/thread", "JVM threads (share/pc)"],
            [[r["config"]["width"], mb(r["sluice_worker_kb"]),
              mb(r["sluice_supervisor_kb"]), mb(r["sluice_total_kb"]),
              mb(r.get("sluice_pss_kb")),
              mb(r["share_jvm_kb"]), mb(r["share_per_thread_kb"]),
              mb(r["pc-unordered_jvm_kb"]),
              mb(r["pc-unordered_per_thread_kb"]), mb(r["pc-key_jvm_kb"]),
              mb(r["pc-key_per_thread_kb"]),
              "%s/%s" % (_f(r["share_jvm_threads"]),
                         _f(r["pc-unordered_jvm_threads"]))]
             for r in rows])
    return []


# ---------------------------------------------------------------- main --

def check_share_version(run):
    """share.version must be >= 1 for share groups; upgrade it if not."""
    ks = benchlib.KAFKA_SH
    p = subprocess.run([ks, "tool", "org.apache.kafka.tools.FeatureCommand",
                        "--bootstrap-server", run.broker.bootstrap,
                        "describe"], capture_output=True, text=True,
                       timeout=120)
    level = None
    for line in p.stdout.splitlines():
        if "share.version" in line:
            level = line.split("FinalizedVersionLevel:")[1].split()[0]
    if level in (None, "0"):
        note("share.version is %s: upgrading to 1" % level)
        subprocess.run([ks, "tool", "org.apache.kafka.tools.FeatureCommand",
                        "--bootstrap-server", run.broker.bootstrap,
                        "upgrade", "--feature", "share.version=1"],
                       check=True, capture_output=True, timeout=120)
        level = "1 (upgraded)"
    return level


def main():
    import run as runner
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true",
                    default=os.environ.get("BENCH_QUICK") not in
                    (None, "", "0"))
    ap.add_argument("--figures", default=os.environ.get("BENCH_PEERS_FIGURES"),
                    help="subset of calibration,scaling,jvms,lanes,drain,poison,"
                    "tail,keys (keys: figure k1, --order key; jvms: share consumers as N JVMs vs N threads)")
    ap.add_argument("--rounds", type=int,
                    default=int(os.environ.get("BENCH_ROUNDS") or 0))
    ap.add_argument("--out", default=HERE)
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    mode = "quick" if args.quick else "full"
    sizes = SIZES[mode]
    rounds = args.rounds or {"quick": 1, "full": 2}[mode]
    run = Run("kafka", quick=args.quick, rounds=rounds)
    chosen = None
    if args.figures:
        chosen = {x.strip() for x in args.figures.split(",")}

    def want(name):
        return chosen is None or name in chosen

    def on_signal(signo, frame):
        benchlib.stop_all(2)
        run.broker.stop()
        sys.exit(128 + signo)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    t0 = time.monotonic()
    kind = "peers-quick" if args.quick else "peers"
    res = {"date": datetime.datetime.now(datetime.timezone.utc)
           .strftime("%Y-%m-%d %H:%M UTC"), "mode": mode, "rounds": rounds,
           "broker": "kafka", "machine": runner.machine(),
           "consumer_settings": dict(run.consumer_props),
           "command": " ".join(sys.argv), "figures": [],
           "broker_note": "one real Apache Kafka 4.3.1 broker", "seconds": 0}
    failed = False
    os.makedirs(args.out, exist_ok=True)
    try:
        classpath()
        benchlib.snapshot(run.logdir)
        run.broker.start(BROKER_PROPS)
        res["share_version"] = check_share_version(run)
        res["broker_note"] = (
            "one real Apache Kafka 4.3.1 broker (KRaft, tests/kafka/"
            "kafka.sh, group.initial.rebalance.delay.ms=0, %s; "
            "share.version=%s)" % (", ".join(BROKER_PROPS),
                                   res["share_version"]))
        mem_rows = []
        steps = [("calibration", lambda: [calibration(run)]),
                 ("scaling", lambda: [scaling(run, sizes["p1"], mem_rows)]
                  + ([{"figure": "p5", "title": "memory per worker / "
                       "consumer JVM (peak RSS during p1's %d-partition "
                       "runs)" % max(sizes["p1"]["partitions"]),
                       "target": "sluice's memory per unit of width <= "
                       "the best peer's", "rows": mem_rows,
                       "notes": ["sluice: each sluice-worker is two "
                                 "processes: the supervising parent and "
                                 "the worker; VmRSS sampled every 50 ms, "
                                 "peak; 'all workers (RSS summed)' = the "
                                 "sum of those peaks over both processes "
                                 "of every worker (each counts the shared "
                                 "libraries' pages again); '(PSS summed)' "
                                 "= the peak over time of the summed PSS "
                                 "of all of them (sampled every 200 ms; "
                                 "shared pages counted once)",
                                 "JVMs: VmHWM of the one JVM (default "
                                 "heap settings, G1) / width"]}]
                     if mem_rows else [])),
                 ("jvms", lambda: [jvms(run, sizes["p1"])]),
                 ("lanes", lambda: [scaling(
                     run, sizes["p1"], None, fig_id="p1c", lanes=True,
                     widths=[w for w in sizes["p1"]["widths"] if w >= 4])]),
                 ("drain", lambda: [drain(run, sizes["p2"])]),
                 ("poison", lambda: [poison(run, sizes["p3"])]),
                 ("tail", lambda: [tail(run, sizes["p4"])]),
                 ("keys", lambda: [keys.key_order(run, sizes["k1"])])]
        for name, step in steps:
            if not want(name):
                continue
            try:
                for fig in step():
                    fig["measured"] = time.strftime("%Y-%m-%d %H:%M UTC",
                                                    time.gmtime())
                    res["figures"].append(fig)
            except BenchError as e:
                failed = True
                note("%s failed: %s" % (name, e))
                res["figures"].append({"figure": name, "error": str(e)})
            except Exception as e:
                failed = True
                traceback.print_exc()
                res["figures"].append({"figure": name, "error": "%s: %s" % (
                    type(e).__name__, e)})
            res["seconds"] = time.monotonic() - t0
            runner.write(args.out, kind, res, subset=chosen is not None)
    finally:
        benchlib.stop_all(5)
        run.broker.stop()
        run.cleanup(args.keep or failed)
    res["seconds"] = time.monotonic() - t0
    path, md = runner.write(args.out, kind, res, subset=chosen is not None)
    with open(md) as f:
        sys.stdout.write(f.read())
    note("wrote %s and %s in %.0f s" % (path, md, res["seconds"]))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
