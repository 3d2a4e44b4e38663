// sentencepiece tokenisation with the XLM-R id layout.
//
// Whitespace policy: jina3 follows sentencepiece semantics. The XLM-R normaliser trims leading and
// trailing whitespace and collapses inner runs, so "end\n" and "end" give the same ids, and a text
// of only whitespace gives just <s></s>. Hugging Face's fast tokenizer (what Jina's encode() uses)
// keeps a final "▁" in those cases; sentence-transformers strips every input first, which makes it
// agree with sentencepiece. We match that path.
//
// Special-token text ("<s>", "</s>", "<unk>", "<pad>", "<mask>" in a text) follows the fast
// tokenizer (tokenizers' AddedVocabulary::find_matches and the Metaspace pre-tokenizer): the input
// is stripped as sentence-transformers strips it, the added tokens are found in it leftmost first
// (longest at one position), an lstrip token also takes the whitespace before it (an rstrip token
// the whitespace after it), and each piece of text between them is tokenised on its own: it gets
// sentencepiece's "▁" prefix, and whitespace at its end (after normalisation) becomes a lone "▁",
// which sentencepiece alone would trim. Without any added token in the text, or with
// split_special_tokens, the whole input goes to sentencepiece as before.
#include "model/tokenizer.hpp"

#include <fmt/format.h>
#include <sentencepiece_processor.h>

#include <jina3/errors.hpp>

namespace jina3 {
namespace {

// Jina prepends the instruction by plain string concatenation before tokenising.
std::string prompt_and_text(std::string_view prompt, std::string_view text) {
  std::string input;
  input.reserve(prompt.size() + text.size());
  input.append(prompt);
  input.append(text);
  return input;
}

// The first byte of the code point that ends at text[end - 1] (end > floor), not before floor.
std::size_t previous_code_point(std::string_view text, std::size_t floor, std::size_t end) {
  std::size_t at = end - 1;
  while (at > floor && (static_cast<unsigned char>(text[at]) & 0xc0) == 0x80) --at;
  return at;
}

}  // namespace

std::vector<AddedToken> xlmr_added_tokens(const SpecialIds& special_ids) {
  return {{"<s>", special_ids.bos, false, false},
          {"<pad>", special_ids.pad, false, false},
          {"</s>", special_ids.eos, false, false},
          {"<unk>", special_ids.unk, false, false},
          {"<mask>", special_ids.mask, /*lstrip=*/true, false}};
}

Tokenizer::Tokenizer(const std::string& model_path, const SpecialIds& special_ids, int spm_id_offset, int vocab_size)
    : Tokenizer(model_path, special_ids, spm_id_offset, vocab_size, xlmr_added_tokens(special_ids)) {}

Tokenizer::Tokenizer(const std::string& model_path, const SpecialIds& special_ids, int spm_id_offset, int vocab_size,
                     std::vector<AddedToken> added_tokens)
    : processor_(std::make_unique<sentencepiece::SentencePieceProcessor>()),
      special_ids_(special_ids),
      spm_id_offset_(spm_id_offset),
      added_tokens_(std::move(added_tokens)) {
  for (const AddedToken& token : added_tokens_) {
    if (token.content.empty()) throw InvalidArgument("an added token has empty content");
    if (token.id < 0 || token.id >= vocab_size) {
      throw InvalidArgument(fmt::format("added token {} has id {}, outside the vocabulary [0, {})", token.content,
                                        token.id, vocab_size));
    }
    added_first_byte_[static_cast<unsigned char>(token.content[0])] = true;
  }
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
  const auto known = [&](const std::string& piece) {
    const int id = processor_->PieceToId(piece);
    return id == spm_unk_id_ ? -1 : id;
  };
  const std::string space = "\xe2\x96\x81";  // "▁"
  spm_space_id_ = known(space);
  // A letter whose "▁x" is a piece of the model, for normalized_ends_with_space.
  for (const char* candidate : {"x", "a", "e", "s", "1"}) {
    if (known(space + candidate) >= 0 && known(candidate) >= 0) {
      probe_ = candidate;
      spm_space_probe_id_ = known(space + candidate);
      spm_probe_id_ = known(candidate);
      break;
    }
  }
}

Tokenizer::~Tokenizer() = default;
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;

namespace {

// The few fields of sentencepiece's SentencePieceText that offsets need, read from its
// serialized form: the installed sentencepiece headers do not declare the message class (it lives
// in the protobuf-lite copy that libjina3 keeps hidden), but EncodeAsSerializedProto is public.
// SentencePieceText: 2 = repeated SentencePiece; SentencePiece: 2 = id, 4 = begin, 5 = end.
class WireReader {
 public:
  explicit WireReader(std::string_view bytes) : data_(bytes) {}
  bool done() const { return position_ >= data_.size(); }
  std::uint64_t varint() {
    std::uint64_t value = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (done()) throw Error("sentencepiece returned a truncated SentencePieceText");
      const auto byte = static_cast<unsigned char>(data_[position_++]);
      value |= static_cast<std::uint64_t>(byte & 0x7f) << shift;
      if ((byte & 0x80) == 0) return value;
    }
    throw Error("sentencepiece returned a malformed varint");
  }
  std::string_view bytes(std::size_t count) {
    if (count > data_.size() - position_) throw Error("sentencepiece returned a truncated SentencePieceText");
    const std::string_view out = data_.substr(position_, count);
    position_ += count;
    return out;
  }
  void skip(std::uint64_t wire_type) {
    switch (wire_type) {
      case 0: varint(); return;
      case 1: bytes(8); return;
      case 2: bytes(static_cast<std::size_t>(varint())); return;
      case 5: bytes(4); return;
      default: throw Error("sentencepiece returned an unknown protobuf wire type");
    }
  }

