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

// A token of tokenizer.json's "added_tokens" that is matched in the raw text before the model
// tokenises it (Hugging Face's AddedVocabulary): every occurrence of `content` becomes `id`.
// lstrip / rstrip: the match also swallows the whitespace (Unicode White_Space) before / after it,
// so that whitespace gives no token of its own. All of XLM-R's are special and not normalized
// (matched on the text as given); single_word is false for all of them and not supported.
struct AddedToken {
  std::string content;
  std::int32_t id = 0;
  bool lstrip = false;
  bool rstrip = false;
};

// XLM-R's special tokens as jina-embeddings-v3's tokenizer.json lists them: <s>, <pad>, </s>,
// <unk> and <mask>, none normalized, only <mask> with lstrip (XLMRobertaTokenizerFast's mask token).
std::vector<AddedToken> xlmr_added_tokens(const SpecialIds& special_ids);

// Thread safety: encode() may run concurrently (sentencepiece's Encode is const and keeps no
// per-call state in the processor).
//
// Special-token text. By default encode() behaves as Hugging Face's fast tokenizer with the model's
// tokenizer.json on the text as sentence-transformers hands it over (prompt + text, stripped of
// leading and trailing whitespace): each added token's content in the text becomes its id, and the
// pieces of text between them are tokenised each on its own, as the Metaspace pre-tokenizer does:
// a piece gets a leading "▁" (so "x<s>y" gives "▁x" <s> "▁y"), and whitespace at its end
// (after the normaliser) gives a lone "▁" token ("a <s>" gives "▁a" "▁" <s>) unless an
// lstrip token takes it ("a <mask>" gives "▁a" <mask>). split_special_tokens = true (Hugging
// Face's name for the same switch) tokenises such text as ordinary text, as before.
class Tokenizer {
 public:
  // Throws ModelInvalid if the model cannot be loaded or its ids do not fit vocab_size. The added
  // tokens are xlmr_added_tokens(special_ids).
  Tokenizer(const std::string& model_path, const SpecialIds& special_ids, int spm_id_offset, int vocab_size);
  // The same with a given added-token table (tests; a package whose tokenizer.json differs).
  // Throws InvalidArgument for an empty content or an id outside vocab_size.
  Tokenizer(const std::string& model_path, const SpecialIds& special_ids, int spm_id_offset, int vocab_size,
            std::vector<AddedToken> added_tokens);
  ~Tokenizer();
  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;

  // [bos] + ids(prompt + text) + [eos], untruncated. text must be valid UTF-8 (checked by the caller).
  std::vector<std::int32_t> encode(std::string_view prompt, std::string_view text,
                                   bool split_special_tokens = false) const;

  // Same ids, and in offsets two values per id: the token's [begin, end) byte range in text,
  // without the whitespace sentencepiece marks with "▁" (as Hugging Face's fast tokenizers trim
  // offsets); -1, -1 for <s>, </s> and the prompt's tokens. An added token found in the text covers
  // its content exactly (not the whitespace an lstrip/rstrip token swallows); the lone "▁" of
  // whitespace before an added token is an empty range where that whitespace ends.
  std::vector<std::int32_t> encode(std::string_view prompt, std::string_view text,
                                   std::vector<std::int64_t>& offsets, bool split_special_tokens = false) const;

  // The piece of a model id ("<s>", "▁Hello", ...); "" for an id outside the vocabulary.
  std::string piece(std::int32_t id) const;

  const std::vector<AddedToken>& added_tokens() const noexcept { return added_tokens_; }

 private:
  // A part of the input: an added token found there, or the text between such tokens.
  struct Split {
    std::size_t begin = 0;               // the input bytes it takes (with what lstrip/rstrip swallow)
    std::size_t end = 0;
    std::size_t content = 0;             // an added token: where its content starts
    const AddedToken* token = nullptr;   // null: text
  };

  // The model's id of a sentencepiece id (the fairseq layout: + offset, <unk> to its own id).
  std::int32_t model_id(int spm_id) const {
    return spm_id == spm_unk_id_ ? special_ids_.unk : spm_id + spm_id_offset_;
  }

  std::vector<std::int32_t> encode_impl(std::string_view prompt, std::string_view text,
                                        std::vector<std::int64_t>* offsets, bool split_special_tokens) const;
  // The added tokens found in input[begin, end) and the text between them, in order (Hugging
  // Face's find_matches); empty when there is none.
  std::vector<Split> split_added(std::string_view input, std::size_t begin, std::size_t end) const;
  // Whether the normalised form of segment ends with a space (or is only spaces): then the
  // Metaspace pre-tokenizer gives it a final lone "▁".
  bool normalized_ends_with_space(std::string_view segment) const;

  std::unique_ptr<sentencepiece::SentencePieceProcessor> processor_;
  SpecialIds special_ids_;
  int spm_id_offset_ = 0;
  int spm_unk_id_ = 0;
  std::vector<AddedToken> added_tokens_;
  bool added_first_byte_[256] = {};
  // sentencepiece ids of "▁", and of "▁" + probe_ and probe_ (the probe character of
  // normalized_ends_with_space); -1 where the model lacks them.
  int spm_space_id_ = -1;
  int spm_space_probe_id_ = -1;
  int spm_probe_id_ = -1;
  std::string probe_;
};

// Cuts ids to at most max_length by dropping the ids before the final eos (which is kept).
// Returns true if anything was dropped. max_length >= 2.
bool truncate_ids(std::vector<std::int32_t>& ids, std::size_t max_length);

}  // namespace jina3
