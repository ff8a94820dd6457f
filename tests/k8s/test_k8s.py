"""The chart on a real cluster (tests/k8s/run.sh runs this inside the
cluster's namespaces, with kubectl and helm on PATH and KUBECONFIG set).

Each test installs the chart from helm/sluice with the image built from the
Dockerfile, in a namespace of its own that enforces PodSecurity
`restricted`, against the real Kafka broker run.sh started on the node
address. Records are checked with an independent client
(python3-confluent-kafka) and Kafka's own kafka-consumer-groups.

Environment (set by run.sh): SLUICE_K8S_DIR (work directory),
SLUICE_K8S_BROKERS, SLUICE_IMAGE, SLUICE_BUILD_DIR, SLUICE_K8S_KEDA (KEDA's
binaries)."""
import collections
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "deploy"))
from deploytest import BUILD, SOURCE, TestFailure, expect, main, test  # noqa

import yaml  # noqa: E402
from confluent_kafka import (Consumer, KafkaError, KafkaException,  # noqa
                             Producer, TopicPartition)
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

W = os.environ["SLUICE_K8S_DIR"]
BROKERS = os.environ["SLUICE_K8S_BROKERS"]
IMAGE = os.environ.get("SLUICE_IMAGE", "localhost/sluice:0.1.0")
CHART = os.path.join(SOURCE, "helm", "sluice")
KAFKA_SH = os.path.join(SOURCE, "tests", "kafka", "kafka.sh")
SLUICE = os.path.join(BUILD, "bin", "sluice")
PODLOGS = os.path.join(W, "pods")
NODE_IP = "10.203.0.1"


# --- processes -------------------------------------------------------------

def run(argv, timeout=300, check=True, input=None):
    """Run a command; return its stdout. check: fail the test, with its
    stderr, when it exits non-zero."""
    p = subprocess.run([str(a) for a in argv], capture_output=True,
                       text=True, timeout=timeout, input=input)
    if check and p.returncode != 0:
        raise TestFailure("%s exited %d: %s" % (" ".join(map(str, argv[:4])),
                                                p.returncode,
                                                (p.stderr or p.stdout)[-1500:]))
    return p.stdout if check else p


def kubectl(*args, **kw):
    return run(["kubectl"] + list(args), **kw)


def kjson(*args):
    return json.loads(kubectl(*(list(args) + ["-o", "json"])))


def helm(*args, **kw):
    return run(["helm"] + list(args), **kw)


def wait_for(cond, timeout, what, interval=0.5):
    """Poll cond() until it returns a true value (which is returned)."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            last = cond()
        except (TestFailure, OSError):  # OSError: a pod not answering yet
            last = None
        if last:
            return last
        if time.monotonic() > deadline:
            raise TestFailure("%s: not within %d s" % (what, timeout))
        time.sleep(interval)


# --- namespaces, releases --------------------------------------------------

_namespaces = []


def namespace(name):
    """A fresh namespace that enforces PodSecurity `restricted`."""
    _namespaces.append(name)
    kubectl("delete", "namespace", name, "--ignore-not-found", "--wait=true",
            timeout=120)
    kubectl("create", "namespace", name)
    kubectl("label", "namespace", name,
            "pod-security.kubernetes.io/enforce=restricted",
            "pod-security.kubernetes.io/enforce-version=latest")
    return name


def save_logs(ns):
    """Every pod's log (and previous log) under W/pods/NS/, and the
    namespace's events; returns the tail of each for a failure message."""
    d = os.path.join(PODLOGS, ns)
    os.makedirs(d, exist_ok=True)
    tails = []
    pods = kjson("get", "pods", "-n", ns).get("items", [])
    for pod in pods:
        name = pod["metadata"]["name"]
        for prev in (False, True):
            p = kubectl("logs", "-n", ns, name, "--all-containers",
                        "--previous=%s" % str(prev).lower(), check=False)
            if p.returncode == 0 and p.stdout:
                fn = os.path.join(d, name + (".previous" if prev else "")
                                  + ".log")
                with open(fn, "w") as f:
                    f.write(p.stdout)
                if not prev:
                    tails.append("--- %s\n%s" % (name, "\n".join(
                        p.stdout.splitlines()[-6:])))
    ev = kubectl("get", "events", "-n", ns, "--sort-by=.lastTimestamp",
                 check=False)
    with open(os.path.join(d, "events.txt"), "w") as f:
        f.write(ev.stdout)
    return "\n".join(tails)


def values_file(name, values):
    path = os.path.join(W, "values-%s.yaml" % name)
    with open(path, "w") as f:
        yaml.safe_dump(values, f)
    return path


