#!/usr/bin/env bash
# Installs libjina3 into a temporary prefix and builds consumers against it the way users do:
#   1. the installed tree holds exactly the public headers, the library with its SONAME, the CMake
#      package and jina3.pc, and the library exports only jina3 symbols;
#   2. examples/cpp as an out-of-tree CMake project: find_package(jina3) + jina3::jina3;
#   3. examples/c as a C99 program built with `pkg-config --cflags --libs jina3`;
#   4. the build tree as a package (jina3_DIR=<build>);
#   5. find_package version checks (SameMinorVersion while 0.x).
# Each consumer is run on the test package and must print a ranking.
#
#   install_test.sh BUILD_DIR SOURCE_DIR WORK_DIR PACKAGE_DIR EXPECTED_SONAME VERSION
set -euo pipefail
build=$1 source=$2 work=$3 package=$4 soname=$5 version=$6
prefix="$work/prefix"
rm -rf "$work"
mkdir -p "$work"

fail() { echo "FAIL: $*"; exit 1; }
step() { echo "== $*"; }

step "cmake --install into $prefix"
cmake --install "$build" --prefix "$prefix" > "$work/install.log"

step "installed files"
libdir=$(dirname "$(find "$prefix" -name "libjina3.so" | head -n1)")
[ -n "$libdir" ] && [ -d "$libdir" ] || fail "libjina3.so not installed"
headers=$(cd "$prefix/include" && find . -type f | sort | tr '\n' ' ')
expected_headers="./jina3/encoder.hpp ./jina3/errors.hpp ./jina3/export.hpp ./jina3/jina3.h ./jina3/jina3.hpp ./jina3/kernels.hpp ./jina3/options.hpp ./jina3/outputs.hpp ./jina3/package_info.hpp ./jina3/stats.hpp ./jina3/task.hpp ./jina3/version.hpp "
[ "$headers" = "$expected_headers" ] || fail "installed headers are '$headers', expected '$expected_headers'"
for f in cmake/jina3/jina3Config.cmake cmake/jina3/jina3ConfigVersion.cmake cmake/jina3/jina3Targets.cmake \
         pkgconfig/jina3.pc "$soname"; do
  [ -e "$libdir/$f" ] || fail "$libdir/$f not installed"
done
[ "$(readlink "$libdir/libjina3.so")" = "$soname" ] || fail "libjina3.so does not point to $soname"
actual_soname=$(readelf -d "$libdir/libjina3.so" | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')
[ "$actual_soname" = "$soname" ] || fail "SONAME is '$actual_soname', expected '$soname'"
echo "SONAME $actual_soname"
exported=$(nm -D --defined-only "$libdir/libjina3.so" | awk '{print $3}')
foreign=$(echo "$exported" | c++filt | grep -Ev '^(jina3_|jina3::|typeinfo for jina3::|typeinfo name for jina3::|vtable for jina3::)' || true)
[ -z "$foreign" ] || fail "the installed library exports non-jina3 symbols: $(echo "$foreign" | head -n5 | tr '\n' ' ')"
c_symbols=$(echo "$exported" | grep -c '^jina3_' || true)
[ "$c_symbols" -ge 20 ] || fail "only $c_symbols C symbols exported"
echo "exported: $(echo "$exported" | wc -l) symbols, $c_symbols of them the C API, none foreign"
grep -q "^prefix=$prefix\$" "$libdir/pkgconfig/jina3.pc" || fail "jina3.pc does not point into $prefix"
grep -q "^Version: $version\$" "$libdir/pkgconfig/jina3.pc" || fail "jina3.pc does not carry version $version"

loads_installed_lib() {  # program: must resolve libjina3 in the installed prefix
  local deps
  deps=$(ldd "$1")  # captured first: grep -q on a pipe would SIGPIPE ldd under pipefail
  grep -q "libjina3.so.* => $libdir/" <<< "$deps" ||
    fail "$1 does not load libjina3 from $libdir: $(grep jina3 <<< "$deps")"
}

check_run() {  # program...: runs a consumer on the package, checks it ranked the passages
  local output
  output=$("$@" "$package") || fail "$1 failed"
  grep -q '^rank 3: ' <<< "$output" || fail "$1 printed no ranking: $output"
  grep '^rank 1: ' <<< "$output"
}

step "out-of-tree CMake consumer (find_package) against the installed tree"
cmake -S "$source/examples/cpp" -B "$work/consumer-cpp" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_BUILD_TYPE=Release \
      > "$work/consumer-cpp.log"
grep -q "^jina3_DIR:PATH=$prefix/" "$work/consumer-cpp/CMakeCache.txt" || fail "find_package did not pick the installed tree"
cmake --build "$work/consumer-cpp" >> "$work/consumer-cpp.log"
loads_installed_lib "$work/consumer-cpp/jina3_example_cpp"
check_run "$work/consumer-cpp/jina3_example_cpp"

step "C99 consumer through pkg-config"
export PKG_CONFIG_PATH="$libdir/pkgconfig"
flags=$(pkg-config --cflags --libs jina3)
echo "pkg-config --cflags --libs jina3: $flags"
# shellcheck disable=SC2086  # the flags are words
cc -std=c99 -Wall -Wextra -pedantic -Werror "$source/examples/c/example.c" -o "$work/consumer-c" $flags -lm \
   -Wl,-rpath,"$libdir"
loads_installed_lib "$work/consumer-c"
check_run "$work/consumer-c"

step "the build tree as a CMake package (jina3_DIR=$build)"
cmake -S "$source/examples/c" -B "$work/consumer-build-tree" -Djina3_DIR="$build" -DCMAKE_BUILD_TYPE=Release \
      > "$work/consumer-build-tree.log"
cmake --build "$work/consumer-build-tree" >> "$work/consumer-build-tree.log"
check_run "$work/consumer-build-tree/jina3_example_c"

step "find_package version checks"
major=${version%%.*} rest=${version#*.} minor=${rest%%.*}
mkdir -p "$work/version-check"
cat > "$work/version-check/CMakeLists.txt" <<'CMAKE'
cmake_minimum_required(VERSION 3.18)
project(jina3_version_check NONE)
find_package(jina3 ${REQUEST} REQUIRED)
CMAKE
probe() {  # request, expected (found|refused)
  rm -rf "$work/version-check/build"
  if cmake -S "$work/version-check" -B "$work/version-check/build" -DCMAKE_PREFIX_PATH="$prefix" \
        -DREQUEST="$1" > "$work/version-check/$1.log" 2>&1; then got=found; else got=refused; fi
  [ "$got" = "$2" ] || fail "find_package(jina3 $1) was $got, expected $2 (installed $version)"
  if [ "$got" = refused ]; then  # refused for the version, not for some other configure error
    grep -q "that is compatible" "$work/version-check/$1.log" ||
      fail "find_package(jina3 $1) failed for another reason: $(tail -n 5 "$work/version-check/$1.log")"
  fi
  echo "find_package(jina3 $1): $got"
}
probe "$major.$minor" found
probe "$version" found
probe "$major.$((minor + 1))" refused
if [ "$major" = 0 ]; then
  if [ "$minor" -gt 0 ]; then probe "0.$((minor - 1))" refused; fi  # 0.x: every minor is its own ABI
else
  probe "$((major + 1)).0" refused
fi
echo "PASS"
