"""Every binary refuses bad flags the same way: exit 2, one line on stderr
that says what is wrong (and how to fix it), nothing else. Needs no broker:
the flags are refused before anything connects."""
import os
import signal

from harness import (BIN, Broker, expect, high_watermarks, log_note, main,
                     plugin_path, run_cli, test)

SCHED = os.path.join(BIN, "sluice-scheduler")
WORKER = os.path.join(BIN, "sluice-worker")
SLUICE = os.path.join(BIN, "sluice")
# Addresses nothing listens on: a refused flag must never get that far.
NOWHERE_KAFKA = "127.0.0.1:9"
NOWHERE_ZMQ = "tcp://127.0.0.1:9"
SCHED_OK = ["--brokers", NOWHERE_KAFKA, "--topic", "t", "--group", "g"]
WORKER_OK = ["--brokers", NOWHERE_KAFKA, "--scheduler", NOWHERE_ZMQ]


def refused(argv, why, env=None, mention=None):
    """argv exits 2 with exactly one non-empty stderr line."""
    rc, out, err = run_cli(argv, timeout=30, env=env)
    lines = err.splitlines()
    shown = " ".join(os.path.basename(a) if a.startswith("/") else a
                     for a in argv)
    expect(rc == 2, "%s (%s) exits 2" % (shown, why),
           "exit %d, stderr %r" % (rc, err[-500:]))
    expect(len(lines) == 1 and lines[0].strip(),
           "%s (%s) prints exactly one line on stderr" % (shown, why),
           "got %d lines: %r" % (len(lines), err[-500:]))
    if mention:
        expect(mention in lines[0], "%s: the message names %r"
               % (shown, mention), lines[0])
    log_note("ok: %s -> %s" % (shown, lines[0]))


@test
def scheduler_bad_flags():
    refused([SCHED] + SCHED_OK + ["--window", "0"], "window 0", mention="window")
    refused([SCHED] + SCHED_OK + ["--job-records", "abc"], "not a number",
            mention="job-records")
    refused([SCHED] + SCHED_OK + ["--no-such-flag"], "unknown flag",
            mention="no-such-flag")
    refused([SCHED, "--brokers", NOWHERE_KAFKA, "--group", "g"],
            "missing --topic", mention="topic")
    refused([SCHED] + SCHED_OK, "SLUICE_WINDOW=0",
            env={"SLUICE_WINDOW": "0"}, mention="SLUICE_WINDOW")
    refused([SCHED] + SCHED_OK + ["-X", "novalue"], "-X without =")


@test
def worker_loads_plugins_only_from_safe_places():
    """A plugin is code: an absolute path or --plugin-dir, never a relative
    path; never a file or directory that other users can write to."""
    import shutil
    import tempfile
    rel = os.path.relpath(plugin_path("noop"))
    refused([WORKER] + WORKER_OK + ["--plugin", rel],
            "relative plugin path", mention="absolute path")
    refused([WORKER] + WORKER_OK + ["--plugin", "noop"],
            "a name without --plugin-dir", mention="--plugin-dir")
    refused([WORKER] + WORKER_OK + ["--plugin", "noop",
                                    "--plugin-dir", "build/plugins"],
            "relative --plugin-dir", mention="absolute directory")
    work = tempfile.mkdtemp(prefix="sluice-test-plugins-")
    try:
        os.chmod(work, 0o755)
        copy = os.path.join(work, "noop.so")
        shutil.copy(plugin_path("noop"), copy)
        os.chmod(copy, 0o757)
        refused([WORKER] + WORKER_OK + ["--plugin", copy],
                "world-writable plugin file", mention="writable by other")
        os.chmod(copy, 0o755)
        os.chmod(work, 0o777)
        refused([WORKER] + WORKER_OK + ["--plugin", "noop",
                                        "--plugin-dir", work],
                "plugin in a world-writable directory",
                mention="its directory is writable by other users")
        # Made safe, the same name in the same directory loads: the worker
        # gets past loading (it then stops on SIGTERM with exit 0).
        os.chmod(work, 0o755)
        argv = ["timeout", "--preserve-status", "-s", "TERM", "2", WORKER]
        argv += WORKER_OK + ["--plugin", "noop", "--plugin-dir", work]
        rc, out, err = run_cli(argv, timeout=30)
        expect(rc == 0 and "worker started" in err and "plugin=noop" in err,
               "--plugin-dir DIR --plugin NAME loads DIR/NAME.so",
               "exit %d: %s" % (rc, err[-400:]))
    finally:
        os.chmod(work, 0o755)
        shutil.rmtree(work)


