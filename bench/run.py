#!/usr/bin/python3
"""sluice's benchmark suite: every figure as a ratio to a baseline measured
in the same invocation. See bench/README.md.

    python3 bench/run.py                    # full run, embedded broker
    python3 bench/run.py --quick            # 1-2 minute smoke run
    python3 bench/run.py --broker kafka     # against a real Kafka broker
    python3 bench/run.py --big              # >= 10M records, real broker
    python3 bench/run.py --figures 1,2      # some figures only

Writes <out>/results.json (merged: one entry per run kind, "embedded",
"kafka", "big", so a later run of one kind keeps the others) and
<out>/results.md, the Markdown tables of every run kind present.
Environment: SLUICE_BUILD_DIR (default <repo>/build), BENCH_BROKERS
(with --broker kafka: use this cluster instead of starting one).
"""

import argparse
import datetime
import json
import os
import platform
import signal
import subprocess
import sys
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import benchlib  # noqa: E402
import fig8  # noqa: E402
import figures  # noqa: E402
import peers  # noqa: E402
from benchlib import BenchError, Run, note  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


# ------------------------------------------------------------- machine --

def _cmd(argv):
    try:
        return subprocess.run(argv, capture_output=True, text=True,
                              timeout=30).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return ""


def machine():
    """What the numbers were measured on."""
    model = ""
    for line in _cmd(["lscpu"]).splitlines():
        if line.startswith("Model name:"):
            model = line.split(":", 1)[1].strip()
    mem_kb = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    try:
        with open("/etc/debian_version") as f:
            debian = f.read().strip()
    except OSError:
        debian = ""
    try:
        import confluent_kafka
        rdk = confluent_kafka.libversion()[0]
        ck = confluent_kafka.version()[0]
    except ImportError:
        rdk = ck = ""
    git = _cmd(["git", "-C", benchlib.SOURCE, "rev-parse", "--short",
                "HEAD"])
    dirty = bool(_cmd(["git", "-C", benchlib.SOURCE, "status",
                       "--porcelain", "--untracked-files=no"]))
    return {"nproc": os.cpu_count(), "cpu_model": model,
            "ram_gib": round(mem_kb / 1048576.0, 1), "debian": debian,
            "kernel": platform.release(), "librdkafka": rdk,
            "librdkafka_build": _cmd(["pkg-config", "--modversion",
                                      "rdkafka"]),
            "confluent_kafka_python": ck, "python": platform.python_version(),
            "git": git + ("-dirty" if dirty else ""),
            "loadavg_at_start": os.getloadavg()}


# -------------------------------------------------------------- report --

_fmt = benchlib.fmt_value
_s = benchlib.fmt_series


def _scaled(series, k):
    """A series with every number multiplied by k."""
    s = dict(series.get("summary") or {})
    for key in ("median", "min", "max"):
        if s.get(key) is not None:
            s[key] = s[key] * k
    return {"summary": s or None}


def _med(series):
    return (series or {}).get("summary", {}) and \
        series["summary"]["median"]


