"""The Dockerfile, checked without Docker: its stages, its user and entry
point, what it leaves out of the build context, and above all that the
runtime image has every shared library the built binaries and plugins load.

The library check works on this Debian 12 machine's build tree: for each
library `ldd` resolves, `dpkg -S` names the package that ships it. That
package must be in debian:12-slim already, or be installed by the runtime
stage's `apt-get install` (directly, or through the Depends of what it
installs, as apt would resolve them with --no-install-recommends). Libraries
a binary names itself (DT_NEEDED) must come from debian:12-slim or from a
package the runtime stage names explicitly, not by accident of another
package's dependencies.

Environment: SLUICE_BUILD_DIR (default build/), the tree with bin/ and
plugins/."""
import fnmatch
import glob
import json
import os
import re
import shlex
import subprocess

from deploytest import BUILD, SOURCE, Skip, expect, main, test

DOCKERFILE = os.path.join(SOURCE, "Dockerfile")
DOCKERIGNORE = os.path.join(SOURCE, ".dockerignore")
BINARIES = ("sluice", "sluice-scheduler", "sluice-worker")

# debian:12-slim's packages, from the image's published manifest
# (debuerreotype/docker-debian-artifacts, bookworm/slim/rootfs.manifest).
# It is what `debootstrap --variant=minbase` installs: the Essential and
# Priority: required packages of the archive and their dependencies.
# base_packages() checks it against this machine's dpkg database.
BOOKWORM_SLIM = set("""
adduser apt base-files base-passwd bash bsdutils coreutils dash debconf
debian-archive-keyring debianutils diffutils dpkg e2fsprogs findutils
gcc-12-base gpgv grep gzip hostname init-system-helpers libacl1
libapt-pkg6.0 libattr1 libaudit-common libaudit1 libblkid1 libbz2-1.0
libc-bin libc6 libcap-ng0 libcap2 libcom-err2 libcrypt1 libdb5.3
libdebconfclient0 libext2fs2 libffi8 libgcc-s1 libgcrypt20 libgmp10
libgnutls30 libgpg-error0 libhogweed6 libidn2-0 liblz4-1 liblzma5 libmd0
libmount1 libnettle8 libp11-kit0 libpam-modules libpam-modules-bin
libpam-runtime libpam0g libpcre2-8-0 libseccomp2 libselinux1
libsemanage-common libsemanage2 libsepol2 libsmartcols1 libss2 libstdc++6
libsystemd0 libtasn1-6 libtinfo6 libudev1 libunistring2 libuuid1 libxxhash0
libzstd1 login logsave mawk mount ncurses-base ncurses-bin passwd perl-base
sed sysvinit-utils tar tzdata usr-is-merged util-linux util-linux-extra
zlib1g
""".split())


# --- the Dockerfile, parsed -------------------------------------------------

def instructions(path):
    """The Dockerfile's instructions as (KEYWORD, text), with comment lines
    dropped and continuation lines joined, as Docker reads them."""
    out, buf = [], ""
    with open(path) as f:
        for raw in f:
            line = raw.rstrip("\n")
            if re.match(r"^\s*#", line):
                continue
            if line.rstrip().endswith("\\"):
                buf += line.rstrip()[:-1] + " "
                continue
            buf += line
            if buf.strip():
                word, _, rest = buf.strip().partition(" ")
                out.append((word.upper(), rest.strip()))
            buf = ""
    return out


def stages():
    """[{"image", "name", "body": [(KEYWORD, text)...]}] per FROM."""
    result = []
    for word, rest in instructions(DOCKERFILE):
        if word == "FROM":
            args = [a for a in rest.split() if not a.startswith("--")]
            name = args[2] if len(args) >= 3 and args[1].lower() == "as" else None
            result.append({"image": args[0], "name": name, "body": []})
        else:
            expect(result, "the Dockerfile starts with FROM", word)
            result[-1]["body"].append((word, rest))
    return result


def run_text(stage):
    return "\n".join(t for w, t in stage["body"] if w == "RUN")


def apt_installs(stage):
    """Packages named by `apt-get install` in the stage's RUN lines."""
    pkgs = []
    for cmd in re.split(r"&&|;|\|\|", run_text(stage)):
        words = shlex.split(cmd)
        words = [w for w in words if "=" not in w or w.startswith("-")]
        if "apt-get" in words and "install" in words:
            after = words[words.index("install") + 1:]
            pkgs += [w for w in after if not w.startswith("-")]
    return pkgs


