"""The Helm chart (helm/sluice), rendered by a real helm: `helm lint
--strict` on the defaults and on every example, then `helm template` in each
mode (long-running, drain, KEDA, HPA, CURVE, plugin image) with assertions
on the objects, and values that break the schema must be refused.

Environment: SLUICE_HELM, the helm binary (default
~/.cache/sluice-helm/helm, what `make helm-deps` fetches). Needs python3-yaml.
"""
import glob
import os
import re
import shutil
import subprocess
import tempfile

import yaml

from deploytest import SOURCE, expect, main, test

CHART = os.path.join(SOURCE, "helm", "sluice")
EXAMPLES = os.path.join(CHART, "examples")
HELM = os.environ.get("SLUICE_HELM") or os.path.expanduser(
    "~/.cache/sluice-helm/helm")
RELEASE, NAMESPACE = "rel", "ns"

with open(os.path.join(CHART, "Chart.yaml")) as _f:
    CHART_META = yaml.safe_load(_f)
with open(os.path.join(CHART, "values.yaml")) as _f:
    DEFAULTS = yaml.safe_load(_f)

# helm keeps its own config and cache; point them at a scratch directory so
# the tests neither read nor write the user's.
_HOME = tempfile.mkdtemp(prefix="sluice-helm-test-")
HELM_ENV = dict(os.environ, HELM_CONFIG_HOME=_HOME + "/config",
                HELM_CACHE_HOME=_HOME + "/cache", HELM_DATA_HOME=_HOME + "/data")


# --- running helm -------------------------------------------------------------

def helm(*args):
    expect(os.access(HELM, os.X_OK), "helm is installed (make helm-deps, or "
           "set SLUICE_HELM)", HELM)
    return subprocess.run([HELM, *args], capture_output=True, text=True,
                          env=HELM_ENV, timeout=60)


def value_args(values=(), sets=(), api=()):
    args = []
    for v in values:
        if isinstance(v, dict):
            fd, path = tempfile.mkstemp(suffix=".yaml", dir=_HOME)
            with os.fdopen(fd, "w") as f:
                yaml.safe_dump(v, f)
            v = path
        args += ["-f", v]
    for s in sets:
        args += ["--set", s]
    for a in api:
        args += ["--api-versions", a]
    return args


class Rendered:
    """The objects of one `helm template`, looked up by kind and name."""

    def __init__(self, docs):
        self.docs = [d for d in docs if d]

    def kinds(self):
        return sorted(d["kind"] for d in self.docs)

    def all(self, kind):
        return [d for d in self.docs if d["kind"] == kind]

    def one(self, kind, component=None):
        found = [d for d in self.all(kind) if component is None or
                 d["metadata"]["labels"].get("app.kubernetes.io/component")
                 == component]
        expect(len(found) == 1, "exactly one %s%s is rendered"
               % (kind, " (%s)" % component if component else ""),
               [d["metadata"]["name"] for d in found])
        return found[0]

    def has(self, kind):
        return bool(self.all(kind))


def render(*values, sets=(), api=()):
    r = helm("template", RELEASE, CHART, "--namespace", NAMESPACE,
             *value_args(values, sets, api))
    expect(r.returncode == 0, "helm template succeeds", r.stderr)
    return Rendered(yaml.safe_load_all(r.stdout))


def render_fails(*values, sets=(), api=()):
    r = helm("template", RELEASE, CHART, "--namespace", NAMESPACE,
             *value_args(values, sets, api))
    expect(r.returncode != 0, "helm template refuses the values",
           (values, sets))
    return r.stderr


def example(name):
    return os.path.join(EXAMPLES, name)


# --- reading the objects ------------------------------------------------------

def pod_spec(obj):
    return obj["spec"]["template"]["spec"]


def container(obj, name):
    found = [c for c in pod_spec(obj)["containers"] if c["name"] == name]
    expect(len(found) == 1, "the pod has a container " + name,
           [c["name"] for c in pod_spec(obj)["containers"]])
    return found[0]


def flags(c):
    """A container's args as (flag, value) pairs; value None for a bare
    flag. Accepts --flag=value and --flag value."""
    args, out, i = c.get("args", []), [], 0
    while i < len(args):
        a = args[i]
        if a.startswith("--") and "=" in a:
            k, _, v = a.partition("=")
            out.append((k, v))
        elif a.startswith("--") and i + 1 < len(args) and \
                not args[i + 1].startswith("-"):
            out.append((a, args[i + 1]))
            i += 1
        else:
            out.append((a, None))
        i += 1
    return out


def flag_values(c, name):
    return [v for k, v in flags(c) if k == name]


def env_map(c):
    return {e["name"]: e for e in c.get("env", [])}


def volume(obj, name):
    found = [v for v in pod_spec(obj).get("volumes", []) if v["name"] == name]
    expect(len(found) == 1, "the pod has a volume " + name)
    return found[0]


