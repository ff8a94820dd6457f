"""figures - one function per figure of sluice's benchmark suite.

Each figure function takes the Run (broker, settings, rounds) and its
sizes, measures sluice against a baseline in the same invocation,
alternating baseline and sluice round by round, and returns a dict:

    {"figure": N, "title": ..., "target": ..., "rows": [row, ...],
     "notes": [...]}

where each row names its configuration and holds, for every measured
quantity, the per-round values and their summary (median, min, max).
Ratios are taken per round (sluice / the baseline of that round) and
then summarised, so a slow moment of the machine hits both sides.
See bench/README.md for what each figure means.
"""

import json
import os
import signal
import threading
import time

import fig8
from benchlib import (BenchError, Child, bench_bin,
                      consumers_drain, free_port, log_events, note,
                      per_million, percentile, produce, proc_cpu,
                      sluice_drain, start_scheduler, start_worker, summary)

# --------------------------------------------------------------- sizes --

# Topic sizes are bounded by the embedded broker: librdkafka's mock keeps
# at most 5 MiB or 100,000 message sets per partition (older ones are
# deleted) and serves every partition from one thread. 100,000 records of
# 32 bytes (about 42 bytes each with framing) are 4.2 MB per partition.
# The same sizes are used on a real broker so the two are comparable;
# `make bench-big` is the large drain.
SIZES = {
    "smoke": {
        "f1": {"partitions": 2, "records": 2500, "job": 10, "workers": 2,
               "credits": [2]},
        "f2": {"partitions": 4, "records": 5000, "value": 32,
               "batches": [1000], "jobs": [1000], "workers": [2]},
    },
    "quick": {
        "f1": {"partitions": 4, "records": 12500, "job": 10, "workers": 4,
               "credits": [2]},
        "f2": {"partitions": 4, "records": 25000, "value": 32,
               "batches": [1000], "jobs": [1000, 10000], "workers": [2]},
        "f3": {"batches": [1000], "jobs": [100, 10000], "workers": 2},
        "f4": {"workers": [1, 4], "per_worker": 1000, "us": 1000,
               "job": 100, "window": 64},
        "f5": {"cycles": 6, "intervals": [1000], "job": 100,
               "hold_every": 10, "hold_ms": 300, "delay_ms": 20},
        # 1000 partitions as in full: with 6,400 jobs the slope swung
        # between 130 and 229 B/job from one run to the next.
        "f6": {"partitions": 1000, "window": 64, "worker_value": 1000,
               "worker_partitions": 2, "worker_records": 2000,
               "worker_jobs": [100, 2000]},
        "f7": {"seconds": 6, "rate": 1000, "partitions": 4, "workers": 2},
    },
    "full": {
        "f1": {"partitions": 4, "records": 100000, "job": 10, "workers": 4,
               "credits": [2, 16]},
        "f2": {"partitions": 4, "records": 100000, "value": 32,
               "batches": [100, 1000, 10000], "jobs": [100, 1000, 10000],
               "workers": [1, 2, 4]},
        "f3": {"batches": [100, 1000, 10000], "jobs": [100, 1000, 10000],
               "workers": 2},
        "f4": {"workers": [1, 2, 4, 8, 16, 32], "per_worker": 2000,
               "us": 1000, "job": 100, "window": 64},
        "f5": {"cycles": 25, "intervals": [1000, 200], "job": 100,
               "hold_every": 10, "hold_ms": 300, "delay_ms": 20},
        "f6": {"partitions": 1000, "window": 64, "worker_value": 1000,
               "worker_partitions": 4, "worker_records": 4000,
               "worker_jobs": [100, 1000, 4000]},
        "f7": {"seconds": 15, "rate": 1000, "partitions": 4, "workers": 2},
    },
    "big": {
        "big": {"partitions": 4, "records": 2500000, "value": 64,
                "batch": 1000, "job": 10000, "workers": [1, 2, 4]},
    },
}


def _ratios(a, b):
    """Per-round a[i] / b[i]."""
    return [x / y if x is not None and y else None for x, y in zip(a, b)]


def _row(config, **series):
    """A result row: config plus, per series, values and summary."""
    row = {"config": config}
    for name, vals in series.items():
        row[name] = {"values": vals, "summary": summary(vals)}
    return row


# Figure 8 keeps its sizes with its code.
for _mode in ("smoke", "quick", "full"):
    SIZES[_mode]["f8"] = fig8.SIZES[_mode]

# --------------------------------------------------------------- fig 1 --