def cmake_inputs():
    """Every file the CMake build reads, as far as the CMake files say:
    each ${CMAKE_SOURCE_DIR}/PATH (globs expanded, directories walked), and
    the same for the .cmake and CMakeLists.txt files found that way."""
    found, todo, seen = set(), ["CMakeLists.txt"], set()
    while todo:
        f = todo.pop()
        if f in seen:
            continue
        seen.add(f)
        with open(os.path.join(SOURCE, f)) as fh:
            text = fh.read()
        for ref in re.findall(r"\$\{CMAKE_SOURCE_DIR\}/([\w./*+-]+)", text):
            for hit in glob.glob(os.path.join(SOURCE, ref)):
                files = [hit] if os.path.isfile(hit) else [
                    os.path.join(d, n) for d, _, ns in os.walk(hit) for n in ns]
                for h in files:
                    rel = os.path.relpath(h, SOURCE)
                    if "__pycache__" in rel or rel.endswith(".pyc"):
                        continue
                    found.add(rel)
                    if rel.endswith((".cmake", "CMakeLists.txt")):
                        todo.append(rel)
    return sorted(found)


def image_env(stage):
    """The variables the stage's ENV lines set (KEY=VALUE or KEY VALUE)."""
    env = {}
    for word, rest in stage["body"]:
        if word != "ENV":
            continue
        items = shlex.split(rest)
        if items and "=" not in items[0]:
            env[items[0]] = " ".join(items[1:])
            continue
        for item in items:
            k, _, v = item.partition("=")
            env[k] = v
    return env


def plugin_dir_variable():
    """The environment variable of sluice-worker's --plugin-dir, from its
    --help (None if this worker has no such flag)."""
    out = subprocess.run([os.path.join(BUILD, "bin", "sluice-worker"),
                          "--help"], capture_output=True, text=True).stdout
    m = re.search(r"^\s*--plugin-dir\b.*\[(\w+)\]\s*$", out, re.M)
    return m.group(1) if m else None


def image_is(image, *names):
    return image.split("@")[0] in names


def build_and_runtime():
    st = stages()
    expect(len(st) >= 2, "the Dockerfile has a build stage and a runtime "
           "stage", [s["image"] for s in st])
    return st[0], st[-1]


# --- dpkg -------------------------------------------------------------------

def dpkg_status():
    """Installed packages: name -> (Essential, Priority, Depends,
    Pre-Depends), and virtual name -> providers."""
    out = subprocess.run(
        ["dpkg-query", "-W", "-f=${Package}\t${db:Status-Abbrev}\t"
         "${Essential}\t${Priority}\t${Provides}\t${Depends}\t"
         "${Pre-Depends}\n"], capture_output=True, text=True,
        check=True).stdout
    pkgs, provides = {}, {}
    for line in out.splitlines():
        name, status, ess, prio, prov, dep, pre = line.split("\t")
        if not status.startswith("ii"):
            continue
        pkgs[name] = (ess, prio, dep, pre)
        for p in prov.split(","):
            p = p.strip().split(" ")[0]
            if p:
                provides.setdefault(p, []).append(name)
    return pkgs, provides


def dependency_groups(pkgs, name):
    """The package's Depends and Pre-Depends, as lists of alternatives."""
    _, _, dep, pre = pkgs[name]
    for group in (dep + "," + pre).split(","):
        alts = [a.strip().split(" ")[0].split(":")[0]
                for a in group.split("|") if a.strip()]
        if alts:
            yield alts


def closure(seed, pkgs, provides, have=frozenset()):
    """Everything apt installs for `seed` on a system that has `have`: for
    "a | b" an alternative already present, else the first one."""
    def resolve(alt):
        if alt in pkgs:
            return alt
        providers = provides.get(alt, [])
        return providers[0] if providers else None

    seen, stack = set(), [p for p in seed if p in pkgs]
    while stack:
        p = stack.pop()
        if p in seen:
            continue
        seen.add(p)
        for alts in dependency_groups(pkgs, p):
            found = [resolve(a) for a in alts]
            present = [f for f in found if f and (f in have or f in seen)]
            pick = present[0] if present else next((f for f in found if f),
                                                   None)
            if pick:
                stack.append(pick)
    return seen


