// sentencepiece tokenisation with the XLM-R id layout.
//
// Whitespace policy: jina3 follows sentencepiece semantics. The XLM-R normaliser trims leading and
// trailing whitespace and collapses inner runs, so "end\n" and "end" give the same ids, and a text
// of only whitespace gives just <s></s>. Hugging Face's fast tokenizer (what Jina's encode() uses)
// keeps a final "▁" in those cases; sentence-transformers strips every input first, which makes it
// agree with sentencepiece. We match that path; literal special-token text such as "<mask>" is
// ordinary text here (no special-token matching), as in plain sentencepiece.
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

}  // namespace

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
  const std::string input = prompt_and_text(prompt, text);

  std::vector<int> spm_ids;
  const auto status = processor_->Encode(absl::string_view(input.data(), input.size()), &spm_ids);
  if (!status.ok()) throw Error(fmt::format("sentencepiece failed to encode a text: {}", status.ToString()));

  std::vector<std::int32_t> ids;
  ids.reserve(spm_ids.size() + 2);
  ids.push_back(special_ids_.bos);
  for (int spm_id : spm_ids) ids.push_back(model_id(spm_id));
  ids.push_back(special_ids_.eos);
  return ids;
}

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

std::vector<std::int32_t> Tokenizer::encode(std::string_view prompt, std::string_view text,
                                            std::vector<std::int64_t>& offsets) const {
  const std::string input = prompt_and_text(prompt, text);
  const auto serialized = processor_->EncodeAsSerializedProto(absl::string_view(input.data(), input.size()));
  const std::vector<Piece> pieces = read_pieces(std::string_view(serialized.data(), serialized.size()));

  std::vector<std::int32_t> ids;
  ids.reserve(pieces.size() + 2);
  offsets.clear();
  offsets.reserve(2 * (pieces.size() + 2));
  ids.push_back(special_ids_.bos);
  offsets.insert(offsets.end(), {-1, -1});
  const std::size_t base = prompt.size();
  for (const Piece& piece : pieces) {
    ids.push_back(model_id(piece.id));
    std::size_t begin = std::min(piece.begin, input.size());
    std::size_t end = std::min(std::max(piece.end, begin), input.size());
    // The instruction's own tokens cover prompt bytes and no text byte. An empty piece (a lone
    // "▁" before the text's first character) at the start of the text belongs to the text.
    if (end <= base && begin < base) {
      offsets.insert(offsets.end(), {-1, -1});
      continue;
    }
    begin = std::max(begin, base);
    // Trimmed at both ends, as Hugging Face's trim_offsets does.
    while (begin < end) {
      const std::size_t width = whitespace_at(input, begin);
      if (width == 0) break;
      begin = std::min(begin + width, end);
    }
    while (end > begin) {
      std::size_t last = end - 1;  // the first byte of the last code point
      while (last > begin && (static_cast<unsigned char>(input[last]) & 0xc0) == 0x80) --last;
      if (last + whitespace_at(input, last) != end) break;
      end = last;
    }
    offsets.push_back(static_cast<std::int64_t>(begin - base));
    offsets.push_back(static_cast<std::int64_t>(end - base));
  }
  ids.push_back(special_ids_.eos);
  offsets.insert(offsets.end(), {-1, -1});
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