def _echo(run, dealers, credits, messages, size=64):
    """Baseline (d): one bench_echo router, `dealers` dealer processes."""
    d = run.dir("echo")
    port = free_port()
    ep = "tcp://127.0.0.1:%d" % port
    router = Child("router", [bench_bin("bench_echo"), "--mode", "router",
                              "--endpoint", ep, "--dealers", dealers,
                              "--messages", messages, "--size", size],
                   d, stdout_pipe=True)
    if router.read_line(10) is None:
        raise BenchError("bench_echo router did not bind; see %s"
                         % router.log_path)
    ds = [Child("dealer-%d" % i, [bench_bin("bench_echo"), "--mode",
                                  "dealer", "--endpoint", ep, "--credits",
                                  credits, "--size", size], d)
          for i in range(dealers)]
    router.wait(300, watch=ds)
    line = router.read_line(5)
    for x in ds:
        x.wait(30)
    r = json.loads(line)
    return {"rate": r["rate"], "cpu_s": router.cpu + sum(x.cpu for x in ds),
            "router_cpu_s": router.cpu, "messages": r["messages"]}


def _null_drain(run, broker, topic, workers, credits, job, batches=True):
    """sluice: a real scheduler (--drain) and `workers` null workers
    (without BATCH frames if not batches)."""
    d = run.dir("null-drain")
    #  The null workers first: their HELLOs wait in their sockets and
    #  reach the scheduler as it binds, before its partitions are
    #  assigned. Started after it, one could come when most of the jobs
    #  were out and every partition had a worker to follow, and it would
    #  get none (a null worker's jobs cost nothing, so no one joins).
    port = free_port()
    ws = [Child("null-%d" % i, [bench_bin("bench_null_worker"),
                                "--scheduler", "tcp://127.0.0.1:%d" % port,
                                "--credits", credits]
                    + ([] if batches else ["--no-batches"]), d)
          for i in range(workers)]
    time.sleep(0.3)
    sched = start_scheduler(run, broker, d, topic, run.unique("g"),
                            ["--job-records", job], port=port)
    if sched.wait(300, watch=ws) != 0:
        raise BenchError("scheduler failed; see %s" % sched.log_path)
    for w in ws:
        w.wait(30)
    res = [w.result() for w in ws]
    jobs = sum(r["jobs"] for r in res)
    busy = [r for r in res if r["jobs"] > 0]  # t_first is 0 without a job
    span = (max(r["t_last"] for r in busy) - min(r["t_first"] for r in busy)
            if busy else 0)
    frames = sum(r.get("frames_in", 0) for r in res)
    return {"rate": jobs / span if span > 0 else None, "jobs": jobs,
            "cpu_s": sched.cpu + sum(w.cpu for w in ws),
            "sched_cpu_s": sched.cpu,
            "jobs_per_frame": jobs / frames if frames else None}


def fig1(run, sz):
    """Scheduler dispatch rate with null workers vs a bare echo."""
    p, r, job, w = sz["partitions"], sz["records"], sz["job"], sz["workers"]
    topic = run.unique("f1")
    jobs = p * r // job
    rows = []
    with run.broker.topics({topic: p}) as b:
        produce(run, b, topic, p, r, 8, 10000)
        for credits in sz["credits"]:
            base, sl, single = [], [], []
            for i in range(run.rounds):
                note("fig 1: round %d/%d credits=%d: echo, then scheduler, "
                     "then scheduler without batches"
                     % (i + 1, run.rounds, credits))
                base.append(_echo(run, w, credits, jobs))
                sl.append(_null_drain(run, b, topic, w, credits, job))
                single.append(_null_drain(run, b, topic, w, credits, job,
                                          batches=False))
            rows.append(_row(
                {"workers": w, "credits": credits, "jobs": jobs,
                 "job_records": job, "partitions": p},
                sluice_jobs_per_s=[x["rate"] for x in sl],
                echo_msgs_per_s=[x["rate"] for x in base],
                ratio=_ratios([x["rate"] for x in sl],
                              [x["rate"] for x in base]),
                unbatched_jobs_per_s=[x["rate"] for x in single],
                unbatched_ratio=_ratios([x["rate"] for x in single],
                                        [x["rate"] for x in base]),
                jobs_per_frame=[x["jobs_per_frame"] for x in sl],
                sluice_cpu_s_per_M=[per_million(x["cpu_s"], x["jobs"])
                                    for x in sl],
                sched_cpu_s_per_M=[per_million(x["sched_cpu_s"], x["jobs"])
                                   for x in sl],
                echo_cpu_s_per_M=[per_million(x["cpu_s"], x["messages"])
                                  for x in base],
                echo_router_cpu_s_per_M=[per_million(x["router_cpu_s"],
                                                     x["messages"])
                                         for x in base]))
    return {"figure": 1, "title": "scheduler dispatch rate (null workers) "
            "vs bare ROUTER/DEALER credit echo", "target": ">= 0.5",
            "metric": "ratio", "target_op": ">=", "target_value": 0.5,
            "rows": rows,
            "notes": ["%d jobs of %d offsets over %d partitions; %d null "
                      "workers (separate processes) vs %d echo dealers "
                      "with the same credit window; 64-byte echo "
                      "messages" % (jobs, job, p, w, w),
                      "rate = jobs received by the null workers / (last "
                      "JOB - first JOB); echo = replies / time from the "
                      "first send",
                      "unbatched: the same with --no-batches null workers "
                      "(one frame per JOB and per DONE, as before BATCH)"]}