def mount_for(obj, c, path):
    """The (volume, mount) a file or directory path lives under."""
    best = None
    for m in c.get("volumeMounts", []):
        mp = m["mountPath"].rstrip("/")
        if path == mp or path.startswith(mp + "/"):
            if best is None or len(mp) > len(best["mountPath"]):
                best = m
    expect(best, "%s is on a mounted volume" % path,
           [m["mountPath"] for m in c.get("volumeMounts", [])])
    return volume(obj, best["name"]), best


def workloads(r):
    return [d for d in r.docs if d["kind"] in
            ("StatefulSet", "Deployment", "Job")]


# --- shared checks ------------------------------------------------------------

def check_labels(r):
    want = {"app.kubernetes.io/name": CHART_META["name"],
            "app.kubernetes.io/instance": RELEASE,
            "app.kubernetes.io/version": str(CHART_META["appVersion"]),
            "app.kubernetes.io/managed-by": "Helm"}
    for d in r.docs:
        labels = d["metadata"].get("labels", {})
        for k, v in want.items():
            expect(labels.get(k) == v, "%s %s has label %s=%s"
                   % (d["kind"], d["metadata"]["name"], k, v), labels)
    for w in workloads(r):
        pod_labels = w["spec"]["template"]["metadata"]["labels"]
        for k, v in want.items():
            expect(pod_labels.get(k) == v, "the pods of %s have label %s"
                   % (w["metadata"]["name"], k), pod_labels)
        sel = w["spec"].get("selector", {}).get("matchLabels", {})
        expect(all(pod_labels.get(k) == v for k, v in sel.items()),
               "the selector of %s matches its pods" % w["metadata"]["name"])


def check_pods_hardened(r):
    """Probes and security context of every workload's containers."""
    port = DEFAULTS["metrics"]["port"]
    for w in workloads(r):
        spec, wname = pod_spec(w), w["metadata"]["name"]
        psc = spec.get("securityContext", {})
        expect(psc.get("runAsNonRoot") is True, wname + ": pod runAsNonRoot")
        expect(psc.get("seccompProfile", {}).get("type") == "RuntimeDefault",
               wname + ": pod seccompProfile RuntimeDefault")
        for c in spec.get("initContainers", []) + spec["containers"]:
            sc, what = c.get("securityContext", {}), "%s/%s" % (wname,
                                                                c["name"])
            expect(sc.get("runAsNonRoot") is True, what + " runAsNonRoot")
            expect(sc.get("readOnlyRootFilesystem") is True,
                   what + " readOnlyRootFilesystem")
            expect(sc.get("allowPrivilegeEscalation") is False,
                   what + " allowPrivilegeEscalation false")
            expect(sc.get("capabilities", {}).get("drop") == ["ALL"],
                   what + " drops ALL capabilities", sc.get("capabilities"))
            expect(sc.get("seccompProfile", {}).get("type") ==
                   "RuntimeDefault", what + " seccompProfile RuntimeDefault")
            expect(c.get("resources"), what + " has resources")
        for c in spec["containers"]:
            what = "%s/%s" % (wname, c["name"])
            ports = {p["name"]: p["containerPort"] for p in c["ports"]}
            expect(ports.get("metrics") == port, what + " names its metrics "
                   "port", ports)
            for probe, path in (("livenessProbe", "/healthz"),
                                ("readinessProbe", "/readyz")):
                get = c.get(probe, {}).get("httpGet", {})
                expect(get.get("path") == path and
                       get.get("port") in ("metrics", port),
                       "%s %s is GET %s on the metrics port" % (what, probe,
                                                                path), get)
            expect(flag_values(c, "--metrics-addr") == ["0.0.0.0:%d" % port],
                   what + " serves metrics on the probed port",
                   flag_values(c, "--metrics-addr"))
            expect(not any(k in ("-X", "--property") or k.startswith("-X")
                           for k, _ in flags(c)), what + " passes no -X on "
                   "the command line (it would override SLUICE_X)")


def check_kafka_env(r, component):
    """Kafka settings reach the daemons through the ConfigMap; SLUICE_X is
    assembled only from variables defined before it."""
    cm = r.one("ConfigMap")
    w = [x for x in workloads(r) if x["metadata"]["labels"]
         ["app.kubernetes.io/component"] == component][0]
    c = container(w, component)
    names = [e["name"] for e in c["env"]]
    env = env_map(c)
    wanted = ["SLUICE_BROKERS"] + (["SLUICE_TOPIC", "SLUICE_GROUP"]
                                   if component == "scheduler" else [])
    for name in wanted + ["KAFKA_PROPERTIES"]:
        ref = env.get(name, {}).get("valueFrom", {}).get("configMapKeyRef")
        expect(ref and ref["name"] == cm["metadata"]["name"] and
               ref["key"] in cm["data"], "%s %s comes from the Kafka "
               "ConfigMap" % (component, name), env.get(name))
    x = env.get("SLUICE_X", {}).get("value")
    expect(x is not None, component + " sets SLUICE_X")
    for ref in re.findall(r"\$\(([A-Z0-9_]+)\)", x):
        expect(ref in names[:names.index("SLUICE_X")], "SLUICE_X refers to "
               "%s, defined before it (Kubernetes expands only those)" % ref,
               names)
    return cm, env


