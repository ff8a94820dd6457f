"""`sluice plugin run` and `sluice plugin check`: a plugin author's loop
without Kafka. Runs the bundled plugins on records from stdin and checks
what they emitted, rejected and retried; checks that `check` passes the
bundled plugins and says in plain words what is wrong with broken ones
(the loader's fixtures in build/tests/fixtures)."""
import json
import os
import subprocess
import time

from harness import BIN, BUILD, expect, log_note, main, plugin_path, test

SLUICE = os.path.join(BIN, "sluice")
FIXTURES = os.path.join(BUILD, "tests", "fixtures")


def run(args, stdin=""):
    p = subprocess.run([SLUICE, "plugin"] + args, input=stdin.encode(),
                       capture_output=True, timeout=60)
    return (p.returncode, p.stdout.decode(), p.stderr.decode())


def events(out):
    return [json.loads(line) for line in out.splitlines() if line.strip()]


@test
def run_copy_emits_every_record_with_key_value_and_headers():
    records = [{"key": "k%d" % i, "value": "v%d" % i} for i in range(1200)]
    records.append({"value": {"nested": [1, 2]}, "headers": {"h": "x"}})
    stdin = "\n".join(json.dumps(r) for r in records) + "\n"
    rc, out, err = run(["run", "--plugin", plugin_path("copy")], stdin)
    expect(rc == 0, "run exits 0", err)
    got = events(out)
    emits = [e for e in got if "emit" in e]
    expect(len(emits) == len(records), "every record is emitted once",
           "%d of %d" % (len(emits), len(records)))
    expect([e["emit"] for e in emits] == list(range(1, len(records) + 1)),
           "emits are numbered in order")
    expect(emits[7]["key"] == "k7" and emits[7]["value"] == "v7",
           "key and value come through", emits[7])
    expect(emits[-1]["key"] is None and
           json.loads(emits[-1]["value"]) == {"nested": [1, 2]} and
           emits[-1]["headers"] == {"h": "x"},
           "a JSON value is passed as its text, headers come through",
           emits[-1])
    expect("records=1201 ok=1201 rejected=0 retried=0 emitted=1201" in err,
           "the summary counts everything", err)


@test
def run_reports_rejects_with_their_offset_and_reason():
    lines = ["fine", "also fine", "has BAD inside", "fine again"]
    rc, out, err = run(["run", "--plugin", plugin_path("fault"),
                        "--plugin-opt", "reject_on=BAD", "--format", "lines"],
                       "\n".join(lines) + "\n")
    expect(rc == 0, "run exits 0", err)
    got = events(out)
    rejects = [e for e in got if "reject" in e]
    expect(rejects == [{"reject": 2, "reason": "matched reject_on"}],
           "exactly offset 2 is rejected, with the plugin's reason", got)
    expect(len([e for e in got if "emit" in e]) == 3,
           "the other three are emitted", got)
    rc, out, err = run(["run", "--plugin", plugin_path("jsonvalid"),
                        "--format", "lines"], '{"a":1}\n{nope\n')
    rejects = [e for e in events(out) if "reject" in e]
    expect(len(rejects) == 1 and rejects[0]["reject"] == 1 and
           "invalid JSON" in rejects[0]["reason"],
           "jsonvalid rejects the broken document", out)


@test
def run_retries_then_rejects_what_the_plugin_keeps_retrying():
    t0 = time.monotonic()
    rc, out, err = run(["run", "--plugin", os.path.join(FIXTURES, "probe.so"),
                        "--plugin-opt", "mode=retry-always",
                        "--record-retries", "2", "--format", "lines"],
                       "x\n")
    took = time.monotonic() - t0
    # The worker's own retry loop, backoff included: 20 ms, then 40 ms.
    expect(took >= 0.06, "the retries wait as a worker's do (20 + 40 ms)",
           "%.3f s" % took)
    got = events(out)
    retries = [e for e in got if "retry" in e]
    rejects = [e for e in got if "reject" in e]
    expect(rc == 0 and len(retries) == 2 and
           [r["round"] for r in retries] == [1, 2],
           "two rounds of retries for --record-retries 2", (rc, got, err))
    expect(len(rejects) == 1 and
           rejects[0]["reason"].startswith("gave up retrying"),
           "then the record is rejected", got)


@test
def run_refuses_bad_input_with_its_line_number():
    rc, out, err = run(["run", "--plugin", plugin_path("copy")],
                       '{"value":"ok"}\nnot json\n')
    expect(rc == 2 and "line 2" in err and err.count("\n") == 1,
           "bad input: exit 2, one line naming the line", (rc, err))
    rc, out, err = run(["run", "--plugin", plugin_path("copy")],
                       '{"valeu":"typo"}\n')
    expect(rc == 2 and "unknown field \"valeu\"" in err,
           "an unknown field is named", (rc, err))


@test
def check_passes_the_bundled_plugins():
    for name in ("copy", "noop", "jsonvalid", "sleep", "fault"):
        rc, out, err = run(["check", plugin_path(name)])
        expect(rc == 0 and out.strip().endswith("PASS"),
               "check passes %s" % name, out + err)
    log_note("check output for copy:\n" + out)


@test
def check_says_what_is_wrong():
    cases = [
        ("no_entry.so", [], "no symbol sluice_plugin_entry"),
        ("abi_major2.so", [], "ABI"),
        ("null_process.so", [], "process"),
        ("probe.so", ["--plugin-opt", "nosuch=1"], "unknown option 'nosuch'"),
        ("probe.so", ["--plugin-opt", "mode=fail-create"],
         "told to fail"),
        ("probe.so", ["--plugin-opt", "mode=crash-create"],
         "crashed with Aborted during loading"),
    ]
    for fixture, extra, want in cases:
        rc, out, err = run(["check", os.path.join(FIXTURES, fixture)] + extra)
        expect(rc == 1 and want in out and out.strip().endswith("FAIL"),
               "check %s %s says %r" % (fixture, extra, want), out + err)
        log_note("%s: %s" % (fixture, [l for l in out.splitlines()
                                        if l.startswith("FAIL:")]))


if __name__ == "__main__":
    main()