def _headline(fig):
    """(measured text, target, met?) for the summary table."""
    f, rows = fig["figure"], fig.get("rows", [])
    if str(f).startswith("p") or f == "k1":
        return peers.headline(fig)
    if not rows:
        return "-", fig.get("target", ""), None
    if f == 1:
        parts = ["credits %d: %s" % (r["config"]["credits"],
                                     _s(r["ratio"], "ratio")) for r in rows]
        ok = all(_med(r["ratio"]) >= 0.5 for r in rows)
        return "; ".join(parts), ">= 0.5", ok
    if f in (2, "big"):
        sel = [r for r in rows if r["config"].get("job_spans_batches",
                                                  10) >= 10] or rows
        worst_w = min(sel, key=lambda r: _med(r["ratio_wall"]))
        worst_s = min(sel, key=lambda r: _med(r["ratio_steady"]))
        txt = ("worst median over %d configs with job >= 10 batches: "
               "wall %s (w=%d job=%d batch=%d), steady %s (w=%d job=%d "
               "batch=%d)" % (len(sel), _fmt(_med(worst_w["ratio_wall"]),
                                             "ratio"),
                              worst_w["config"]["workers"],
                              worst_w["config"]["job_records"],
                              worst_w["config"]["producer_batch"],
                              _fmt(_med(worst_s["ratio_steady"]), "ratio"),
                              worst_s["config"]["workers"],
                              worst_s["config"]["job_records"],
                              worst_s["config"]["producer_batch"]))
        # Judged on wall time, except on the embedded broker, whose
        # consumer-group join alone takes 3 s (librdkafka 2.0.2's mock has
        # a fixed initial rebalance delay) against drains of a fraction of
        # a second: there the steady state is what can be compared.
        judge = fig.get("judge", "ratio_wall")
        worst = worst_s if judge == "ratio_steady" else worst_w
        txt += "; judged on %s" % ("steady" if judge == "ratio_steady"
                                   else "wall")
        return txt, ">= 0.8", _med(worst[judge]) >= 0.8
    if f == 3:
        worst_b = max(r["byte_amplification"] for r in rows)
        worst_r = max(r["record_amplification"] for r in rows)
        return ("worst: bytes %.2f, records %.2f" % (worst_b, worst_r),
                "<= 1.1", max(worst_b, worst_r) <= 1.1)
    if f == 4:
        worst = min(rows, key=lambda r: _med(r["ratio_steady"]))
        txt = "worst median %s at %d workers (wall %s)" % (
            _fmt(_med(worst["ratio_steady"]), "ratio"),
            worst["config"]["workers"],
            _fmt(_med(worst["ratio_wall"]), "ratio"))
        return txt, ">= 0.9", _med(worst["ratio_steady"]) >= 0.9
    if f == 5:
        parts, ok = [], True
        for r in rows:
            parts.append("interval %d ms: p50 %s ms, p99 %s ms (ratio %s)"
                         % (r["config"]["commit_interval_ms"],
                            _fmt(r["lag_ms"]["p50"]), _fmt(r["lag_ms"]["p99"]),
                            _fmt(r["ratio_p99"], "ratio")))
            ok = ok and r["ratio_p99"] is not None and r["ratio_p99"] <= 1
        return "; ".join(parts), "<= interval + RTT", ok
    if f == 6:
        r = rows[0]
        wr = fig.get("worker_rows", [])
        worst = max((_med(x["ratio_to_bound"]) for x in wr), default=None)
        txt = ("%s B/job; %s MB with %d partitions x %d jobs; worker peak "
               "/ bound worst %s" % (
                   _fmt(r["bytes_per_job"]),
                   _fmt(r["sched_rss_full_kb"] / 1024.0),
                   r["config"]["partitions"], r["config"]["window"],
                   _fmt(worst, "ratio")))
        ok = (r["bytes_per_job"] is not None and r["bytes_per_job"] <= 200
              and r["sched_rss_full_kb"] <= 64 * 1024 and
              (worst is None or worst <= 1))
        return txt, "<= 200 B/job; <= 64 MB; <= 2 x job + 16 MB", ok
    if f == 7:
        p99 = [r["sluice"].get("p99_ms") for r in rows
               if r["sluice"].get("p99_ms") is not None]
        base = [r["baseline"].get("p99_ms") for r in rows
                if r["baseline"].get("p99_ms") is not None]
        if not p99:
            return "no output records", "p99 <= 100 ms", False
        txt = "p99 %s ms (plain consumer %s ms)" % (
            "/".join(_fmt(x) for x in p99), "/".join(_fmt(x) for x in base))
        return txt, "p99 <= 100 ms", max(p99) <= 100
    if f == 8:
        return fig8.headline(fig)
    return "-", fig.get("target", ""), None


def _table(head, rows):
    out = ["| " + " | ".join(head) + " |",
           "|" + "|".join("---" for _ in head) + "|"]
    for r in rows:
        out.append("| " + " | ".join(str(x) for x in r) + " |")
    return out