 private:
  std::string_view data_;
  std::size_t position_ = 0;
};

struct Piece {
  int id = 0;
  std::size_t begin = 0;
  std::size_t end = 0;
};

std::vector<Piece> read_pieces(std::string_view serialized) {
  std::vector<Piece> pieces;
  WireReader text(serialized);
  while (!text.done()) {
    const std::uint64_t key = text.varint();
    if ((key >> 3) != 2 || (key & 7) != 2) {
      text.skip(key & 7);
      continue;
    }
    WireReader piece(text.bytes(static_cast<std::size_t>(text.varint())));
    Piece out;
    while (!piece.done()) {
      const std::uint64_t field = piece.varint();
      const std::uint64_t number = field >> 3;
      if ((field & 7) == 0 && (number == 2 || number == 4 || number == 5)) {
        const std::uint64_t value = piece.varint();
        if (number == 2) out.id = static_cast<int>(value);
        else if (number == 4) out.begin = static_cast<std::size_t>(value);
        else out.end = static_cast<std::size_t>(value);
      } else {
        piece.skip(field & 7);
      }
    }
    pieces.push_back(out);
  }
  return pieces;
}

// Length of the whitespace code point at text[at], or 0: Unicode's White_Space characters, the
// ones sentencepiece's normaliser turns into "▁" (ASCII, U+0085, U+00A0, U+1680, U+2000..200A,
// U+2028, U+2029, U+202F, U+205F, U+3000).
std::size_t whitespace_at(std::string_view text, std::size_t at) {
  const auto c = static_cast<unsigned char>(text[at]);
  if (c == ' ' || (c >= '\t' && c <= '\r')) return 1;
  const auto next = [&](std::size_t k) {
    return at + k < text.size() ? static_cast<unsigned char>(text[at + k]) : 0u;
  };
  if (c == 0xc2 && (next(1) == 0x85 || next(1) == 0xa0)) return 2;    // U+0085, U+00A0
  if (c == 0xe1 && next(1) == 0x9a && next(2) == 0x80) return 3;     // U+1680
  if (c == 0xe2 && next(1) == 0x80 && (next(2) <= 0x8a || (next(2) >= 0xa8 && next(2) <= 0xa9) || next(2) == 0xaf)) {
    return 3;                                                        // U+2000..200A, U+2028, U+2029, U+202F
  }
  if (c == 0xe2 && next(1) == 0x81 && next(2) == 0x9f) return 3;     // U+205F
  if (c == 0xe3 && next(1) == 0x80 && next(2) == 0x80) return 3;     // U+3000
  return 0;
}

}  // namespace

