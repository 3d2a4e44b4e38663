// What an EncodeHandle holds: the call's future and the way back to its scheduler request. The
// scheduler is held weakly: a handle may outlive its encoder, and cancel() then finds nothing.
#pragma once

#include <future>
#include <memory>

#include <jina3/encoder.hpp>

#include "serving/scheduler.hpp"

namespace jina3 {

struct EncodeHandle::State {
  std::future<Embeddings> future;
  std::weak_ptr<detail::Scheduler> scheduler;
  detail::Ticket ticket = 0;  // 0: the call completed at once (cache, no texts)
};

}  // namespace jina3
