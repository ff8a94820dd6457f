"""The plugin SDK, as a plugin author outside the source tree uses it.

Installs the build tree with `cmake --install` into a private prefix, then
builds docs/plugin-template from a copy outside the source tree two ways:
with CMake (find_package(sluice), sluice::plugin) and with one cc command
line (pkg-config --cflags sluice-plugin). Each .so goes through the
installed `sluice plugin check` and `sluice plugin run`. Also: the Rust
example (examples/plugins/rust/upper.rs, built by CMake when rustc is
found) and plugins built at ABI 1.0 and 1.1 as `sluice plugin check` shows
them.

Needs no broker: a few seconds, the time of one CMake configure."""
import atexit
import glob
import json
import os
import re
import shutil
import subprocess
import tempfile

from harness import (BIN, BUILD, PLUGINS, SOURCE, Broker, consume_all,
                     produce, start_proc, start_scheduler, unique, expect,
                     log_note, main,
                     test, test_dir)

TEMPLATE = os.path.join(SOURCE, "docs", "plugin-template")
HEADER = os.path.join(SOURCE, "worker", "include", "sluice", "plugin.h")
FIXTURES = os.path.join(BUILD, "tests", "fixtures")
BINARIES = ("sluice", "sluice-scheduler", "sluice-worker")

# The worker refuses plugins in files or directories others can write to:
# whatever umask ctest was started with, make ours 0755.
os.umask(0o022)


def sh(argv, cwd=None, env=None, stdin=None, timeout=120):
    """Run a command; return (exit code, stdout, stderr) as text."""
    full = dict(os.environ)
    full.update(env or {})
    p = subprocess.run(argv, cwd=cwd, env=full, capture_output=True,
                       input=stdin.encode() if stdin is not None else None,
                       stdin=None if stdin is not None else subprocess.DEVNULL,
                       timeout=timeout)
    return (p.returncode, p.stdout.decode("utf-8", "replace"),
            p.stderr.decode("utf-8", "replace"))


def abi_version():
    """(major, minor) from the source header."""
    with open(HEADER) as f:
        text = f.read()
    return tuple(int(re.search(r"#define SLUICE_PLUGIN_ABI_%s +(\d+)" % part,
                               text).group(1)) for part in ("MAJOR", "MINOR"))


def project_version():
    with open(os.path.join(SOURCE, "CMakeLists.txt")) as f:
        return re.search(r"project \(sluice VERSION ([0-9.]+)",
                         f.read()).group(1)


def cache_value(name):
    """A variable from the build tree's CMakeCache.txt, or None."""
    with open(os.path.join(BUILD, "CMakeCache.txt")) as f:
        for line in f:
            if line.startswith(name + ":"):
                return line.split("=", 1)[1].strip()
    return None


_prefix = None


def prefix():
    """The build tree installed (once) into a private 0700 directory."""
    global _prefix
    if _prefix is None:
        _prefix = tempfile.mkdtemp(prefix="sluice-sdk-")
        atexit.register(shutil.rmtree, _prefix, True)
        rc, out, err = sh(["cmake", "--install", BUILD, "--prefix", _prefix])
        expect(rc == 0, "cmake --install exits 0", out + err)
        log_note("installed %s into %s" % (BUILD, _prefix))
    return _prefix


def one(pattern):
    """The single path matching a glob under the install prefix."""
    hits = glob.glob(os.path.join(prefix(), pattern), recursive=True)
    expect(len(hits) == 1, "exactly one %s in the install" % pattern, hits)
    return hits[0]


def pkg_config_path():
    return os.path.dirname(one("**/pkgconfig/sluice-plugin.pc"))


def sluice(*args, stdin=None):
    """The installed `sluice`."""
    return sh([os.path.join(prefix(), "bin", "sluice")] + list(args),
              stdin=stdin)


def template_copy():
    """A copy of docs/plugin-template in a scratch directory (0700, outside
    the source tree); returns its path."""
    dst = os.path.join(test_dir(), "myplugin")
    shutil.copytree(TEMPLATE, dst)
    expect(not os.path.exists(os.path.join(dst, "build")),
           "the template has no build tree in it")
    return dst