def base_values(topic, group, out, **extra):
    v = {
        "image": {"repository": IMAGE.rsplit(":", 1)[0],
                  "tag": IMAGE.rsplit(":", 1)[1], "pullPolicy": "Never"},
        "kafka": {"brokers": BROKERS, "topics": [topic], "group": group,
                  "outputTopic": out},
        "logging": {"format": "text"},
        # Two cores for everything: small requests.
        "scheduler": {"resources": {"requests": {"cpu": "50m",
                                                 "memory": "64Mi"}}},
        "worker": {"resources": {"requests": {"cpu": "50m",
                                              "memory": "64Mi"}}},
    }
    for k, sub in extra.items():
        if isinstance(sub, dict) and isinstance(v.get(k), dict):
            merged = dict(v[k])
            merged.update(sub)
            v[k] = merged
        else:
            v[k] = sub
    return v


def install(release, ns, values, extra=(), timeout="180s", upgrade=False):
    """helm install (or upgrade) --wait; returns seconds taken."""
    t0 = time.monotonic()
    try:
        helm("upgrade" if upgrade else "install", release, CHART, "-n", ns,
             "-f", values_file(release, values), "--wait",
             "--timeout", timeout, *extra, timeout=600)
    except TestFailure as e:
        raise TestFailure("%s\npods:\n%s\n%s" % (
            e, kubectl("get", "pods", "-n", ns, "-o", "wide", check=False)
            .stdout, save_logs(ns)))
    return time.monotonic() - t0


def uninstall_leaves_nothing(release, ns):
    """helm uninstall, then nothing of the release is left: no object
    with its instance label, no pod (all terminated), no release secret."""
    helm("uninstall", release, "-n", ns, "--wait", "--timeout", "120s")
    kinds = ("all,configmap,secret,serviceaccount,poddisruptionbudget,"
             "networkpolicy,horizontalpodautoscaler,endpointslice")

    def gone():
        left = kubectl("get", kinds, "-n", ns, "-l",
                       "app.kubernetes.io/instance=" + release,
                       "-o", "name").split()
        pods = kubectl("get", "pods", "-n", ns, "-o", "name").split()
        secrets = [s for s in kubectl("get", "secrets", "-n", ns, "-o",
                                      "name").split()
                   if "sh.helm.release" in s]
        return not (left or pods or secrets) or None
    wait_for(gone, 90, "everything of %s gone after helm uninstall" % release)


def pods(ns, component=None):
    sel = ["-l", "app.kubernetes.io/component=" + component] \
        if component else []
    return kjson("get", "pods", "-n", ns, *sel)["items"]


def ready(pod):
    return any(c["type"] == "Ready" and c["status"] == "True"
               for c in pod["status"].get("conditions", []))


def pod_metrics(pod, port=9400):
    """The pod's /metrics, read from its IP (the test runs on the node)."""
    import urllib.request
    ip = pod["status"]["podIP"]
    with urllib.request.urlopen("http://%s:%d/metrics" % (ip, port),
                                timeout=5) as r:
        text = r.read().decode()
    out = collections.defaultdict(float)
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        name_labels, _, value = line.rpartition(" ")
        name = name_labels.split("{", 1)[0]
        try:
            out[name] += float(value)
        except ValueError:
            pass
    return out


# --- Kafka (an independent client) -----------------------------------------

_admin = None


def admin():
    global _admin
    if _admin is None:
        _admin = AdminClient({"bootstrap.servers": BROKERS})
    return _admin


def create_topic(name, partitions):
    fut = admin().create_topics([NewTopic(name, partitions, 1)],
                                operation_timeout=30)[name]
    try:
        fut.result(60)
    except KafkaException as e:
        if e.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
            raise
    wait_for(lambda: len(admin().list_topics(name, timeout=10)
                         .topics[name].partitions) == partitions,
             60, "topic %s ready" % name, interval=0.2)


def produce_ids(topic, ids, prefix):
    """Produce one record per id (key and value "PREFIX-ID"), idempotently;
    every one acknowledged."""
    p = Producer({"bootstrap.servers": BROKERS, "enable.idempotence": True,
                  "linger.ms": 20, "batch.num.messages": 10000})
    failed = []

    def report(err, _msg):
        if err is not None:
            failed.append(err)
    for i in ids:
        v = ("%s-%d" % (prefix, i)).encode()
        while True:
            try:
                p.produce(topic, key=v, value=v, on_delivery=report)
                break
            except BufferError:
                p.poll(0.05)
    left = p.flush(120)
    expect(left == 0 and not failed, "every record acknowledged",
           (left, failed[:3]))


