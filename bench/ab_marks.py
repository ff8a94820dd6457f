#!/usr/bin/python3
"""ab_marks - what completion markers (--state-topic) and transactions
(workers' --exactly-once) cost a drain, on one real Kafka broker,
alternated round by round with the same drain without them (issue 22:
markers' cost in at-least-once mode, target <= 3 %; exactly-once /
at-least-once, target >= 0.8 at jobs of 10,000).

    bench/ab_marks.py [--copy] [--credits N] [--per-partition N] ROUNDS WORKERS JOB_RECORDS ...

Per job size: 4 partitions x N records (500,000) of 64 bytes, the noop
plugin, WORKERS workers; each round drains it three times with a new
group: plain, with --state-topic ("marked") and with --state-topic and
--exactly-once on both daemons ("eos"), the order reversed every other
round. --credits N gives every worker --credits N (default: theirs).
With --copy the plugin is copy (every record produced to an output
topic, so the transactions hold records) instead of noop. Prints each
round, then per job size the median steady rate of each, the ratios
marked / plain and eos / marked, the workers' CPU seconds and the
markers written (at-least-once: the workers' own count at exit).
"""
import os
import re
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import Run, note, produce, sluice_drain  # noqa: E402

PARTITIONS, PER_PARTITION = 4, 500000


def usage(why):
    sys.stderr.write("ab_marks: %s; usage: bench/ab_marks.py ROUNDS WORKERS "
                     "JOB_RECORDS [JOB_RECORDS ...] (--per-partition N first)\n" % why)
    sys.exit(2)


def markers(res):
    n = 0
    for w in res["workers"]:
        m = re.findall(r"completion markers written=(\d+)", w.log_text())
        n += int(m[-1]) if m else 0
    return n


def main():
    global PER_PARTITION
    copy = "--copy" in sys.argv
    if copy:
        sys.argv.remove("--copy")
    credits = []
    if "--credits" in sys.argv:
        i = sys.argv.index("--credits")
        if i + 1 >= len(sys.argv) or not sys.argv[i + 1].isdigit():
            usage("--credits takes a whole number")
        credits = ["--credits", sys.argv[i + 1]]
        del sys.argv[i:i + 2]
    if len(sys.argv) > 2 and sys.argv[1] == "--per-partition":
        try:
            PER_PARTITION = int(sys.argv[2])
        except ValueError:
            usage("--per-partition takes a whole number")
        del sys.argv[1:3]
    if len(sys.argv) < 4:
        usage("expected ROUNDS, WORKERS and at least one JOB_RECORDS")
    try:
        rounds, workers = int(sys.argv[1]), int(sys.argv[2])
        sizes = [int(a) for a in sys.argv[3:]]
    except ValueError:
        usage("every argument is a whole number")
    if rounds < 1 or workers < 1 or min(sizes) < 1:
        usage("every argument is at least 1")
    run = Run("kafka", rounds=rounds)
    run.broker.start()
    topic, state = run.unique("abmarks"), run.unique("abmarks-state")
    out = run.unique("abmarks-out")
    res = {}
    kinds = ["plain", "marked", "eos"]
    try:
        with run.broker.topics({topic: PARTITIONS, out: PARTITIONS}) as b:
            produce(run, b, topic, PARTITIONS, PER_PARTITION, 64, 1000,
                    timeout=3600)
            for size in sizes:
                for i in range(rounds):
                    for k in kinds if i % 2 == 0 else kinds[::-1]:
                        extra = (["--state-topic", state] if k != "plain"
                                 else []) + (["--exactly-once"] if k == "eos"
                                             else [])
                        wargs = (["--output-topic", out] if copy else []) + (
                            ["--exactly-once"] if k == "eos" else []) + credits
                        sl = sluice_drain(
                            run, b, topic, workers,
                            "copy" if copy else "noop",
                            sched_args=["--job-records", size] + extra,
                            worker_args=wargs, timeout=3600)
                        res.setdefault((size, k), []).append(
                            (sl["records"] / sl["steady_s"],
                             sl["worker_cpu_s"], markers(sl)))
                    note("jobs of %d, round %d: %s" % (size, i + 1, ", ".join(
                        "%s %.2fM/s %.2f CPU-s %d markers"
                        % (k, res[(size, k)][-1][0] / 1e6,
                           res[(size, k)][-1][1], res[(size, k)][-1][2])
                        for k in kinds)))
    finally:
        run.broker.stop()
    for size in sizes:
        plain, marked, eos = (res[(size, k)] for k in kinds)
        med = [statistics.median(x[0] for x in v) for v in (plain, marked, eos)]
        r1 = [m[0] / p[0] for p, m in zip(plain, marked)]
        r2 = [e[0] / m[0] for m, e in zip(marked, eos)]
        print("jobs of %-6d plain %.2fM/s  marked %.2fM/s  eos %.2fM/s  "
              "marked/plain %.3f [%.3f-%.3f]  eos/marked %.3f [%.3f-%.3f]  "
              "CPU-s %.3f / %.3f / %.3f  markers %d"
              % (size, med[0] / 1e6, med[1] / 1e6, med[2] / 1e6,
                 med[1] / med[0], min(r1), max(r1), med[2] / med[1], min(r2),
                 max(r2),
                 statistics.median(x[1] for x in plain),
                 statistics.median(x[1] for x in marked),
                 statistics.median(x[1] for x in eos),
                 statistics.median(x[2] for x in marked)))


if __name__ == "__main__":
    main()
