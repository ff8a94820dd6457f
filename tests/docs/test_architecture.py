"""docs/ARCHITECTURE.md's module table names every source file, and names
no file that is gone; the docs link only to files in the repository; the
build names every C source (its lists are explicit).

A newcomer looking for a design point should find it in the table; a file
added without a row, or a row left behind by a rename, fails here. Standard
library only; needs git (the file list is `git ls-files`)."""
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "deploy"))
from deploytest import SOURCE, Skip, expect, main, test  # noqa: E402

ARCH = os.path.join(SOURCE, "docs", "ARCHITECTURE.md")
SOURCES = re.compile(r"\.(c|h|py|sh|proto|rs)$")
# Directories the table covers with one row: test fixtures, fuzz seeds, the
# out-of-tree plugin template, the Go wrapper modules of the cluster tests.
COVERED_DIRS = ("tests/unit/worker/fixtures/", "tests/fuzz/corpus/",
                "docs/plugin-template/", "tests/k8s/go/")


def tracked():
    try:
        out = subprocess.run(["git", "-C", SOURCE, "ls-files"],
                             capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError) as e:
        raise Skip("not a git checkout: %s" % e)
    return out.stdout.split()


def modules_section():
    with open(ARCH) as f:
        text = f.read()
    start = text.index("\n## Modules\n")
    end = text.index("\n## ", start + 1)
    return text[start:end]


def named(section):
    """Every path the table names in backticks, `x.[ch]` expanded."""
    names = set()
    for tok in re.findall(r"`([^`\s]+)`", section):
        if tok.endswith(".[ch]"):
            names.update({tok[:-5] + ".c", tok[:-5] + ".h"})
        else:
            names.add(tok)
    return names


@test
def every_source_file_has_a_row():
    names = named(modules_section())
    files = [f for f in tracked() if SOURCES.search(f) and
             not f.startswith(COVERED_DIRS)]
    expect(len(files) > 50, "git ls-files lists the sources", len(files))
    missing = [f for f in files if f not in names]
    expect(not missing, "every source file is in ARCHITECTURE.md's module "
           "table (add a row saying what it does)", missing)
    for d in COVERED_DIRS:
        expect(d in names or d.rstrip("/") in names or
               not any(f.startswith(d) for f in tracked()),
               "a row covers %s" % d)


@test
def every_row_names_a_file_that_exists():
    files = set(tracked())
    dirs = {os.path.dirname(f) + "/" for f in files}
    stale = [n for n in named(modules_section())
             if "/" in n and not n.startswith("build/") and
             re.search(r"(\.[a-z]+|/)$", n) and
             n not in files and n not in dirs and
             not os.path.exists(os.path.join(SOURCE, n))]
    expect(not stale, "no row names a file that is gone", stale)


@test
def docs_link_only_to_files_in_the_repository():
    bad = []
    for f in tracked():
        if not f.endswith(".md"):
            continue
        with open(os.path.join(SOURCE, f)) as fh:
            text = fh.read()
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"[a-z]+:", target) or target.startswith("#"):
                continue
            path = os.path.normpath(os.path.join(
                os.path.dirname(os.path.join(SOURCE, f)),
                target.split("#", 1)[0]))
            if not path.startswith(SOURCE) or not os.path.exists(path):
                bad.append("%s -> %s" % (f, target))
    expect(not bad, "every relative link resolves inside the repository",
           bad)


# The build names its sources (no glob): where each C file must be named.
BUILD_FILES = (("tests/fuzz/", "tests/fuzz/fuzz.cmake"),
               ("tests/", "tests/tests.cmake"),
               ("bench/", "bench/CMakeLists.txt"),
               ("", "CMakeLists.txt"))


@test
def the_build_names_every_c_source():
    texts = {}
    missing = []
    for f in tracked():
        if not f.endswith(".c") or f.startswith(("docs/plugin-template/",
                                                 "examples/")):
            continue
        cmake = next(c for prefix, c in BUILD_FILES if f.startswith(prefix))
        if cmake not in texts:
            with open(os.path.join(SOURCE, cmake)) as fh:
                texts[cmake] = fh.read()
        stem = os.path.basename(f)[:-2]
        if f not in texts[cmake] and not re.search(
                r"(?<![\w-])%s(?![\w-])" % re.escape(stem), texts[cmake]):
            missing.append("%s (in %s)" % (f, cmake))
    expect(not missing, "every C source is named in the build (sources are "
           "listed, not globbed)", missing)


# The daemons are split by idea (docs/ARCHITECTURE.md, "Modules"): no file
# in these directories grows past LIMIT lines, and no two modules there
# depend on each other in a circle. A module is name.c with name.h; it
# depends on another when either file includes the other's header.
LAYERED = ("scheduler/", "worker/")
LIMIT = 700


def module_graph(prefix):
    graph = {}
    for f in tracked():
        if not f.startswith(prefix) or not f.endswith((".c", ".h")) or \
                "/" in f[len(prefix):]:
            continue
        mod = os.path.basename(f)[:-2]
        with open(os.path.join(SOURCE, f)) as fh:
            deps = re.findall(r'^#include "([\w]+)\.h"', fh.read(), re.M)
        graph.setdefault(mod, set()).update(d for d in deps if d != mod)
    for mod in graph:
        graph[mod] &= set(graph)    # only modules of this directory
    return graph


def find_cycle(graph):
    """A list of modules in a circle, or None."""
    state, stack = {}, []

    def visit(m):
        state[m] = 1
        stack.append(m)
        for d in sorted(graph[m]):
            if state.get(d) == 1:
                return stack[stack.index(d):] + [d]
            if d not in state:
                found = visit(d)
                if found:
                    return found
        stack.pop()
        state[m] = 2
        return None

    for m in sorted(graph):
        if m not in state:
            found = visit(m)
            if found:
                return found
    return None


@test
def the_daemons_files_are_small():
    big = []
    for f in tracked():
        if f.startswith(LAYERED) and f.endswith((".c", ".h")):
            with open(os.path.join(SOURCE, f)) as fh:
                n = sum(1 for _ in fh)
            if n > LIMIT:
                big.append("%s: %d lines" % (f, n))
    expect(not big, "no file in %s is over %d lines" % (LAYERED, LIMIT), big)


@test
def no_dependency_circle_between_the_daemons_modules():
    for prefix in LAYERED:
        cycle = find_cycle(module_graph(prefix))
        expect(cycle is None, "no circle of includes in %s" % prefix,
               " -> ".join(cycle or []))
    #  The check itself: a circle is found when there is one.
    expect(find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) is not None and
           find_cycle({"a": {"b"}, "b": set()}) is None, "find_cycle works")


if __name__ == "__main__":
    main()
