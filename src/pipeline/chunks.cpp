// Late chunking's stage (see chunks.hpp): plan, run, stitch.
#include "pipeline/chunks.hpp"

#include <numeric>

#include "model/model.hpp"
#include "pipeline/passes.hpp"
#include "pipeline/prepare.hpp"

namespace jina3::pipeline {

std::vector<ChunkWork> plan_late_chunks(const Services& services, const Request& request, const Checked& checked) {
  std::vector<std::size_t> rows(request.count);
  std::iota(rows.begin(), rows.end(), std::size_t{0});
  Prepared prepared = tokenize(services.model, request, checked, rows, /*offsets=*/true);
  const LateChunkOptions& options = *request.chunking;
  std::vector<ChunkWork> work(request.count);
  for (std::size_t i = 0; i < request.count; ++i) {
    ChunkWork& text = work[i];
    text.plan = detail::plan_chunks(request.texts[i], i, prepared.offsets[i],
                                    options.spans ? &(*options.spans)[i] : nullptr, options.chunk_tokens.value_or(0),
                                    options.sentences.value_or(0), options.include_special_tokens);
    text.length = prepared.ids[i].size();
    if (!text.plan.token_spans.empty()) {
      text.windows = detail::plan_windows(text.length, checked.window, checked.overlap);
    }
  }
  // The ids are cut into windows here, so that run needs nothing else.
  for (std::size_t i = 0; i < request.count; ++i) {
    ChunkWork& text = work[i];
    text.window_states.resize(text.windows.size());
    text.window_ids.reserve(text.windows.size());
    for (const detail::Window& win : text.windows) {
      text.window_ids.emplace_back(prepared.ids[i].begin() + static_cast<std::ptrdiff_t>(win.begin),
                                   prepared.ids[i].begin() + static_cast<std::ptrdiff_t>(win.end));
    }
  }
  return work;
}

void run_late_chunks(const Services& services, const Request& request, std::vector<ChunkWork>& work) {
  const auto hidden = static_cast<std::size_t>(services.model.manifest().hidden_size);
  const RowSpec spec{hidden, true, false};
  detail::Job job;
  job.spec = &spec;
  const std::int64_t adapter = services.model.adapter_for(request.task_of(0));
  for (ChunkWork& text : work) {
    for (std::size_t w = 0; w < text.windows.size(); ++w) {
      const detail::Window& win = text.windows[w];
      text.window_states[w].resize((win.end - win.begin) * hidden);
      job.outputs.push_back(text.window_states[w].data());
      job.ids.push_back(std::move(text.window_ids[w]));
      job.adapters.push_back(adapter);
    }
    text.window_ids.clear();
  }
  run_and_wait(services, std::move(job));
}

std::vector<ChunkEmbeddings> stitch_late_chunks(std::vector<ChunkWork>& work, std::size_t hidden, std::size_t dims,
                                                bool normalize) {
  std::vector<ChunkEmbeddings> result(work.size());
  std::vector<float> stitched;
  for (std::size_t i = 0; i < work.size(); ++i) {
    ChunkWork& text = work[i];
    ChunkEmbeddings& out = result[i];
    out.dims = dims;
    out.spans = text.plan.spans;
    out.token_spans = text.plan.token_spans;
    if (text.plan.token_spans.empty()) continue;
    const float* states = text.window_states[0].data();
    if (text.windows.size() > 1) {
      stitched.resize(text.length * hidden);
      for (std::size_t w = 0; w < text.windows.size(); ++w) {
        const detail::Window& win = text.windows[w];
        std::copy(text.window_states[w].begin() + static_cast<std::ptrdiff_t>(win.keep * hidden),
                  text.window_states[w].end(),
                  stitched.begin() + static_cast<std::ptrdiff_t>((win.begin + win.keep) * hidden));
        std::vector<float>().swap(text.window_states[w]);
      }
      states = stitched.data();
    }
    out.embeddings.resize(text.plan.token_spans.size() * dims);
    detail::pool_chunks(states, hidden, text.plan, dims, normalize, out.embeddings.data());
  }
  return result;
}

std::vector<ChunkEmbeddings> late_chunk(const Services& services, const Request& request, const Checked& checked) {
  std::vector<ChunkWork> work = plan_late_chunks(services, request, checked);
  run_late_chunks(services, request, work);
  const auto hidden = static_cast<std::size_t>(services.model.manifest().hidden_size);
  return stitch_late_chunks(work, hidden, checked.dims, request.chunking->normalize);
}

}  // namespace jina3::pipeline
