// Output files of `jina3 embed` and `jina3 chunk`; see embedding_output.hpp.
#include "embedding_output.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include <fmt/format.h>

#include "errors.hpp"
#include "json_types.hpp"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the .npy writer stores the host's floats as '<f4'/'<f2' (little-endian)"
#endif

namespace jina3_cli {
namespace {

constexpr std::size_t kWriteBuffer = 1 << 20;

bool ends_with(const std::string& text, const char* suffix) {
  const std::size_t n = std::strlen(suffix);
  return text.size() >= n && text.compare(text.size() - n, n, suffix) == 0;
}

// The temporary file a signal handler must remove: one output file per process at a time. The
// handler may only use async-signal-safe calls, so the path lives in a fixed buffer.
char g_temp_path[4096];
volatile sig_atomic_t g_temp_registered = 0;

extern "C" void remove_temp_and_reraise(int signal_number) {
  if (g_temp_registered) ::unlink(g_temp_path);
  ::signal(signal_number, SIG_DFL);
  ::raise(signal_number);
}

void register_temp(const std::string& path) {
  if (path.size() >= sizeof(g_temp_path)) return;  // mkstemp would have failed first
  std::memcpy(g_temp_path, path.c_str(), path.size() + 1);
  g_temp_registered = 1;
  static const bool installed = [] {
    struct sigaction action {};
    action.sa_handler = remove_temp_and_reraise;
    sigemptyset(&action.sa_mask);
    for (int signal_number : {SIGINT, SIGTERM, SIGHUP}) ::sigaction(signal_number, &action, nullptr);
    return true;
  }();
  (void)installed;
}

void unregister_temp() { g_temp_registered = 0; }

}  // namespace

OutputFormat output_format(const std::string& path) {
  if (path == "-" || ends_with(path, ".jsonl")) return OutputFormat::Jsonl;
  if (ends_with(path, ".npy")) return OutputFormat::Npy;
  throw UsageError(fmt::format("cannot tell the format of output '{}': use a .npy file, a .jsonl file, or - for "
                               "JSONL on standard output", path));
}

OutputFile::OutputFile(const std::string& path) : path_(path) {
  if (path == "-") {
    is_stdout_ = true;
    stream_ = stdout;
    return;
  }
  struct stat info {};
  if (::stat(path.c_str(), &info) == 0 && S_ISDIR(info.st_mode)) {
    throw IoError(fmt::format("cannot write output {}: it is a directory", path));
  }
  // The temporary file sits beside the output so that the final rename stays on one file system.
  const auto slash = path.find_last_of('/');
  const std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
  const std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
  std::string temp = (dir == "/" ? "" : dir) + "/." + base + ".jina3-XXXXXX";
  std::vector<char> name(temp.begin(), temp.end());
  name.push_back('\0');
  const int fd = ::mkstemp(name.data());
  if (fd < 0) throw IoError(fmt::format("cannot write output {}: {} (in {})", path, std::strerror(errno), dir));
  temp_path_ = name.data();
  register_temp(temp_path_);
  // mkstemp makes the file 0600; the output gets the permissions any new file would get.
  const mode_t mask = ::umask(0);
  ::umask(mask);
  ::fchmod(fd, 0666 & ~mask);
  stream_ = ::fdopen(fd, "wb");
  if (!stream_) {
    const int error = errno;
    ::close(fd);
    ::unlink(temp_path_.c_str());
    unregister_temp();
    throw IoError(fmt::format("cannot write output {}: {}", path, std::strerror(error)));
  }
  std::setvbuf(stream_, nullptr, _IOFBF, kWriteBuffer);
}

OutputFile::~OutputFile() {
  if (is_stdout_ || committed_) return;
  if (stream_) std::fclose(stream_);
  ::unlink(temp_path_.c_str());
  unregister_temp();
}

void OutputFile::fail(const char* what) const {
  const int error = errno;
  if (is_stdout_) throw IoError(fmt::format("cannot {} standard output: {}", what, std::strerror(error)));
  throw IoError(fmt::format("cannot {} output {}: {}", what, path_, std::strerror(error)));
}

void OutputFile::write(const void* data, std::size_t size) {
  if (size > 0 && std::fwrite(data, 1, size, stream_) != size) fail("write");
}

void OutputFile::rewind() {
  if (is_stdout_ || std::fseek(stream_, 0, SEEK_SET) != 0) fail("seek in");
}

void OutputFile::commit() {
  if (is_stdout_) {
    if (std::fflush(stdout) != 0) fail("write");
    committed_ = true;
    return;
  }
  std::FILE* stream = stream_;
  stream_ = nullptr;
  if (std::fclose(stream) != 0) fail("write");
  if (::rename(temp_path_.c_str(), path_.c_str()) != 0) fail("rename the temporary file to");
  unregister_temp();
  committed_ = true;
}

namespace {

// NumPy's .npy format 1.0: magic, version, a little-endian uint16 header length, then a Python
// dict literal padded with spaces to a multiple of 64 bytes and ended by '\n'. The header is
// written first with 0 rows and rewritten with the final count, in the same fixed size: 128
// bytes hold any 64-bit row count.
constexpr std::size_t kNpyHeaderBytes = 128;

std::string npy_header(const char* descr, std::uint64_t rows, std::size_t columns) {
  std::string dict =
      fmt::format("{{'descr': '{}', 'fortran_order': False, 'shape': ({}, {}), }}", descr, rows, columns);
  const std::size_t dict_bytes = kNpyHeaderBytes - 10;
  dict.resize(dict_bytes - 1, ' ');
  dict += '\n';
  std::string header("\x93NUMPY\x01\x00", 8);
  header += static_cast<char>(dict_bytes & 0xFF);
  header += static_cast<char>(dict_bytes >> 8);
  header += dict;
  return header;
}

// NumPy's dtype of each precision's bytes: the float types little-endian, the packed bits one
// byte per 8 dims (numpy.packbits), signed for binary as sentence-transformers gives it.
const char* npy_descr(jina3::Precision precision) {
  switch (precision) {
    case jina3::Precision::Float32: return "<f4";
    case jina3::Precision::Float16: return "<f2";
    case jina3::Precision::Int8:
    case jina3::Precision::Binary: return "|i1";
    case jina3::Precision::UInt8:
    case jina3::Precision::UBinary: return "|u1";
  }
  return "|u1";
}

std::size_t npy_columns(const RowLayout& layout) {
  const auto p = layout.precision;
  return p == jina3::Precision::Binary || p == jina3::Precision::UBinary ? layout.dims / 8 : layout.dims;
}

class NpyWriter final : public EmbeddingWriter {
 public:
  NpyWriter(OutputFile& file, const RowLayout& layout) : file_(file), layout_(layout) { write_header(0); }

