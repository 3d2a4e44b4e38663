// The prepare stage (see prepare.hpp): the only place that checks a caller's input.
#include "pipeline/prepare.hpp"

#include <algorithm>
#include <cstdint>

#include <ATen/Parallel.h>
#include <fmt/format.h>

#include <jina3/errors.hpp>

#include "model/model.hpp"
#include "pipeline/precision.hpp"
#include "util/utf8.hpp"

namespace jina3::pipeline {
namespace {

// Each text is checked before anything is tokenised; index names it in the message.
void check_utf8(std::string_view text, std::size_t index) {
  if (auto problem = utf8::check(text)) {
    throw InvalidArgument(fmt::format("text {} is not valid UTF-8: {} at byte offset {}", index, problem->reason,
                                      problem->offset));
  }
}

[[noreturn]] void throw_too_long(std::size_t index, std::size_t length, std::size_t max_length) {
  throw InputTooLong(fmt::format("text {} is {} tokens long (task prompt, <s> and </s> included), over the "
                                 "limit of {}; shorten it or allow truncation", index, length, max_length));
}

// Runs tokenise(k) for k in [0, count). Tokenising thousands of texts would keep a GPU waiting;
// sentencepiece's Encode is const and thread-safe, so a large call's texts are split over
// LibTorch's intra-op threads. A short call (the usual one when many callers share the encoder)
// stays on its own thread.
template <class Tokenise>
void tokenise_all(std::size_t count, const Tokenise& tokenise) {
  constexpr std::int64_t kTextsPerTask = 16;
  at::parallel_for(0, static_cast<std::int64_t>(count), kTextsPerTask, [&](std::int64_t begin, std::int64_t end) {
    for (auto k = static_cast<std::size_t>(begin); k < static_cast<std::size_t>(end); ++k) tokenise(k);
  });
}

// The effective token limit of the per-call options.
std::size_t check_call_options(const Model& model, const EncodeOptions& options) {
  if (options.batch_size < 0) throw InvalidArgument(fmt::format("batch_size {} is negative", options.batch_size));
  if (options.deadline_us < 0) throw InvalidArgument(fmt::format("deadline_us {} is negative", options.deadline_us));
  const int priority = static_cast<int>(options.priority);
  if (priority < 0 || priority >= kPriorityCount) {
    throw InvalidArgument(fmt::format("unknown priority value {}; use interactive (0) or bulk (1)", priority));
  }
  const int package_max = model.manifest().max_length;
  if (options.max_length == 0) return static_cast<std::size_t>(package_max);
  if (options.max_length < 2 || options.max_length > package_max) {
    throw InvalidArgument(fmt::format("max_length {} is out of range: use 0 (the package's {}) or a value in [2, {}] "
                                      "(<s> and </s> take two tokens)", options.max_length, package_max, package_max));
  }
  return static_cast<std::size_t>(options.max_length);
}

void check_tasks(const Model& model, const Request& request) {
  if (request.output != Output::Pooled && request.task_count != 1) {
    throw InvalidArgument(fmt::format("{} tasks given: this output takes one task for every text", request.task_count));
  }
  if ((request.task_count != 1 || request.task_per_text) && request.task_count != request.count) {
    throw InvalidArgument(fmt::format("{} tasks for {} texts: give one task, or one per text", request.task_count,
                                      request.count));
  }
  if (request.task_count > 0 && request.tasks == nullptr) throw InvalidArgument("tasks is null");
  for (std::size_t i = 0; i < request.task_count; ++i) model.check_task(request.tasks[i]);
}

// The late-chunk options: at most one way of choosing chunks, each value in range, one span
// list per text, and the macro window.
void check_chunking(const Model& model, const Request& request, Checked& checked) {
  const LateChunkOptions& options = *request.chunking;
  const int ways = (options.spans ? 1 : 0) + (options.chunk_tokens ? 1 : 0) + (options.sentences ? 1 : 0);
  if (ways > 1) throw InvalidArgument("give at most one of spans, chunk_tokens and sentences");
  if (options.chunk_tokens && *options.chunk_tokens < 1) {
    throw InvalidArgument(fmt::format("chunk_tokens {} is < 1", *options.chunk_tokens));
  }
  if (options.sentences && *options.sentences < 1) {
    throw InvalidArgument(fmt::format("sentences {} is < 1", *options.sentences));
  }
  if (options.spans && options.spans->size() != request.count) {
    throw InvalidArgument(fmt::format("spans has {} lists for {} texts: give one list of spans per text",
                                      options.spans->size(), request.count));
  }
  const int package_max = model.manifest().max_length;
  const int window = options.window.value_or(package_max);
  if (window < 2 || window > package_max) {
    throw InvalidArgument(fmt::format("window {} is out of range: use a value in [2, {}] (the package's "
                                      "max_length)", window, package_max));
  }
  const int overlap = options.overlap.value_or(window >= 1024 ? 512 : window / 2);
  if (overlap < 0 || overlap >= window) {
    throw InvalidArgument(fmt::format("overlap {} must be in [0, window) = [0, {})", overlap, window));
  }
  checked.window = static_cast<std::size_t>(window);
  checked.overlap = static_cast<std::size_t>(overlap);
}

}  // namespace

void check_encoder_options(const EncoderOptions& options) {
  if (options.device != Device::CPU && options.device != Device::CUDA) {
    throw InvalidArgument(fmt::format("unknown device value {}", static_cast<int>(options.device)));
  }
  const int dtype = static_cast<int>(options.dtype);
  if (dtype < static_cast<int>(DType::Auto) || dtype > static_cast<int>(DType::Int8)) {
    throw InvalidArgument(fmt::format("unknown dtype value {}", dtype));
  }
  const auto non_negative = [](auto value, const char* name) {
    if (value < 0) throw InvalidArgument(fmt::format("{} {} is negative", name, value));
  };
  non_negative(options.num_threads, "num_threads");
  non_negative(options.max_batch_tokens, "max_batch_tokens");
  non_negative(options.max_batch_size, "max_batch_size");
  non_negative(options.max_wait_us, "max_wait_us");
  non_negative(options.max_queued_requests, "max_queued_requests");
  non_negative(options.bulk_pass_tokens, "bulk_pass_tokens");
  if (!(options.bulk_share >= 0.0 && options.bulk_share <= 1.0)) {
    throw InvalidArgument(fmt::format("bulk_share {} is out of range: use a value in [0, 1]", options.bulk_share));
  }
}

std::size_t output_dims(const Model& model, int dims) {
  const auto& valid = model.manifest().matryoshka_dims;
  if (dims == 0) return static_cast<std::size_t>(model.manifest().hidden_size);
  if (std::find(valid.begin(), valid.end(), dims) == valid.end()) {
    throw InvalidArgument(fmt::format("dims {} is not supported by this model; use 0 (full size) or one of {}", dims,
                                      fmt::join(valid, ", ")));
  }
  return static_cast<std::size_t>(dims);
}

Checked check(const Model& model, const Request& request, bool texts) {
  Checked checked;
  if (request.output != Output::Tokens) checked.dims = output_dims(model, request.dims);
  if (request.ids != nullptr && request.output != Output::Pooled) {
    throw InvalidArgument("texts given as token ids give pooled rows only: give the texts as strings for token "
                          "embeddings or late chunking");
  }
  if (texts && request.count > 0 && request.texts == nullptr && request.ids == nullptr) {
    throw InvalidArgument("texts is null but count is not zero");
  }
  check_tasks(model, request);
  checked.max_length = check_call_options(model, request.options);
  if (request.output == Output::Pooled && request.precision != Precision::Float32) {
    check_precision(request.precision, checked.dims, request.ranges);
  }
  if (request.output == Output::Chunks) {
    if (request.chunking == nullptr) throw InvalidArgument("late chunking needs its options");
    check_chunking(model, request, checked);
  }
  return checked;
}

namespace {

// What the string path puts between a task's prompt and a text that starts with an added token
// that does not lstrip (<s>, </s>, <pad>, <unk>): the fast tokenizer splits "<prompt><s>..." at
// the token, and the prompt's trailing space becomes a token of its own ("\u2581"), which a text
// alone does not have. Empty for no prompt, any other first id, or an lstrip token (<mask>
// swallows the space). Found by tokenising the prompt followed by the token's text.
std::vector<std::int32_t> ids_before_added_token(const Model& model, Task task, std::int32_t first) {
  const std::string& prompt = model.prompt_for(task);
  if (prompt.empty()) return {};
  for (const AddedToken& token : model.tokenizer().added_tokens()) {
    if (token.id != first || token.lstrip) continue;
    const std::vector<std::int32_t> probe = model.tokenizer().encode(prompt, token.content);
    const std::vector<std::int32_t>& prompt_ids = model.prompt_ids_for(task);
    // probe: <s> prompt ids, what lies between, the token, </s>
    if (probe.size() < prompt_ids.size() + 3 ||
        !std::equal(prompt_ids.begin(), prompt_ids.end(), probe.begin() + 1) || probe[probe.size() - 2] != first) {
      return {};
    }
    return std::vector<std::int32_t>(probe.begin() + 1 + static_cast<std::ptrdiff_t>(prompt_ids.size()),
                                     probe.end() - 2);
  }
  return {};
}

// Texts given as token ids: each id checked against the vocabulary, then <s> prompt ids </s>
// (with what the string path puts between the prompt and a leading added token).
void rows_from_ids(const Model& model, const Request& request, const std::vector<std::size_t>& rows,
                   Prepared& prepared) {
  const auto vocab = static_cast<std::int64_t>(model.manifest().vocab_size);
  const auto& specials = model.manifest().special_ids;
  for (std::size_t k = 0; k < rows.size(); ++k) {
    const TokenIds& given = request.ids[rows[k]];
    if (given.size > 0 && given.data == nullptr) {
      throw InvalidArgument(fmt::format("text {}: its token ids are null but its length is {}", rows[k], given.size));
    }
    for (std::size_t j = 0; j < given.size; ++j) {
      if (given.data[j] < 0 || given.data[j] >= vocab) {
        throw InvalidArgument(fmt::format("text {}: token id {} at position {} is outside the vocabulary [0, {})",
                                          rows[k], given.data[j], j, vocab));
      }
    }
    const Task task = request.task_of(rows[k]);
    const std::vector<std::int32_t>& prompt = model.prompt_ids_for(task);
    const std::vector<std::int32_t> between =
        given.size > 0 ? ids_before_added_token(model, task, given.data[0]) : std::vector<std::int32_t>();
    std::vector<std::int32_t>& ids = prepared.ids[k];
    ids.reserve(given.size + prompt.size() + between.size() + 2);
    ids.push_back(specials.bos);
    ids.insert(ids.end(), prompt.begin(), prompt.end());
    ids.insert(ids.end(), between.begin(), between.end());
    ids.insert(ids.end(), given.data, given.data + given.size);
    ids.push_back(specials.eos);
  }
}

}  // namespace

Prepared tokenize(const Model& model, const Request& request, const Checked& checked,
                  const std::vector<std::size_t>& rows, bool offsets) {
  if (request.ids == nullptr) {
    for (std::size_t i : rows) check_utf8(request.texts[i], i);
  }
  const std::size_t count = rows.size();
  Prepared prepared;
  prepared.ids.resize(count);
  prepared.adapters.resize(count);
  prepared.truncated.assign(count, 0);
  if (offsets) prepared.offsets.resize(count);
  for (std::size_t k = 0; k < count; ++k) prepared.adapters[k] = model.adapter_for(request.task_of(rows[k]));
  const Tokenizer& tokenizer = model.tokenizer();
  if (request.ids != nullptr) rows_from_ids(model, request, rows, prepared);
  else tokenise_all(count, [&](std::size_t k) {
    const std::string& prompt = model.prompt_for(request.task_of(rows[k]));
    const std::string_view text = request.texts[rows[k]];
    const bool plain = request.options.split_special_tokens;
    prepared.ids[k] = offsets ? tokenizer.encode(prompt, text, prepared.offsets[k], plain)
                              : tokenizer.encode(prompt, text, plain);
  });
  if (request.output == Output::Chunks) return prepared;  // whole texts: long ones run as macro windows
  // In input order, so the first over-long text is the one reported.
  const std::size_t max_length = checked.max_length;
  for (std::size_t k = 0; k < count; ++k) {
    const std::size_t length = prepared.ids[k].size();
    if (length > max_length && !request.options.truncate) throw_too_long(rows[k], length, max_length);
    prepared.truncated[k] = truncate_ids(prepared.ids[k], max_length) ? 1 : 0;
    if (prepared.truncated[k] && offsets) {  // as truncate_ids: the first max_length - 1 tokens and </s>
      prepared.offsets[k].resize(2 * (max_length - 1));
      prepared.offsets[k].insert(prepared.offsets[k].end(), {-1, -1});
    }
  }
  return prepared;
}

std::string cache_key(const Request& request, const Checked& checked, std::size_t i) {
  // A text given as token ids is keyed by its ids' bytes, marked apart from any string.
  const std::string_view text =
      request.ids != nullptr
          ? std::string_view(reinterpret_cast<const char*>(request.ids[i].data), request.ids[i].size * sizeof(std::int32_t))
          : request.texts[i];
  std::string key;
  key.reserve(32 + text.size());
  const auto put = [&key](std::uint64_t value) {
    for (int shift = 0; shift < 64; shift += 8) key.push_back(static_cast<char>((value >> shift) & 0xff));
  };
  put(static_cast<std::uint64_t>(static_cast<int>(request.task_of(i)) + 1));
  put(checked.dims);
  EncodeOptions keyed = request.options;
  keyed.max_length = static_cast<int>(checked.max_length);  // 0 and the package's limit are one key
#define JINA3_X(type, name, value, changes_vector, flag, doc) \
  if (changes_vector) put(static_cast<std::uint64_t>(keyed.name));
  JINA3_ENCODE_OPTION_FIELDS(JINA3_X)
#undef JINA3_X
  key.push_back(request.ids != nullptr ? 'i' : 't');
  key.append(text);
  return key;
}

}  // namespace jina3::pipeline
