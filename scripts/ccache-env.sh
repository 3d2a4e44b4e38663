# Sourced by build.sh and test.sh: ccache (installed by install-deps.sh) for every build of this
# checkout. CMake takes the launcher from these variables, so the sanitizer, TSan and fuzz builds
# get it too. JINA3_CCACHE=0 turns it off. Expects $root, the checkout.
if [[ "${JINA3_CCACHE:-1}" != 0 ]] && command -v ccache >/dev/null; then
  export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$root}"
  export CMAKE_CXX_COMPILER_LAUNCHER="${CMAKE_CXX_COMPILER_LAUNCHER:-ccache}"
  export CMAKE_C_COMPILER_LAUNCHER="${CMAKE_C_COMPILER_LAUNCHER:-ccache}"
fi
