#!/usr/bin/env bash
# Installs everything jina3 needs on Debian bookworm, from Debian's own archive (no PyPI),
# and builds sentencepiece as a static, PIC library under third_party/ (see README: Debian's
# shared libsentencepiece bundles protobuf 3.14, which crashes a process that also loads
# LibTorch's protobuf 3.21).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

packages=(
  build-essential cmake pkg-config git ca-certificates dpkg-dev ccache
  libtorch-dev python3-torch python3-dev python3-numpy python3-pytest
  libfmt-dev catch2 pybind11-dev python3-pybind11
  libopenblas0-pthread
  python3-sentencepiece python3-tqdm python3-faiss
  python3-dask python3-distributed python3-pandas
  golang-go rustc cargo valgrind
  libcli11-dev nlohmann-json3-dev time
  libssl-dev python3-protobuf
  clang-14 libclang-rt-14-dev
  libcpp-httplib-dev libboost-dev libdnnl-dev
  python3-build python3-venv python3-pip python3-requests python3-aiohttp python3-setuptools python3-wheel
  python3-prometheus-client nodejs
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# Debian's reference BLAS makes LibTorch float32 matmuls ~80x slower; prefer OpenBLAS (pthread).
for alt in libblas.so.3 liblapack.so.3; do
  target=$(update-alternatives --list "$alt-x86_64-linux-gnu" 2>/dev/null | grep openblas-pthread | head -n1 || true)
  [ -n "$target" ] && $SUDO update-alternatives --set "$alt-x86_64-linux-gnu" "$target" >/dev/null || true
done

# Static sentencepiece 0.1.97 from Debian's source package.
spm_prefix="$here/third_party/sentencepiece"
if [ ! -f "$spm_prefix/lib/libsentencepiece.a" ]; then
  if ! grep -rqs "^Types: deb deb-src\|^deb-src" /etc/apt/sources.list /etc/apt/sources.list.d/; then
    if [ -f /etc/apt/sources.list.d/debian.sources ]; then
      $SUDO sed -i 's/^Types: deb$/Types: deb deb-src/' /etc/apt/sources.list.d/debian.sources
    else
      echo "deb-src http://deb.debian.org/debian bookworm main" | $SUDO tee /etc/apt/sources.list.d/jina3-src.list >/dev/null
    fi
    $SUDO apt-get update -qq
  fi
  work="$(mktemp -d)"
  # Debian's patches disable the static library, so build the pristine upstream tarball that the
  # source package carries (its bundled protobuf-lite ends up hidden inside libjina3).
  (cd "$work" && apt-get source -qq --download-only sentencepiece >/dev/null)
  tar -xzf "$work"/sentencepiece_*.orig.tar.gz -C "$work"
  src="$(find "$work" -maxdepth 1 -type d -name 'sentencepiece-*' | head -n1)"
  # Its bundled protobuf-lite prints thousands of compiler warnings: keep them in a log, shown on failure.
  log="$work/sentencepiece-build.log"
  if ! { cmake -S "$src" -B "$work/build" -DCMAKE_BUILD_TYPE=Release -DSPM_ENABLE_SHARED=OFF \
           -DCMAKE_POSITION_INDEPENDENT_CODE=ON -DSPM_BUILD_TEST=OFF \
           -DCMAKE_INSTALL_PREFIX="$spm_prefix" &&
         cmake --build "$work/build" -j"$(nproc)" &&
         cmake --install "$work/build"; } >"$log" 2>&1; then
    tail -n 50 "$log" >&2
    echo "install-deps: building static sentencepiece failed (log above)" >&2
    exit 1
  fi
  rm -rf "$work"
fi
# The official OpenAI Node client, which tests/http/test_openai_node.py runs against `jina3 serve`
# (npm; its node_modules stay out of git). Skipped without npm or the registry: that test then fails
# with a message saying so.
if command -v npm >/dev/null && [ ! -d "$here/tests/http/node/node_modules/openai" ]; then
  (cd "$here/tests/http/node" && npm install --no-audit --no-fund --silent) ||
    echo "install-deps: npm install in tests/http/node failed; the OpenAI Node client test will fail" >&2
fi
echo "jina3 dependencies ready (static sentencepiece in $spm_prefix)"