def base_packages(pkgs, provides):
    """debian:12-slim's packages, checked against dpkg: every Essential
    package installed here must be in it, and all of it must be installed
    here and follow from the Essential and required packages' dependencies
    (dpkg's own Priority field marks a few more packages required than the
    archive does, so the computed set is a little larger)."""
    essential = {p for p, (ess, _, _, _) in pkgs.items() if ess == "yes"}
    expect(essential <= BOOKWORM_SLIM, "every Essential package is in the "
           "debian:12-slim list", sorted(essential - BOOKWORM_SLIM))
    seed = {p for p, (ess, prio, _, _) in pkgs.items()
            if ess == "yes" or prio == "required"}
    computed = closure(seed, pkgs, provides)
    expect(BOOKWORM_SLIM <= computed, "the debian:12-slim list follows from "
           "the Essential/required packages installed here",
           sorted(BOOKWORM_SLIM - computed))
    return BOOKWORM_SLIM


def owners(paths):
    """path -> owning package, from one `dpkg -S` over the path and its
    /usr-merged twins."""
    twins = {}
    for p in paths:
        cands = []
        for q in (p, os.path.realpath(p)):
            cands.append(q)
            if q.startswith("/usr/"):
                cands.append(q[4:])
            else:
                cands.append("/usr" + q)
        twins[p] = cands
    every = sorted({c for cands in twins.values() for c in cands})
    out = subprocess.run(["dpkg", "-S"] + every, capture_output=True,
                         text=True).stdout
    found = {}
    for line in out.splitlines():
        if line.startswith("diversion "):
            continue
        pkgpart, _, path = line.rpartition(": ")
        pkg = pkgpart.split(",")[0].strip().split(":")[0]
        found[path.strip()] = pkg
    return {p: next((found[c] for c in cands if c in found), None)
            for p, cands in twins.items()}


# --- ELF ----------------------------------------------------------------------

def artifacts():
    bins = [os.path.join(BUILD, "bin", b) for b in BINARIES]
    plugins = sorted(glob.glob(os.path.join(BUILD, "plugins", "*.so")))
    missing = [b for b in bins if not os.path.exists(b)]
    expect(not missing, "the build tree has the binaries (make build)",
           missing)
    expect(plugins, "the build tree has plugins", BUILD)
    return bins + plugins


def ldd(path):
    """{soname: resolved path} of everything the dynamic loader maps."""
    r = subprocess.run(["ldd", path], capture_output=True, text=True)
    libs = {}
    for line in r.stdout.splitlines():
        line = line.strip()
        expect("not found" not in line, "ldd resolves every library of "
               + path, line)
        m = re.match(r"^(\S+) => (/\S+) \(0x[0-9a-f]+\)$", line)
        if m:
            libs[m.group(1)] = m.group(2)
            continue
        m = re.match(r"^(/\S+) \(0x[0-9a-f]+\)$", line)   # the loader itself
        if m:
            libs[os.path.basename(m.group(1))] = m.group(1)
    return libs


def needed(path):
    out = subprocess.run(["readelf", "-d", path], capture_output=True,
                         text=True, check=True).stdout
    return re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", out)


def resolve_soname(soname):
    """The path ld.so would load for soname, from `ldconfig -p`."""
    out = subprocess.run(["/sbin/ldconfig", "-p"], capture_output=True,
                         text=True).stdout
    for line in out.splitlines():
        m = re.match(r"\s*(\S+) \(([^)]*)\) => (\S+)$", line)
        if m and m.group(1) == soname and "x86-64" in m.group(2):
            return os.path.realpath(m.group(3))
    return None


def require_debian12():
    try:
        with open("/etc/os-release") as f:
            osr = f.read()
    except OSError:
        osr = ""
    if 'ID=debian' not in osr or 'VERSION_ID="12"' not in osr:
        raise Skip("the library check needs Debian 12's dpkg database")


# --- tests --------------------------------------------------------------------