def events(out):
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def check_and_run_template(so):
    """`sluice plugin check` and `sluice plugin run` on a build of the
    template: every outcome kind, emit with headers, options."""
    major, minor = abi_version()
    rc, out, err = sluice("plugin", "check", so)
    expect(rc == 0 and out.rstrip().endswith("PASS"), "check passes",
           out + err)
    expect("ok: loaded myplugin 1.0, ABI %d.%d" % (major, minor) in out,
           "check names the plugin and the ABI it was built at", out)
    expect("ok: description: Template: tags each value with a prefix and "
           "emits it." in out, "check shows the description", out)
    expect("1 ok, 0 retry, 2 reject, 1 emitted" in out,
           "check ran the three records", out)
    expect("ok: hooks: create job_begin_call process_call job_end_call "
           "destroy" in out and "thread-safe (one instance" in out,
           "the template uses the call context (ABI 1.2), thread-safe", out)

    rc, out, err = sluice("plugin", "check", so, "--plugin-opt", "colour=red")
    expect(rc == 1 and "unknown option 'colour' (myplugin accepts: prefix, "
           "max_bytes, busy_on)" in out, "an unknown option is refused",
           out + err)
    rc, out, err = sluice("plugin", "check", so, "--plugin-opt",
                          "max_bytes=lots")
    expect(rc == 1 and "create failed: myplugin: option max_bytes: \"lots\" "
           "is not a whole number" in out,
           "create's own message (from sluice/sdk.h) reaches check", out + err)

    records = [
        {"key": "k0", "value": "hello", "headers": {"trace": "t0"}},
        {"key": "k1", "value": ""},
        {"key": "k2", "value": "am busy"},
        {"key": "k3", "value": "x" * 20},
        {"key": "k4"},
    ]
    stdin = "".join(json.dumps(r) + "\n" for r in records)
    rc, out, err = sluice("plugin", "run", "--plugin", so,
                          "--plugin-opt", "prefix=tag:",
                          "--plugin-opt", "busy_on=busy",
                          "--plugin-opt", "max_bytes=10", stdin=stdin)
    expect(rc == 0, "run exits 0", out + err)
    got = events(out)
    emits = [e for e in got if "emit" in e]
    expect([(e["key"], e["value"]) for e in emits] ==
           [("k0", "tag:hello"), ("k2", "tag:am busy")],
           "OK records are emitted with the prefix, keys kept", got)
    expect(emits[0]["headers"] == {"trace": "t0", "myplugin.job": "1",
                                   "myplugin.version": "1.0"},
           "the record's headers are copied and two are added", emits[0])
    retries = [e for e in got if "retry" in e]
    expect(retries == [{"retry": 2, "round": 1, "reason": "pretending the "
                        "service is busy (busy_on=busy)"}],
           "offset 2 is retried once, alone, then succeeds", got)
    rejects = {e["reject"]: e["reason"] for e in got if "reject" in e}
    expect(rejects == {1: "empty value: nothing to tag",
                       3: "value is 20 bytes, max_bytes is 10",
                       4: "empty value: nothing to tag"},
           "empty values, tombstones and long values are rejected with "
           "the plugin's reason", got)
    expect("records=5 ok=2 rejected=3 retried=1 emitted=2" in err,
           "the summary counts every outcome", err)
    expect("myplugin ready output=output prefix=\"tag:\" max_bytes=10" in err,
           "host->log reaches the log, tagged with the plugin", err)


