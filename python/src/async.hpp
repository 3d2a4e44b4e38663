// Results of Encoder::encode_async delivered to asyncio futures.
#pragma once

#include <functional>
#include <future>

#include <jina3/encoder.hpp>

#include "module.hpp"

namespace jina3::python {

// Calls submit(on_ready) with the GIL released; submit must call the bindings form of
// Encoder::submit with that on_ready and return its handle. Cancelling the asyncio future (the
// task that awaits it was cancelled) cancels the request in the core. The result (a float32 array)
// or the error then resolves future, an asyncio future of loop, on the loop's thread. What submit
// throws propagates and future is left alone. Needs the GIL. Raises RuntimeError once the
// interpreter has started to exit.
using AsyncSubmit = std::function<EncodeHandle(std::function<void()> on_ready)>;
void submit_to_future(py::handle loop, py::handle future, const AsyncSubmit& submit);

// Called once at import: creates the dispatcher (its thread starts with the first request) and
// registers its stop at interpreter exit.
void init_async();

}  // namespace jina3::python
