#!/usr/bin/python3
"""ab_fig1 - figure 1 for two builds, alternated on one real Kafka broker.

    BENCH_BROKERS=host:port bench/ab_fig1.py ROUNDS A_BUILD B_BUILD [CREDITS..]

Per round and per credit setting (default 2 and 16), each build in turn,
the order alternating round by round: the echo baseline, then the
scheduler and its null workers, with figure 1's own functions
(figures._echo, figures._null_drain) at full sizes. Without BENCH_BROKERS
it starts a broker (tests/kafka/kafka.sh). A_BUILD and B_BUILD are CMake
build directories (their bin/, plugins/ and bench/ are copied first).
Prints, per build and credit setting, the ratio's median, min and max and
the per-round ratios, and the CPU-µs per message of the scheduler, of all
sluice processes, of the echo's router and of all echo processes; then the
same as JSON. Used for the dispatch A/B in docs/PERFORMANCE.md ("Dispatch
(1)").
"""
import json
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402
import figures  # noqa: E402
from benchlib import Run, note, produce, summary  # noqa: E402

rounds = int(sys.argv[1])
builds = {"A": sys.argv[2], "B": sys.argv[3]}
credits_list = [int(x) for x in sys.argv[4:]] or [2, 16]
run = Run("kafka", rounds=rounds)
run.broker.start()
# Snapshot each build (the tree may be rebuilt meanwhile).
snap = {}
for k, b in builds.items():
    dst = os.path.join(run.logdir, "build-" + k)
    for sub in ("bin", "plugins", "bench"):
        os.makedirs(os.path.join(dst, sub), exist_ok=True)
        for n in os.listdir(os.path.join(b, sub)):
            p = os.path.join(b, sub, n)
            if os.path.isfile(p):
                shutil.copy2(p, os.path.join(dst, sub))
    snap[k] = dst


def use(k):
    benchlib.BIN = os.path.join(snap[k], "bin")
    benchlib.PLUGINS = os.path.join(snap[k], "plugins")
    benchlib.BENCH_BIN = os.path.join(snap[k], "bench")


sz = figures.SIZES["full"]["f1"]
p, r, job, w = sz["partitions"], sz["records"], sz["job"], sz["workers"]
topic = run.unique("f1ab")
jobs = p * r // job
res = {}
use("A")
with run.broker.topics({topic: p}) as b:
    produce(run, b, topic, p, r, 8, 10000)
    for i in range(rounds):
        order = ["A", "B"] if i % 2 == 0 else ["B", "A"]
        for credits in credits_list:
            for k in order:
                use(k)
                e = figures._echo(run, w, credits, jobs)
                s = figures._null_drain(run, b, topic, w, credits, job)
                ratio = s["rate"] / e["rate"]
                res.setdefault((k, credits), []).append(
                    {"ratio": ratio, "sl": s["rate"], "echo": e["rate"],
                     "sched_us": s["sched_cpu_s"] * 1e6 / s["jobs"],
                     "all_us": s["cpu_s"] * 1e6 / s["jobs"],
                     "echo_router_us": e["router_cpu_s"] * 1e6 / e["messages"],
                     "echo_all_us": e["cpu_s"] * 1e6 / e["messages"]})
                note("round %d credits %d %s: ratio %.3f sluice %.0f echo "
                     "%.0f sched %.2f us/job all %.2f; echo router %.2f "
                     "all %.2f" % (i + 1, credits, k, ratio, s["rate"],
                                   e["rate"], res[(k, credits)][-1]["sched_us"],
                                   res[(k, credits)][-1]["all_us"],
                                   res[(k, credits)][-1]["echo_router_us"],
                                   res[(k, credits)][-1]["echo_all_us"]))
run.broker.stop()
out = {}
for (k, c), vals in sorted(res.items()):
    row = {f: summary([v[f] for v in vals]) for f in vals[0]}
    row["ratios"] = [round(v["ratio"], 3) for v in vals]
    out["%s credits=%d" % (k, c)] = row
    print("%s credits=%2d ratio med %.3f min %.3f max %.3f n=%d | %s | "
          "sched %.2f us/job, all %.2f; echo router %.2f all %.2f"
          % (k, c, row["ratio"]["median"], row["ratio"]["min"],
             row["ratio"]["max"], row["ratio"]["n"], row["ratios"],
             row["sched_us"]["median"], row["all_us"]["median"],
             row["echo_router_us"]["median"], row["echo_all_us"]["median"]))
print(json.dumps(out))
shutil.rmtree(run.logdir, ignore_errors=True)