@test
def install_puts_everything_in_place():
    p = prefix()
    for name in BINARIES:
        path = os.path.join(p, "bin", name)
        expect(os.access(path, os.X_OK), "bin/%s is installed" % name, path)
    plugin_dir = os.path.dirname(one("lib*/**/sluice/plugins/copy.so"))
    bundled = sorted(os.path.basename(f) for f in
                     glob.glob(os.path.join(SOURCE, "worker", "plugins",
                                            "*.c")))
    got = sorted(os.listdir(plugin_dir))
    expect(got == [b[:-2] + ".so" for b in bundled],
           "the bundled plugins (and only those) are in lib/sluice/plugins",
           got)
    mode = os.stat(plugin_dir).st_mode & 0o777
    expect(mode == 0o755, "the plugin directory is 0755", oct(mode))
    for name in ("plugin.h", "sdk.h"):
        with open(os.path.join(os.path.dirname(HEADER), name), "rb") as a, \
                open(os.path.join(p, "include", "sluice", name), "rb") as b:
            expect(a.read() == b.read(),
                   "include/sluice/%s is the source's" % name)
    one("lib*/**/cmake/sluice/sluiceConfig.cmake")
    one("lib*/**/cmake/sluice/sluiceConfigVersion.cmake")

    env = {"PKG_CONFIG_PATH": pkg_config_path()}
    rc, out, err = sh(["pkg-config", "--modversion", "sluice-plugin"], env=env)
    expect(rc == 0 and out.strip() == project_version(),
           "sluice-plugin.pc has the project version", out + err)
    rc, out, err = sh(["pkg-config", "--cflags", "--libs", "sluice-plugin"],
                      env=env)
    flags = out.split()
    expect(rc == 0 and len(flags) == 1 and flags[0].startswith("-I") and
           os.path.samefile(flags[0][2:], os.path.join(p, "include")),
           "pkg-config gives -I<prefix>/include and no libraries", out + err)
    major, minor = abi_version()
    for var, want in (("abi_major", major), ("abi_minor", minor)):
        rc, out, err = sh(["pkg-config", "--variable=" + var,
                           "sluice-plugin"], env=env)
        expect(out.strip() == str(want), "pkg-config %s is %d" % (var, want),
               out + err)
    rc, out, err = sh(["pkg-config", "--variable=plugindir", "sluice-plugin"],
                      env=env)
    expect(os.path.samefile(out.strip(), plugin_dir),
           "pkg-config's plugindir is where the plugins are", out)

    # The installed tools work from there, and the worker accepts the
    # installed plugin directory.
    rc, out, err = sluice("plugin", "check", os.path.join(plugin_dir,
                                                          "copy.so"))
    expect(rc == 0 and "ok: description: Copies every record" in out,
           "the installed sluice checks an installed plugin", out + err)
    rc, out, err = sh([os.path.join(p, "bin", "sluice-worker"), "--help"])
    expect(rc == 0 and "--plugin-dir" in out, "the installed worker runs",
           out + err)


@test
def demo_runs_from_a_moved_install():
    """`sluice demo` finds the plugins of an installed prefix (not only the
    build tree's ../plugins), wherever the prefix was moved to."""
    moved = os.path.join(test_dir(), "moved-prefix")
    shutil.copytree(prefix(), moved, symlinks=True)
    expect(not os.path.exists(os.path.join(moved, "plugins")),
           "an install has no build-tree ../plugins next to bin/")
    rc, out, err = sh([os.path.join(moved, "bin", "sluice"), "demo",
                       "--records", "3000", "--workers", "1"], timeout=180)
    expect(rc == 0, "the installed sluice demo passes", (out + err)[-2000:])
    expect(re.search(r"lost +0\n", out), "the demo lost nothing", out[-800:])


@test
def template_builds_with_cmake_find_package():
    src = template_copy()
    build = os.path.join(src, "build")
    rc, out, err = sh(["cmake", "-S", src, "-B", build,
                       "-DCMAKE_PREFIX_PATH=" + prefix()])
    expect(rc == 0, "the template configures against the install", out + err)
    with open(os.path.join(build, "CMakeCache.txt")) as f:
        found = re.search(r"^sluice_DIR:PATH=(.*)$", f.read(), re.M).group(1)
    expect(found.startswith(prefix()), "find_package (sluice) found the "
           "installed package, not another one", found)
    rc, out, err = sh(["cmake", "--build", build])
    expect(rc == 0, "the template builds", out + err)
    expect("warning" not in (out + err).lower(), "without warnings", out + err)
    so = os.path.join(build, "myplugin.so")
    expect(os.path.isfile(so), "it makes myplugin.so (no lib prefix)",
           os.listdir(build))
    rc, out, err = sh(["nm", "-D", "--defined-only", so])
    expect(out.split()[-1:] == ["sluice_plugin_entry"] and
           len(out.splitlines()) == 1,
           "hidden visibility: only sluice_plugin_entry is exported", out)
    # The template's own test: `sluice plugin check` through sluice::sluice.
    rc, out, err = sh(["ctest", "--output-on-failure"], cwd=build)
    expect(rc == 0 and "sluice-plugin-check" in out and
           "100% tests passed" in out, "the template's ctest passes", out + err)
    check_and_run_template(so)


