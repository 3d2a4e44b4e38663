// The option structs of the C ABI: their defaults and their reading into the C++ options. The
// encoder and encode options are converted field by field from the option tables
// (jina3/options.hpp), so a field added there must also be added to jina3.h's struct, or this
// file does not build. The published layouts pin which bytes of an older caller's struct are read.
#include <algorithm>
#include <cstddef>
#include <cstring>
#include <string>
#include <type_traits>

#include "boundary.hpp"

namespace jina3::capi {
namespace {

// The layouts published before the current ones, as the headers of their time declared them:
// their sizes are the struct_size values older programs pass.
struct EncoderOptionsV2 {
  std::size_t struct_size;
  jina3_device device;
  int device_index;
  jina3_dtype dtype;
  int num_threads;
  int max_batch_tokens;
  int max_batch_size;
  bool verify_checksums;
  bool retain_host_memory;
};
static_assert(offsetof(EncoderOptionsV2, retain_host_memory) == offsetof(jina3_encoder_options, retain_host_memory));
struct EncodeOptionsV1 {
  std::size_t struct_size;
  int max_length;
  int batch_size;
  bool normalize;
  bool truncate;
};
static_assert(offsetof(EncodeOptionsV1, truncate) == offsetof(jina3_encode_options, truncate));
struct EncodeOptionsV2 {
  EncodeOptionsV1 v1;
  std::int64_t deadline_us;
  bool block_when_full;
};
static_assert(offsetof(EncodeOptionsV2, deadline_us) == offsetof(jina3_encode_options, deadline_us));
static_assert(offsetof(EncodeOptionsV2, block_when_full) == offsetof(jina3_encode_options, block_when_full));

// One published layout: its sizeof() and where its fields end. Its tail padding may hold fields
// appended since (max_wait_us lies in the padding of the first encoder options, priority in that
// of the serving-era encode options), bytes that a caller built with that header never set: those
// fields keep their defaults.
struct Published {
  std::size_t size;
  std::size_t fields_end;
};

// What read_options needs to know of a struct's published layouts.
struct Layouts {
  // The first published layout: the smallest struct_size a caller may pass. Appending a field
  // grows sizeof() but never this.
  std::size_t minimum_size;
  // The earlier layouts, smallest first (at most 3; unused entries are {0, 0}).
  Published earlier[3];
};
constexpr Layouts kEncoderOptionsLayouts{
    offsetof(jina3_encoder_options, retain_host_memory),
    {{sizeof(EncoderOptionsV2), offsetof(jina3_encoder_options, max_wait_us)},
     {offsetof(jina3_encoder_options, bulk_share), offsetof(jina3_encoder_options, bulk_share)}}};
constexpr Layouts kEncodeOptionsLayouts{
    sizeof(EncodeOptionsV1),
    {{sizeof(EncodeOptionsV1), offsetof(jina3_encode_options, deadline_us)},
     {sizeof(EncodeOptionsV2), offsetof(jina3_encode_options, priority)}}};
constexpr Layouts kLateChunkOptionsLayouts{sizeof(jina3_late_chunk_options), {}};

// One option field between a C struct and its C++ twin. C enums go through raw() (see there);
// every other field has the same type on both sides.
template <class C, class Cpp>
void from_c(const C& c, Cpp& cpp) noexcept {
  if constexpr (std::is_enum_v<C>) {
    static_assert(std::is_enum_v<Cpp>, "a C enum field has a C++ enum twin");
    cpp = static_cast<Cpp>(raw(c));
  } else {
    static_assert(std::is_same_v<C, Cpp>, "a C option field has the type of its C++ twin");
    cpp = c;
  }
}
template <class Cpp, class C>
void to_c(const Cpp& cpp, C& c) noexcept {
  if constexpr (std::is_enum_v<C>) {
    static_assert(std::is_enum_v<Cpp>, "a C enum field has a C++ enum twin");
    c = static_cast<C>(cpp);
  } else {
    static_assert(std::is_same_v<C, Cpp>, "a C option field has the type of its C++ twin");
    c = cpp;
  }
}

// A zeroed struct (padding too: the defaults are copied out as bytes).
template <class C>
C zeroed() noexcept {
  C c;
  std::memset(static_cast<void*>(&c), 0, sizeof c);
  return c;
}

// Calls f(c.name, cpp.name) for every row of the option table of C (const or not).
template <class C, class Cpp, class F>
void for_each_field(C& c, Cpp& cpp, F f) {
#define JINA3_X(type, name, ...) f(c.name, cpp.name);
  if constexpr (std::is_same_v<std::remove_const_t<C>, jina3_encoder_options>) {
    JINA3_ENCODER_OPTION_FIELDS(JINA3_X)
  } else {
    static_assert(std::is_same_v<std::remove_const_t<C>, jina3_encode_options>, "an option struct with a table");
    JINA3_ENCODE_OPTION_FIELDS(JINA3_X)
  }
#undef JINA3_X
}

template <class Cpp, class C>
Cpp cpp_options(const C& c) noexcept {
  Cpp cpp;
  for_each_field(c, cpp, [](const auto& c_field, auto& cpp_field) { from_c(c_field, cpp_field); });
  return cpp;
}

template <class C, class Cpp>
C c_options(const Cpp& cpp) noexcept {
  C c = zeroed<C>();
  for_each_field(c, cpp, [](auto& c_field, const auto& cpp_field) { to_c(cpp_field, c_field); });
  return c;
}

// LateChunkOptions has no table: its optional counts are "0 = not set" in C.
jina3_late_chunk_options late_chunk_c_options(const LateChunkOptions& cpp) noexcept {
  jina3_late_chunk_options c = zeroed<jina3_late_chunk_options>();
  c.chunk_tokens = cpp.chunk_tokens.value_or(0);
  c.sentences = cpp.sentences.value_or(0);
  c.window = cpp.window.value_or(0);
  c.overlap = cpp.overlap.value_or(-1);
  c.normalize = cpp.normalize;
  c.include_special_tokens = cpp.include_special_tokens;
  return c;
}

// The bytes of c that fit in the caller's struct_size, with struct_size set.
template <class C>
void write_defaults(C* options, std::size_t struct_size, C c) noexcept {
  if (options == nullptr || struct_size < sizeof(options->struct_size)) return;
  c.struct_size = struct_size;
  std::memcpy(static_cast<void*>(options), &c, std::min(struct_size, sizeof c));
}

// Reads a caller's options struct of any published size: the caller's bytes over our defaults,
// so fields appended after the caller's header keep their defaults.
template <class C>
C read_options(const C* given, const Layouts& layouts, const char* function, const char* type_name,
               void (*defaults)(C*, std::size_t)) {
  C options;
  defaults(&options, sizeof options);
  if (given == nullptr) return options;
  if (given->struct_size < layouts.minimum_size) {
    invalid(function, std::string("options->struct_size is ") + std::to_string(given->struct_size) + ", expected sizeof(" +
                          type_name + ") = " + std::to_string(sizeof(C)) + "; fill the options with " +
                          "the matching *_default_options(&options, sizeof options)");
  }
  if (given->struct_size > sizeof(C)) {
    throw VersionMismatch(std::string(function) + ": options->struct_size is " + std::to_string(given->struct_size) +
                          " but this libjina3 " + version() + " knows " + type_name + " of " +
                          std::to_string(sizeof(C)) + " bytes: the program was built with a newer " +
                          "jina3.h than the library it runs with");
  }
  std::size_t bytes = given->struct_size;
  for (const Published& layout : layouts.earlier) {
    if (bytes <= layout.size) {
      bytes = std::min(bytes, layout.fields_end);
      break;
    }
  }
  std::memcpy(static_cast<void*>(&options), given, bytes);
  return options;
}

}  // namespace

EncoderOptions read_encoder_options(const jina3_encoder_options* given, const char* function) {
  return cpp_options<EncoderOptions>(read_options(given, kEncoderOptionsLayouts, function, "jina3_encoder_options",
                                                 jina3_encoder_default_options));
}

EncodeOptions read_encode_options(const jina3_encode_options* given, const char* function) {
  return cpp_options<EncodeOptions>(
      read_options(given, kEncodeOptionsLayouts, function, "jina3_encode_options", jina3_encode_default_options));
}

LateChunkOptions read_late_chunk_options(const jina3_late_chunk_options* given, const char* function) {
  const jina3_late_chunk_options c = read_options(given, kLateChunkOptionsLayouts, function,
                                                  "jina3_late_chunk_options", jina3_late_chunk_default_options);
  // 0 means "not set" in C; a negative count is passed on so the C++ check names it.
  LateChunkOptions cpp;
  if (c.chunk_tokens != 0) cpp.chunk_tokens = c.chunk_tokens;
  if (c.sentences != 0) cpp.sentences = c.sentences;
  if (c.window != 0) cpp.window = c.window;
  if (c.overlap >= 0) cpp.overlap = c.overlap;
  cpp.normalize = c.normalize;
  cpp.include_special_tokens = c.include_special_tokens;
  return cpp;
}

}  // namespace jina3::capi

extern "C" {

void jina3_encoder_default_options(jina3_encoder_options* options, size_t struct_size) {
  jina3::capi::write_defaults(options, struct_size,
                              jina3::capi::c_options<jina3_encoder_options>(jina3::EncoderOptions{}));
}

void jina3_encode_default_options(jina3_encode_options* options, size_t struct_size) {
  jina3::capi::write_defaults(options, struct_size,
                              jina3::capi::c_options<jina3_encode_options>(jina3::EncodeOptions{}));
}

void jina3_late_chunk_default_options(jina3_late_chunk_options* options, size_t struct_size) {
  jina3::capi::write_defaults(options, struct_size, jina3::capi::late_chunk_c_options(jina3::LateChunkOptions{}));
}

}  // extern "C"