def _fig_table(fig):
    f, rows = fig["figure"], fig.get("rows", [])
    if str(f).startswith("p") or f == "k1":
        return peers.table(fig)
    if f == 1:
        return _table(
            ["workers x credits", "jobs", "sluice jobs/s", "echo msgs/s",
             "ratio", "jobs per frame", "unbatched: jobs/s, ratio",
             "CPU s/M jobs: scheduler+workers (scheduler)",
             "CPU s/M msgs: echo (router)"],
            [["%d x %d" % (r["config"]["workers"], r["config"]["credits"]),
              r["config"]["jobs"], _s(r["sluice_jobs_per_s"], "rate"),
              _s(r["echo_msgs_per_s"], "rate"), _s(r["ratio"], "ratio"),
              _s(r["jobs_per_frame"], "ratio") if "jobs_per_frame" in r
              else "-",
              ("%s, %s" % (_s(r["unbatched_jobs_per_s"], "rate"),
                           _s(r["unbatched_ratio"], "ratio"))
               if "unbatched_ratio" in r else "-"),
              "%s (%s)" % (_s(r["sluice_cpu_s_per_M"]),
                           _s(r["sched_cpu_s_per_M"])),
              "%s (%s)" % (_s(r["echo_cpu_s_per_M"]),
                           _s(r["echo_router_cpu_s_per_M"]))] for r in rows])
    if f in (2, "big"):
        return _table(
            ["workers", "job", "batch", "sluice rec/s wall", "consumers "
             "rec/s wall", "ratio wall", "sluice rec/s steady",
             "consumers rec/s steady", "ratio steady", "join s",
             "slowest first job ms",
             "CPU s/M: sluice (its workers) / consumers",
             "broker CPU s/M: sluice / consumers"],
            [[r["config"]["workers"], r["config"]["job_records"],
              r["config"]["producer_batch"], _s(r["sluice_rps_wall"], "rate"),
              _s(r["base_rps_wall"], "rate"), _s(r["ratio_wall"], "ratio"),
              _s(r["sluice_rps_steady"], "rate"),
              _s(r["base_rps_steady"], "rate"),
              _s(r["ratio_steady"], "ratio"), _s(r.get("sluice_join_s")),
              _s(r.get("sluice_first_job_ms"), "int"),
              "%s (%s) / %s" % (_s(r["sluice_cpu_s_per_M"]),
                                _s(r.get("sluice_worker_cpu_s_per_M")),
                                _s(r["base_cpu_s_per_M"])),
              "%s / %s" % (_s(r["sluice_broker_cpu_s_per_M"]),
                           _s(r["base_broker_cpu_s_per_M"]))]
             for r in rows])
    if f == 3:
        return _table(
            ["workers", "job", "batch", "records in jobs", "records "
             "fetched", "record ampl.",
             "bytes fetched", "one consumer's bytes", "byte ampl."],
            [[r["config"]["workers"], r["config"]["job_records"],
              r["config"]["producer_batch"], r["config"]["records"],
              r["records_fetched"],
              _fmt(r["record_amplification"], "ratio"), r["bytes_fetched"],
              r["baseline_bytes_fetched"],
              _fmt(r["byte_amplification"], "ratio")] for r in rows])
    if f == 4:
        return _table(
            ["workers", "records", "sluice rec/s steady", "member rec/s "
             "steady", "ratio steady", "sluice rec/s wall", "member rec/s "
             "wall", "ratio wall", "slowest first job ms",
             "CPU s/M: sluice / member"],
            [[r["config"]["workers"], r["config"]["records"],
              _s(r["sluice_rps_steady"], "rate"),
              _s(r["member_rps_steady"], "rate"),
              _s(r["ratio_steady"], "ratio"),
              _s(r["sluice_rps_wall"], "rate"),
              _s(r["member_rps_wall"], "rate"), _s(r["ratio_wall"], "ratio"),
              _s(r.get("sluice_first_job_ms"), "int"),
              "%s / %s" % (_s(r["sluice_cpu_s_per_M"]),
                           _s(r["member_cpu_s_per_M"]))] for r in rows])
    if f == 5:
        return _table(
            ["commit interval ms", "gaps", "lag p50 ms", "lag p99 ms",
             "lag max ms", "OffsetFetch RTT p50 ms", "bound ms",
             "ratio p50", "ratio p99", "ratio max"],
            [[r["config"]["commit_interval_ms"], r["lag_ms"]["n"],
              _fmt(r["lag_ms"]["p50"]), _fmt(r["lag_ms"]["p99"]),
              _fmt(r["lag_ms"]["max"]),
              _fmt(r["offsetfetch_rtt_ms"]["p50"]), _fmt(r["bound_ms"]),
              _fmt(r["ratio_p50"], "ratio"), _fmt(r["ratio_p99"], "ratio"),
              _fmt(r["ratio_max"], "ratio")] for r in rows])
    if f == 6:
        out = _table(
            ["partitions x window", "member RSS MB", "scheduler RSS idle MB",
             "jobs in flight", "scheduler RSS MB", "bytes/job (slope)",
             "scheduler CPU share holding them"],
            [["%d x %d" % (r["config"]["partitions"], r["config"]["window"]),
              _fmt(r["member_rss_kb"] / 1024.0),
              _fmt(r["sched_rss_idle_kb"] / 1024.0), r["jobs_in_flight"],
              _fmt(r["sched_rss_full_kb"] / 1024.0),
              _fmt(r["bytes_per_job"]),
              "%.0f%%" % (100 * r["sched_cpu_share_holding"])]
             for r in rows])
        out += [""] + _table(
            ["job records", "job MB", "worker peak RSS MB",
             "of it private / files MB",
             "bound (2 x job + 16 MB) MB", "worker / bound",
             "one consumer's peak RSS MB", "worker / consumer"],
            [[r["config"]["job_records"],
              _fmt(r["config"]["job_bytes"] / 1048576.0),
              _s(_scaled(r.get("worker_peak_kb", {}), 1 / 1024.0)),
              "%s / %s" % (
                  _fmt(_med(_scaled(r.get("worker_private_kb", {}),
                                    1 / 1024.0))),
                  _fmt(_med(_scaled(r.get("worker_files_kb", {}),
                                    1 / 1024.0)))),
              _fmt(r["config"]["bound_kb"] / 1024.0),
              _s(r["ratio_to_bound"], "ratio"),
              _s(_scaled(r.get("consumer_peak_kb", {}), 1 / 1024.0)),
              _s(r["ratio_to_consumer"], "ratio")]
             for r in fig.get("worker_rows", [])])
        return out
    if f == 7:
        return _table(
            ["round", "records out/in", "sluice p50 ms", "sluice p90 ms",
             "sluice p99 ms", "sluice max ms", "plain consumer p50 ms",
             "plain consumer p99 ms", "p99 ratio"],
            [[r["config"]["round"], "%s/%s" % (r["sluice"].get("count"),
                                               r["baseline"].get("count")),
              _fmt(r["sluice"].get("p50_ms")),
              _fmt(r["sluice"].get("p90_ms")),
              _fmt(r["sluice"].get("p99_ms")),
              _fmt(r["sluice"].get("max_ms")),
              _fmt(r["baseline"].get("p50_ms")),
              _fmt(r["baseline"].get("p99_ms")),
              _fmt(r["ratio_p99"], "ratio")] for r in rows])
    if f == 8:
        return fig8.table(fig)
    return []