def scheduler_endpoints(worker_obj):
    return flag_values(container(worker_obj, "worker"), "--scheduler")


# --- tests --------------------------------------------------------------------

@test
def lint_strict_defaults_and_examples():
    files = sorted(glob.glob(os.path.join(EXAMPLES, "*.yaml")))
    names = [os.path.basename(f) for f in files]
    for want in ("drain.yaml", "keda.yaml", "curve.yaml"):
        expect(want in names, "the chart has examples/" + want, names)
    for extra in [[]] + [["-f", f] for f in files]:
        r = helm("lint", "--strict", CHART, *extra)
        expect(r.returncode == 0, "helm lint --strict %s passes"
               % " ".join(extra), r.stdout + r.stderr)
    expect(CHART_META["apiVersion"] == "v2", "Chart.yaml is apiVersion v2")
    for f in ("values.schema.json", "templates/NOTES.txt",
              "templates/_helpers.tpl", "README.md"):
        expect(os.path.exists(os.path.join(CHART, f)), "the chart has " + f)
    with open(os.path.join(CHART, "templates", "_helpers.tpl")) as f:
        helpers = f.read()
    for d in ("name", "fullname", "chart", "labels", "selectorLabels"):
        expect('define "sluice.%s"' % d in helpers, "_helpers.tpl defines "
               "sluice." + d)


@test
def defaults_run_schedulers_and_workers():
    r = render()
    kinds = set(r.kinds())
    for k in ("ConfigMap", "ServiceAccount", "Service", "StatefulSet",
              "Deployment", "PodDisruptionBudget"):
        expect(k in kinds, "the defaults render a " + k, r.kinds())
    for k in ("Job", "HorizontalPodAutoscaler", "ScaledObject",
              "ServiceMonitor", "NetworkPolicy"):
        expect(k not in kinds, "the defaults render no " + k, r.kinds())
    check_labels(r)
    check_pods_hardened(r)

    sts, svc = r.one("StatefulSet"), r.one("Service", "scheduler")
    expect(svc["spec"].get("clusterIP") == "None", "the scheduler Service "
           "is headless")
    expect(svc["spec"].get("publishNotReadyAddresses") is True, "scheduler "
           "pods have DNS names before they are ready")
    expect(sts["spec"]["serviceName"] == svc["metadata"]["name"],
           "the StatefulSet's pods get DNS names from the headless Service")
    expect(all(svc["spec"]["selector"].get(k) == v for k, v in
               sts["spec"]["template"]["metadata"]["labels"].items()
               if k in svc["spec"]["selector"]) and
           set(svc["spec"]["selector"]) <=
           set(sts["spec"]["template"]["metadata"]["labels"]),
           "the headless Service selects the scheduler pods")
    zmq = DEFAULTS["scheduler"]["port"]
    sc = container(sts, "scheduler")
    expect({p["name"]: p["port"] for p in svc["spec"]["ports"]}.get("zmq")
           == zmq, "the Service exposes the ZeroMQ port")
    expect(flag_values(sc, "--bind") == ["tcp://*:%d" % zmq], "the scheduler "
           "binds the ZeroMQ port", sc.get("args"))
    expect({p["name"]: p["containerPort"] for p in sc["ports"]}.get("zmq")
           == zmq, "the scheduler container declares the ZeroMQ port")
    expect(sc.get("command") == ["sluice-scheduler"], "the scheduler runs "
           "sluice-scheduler", sc.get("command"))
    expect("--drain" not in [k for k, _ in flags(sc)], "a long-running "
           "scheduler has no --drain")
    iid = env_map(sc).get("SLUICE_INSTANCE_ID", {})
    expect(iid.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") ==
           "metadata.name", "each scheduler joins as a static member named "
           "after its pod (--instance-id)", iid)
    off = render(sets=["scheduler.staticMembership=false"])
    expect("SLUICE_INSTANCE_ID" not in
           env_map(container(off.one("StatefulSet"), "scheduler")),
           "staticMembership=false leaves the scheduler a dynamic member")

    dep = r.one("Deployment")
    wc = container(dep, "worker")
    expect(wc.get("command") == ["sluice-worker"], "the worker runs "
           "sluice-worker")
    expect(dep["spec"].get("replicas") == DEFAULTS["worker"]["replicas"],
           "the Deployment has worker.replicas")
    expect("--drain" not in [k for k, _ in flags(wc)], "a long-running "
           "worker has no --drain")
    expect(flag_values(wc, "--plugin") == [DEFAULTS["plugin"]["path"]],
           "the worker runs plugin.path", flag_values(wc, "--plugin"))
    expect(not pod_spec(dep).get("initContainers"), "baked plugins need no "
           "init container")
    expect(len(scheduler_endpoints(dep)) == 1, "one scheduler, one "
           "--scheduler", scheduler_endpoints(dep))
    grace = pod_spec(dep)["terminationGracePeriodSeconds"]
    expect(grace * 1000 > int(flag_values(wc, "--grace-ms")[0]) + 2000,
           "the pod's termination grace covers the worker's --grace-ms")

    cm, _ = check_kafka_env(r, "scheduler")
    check_kafka_env(r, "worker")
    expect(cm["data"]["brokers"] == DEFAULTS["kafka"]["brokers"] and
           cm["data"]["topics"] == ",".join(DEFAULTS["kafka"]["topics"]) and
           cm["data"]["group"] == DEFAULTS["kafka"]["group"],
           "the ConfigMap carries brokers, topics and group", cm["data"])
    pdbs = {p["metadata"]["labels"]["app.kubernetes.io/component"]
            for p in r.all("PodDisruptionBudget")}
    expect(pdbs == {"scheduler", "worker"}, "a PodDisruptionBudget per "
           "component", pdbs)


