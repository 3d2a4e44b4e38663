// The jina3 C++ API: #include <jina3/jina3.hpp>.
#pragma once

#include <jina3/encoder.hpp>
#include <jina3/errors.hpp>
#include <jina3/kernels.hpp>
#include <jina3/options.hpp>
#include <jina3/outputs.hpp>
#include <jina3/package_info.hpp>
#include <jina3/stats.hpp>
#include <jina3/task.hpp>
#include <jina3/version.hpp>
