// Pooled rows (see sentences.hpp).
#include "pipeline/sentences.hpp"

#include <memory>
#include <numeric>
#include <string>
#include <vector>

#include "pipeline/prepare.hpp"
#include "serving/cache.hpp"

namespace jina3::pipeline {
namespace {

// One call in flight: its result (rows filled from the cache or by passes) and its delivery.
struct Call {
  Embeddings result;
  RowSpec spec;                       // the job's rows, as the pass function reads them
  std::vector<std::size_t> computed;  // rows that passes compute; the others came from the cache
  std::vector<std::string> keys;      // their cache keys, when the cache is on
  std::promise<Embeddings> promise;
  std::function<void()> on_ready;
};

}  // namespace

Submitted submit_sentences(const Services& services, const Request& request, const Checked& checked,
                           std::function<void()> on_ready) {
  const std::size_t count = request.count;
  const std::size_t dims = checked.dims;
  auto call = std::make_shared<Call>();
  call->on_ready = std::move(on_ready);
  call->spec = RowSpec{dims, false, request.options.normalize};
  Embeddings& result = call->result;
  result.rows = count;
  result.dims = dims;
  result.data.resize(count * dims);
  result.truncated.assign(count, 0);
  detail::EmbeddingCache* cache = services.cache;
  if (cache) {
    for (std::size_t i = 0; i < count; ++i) {
      std::string key = cache_key(request, checked, i);
      if (!cache->lookup(key, result.data.data() + i * dims, dims, &result.truncated[i])) {
        call->computed.push_back(i);
        call->keys.push_back(std::move(key));
      }
    }
  } else {
    call->computed.resize(count);
    std::iota(call->computed.begin(), call->computed.end(), std::size_t{0});
  }

  std::future<Embeddings> future = call->promise.get_future();
  Services::Direct& direct = services.direct[static_cast<int>(request.options.priority)];
  if (count > call->computed.size()) direct.cached_rows.fetch_add(count - call->computed.size(), std::memory_order_relaxed);
  if (call->computed.empty()) {  // no texts, or every row from the cache
    direct.requests.fetch_add(1, std::memory_order_relaxed);
    call->promise.set_value(std::move(call->result));
    if (call->on_ready) call->on_ready();
    return Submitted{std::move(future), 0};
  }

  Prepared prepared = tokenize(services.model, request, checked, call->computed);
  detail::Job job;
  job.ids = std::move(prepared.ids);
  job.adapters = std::move(prepared.adapters);
  job.outputs.reserve(call->computed.size());
  for (std::size_t k = 0; k < call->computed.size(); ++k) {
    const std::size_t i = call->computed[k];
    job.outputs.push_back(result.data.data() + i * dims);
    result.truncated[i] = prepared.truncated[k];
  }
  job.spec = &call->spec;
  job.max_rows_per_pass = static_cast<std::size_t>(request.options.batch_size);
  job.priority = request.options.priority;
  if (request.options.deadline_us > 0) job.deadline = request.start + std::chrono::microseconds(request.options.deadline_us);

  const detail::Ticket ticket = services.scheduler.submit(std::move(job), request.options.block_when_full,
                                                          [cache, call](std::exception_ptr error) {
    if (error) {
      call->promise.set_exception(error);
    } else {
      Embeddings& done = call->result;
      if (cache) {
        for (std::size_t k = 0; k < call->computed.size(); ++k) {
          const std::size_t i = call->computed[k];
          cache->insert(call->keys[k], done.data.data() + i * done.dims, done.dims, done.truncated[i]);
        }
      }
      call->promise.set_value(std::move(done));
    }
    if (call->on_ready) call->on_ready();
  });
  return Submitted{std::move(future), ticket};
}

}  // namespace jina3::pipeline
