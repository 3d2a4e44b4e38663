#!/usr/bin/env bash
# Runs every test on a fresh Debian bookworm machine: installs dependencies, builds, then runs
# ctest (Catch2 C++ tests, C API tests, example programs, install tests and pytest files).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${JINA3_BUILD_DIR:-$root/build}"

# Each job prints its wall time when it ends, and all of them again at the end (CI keeps a
# clean-clone run under 60 minutes: this is where the minutes go).
timings=()
job_start=$SECONDS
job_name=""
begin_job() { job_name="$1"; job_start=$SECONDS; echo "== jina3 test job: $1"; }
end_job() {
  local seconds=$((SECONDS - job_start))
  timings+=("$(printf '%-28s %5d s' "$job_name" "$seconds")")
  echo "== jina3 test job: $job_name took ${seconds} s"
}
report_timings() {
  echo "== jina3 test jobs (wall time):"
  printf '   %s\n' "${timings[@]}"
  echo "   total                        $SECONDS s"
}
trap report_timings EXIT

begin_job "install dependencies"
bash "$root/scripts/install-deps.sh"
end_job
source "$root/scripts/ccache-env.sh"
begin_job "build"
bash "$root/scripts/build.sh"
end_job
begin_job "ctest"
(cd "$build" && ctest --output-on-failure --timeout 1800 "$@")
end_job
cd "$build"

# pip install (README "Installing the Python package"): a fresh venv (--system-site-packages, for
# Debian's torch and numpy) pip-installs jina3 from this checkout, offline, REUSING the build above
# (JINA3_CMAKE_BUILD_DIR: re-configured as it is; the Python targets are already up to date, so only
# the component "python" is installed). Then the Python tests that matter for an installed package
# run against it from a directory outside the checkout, with no PYTHONPATH: the encoder and its
# errors, async, outputs, the sentence-transformers surface, the typing files, the onboarding
# errors (7 of the pytest files), and the README's Python example: 97 to 161 s in all on the
# 2-core VM (venv 6-12 s, pip install 16-20 s, tests 71-133 s, depending on the load).
# Prints its own split; JINA3_TEST_PIP=0 skips it.
if [[ "${JINA3_TEST_PIP:-1}" != 0 ]]; then
  begin_job "pip install + tests"
  pip_work="$build/pip-ci"
  rm -rf "$pip_work"
  mkdir -p "$pip_work/outside"
  /usr/bin/python3 -m venv --system-site-packages "$pip_work/venv"
  pip_venv=$SECONDS
  (cd "$root" && JINA3_CMAKE_BUILD_DIR="$build" JINA3_PIP_BUILD_BASE="$pip_work/setuptools" \
    "$pip_work/venv/bin/python" -m pip install --no-build-isolation --no-input -q .)
  pip_install=$SECONDS
  (
    cd "$pip_work/outside"
    unset PYTHONPATH
    export JINA3_TEST_DATA="$build/testdata" JINA3_SHARED_DATA="$(cd "$root/../shared/data" && pwd)"
    export PYTHONDONTWRITEBYTECODE=1
    "$pip_work/venv/bin/python" -c 'import sys, jina3, jina3._jina3 as m
assert jina3.__file__.startswith(sys.prefix), f"jina3 imported from {jina3.__file__}, not from the venv {sys.prefix}"
print(f"pip job: jina3 {jina3.__version__} from {m.__file__}")'
    pip_tests=()
    for t in test_encoder test_encoder_errors test_encoder_async test_outputs test_st_surface test_stubs \
             test_onboarding_errors; do
      pip_tests+=("$root/tests/python/$t.py")
    done
    # test_imports_the_build_tree_module asserts the build tree's module; here the check above
    # asserts the venv's instead.
    "$pip_work/venv/bin/python" -m pytest -q -p no:cacheprovider "${pip_tests[@]}" \
      -k "not test_imports_the_build_tree_module"
    "$pip_work/venv/bin/python" "$root/tests/capi/readme_snippets.py" --lang python --readme "$root/README.md" \
      --package "$build/testdata/package-float32" --work "$pip_work/outside/readme" --lib-dir "$pip_work"
  )
  echo "pip job: venv $((pip_venv - job_start)) s, pip install $((pip_install - pip_venv)) s," \
       "tests from outside the checkout $((SECONDS - pip_install)) s"
  end_job
fi