namespace {

// Python's str.isspace() characters (what sentence-transformers' strip() removes): Unicode
// White_Space and the separators U+001C..U+001F. Length of the one at text[at], or 0.
std::size_t python_space_at(std::string_view text, std::size_t at) {
  const auto c = static_cast<unsigned char>(text[at]);
  if (c >= 0x1c && c <= 0x1f) return 1;
  return whitespace_at(text, at);
}

// Appends the offsets of a token that covers input[begin, end) (base = the prompt's length), as
// encode() reports them.
void append_offsets(std::string_view input, std::size_t base, std::size_t begin, std::size_t end,
                    std::vector<std::int64_t>& offsets) {
  begin = std::min(begin, input.size());
  end = std::min(std::max(end, begin), input.size());
  // The instruction's own tokens cover prompt bytes and no text byte. An empty piece (a lone
  // "▁" before the text's first character) at the start of the text belongs to the text.
  if (end <= base && begin < base) {
    offsets.insert(offsets.end(), {-1, -1});
    return;
  }
  begin = std::max(begin, base);
  // Trimmed at both ends, as Hugging Face's trim_offsets does.
  while (begin < end) {
    const std::size_t width = whitespace_at(input, begin);
    if (width == 0) break;
    begin = std::min(begin + width, end);
  }
  while (end > begin) {
    const std::size_t last = previous_code_point(input, begin, end);
    if (last + whitespace_at(input, last) != end) break;
    end = last;
  }
  offsets.push_back(static_cast<std::int64_t>(begin - base));
  offsets.push_back(static_cast<std::int64_t>(end - base));
}

// sentencepiece's pieces of input[begin, end), with byte ranges in input when with_offsets.
std::vector<Piece> spm_pieces(const sentencepiece::SentencePieceProcessor& processor, std::string_view input,
                              std::size_t begin, std::size_t end, bool with_offsets) {
  const absl::string_view part(input.data() + begin, end - begin);
  std::vector<Piece> pieces;
  if (with_offsets) {
    const auto serialized = processor.EncodeAsSerializedProto(part);
    pieces = read_pieces(std::string_view(serialized.data(), serialized.size()));
    for (Piece& piece : pieces) {
      piece.begin += begin;
      piece.end += begin;
    }
    return pieces;
  }
  std::vector<int> ids;
  const auto status = processor.Encode(part, &ids);
  if (!status.ok()) throw Error(fmt::format("sentencepiece failed to encode a text: {}", status.ToString()));
  pieces.reserve(ids.size());
  for (int id : ids) pieces.push_back(Piece{id, 0, 0});
  return pieces;
}

}  // namespace

std::vector<std::int32_t> Tokenizer::encode(std::string_view prompt, std::string_view text,
                                            bool split_special_tokens) const {
  return encode_impl(prompt, text, nullptr, split_special_tokens);
}

std::vector<std::int32_t> Tokenizer::encode(std::string_view prompt, std::string_view text,
                                            std::vector<std::int64_t>& offsets, bool split_special_tokens) const {
  return encode_impl(prompt, text, &offsets, split_special_tokens);
}

std::vector<Tokenizer::Split> Tokenizer::split_added(std::string_view input, std::size_t begin,
                                                     std::size_t end) const {
  std::vector<Split> splits;
  std::size_t taken = begin;  // where the previous split ends (find_matches' start_offset)
  std::size_t at = begin;     // where the search goes on: after the previous match's content
  while (at < end) {
    // Leftmost first, and the longest of the tokens that start there (aho-corasick's LeftmostLongest).
    const AddedToken* found = nullptr;
    std::size_t position = at;
    for (; position < end && found == nullptr; ++position) {
      if (!added_first_byte_[static_cast<unsigned char>(input[position])]) continue;
      for (const AddedToken& token : added_tokens_) {
        const std::size_t size = token.content.size();
        if (size <= end - position && input.compare(position, size, token.content) == 0 &&
            (found == nullptr || size > found->content.size())) {
          found = &token;
        }
      }
    }
    if (found == nullptr) break;
    const std::size_t content = position - 1;
    std::size_t start = content;
    std::size_t stop = content + found->content.size();
    at = stop;
    if (found->lstrip) {  // the whitespace before it, but none that an earlier match took
      while (start > taken) {
        const std::size_t last = previous_code_point(input, taken, start);
        const std::size_t width = whitespace_at(input, last);
        if (width == 0 || last + width != start) break;
        start = last;
      }
    }
    if (found->rstrip) {
      while (stop < end) {
        const std::size_t width = whitespace_at(input, stop);
        if (width == 0) break;
        stop = std::min(stop + width, end);
      }
    }
    if (taken < start) splits.push_back(Split{taken, start, 0, nullptr});
    splits.push_back(Split{start, stop, content, found});
    taken = stop;
  }
  if (!splits.empty() && taken < end) splits.push_back(Split{taken, end, 0, nullptr});
  return splits;
}