@test
def workers_connect_to_every_scheduler():
    r = render(sets=["scheduler.replicas=3", "scheduler.port=7500"])
    sts, svc = r.one("StatefulSet"), r.one("Service", "scheduler")
    expect(sts["spec"]["replicas"] == 3, "three scheduler pods")
    eps = scheduler_endpoints(r.one("Deployment"))
    want = ["tcp://%s-%d.%s.%s.svc.cluster.local:7500" % (
        sts["metadata"]["name"], i, svc["metadata"]["name"], NAMESPACE)
        for i in range(3)]
    expect(eps == want, "one --scheduler per StatefulSet pod, by its stable "
           "DNS name", eps)


@test
def drain_mode_runs_jobs_that_complete():
    r = render(example("drain.yaml"))
    with open(example("drain.yaml")) as f:
        v = yaml.safe_load(f)
    kinds = set(r.kinds())
    for k in ("StatefulSet", "Deployment", "HorizontalPodAutoscaler",
              "ScaledObject", "PodDisruptionBudget"):
        expect(k not in kinds, "drain mode renders no " + k, r.kinds())
    check_labels(r)
    check_pods_hardened(r)
    sj, wj = r.one("Job", "scheduler"), r.one("Job", "worker")
    expect("SLUICE_INSTANCE_ID" not in env_map(container(sj, "scheduler")),
           "drain schedulers are dynamic members (a retried Job pod has a "
           "new name; a static member's partitions would wait out its "
           "session)")
    svc = r.one("Service", "scheduler")
    n = v["scheduler"]["replicas"]
    expect(sj["spec"].get("completionMode") == "Indexed", "the scheduler "
           "Job is Indexed (pod hostnames <job>-<index>)")
    expect(sj["spec"]["completions"] == n and sj["spec"]["parallelism"] == n,
           "one scheduler Job pod per scheduler.replicas", sj["spec"])
    expect(pod_spec(sj).get("subdomain") == svc["metadata"]["name"],
           "scheduler Job pods are named in the headless Service")
    sflags = dict(flags(container(sj, "scheduler")))
    expect("--drain" in sflags, "the schedulers run with --drain")
    expect(sflags.get("--drain-linger-ms") == str(
        1000 * v.get("drain", {}).get("lingerSeconds",
                                      DEFAULTS["drain"]["lingerSeconds"])),
        "the schedulers linger drain.lingerSeconds for late workers", sflags)
    expect(sflags.get("--drain-linger-workers") == str(
        v.get("drain", {}).get("workers", DEFAULTS["drain"]["workers"])),
        "...or until every worker pod (drain.workers) was told", sflags)
    workers = v["drain"]["workers"]
    expect(wj["spec"]["parallelism"] == workers, "the worker Job runs "
           "drain.workers pods at once", wj["spec"])
    # A work-queue Job (no completions): complete once a worker has exited
    # 0 and every worker has ended, and no new worker after the first exit
    # 0, which each --drain worker makes only when every scheduler is done.
    # (completions = N would replace a worker that fails after the
    # schedulers exited, and the replacement would wait for ever.)
    expect(wj["spec"].get("completions") is None, "the worker Job is a work "
           "queue: it completes when the workers exit 0", wj["spec"])
    wc = container(wj, "worker")
    expect("--drain" in [k for k, _ in flags(wc)], "the workers run with "
           "--drain")
    want = ["tcp://%s-%d.%s.%s.svc.cluster.local:%d" % (
        sj["metadata"]["name"], i, svc["metadata"]["name"], NAMESPACE,
        DEFAULTS["scheduler"]["port"]) for i in range(n)]
    expect(scheduler_endpoints(wj) == want, "drain workers connect to every "
           "scheduler Job pod", scheduler_endpoints(wj))
    for job, cname in ((sj, "scheduler"), (wj, "worker")):
        expect(pod_spec(job)["restartPolicy"] in ("Never", "OnFailure"),
               "Job pods do not restart for ever")
        rules = job["spec"].get("podFailurePolicy", {}).get("rules", [])
        expect(any(ru["action"] == "FailJob" and
                   ru.get("onExitCodes", {}).get("values") == [2] and
                   ru["onExitCodes"].get("containerName") == cname
                   for ru in rules), "exit 2 (bad configuration) fails the "
               "%s Job at once" % cname, rules)
    check_kafka_env(r, "scheduler")
    check_kafka_env(r, "worker")
    # Autoscaling has no say over a drain.
    r2 = render(example("drain.yaml"), sets=["autoscaling.enabled=true"],
                api=["keda.sh/v1alpha1"])
    expect(not r2.has("ScaledObject") and
           not r2.has("HorizontalPodAutoscaler"), "drain mode renders no "
           "autoscaler", r2.kinds())


