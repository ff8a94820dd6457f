#!/usr/bin/python3
"""ab_drain - the 10 M no-op drain with worker variants, alternated on one
real Kafka broker.

    bench/ab_drain.py ROUNDS WORKERS NAME=SPEC [NAME=SPEC ...]

SPEC is the worker's extra arguments, space-separated, where an item
K=V with K in capitals is an environment variable instead ("" for the
defaults), e.g.

    bench/ab_drain.py 5 1 default= lanes4="--concurrency 4" \\
        arena1="MALLOC_ARENA_MAX=1"

Per round: N plain consumers (bench_consume, the big figure's baseline),
then sluice (scheduler --drain --job-records 10000 and N workers) with
each variant, the variants' order reversed every other round. Prints each
round, then per variant the median steady rate, the ratio to the
consumers' median, the workers' CPU seconds and the broker's CPU seconds
for the 10 M records (4 partitions x 2.5 M of 64 bytes, as `--big`).
Used for the 1-worker drain in docs/PERFORMANCE.md ("Where sluice is still
behind", 4).
"""
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import (Run, consumers_drain, note, produce,  # noqa: E402
                      sluice_drain)


def parse(spec):
    args, env = [], {}
    for item in spec.split():
        k, eq, v = item.partition("=")
        if eq and k.isupper():
            env[k] = v
        else:
            args.append(item)
    return args, env


def usage(why):
    sys.stderr.write("ab_drain: %s; usage: bench/ab_drain.py ROUNDS WORKERS "
                     "NAME=SPEC [NAME=SPEC ...]\n" % why)
    sys.exit(2)


def main():
    if len(sys.argv) < 4:
        usage("expected ROUNDS, WORKERS and at least one NAME=SPEC")
    try:
        rounds, n = int(sys.argv[1]), int(sys.argv[2])
    except ValueError:
        usage("ROUNDS and WORKERS are whole numbers")
    if rounds < 1 or n < 1:
        usage("ROUNDS and WORKERS are at least 1")
    variants = {}
    for a in sys.argv[3:]:
        name, eq, spec = a.partition("=")
        if not eq or not name or name == "consumers":
            usage("'%s' is not NAME=SPEC (NAME not 'consumers')" % a)
        variants[name] = parse(spec)
    run = Run("kafka", rounds=rounds)
    run.broker.start()
    p, r = 4, 2500000
    topic = run.unique("abdrain")
    res = {}
    try:
        with run.broker.topics({topic: p}) as b:
            produce(run, b, topic, p, r, 64, 1000, timeout=3600)
            for i in range(rounds):
                base = consumers_drain(run, b, topic, p, n, timeout=3600)
                res.setdefault("consumers", []).append(
                    (base["records"] / base["steady_s"], base["cpu_s"],
                     base["broker_cpu_s"]))
                names = list(variants)
                for k in names if i % 2 == 0 else names[::-1]:
                    args, env = variants[k]
                    sl = sluice_drain(run, b, topic, n, "noop",
                                      sched_args=["--job-records", 10000],
                                      worker_args=args,
                                      worker_env=env or None, timeout=3600)
                    res.setdefault(k, []).append(
                        (sl["records"] / sl["steady_s"], sl["worker_cpu_s"],
                         sl["broker_cpu_s"]))
                note("round %d: %s" % (i + 1, ", ".join(
                    "%s %.2fM/s %.2f CPU-s" % (k, v[-1][0] / 1e6, v[-1][1])
                    for k, v in res.items())))
    finally:
        run.broker.stop()
    base = statistics.median(x[0] for x in res["consumers"])
    for k, v in res.items():
        rate = statistics.median(x[0] for x in v)
        print("%-12s rate %.2fM/s  ratio %.3f  CPU-s %.3f  broker CPU-s "
              "%.2f" % (k, rate / 1e6, rate / base,
                        statistics.median(x[1] for x in v),
                        statistics.median(x[2] for x in v)))


if __name__ == "__main__":
    main()
