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
        except TestFailure:
            last = None
        if last:
            return last
        if time.monotonic() > deadline:
            raise TestFailure("%s: not within %d s" % (what, timeout))
        time.sleep(interval)


# --- namespaces, releases --------------------------------------------------

def namespace(name):
    """A fresh namespace that enforces PodSecurity `restricted`."""
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


def install(release, ns, values, extra=(), timeout="240s", upgrade=False):
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
    ns = namespace("sl-default")
    n = 100000
    create_topic("default-in", 8)
    create_topic("default-out", 8)
    produce_ids("default-in", range(n), "d")
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
    wait_lag_zero("default-g", "default-in", 300, ns)
    note("lag 0 after %.1f s" % (time.monotonic() - t0))
    dups = check_every_id("default-out", "d", n)
    note("%d ids in the output, %d duplicates" % (n, dups))
    lags = consumer_groups_lag("default-g")
    expect(len(lags) == 8 and all(v == "0" for v in lags.values()),
           "kafka-consumer-groups shows lag 0 on every partition", lags)
    save_logs(ns)
    uninstall_leaves_nothing("rel", ns)


if __name__ == "__main__":
    os.makedirs(PODLOGS, exist_ok=True)
    main()