@test
def keda_mode_scales_workers_on_the_group_lag():
    r = render(example("keda.yaml"), api=["keda.sh/v1alpha1"])
    with open(example("keda.yaml")) as f:
        v = yaml.safe_load(f)
    expect(not r.has("HorizontalPodAutoscaler"), "KEDA mode renders no HPA",
           r.kinds())
    so, dep = r.one("ScaledObject"), r.one("Deployment")
    check_labels(r)
    expect(so["apiVersion"] == "keda.sh/v1alpha1", "ScaledObject is "
           "keda.sh/v1alpha1")
    expect(so["spec"]["scaleTargetRef"]["name"] == dep["metadata"]["name"],
           "the ScaledObject scales the worker Deployment")
    expect("replicas" not in dep["spec"], "the Deployment leaves the replica "
           "count to the autoscaler")
    expect(so["spec"]["minReplicaCount"] == v["autoscaling"]["minReplicas"]
           and so["spec"]["maxReplicaCount"] ==
           v["autoscaling"]["maxReplicas"], "min/max replicas", so["spec"])
    (trig,) = so["spec"]["triggers"]
    md = trig["metadata"]
    expect(trig["type"] == "kafka", "a kafka trigger")
    expect(md.get("allowIdleConsumers") == "true", "allowIdleConsumers: "
           "workers may outnumber partitions", md)
    expect(md.get("consumerGroup") == v["kafka"]["group"], "the trigger "
           "watches the schedulers' consumer group", md)
    expect(md.get("bootstrapServers") == v["kafka"]["brokers"] and
           md.get("topic") == v["kafka"]["topics"][0], "brokers and topic",
           md)
    expect(all(isinstance(x, str) for x in md.values()), "trigger metadata "
           "values are strings", md)
    expect(md.get("sasl") == "scram_sha512" and md.get("tls") == "enable",
           "SASL/SCRAM-SHA-512 over TLS for KEDA too", md)
    ta = r.one("TriggerAuthentication")
    expect(trig.get("authenticationRef", {}).get("name") ==
           ta["metadata"]["name"], "the trigger uses the rendered "
           "TriggerAuthentication")
    refs = {p["parameter"]: (p["name"], p["key"])
            for p in ta["spec"]["secretTargetRef"]}
    sasl = v["kafka"]["sasl"]
    expect(refs.get("password") == (sasl["existingSecret"], "password") and
           refs.get("username") == (sasl["existingSecret"], "username"),
           "KEDA reads the credentials from the same Secret", refs)

    # Several topics: no topic, KEDA sums the group's topics.
    r = render(example("keda.yaml"), sets=["kafka.topics={a,b}"],
               api=["keda.sh/v1alpha1"])
    md = r.one("ScaledObject")["spec"]["triggers"][0]["metadata"]
    expect("topic" not in md, "with several topics the trigger covers the "
           "whole group", md)

    # The prometheus trigger on sluice's own lag metric.
    r = render(example("keda.yaml"), sets=["autoscaling.keda.trigger="
                                           "prometheus"],
               api=["keda.sh/v1alpha1"])
    (trig,) = r.one("ScaledObject")["spec"]["triggers"]
    expect(trig["type"] == "prometheus", "a prometheus trigger")
    q = trig["metadata"]["query"]
    expect("sluice_partition_lag_records" in q and NAMESPACE in q and
           r.one("Service", "scheduler")["metadata"]["name"] in q,
           "the query sums this release's scheduler lag", q)
    expect(not r.has("TriggerAuthentication"), "no Kafka credentials for a "
           "prometheus trigger")