  void write(const std::uint8_t* rows, std::size_t count, std::uint64_t, const std::optional<RowJson>*) override {
    file_.write(rows, count * layout_.bytes());
  }

  void finish(std::uint64_t rows) override {
    file_.rewind();
    write_header(rows);
  }

 private:
  void write_header(std::uint64_t rows) {
    const std::string header = npy_header(npy_descr(layout_.precision), rows, npy_columns(layout_));
    file_.write(header.data(), header.size());
  }

  OutputFile& file_;
  RowLayout layout_;
};

// One object per text: {"index": N, "id": ... (when the input line had one), "embedding": ...}.
class JsonlWriter final : public EmbeddingWriter {
 public:
  JsonlWriter(OutputFile& file, const RowLayout& layout) : file_(file), layout_(layout) {}

  void write(const std::uint8_t* rows, std::size_t count, std::uint64_t first_index,
             const std::optional<RowJson>* ids) override {
    std::string out;
    for (std::size_t i = 0; i < count; ++i) {
      RowJson row = RowJson::object();
      row["index"] = first_index + i;
      if (ids && ids[i]) row["id"] = *ids[i];
      row["embedding"] = row_json(rows + i * layout_.bytes(), layout_);
      out += row.dump();
      out += '\n';
    }
    file_.write(out.data(), out.size());
  }

  void finish(std::uint64_t) override {}