def read_values(topic, timeout=180):
    """Every value in the topic, from the beginning to the high
    watermarks seen now."""
    c = Consumer({"bootstrap.servers": BROKERS, "group.id": "k8s-read-%d"
                  % time.monotonic_ns(), "enable.auto.commit": False,
                  "enable.partition.eof": True})
    try:
        md = c.list_topics(topic, timeout=10).topics[topic]
        ends = {}
        for p in md.partitions:
            low, high = c.get_watermark_offsets(TopicPartition(topic, p),
                                                timeout=10)
            if high > low:
                ends[p] = high
        c.assign([TopicPartition(topic, p, 0) for p in ends])
        pos = {p: -1 for p in ends}
        out = []
        deadline = time.monotonic() + timeout
        while any(pos[p] + 1 < ends[p] for p in ends):
            expect(time.monotonic() < deadline, "read %s to its end" % topic)
            msgs = c.consume(10000, 0.5)
            for m in msgs:
                if m.error():
                    continue
                pos[m.partition()] = m.offset()
                if m.offset() < ends[m.partition()]:
                    out.append(m.value().decode())
        return out
    finally:
        c.close()


def group_lag(group, topic):
    """Records of topic not yet committed by group (a partition without a
    commit counts whole), and whether every partition has a commit."""
    c = Consumer({"bootstrap.servers": BROKERS, "group.id": group,
                  "enable.auto.commit": False})
    try:
        md = c.list_topics(topic, timeout=10).topics[topic]
        tps = [TopicPartition(topic, p) for p in md.partitions]
        committed = {tp.partition: tp.offset
                     for tp in c.committed(tps, timeout=10)}
        lag = 0
        for p in md.partitions:
            low, high = c.get_watermark_offsets(TopicPartition(topic, p),
                                                timeout=10)
            pos = committed[p] if committed[p] >= 0 else low
            lag += max(0, high - pos)
        return lag
    finally:
        c.close()


def consumer_groups_lag(group):
    """LAG per partition as kafka-consumer-groups --describe prints it."""
    out = run([KAFKA_SH, "consumer-groups", "--bootstrap-server", BROKERS,
               "--describe", "--group", group], timeout=120)
    lags = {}
    header = None
    for line in out.splitlines():
        cols = line.split()
        if "LAG" in cols and "PARTITION" in cols:
            header = cols
            continue
        if header and len(cols) >= len(header) - 3 and cols[0] == group:
            row = dict(zip(header, cols))
            lags[(row["TOPIC"], int(row["PARTITION"]))] = row["LAG"]
    expect(lags, "kafka-consumer-groups describes %s" % group, out)
    return lags


def check_every_id(out_topic, prefix, n):
    """Every id 0..n-1 is in out_topic; returns the duplicate count."""
    got = collections.Counter(v for v in read_values(out_topic)
                              if v.startswith(prefix + "-"))
    missing = [i for i in range(n) if got["%s-%d" % (prefix, i)] == 0]
    expect(not missing, "every id is in %s" % out_topic,
           "%d missing, e.g. %s" % (len(missing), missing[:5]))
    return sum(c - 1 for c in got.values())


def backlog(name, parts, n, prefix):
    """A namespace sl-NAME, topics NAME-in and NAME-out of `parts`
    partitions, and n ids "PREFIX-i" in NAME-in; returns the namespace."""
    ns = namespace("sl-" + name)
    create_topic(name + "-in", parts)
    create_topic(name + "-out", parts)
    produce_ids(name + "-in", range(n), prefix)
    return ns


def wait_lag_zero(group, topic, timeout, ns):
    try:
        return wait_for(lambda: group_lag(group, topic) == 0, timeout,
                        "group %s caught up on %s" % (group, topic))
    except TestFailure as e:
        raise TestFailure("%s (lag %d)\n%s" % (e, group_lag(group, topic),
                                               save_logs(ns)))


def note(msg):
    print("     " + msg, flush=True)


# --- the tests ---------------------------------------------------------------

