"""Security: CURVE between scheduler and workers, and Kafka security
settings that fail fast without leaking secrets.

curve_only_known_workers_get_jobs: a scheduler with a keypair accepts
only the workers whose public certificates are in --curve-clients-dir. A
worker with an unknown key and a plaintext worker connect for seconds and
get no job; the scheduler logs each refused handshake. `sluice status`
needs a known key too. Then a worker with a known key drains everything.

curve_allow_any_still_refuses_plaintext: with --curve-allow-any any key
that completes CURVE is served, a plaintext worker still is not.

kafka_security_mismatch_fails_fast: SASL settings the cluster does not
accept make both daemons exit 2 with one error line, quickly, never
hang, and the password never appears in their output (it is shown as
***). Properties that load code or run commands are refused unless
--allow-unsafe-properties."""
import collections
import json
import os
import shutil
import tempfile
import time

from harness import (BIN, Broker, consume_all, expect, log_events, log_note,
                     main, produce, run_cli, start_proc, start_scheduler,
                     start_worker, test, unique, wait_for)

SLUICE = os.path.join(BIN, "sluice")
RECORDS = 3000


def keygen(directory, name):
    base = os.path.join(directory, name)
    rc, out, err = run_cli([SLUICE, "keygen", "--out", base, "--name", name])
    expect(rc == 0, "sluice keygen %s" % name, err)
    return base


def keys():
    """A private directory with keypairs for the scheduler, a known worker
    and a rogue one; clients/ holds only the known worker's public cert."""
    d = tempfile.mkdtemp(prefix="sluice-test-curve-")
    sched, good, rogue = (keygen(d, n) for n in ("scheduler", "good",
                                                  "rogue"))
    clients = os.path.join(d, "clients")
    os.mkdir(clients)
    shutil.copy(good, os.path.join(clients, "good"))
    return d, sched, good, rogue, clients


def curve_worker(kafka, sched, name, out, cert=None, server=None):
    args = []
    if cert:
        args += ["--curve-cert", cert, "--curve-server-cert", server]
    return start_worker(kafka, sched.endpoint, "copy", name=name,
                        output_topic=out, args=args)


def check_all_out(kafka, out):
    seen = collections.Counter(int(r.key) for r in consume_all(kafka, out))
    missing = [i for i in range(RECORDS) if not seen[i]]
    expect(not missing, "every id is in the output",
           "%d missing" % len(missing))


@test
def curve_only_known_workers_get_jobs():
    d, sched_key, good, rogue, clients = keys()
    src, out, group = unique("in"), unique("out"), unique("g")
    try:
        with Broker(topics={src: 2, out: 2, src + ".dlq": 1}) as kafka:
            produce(kafka, src, ((str(i), str(i), i % 2)
                                 for i in range(RECORDS)))
            sched = start_scheduler(kafka, src, group, args=[
                "--curve-cert", sched_key, "--curve-clients-dir", clients])
            wait_for(lambda: log_events(sched, "CURVE on"), 10,
                     "the scheduler to turn CURVE on")
            intruders = [
                curve_worker(kafka, sched, "rogue", out, rogue, sched_key),
                curve_worker(kafka, sched, "plain", out)]
            refused = wait_for(
                lambda: len(log_events(sched, "handshake refused")) >= 2 and
                log_events(sched, "handshake refused"), 20,
                "the scheduler to log both refused handshakes")
            # The unknown key fails authentication; the plaintext peer fails
            # the handshake (libzmq reports it as a protocol error or
            # without detail, depending on timing).
            reasons = [e["reason"] for e in refused]
            expect(reasons.count("authentication") >= 1 and
                   len(reasons) > reasons.count("authentication"),
                   "one refused for its key, one for speaking plaintext",
                   refused)
            # Whether an intruder ever got a job or joined is checked after
            # the known worker's whole drain, which they run beside.
            expect(log_events(intruders[0], "handshake refused"),
                   "the rogue worker is told its key was refused",
                   intruders[0].log_path)

            # sluice status: refused without a known key, served with one.
            rc, outp, err = run_cli([SLUICE, "status", "--scheduler",
                                     sched.endpoint, "--timeout-ms", "1500"])
            expect(rc == 1 and "CURVE" in err,
                   "status without a key gets no answer and a hint",
                   (rc, err))
            rc, outp, err = run_cli([SLUICE, "status", "--scheduler",
                                     sched.endpoint, "--json",
                                     "--curve-cert", good,
                                     "--curve-server-cert", sched_key])
            expect(rc == 0 and json.loads(outp)["workers"] == [],
                   "status with a known key is answered, no workers", outp)

            good_w = curve_worker(kafka, sched, "good", out, good, sched_key)
            rc = sched.wait(60, watch=[good_w])
            expect(rc == 0, "the known worker drains the topic", rc)
            for w in intruders:
                expect(w.alive() and not log_events(w, "job begin"),
                       "%s, running all along, got no job" % w.name,
                       w.log_path)
            joined = [e["worker"] for e in log_events(sched, "worker joined")]
            good_id = log_events(good_w, "worker started")[0]["worker"]
            expect(joined == [good_id], "no intruder ever joined, the known "
                   "worker did", (joined, good_id))
            check_all_out(kafka, out)
    finally:
        shutil.rmtree(d)