@test
def stages_build_on_debian12_and_run_on_slim():
    build, runtime = build_and_runtime()
    expect(image_is(build["image"], "debian:12", "debian:bookworm"),
           "the first stage builds FROM debian:12", build["image"])
    expect(build["name"], "the build stage is named (FROM ... AS build)")
    expect(image_is(runtime["image"], "debian:12-slim", "debian:bookworm-slim"),
           "the last stage is FROM debian:12-slim", runtime["image"])
    run = run_text(build)
    expect(re.search(r"cmake\s+-S\s+\.\s+-B\s+(\S+)", run), "the build "
           "stage configures with CMake", run)
    expect(re.search(r"cmake\s+--build\s", run), "the build stage builds "
           "with cmake --build", run)
    copies = [t for w, t in runtime["body"] if w == "COPY"]
    expect(any("--from=%s" % build["name"] in c for c in copies),
           "the runtime stage copies from the build stage", copies)
    # The install rules lay the image out, not files staged by hand.
    expect(re.search(r"cmake\s+--install\s+\S+\s+--component\s+runtime", run),
           "the build stage installs with cmake --install ... --component "
           "runtime", run)
    expect(not re.search(r"build/(bin|plugins)/", run), "the build stage "
           "copies nothing out of the build tree by hand", run)
    expect("-DCMAKE_INSTALL_PREFIX=/opt/sluice" in run, "the binaries go "
           "to /opt/sluice/bin", run)
    expect("-DSLUICE_INSTALL_PLUGINDIR=/plugins" in run, "the plugins go "
           "to /plugins", run)


@test
def build_stage_installs_what_cmake_requires():
    build, _ = build_and_runtime()
    pkgs = set(apt_installs(build))
    with open(os.path.join(SOURCE, "CMakeLists.txt")) as f:
        cmake = f.read()
    modules = re.findall(r"pkg_check_modules\s*\(\s*\w+\s+REQUIRED\s+"
                         r"(?:IMPORTED_TARGET\s+)?([\w.+-]+)", cmake)
    expect(len(modules) >= 6, "CMakeLists.txt's required pkg-config "
           "modules are found", modules)
    pcs = {}
    for m in modules:
        d = subprocess.run(["pkg-config", "--variable=pcfiledir", m],
                           capture_output=True, text=True).stdout.strip()
        expect(d, "pkg-config knows " + m)
        pcs[m] = os.path.join(d, m + ".pc")
    protoc = subprocess.run(["sh", "-c", "command -v protoc-c"],
                            capture_output=True, text=True).stdout.strip()
    expect(protoc, "protoc-c is installed here")
    who = owners(list(pcs.values()) + [protoc])
    for m, pc in pcs.items():
        expect(who[pc] in pkgs, "the build stage installs %s (it provides "
               "the pkg-config module %s)" % (who[pc], m), sorted(pkgs))
    expect(who[protoc] in pkgs, "the build stage installs %s (protoc-c)"
           % who[protoc], sorted(pkgs))
    for tool in ("cmake", "pkg-config"):
        expect(tool in pkgs, "the build stage installs " + tool)
    expect("build-essential" in pkgs or "gcc" in pkgs, "the build stage "
           "installs a C compiler")


@test
def runtime_stage_is_slim_nonroot_with_an_entrypoint():
    _, runtime = build_and_runtime()
    pkgs = apt_installs(runtime)
    expect(pkgs, "the runtime stage installs packages with apt-get")
    heavy = [p for p in pkgs if p.endswith("-dev") or p in (
        "build-essential", "gcc", "cmake", "pkg-config", "make")]
    expect(not heavy, "the runtime stage installs no build tools or -dev "
           "packages", heavy)
    run = run_text(runtime)
    expect("--no-install-recommends" in run, "the runtime stage installs "
           "without recommends")
    expect("rm -rf /var/lib/apt/lists" in run, "the runtime stage drops "
           "apt's package lists")
    users = [t for w, t in runtime["body"] if w == "USER"]
    expect(users, "the runtime stage sets USER")
    uid, _, gid = users[-1].partition(":")
    expect(uid.isdigit() and int(uid) != 0, "USER is a numeric non-root "
           "UID (Kubernetes runAsNonRoot can check it)", users[-1])
    expect(not gid or (gid.isdigit() and int(gid) != 0), "the group is "
           "numeric and not root", users[-1])
    entry = [t for w, t in runtime["body"] if w == "ENTRYPOINT"]
    expect(entry, "the runtime stage has an ENTRYPOINT")
    argv = json.loads(entry[-1])
    expect(isinstance(argv, list) and argv, "ENTRYPOINT is in exec form",
           entry[-1])
    prog = os.path.basename(argv[0])
    expect(prog in BINARIES or prog in pkgs, "the ENTRYPOINT program is a "
           "sluice binary or comes from an installed package", argv[0])
    env = image_env(runtime)
    var = plugin_dir_variable()
    if var:
        expect(env.get(var) == "/plugins", "the runtime stage makes /plugins "
               "the worker's --plugin-dir (ENV %s=/plugins)" % var, env)
    else:
        expect("/plugins" in " ".join(env.values()), "the runtime stage "
               "names /plugins as the plugin directory", env)


