#!/usr/bin/env bash
# Builds jina3_bench against the PyTorch (LibTorch) of a CUDA machine and runs benchmarks/run.py
# there. For machines without Debian's packages: fmt comes header-only from .gpu/include and
# sentencepiece is built from .gpu/sentencepiece_*.orig.tar.gz (the tarball install-deps.sh uses).
#
#   bash benchmarks/cuda_bench.sh build            # sentencepiece + jina3_bench into $WORK
#   bash benchmarks/cuda_bench.sh bench [ARGS...]  # run.py --device cuda ARGS (checkpoint and
#                                                  # packages are made on the first run)
# WORK defaults to /tmp/jina3-cuda; PYTHON to python3 (the one with torch).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
work="${WORK:-/tmp/jina3-cuda}"
python="${PYTHON:-python3}"
jobs="$(nproc)"
stage="${1:?usage: cuda_bench.sh build|bench [run.py args]}"
shift

case "$stage" in
  build)
    spm="$work/sentencepiece"
    if [ ! -f "$spm/lib/libsentencepiece.a" ] && [ ! -f "$spm/lib64/libsentencepiece.a" ]; then
      tarball="$(ls "$root"/.gpu/sentencepiece_*.orig.tar.gz | head -n1)"
      mkdir -p "$work/src"
      tar -xzf "$tarball" -C "$work/src"
      src="$(find "$work/src" -maxdepth 1 -type d -name 'sentencepiece-*' | head -n1)"
      cmake -S "$src" -B "$work/spm-build" -DCMAKE_BUILD_TYPE=Release -DSPM_ENABLE_SHARED=OFF \
            -DCMAKE_POSITION_INDEPENDENT_CODE=ON -DSPM_BUILD_TEST=OFF -DCMAKE_INSTALL_PREFIX="$spm" \
            -DCMAKE_POLICY_VERSION_MINIMUM=3.5 >/dev/null
      cmake --build "$work/spm-build" -j"$jobs" >/dev/null
      cmake --install "$work/spm-build" >/dev/null
    fi
    torch_prefix="$("$python" -c 'import torch; print(torch.utils.cmake_prefix_path)')"
    cmake -S "$root" -B "$work/build" -DCMAKE_BUILD_TYPE=Release \
          -DCMAKE_PREFIX_PATH="$torch_prefix" -DPython3_EXECUTABLE="$(command -v "$python")" \
          -DJINA3_SENTENCEPIECE_ROOT="$spm" -DJINA3_FMT_INCLUDE="$root/.gpu/include" \
          -DJINA3_BUILD_TESTS=OFF -DJINA3_BUILD_PYTHON=OFF -DJINA3_BUILD_EXAMPLES=OFF -DJINA3_INSTALL=OFF \
          -DJINA3_BUILD_BENCHMARKS=ON
    cmake --build "$work/build" -j"$jobs" --target jina3_bench
    ;;
  bench)
    PYTHONPATH="$root/python" "$python" "$root/benchmarks/run.py" --device cuda --build "$work/build" \
        --data "$work/data" "$@"
    ;;
  *)
    echo "cuda_bench.sh: unknown stage '$stage' (build or bench)" >&2
    exit 64
    ;;
esac