@test
def hpa_mode_without_keda():
    r = render(example("keda.yaml"))
    expect(not r.has("ScaledObject") and not r.has("TriggerAuthentication"),
           "without keda.sh/v1alpha1 nothing of KEDA is rendered", r.kinds())
    hpa, dep = r.one("HorizontalPodAutoscaler"), r.one("Deployment")
    check_labels(r)
    expect(hpa["apiVersion"] == "autoscaling/v2", "HPA autoscaling/v2")
    expect(hpa["spec"]["scaleTargetRef"]["name"] == dep["metadata"]["name"]
           and hpa["spec"]["scaleTargetRef"]["kind"] == "Deployment",
           "the HPA scales the worker Deployment")
    expect(hpa["spec"]["minReplicas"] >= 1, "an HPA never asks for zero "
           "replicas", hpa["spec"])
    expect("replicas" not in dep["spec"], "the Deployment leaves the replica "
           "count to the autoscaler")
    err = render_fails(example("keda.yaml"), sets=["autoscaling.engine=hpa"])
    expect("minReplicas" in err, "engine=hpa with minReplicas 0 is refused",
           err)
    # Never both, whatever the combination.
    for engine in ("auto", "hpa", "keda"):
        for api in ([], ["keda.sh/v1alpha1"]):
            for trigger in ("kafka", "prometheus"):
                sets = ["autoscaling.enabled=true", "autoscaling.minReplicas=1",
                        "autoscaling.engine=" + engine,
                        "autoscaling.keda.trigger=" + trigger]
                if engine == "keda" and not api:
                    render_fails(sets=sets)
                    continue
                r = render(sets=sets, api=api)
                n = len(r.all("ScaledObject")) + len(
                    r.all("HorizontalPodAutoscaler"))
                expect(n == 1, "exactly one autoscaler (engine %s, KEDA %s)"
                       % (engine, bool(api)), r.kinds())
                keda = r.has("ScaledObject")
                expect(keda == (bool(api) and engine != "hpa"), "KEDA exactly "
                       "when the cluster has it and engine is not hpa",
                       (engine, api))
    r = render(api=["keda.sh/v1alpha1"])
    expect(not r.has("ScaledObject") and not r.has("HorizontalPodAutoscaler"),
           "autoscaling off renders no autoscaler")
    # autoscaling.behavior reaches whichever HPA there is.
    beh = ["autoscaling.enabled=true",
           "autoscaling.behavior.scaleDown.stabilizationWindowSeconds=10"]
    r = render(sets=beh)
    expect(r.one("HorizontalPodAutoscaler")["spec"].get("behavior") ==
           {"scaleDown": {"stabilizationWindowSeconds": 10}},
           "the HPA gets autoscaling.behavior",
           r.one("HorizontalPodAutoscaler")["spec"])
    r = render(sets=beh, api=["keda.sh/v1alpha1"])
    so = r.one("ScaledObject")["spec"]
    expect(so.get("advanced", {}).get("horizontalPodAutoscalerConfig", {})
           .get("behavior") == {"scaleDown": {"stabilizationWindowSeconds":
                                               10}},
           "KEDA's HPA gets autoscaling.behavior", so)
    expect("behavior" not in render(sets=["autoscaling.enabled=true"])
           .one("HorizontalPodAutoscaler")["spec"], "no behavior by default")


@test
def curve_mode_mounts_keys_from_secrets():
    r = render(example("curve.yaml"))
    with open(example("curve.yaml")) as f:
        cv = yaml.safe_load(f)["curve"]
    check_pods_hardened(r)
    sts, dep = r.one("StatefulSet"), r.one("Deployment")
    sc, wc = container(sts, "scheduler"), container(dep, "worker")

    def secret_file(obj, c, flag, secret, key):
        (path,) = flag_values(c, flag)
        vol, m = mount_for(obj, c, path)
        expect(vol.get("secret", {}).get("secretName") == secret,
               "%s comes from Secret %s" % (flag, secret), vol)
        rel = os.path.relpath(path, m["mountPath"])
        items = {i["path"]: i["key"] for i in vol["secret"].get("items", [])}
        expect(items.get(rel, rel) == key, "%s is key %s of the Secret"
               % (flag, key), (rel, items))
        expect(m.get("readOnly") is True, flag + " is mounted read-only")

    secret_file(sts, sc, "--curve-cert", cv["scheduler"]["existingSecret"],
                cv["scheduler"]["certKey"])
    (cdir,) = flag_values(sc, "--curve-clients-dir")
    vol, m = mount_for(sts, sc, cdir)
    expect(m["mountPath"].rstrip("/") == cdir.rstrip("/") and
           vol["secret"]["secretName"] == cv["clients"]["existingSecret"],
           "--curve-clients-dir is the clients Secret, mounted whole", vol)
    secret_file(dep, wc, "--curve-cert", cv["worker"]["existingSecret"],
                cv["worker"]["certKey"])
    secret_file(dep, wc, "--curve-server-cert", cv["worker"]["existingSecret"],
                cv["worker"]["serverCertKey"])
    # And nothing of it without curve.enabled.
    r = render()
    for w in workloads(r):
        for c in pod_spec(w)["containers"]:
            expect(not [k for k, _ in flags(c) if k.startswith("--curve")],
                   "no --curve-* flags unless curve.enabled", c["args"])
        expect(not [v for v in pod_spec(w)["volumes"] if "secret" in v],
               "no Secret volumes unless curve.enabled")
    # The NetworkPolicy of the example: workers -> scheduler port.
    np = [p for p in r.all("NetworkPolicy")]
    expect(not np, "no NetworkPolicy by default")
    r = render(example("curve.yaml"))
    pol = [p for p in r.all("NetworkPolicy") if p["metadata"]["labels"]
           ["app.kubernetes.io/component"] == "scheduler"][0]
    zmq_rule = [ru for ru in pol["spec"]["ingress"]
                if {"port": "zmq", "protocol": "TCP"} in ru["ports"]][0]
    worker_sel = r.one("Deployment")["spec"]["selector"]["matchLabels"]
    expect({"podSelector": {"matchLabels": worker_sel}} in zmq_rule["from"],
           "the NetworkPolicy lets this release's workers reach the "
           "scheduler port", zmq_rule)