@test
def template_plugin_runs_under_a_real_worker():
    """The template, built outside the tree against the installed SDK, run
    by the installed sluice-worker (two lanes sharing its one instance) on
    a real drain: OK records reach the output tagged, the empty ones go to
    the DLQ with the plugin's reason."""
    src = template_copy()
    build = os.path.join(src, "build")
    rc, out, err = sh(["cmake", "-S", src, "-B", build,
                       "-DCMAKE_PREFIX_PATH=" + prefix()])
    expect(rc == 0, "the template configures", out + err)
    rc, out, err = sh(["cmake", "--build", build])
    expect(rc == 0, "the template builds", out + err)
    so = os.path.join(build, "myplugin.so")
    n = 400
    src_t, out_t, group = unique("in"), unique("out"), unique("g")
    dlq = src_t + ".dlq"
    with Broker(topics={src_t: 2, out_t: 2, dlq: 1}) as kafka:
        produce(kafka, src_t, ((str(i), "" if i % 100 == 7 else "v%d" % i,
                                i % 2) for i in range(n)))
        sched = start_scheduler(kafka, src_t, group)
        worker = start_proc("worker", [
            os.path.join(prefix(), "bin", "sluice-worker"),
            "--brokers", kafka.bootstrap, "--scheduler", sched.endpoint,
            "--plugin", so, "--plugin-opt", "prefix=tag:",
            # Thread-safe: one instance, a slot per lane (ABI 1.2).
            "--concurrency", "2",
            "--output-topic", out_t] + kafka.daemon_props())
        rc = sched.wait(60, watch=[worker])
        expect(rc == 0, "the drain with the template plugin finishes", rc)
        got = {r.key.decode(): r.value.decode()
               for r in consume_all(kafka, out_t)}
        expect(len(got) == n - 4 and got["0"] == "tag:v0" and
               got["399"] == "tag:v399",
               "every non-empty value reaches the output, tagged",
               "%d records" % len(got))
        dead = consume_all(kafka, dlq)
        reasons = {dict(r.headers or []).get("sluice.reason", b"").decode()
                   for r in dead}
        expect(sorted(int(r.key) for r in dead) == [7, 107, 207, 307] and
               reasons == {"empty value: nothing to tag"},
               "the empty values are dead-lettered with the plugin's reason",
               (sorted(int(r.key) for r in dead), reasons))
        log_note("template plugin under the installed worker: %d out, %d "
                 "dead-lettered" % (len(got), len(dead)))


@test
def template_builds_with_one_cc_line_and_pkg_config():
    src = template_copy()
    env = {"PKG_CONFIG_PATH": pkg_config_path()}
    rc, out, err = sh(["sh", "-c", "cc $(pkg-config --cflags sluice-plugin) "
                       "-shared -fPIC myplugin.c -o myplugin.so"],
                      cwd=src, env=env)
    expect(rc == 0, "the documented cc line builds the template", out + err)
    # The header and the template stay clean under strict flags, in C and
    # (the header) in C++.
    rc, out, err = sh(["sh", "-c", "cc $(pkg-config --cflags sluice-plugin) "
                       "-std=c11 -pedantic -Wall -Wextra -Wshadow "
                       "-Wstrict-prototypes -Wmissing-prototypes -Werror "
                       "-fsyntax-only myplugin.c"], cwd=src, env=env)
    expect(rc == 0, "the template has no warnings with -std=c11 -pedantic",
           out + err)
    with open(os.path.join(src, "header.cpp"), "w") as f:
        f.write("#include <sluice/plugin.h>\n"
                "#include <sluice/sdk.h>\n"
                "static_assert (sizeof (sluice_plugin_t) > 0, \"\");\n"
                "int f (const sluice_host_t *h, sluice_ctx_t *c);\n"
                "int f (const sluice_host_t *h, sluice_ctx_t *c) {\n"
                "    sluice_opts_t o = sluice_opts (h, c, \"x\", 0, 0);\n"
                "    return (int)sluice_opt_int (&o, \"n\", 1, 0, 9);\n"
                "}\n")
    rc, out, err = sh(["sh", "-c", "c++ $(pkg-config --cflags sluice-plugin) "
                       "-std=c++11 -Wall -Wextra -Werror -fsyntax-only "
                       "header.cpp"], cwd=src, env=env)
    expect(rc == 0, "the headers (plugin.h, sdk.h) compile as C++", out + err)
    check_and_run_template(os.path.join(src, "myplugin.so"))