def markdown(results):
    """The Markdown report of every run kind in results."""
    out = ["# sluice benchmark results", "",
           "Generated by `bench/run.py` (see bench/README.md). Values are "
           "median [min-max] over the rounds of one invocation; ratios are "
           "taken per round, sluice / the baseline measured in the same "
           "round. CPU is user+system seconds per million records (jobs "
           "for figure 1) from getrusage of the processes.", ""]
    for kind in ("embedded", "kafka", "big", "peers", "peers-quick",
                 "smoke"):
        res = results.get("runs", {}).get(kind)
        if not res:
            continue
        m = res["machine"]
        out += ["## Run: %s" % kind, "",
                "%s; %d CPUs (%s), %.1f GiB RAM, Debian %s, kernel %s, "
                "librdkafka %s, git %s; mode %s, %d rounds, %.0f s."
                % (res["date"], m["nproc"], m["cpu_model"], m["ram_gib"],
                   m["debian"], m["kernel"], m["librdkafka"], m["git"],
                   res["mode"], res["rounds"], res["seconds"]), ""]
        for u in res.get("updates", []):
            out += ["Figures %s measured again %s at git %s (`%s`)."
                    % (", ".join(u["figures"]), u["date"], u["git"],
                       u["command"]), ""]
        out += ["Consumer settings, identical for baselines and workers: "
                + ", ".join("`%s=%s`" % kv for kv in
                            sorted(res["consumer_settings"].items()))
                + ". Broker: " + res["broker_note"], ""]
        head = ["figure", "measured", "target", "met"]
        rows = []
        for fig in res["figures"]:
            if "error" in fig:
                rows.append([fig["figure"], "failed: " + fig["error"],
                             "-", "-"])
                continue
            txt, target, ok = _headline(fig)
            rows.append([fig["figure"], txt, target,
                         "-" if ok is None else ("yes" if ok else "**no**")])
        out += _table(head, rows) + [""]
        for fig in res["figures"]:
            if "error" in fig:
                continue
            out += ["### Figure %s: %s" % (fig["figure"], fig["title"]), "",
                    "Target: %s. Measured %s." % (fig.get("target", "-"),
                                                  fig.get("measured", "-")),
                    ""]
            out += _fig_table(fig) + [""]
            out += ["- " + n for n in fig.get("notes", [])] + [""]
    return "\n".join(out) + "\n"