@test
def credentials_stay_out_of_the_configmap():
    r = render(example("keda.yaml"), sets=[
        "kafka.secretProperties[0].property=ssl.key.password",
        "kafka.secretProperties[0].secretName=kafka-tls",
        "kafka.secretProperties[0].key=keypass"])
    cm = r.one("ConfigMap")
    text = yaml.safe_dump(cm["data"])
    expect("password" not in text, "no password in the ConfigMap", text)
    props = cm["data"]["worker.properties"].splitlines()
    expect("sasl.mechanism=SCRAM-SHA-512" in props and
           "security.protocol=SASL_SSL" in props, "mechanism and protocol "
           "are plain settings", props)
    for w in workloads(r):
        for c in pod_spec(w)["containers"]:
            env = env_map(c)
            pw = env["KAFKA_SASL_PASSWORD"]["valueFrom"]["secretKeyRef"]
            expect(pw == {"name": "orders-kafka", "key": "password"},
                   "the SASL password comes from the existing Secret", pw)
            kp = env["KAFKA_SECRET_PROPERTY_0"]["valueFrom"]["secretKeyRef"]
            expect(kp == {"name": "kafka-tls", "key": "keypass"}, "secret "
                   "properties come from their Secret", kp)
            x = env["SLUICE_X"]["value"].split(";")
            expect("sasl.password=$(KAFKA_SASL_PASSWORD)" in x and
                   "sasl.username=$(KAFKA_SASL_USERNAME)" in x and
                   "ssl.key.password=$(KAFKA_SECRET_PROPERTY_0)" in x,
                   "SLUICE_X passes the credentials to librdkafka", x)
            for e in c["env"]:
                expect("secretKeyRef" in e.get("valueFrom", {}) or
                       "password" not in e.get("value", "") or
                       "$(" in e.get("value", ""), "no literal password in "
                       "the pod spec", e)
        check_kafka_env(r, w["metadata"]["labels"]
                        ["app.kubernetes.io/component"])


@test
def plugin_image_is_copied_by_an_init_container():
    r = render(sets=["plugin.image.repository=registry.example/plugins",
                     "plugin.image.tag=1.2", "plugin.image.path=/opt/so",
                     "plugin.path=/plugins/mine.so"])
    dep = r.one("Deployment")
    check_pods_hardened(r)
    (init,) = pod_spec(dep)["initContainers"]
    wc = container(dep, "worker")
    expect(init["image"] == "registry.example/plugins:1.2", "the init "
           "container runs the plugin image", init["image"])
    expect("/opt/so" in " ".join(init["command"]), "it copies from "
           "plugin.image.path", init["command"])
    (im,) = init["volumeMounts"]
    vol = volume(dep, im["name"])
    expect("emptyDir" in vol, "plugins travel in an emptyDir", vol)
    dest = [m for m in wc["volumeMounts"] if m["name"] == im["name"]]
    expect(dest and dest[0]["mountPath"] == "/plugins", "the worker sees "
           "the copied plugins at /plugins", wc["volumeMounts"])
    # The worker refuses a plugin in a directory others can write to, and
    # an emptyDir's root is world-writable (0777): the plugins must sit in
    # a subdirectory the init container makes 0755.
    sub = dest[0].get("subPath")
    cmd = " ".join(init["command"])
    expect(sub, "the worker mounts a subdirectory of the emptyDir, not its "
           "world-writable root", dest[0])
    inner = "%s/%s" % (im["mountPath"].rstrip("/"), sub)
    expect(re.search(r"chmod 0?755 %s(\s|;|$)" % re.escape(inner), cmd) and
           re.search(r"cp .*%s/?(\s|;|$)" % re.escape(inner), cmd),
           "the init container copies into that subdirectory and makes it "
           "0755", cmd)
    expect(flag_values(wc, "--plugin") == ["/plugins/mine.so"],
           "the worker loads plugin.path")
    err = render_fails(sets=["plugin.image.repository=r/p",
                             "plugin.path=/opt/mine.so"])
    expect("/plugins" in err, "plugin.path outside /plugins is refused "
           "with the plugin image", err)
    r = render(sets=["plugin.options.us_per_record=5",
                     "plugin.path=/plugins/sleep.so"])
    expect(flag_values(container(r.one("Deployment"), "worker"),
                       "--plugin-opt") == ["us_per_record=5"],
           "plugin.options become --plugin-opt")