# ------------------------------------------------------------ fig 2, 3 --

# The workers' fetch totals come from librdkafka's statistics, which
# sluice-worker keeps (sluice_worker_fetched_*_total) and logs at exit:
# "kafka consumer totals rxmsgs=N rx_bytes=N", after a report that covers
# its last fetch. A short interval keeps that last wait short.
WORKER_STATS_ARGS = ["-X", "statistics.interval.ms=100"]


def _read_stats(workers):
    """The workers' fetch totals, summed, from their exit log lines."""
    tot = {"rxmsgs": 0, "rx_bytes": 0}
    for w in workers:
        ev = log_events(w.log_text(), "kafka consumer totals")
        if not ev:
            raise BenchError("%s logged no 'kafka consumer totals'; see %s"
                             % (w.name, w.log_path))
        for k in tot:
            tot[k] += int(ev[-1][1].get(k, 0))
    return tot


def _drain_row(config, recs, base, sl):
    """A row comparing sluice drains (sl) with baseline drains (base) of
    the same `recs` records, round by round: rates, ratios, CPU."""
    def rps(runs, key):
        return [recs / x[key] for x in runs]
    return _row(
        config,
        sluice_rps_wall=rps(sl, "wall_s"),
        base_rps_wall=rps(base, "wall_s"),
        ratio_wall=_ratios(rps(sl, "wall_s"), rps(base, "wall_s")),
        sluice_rps_steady=rps(sl, "steady_s"),
        base_rps_steady=rps(base, "steady_s"),
        ratio_steady=_ratios(rps(sl, "steady_s"), rps(base, "steady_s")),
        sluice_join_s=[x["join_s"] for x in sl],
        sluice_first_job_ms=[x["first_job_ms_max"] for x in sl],
        workers_without_bye=[x["workers_without_bye"] for x in sl],
        sluice_cpu_s_per_M=[per_million(x["cpu_s"], recs) for x in sl],
        sluice_worker_cpu_s_per_M=[per_million(x["worker_cpu_s"], recs)
                                   for x in sl],
        base_cpu_s_per_M=[per_million(x["cpu_s"], recs) for x in base],
        sluice_broker_cpu_s_per_M=[per_million(x["broker_cpu_s"], recs)
                                   for x in sl],
        base_broker_cpu_s_per_M=[per_million(x["broker_cpu_s"], recs)
                                 for x in base])


def fig2(run, sz, sz3=None):
    """End-to-end drain rate, noop plugin, vs N plain consumers; and
    (sz3) read amplification on the same data."""
    p, r, value = sz["partitions"], sz["records"], sz["value"]
    topics = {b: run.unique("f2-b%d" % b) for b in sz["batches"]}
    rows, out3 = [], None
    with run.broker.topics({t: p for t in topics.values()}) as b:
        for batch, t in topics.items():
            produce(run, b, t, p, r, value, batch)
        res = {}
        for i in range(run.rounds):
            for batch, t in topics.items():
                for n in sz["workers"]:
                    note("fig 2: round %d/%d batch=%d workers=%d: %d plain "
                         "consumers, then sluice at jobs %s"
                         % (i + 1, run.rounds, batch, n, n, sz["jobs"]))
                    base = consumers_drain(run, b, t, p, n)
                    for job in sz["jobs"]:
                        sl = sluice_drain(run, b, t, n, "noop",
                                          sched_args=["--job-records", job])
                        if sl["records"] != base["records"]:
                            raise BenchError(
                                "sluice drained %d records, the consumers "
                                "read %d" % (sl["records"], base["records"]))
                        res.setdefault((n, job, batch), []).append((base, sl))
        for (n, job, batch), pairs in sorted(res.items()):
            recs = pairs[0][0]["records"]
            base = [x[0] for x in pairs]
            sl = [x[1] for x in pairs]
            rows.append(_drain_row(
                {"workers": n, "job_records": job, "producer_batch": batch,
                 "records": recs, "partitions": p,
                 "job_spans_batches": job / batch}, recs, base, sl))
        if sz3:
            out3 = _fig3(run, b, sz3, topics, p, r)
    fig = {"figure": 2, "title": "end-to-end drain, noop plugin, vs N plain "
           "consumers on the same data",
           "judge": ("ratio_steady" if run.broker.kind == "embedded"
                     else "ratio_wall"),
           "target": ">= 0.8 when a job spans >= 10 producer batches",
           "metric": "ratio_wall", "target_op": ">=", "target_value": 0.8,
           "rows": rows,
           "notes": ["%d partitions x %d records of %d bytes per producer "
                     "batch size (the embedded broker keeps about 5 MiB "
                     "per partition)" % (p, r, value),
                     "wall = process start to exit (sluice: scheduler "
                     "--drain start to exit 0, workers started with it); "
                     "steady = first 'assigned' log line to 'drain "
                     "complete' (sluice) and first assign() to last record "
                     "(consumers): the consumer-group join excluded",
                     "baseline = N bench_consume processes on disjoint "
                     "whole partitions, N = the worker count"]}
    return fig, out3