@test
def default_chart_drains_a_backlog():
    """The chart's defaults (one scheduler, two workers, copy plugin):
    every pod Ready through its real probes, 100,000 unique ids drained,
    every id in the output, kafka-consumer-groups lag 0; helm uninstall
    leaves nothing."""
    n = 100000
    ns = backlog("default", 8, n, "d")
    t = install("rel", ns, base_values("default-in", "default-g",
                                       "default-out"))
    note("helm install --wait: %.1f s" % t)
    ps = pods(ns)
    expect(len(ps) == 3, "one scheduler and two workers", len(ps))
    for pod in ps:
        c = pod["spec"]["containers"][0]
        for probe in ("readinessProbe", "livenessProbe"):
            expect(c.get(probe, {}).get("httpGet"), "%s has an HTTP %s"
                   % (pod["metadata"]["name"], probe))
        expect(ready(pod), "%s is Ready" % pod["metadata"]["name"])
    t0 = time.monotonic()
    wait_lag_zero("default-g", "default-in", 180, ns)
    note("lag 0 after %.1f s" % (time.monotonic() - t0))
    dups = check_every_id("default-out", "d", n)
    note("%d ids in the output, %d duplicates" % (n, dups))
    lags = consumer_groups_lag("default-g")
    expect(len(lags) == 8 and all(v == "0" for v in lags.values()),
           "kafka-consumer-groups shows lag 0 on every partition", lags)
    save_logs(ns)
    uninstall_leaves_nothing("rel", ns)



@test
def key_order_keeps_each_key_in_order():
    """scheduler.order=key: one hot partition, a hot key with a third of
    the records and 40 others, three workers; every key's records reach
    the output in order (first appearances) and none is lost."""
    n = 12000
    ns = namespace("sl-keys")
    create_topic("keys-in", 1)
    create_topic("keys-out", 4)
    p = Producer({"bootstrap.servers": BROKERS, "enable.idempotence": True,
                  "linger.ms": 20})
    seq = collections.Counter()
    for i in range(n):
        k = "k0" if i % 3 == 0 else "k%d" % (1 + i % 40)
        p.produce("keys-in", key=k, value="%s:%d" % (k, seq[k]))
        seq[k] += 1
        if i % 1000 == 0:
            p.poll(0)
    expect(p.flush(120) == 0, "every keyed record acknowledged")
    t = install("keys", ns, base_values(
        "keys-in", "keys-g", "keys-out",
        scheduler={"order": "key", "jobRecords": 20, "window": 64,
                   "resources": {"requests": {"cpu": "50m",
                                              "memory": "64Mi"}}},
        worker={"replicas": 3, "resources": {"requests": {
            "cpu": "50m", "memory": "64Mi"}}}))
    note("helm install --wait: %.1f s" % t)
    sched = [x for x in pods(ns)
             if "scheduler" in x["metadata"]["name"]][0]
    args = sched["spec"]["containers"][0].get("args", [])
    expect("--order=key" in args, "the scheduler runs --order key", args)
    wait_lag_zero("keys-g", "keys-in", 180, ns)
    firsts = collections.defaultdict(list)
    seen = set()
    for v in read_values("keys-out"):
        k, i = v.rsplit(":", 1)
        if (k, i) not in seen:
            seen.add((k, i))
            firsts[k].append(int(i))
    bad = {k: f for k, f in firsts.items() if f != list(range(seq[k]))}
    expect(set(firsts) == set(seq) and not bad, "every key's records in "
           "order, none lost", {k: len(f) for k, f in list(bad.items())[:3]})
    note("%d keys in order, %d records" % (len(firsts), n))
    save_logs(ns)
    uninstall_leaves_nothing("keys", ns)


class LagWatch:
    """Polls a group's lag in the background; records (wall clock) when it
    first reached 0 after having been above it: the drain's last commit."""

    def __init__(self, group, topic):
        self.group, self.topic = group, topic
        self.zero_at = None
        self.seen_lag = False
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self):
        while not self._stop.is_set() and self.zero_at is None:
            try:
                lag = group_lag(self.group, self.topic)
            except Exception:
                lag = None
            if lag:
                self.seen_lag = True
            elif lag == 0 and self.seen_lag:
                self.zero_at = time.time()
            time.sleep(0.2)

    def stop(self):
        self._stop.set()
        self._t.join(5)


def job_names(ns):
    return {j["metadata"]["labels"]["app.kubernetes.io/component"]:
            j for j in kjson("get", "jobs", "-n", ns)["items"]}


def completed(job):
    return any(c["type"] == "Complete" and c["status"] == "True"
               for c in job["status"].get("conditions", []))


def utc_seconds(stamp):
    """Seconds since the epoch of a UTC time as Kubernetes writes it
    (2026-12-06T22:41:02Z) or the daemons log it (...02.123Z)."""
    import calendar
    base, _, frac = stamp.rstrip("Z").partition(".")
    return calendar.timegm(time.strptime(base, "%Y-%m-%dT%H:%M:%S")) + \
        float("0." + (frac or "0"))


