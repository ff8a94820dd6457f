"""Figure k1 (issue 21): --order key against unordered sluice, --order
partition (--window 1) and Parallel Consumer's KEY mode, on one partition
of a real broker, 1 ms per record, 1-32 workers.

Run through bench/peers.py (`make bench-keys`, or `make bench-peers`,
which includes it); it uses the peers' Java producer (keys drawn uniformly
or by Zipf's law from 10,000, or a single key) and their Parallel Consumer
runner, alternated with sluice round by round on the same topics."""
import benchlib
from benchlib import note, per_million, summary

# Both sluice modes run with the same jobs and window; the scheduler's
# cost per job is its CPU over its jobs (from its exit line).
DISTS = {
    "uniform": {"keys": 10000, "dist": "uniform"},
    "zipf": {"keys": 10000, "dist": "zipf"},
    "one key": {"keys": 1, "dist": "roundrobin"},
}
SYSTEMS = ["key", "none", "partition", "pc-key"]


def _produce(run, b, topic, records, dist):
    import peers
    d = run.dir("produce-" + topic)
    c = benchlib.Child("produce", peers.java(
        ["produce", "--brokers", b.bootstrap, "--topic", topic,
         "--partitions", 1, "--records", records, "--keys",
         DISTS[dist]["keys"], "--key-dist", DISTS[dist]["dist"],
         "--seed", 21]), d)
    if c.wait(1800) != 0:
        raise benchlib.BenchError("Peers produce failed; see %s"
                                  % c.log_path)
    note("k1: produced %d records, keys %s, to %s" % (records, dist, topic))


def _sluice(run, b, topic, width, order, sz):
    import peers
    r = peers.sluice_drain_tracked(
        run, b, topic, width, "sleep",
        sched_args=["--order", order, "--job-records", sz["job"],
                    "--window", sz["window"]],
        worker_args=["--plugin-opt", "us_per_record=%d" % sz["us"]],
        workers_first=True, tag="k1-%s" % order)
    ev = benchlib.log_events(r["sched"].log_text(), "key order")
    r["gate"] = ev[-1][1] if ev else {}
    return r


def key_order(run, sz):
    import peers
    us, per = sz["us"], sz["per_width"]
    cases = [(d, w) for d in sz["dists"] for w in
             (sz["one_key_widths"] if d == "one key" else sz["widths"])]
    topics = {(d, w): run.unique("k1-%s-w%d" % (d.replace(" ", ""), w))
              for d, w in cases}
    # --order partition runs one job at a time whatever the width: its
    # rate is measured on a topic of `per` records (one unit of width).
    part_topics = {d: run.unique("k1-%s-part" % d.replace(" ", ""))
                   for d in sz["dists"]}
    res = {}
    with run.broker.topics(dict({t: 1 for t in topics.values()},
                                **{t: 1 for t in part_topics.values()})) as b:
        for (d, w), t in topics.items():
            _produce(run, b, t, per * w, d)
        for d, t in part_topics.items():
            _produce(run, b, t, per, d)
        for i in range(run.rounds):
            for (d, w), t in topics.items():
                note("k1: round %d/%d: keys %s, width %d: sluice key, "
                     "none, partition, pc-key" % (i + 1, run.rounds, d, w))
                out = {"key": _sluice(run, b, t, w, "key", sz),
                       "none": _sluice(run, b, t, w, "none", sz),
                       "partition": _sluice(run, b, part_topics[d], w,
                                            "partition", sz),
                       "pc-key": peers.peer_run(run, b, "pc-key", t, w, us,
                                                per * w)}
                res.setdefault((d, w), []).append(out)
    rows = []
    for (d, w), outs in res.items():
        recs = per * w
        n = {"key": recs, "none": recs, "partition": per, "pc-key": recs}
        series = {}
        for s in SYSTEMS:
            series["%s_rps" % s] = [n[s] / o[s]["steady_s"] for o in outs]
            series["%s_cpu_s_per_M" % s] = [per_million(o[s]["cpu_s"], n[s])
                                            for o in outs]
        for s in ("none", "partition", "pc-key"):
            series["ratio_%s" % s] = peers._ratios(series["key_rps"],
                                                   series["%s_rps" % s])
        for s in ("key", "none"):
            series["%s_sched_us_per_job" % s] = [
                o[s]["sched_cpu_s"] * 1e6 / o[s]["jobs"]
                if o[s]["jobs"] else None for o in outs]
        series["gate_peak_hashes"] = [int(o["key"]["gate"].get("held_peak", 0))
                                      for o in outs]
        series["gates_held_share"] = [
            int(o["key"]["gate"].get("gates_held", 0)) /
            max(1, int(o["key"]["gate"].get("gates", 0))) for o in outs]
        rows.append(peers._row({"keys": d, "width": w, "records": recs,
                                "us_per_record": us}, **series))
    return {"figure": "k1", "title": "key order: one partition, 1 ms per "
            "record, --order key vs unordered vs --order partition vs "
            "Parallel Consumer KEY",
            "target": "key / unordered >= 0.8 at 16 workers, 10,000 "
            "uniform keys; key / pc-key >= 1.0; one key: key / partition "
            ">= 1.0 (as fast)",
            "rows": rows,
            "notes": ["one partition; %d records per unit of width, keys "
                      "k0..k9999 drawn uniformly or by Zipf's law (s=1; "
                      "seed 21), or one key, by the peers' Java producer"
                      % per,
                      "sluice: scheduler --job-records %d --window %d, "
                      "width = sluice-worker processes (--credits 2), "
                      "sleep plugin us_per_record=%d, workers started "
                      "first; rate = first job begun to drain complete"
                      % (sz["job"], sz["window"], us),
                      "--order partition (one job at a time: its rate does "
                      "not depend on the width) drains a topic of %d "
                      "records of the same keys" % per,
                      "pc-key: one JVM, Parallel Consumer 0.5.3.3 KEY, "
                      "maxConcurrency = width, sleep %d us per record"
                      % us,
                      "scheduler us/job: its CPU over the drain's jobs; "
                      "gate peak: the most key hashes a partition's gate "
                      "held (10 bytes each, plus 64 per range)",
                      "held: share of GATEs that held some keys back"]}


