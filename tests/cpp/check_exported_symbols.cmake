# Checks that libjina3 exports only the jina3 API: no LibTorch, sentencepiece, protobuf, fmt or
# standard-library symbols leak, and sentencepiece's bundled protobuf is not bound to the
# system's (different) protobuf at run time.
#   cmake -DLIBRARY=<libjina3.so> -DNM=<nm> -P check_exported_symbols.cmake
if(NOT LIBRARY OR NOT EXISTS "${LIBRARY}")
  message(FATAL_ERROR "LIBRARY '${LIBRARY}' not found")
endif()
if(NOT NM)
  set(NM nm)
endif()

execute_process(COMMAND "${NM}" -D --defined-only -C "${LIBRARY}"
                OUTPUT_VARIABLE defined RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${NM} failed on ${LIBRARY}")
endif()
execute_process(COMMAND "${NM}" -D --undefined-only -C "${LIBRARY}"
                OUTPUT_VARIABLE undefined RESULT_VARIABLE rc)

string(REPLACE "\n" ";" lines "${defined}")
set(bad "")
set(api_count 0)
foreach(line IN LISTS lines)
  # "<address> <type> <name>"; names may contain spaces.
  if(NOT line MATCHES "^[0-9a-fA-F]+ [A-Za-z] (.*)$")
    continue()
  endif()
  set(name "${CMAKE_MATCH_1}")
  if(name MATCHES "^(jina3::|typeinfo for jina3::|typeinfo name for jina3::|vtable for jina3::|jina3_)")
    math(EXPR api_count "${api_count} + 1")
  else()
    list(APPEND bad "${name}")
  endif()
  if(name MATCHES "google|sentencepiece|protobuf|torch|c10::|at::|fmt::|std::")
    # A jina3 function may mention std types in its signature; only names *from* those libraries leak.
    if(NOT name MATCHES "^(jina3::|jina3_)")
      list(APPEND bad "${name}")
    endif()
  endif()
endforeach()

if(api_count LESS 10)
  message(FATAL_ERROR "only ${api_count} jina3 symbols exported from ${LIBRARY}; the check is not seeing the API")
endif()
if(bad)
  list(REMOVE_DUPLICATES bad)
  list(JOIN bad "\n  " shown)
  message(FATAL_ERROR "libjina3 exports symbols outside the jina3 API:\n  ${shown}")
endif()
if(undefined MATCHES "google::protobuf|sentencepiece")
  message(FATAL_ERROR "libjina3 leaves protobuf/sentencepiece symbols to be bound at run time; "
                      "the static sentencepiece must resolve them internally")
endif()
message(STATUS "${api_count} exported symbols, all in the jina3 API")