@test
def curve_allow_any_still_refuses_plaintext():
    d, sched_key, good, rogue, clients = keys()
    src, out, group = unique("in"), unique("out"), unique("g")
    try:
        with Broker(topics={src: 2, out: 2, src + ".dlq": 1}) as kafka:
            produce(kafka, src, ((str(i), str(i), i % 2)
                                 for i in range(RECORDS)))
            sched = start_scheduler(kafka, src, group, args=[
                "--curve-cert", sched_key, "--curve-allow-any"])
            plain = curve_worker(kafka, sched, "plain", out)
            wait_for(lambda: log_events(sched, "handshake refused"), 20,
                     "the plaintext worker to be refused")
            anyone = curve_worker(kafka, sched, "rogue", out, rogue,
                                  sched_key)
            rc = sched.wait(60, watch=[anyone])
            expect(rc == 0, "any CURVE worker is served", rc)
            expect(log_events(anyone, "job begin"), "it ran jobs")
            expect(not log_events(plain, "job begin"),
                   "the plaintext worker got none")
            check_all_out(kafka, out)
    finally:
        shutil.rmtree(d)


@test
def kafka_security_mismatch_fails_fast():
    password = "hunter2-%s" % unique("pw")
    sasl = ["-X", "security.protocol=sasl_plaintext",
            "-X", "sasl.mechanism=PLAIN", "-X", "sasl.username=sluice",
            "-X", "sasl.password=" + password]
    src, out, group = unique("in"), unique("out"), unique("g")
    with Broker(topics={src: 1, out: 1}) as kafka:
        sched = start_scheduler(kafka, src, group, args=sasl)
        worker = start_proc("worker", [
            os.path.join(BIN, "sluice-worker"), "--brokers", kafka.bootstrap,
            "--scheduler", "tcp://127.0.0.1:9",
            "--plugin", os.path.join(BIN, "..", "plugins", "copy.so"),
            "--output-topic", out] + sasl)
        t0 = time.monotonic()
        for p in (sched, worker):
            rc = p.wait(30)
            took = time.monotonic() - t0
            log_note("%s exited %d after %.1f s" % (p.name, rc, took))
            expect(rc == 2, "%s exits 2 on security settings the cluster "
                   "refuses" % p.name, "exit %d; log %s" % (rc, p.log_path))
            errors = [l for l in p.log_lines() if " error " in l and
                      "security settings" in l]
            expect(len(errors) == 1, "%s says so in one error line"
                   % p.name, p.log_tail())
            expect(password not in p.log_text(),
                   "%s never prints the password" % p.name, p.log_path)
            expect("sasl.password=***" in p.log_text(),
                   "%s shows its properties with the password masked"
                   % p.name, p.log_path)
        expect(time.monotonic() - t0 < 20, "both fail fast, never hang")

    # Code-loading properties: refused unless explicitly allowed.
    for binary, base in (("sluice-scheduler", ["--brokers", "127.0.0.1:9",
                                               "--topic", "t", "--group",
                                               "g"]),
                         ("sluice-worker", ["--brokers", "127.0.0.1:9",
                                            "--scheduler",
                                            "tcp://127.0.0.1:9",
                                            "--plugin", "/nonexistent.so"])):
        for prop in ("plugin.library.paths=/tmp/evil.so",
                     "sasl.kerberos.kinit.cmd=/bin/sh -c id",
                     "ssl.engine.location=/tmp/evil.so"):
            rc, o, err = run_cli([os.path.join(BIN, binary)] + base +
                                 ["-X", prop])
            key = prop.split("=")[0]
            expect(rc == 2 and key in err and
                   "--allow-unsafe-properties" in err and
                   err.count("\n") == 1,
                   "%s refuses -X %s in one line" % (binary, key), err)
    # Allowed explicitly, the property gets through to librdkafka (and the
    # scheduler starts; it is stopped at once).
    argv = ["timeout", "--preserve-status", "-s", "TERM", "2",
            os.path.join(BIN, "sluice-scheduler"), "--brokers",
            "127.0.0.1:9", "--topic", "t", "--group", "g",
            "--bind", "tcp://127.0.0.1:0", "--allow-unsafe-properties",
            "-X", "sasl.kerberos.kinit.cmd=/bin/true"]
    rc, o, err = run_cli(argv)
    expect("scheduler started" in err, "--allow-unsafe-properties lets it "
           "through", err[-400:])


if __name__ == "__main__":
    main()
