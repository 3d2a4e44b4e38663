// Text -> model token ids: sentencepiece with the XLM-R (fairseq) id mapping.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "model/package.hpp"

namespace sentencepiece {
class SentencePieceProcessor;
}

namespace jina3 {

// Thread safety: encode() may run concurrently (sentencepiece's Encode is const and keeps no
// per-call state in the processor).
class Tokenizer {
 public:
  // Throws ModelInvalid if the model cannot be loaded or its ids do not fit vocab_size.
  Tokenizer(const std::string& model_path, const SpecialIds& special_ids, int spm_id_offset, int vocab_size);
  ~Tokenizer();
  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;

  // [bos] + ids(prompt + text) + [eos], untruncated. text must be valid UTF-8 (checked by the caller).
  std::vector<std::int32_t> encode(std::string_view prompt, std::string_view text) const;

  // Same ids, and in offsets two values per id: the token's [begin, end) byte range in text,
  // without the whitespace sentencepiece marks with "▁" (as Hugging Face's fast tokenizers trim
  // offsets); -1, -1 for <s>, </s> and the prompt's tokens.
  std::vector<std::int32_t> encode(std::string_view prompt, std::string_view text,
                                   std::vector<std::int64_t>& offsets) const;

 private:
  // The model's id of a sentencepiece id (the fairseq layout: + offset, <unk> to its own id).
  std::int32_t model_id(int spm_id) const {
    return spm_id == spm_unk_id_ ? special_ids_.unk : spm_id + spm_id_offset_;
  }

  std::unique_ptr<sentencepiece::SentencePieceProcessor> processor_;
  SpecialIds special_ids_;
  int spm_id_offset_ = 0;
  int spm_unk_id_ = 0;
};

// Cuts ids to at most max_length by dropping the ids before the final eos (which is kept).
// Returns true if anything was dropped. max_length >= 2.
bool truncate_ids(std::vector<std::int32_t>& ids, std::size_t max_length);

}  // namespace jina3
