"""A small runner for the deployment tests (tests/deploy/test_*.py), in the
manner of tests/integration/harness.py but with no Kafka: register tests with
@test, fail them with expect(), run them with main().

Standard library only; run with Debian's /usr/bin/python3."""
import os
import sys
import time
import traceback

__all__ = ["SOURCE", "BUILD", "TestFailure", "Skip", "test", "expect", "main"]

SOURCE = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.path.abspath(os.environ.get("SLUICE_BUILD_DIR")
                        or os.path.join(SOURCE, "build"))

# ctest treats this exit status as "skipped" (SKIP_RETURN_CODE in tests.cmake).
SKIP_EXIT = 77

_tests = []


class TestFailure(Exception):
    """An expectation did not hold."""


class Skip(Exception):
    """The test cannot run here (raised before it checks anything)."""


def test(fn):
    """Register a test function; main() runs them in order."""
    _tests.append(fn)
    return fn


def expect(cond, what, detail=None):
    """Fail the running test with `what` (and detail) unless cond holds."""
    if not cond:
        raise TestFailure(what if detail is None else "%s: %s" % (what, detail))


def main(argv=None):
    """Run the registered tests (or those named on the command line); exit 1
    if any failed, 77 if every one was skipped."""
    names = argv if argv is not None else sys.argv[1:]
    chosen = [t for t in _tests if not names or t.__name__ in names]
    passed = failed = skipped = 0
    t_all = time.monotonic()
    for fn in chosen:
        t0 = time.monotonic()
        try:
            fn()
        except Skip as e:
            skipped += 1
            print("SKIP %s: %s" % (fn.__name__, e), flush=True)
            continue
        except TestFailure as e:
            failed += 1
            print("FAIL %s: %s" % (fn.__name__, e), flush=True)
            continue
        except Exception:
            failed += 1
            print("FAIL %s: unexpected error" % fn.__name__, flush=True)
            traceback.print_exc()
            continue
        passed += 1
        print("ok   %s (%.2f s)" % (fn.__name__, time.monotonic() - t0),
              flush=True)
    print("%d passed, %d failed, %d skipped in %.1f s"
          % (passed, failed, skipped, time.monotonic() - t_all))
    if failed:
        sys.exit(1)
    sys.exit(SKIP_EXIT if skipped and not passed else 0)
