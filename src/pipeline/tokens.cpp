// Token embeddings (see tokens.hpp).
#include "pipeline/tokens.hpp"

#include <numeric>

#include "model/model.hpp"
#include "pipeline/passes.hpp"
#include "pipeline/prepare.hpp"

namespace jina3::pipeline {

std::vector<TokenEmbeddings> encode_tokens(const Services& services, const Request& request, const Checked& checked) {
  std::vector<std::size_t> rows(request.count);
  std::iota(rows.begin(), rows.end(), std::size_t{0});
  Prepared prepared = tokenize(services.model, request, checked, rows, /*offsets=*/true);
  const auto hidden = static_cast<std::size_t>(services.model.manifest().hidden_size);
  const RowSpec spec{hidden, true, false};
  std::vector<TokenEmbeddings> result(request.count);
  detail::Job job;
  job.spec = &spec;
  job.adapters = std::move(prepared.adapters);
  for (std::size_t i = 0; i < request.count; ++i) {
    TokenEmbeddings& out = result[i];
    out.truncated = prepared.truncated[i] != 0;
    out.ids = prepared.ids[i];
    out.offsets = std::move(prepared.offsets[i]);
    out.hidden = hidden;
    out.embeddings.resize(out.ids.size() * hidden);
    job.outputs.push_back(out.embeddings.data());
  }
  job.ids = std::move(prepared.ids);
  run_and_wait(services, std::move(job));
  return result;
}

}  // namespace jina3::pipeline