def _fig3(run, b, sz3, topics, p, r):
    """Read amplification: what workers fetched / what their jobs hold."""
    rows = []
    for batch in sz3["batches"]:
        if batch not in topics:
            continue
        t = topics[batch]
        note("fig 3: batch=%d: one plain consumer with statistics, then "
             "sluice at jobs %s" % (batch, sz3["jobs"]))
        base = consumers_drain(run, b, t, p, 1, stats_ms=100, tag="f3-base")
        for job in sz3["jobs"]:
            sl = sluice_drain(run, b, t, sz3["workers"], "noop",
                              sched_args=["--job-records", job],
                              worker_args=WORKER_STATS_ARGS, tag="f3-sluice")
            st = _read_stats(sl["workers"])
            recs = sl["records"]
            rows.append({
                "config": {"workers": sz3["workers"], "job_records": job,
                           "producer_batch": batch, "records": recs},
                "records_fetched": st["rxmsgs"],
                "bytes_fetched": st["rx_bytes"],
                "baseline_records_fetched": base["rxmsgs"],
                "baseline_bytes_fetched": base["rx_bytes"],
                "record_amplification": st["rxmsgs"] / recs,
                "byte_amplification": st["rx_bytes"] / base["rx_bytes"],
                "baseline_record_amplification": base["rxmsgs"] / recs,
            })
    return {"figure": 3, "title": "read amplification: fetched by workers / "
            "in jobs (librdkafka statistics)", "target": "<= 1.1",
            "metric": "byte_amplification", "target_op": "<=",
            "target_value": 1.1, "rows": rows,
            "notes": ["records: the workers' consumers' rxmsgs (records "
                      "at or past the fetch offset, prefetch and records "
                      "later dropped by a seek included) / records in the "
                      "jobs; bytes: the workers' rx_bytes (every byte "
                      "received from brokers) / rx_bytes of one plain "
                      "consumer reading the same data once",
                      "the workers' numbers are their own librdkafka "
                      "statistics (sluice_worker_fetched_records_total, "
                      "sluice_worker_fetched_bytes_total), from the "
                      "'kafka consumer totals' line each logs at exit; "
                      "workers run with %s" % " ".join(WORKER_STATS_ARGS)]}


# --------------------------------------------------------------- fig 4 --

def _group_drain(run, broker, topic, us, tag="group"):
    """Baseline (c): one consumer-group member doing the sleep work."""
    d = run.dir(tag)
    c = Child("group", [bench_bin("bench_group"), "--brokers",
                        broker.bootstrap, "--topic", topic, "--group",
                        run.unique("gb"), "--us-per-record", us]
              + run.xprops(), d)
    if c.wait(600) != 0:
        raise BenchError("bench_group failed; see %s" % c.log_path)
    res = c.result()
    return {"records": res["records"],
            "steady_s": res["t_end"] - res["t_assigned"],
            "wall_s": c.t_exit - c.t_spawn, "cpu_s": c.cpu}