def _strip(obj):
    """results without what is not JSON (Child objects of the runs)."""
    def child(v):
        return isinstance(v, benchlib.Child) or (
            isinstance(v, list) and v and isinstance(v[0], benchlib.Child))
    if isinstance(obj, dict):
        return {k: _strip(v) for k, v in obj.items() if not child(v)}
    if isinstance(obj, list):
        return [_strip(x) for x in obj]
    return obj


def _merge(old, res):
    """A run of some figures only, merged into an earlier run of the same
    kind and mode: its figures replace theirs, the others stay (each
    figure carries the date it was measured)."""
    if not old or old.get("mode") != res["mode"]:
        return res
    merged = dict(old)
    ids = {str(f["figure"]) for f in res["figures"]}
    merged["figures"] = [f for f in old.get("figures", [])
                         if str(f["figure"]) not in ids] + res["figures"]
    merged["figures"].sort(key=lambda f: (str(f["figure"]) == "big",
                                          str(f["figure"])))
    merged["updates"] = [u for u in merged.get("updates", [])
                         if u.get("date") != res["date"]]
    merged["updates"].append(
        {"date": res["date"], "figures": sorted(ids), "command":
         res["command"], "git": res["machine"]["git"]})
    return merged


def write(out_dir, kind, res, subset=False):
    path = os.path.join(out_dir, "results.json")
    results = {"runs": {}}
    if os.path.exists(path):
        try:
            with open(path) as f:
                results = json.load(f)
        except ValueError:
            pass
    runs = results.setdefault("runs", {})
    new = _strip(res)
    runs[kind] = _merge(runs.get(kind), new) if subset else new
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(results, f, indent=1, sort_keys=True)
        f.write("\n")
    os.replace(tmp, path)
    md = os.path.join(out_dir, "results.md")
    with open(md + ".tmp", "w") as f:
        f.write(markdown(results))
    os.replace(md + ".tmp", md)
    return path, md


# ---------------------------------------------------------------- main --