@test
def drain_jobs_end_seconds_after_the_last_commit():
    """Drain mode: `helm install --wait --wait-for-jobs` returns once the
    backlog is done; both Jobs complete within seconds of the last commit
    (the schedulers stop lingering once every worker pod was told), and
    every worker pod exits 0."""
    n = 20000
    ns = backlog("drain", 4, n, "r")
    watch = LagWatch("drain-g", "drain-in")
    t0 = time.time()
    took = install("drain", ns, base_values(
        "drain-in", "drain-g", "drain-out",
        drain={"enabled": True, "workers": 3}),
        extra=("--wait-for-jobs",), timeout="180s")
    t_helm = time.time()
    watch.stop()
    expect(watch.zero_at, "the group's lag reached 0 (last commit seen)")
    # helm waits for Jobs with `completions` (the schedulers' Indexed Job,
    # which completes once every partition is committed); the workers'
    # work-queue Job has none, and helm counts it ready at once. It must
    # complete too, within seconds.
    jobs = job_names(ns)
    expect(set(jobs) == {"scheduler", "worker"} and
           completed(jobs["scheduler"]), "the scheduler Job is Complete "
           "when helm returns", jobs.get("scheduler", {}).get("status"))
    try:
        jobs = wait_for(lambda: all(completed(j) for j in
                                    job_names(ns).values()) and job_names(ns),
                        30, "the worker Job complete")
    except TestFailure as e:
        raise TestFailure("%s\n%s" % (e, save_logs(ns)))
    done = max(utc_seconds(j["status"]["completionTime"])
               for j in jobs.values())
    for pod in pods(ns):
        st = pod["status"]["containerStatuses"][0]["state"]
        expect(pod["status"]["phase"] == "Succeeded" and
               st.get("terminated", {}).get("exitCode") == 0,
               "%s exited 0" % pod["metadata"]["name"], pod["status"])
    tail_helm = t_helm - watch.zero_at
    tail_jobs = done - watch.zero_at
    note("helm install --wait --wait-for-jobs: %.1f s; last commit %.1f s "
         "after the start; Jobs complete %.1f s after it (completionTime, "
         "1 s resolution), helm returned %.1f s after it"
         % (took, watch.zero_at - t0, tail_jobs, tail_helm))
    expect(tail_jobs <= 10, "the Jobs complete within seconds of the last "
           "commit (not after the 120 s linger)", tail_jobs)
    dups = check_every_id("drain-out", "r", n)
    note("%d ids in the output, %d duplicates" % (n, dups))
    lags = consumer_groups_lag("drain-g")
    expect(all(v == "0" for v in lags.values()), "lag 0", lags)
    save_logs(ns)
    uninstall_leaves_nothing("drain", ns)


def workers_reached(log, want):
    """Seconds from a scheduler's start until `want` distinct workers had
    reached it (joined, or, after its drain, been told it finished)."""
    lines = log.splitlines()
    start = utc_seconds(lines[0].split()[0])
    joined = set()
    for line in lines:
        m = re.search(r"worker joined worker=(\S+)", line)
        if m:
            joined.add(m.group(1))
        told = re.search(r"told (\d+) workers the drain is finished", line)
        if len(joined) >= want or (told and int(told.group(1)) >= want):
            return utc_seconds(line.split()[0]) - start
    raise TestFailure("fewer than %d workers ever reached the scheduler"
                      % want)


