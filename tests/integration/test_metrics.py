"""The scheduler's --metrics-addr serves /metrics, /healthz and /readyz.

/readyz is 503 before the group assigns partitions and 200 after; /healthz
is 200 while the loop turns; /metrics passes `promtool check metrics` and
its values match Kafka: per partition the committed offset and high
watermark equal what the broker reports and lag = high watermark -
committed, and the job and record counters add up after a drain step."""
import re
import shutil
import subprocess
import urllib.error
import urllib.request

from harness import (Broker, committed, expect, high_watermarks, main,
                     produce, start_scheduler, start_worker, test, unique,
                     wait_for)

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


def metrics_port(proc):
    line = wait_for(lambda: next((l for l in proc.log_lines()
                                  if "metrics listening" in l), None),
                    30, "%s logs its metrics port" % proc.name)
    return int(re.search(r"port=(\d+)", line).group(1))


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
        promtool_check(wpage)
        worker.stop(20)
        sched.stop(20)


if __name__ == "__main__":
    main()
