# JINA3_SANITIZE: sanitizers for every target of the project, as a list: "address;undefined",
# "thread", "address", "undefined" or "leak" (commas work too). Applied at directory scope before
# any target exists, so libjina3, the tests, the examples and the Python module all get them.
# undefined also gets -fno-sanitize-recover, so that a report fails the test that caused it.
set(JINA3_SANITIZE "" CACHE STRING "Sanitizers for every target: address;undefined, or thread")

if(JINA3_SANITIZE)
  string(REPLACE "," ";" _jina3_sanitizers "${JINA3_SANITIZE}")
  foreach(_jina3_sanitizer IN LISTS _jina3_sanitizers)
    if(NOT _jina3_sanitizer MATCHES "^(address|undefined|thread|leak)$")
      message(FATAL_ERROR "JINA3_SANITIZE: unknown sanitizer '${_jina3_sanitizer}' "
                          "(use address, undefined, thread or leak)")
    endif()
  endforeach()
  if("thread" IN_LIST _jina3_sanitizers AND ("address" IN_LIST _jina3_sanitizers OR "leak" IN_LIST _jina3_sanitizers))
    message(FATAL_ERROR "JINA3_SANITIZE: thread cannot be combined with address or leak")
  endif()
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
    message(FATAL_ERROR "JINA3_SANITIZE needs GCC or Clang")
  endif()
  string(REPLACE ";" "," _jina3_sanitize_flag "${_jina3_sanitizers}")
  add_compile_options(-fsanitize=${_jina3_sanitize_flag} -fno-omit-frame-pointer -g)
  add_link_options(-fsanitize=${_jina3_sanitize_flag})
  if("undefined" IN_LIST _jina3_sanitizers)
    add_compile_options(-fno-sanitize-recover=undefined)
    add_link_options(-fno-sanitize-recover=undefined)
  endif()
  message(STATUS "jina3: sanitizers ${_jina3_sanitize_flag} on every target")
endif()