@test
def schema_and_template_checks_refuse_bad_values():
    bad = [
        ({"drain": {"workers": 0}}, "drain.workers"),
        ({"scheduler": {"replicas": "two"}}, "scheduler.replicas"),
        ({"scheduler": {"replicas": 0}}, "scheduler.replicas"),
        ({"drian": {"enabled": True}}, "drian"),
        ({"kafka": {"topics": []}}, "kafka.topics"),
        ({"kafka": {"brokers": "no-port"}}, "kafka.brokers"),
        ({"kafka": {"properties": {"sasl.password": "hunter2"}}},
         "kafka.properties"),
        ({"kafka": {"properties": {"linger.ms": "5;acks=0"}}},
         "kafka.properties"),
        ({"kafka": {"sasl": {"enabled": True}}}, "existingSecret"),
        ({"curve": {"enabled": True}}, "existingSecret"),
        ({"plugin": {"path": "copy.so"}}, "plugin.path"),
        ({"autoscaling": {"engine": "magic"}}, "autoscaling.engine"),
        ({"logging": {"format": "xml"}}, "logging.format"),
    ]
    for values, where in bad:
        err = render_fails(values)
        expect("schema" in err and where in err, "helm template refuses %s "
               "through the schema, naming %s" % (values, where), err)
        fd, path = tempfile.mkstemp(suffix=".yaml", dir=_HOME)
        with os.fdopen(fd, "w") as f:
            yaml.safe_dump(values, f)
        r = helm("lint", "--strict", CHART, "-f", path)
        expect(r.returncode != 0, "helm lint fails on %s" % values,
               r.stdout)
    # Checks only a template can make.
    err = render_fails({"worker": {"graceMs": 60000}})
    expect("terminationGracePeriodSeconds" in err, "a --grace-ms longer than "
           "the pod's termination grace is refused", err)
    err = render_fails({"scheduler": {"extraArgs": ["-Xacks=all"]}})
    expect("SLUICE_X" in err, "-X in extraArgs is refused", err)


@test
def order_reaches_the_scheduler():
    r = render({"scheduler": {"order": "key"}})
    expect(flag_values(container(r.one("StatefulSet"), "scheduler"),
                       "--order") == ["key"], "scheduler.order=key gives "
           "--order=key")
    r = render({})
    expect(flag_values(container(r.one("StatefulSet"), "scheduler"),
                       "--order") == [], "the default adds no flag")
    err = render_fails({"scheduler": {"order": "keys"}})
    expect("schema" in err and "scheduler.order" in err,
           "a misspelt order is refused by the schema", err)


@test
def state_topic_reaches_the_scheduler():
    r = render({"scheduler": {"stateTopic": "orders-sluice-state"}})
    expect(flag_values(container(r.one("StatefulSet"), "scheduler"),
                       "--state-topic") == ["orders-sluice-state"],
           "scheduler.stateTopic gives --state-topic")
    r = render({})
    expect(flag_values(container(r.one("StatefulSet"), "scheduler"),
                       "--state-topic") == [], "the default adds no flag")
    err = render_fails({"scheduler": {"stateTopic": "no good!"}})
    expect("schema" in err and "stateTopic" in err,
           "a name Kafka would refuse is refused by the schema", err)


@test
def exactly_once_reaches_both_daemons():
    r = render({"exactlyOnce": True, "scheduler": {"stateTopic": "s"}})
    for kind, name in (("Deployment", "worker"), ("StatefulSet", "scheduler")):
        args = container(r.one(kind), name)["args"]
        expect("--exactly-once" in args, "exactlyOnce gives the %s "
               "--exactly-once" % name, args)
        args = container(render({}).one(kind), name)["args"]
        expect("--exactly-once" not in args, "off by default", args)
    err = render_fails({"exactlyOnce": True})
    expect("stateTopic" in err, "refused without scheduler.stateTopic", err)
    err = render_fails({"exactlyOnce": "yes"})
    expect("schema" in err and "exactlyOnce" in err,
           "a non-boolean is refused by the schema", err)


@test
def large_numbers_render_as_integers():
    r = render({"kafka": {"properties": {"fetch.max.bytes": 104857600}},
                "scheduler": {"jobRecords": 2000000},
                "autoscaling": {"enabled": True, "minReplicas": 1,
                                "keda": {"kafka": {"lagThreshold": 5000000}}}},
               api=["keda.sh/v1alpha1"])
    props = r.one("ConfigMap")["data"]["scheduler.properties"]
    expect("fetch.max.bytes=104857600" in props.splitlines(), "YAML numbers "
           "reach librdkafka as integers", props)
    expect(flag_values(container(r.one("StatefulSet"), "scheduler"),
                       "--job-records") == ["2000000"], "and flags too")
    md = r.one("ScaledObject")["spec"]["triggers"][0]["metadata"]
    expect(md["lagThreshold"] == "5000000", "and KEDA thresholds", md)


if __name__ == "__main__":
    try:
        main()
    finally:
        shutil.rmtree(_HOME, ignore_errors=True)