@test
def two_schedulers_lose_a_scheduler_and_a_worker_mid_drain():
    """scheduler.replicas=2 in drain mode: both schedulers get partitions
    and every worker reaches both through the per-pod DNS names; a
    scheduler pod and a worker pod in the middle of a job are deleted;
    nothing is lost and the drain finishes."""
    n, parts = 60000, 8
    ns = backlog("two", parts, n, "t")
    values = base_values(
        "two-in", "two-g", "two-out",
        drain={"enabled": True, "workers": 3},
        plugin={"path": "/plugins/sleep.so",
                "options": {"us_per_record": 1000}})
    values["scheduler"]["replicas"] = 2
    values["scheduler"]["jobRecords"] = 1000
    install("two", ns, values, timeout="120s")

    def schedulers_serving():
        ps = [p for p in pods(ns, "scheduler")
              if p["status"]["phase"] == "Running"]
        if len(ps) != 2:
            return None
        ms = [pod_metrics(p) for p in ps]
        ok = all(m["sluice_partitions_owned"] > 0 and
                 m["sluice_workers_connected"] == 3 for m in ms)
        return ok and ms
    ms = wait_for(schedulers_serving, 120, "both schedulers own partitions "
                  "and see all three workers")
    note("partitions owned: %s; workers connected: %s"
         % ([int(m["sluice_partitions_owned"]) for m in ms],
            [int(m["sluice_workers_connected"]) for m in ms]))
    expect(sum(m["sluice_partitions_owned"] for m in ms) == parts,
           "the two split the partitions", ms)
    args = pods(ns, "worker")[0]["spec"]["containers"][0]["args"]
    want = ["--scheduler=tcp://two-sluice-scheduler-%d.two-sluice-scheduler"
            ".%s.svc.cluster.local:7400" % (i, ns) for i in range(2)]
    expect(all(w in args for w in want), "workers connect by per-pod DNS "
           "name", args)
    for w in pods(ns, "worker"):
        wait_for(lambda: pod_metrics(w)["sluice_worker_schedulers_connected"]
                 == 2, 30, "%s connected to both schedulers"
                 % w["metadata"]["name"])

    wait_for(lambda: group_lag("two-g", "two-in") < n * 0.8, 120,
             "the drain under way")
    victim = "two-sluice-scheduler-0"
    victim_pod = [p for p in pods(ns, "scheduler")
                  if p["metadata"]["name"].startswith(victim)][0]
    kubectl("delete", "pod", "-n", ns, victim_pod["metadata"]["name"],
            "--wait=false")
    busy = wait_for(lambda: [p for p in pods(ns, "worker")
                             if p["status"]["phase"] == "Running" and
                             pod_metrics(p)["sluice_worker_job_running"]],
                    60, "a worker in the middle of a job")
    kubectl("delete", "pod", "-n", ns, busy[0]["metadata"]["name"],
            "--wait=false")
    note("deleted %s (lag %d) and %s mid-job"
         % (victim_pod["metadata"]["name"], group_lag("two-g", "two-in"),
            busy[0]["metadata"]["name"]))
    lag_at_delete = group_lag("two-g", "two-in")
    expect(lag_at_delete > 0, "the deletions came before the end",
           lag_at_delete)
    try:
        for job in ("two-sluice-scheduler", "two-sluice-worker"):
            kubectl("wait", "-n", ns, "--for=condition=complete",
                    "job/" + job, "--timeout=240s", timeout=260)
    except TestFailure as e:
        raise TestFailure("%s\n%s" % (e, save_logs(ns)))
    sched_pods = [p["metadata"]["name"] for p in pods(ns, "scheduler")]
    expect(victim_pod["metadata"]["name"] not in sched_pods and
           any(p.startswith(victim + "-") for p in sched_pods),
           "the deleted scheduler was replaced by a new pod of its index",
           sched_pods)
    new0 = [p for p in sched_pods if p.startswith(victim + "-")][0]
    reach = workers_reached(kubectl("logs", "-n", ns, new0), 3)
    note("the replacement %s had all 3 workers %.1f s after it started"
         % (new0, reach))
    expect(reach < 20, "workers reach the replacement scheduler (same DNS "
           "name, new address) within seconds", reach)
    dups = check_every_id("two-out", "t", n)
    note("%d ids in the output, %d duplicates after the deletions"
         % (n, dups))
    lags = consumer_groups_lag("two-g")
    expect(len(lags) == parts and all(v == "0" for v in lags.values()),
           "lag 0 on every partition", lags)
    save_logs(ns)
    uninstall_leaves_nothing("two", ns)


