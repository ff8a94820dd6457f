"""The scheduler's --metrics-addr serves /metrics, /healthz and /readyz.

/readyz is 503 before the group assigns partitions and 200 after; /healthz
is 200 while the loop turns; /metrics passes `promtool check metrics` and
its values match Kafka: per partition the committed offset and high
watermark equal what the broker reports and lag = high watermark -
committed, and the job and record counters add up after a drain step.

The second test checks the worker's time and rate metrics and the
scheduler's histograms against what really happened: the worker's logs
(records per job), the sleep plugin's known cost per record (a lower bound
on plugin time), the wall clock (an upper bound on every time), and
counters of the same events on the other daemon. Both pages' metric
families must be exactly those docs/OPERATIONS.md lists."""
import os
import re
import shutil
import subprocess
import time
import urllib.error
import urllib.request

from harness import (SOURCE, Broker, committed, expect, high_watermarks,
                     log_events, log_note, main, metrics_port, produce,
                     start_scheduler,
                     start_worker, test, test_dir, unique, wait_for)

PARTITIONS = 2
PER_PARTITION = 3000


def get(port, path):
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path),
                                    timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def samples(text):
    """{(name, frozenset(labels)): value} of a Prometheus text page."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r'([a-z_:]+)(\{([^}]*)\})? (\S+)$', line)
        expect(m, "every sample line parses", line)
        labels = frozenset(re.findall(r'(\w+)="([^"]*)"', m.group(3) or ""))
        out[(m.group(1), labels)] = float(m.group(4))
    return out


def promtool_check(page):
    promtool = shutil.which("promtool")
    expect(promtool, "promtool is installed (Debian's prometheus)")
    p = subprocess.run([promtool, "check", "metrics"], input=page.encode(),
                       capture_output=True, timeout=30)
    expect(p.returncode == 0, "promtool check metrics passes",
           (p.stdout + p.stderr).decode())


@test
def metrics_health_and_readiness_match_reality():
    src, group = unique("in"), unique("g")
    with Broker(topics={src: PARTITIONS, src + ".dlq": 1}) as kafka:
        produce(kafka, src, ((str(i), str(i), i % PARTITIONS)
                             for i in range(PARTITIONS * PER_PARTITION)))
        hwm = high_watermarks(kafka, src)
        sched = start_scheduler(kafka, src, group, drain=False, args=[
            "--metrics-addr", "127.0.0.1:0", "--commit-interval-ms", "100"])
        port = metrics_port(sched)
        expect(get(port, "/healthz")[0] == 200, "/healthz is 200")
        expect(get(port, "/nope")[0] == 404, "an unknown path is 404")
        wait_for(lambda: get(port, "/readyz")[0] == 200, 30,
                 "/readyz turns 200 once partitions are assigned")

        worker = start_worker(kafka, sched.endpoint, "noop",
                              args=["--metrics-addr", "127.0.0.1:0"])

        def drained():
            page = get(port, "/metrics")[1]
            s = samples(page)
            lags = [v for (n, _), v in s.items()
                    if n == "sluice_partition_lag_records"]
            done = (len(lags) == PARTITIONS and all(v == 0 for v in lags)
                    and committed(kafka, group, src) == hwm)
            return done and (page, s)
        page, s = wait_for(drained, 90, "metrics show lag 0 everywhere and "
                           "the group is committed to the end")
        for p in range(PARTITIONS):
            key = frozenset({("topic", src), ("partition", str(p))})
            expect(s[("sluice_partition_high_watermark", key)] == hwm[p],
                   "high watermark matches Kafka", (p, hwm[p]))
            expect(s[("sluice_partition_committed_offset", key)] == hwm[p],
                   "committed offset matches Kafka's committed offset")
        total = PARTITIONS * PER_PARTITION
        expect(s[("sluice_records_done_total", frozenset())] == total,
               "records done counts every offset once")
        expect(s[("sluice_records_processed_total", frozenset())] == total,
               "records processed adds up")
        expect(s[("sluice_workers_connected", frozenset())] == 1,
               "one worker connected")
        expect(s[("sluice_scheduler_fetched_records_total", frozenset())]
               == 0, "the scheduler fetched no records")
        jobs = s[("sluice_jobs_total", frozenset({("outcome", "done")}))]
        expect(jobs == s[("sluice_job_duration_seconds_count", frozenset())]
               and jobs >= total / 1000, "jobs done = histogram count")

        promtool_check(page)

        # The worker's endpoint: ready while connected, counters add up.
        wport = metrics_port(worker)
        expect(get(wport, "/healthz")[0] == 200, "worker /healthz is 200")
        wait_for(lambda: get(wport, "/readyz")[0] == 200, 10,
                 "worker /readyz turns 200 (a snapshot every 500 ms)")
        # The page is a snapshot refreshed every 500 ms: wait for it.
        def worker_counted():
            page = get(wport, "/metrics")[1]
            got = samples(page)
            key = ("sluice_worker_records_processed_total", frozenset())
            return got.get(key) == total and (page, got)
        wpage, ws = wait_for(worker_counted, 10, "the worker's metrics count "
                             "every record it processed")
        expect(ws[("sluice_worker_schedulers_connected", frozenset())] == 1,
               "the worker is connected to one scheduler")
        # What the consumer fetched comes from librdkafka's statistics
        # (a report a second): at least every record processed.
        def worker_fetched():
            got = samples(get(wport, "/metrics")[1])
            key = ("sluice_worker_fetched_records_total", frozenset())
            return got.get(key, 0) >= total and got
        ws = wait_for(worker_fetched, 10, "the worker's fetched-records "
                      "metric covers every record it processed")
        expect(ws[("sluice_worker_fetched_bytes_total", frozenset())] > 0,
               "the worker counts the bytes it fetched")
        promtool_check(wpage)
        worker.stop(20)
        sched.stop(20)


def value(s, name, **labels):
    """The sample `name{labels}`; fails if the page does not have it."""
    key = (name, frozenset((k, str(v)) for k, v in labels.items()))
    expect(key in s, "the page has %s%s" % (name, labels or ""))
    return s[key]


def histogram(s, name):
    """[(le, count)] of a histogram, +Inf last, after checking its shape:
    cumulative buckets, +Inf = _count, and a _sum."""
    buckets = sorted(
        (float(dict(labels)["le"]), v) for (n, labels), v in s.items()
        if n == name + "_bucket")
    expect(buckets and buckets[-1][0] == float("inf"),
           "%s has a +Inf bucket" % name, buckets)
    counts = [v for _, v in buckets]
    expect(counts == sorted(counts), "%s buckets are cumulative" % name,
           buckets)
    expect(counts[-1] == value(s, name + "_count"),
           "%s: +Inf bucket = _count" % name, buckets)
    value(s, name + "_sum")
    return buckets


def families(page):
    """{name: type} of the metric families a page declares."""
    return dict(re.findall(r"^# TYPE (\S+) (\S+)$", page, re.M))


def documented_families():
    """{name: type} of the metrics docs/OPERATIONS.md lists in its tables
    (rows "| `name` | type | ...")."""
    with open(os.path.join(SOURCE, "docs", "OPERATIONS.md")) as f:
        text = f.read()
    return dict(re.findall(r"^\| `(sluice_[a-z_]+)` \| (counter|gauge|"
                           r"histogram) \|", text, re.M))


US_PER_RECORD = 300


@test
def worker_times_rates_and_histograms_match_reality():
    src, group = unique("in"), unique("g")
    total = PARTITIONS * 1500
    with Broker(topics={src: PARTITIONS, src + ".dlq": 1}) as kafka:
        produce(kafka, src, ((str(i), str(i), i % PARTITIONS)
                             for i in range(total)))
        hwm = high_watermarks(kafka, src)
        sched = start_scheduler(kafka, src, group, drain=False, args=[
            "--metrics-addr", "127.0.0.1:0", "--commit-interval-ms", "100",
            "--job-records", "250"])
        port = metrics_port(sched)
        wait_for(lambda: get(port, "/readyz")[0] == 200, 30,
                 "/readyz turns 200 once partitions are assigned")
        started = time.monotonic()
        worker = start_worker(kafka, sched.endpoint, "sleep", plugin_opts={
            "us_per_record": US_PER_RECORD},
            args=["--metrics-addr", "127.0.0.1:0"])
        wport = metrics_port(worker)

        def drained():
            page = get(port, "/metrics")[1]
            s = samples(page)
            done = (s.get(("sluice_records_done_total", frozenset()))
                    == total and committed(kafka, group, src) == hwm)
            return done and (page, s)
        wait_for(drained, 90, "the scheduler counts every record done and "
                 "the group is committed to the end")

        def worker_counted():
            page = get(wport, "/metrics")[1]
            s = samples(page)
            key = ("sluice_worker_records_processed_total", frozenset())
            return s.get(key) == total and (page, s)
        wpage, ws = wait_for(worker_counted, 10, "the worker's page counts "
                             "every record")
        wall = time.monotonic() - started

        # The worker: its counters are its logs' sums.
        jobs = log_events(worker, "job done")
        logged = sum(int(e["records"]) for e in jobs)
        expect(logged == total, "the worker's logs account for every record",
               (logged, total))
        expect(value(ws, "sluice_worker_records_processed_total") == logged,
               "records processed = the sum of its `job done records=N`")
        expect(value(ws, "sluice_worker_jobs_total", outcome="done")
               == len(jobs), "jobs done = its `job done` lines")

        # Times: the sleep plugin waits US_PER_RECORD per record, inside
        # process(); nothing can take longer than the worker has run.
        plugin = value(ws, "sluice_worker_plugin_seconds_total")
        fetch = value(ws, "sluice_worker_fetch_seconds_total")
        flush = value(ws, "sluice_worker_flush_seconds_total")
        busy = value(ws, "sluice_worker_busy_seconds_total")
        floor = total * US_PER_RECORD / 1e6
        expect(floor <= plugin <= wall, "records x us_per_record <= plugin "
               "seconds <= wall time", (floor, plugin, wall))
        expect(0 <= fetch <= wall and 0 <= flush <= wall,
               "fetch and flush seconds are within the wall time",
               (fetch, flush, wall))
        # busy is counted in whole ms per job: allow that rounding.
        expect(plugin + fetch + flush <= busy + 0.001 * len(jobs) <= wall
               + 0.001 * len(jobs), "plugin + fetch + flush <= busy <= wall",
               (plugin, fetch, flush, busy, wall))

        # The rate: a serial plugin of US_PER_RECORD cannot beat 1e6/US;
        # while the window (10 s) still reaches back before the first job,
        # the rate is at least everything over the time the worker ran.
        rate = value(ws, "sluice_worker_records_per_second")
        expect(0 < rate <= 1e6 / US_PER_RECORD,
               "0 < records per second <= what the plugin allows",
               (rate, 1e6 / US_PER_RECORD))
        wall = time.monotonic() - started
        if wall < 9.5:
            expect(rate >= total / wall, "records per second >= records / "
                   "time since the worker started", (rate, total, wall))
        else:
            log_note("rate lower bound skipped: the drain took %.1fs" % wall)

        # The scheduler's histograms match its own counters.
        page, s = drained()
        done = value(s, "sluice_jobs_total", outcome="done")
        expect(done == len(jobs), "jobs done = the worker's `job done` lines",
               (done, len(jobs)))
        buckets = dict(histogram(s, "sluice_job_records"))
        expect(value(s, "sluice_job_records_count") == done,
               "job records histogram count = jobs done")
        expect(value(s, "sluice_job_records_sum")
               == value(s, "sluice_records_done_total") == total,
               "job records histogram sum = records done")
        expect(buckets[1000] == done and buckets[100] < done,
               "every job has at most --job-records 250 records, most more "
               "than 100", buckets)

        # One latency per commit request, once every answer is in.
        def commits_observed():
            s = samples(get(port, "/metrics")[1])
            n = value(s, "sluice_commit_latency_seconds_count")
            return n >= 1 and n == value(s, "sluice_commits_total") and s
        s = wait_for(commits_observed, 10, "one commit latency observed per "
                     "commit sent (sluice_commits_total)")
        histogram(s, "sluice_commit_latency_seconds")
        expect(0 < value(s, "sluice_commit_latency_seconds_sum")
               <= time.monotonic() - sched.started,
               "commit latencies add up to less than the scheduler's life")

        promtool_check(page)
        promtool_check(wpage)
        documented = documented_families()
        served = dict(families(page), **families(wpage))
        expect(served == documented, "docs/OPERATIONS.md lists exactly the "
               "metric families both daemons serve, with their types",
               "only served: %s; only documented: %s; type differs: %s" % (
                   sorted(set(served) - set(documented)),
                   sorted(set(documented) - set(served)),
                   sorted(n for n in served if n in documented
                          and served[n] != documented[n])))
        worker.stop(20)
        sched.stop(20)


def maps_http_server(proc):
    """True if the process, or one it runs (a supervised worker's child),
    maps the HTTP server's libraries."""
    found = False
    for pid in [proc.pid] + proc.descendants():
        with open("/proc/%d/maps" % pid) as f:
            maps = f.read()
        found |= "libmicrohttpd" in maps or "libgnutls" in maps
    return found


@test
def only_a_daemon_given_metrics_addr_loads_the_http_server():
    """libmicrohttpd's constructor brings in gnutls, ~1.8 MB of resident
    pages (figure 6 of docs/PERFORMANCE.md); a daemon loads it only when
    asked to serve HTTP, and then serves."""
    src, group = unique("in"), unique("g")
    with Broker(topics={src: 1}) as kafka:
        produce(kafka, src, ((str(i), str(i), 0) for i in range(100)))
        sched = start_scheduler(kafka, src, group, drain=False)
        plain = start_worker(kafka, sched.endpoint, "noop")
        wait_for(lambda: log_events(plain, "job done"), 30,
                 "the worker without --metrics-addr does a job")
        expect(not maps_http_server(sched) and not maps_http_server(plain),
               "neither daemon without --metrics-addr maps libmicrohttpd "
               "or gnutls")
        served = start_worker(kafka, sched.endpoint, "noop",
                              name="served", args=["--metrics-addr",
                                                   "127.0.0.1:0"])
        port = metrics_port(served)
        expect(get(port, "/healthz")[0] == 200,
               "the worker given --metrics-addr serves /healthz")
        expect(maps_http_server(served), "and it has loaded libmicrohttpd")
        served.stop(20)
        plain.stop(20)
        sched.stop(20)


@test
def alert_rules_in_the_operations_guide_are_valid():
    """docs/OPERATIONS.md's alert rules pass `promtool check rules` and
    name only metrics the daemons serve."""
    with open(os.path.join(SOURCE, "docs", "OPERATIONS.md")) as f:
        blocks = re.findall(r"```yaml\n(.*?)```", f.read(), re.S)
    expect(len(blocks) == 1, "the guide has one block of rules", len(blocks))
    promtool = shutil.which("promtool")
    expect(promtool, "promtool is installed (Debian's prometheus)")
    path = os.path.join(test_dir(), "rules.yml")
    with open(path, "w") as f:
        f.write(blocks[0])
    p = subprocess.run([promtool, "check", "rules", path],
                       capture_output=True, timeout=30)
    expect(p.returncode == 0, "promtool check rules passes",
           (p.stdout + p.stderr).decode())
    documented = documented_families()
    for name in set(re.findall(r"\b(sluice_[a-z_]+)", blocks[0])):
        base = re.sub(r"_(bucket|sum|count)$", "", name)
        expect(name in documented or documented.get(base) == "histogram",
               "an alert names a documented metric", name)


if __name__ == "__main__":
    main()
