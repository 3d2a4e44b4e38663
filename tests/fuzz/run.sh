#!/usr/bin/env bash
# Builds the libFuzzer targets (clang-14, -DJINA3_FUZZ=ON) and runs each for SECONDS on a scratch
# copy of its seed corpus (the committed corpus stays read-only). scripts/test.sh runs this in CI
# with 60 s per target. Any crash, sanitizer report, leak or broken invariant fails it; the input
# that did it is kept under the scratch folder (printed) as crash-*/leak-*/timeout-*.
#
#   tests/fuzz/run.sh BUILD_DIR PACKAGE_DIR [SECONDS] [TARGET...]
#
# PACKAGE_DIR: a tiny test package (build/testdata/package-float32) for the targets that load one.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build="${1:?usage: run.sh BUILD_DIR PACKAGE_DIR [SECONDS] [TARGET...]}"
package="${2:?usage: run.sh BUILD_DIR PACKAGE_DIR [SECONDS] [TARGET...]}"
seconds="${3:-60}"
shift $(($# < 3 ? $# : 3))
targets=("$@")
if [ "${#targets[@]}" -eq 0 ]; then
  targets=(fuzz_utf8_tokenizer fuzz_manifest fuzz_capi_encode fuzz_late_chunk fuzz_cli_jsonl fuzz_http_body)
fi

# OpenMP off: clang's libomp next to LibTorch's libgomp would put two OpenMP runtimes in one process.
CC=clang-14 CXX=clang++-14 cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DJINA3_FUZZ=ON \
  -DPython3_EXECUTABLE=/usr/bin/python3 -DCMAKE_DISABLE_FIND_PACKAGE_OpenMP=ON -DJINA3_BUILD_TESTS=OFF \
  -DJINA3_BUILD_PYTHON=OFF -DJINA3_BUILD_EXAMPLES=OFF -DJINA3_BUILD_BENCHMARKS=OFF -DJINA3_BUILD_CLI=OFF \
  -DJINA3_INSTALL=OFF >/dev/null
cmake --build "$build" -j"${JINA3_JOBS:-$(nproc)}" --target "${targets[@]}"

scratch="$(mktemp -d "${TMPDIR:-/tmp}/jina3-fuzz.XXXXXX")"
export JINA3_FUZZ_PACKAGE="$package"
status=0
for target in "${targets[@]}"; do
  cp -r "$root/tests/fuzz/corpus/$target" "$scratch/$target"
  mkdir -p "$scratch/$target-artifacts"
  extra=()
  if [ "$target" = fuzz_manifest ]; then extra+=(-dict="$root/tests/fuzz/manifest.dict"); fi
  echo "== $target: ${seconds} s on a copy of tests/fuzz/corpus/$target"
  if "$build/tests/fuzz/$target" -max_total_time="$seconds" -timeout=60 -rss_limit_mb=4096 -print_final_stats=1 \
       -artifact_prefix="$scratch/$target-artifacts/" "${extra[@]}" "$scratch/$target" >"$scratch/$target.log" 2>&1; then
    grep -E '^#[0-9]+ +DONE|stat::number_of_executed_units|stat::peak_rss_mb' "$scratch/$target.log" || true
  else
    status=1
    tail -n 60 "$scratch/$target.log"
    echo "== $target FAILED; inputs kept in $scratch/$target-artifacts" >&2
  fi
done
if [ "$status" -eq 0 ]; then rm -rf "$scratch"; fi
exit "$status"