@test
def dockerignore_keeps_the_sources_and_drops_build_trees():
    expect(os.path.exists(DOCKERIGNORE), ".dockerignore exists")
    with open(DOCKERIGNORE) as f:
        pats = [l.strip() for l in f
                if l.strip() and not l.strip().startswith("#")]

    def ignored(path):
        parts = path.split("/")
        prefixes = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
        out = False
        for pat in pats:
            neg = pat.startswith("!")
            pat = pat.lstrip("!").strip("/")
            if any(fnmatch.fnmatch(p, pat) for p in prefixes):
                out = not neg
        return out

    for must in ("build", "build-asan", ".git"):
        expect(ignored(must), ".dockerignore drops " + must, pats)
    needed_paths = ["CMakeLists.txt"] + cmake_inputs()
    kept_out = [p for p in needed_paths if ignored(p)]
    expect(not kept_out, ".dockerignore keeps what the CMake build reads",
           kept_out)


@test
def runtime_packages_provide_every_shared_library():
    require_debian12()
    cache = os.path.join(BUILD, "CMakeCache.txt")
    with open(cache) as f:
        if any(l.startswith("SLUICE_SANITIZE:") and l.split("=", 1)[1].strip()
               for l in f):
            raise Skip("a sanitizer build links libasan/libubsan, which the "
                       "image never ships; run it on a plain build")
    _, runtime = build_and_runtime()
    explicit = set(apt_installs(runtime))
    pkgs, provides = dpkg_status()
    base = base_packages(pkgs, provides)
    unknown = [p for p in explicit if p not in pkgs and subprocess.run(
        ["apt-cache", "show", p], capture_output=True).returncode != 0]
    expect(not unknown, "the runtime stage's packages exist in Debian 12",
           unknown)
    installed = closure(explicit, pkgs, provides, have=base) | base

    files = artifacts()
    maps = {f: ldd(f) for f in files}
    who = owners(sorted({p for m in maps.values() for p in m.values()}))
    problems = []
    for f, libs in maps.items():
        direct = set(needed(f))
        for soname, path in sorted(libs.items()):
            pkg = who.get(path)
            name = os.path.relpath(f, BUILD)
            if pkg is None:
                problems.append("%s: %s (%s) belongs to no package"
                                % (name, soname, path))
            elif soname in direct and pkg not in explicit | base:
                problems.append("%s needs %s from %s: install it by name in "
                                "the runtime stage" % (name, soname, pkg))
            elif pkg not in installed:
                problems.append("%s loads %s from %s, which the runtime "
                                "image would not have" % (name, soname, pkg))
    # Libraries a binary loads itself (dlopen by soname, e.g.
    # libmicrohttpd.so.12 for --metrics-addr): ldd cannot see them, so
    # their sonames are read from the binary and must come from a package
    # the runtime stage names.
    for f in files:
        with open(f, "rb") as fh:
            named = set(re.findall(rb"\b(lib[\w+-]+\.so\.\d+)\x00",
                                   fh.read()))
        for soname in sorted(n.decode() for n in named):
            if soname in maps[f] or soname.startswith(("libc.", "libm.")):
                continue
            path = resolve_soname(soname)
            name = os.path.relpath(f, BUILD)
            if not path:
                problems.append("%s loads %s, which is not installed here"
                                % (name, soname))
                continue
            pkg = owners([path]).get(path)
            if pkg not in explicit:
                problems.append("%s loads %s (dlopen) from %s: install it by "
                                "name in the runtime stage"
                                % (name, soname, pkg))
            maps[f][soname] = path
            who[path] = pkg
    expect(not problems, "every shared library is in the runtime image",
           "\n  " + "\n  ".join(problems))
    libs = sorted({who[p] for m in maps.values() for p in m.values()
                   if who.get(p) not in base})
    print("     libraries beyond debian:12-slim come from: " + " ".join(libs))


if __name__ == "__main__":
    main()
