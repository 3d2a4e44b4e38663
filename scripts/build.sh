#!/usr/bin/env bash
# Configures and builds jina3 into ${JINA3_BUILD_DIR:-build} (Release).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${JINA3_BUILD_DIR:-$root/build}"
jobs="${JINA3_JOBS:-$(nproc)}"
source "$root/scripts/ccache-env.sh"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DPython3_EXECUTABLE=/usr/bin/python3 "$@"
cmake --build "$build" -j"$jobs"
