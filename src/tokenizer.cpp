// sentencepiece tokenisation with the XLM-R id layout.
//
// Whitespace policy: jina3 follows sentencepiece semantics. The XLM-R normaliser trims leading and
// trailing whitespace and collapses inner runs, so "end\n" and "end" give the same ids, and a text
// of only whitespace gives just <s></s>. Hugging Face's fast tokenizer (what Jina's encode() uses)
// keeps a final "▁" in those cases; sentence-transformers strips every input first, which makes it
// agree with sentencepiece. We match that path; literal special-token text such as "<mask>" is
// ordinary text here (no special-token matching), as in plain sentencepiece.
#include "tokenizer.hpp"

#include <fmt/format.h>
#include <sentencepiece_processor.h>

#include <jina3/errors.hpp>

namespace jina3 {

Tokenizer::Tokenizer(const std::string& model_path, const SpecialIds& special_ids, int spm_id_offset, int vocab_size)
    : processor_(std::make_unique<sentencepiece::SentencePieceProcessor>()),
      special_ids_(special_ids),
      spm_id_offset_(spm_id_offset) {
  const auto status = processor_->Load(model_path);
  if (!status.ok()) {
    throw ModelInvalid(fmt::format("{}: not a sentencepiece model: {}", model_path, status.ToString()));
  }
  spm_unk_id_ = processor_->unk_id();
  const int pieces = processor_->GetPieceSize();
  // Every id sentencepiece can produce must index the embedding table.
  if (pieces <= 0 || static_cast<long long>(pieces) - 1 + spm_id_offset > static_cast<long long>(vocab_size) - 1) {
    throw ModelInvalid(fmt::format("{}: {} pieces + id offset {} do not fit the model's vocab_size {}", model_path,
                                   pieces, spm_id_offset, vocab_size));
  }
}

Tokenizer::~Tokenizer() = default;
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;

std::vector<std::int32_t> Tokenizer::encode(std::string_view prompt, std::string_view text) const {
  // Jina prepends the instruction by plain string concatenation before tokenising.
  std::string input;
  input.reserve(prompt.size() + text.size());
  input.append(prompt);
  input.append(text);

  std::vector<int> spm_ids;
  const auto status = processor_->Encode(absl::string_view(input.data(), input.size()), &spm_ids);
  if (!status.ok()) throw Error(fmt::format("sentencepiece failed to encode a text: {}", status.ToString()));

  std::vector<std::int32_t> ids;
  ids.reserve(spm_ids.size() + 2);
  ids.push_back(special_ids_.bos);
  for (int spm_id : spm_ids) ids.push_back(spm_id == spm_unk_id_ ? special_ids_.unk : spm_id + spm_id_offset_);
  ids.push_back(special_ids_.eos);
  return ids;
}

bool truncate_ids(std::vector<std::int32_t>& ids, std::size_t max_length) {
  if (ids.size() <= max_length) return false;
  const std::int32_t eos = ids.back();
  ids.resize(max_length - 1);
  ids.push_back(eos);
  return true;
}

}  // namespace jina3