 private:
  OutputFile& file_;
  RowLayout layout_;
};

// IEEE 754 half (binary16) bits to float; exact.
float half_to_float(std::uint16_t bits) {
  const std::uint32_t sign = static_cast<std::uint32_t>(bits & 0x8000u) << 16;
  const std::uint32_t exponent = (bits >> 10) & 0x1Fu;
  std::uint32_t mantissa = bits & 0x3FFu;
  std::uint32_t out = 0;
  if (exponent == 0x1F) {
    out = sign | 0x7F800000u | (mantissa << 13);  // inf, NaN
  } else if (exponent != 0) {
    out = sign | ((exponent + 112) << 23) | (mantissa << 13);
  } else if (mantissa != 0) {  // subnormal: normalise
    std::uint32_t e = 113;
    while ((mantissa & 0x400u) == 0) {
      mantissa <<= 1;
      --e;
    }
    out = sign | (e << 23) | ((mantissa & 0x3FFu) << 13);
  } else {
    out = sign;
  }
  float value;
  std::memcpy(&value, &out, sizeof value);
  return value;
}

std::string base64(const std::uint8_t* data, std::size_t size) {
  static constexpr char kDigits[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((size + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 3 <= size; i += 3) {
    const std::uint32_t v = (std::uint32_t{data[i]} << 16) | (std::uint32_t{data[i + 1]} << 8) | data[i + 2];
    for (int shift : {18, 12, 6, 0}) out += kDigits[(v >> shift) & 0x3F];
  }
  if (i < size) {
    const bool two = i + 1 < size;
    const std::uint32_t v = (std::uint32_t{data[i]} << 16) | (two ? std::uint32_t{data[i + 1]} << 8 : 0u);
    out += kDigits[(v >> 18) & 0x3F];
    out += kDigits[(v >> 12) & 0x3F];
    out += two ? kDigits[(v >> 6) & 0x3F] : '=';
    out += '=';
  }
  return out;
}

}  // namespace

JsonEncoding json_encoding(const std::string& name) {
  if (name == "numbers") return JsonEncoding::Numbers;
  if (name == "base64") return JsonEncoding::Base64;
  throw UsageError(fmt::format("--encoding {}: use numbers or base64", name));
}

RowJson row_json(const std::uint8_t* row, const RowLayout& layout) {
  if (layout.encoding == JsonEncoding::Base64) return base64(row, layout.bytes());
  RowJson::array_t values;
  const std::size_t n = layout.bytes();
  switch (layout.precision) {
    case jina3::Precision::Float32:
      values.reserve(layout.dims);
      for (std::size_t d = 0; d < layout.dims; ++d) {
        float value;
        std::memcpy(&value, row + 4 * d, sizeof value);
        values.emplace_back(value);
      }
      break;
    case jina3::Precision::Float16:
      values.reserve(layout.dims);
      for (std::size_t d = 0; d < layout.dims; ++d) {
        std::uint16_t bits;
        std::memcpy(&bits, row + 2 * d, sizeof bits);
        values.emplace_back(half_to_float(bits));
      }
      break;
    case jina3::Precision::Int8:
    case jina3::Precision::Binary:
      values.reserve(n);
      for (std::size_t i = 0; i < n; ++i) values.emplace_back(static_cast<std::int64_t>(static_cast<std::int8_t>(row[i])));
      break;
    case jina3::Precision::UInt8:
    case jina3::Precision::UBinary:
      values.reserve(n);
      for (std::size_t i = 0; i < n; ++i) values.emplace_back(static_cast<std::uint64_t>(row[i]));
      break;
  }
  return values;
}

std::unique_ptr<EmbeddingWriter> make_writer(OutputFormat format, OutputFile& file, const RowLayout& layout) {
  if (format == OutputFormat::Npy) return std::make_unique<NpyWriter>(file, layout);
  return std::make_unique<JsonlWriter>(file, layout);
}

void write_npy_f32(const std::string& path, const float* values, std::size_t rows, std::size_t columns) {
  OutputFile file(path);
  const std::string header = npy_header("<f4", rows, columns);
  file.write(header.data(), header.size());
  file.write(values, rows * columns * sizeof(float));
  file.commit();
}

jina3::Ranges read_ranges_npy(const std::string& path) {
  const auto bad = [&](const std::string& why) {
    return IoError(fmt::format("--ranges {}: {} (expected a .npy file of shape (2, dims), float32, as "
                               "jina3.calibration_ranges or --save-ranges writes it)", path, why));
  };
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (!file) throw IoError(fmt::format("cannot open --ranges {}: {}", path, std::strerror(errno)));
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> closer(file, std::fclose);
  unsigned char prefix[10];
  if (std::fread(prefix, 1, 10, file) != 10 || std::memcmp(prefix, "\x93NUMPY", 6) != 0) throw bad("not a .npy file");
  std::size_t header_bytes = prefix[8] | (std::size_t{prefix[9]} << 8);
  if (prefix[6] >= 2) {  // versions 2 and 3: a 4-byte header length
    unsigned char more[2];
    if (std::fread(more, 1, 2, file) != 2) throw bad("truncated header");
    header_bytes |= (std::size_t{more[0]} << 16) | (std::size_t{more[1]} << 24);
  }
  if (header_bytes > (1u << 20)) throw bad("header too large");
  std::string header(header_bytes, '\0');
  if (std::fread(header.data(), 1, header_bytes, file) != header_bytes) throw bad("truncated header");
  const bool f4 = header.find("'descr': '<f4'") != std::string::npos;
  const bool f8 = header.find("'descr': '<f8'") != std::string::npos;
  if (!f4 && !f8) throw bad("dtype is not float32 or float64");
  if (header.find("'fortran_order': False") == std::string::npos) throw bad("Fortran order");
  const auto shape_at = header.find("'shape': (");
  unsigned long long first = 0, second = 0;
  if (shape_at == std::string::npos ||
      std::sscanf(header.c_str() + shape_at + 10, "%llu, %llu)", &first, &second) != 2) {
    throw bad("shape is not two-dimensional");
  }
  if (first != 2 || second == 0 || second > (1u << 20)) throw bad(fmt::format("shape is ({}, {})", first, second));
  const std::size_t count = 2 * static_cast<std::size_t>(second);
  std::vector<float> values(count);
  if (f4) {
    if (std::fread(values.data(), sizeof(float), count, file) != count) throw bad("fewer values than its shape");
  } else {
    std::vector<double> wide(count);
    if (std::fread(wide.data(), sizeof(double), count, file) != count) throw bad("fewer values than its shape");
    for (std::size_t i = 0; i < count; ++i) values[i] = static_cast<float>(wide[i]);
  }
  jina3::Ranges ranges;
  ranges.min.assign(values.begin(), values.begin() + second);
  ranges.max.assign(values.begin() + second, values.end());
  return ranges;
}

}  // namespace jina3_cli
