"""What the benchmarks' smoke tests (ctest benchmarks.smoke, driver_smoke, serving_smoke) share:
a check that fails with a message, and the entry point that reports the result to ctest."""

import sys


def check(condition, message):
    if not condition:
        raise AssertionError(message)


def run_test(name, main):
    """Runs main() as the ctest test `name`: a failed check prints its message and exits with 1."""
    try:
        main()
    except AssertionError as e:
        print(f"{name}: FAILED: {e}", file=sys.stderr)
        sys.exit(1)
    print(f"{name}: 1 passed, 0 failed")