@test
def rust_example_plugin_uppercases():
    so = os.path.join(PLUGINS, "upper_rs.so")
    rustc = cache_value("SLUICE_RUSTC")
    if not os.path.exists(so) and (not rustc or rustc.endswith("NOTFOUND")):
        log_note("SKIP rust_example_plugin_uppercases: rustc was not found "
                 "when CMake configured %s (apt-get install rustc)" % BUILD)
        return
    expect(os.path.isfile(so), "rustc is configured (%s), so CMake built "
           "plugins/upper_rs.so" % rustc, so)
    major, minor = abi_version()
    sl = os.path.join(BIN, "sluice")
    rc, out, err = sh([sl, "plugin", "check", so])
    expect(rc == 0 and out.rstrip().endswith("PASS"), "check passes",
           out + err)
    # upper.rs declares the 1.1 tables by hand: a 1.1 plugin on this worker.
    expect("ok: loaded upper_rs 1.0, ABI %d.1 (this sluice speaks %d.%d)"
           % (major, major, minor) in out and
           "thread-safe (one instance" in out, "its table is read right", out)
    expect("ok: description: Uppercases each value and emits it" in out,
           "its description is shown", out)

    stdin = "hello\nwörld straße\n".encode() + b"\xff\n"
    p = subprocess.run([sl, "plugin", "run", "--plugin", so, "--format",
                        "lines", "--plugin-opt", "suffix=!"], input=stdin,
                       capture_output=True, timeout=60)
    out, err = p.stdout.decode(), p.stderr.decode()
    expect(p.returncode == 0, "run exits 0", out + err)
    got = events(out)
    expect([e.get("value") for e in got if "emit" in e] ==
           ["HELLO!", "WÖRLD STRASSE!"],
           "values are uppercased (Unicode rules) with the suffix", got)
    expect([(e["reject"], e["reason"]) for e in got if "reject" in e] ==
           [(2, "value is not UTF-8 text (bad byte at 0)")],
           "a value that is not UTF-8 is rejected with a reason", got)

    records = [{"key": "k", "value": "abc", "headers": {"h": "v"}},
               {"key": "gone"}]
    rc, out, err = sh([sl, "plugin", "run", "--plugin", so],
                      stdin="".join(json.dumps(r) + "\n" for r in records))
    got = events(out)
    expect(rc == 0 and got == [
        {"emit": 1, "key": "k", "value": "ABC", "headers": {"h": "v"}},
        {"emit": 2, "key": "gone", "value": None}],
        "key and headers pass through; a tombstone stays one", out + err)
    rc, out, err = sh([sl, "plugin", "run", "--plugin", so,
                       "--output-topic", ""], stdin="")
    expect(rc == 2 and "upper_rs emits every record: give the worker "
           "--output-topic TOPIC" in err,
           "create's error from Rust reaches the user", out + err)


@test
def plugins_built_at_abi_1_0_and_1_1_check():
    so = os.path.join(FIXTURES, "abi_v1_0.so")
    major, minor = abi_version()
    rc, out, err = sh([os.path.join(BIN, "sluice"), "plugin", "check", so])
    expect(rc == 0 and out.rstrip().endswith("PASS"), "a 1.0 plugin passes",
           out + err)
    expect("ABI %d.0 (this sluice speaks %d.%d)" % (major, major, minor)
           in out, "check says which minor it was built at", out)
    expect("note: no description" in out and "TRAP" not in out,
           "no description, and nothing read past its table", out)
    rc, out, err = sh([os.path.join(BIN, "sluice"), "plugin", "check",
                       os.path.join(FIXTURES, "abi_v1_1.so")])
    expect(rc == 0 and out.rstrip().endswith("PASS") and
           "ABI %d.1 (this sluice speaks %d.%d)" % (major, major, minor)
           in out and "ok: hooks: create job_begin process job_end destroy"
           in out and "TRAP" not in out,
           "a 1.1 plugin passes with its 1.0 hooks, nothing read past its "
           "table", out + err)
    rc, out, err = sh([os.path.join(BIN, "sluice"), "plugin", "check",
                       os.path.join(FIXTURES, "abi_major2.so")])
    expect(rc == 1 and "ABI major 2, this worker speaks %d" % major in out,
           "a plugin of another ABI major is refused", out + err)


if __name__ == "__main__":
    main()