def fig4(run, sz):
    """One partition, sleep plugin: scaling with worker processes."""
    us, per = sz["us"], sz["per_worker"]
    topics = {w: run.unique("f4-w%d" % w) for w in sz["workers"]}
    if 1 not in topics:
        topics[1] = run.unique("f4-w1")
    res = {}
    with run.broker.topics({t: 1 for t in topics.values()}) as b:
        for w, t in topics.items():
            produce(run, b, t, 1, per * w, 32, 1000)
        for i in range(run.rounds):
            note("fig 4: round %d/%d: one group member, then sluice with "
                 "%s workers" % (i + 1, run.rounds, sz["workers"]))
            base = _group_drain(run, b, topics[1], us)
            for w in sz["workers"]:
                sl = sluice_drain(
                    run, b, topics[w], w, "sleep",
                    sched_args=["--job-records", sz["job"],
                                "--window", sz["window"]],
                    worker_args=["--plugin-opt", "us_per_record=%d" % us])
                res.setdefault(w, []).append((base, sl))
    rows = []
    for w, pairs in sorted(res.items()):
        bs = [x[0] for x in pairs]
        sl = [x[1] for x in pairs]
        b_st = [x["records"] / x["steady_s"] for x in bs]
        b_wall = [x["records"] / x["wall_s"] for x in bs]
        s_st = [x["records"] / x["steady_s"] for x in sl]
        s_wall = [x["records"] / x["wall_s"] for x in sl]
        rows.append(_row(
            {"workers": w, "records": sl[0]["records"], "us_per_record": us,
             "job_records": sz["job"], "window": sz["window"]},
            sluice_rps_steady=s_st, member_rps_steady=b_st,
            ratio_steady=_ratios(s_st, [w * x for x in b_st]),
            sluice_rps_wall=s_wall, member_rps_wall=b_wall,
            ratio_wall=_ratios(s_wall, [w * x for x in b_wall]),
            sluice_first_job_ms=[x["first_job_ms_max"] for x in sl],
            workers_without_bye=[x["workers_without_bye"] for x in sl],
            sluice_cpu_s_per_M=[per_million(x["cpu_s"], x["records"])
                                for x in sl],
            member_cpu_s_per_M=[per_million(x["cpu_s"], x["records"])
                                for x in bs]))
    return {"figure": 4, "title": "one partition, sleep plugin %d us/record: "
            "records/s / (workers x one group member's records/s)" % us,
            "target": ">= 0.9", "metric": "ratio_steady", "target_op": ">=",
            "target_value": 0.9, "rows": rows,
            "notes": ["topic of 1 partition with %d records per worker; "
                      "scheduler --job-records %d --window %d (the default "
                      "window 16 would cap a partition at 16 jobs in "
                      "flight)" % (per, sz["job"], sz["window"]),
                      "baseline: one bench_group member (a consumer group "
                      "can use at most 1 member on 1 partition), same "
                      "work: one sleep of n x %d us per batch of <= 500 "
                      "records, as the sleep plugin does" % us]}


# --------------------------------------------------------------- fig 5 --

class _Poller(threading.Thread):
    """OffsetFetch in a loop: [(t_sent, t_answered, committed offset)]."""

    def __init__(self, broker, group, topic, props):
        super().__init__(daemon=True)
        from confluent_kafka import Consumer
        conf = {"bootstrap.servers": broker.bootstrap, "group.id": group,
                "enable.auto.commit": False}
        conf.update(props)
        self.consumer = Consumer(conf)
        self.topic = topic
        self.samples = []
        self.stopped = False

    def run(self):
        from confluent_kafka import TopicPartition
        tp = [TopicPartition(self.topic, 0)]
        while not self.stopped:
            t0 = time.time()
            try:
                off = self.consumer.committed(tp, timeout=5)[0].offset
            except Exception:  # noqa: a failed fetch is just a lost sample
                continue
            self.samples.append((t0, time.time(), off))
        self.consumer.close()


def fig5(run, sz):
    """Commit lag: the DONE that closes a gap -> OffsetFetch shows it."""
    job, every = sz["job"], sz["hold_every"]
    records = sz["cycles"] * every * job
    topic = run.unique("f5")
    rows = []
    with run.broker.topics({topic: 1}) as b:
        produce(run, b, topic, 1, records, 32, 1000)
        for interval in sz["intervals"]:
            note("fig 5: commit interval %d ms: %d gaps closed by a null "
                 "worker, OffsetFetch polled" % (interval, sz["cycles"]))
            d = run.dir("f5")
            group = run.unique("g")
            poller = _Poller(b, group, topic, {})
            poller.start()
            try:
                sched = start_scheduler(run, b, d, topic, group,
                                        ["--job-records", job,
                                         "--commit-interval-ms", interval])
                nw = Child("null", [bench_bin("bench_null_worker"),
                                    "--scheduler", sched.endpoint,
                                    "--credits", 4,
                                    "--delay-ms", sz["delay_ms"],
                                    "--hold-every", every,
                                    "--hold-ms", sz["hold_ms"]], d)
                if sched.wait(600, watch=[nw]) != 0:
                    raise BenchError("scheduler failed; see %s"
                                     % sched.log_path)
                nw.wait(30)
                time.sleep(0.2)
            finally:
                poller.stopped = True
                poller.join(10)
            gaps = [e for e in nw.out_json()
                    if e.get("event") == "gap_closed" and e["end"] < records]
            samples = poller.samples
            rtts = [t1 - t0 for t0, t1, _ in samples]
            lags = []
            for e in gaps:
                seen = [t1 for t0, t1, off in samples
                        if t1 > e["t"] and off >= e["end"]]
                if seen:
                    lags.append((min(seen) - e["t"]) * 1000.0)
            rtt_ms = percentile([x * 1000.0 for x in rtts], 50)
            bound = interval + rtt_ms
            rows.append({
                "config": {"commit_interval_ms": interval, "job_records": job,
                           "gaps": len(gaps), "polls": len(samples)},
                "lag_ms": {"p50": percentile(lags, 50),
                           "p99": percentile(lags, 99),
                           "max": max(lags) if lags else None,
                           "min": min(lags) if lags else None,
                           "n": len(lags)},
                "offsetfetch_rtt_ms": {"p50": rtt_ms,
                                       "p99": percentile(
                                           [x * 1000.0 for x in rtts], 99)},
                "bound_ms": bound,
                "ratio_p50": percentile(lags, 50) / bound if lags else None,
                "ratio_p99": percentile(lags, 99) / bound if lags else None,
                "ratio_max": max(lags) / bound if lags else None,
            })
    return {"figure": 5, "title": "commit lag: gap-closing DONE -> commit "
            "visible via OffsetFetch", "target": "<= commit interval + one "
            "round trip (ratio <= 1)", "metric": "ratio_p99",
            "target_op": "<=", "target_value": 1.0, "rows": rows,
            "notes": ["a null worker answers jobs after %d ms and holds every "
                      "%d-th for %d ms, so later jobs complete above it; "
                      "its DONE closes the gap (the time it left is the "
                      "start); a Python OffsetFetch loop (confluent-kafka "
                      "committed()) polls the group's committed offset "
                      "back to back; lag = answer time of the first poll "
                      "showing committed >= the job's end - DONE time "
                      "(resolution: one OffsetFetch round trip)"
                      % (sz["delay_ms"], every, sz["hold_ms"]),
                      "bound = --commit-interval-ms + the median "
                      "OffsetFetch round trip measured in the same run"]}