# The scheduler's unit tests under ThreadSanitizer: built alone from tests/scheduler (a fake
# backend, no LibTorch, so TSan sees every access); any report fails. JINA3_TEST_TSAN=0 skips it.
if [[ "${JINA3_TEST_TSAN:-1}" != 0 ]]; then
  begin_job "thread sanitizer"
  tsan_build="${JINA3_TSAN_BUILD_DIR:-$build-tsan}"
  cmake -S "$root/tests/scheduler" -B "$tsan_build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DJINA3_SANITIZE=thread
  cmake --build "$tsan_build" -j"${JINA3_JOBS:-$(nproc)}"
  TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 exitcode=66" \
    "$tsan_build/jina3_scheduler_tests" --order rand --warn NoAssertions

  # The C API's threading tests (many threads on one encoder, submit/wait/callbacks, shutdown with
  # requests in flight) on the real library under ThreadSanitizer, on the test data made above.
  # LibTorch is not instrumented: with one intra-op thread (JINA3_TEST_NUM_THREADS=1,
  # OMP_NUM_THREADS=1) it opens no OpenMP region, whose libgomp barriers TSan cannot see, so every
  # synchronisation between callers, the scheduler's worker and callbacks is TSan's to check.
  tsan_capi_build="${JINA3_TSAN_CAPI_BUILD_DIR:-$build-tsan-capi}"
  cmake -S "$root" -B "$tsan_capi_build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DJINA3_SANITIZE=thread \
    -DPython3_EXECUTABLE=/usr/bin/python3 -DJINA3_BUILD_PYTHON=OFF -DJINA3_BUILD_EXAMPLES=OFF \
    -DJINA3_BUILD_BENCHMARKS=OFF -DJINA3_BUILD_CLI=OFF -DJINA3_INSTALL=OFF "-DJINA3_TEST_DATA=$build/testdata"
  cmake --build "$tsan_capi_build" -j"${JINA3_JOBS:-$(nproc)}" --target jina3_capi_tests
  JINA3_TEST_DATA="$build/testdata" JINA3_SHARED_DATA="$(cd "$root/../shared/data" && pwd)" \
    JINA3_TEST_NUM_THREADS=1 OMP_NUM_THREADS=1 TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 exitcode=66" \
    "$tsan_capi_build/tests/capi/jina3_capi_tests" "[threads],[async]" --warn NoAssertions
  end_job
fi

# Reliability (README "Reliability"): the C++ and C API test programs, the CLI's error tests and
# the HTTP server's endpoint and bad-request tests again under AddressSanitizer and
# UndefinedBehaviorSanitizer, on the test data made above, then each libFuzzer target for
# JINA3_FUZZ_SECONDS (30) on a scratch copy of its corpus. The rest of the suite (Python-only
# exporter tests, examples, README snippets, install checks, the Rust and Go suites, the HTTP
# stress tests) runs once, above: under ASan it cost more than the CI's 60 minutes allow.
# JINA3_ASAN_TESTS overrides the selection (a ctest -R regex; "." runs everything). On in CI
# (CI=true); JINA3_CI_SANITIZERS=0 skips it, 1 runs it anywhere.
if [[ "${JINA3_CI_SANITIZERS:-$([[ "${CI:-}" == true ]] && echo 1 || echo 0)}" != 0 ]]; then
  begin_job "asan+ubsan build"
  asan_build="${JINA3_ASAN_BUILD_DIR:-$build-asan}"
  JINA3_BUILD_DIR="$asan_build" bash "$root/scripts/build.sh" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    "-DJINA3_SANITIZE=address;undefined" -DJINA3_BUILD_BENCHMARKS=OFF -DJINA3_BUILD_EXAMPLES=OFF \
    "-DJINA3_TEST_DATA=$build/testdata"
  end_job
  begin_job "asan+ubsan ctest"
  asan_tests="${JINA3_ASAN_TESTS:-^(cpp|capi)\.|^cli\.errors$|^http\.(endpoints|bad_requests)$}"
  (cd "$asan_build" && ctest --output-on-failure --timeout 1800 -R "$asan_tests" -E '^capi\.install$' "$@")
  end_job
  begin_job "fuzz"
  bash "$root/tests/fuzz/run.sh" "${JINA3_FUZZ_BUILD_DIR:-$build-fuzz}" "$build/testdata/package-float32" \
    "${JINA3_FUZZ_SECONDS:-30}"
  end_job
fi
