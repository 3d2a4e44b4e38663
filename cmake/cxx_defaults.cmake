# C++17 without extensions for every target, and a build type when none was given: what the main
# project and the standalone scheduler test (tests/scheduler) both set up.
macro(jina3_cxx_defaults default_build_type)
  set(CMAKE_CXX_STANDARD 17)
  set(CMAKE_CXX_STANDARD_REQUIRED ON)
  set(CMAKE_CXX_EXTENSIONS OFF)
  if(NOT CMAKE_BUILD_TYPE AND NOT CMAKE_CONFIGURATION_TYPES)
    set(CMAKE_BUILD_TYPE ${default_build_type} CACHE STRING "Build type" FORCE)
  endif()
endmacro()