bool Tokenizer::normalized_ends_with_space(std::string_view segment) const {
  // sentencepiece's normaliser also trims and collapses whitespace, so it cannot say this
  // directly; it can for probe + segment + probe: the last probe follows a space exactly when
  // the normalised segment ends with one (or is only spaces), and then its pieces end with
  // "▁x" (or "▁", "x"). The first probe keeps an only-space segment from being trimmed away.
  if (probe_.empty()) return false;
  std::string probe;
  probe.reserve(segment.size() + 2 * probe_.size());
  probe.append(probe_).append(segment).append(probe_);
  std::vector<int> ids;
  const auto status = processor_->Encode(absl::string_view(probe.data(), probe.size()), &ids);
  if (!status.ok()) throw Error(fmt::format("sentencepiece failed to encode a text: {}", status.ToString()));
  const std::size_t n = ids.size();
  if (n >= 2 && ids[n - 1] == spm_space_probe_id_) return true;
  return n >= 3 && ids[n - 1] == spm_probe_id_ && ids[n - 2] == spm_space_id_;
}

std::vector<std::int32_t> Tokenizer::encode_impl(std::string_view prompt, std::string_view text,
                                                 std::vector<std::int64_t>* offsets,
                                                 bool split_special_tokens) const {
  const std::string input = prompt_and_text(prompt, text);
  const std::size_t base = prompt.size();
  std::vector<Split> splits;
  if (!split_special_tokens && !added_tokens_.empty()) {
    // As sentence-transformers strips the input before the fast tokenizer sees it.
    std::size_t begin = 0, end = input.size();
    while (begin < end) {
      const std::size_t width = python_space_at(input, begin);
      if (width == 0) break;
      begin += width;
    }
    while (end > begin) {
      const std::size_t last = previous_code_point(input, begin, end);
      if (last + python_space_at(input, last) != end) break;
      end = last;
    }
    splits = split_added(input, begin, end);
  }
  if (splits.empty()) {  // the whole input as one text, sentencepiece's whitespace policy
    splits.push_back(Split{0, input.size(), 0, nullptr});
  }
  const bool whole = splits.size() == 1 && splits[0].token == nullptr;

  std::vector<std::int32_t> ids;
  ids.push_back(special_ids_.bos);
  if (offsets != nullptr) {
    offsets->clear();
    offsets->insert(offsets->end(), {-1, -1});
  }
  for (const Split& split : splits) {
    if (split.token != nullptr) {
      ids.push_back(split.token->id);
      if (offsets != nullptr) {
        const std::size_t content_end = split.content + split.token->content.size();
        append_offsets(input, base, split.content, content_end, *offsets);
      }
      continue;
    }
    const std::vector<Piece> pieces = spm_pieces(*processor_, input, split.begin, split.end, offsets != nullptr);
    std::size_t covered = split.begin;
    for (const Piece& piece : pieces) {
      ids.push_back(model_id(piece.id));
      if (offsets != nullptr) append_offsets(input, base, piece.begin, piece.end, *offsets);
      covered = std::max(covered, std::min(piece.end, split.end));
    }
    // The Metaspace pre-tokenizer keeps the space that sentencepiece trims from a piece's end.
    if (!whole && normalized_ends_with_space(std::string_view(input).substr(split.begin, split.end - split.begin))) {
      ids.push_back(model_id(spm_space_id_ >= 0 ? spm_space_id_ : spm_unk_id_));
      if (offsets != nullptr) append_offsets(input, base, covered, split.end, *offsets);
    }
  }
  ids.push_back(special_ids_.eos);
  if (offsets != nullptr) offsets->insert(offsets->end(), {-1, -1});
  return ids;
}

std::string Tokenizer::piece(std::int32_t id) const {
  if (id == special_ids_.bos) return "<s>";
  if (id == special_ids_.pad) return "<pad>";
  if (id == special_ids_.eos) return "</s>";
  if (id == special_ids_.unk) return "<unk>";
  if (id == special_ids_.mask) return "<mask>";
  const int spm_id = id - spm_id_offset_;
  if (spm_id < 0 || spm_id >= processor_->GetPieceSize()) return "";
  return processor_->IdToPiece(spm_id);
}

bool truncate_ids(std::vector<std::int32_t>& ids, std::size_t max_length) {
  if (ids.size() <= max_length) return false;
  const std::int32_t eos = ids.back();
  ids.resize(max_length - 1);
  ids.push_back(eos);
  return true;
}

}  // namespace jina3
