// jina3::EncodeHandle (see encoder.hpp and encode_handle.hpp).
#include "encode_handle.hpp"

#include <jina3/errors.hpp>

namespace jina3 {
namespace {

[[noreturn]] void throw_invalid() {
  throw InvalidArgument("this jina3::EncodeHandle holds no request (default-constructed, moved from, or get() was "
                        "called already)");
}

}  // namespace

EncodeHandle::EncodeHandle() noexcept = default;
EncodeHandle::~EncodeHandle() = default;
EncodeHandle::EncodeHandle(EncodeHandle&&) noexcept = default;
EncodeHandle& EncodeHandle::operator=(EncodeHandle&&) noexcept = default;
EncodeHandle::EncodeHandle(std::shared_ptr<State> state) noexcept : state_(std::move(state)) {}

bool EncodeHandle::valid() const noexcept { return state_ && state_->future.valid(); }

Embeddings EncodeHandle::get() {
  if (!valid()) throw_invalid();
  return state_->future.get();
}

void EncodeHandle::wait() const {
  if (!valid()) throw_invalid();
  state_->future.wait();
}

std::future_status EncodeHandle::wait_for_us(std::int64_t microseconds) const {
  if (!valid()) throw_invalid();
  return state_->future.wait_for(std::chrono::microseconds(microseconds));
}

bool EncodeHandle::ready() const { return wait_for_us(0) == std::future_status::ready; }

bool EncodeHandle::cancel() noexcept {
  if (!state_ || state_->ticket == 0) return false;
  const std::shared_ptr<detail::Scheduler> scheduler = state_->scheduler.lock();
  return scheduler && scheduler->cancel(state_->ticket);
}

}  // namespace jina3