# --------------------------------------------------------------- fig 6 --

def _wait_assigned(sched, count, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(log_events(sched.log_text(), "assigned")) >= count:
            return
        if not sched.alive():
            raise BenchError("scheduler exited; see %s" % sched.log_path)
        time.sleep(0.2)
    raise BenchError("scheduler did not get %d partitions; see %s"
                     % (count, sched.log_path))


def _held(nulls):
    total = 0
    for n in nulls:
        counts = [e["jobs"] for e in n.out_json() if e.get("event") ==
                  "count"]
        total += counts[-1] if counts else 0
    return total


def _wait_held(nulls, expect, timeout=120):
    """Wait until the null workers hold `expect` jobs (or the count has
    not moved for 2 s); returns the count."""
    deadline = time.monotonic() + timeout
    last, since = -1, time.monotonic()
    while time.monotonic() < deadline:
        n = _held(nulls)
        if n >= expect:
            return n
        if n != last:
            last, since = n, time.monotonic()
        elif time.monotonic() - since > 2.0 and n > 0:
            return n
        time.sleep(0.1)
    return _held(nulls)


def _rss_kb(child):
    time.sleep(0.5)
    return child.status().get("VmRSS")


def _fig6_scheduler(run, b, topic, parts, window):
    """Scheduler RSS: idle, then with jobs in flight in two steps."""
    d = run.dir("f6-sched")
    # The reference: a plain group member owning the same partitions.
    member = Child("member", [bench_bin("bench_group"), "--brokers",
                              b.bootstrap, "--topic", topic, "--group",
                              run.unique("gm"), "--hold"] + run.xprops(),
                   d, stdout_pipe=True)
    if member.read_line(120) is None:
        raise BenchError("bench_group --hold got no assignment; see %s"
                         % member.log_path)
    time.sleep(1.0)
    member_rss = _rss_kb(member)
    member.stop(10)
    sched = start_scheduler(run, b, d, topic, run.unique("g"),
                            ["--job-records", 1, "--window", window],
                            drain=False)
    _wait_assigned(sched, parts)
    time.sleep(1.5)
    rss0 = _rss_kb(sched)
    total = parts * window
    socks1 = max(1, total // 4 // 1024)
    socks2 = (total + 1023) // 1024 - socks1
    nulls = [Child("null-a", [bench_bin("bench_null_worker"), "--scheduler",
                              sched.endpoint, "--credits", 1024, "--sockets",
                              socks1, "--hold-all", "--report-ms", 200], d)]
    j1 = _wait_held(nulls, min(total, socks1 * 1024))
    rss1 = _rss_kb(sched)
    if socks2 > 0:
        nulls.append(Child("null-b", [bench_bin("bench_null_worker"),
                                      "--scheduler", sched.endpoint,
                                      "--credits", 1024, "--sockets", socks2,
                                      "--hold-all", "--report-ms", 200], d))
    j2 = _wait_held(nulls, total)
    rss2 = _rss_kb(sched)
    cpu0 = proc_cpu(sched.pid)
    time.sleep(2.0)
    idle_cpu = (proc_cpu(sched.pid) - cpu0) / 2.0
    hwm = sched.status().get("VmHWM")
    sched.stop(30)
    for n in nulls:
        n.stop(10)
    per_job = (rss2 - rss1) * 1024.0 / (j2 - j1) if j2 > j1 else None
    return {
        "config": {"partitions": parts, "window": window, "job_records": 1},
        "member_rss_kb": member_rss, "sched_rss_idle_kb": rss0,
        "jobs_step1": j1, "sched_rss_step1_kb": rss1,
        "jobs_in_flight": j2, "sched_rss_full_kb": rss2,
        "sched_hwm_kb": hwm, "bytes_per_job": per_job,
        "sched_cpu_share_holding": idle_cpu,
        "ratio_idle_to_member": rss0 / member_rss if member_rss else None,
    }


def _fig6_worker(run, b, topic, sz):
    """Worker peak RSS against job bytes, vs a plain consumer's."""
    p, value = sz["worker_partitions"], sz["worker_value"]
    res = {}
    for i in range(run.rounds):
        note("fig 6: worker memory, round %d/%d: one plain consumer, then "
             "one worker at jobs %s of %d-byte records"
             % (i + 1, run.rounds, sz["worker_jobs"], value))
        base = consumers_drain(run, b, topic, p, 1, tag="f6-consumer")
        for job in sz["worker_jobs"]:
            sl = sluice_drain(run, b, topic, 1, "noop",
                              sched_args=["--job-records", job],
                              tag="f6-worker")
            res.setdefault(job, []).append((base, sl))
    rows = []
    for job, pairs in sorted(res.items()):
        job_bytes = job * value
        bound_kb = (2 * job_bytes + 16 * 1024 * 1024) / 1024.0
        w_kb = [x[1]["worker_hwm_kb"] for x in pairs]
        # bench_consume reads its own VmHWM as it exits: a consumer that
        # ends within one 20 ms sample would otherwise show a partial peak.
        c_kb = [max(x[0]["hwm_kb"] or 0, x[0]["self_reported_hwm_kb"] or 0)
                or None for x in pairs]
        row = _row({"job_records": job, "value_bytes": value,
                    "job_bytes": job_bytes, "bound_kb": bound_kb},
                   worker_peak_kb=w_kb, consumer_peak_kb=c_kb,
                   worker_private_kb=[x[1]["worker_anon_kb"] for x in pairs],
                   worker_files_kb=[x[1]["worker_file_kb"] for x in pairs],
                   ratio_to_bound=[x / bound_kb for x in w_kb],
                   ratio_to_consumer=_ratios(w_kb, c_kb))
        rows.append(row)
    return rows


def fig6(run, sz):
    """Memory: scheduler per in-flight job, 1000 partitions; worker RSS."""
    parts, window = sz["partitions"], sz["window"]
    t_many = run.unique("f6-many")
    t_w = run.unique("f6-w")
    with run.broker.topics({t_many: parts, t_w: sz["worker_partitions"]}) \
            as b:
        produce(run, b, t_many, parts, window, 8, window)
        produce(run, b, t_w, sz["worker_partitions"], sz["worker_records"],
                sz["worker_value"], 100)
        note("fig 6: scheduler with %d partitions x window %d"
             % (parts, window))
        sched_row = _fig6_scheduler(run, b, t_many, parts, window)
        worker_rows = _fig6_worker(run, b, t_w, sz)
    return {"figure": 6, "title": "memory: scheduler RSS per in-flight job "
            "and with %d partitions x window %d; worker RSS vs job bytes"
            % (parts, window),
            "target": "<= 200 B per job; scheduler <= 64 MB; worker <= 2 x "
            "job bytes + 16 MB", "rows": [sched_row], "worker_rows":
            worker_rows,
            "notes": ["bytes per job = VmRSS slope between two in-flight "
                      "counts (null workers that never answer, 1024 credits "
                      "per socket); reference: a bench_group member "
                      "owning the same partitions, assigned and paused",
                      "worker peak RSS = its VmHWM, read from "
                      "/proc/PID/status every 20 ms (one worker, noop "
                      "plugin); reference: one bench_consume reading the "
                      "same topic, its VmHWM as it exits (it may end "
                      "between two samples)",
                      "of the worker's RSS, private = the largest RssAnon "
                      "sampled (what the worker itself allocates), files = "
                      "the largest RssFile (pages of its shared libraries "
                      "and binary, shared with every process that maps "
                      "them)"]}


# --------------------------------------------------------------- fig 7 --

def fig7(run, sz):
    """Tail latency at 1,000 records/s through the copy plugin."""
    p = sz["partitions"]
    rounds = max(1, run.rounds - 1)
    # Topics of their own per round: a new group on the last round's input
    # would start with its records as a backlog, and their copies would
    # reach the reader with old send times.
    t_ins = [run.unique("f7-in") for _ in range(rounds)]
    t_outs = [run.unique("f7-out") for _ in range(rounds)]
    tail = os.path.join(os.path.dirname(__file__), "tail.py")
    rows = []
    with run.broker.topics({t: p for t in t_ins + t_outs}) as b:
        for i in range(rounds):
            t_in, t_out = t_ins[i], t_outs[i]
            note("fig 7: round %d: %d records/s for %ds through %d workers "
                 "(copy)" % (i + 1, sz["rate"], sz["seconds"],
                             sz["workers"]))
            d = run.dir("f7")
            sched = start_scheduler(run, b, d, t_in, run.unique("g"),
                                    drain=False)
            ws = [start_worker(run, b, d, sched.endpoint, "copy",
                               "worker-%d" % k,
                               ["--output-topic", t_out], drain=False)
                  for k in range(sz["workers"])]
            _wait_assigned(sched, p)
            reader = Child("reader", ["/usr/bin/python3", tail, "read",
                                      "--brokers", b.bootstrap,
                                      "--topic", t_in, "--topic", t_out]
                           + run.xprops(), d, stdout_pipe=True)
            if reader.read_line(60) is None:
                raise BenchError("latency reader not ready; see %s"
                                 % reader.log_path)
            time.sleep(2.0)  # every process settled: a steady tail
            prod = Child("producer", ["/usr/bin/python3", tail, "produce",
                                      "--brokers", b.bootstrap, "--topic",
                                      t_in, "--rate", sz["rate"],
                                      "--seconds", sz["seconds"]], d)
            if prod.wait(sz["seconds"] + 60) != 0:
                raise BenchError("latency producer failed; see %s"
                                 % prod.log_path)
            time.sleep(3.0)
            t_stop = time.monotonic()
            reader.stop(10)
            res = json.loads(reader.read_line(10) or "{}")
            # Scheduler and workers stop together (one at a time, each
            # waited for, took half a minute per round).
            for c in [sched] + ws:
                c.signal(signal.SIGTERM)
            for c in [sched] + ws:
                c.stop(15)
            note("fig 7: round %d: stopped in %.1f s"
                 % (i + 1, time.monotonic() - t_stop))
            lat = res.get("latency", {})
            li, lo = lat.get(t_in, {}), lat.get(t_out, {})
            rows.append({
                "config": {"rate": sz["rate"], "seconds": sz["seconds"],
                           "partitions": p, "workers": sz["workers"],
                           "round": i + 1},
                "sluice": lo, "baseline": li,
                "ratio_p99": (lo["p99_ms"] / li["p99_ms"]
                              if lo.get("p99_ms") and li.get("p99_ms")
                              else None)})
    return {"figure": 7, "title": "latency while tailing at %d records/s: "
            "produce -> copied to the output topic (copy plugin), "
            "default settings" % sz["rate"],
            "target": "p99 <= 100 ms", "metric": "p99_ms",
            "target_op": "<=", "target_value": 100.0, "rows": rows,
            "notes": ["one reader consumes the input topic (baseline: what "
                      "a plain consumer tailing it sees) and the output "
                      "topic (sluice) at once; latency = receive time - "
                      "send time written in the value; the first 2 s are "
                      "left out",
                      "scheduler and workers with default settings except "
                      "the consumers' fetch.wait.max.ms (listed in the "
                      "settings)"]}


# ----------------------------------------------------------------- big --

def big(run, sz):
    """A >= 10 million record drain (real broker)."""
    p, r = sz["partitions"], sz["records"]
    topic = run.unique("big")
    res = {}
    with run.broker.topics({topic: p}) as b:
        prod = produce(run, b, topic, p, r, sz["value"], sz["batch"],
                       timeout=3600)
        for i in range(run.rounds):
            for n in sz["workers"]:
                note("big: round %d/%d: %d plain consumers, then sluice with "
                     "%d workers (job %d)" % (i + 1, run.rounds, n, n,
                                              sz["job"]))
                base = consumers_drain(run, b, topic, p, n, timeout=3600)
                sl = sluice_drain(run, b, topic, n, "noop",
                                  sched_args=["--job-records", sz["job"]],
                                  timeout=3600)
                res.setdefault(n, []).append((base, sl))
    rows = []
    for n, pairs in sorted(res.items()):
        recs = pairs[0][1]["records"]
        base = [x[0] for x in pairs]
        sl = [x[1] for x in pairs]
        rows.append(_drain_row(
            {"workers": n, "job_records": sz["job"],
             "producer_batch": sz["batch"], "records": recs,
             "partitions": p,
             "job_spans_batches": sz["job"] / sz["batch"]}, recs, base, sl))
    return {"figure": "big", "title": "large drain on a real broker: %d "
            "records, noop plugin, vs N plain consumers" % (p * r),
            "target": ">= 0.8", "metric": "ratio_wall", "target_op": ">=",
            "target_value": 0.8, "rows": rows,
            "notes": ["%d partitions x %d records of %d bytes, producer "
                      "batch %d, produced by bench_produce at %.0f "
                      "records/s" % (p, r, sz["value"], sz["batch"],
                                     prod["rate"])]}