@test
def helm_upgrade_rolls_the_workers_without_losing_a_record():
    """A plugin option changed by `helm upgrade` while records keep
    arriving: the workers are replaced by ones running the new option,
    and every record reaches the output."""
    ns = namespace("sl-upgrade")
    n = 40000
    create_topic("up-in", 4)
    create_topic("up-out", 4)
    produce_ids("up-in", range(n // 2), "u")
    values = base_values("up-in", "up-g", "up-out",
                         plugin={"path": "/plugins/sleep.so",
                                 "options": {"us_per_record": 400}})
    install("up", ns, values)
    before = {p["metadata"]["name"] for p in pods(ns, "worker")}
    producer = threading.Thread(target=produce_ids,
                                args=("up-in", range(n // 2, n), "u"))
    producer.start()
    values["plugin"]["options"]["us_per_record"] = 200
    took = install("up", ns, values, upgrade=True)
    producer.join(120)
    # --wait returns once the new pods are Ready; the old ones may still
    # be finishing their job (--grace-ms).
    wait_for(lambda: not {p["metadata"]["name"]
                          for p in pods(ns, "worker")} & before,
             60, "the old worker pods gone")
    after = pods(ns, "worker")
    names = {p["metadata"]["name"] for p in after}
    expect(len(after) == 2, "two new worker pods", names)
    for p in after:
        expect("--plugin-opt=us_per_record=200" in
               p["spec"]["containers"][0]["args"],
               "%s runs the new option" % p["metadata"]["name"],
               p["spec"]["containers"][0]["args"])
    wait_lag_zero("up-g", "up-in", 180, ns)
    dups = check_every_id("up-out", "u", n)
    note("helm upgrade --wait: %.1f s; %d ids in the output, %d duplicates"
         % (took, n, dups))
    save_logs(ns)
    uninstall_leaves_nothing("up", ns)


@test
def curve_keys_from_secrets_admit_workers_and_refuse_a_stranger():
    """CURVE with the certificates in Secrets: the chart's workers connect
    and drain; a worker holding a key the schedulers do not know is
    refused, and says so in its log."""
    ns = namespace("sl-curve")
    keys = os.path.join(W, "curve-keys")
    shutil.rmtree(keys, ignore_errors=True)
    os.makedirs(keys)
    for name in ("scheduler", "worker", "stranger"):
        run([SLUICE, "keygen", "--out", os.path.join(keys, name + ".cert"),
             "--name", name])
    k = lambda f: "--from-file=%s" % os.path.join(keys, f)  # noqa: E731
    kubectl("create", "secret", "generic", "-n", ns, "curve-scheduler",
            k("scheduler.cert_secret"))
    kubectl("create", "secret", "generic", "-n", ns, "curve-clients",
            k("worker.cert"))
    kubectl("create", "secret", "generic", "-n", ns, "curve-worker",
            k("worker.cert_secret"), k("scheduler.cert"))
    kubectl("create", "secret", "generic", "-n", ns, "curve-stranger",
            k("stranger.cert_secret"), k("scheduler.cert"))
    n = 20000
    create_topic("curve-in", 4)
    create_topic("curve-out", 4)
    produce_ids("curve-in", range(n), "c")
    values = base_values("curve-in", "curve-g", "curve-out", curve={
        "enabled": True,
        "scheduler": {"existingSecret": "curve-scheduler",
                      "certKey": "scheduler.cert_secret"},
        "clients": {"existingSecret": "curve-clients"},
        "worker": {"existingSecret": "curve-worker",
                   "certKey": "worker.cert_secret",
                   "serverCertKey": "scheduler.cert"}})
    install("cv", ns, values)
    wait_lag_zero("curve-g", "curve-in", 180, ns)
    check_every_id("curve-out", "c", n)

    sched = "tcp://cv-sluice-scheduler-0.cv-sluice-scheduler.%s.svc." \
        "cluster.local:7400" % ns
    stranger = {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "stranger"},
        "spec": {
            "restartPolicy": "Never",
            "securityContext": {"runAsNonRoot": True, "runAsUser": 10001,
                                "runAsGroup": 10001, "fsGroup": 10001,
                                "seccompProfile": {"type": "RuntimeDefault"}},
            # As the chart mounts keys: not readable by others (the worker
            # refuses a secret key file that is).
            "volumes": [{"name": "keys",
                         "secret": {"secretName": "curve-stranger",
                                    "defaultMode": 0o440}}],
            "containers": [{
                "name": "worker", "image": IMAGE,
                "imagePullPolicy": "Never",
                "command": ["sluice-worker", "--scheduler", sched,
                            "--brokers", BROKERS, "--plugin", "copy",
                            "--output-topic", "curve-out",
                            "--curve-cert", "/keys/stranger.cert_secret",
                            "--curve-server-cert", "/keys/scheduler.cert"],
                "volumeMounts": [{"name": "keys", "mountPath": "/keys"}],
                "securityContext": {
                    "allowPrivilegeEscalation": False,
                    "readOnlyRootFilesystem": True,
                    "capabilities": {"drop": ["ALL"]}}}]}}
    kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(stranger))

    def refused():
        p = kubectl("logs", "-n", ns, "stranger", check=False)
        return p.returncode == 0 and "handshake refused" in p.stdout and \
            p.stdout
    try:
        log = wait_for(refused, 90, "the stranger says it was refused")
    except TestFailure as e:
        raise TestFailure("%s\n%s" % (e, save_logs(ns)))
    note("stranger: " + [ln for ln in log.splitlines()
                         if "handshake refused" in ln][0][:160])
    slog = kubectl("logs", "-n", ns, "cv-sluice-scheduler-0")
    expect("handshake refused" in slog, "the scheduler logs the refusal")
    kubectl("delete", "pod", "-n", ns, "stranger", "--wait=true")
    save_logs(ns)
    uninstall_leaves_nothing("cv", ns)


@test
def restricted_pod_security_is_enforced():
    """The namespaces the chart ran in enforce PodSecurity `restricted`
    (so every pod above was admitted under it): a pod that breaks it is
    refused there."""
    ns = namespace("sl-psa")
    bad = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": "root"},
           "spec": {"containers": [{"name": "c", "image": IMAGE,
                                    "imagePullPolicy": "Never",
                                    "command": ["sleep", "1"]}]}}
    p = kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(bad),
                check=False)
    expect(p.returncode != 0 and "violates PodSecurity" in p.stderr and
           '"restricted:latest"' in p.stderr,
           "a pod without the restricted settings is refused", p.stderr)
    kubectl("delete", "namespace", ns, "--wait=false")


@test
def keda_grows_the_workers_past_the_partitions_and_shrinks_after():
    """Autoscaling through KEDA (built from its module, running against the
    cluster): the chart's ScaledObject with the kafka trigger on the
    schedulers' group lag grows the worker Deployment past the partition
    count while the lag is high, and shrinks it once the backlog is done."""
    if not os.path.exists(os.path.join(os.environ.get("SLUICE_K8S_KEDA", ""),
                                       "operator")):
        raise TestFailure("KEDA is not built (tests/k8s/build.sh keda)")
    parts, n = 2, 60000
    ns = backlog("keda", parts, n, "k")
    values = base_values(
        "keda-in", "keda-g", "keda-out",
        # 2 ms a record: one worker does 500 records/s, far behind.
        plugin={"path": "/plugins/sleep.so",
                "options": {"us_per_record": 2000}},
        autoscaling={
            "enabled": True, "engine": "keda", "minReplicas": 1,
            "maxReplicas": 5,
            "behavior": {
                "scaleUp": {"stabilizationWindowSeconds": 0,
                            "policies": [{"type": "Pods", "value": 4,
                                          "periodSeconds": 5}]},
                "scaleDown": {"stabilizationWindowSeconds": 5,
                              "policies": [{"type": "Percent", "value": 100,
                                            "periodSeconds": 5}]}},
            "keda": {"pollingInterval": 5, "kafka": {"lagThreshold": 5000}}})
    t0 = time.monotonic()
    install("kd", ns, values)
    so = kjson("get", "scaledobject", "-n", ns, "kd-sluice-worker")
    expect(so["spec"]["triggers"][0]["type"] == "kafka",
           "the chart made a KEDA ScaledObject with the kafka trigger")

    def replicas():
        d = kjson("get", "deployment", "-n", ns, "kd-sluice-worker")
        return d["status"].get("readyReplicas", 0), d["spec"]["replicas"]
    peak = [0]

    def grown():
        ready_n, want = replicas()
        peak[0] = max(peak[0], ready_n)
        return ready_n > parts and ready_n
    try:
        grew = wait_for(grown, 120, "the workers grow past %d partitions"
                        % parts, interval=1)
    except TestFailure as e:
        raise TestFailure("%s; HPA: %s\n%s" % (
            e, kubectl("get", "hpa", "-n", ns, "-o", "wide",
                       check=False).stdout, save_logs(ns)))
    t_grew = time.monotonic() - t0
    hpa = kjson("get", "hpa", "-n", ns)["items"]
    expect(len(hpa) == 1 and hpa[0]["metadata"]["name"].startswith("keda-"),
           "KEDA made the HPA", [h["metadata"]["name"] for h in hpa])
    lag_at_peak = group_lag("keda-g", "keda-in")
    wait_lag_zero("keda-g", "keda-in", 180, ns)
    t_done = time.monotonic() - t0
    wait_for(lambda: replicas() == (1, 1), 120, "the workers shrink back "
             "to 1 once the backlog is done", interval=1)
    t_shrunk = time.monotonic() - t0
    note("%d ready workers %.0f s after install (lag %d), at most %d; "
         "backlog done at %.0f s; back to 1 worker at %.0f s"
         % (grew, t_grew, lag_at_peak, max(peak[0], grew), t_done,
            t_shrunk))
    dups = check_every_id("keda-out", "k", n)
    note("%d ids in the output, %d duplicates" % (n, dups))
    save_logs(ns)
    uninstall_leaves_nothing("kd", ns)
    wait_for(lambda: not kjson("get", "hpa", "-n", ns)["items"], 60,
             "KEDA's HPA removed with the ScaledObject")

def save_all_logs():
    """The pods' logs of every namespace a test made, kept in W/pods/ (the
    cluster and its tmpfs are gone after the run)."""
    for ns in _namespaces:
        try:
            save_logs(ns)
        except Exception as e:  # a failing cluster must not hide the result
            print("could not save the logs of %s: %s" % (ns, e))


if __name__ == "__main__":
    import atexit
    shutil.rmtree(PODLOGS, ignore_errors=True)
    os.makedirs(PODLOGS, exist_ok=True)
    atexit.register(save_all_logs)
    main()