@test
def keygen_writes_a_czmq_keypair():
    import stat
    import tempfile
    work = tempfile.mkdtemp(prefix="sluice-test-keygen-")
    base = os.path.join(work, "worker-1")
    rc, out, err = run_cli([SLUICE, "keygen", "--out", base, "--name", "w1"])
    expect(rc == 0, "sluice keygen exits 0", err)
    public = open(base).read()
    secret = open(base + "_secret").read()
    key = out.strip()
    expect(len(key) == 40, "it prints the 40-character Z85 public key", out)
    expect('public-key = "%s"' % key in public and "secret-key" not in public,
           "the public certificate holds the public key only", public)
    expect('public-key = "%s"' % key in secret and "secret-key" in secret,
           "the secret certificate holds the keypair", secret)
    expect('name = "w1"' in public, "--name goes into the metadata", public)
    mode = stat.S_IMODE(os.stat(base + "_secret").st_mode)
    expect(mode == 0o600, "the secret file is mode 0600", oct(mode))
    refused([SLUICE, "keygen", "--out", base], "keypair exists",
            mention="--force")
    rc, out2, err = run_cli([SLUICE, "keygen", "--out", base, "--force"])
    expect(rc == 0 and out2.strip() != key, "--force makes a new keypair",
           err)
    refused([SLUICE, "keygen"], "no --out", mention="--out")
    for f in os.listdir(work):
        os.unlink(os.path.join(work, f))
    os.rmdir(work)


@test
def worker_bad_flags():
    refused([WORKER] + WORKER_OK, "no --plugin", mention="plugin")
    refused([WORKER] + WORKER_OK + ["--plugin", "/nonexistent.so"],
            "plugin file missing", mention="/nonexistent.so")
    refused([WORKER] + WORKER_OK + ["--plugin", plugin_path("noop"),
                                    "--plugin-opt", "novalue"],
            "--plugin-opt without =", mention="novalue")
    refused([WORKER] + WORKER_OK + ["--plugin", plugin_path("noop"),
                                    "--plugin-opt", "colour=blue"],
            "an option noop does not take", mention="colour")
    refused([WORKER] + WORKER_OK + ["--plugin", plugin_path("noop"),
                                    "--credits", "0"], "credits 0",
            mention="credits")


@test
def sluice_bad_flags():
    refused([SLUICE], "no command")
    refused([SLUICE, "no-such-command"], "unknown command",
            mention="no-such-command")
    refused([SLUICE, "kafka", "--brokers", "0"], "brokers 0",
            mention="brokers")
    refused([SLUICE, "kafka", "--brokers", "33"], "brokers 33",
            mention="brokers")
    refused([SLUICE, "kafka", "--topic", "orders"], "no partitions",
            mention="NAME:PARTITIONS")
    refused([SLUICE, "kafka", "--topic", "orders:0"], "0 partitions",
            mention="orders:0")
    refused([SLUICE, "kafka", "--topic", "orders:10001"], "too many",
            mention="10000")
    refused([SLUICE, "kafka", "--topic", "bad/name:3"], "bad topic name",
            mention="bad/name")
    refused([SLUICE, "kafka", "--topic", "a:1", "--topic", "a:2"],
            "topic twice", mention="'a'")
    refused([SLUICE, "demo", "--workers", "0"], "demo workers 0",
            mention="workers")


@test
def sluice_help_exits_0():
    for argv in ([SLUICE, "--help"], [SLUICE, "kafka", "--help"],
                 [SLUICE, "demo", "--help"]):
        rc, out, err = run_cli(argv)
        expect(rc == 0 and "usage" in out, "%s exits 0 with usage"
               % " ".join(argv[1:]), "exit %d, %r" % (rc, (out + err)[-300:]))


@test
def sluice_kafka_serves_until_sigterm():
    # Always the embedded broker, whatever SLUICE_TEST_BROKER says.
    for signo in (signal.SIGTERM, signal.SIGINT):
        b = Broker(topics={"a": 3, "b.dlq": 1}, brokers=3, kind="embedded")
        b.start(timeout=30)
        expect(len(b.bootstrap.split(",")) == 3,
               "3 brokers in the bootstrap list", b.bootstrap)
        expect(sorted(high_watermarks(b, "a")) == [0, 1, 2],
               "topic a has 3 partitions")
        expect(sorted(high_watermarks(b, "b.dlq")) == [0],
               "topic b.dlq has 1 partition")
        proc = b.proc
        proc.signal(signo)
        rc = proc.wait(15)
        expect(rc == 0, "sluice kafka exits 0 on %s" % signo.name,
               "exit %d" % rc)
        b.proc = None
        b.stop()


if __name__ == "__main__":
    main()
