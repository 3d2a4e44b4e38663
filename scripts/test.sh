#!/usr/bin/env bash
# Runs every test on a fresh Debian bookworm machine: installs dependencies, builds, then runs
# ctest (Catch2 C++ tests, C API tests, example programs, install tests and pytest files).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${JINA3_BUILD_DIR:-$root/build}"
bash "$root/scripts/install-deps.sh"
bash "$root/scripts/build.sh"
cd "$build"
ctest --output-on-failure --timeout 1800 "$@"

# The scheduler's unit tests under ThreadSanitizer: built alone from tests/scheduler (a fake
# backend, no LibTorch, so TSan sees every access); any report fails. JINA3_TEST_TSAN=0 skips it.
if [[ "${JINA3_TEST_TSAN:-1}" != 0 ]]; then
  tsan_build="${JINA3_TSAN_BUILD_DIR:-$build-tsan}"
  cmake -S "$root/tests/scheduler" -B "$tsan_build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DJINA3_SANITIZE=thread
  cmake --build "$tsan_build" -j"${JINA3_JOBS:-$(nproc)}"
  TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 exitcode=66" \
    "$tsan_build/jina3_scheduler_tests" --order rand --warn NoAssertions
fi

# Reliability (README "Reliability"): the ctest suite (benchmarks aside) again under AddressSanitizer
# and UndefinedBehaviorSanitizer, on the test data made above, then each libFuzzer target for
# JINA3_FUZZ_SECONDS (60) on a scratch copy of its corpus. On in CI (CI=true);
# JINA3_CI_SANITIZERS=0 skips it, 1 runs it anywhere.
if [[ "${JINA3_CI_SANITIZERS:-$([[ "${CI:-}" == true ]] && echo 1 || echo 0)}" != 0 ]]; then
  asan_build="${JINA3_ASAN_BUILD_DIR:-$build-asan}"
  JINA3_BUILD_DIR="$asan_build" bash "$root/scripts/build.sh" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    "-DJINA3_SANITIZE=address;undefined" -DJINA3_BUILD_BENCHMARKS=OFF "-DJINA3_TEST_DATA=$build/testdata"
  (cd "$asan_build" && ctest --output-on-failure --timeout 1800 "$@")
  bash "$root/tests/fuzz/run.sh" "${JINA3_FUZZ_BUILD_DIR:-$build-fuzz}" "$build/testdata/package-float32" \
    "${JINA3_FUZZ_SECONDS:-60}"
fi