_f = benchlib.fmt_value
_s = benchlib.fmt_series


def _med(x):
    return x and x.get("summary") and x["summary"]["median"]


def headline(fig):
    rows = fig.get("rows", [])
    target = [r for r in rows if r["config"]["keys"] == "uniform" and
              r["config"]["width"] == 16]
    one = [r for r in rows if r["config"]["keys"] == "one key"]
    parts = []
    ok = True
    for r in target:
        v = _med(r["ratio_none"])
        p = _med(r["ratio_pc-key"])
        parts.append("uniform w16: key / unordered %s, key / pc-key %s"
                     % (_f(v, "ratio"), _f(p, "ratio")))
        ok = ok and v is not None and v >= 0.8 and p is not None and p >= 1.0
    for r in one:
        v = _med(r["ratio_partition"])
        parts.append("one key w%d: key / partition %s"
                     % (r["config"]["width"], _f(v, "ratio")))
        ok = ok and v is not None and v >= 0.95
    return "; ".join(parts) or "-", fig.get("target", ""), \
        ok if target else None


def table(fig):
    import peers
    rows = fig.get("rows", [])
    return peers._table(
        ["keys", "width", "records", "key rec/s", "unordered",
         "partition", "pc-key", "key / unordered", "key / partition",
         "key / pc-key", "CPU s/M key / unordered / pc-key",
         "scheduler us/job key / unordered", "gate peak hashes",
         "GATEs holding keys"],
        [[r["config"]["keys"], r["config"]["width"], r["config"]["records"],
          _s(r["key_rps"], "rate"), _s(r["none_rps"], "rate"),
          _s(r["partition_rps"], "rate"), _s(r["pc-key_rps"], "rate"),
          _s(r["ratio_none"], "ratio"), _s(r["ratio_partition"], "ratio"),
          _s(r["ratio_pc-key"], "ratio"),
          " / ".join(_f(_med(r["%s_cpu_s_per_M" % s]))
                     for s in ("key", "none", "pc-key")),
          "%s / %s" % (_f(_med(r["key_sched_us_per_job"])),
                       _f(_med(r["none_sched_us_per_job"]))),
          _f(_med(r["gate_peak_hashes"])),
          _f(_med(r["gates_held_share"]), "ratio")]
         for r in rows])
