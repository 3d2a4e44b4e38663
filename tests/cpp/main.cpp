// The Catch2 runner for the jina3 C++ tests.
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
