// The output stage for pooled rows: answers what the cache holds, queues the rest as one job,
// and completes the call (cache insert, promise, on_ready) when its rows are done.
#pragma once

#include <functional>
#include <future>

#include <jina3/encoder.hpp>

#include "pipeline/request.hpp"

namespace jina3::pipeline {

// request was checked (checked = check(model, request)). on_ready, if set, runs once, right after
// the future is ready. Throws what tokenizing finds (InvalidArgument, InputTooLong) and what
// queueing refuses (QueueFull, DeadlineExceeded, Cancelled); later failures go to the future.
struct Submitted {
  std::future<Embeddings> future;
  detail::Ticket ticket = 0;  // the scheduler's, for cancel(); 0 when the call completed at once
};
Submitted submit_sentences(const Services& services, const Request& request, const Checked& checked,
                           std::function<void()> on_ready);

}  // namespace jina3::pipeline
