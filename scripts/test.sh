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
