# Install rules and package files for libjina3 (included from the top level when JINA3_INSTALL):
#   <prefix>/lib/libjina3.so*                       the C++ API and the C ABI
#   <prefix>/bin/jina3                              the command-line tool (cli/)
#   <prefix>/include/jina3/*.h{,pp}                 public headers only (nothing from src/)
#   <prefix>/lib/cmake/jina3/jina3{Config,ConfigVersion,Targets}.cmake   find_package(jina3)
#   <prefix>/lib/pkgconfig/jina3.pc                 pkg-config (cgo, Rust build scripts, make)
# The build tree is usable as a package as well: find_package(jina3) with jina3_DIR=<build>.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(JINA3_CMAKE_PACKAGE_DIR "${CMAKE_INSTALL_LIBDIR}/cmake/jina3")

# LibTorch outside the system paths (a pip or CUDA LibTorch) must still be found by the
# installed library, so its directories go into the install RPATH.
set_target_properties(jina3 PROPERTIES INSTALL_RPATH_USE_LINK_PATH ON)

install(TARGETS jina3 EXPORT jina3Targets
  LIBRARY DESTINATION "${CMAKE_INSTALL_LIBDIR}"
  ARCHIVE DESTINATION "${CMAKE_INSTALL_LIBDIR}"
  RUNTIME DESTINATION "${CMAKE_INSTALL_BINDIR}"
  INCLUDES DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}")

# The jina3 command-line tool (cli/), when it is built.
if(TARGET jina3_cli)
  install(TARGETS jina3_cli RUNTIME DESTINATION "${CMAKE_INSTALL_BINDIR}")
endif()

install(FILES
    "${PROJECT_SOURCE_DIR}/include/jina3/jina3.h"
    "${PROJECT_SOURCE_DIR}/include/jina3/jina3.hpp"
    "${PROJECT_SOURCE_DIR}/include/jina3/encoder.hpp"
    "${PROJECT_SOURCE_DIR}/include/jina3/kernels.hpp"
    "${PROJECT_SOURCE_DIR}/include/jina3/options.hpp"
    "${PROJECT_SOURCE_DIR}/include/jina3/outputs.hpp"
    "${PROJECT_SOURCE_DIR}/include/jina3/package_info.hpp"
    "${PROJECT_SOURCE_DIR}/include/jina3/stats.hpp"
    "${PROJECT_SOURCE_DIR}/include/jina3/task.hpp"
    "${PROJECT_SOURCE_DIR}/include/jina3/errors.hpp"
    "${PROJECT_BINARY_DIR}/include/jina3/version.hpp"
    "${PROJECT_BINARY_DIR}/include/jina3/export.hpp"
  DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}/jina3")

# CMake package: targets, config and version files.
install(EXPORT jina3Targets
  NAMESPACE jina3::
  FILE jina3Targets.cmake
  DESTINATION "${JINA3_CMAKE_PACKAGE_DIR}")

# While 0.x every minor release may break the ABI (SOVERSION major.minor), so a request for 0.1
# must not accept 0.2; from 1.0 on the major version alone decides.
if(PROJECT_VERSION_MAJOR EQUAL 0)
  set(JINA3_VERSION_COMPATIBILITY SameMinorVersion)
else()
  set(JINA3_VERSION_COMPATIBILITY SameMajorVersion)
endif()
write_basic_package_version_file("${PROJECT_BINARY_DIR}/jina3ConfigVersion.cmake"
  VERSION "${PROJECT_VERSION}"
  COMPATIBILITY ${JINA3_VERSION_COMPATIBILITY})

configure_package_config_file("${CMAKE_CURRENT_LIST_DIR}/jina3Config.cmake.in"
  "${PROJECT_BINARY_DIR}/cmake-install/jina3Config.cmake"
  INSTALL_DESTINATION "${JINA3_CMAKE_PACKAGE_DIR}")
install(FILES
    "${PROJECT_BINARY_DIR}/cmake-install/jina3Config.cmake"
    "${PROJECT_BINARY_DIR}/jina3ConfigVersion.cmake"
  DESTINATION "${JINA3_CMAKE_PACKAGE_DIR}")

# The same package for the build tree: jina3_DIR=<build> finds these three files.
export(EXPORT jina3Targets NAMESPACE jina3:: FILE "${PROJECT_BINARY_DIR}/jina3Targets.cmake")
configure_package_config_file("${CMAKE_CURRENT_LIST_DIR}/jina3Config.cmake.in"
  "${PROJECT_BINARY_DIR}/jina3Config.cmake"
  INSTALL_DESTINATION "${PROJECT_BINARY_DIR}"
  INSTALL_PREFIX "${PROJECT_BINARY_DIR}")

# pkg-config with absolute directories. They are resolved when installing, not when configuring,
# so `cmake --install <build> --prefix P` gets a jina3.pc that points into P.
set(JINA3_PC_TEMPLATE "${CMAKE_CURRENT_LIST_DIR}/jina3.pc.in")
set(JINA3_PC_FILE "${PROJECT_BINARY_DIR}/cmake-install/jina3.pc")
install(CODE "
  set(PROJECT_VERSION \"${PROJECT_VERSION}\")
  set(JINA3_PC_PREFIX \"\${CMAKE_INSTALL_PREFIX}\")
  set(JINA3_PC_LIBDIR \"${CMAKE_INSTALL_LIBDIR}\")
  set(JINA3_PC_INCLUDEDIR \"${CMAKE_INSTALL_INCLUDEDIR}\")
  foreach(var JINA3_PC_LIBDIR JINA3_PC_INCLUDEDIR)
    if(NOT IS_ABSOLUTE \"\${\${var}}\")
      set(\${var} \"\${CMAKE_INSTALL_PREFIX}/\${\${var}}\")
    endif()
  endforeach()
  configure_file(\"${JINA3_PC_TEMPLATE}\" \"${JINA3_PC_FILE}\" @ONLY)
")
install(FILES "${JINA3_PC_FILE}" DESTINATION "${CMAKE_INSTALL_LIBDIR}/pkgconfig")