def _fig23(run, sizes, want):
    """Figures 2 and 3 share their data (figure 3 alone still produces
    figure 2's topics and drains them once per configuration)."""
    f2 = dict(sizes["f2"])
    if not want("f2"):
        f2["jobs"], f2["workers"] = [], []
    fig2, fig3 = figures.fig2(run, f2, sizes.get("f3") if want("f3")
                              else None)
    return ([fig2] if want("f2") else []) + ([fig3] if fig3 else [])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--broker", choices=["embedded", "kafka"],
                    default=os.environ.get("BENCH_BROKER") or "embedded")
    ap.add_argument("--quick", action="store_true",
                    default=os.environ.get("BENCH_QUICK") not in
                    (None, "", "0"))
    ap.add_argument("--smoke", action="store_true",
                    help="figures 1 and 2 at tiny sizes, one round (ctest)")
    ap.add_argument("--big", action="store_true",
                    help=">= 10 million records on a real broker")
    ap.add_argument("--figures", default=os.environ.get("BENCH_FIGURES"),
                    help="comma-separated subset, e.g. 1,2,7")
    ap.add_argument("--rounds", type=int,
                    default=int(os.environ.get("BENCH_ROUNDS") or 0))
    ap.add_argument("--out", default=HERE)
    ap.add_argument("--keep", action="store_true",
                    help="keep the processes' logs")
    args = ap.parse_args()

    if args.big:
        args.broker = "kafka"
        mode, kind = "big", "big"
    elif args.smoke:
        mode, kind = "smoke", "smoke"
    else:
        mode = "quick" if args.quick else "full"
        kind = args.broker
    sizes = figures.SIZES[mode]
    rounds = args.rounds or {"smoke": 1, "quick": 2, "full": 3,
                             "big": 3}[mode]
    run = Run(args.broker, quick=args.quick, smoke=args.smoke,
              rounds=rounds)
    chosen = None
    if args.figures:
        chosen = {x.strip() for x in args.figures.split(",")}

    def want(name):
        return name in sizes and (chosen is None or name[1:] in chosen)

    def on_signal(signo, frame):
        benchlib.stop_all(2)
        run.broker.stop()
        sys.exit(128 + signo)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    os.makedirs(args.out, exist_ok=True)
    t0 = time.monotonic()
    res = {"date": datetime.datetime.now(datetime.timezone.utc)
           .strftime("%Y-%m-%d %H:%M UTC"), "mode": mode, "rounds": rounds,
           "broker": args.broker, "machine": machine(),
           "consumer_settings": dict(run.consumer_props),
           "command": " ".join(sys.argv), "figures": []}
    res["broker_note"] = (
        "`sluice kafka` (librdkafka %s mock cluster: one thread serves every "
        "partition, about 5 MiB kept per partition; topics sized to fit)"
        % res["machine"]["librdkafka"] if args.broker == "embedded" else
        "one real Apache Kafka broker (KRaft, tests/kafka/kafka.sh, "
        "group.initial.rebalance.delay.ms=0)")
    failed = False
    try:
        benchlib.snapshot(run.logdir)
        run.broker.start()
        steps = [("f1", lambda: [figures.fig1(run, sizes["f1"])]),
                 ("f2", lambda: _fig23(run, sizes, want)),
                 ("f4", lambda: [figures.fig4(run, sizes["f4"])]),
                 ("f5", lambda: [figures.fig5(run, sizes["f5"])]),
                 ("f6", lambda: [figures.fig6(run, sizes["f6"])]),
                 ("f7", lambda: [figures.fig7(run, sizes["f7"])]),
                 ("f8", lambda: [fig8.fig8(run, sizes["f8"])]),
                 ("big", lambda: [figures.big(run, sizes["big"])])]
        for name, step in steps:
            if not (want(name) or (name == "f2" and want("f3"))):
                continue
            try:
                for fig in step():
                    fig["measured"] = time.strftime("%Y-%m-%d %H:%M UTC",
                                                    time.gmtime())
                    res["figures"].append(fig)
            except BenchError as e:
                failed = True
                note("%s failed: %s" % (name, e))
                res["figures"].append({"figure": name[1:], "error": str(e)})
            except Exception as e:  # keep what was measured so far
                failed = True
                traceback.print_exc()
                res["figures"].append({"figure": name[1:],
                                       "error": "%s: %s" % (type(e).__name__,
                                                            e)})
            res["seconds"] = time.monotonic() - t0
            write(args.out, kind, res, subset=chosen is not None)
    finally:
        benchlib.stop_all(5)
        run.broker.stop()
        run.cleanup(args.keep or failed)
    res["seconds"] = time.monotonic() - t0
    path, md = write(args.out, kind, res, subset=chosen is not None)
    with open(md) as f:
        text = f.read()
    sys.stdout.write(text)
    note("wrote %s and %s in %.0f s" % (path, md, res["seconds"]))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
