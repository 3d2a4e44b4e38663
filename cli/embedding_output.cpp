// Output files of `jina3 embed`; see embedding_output.hpp.
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
#error "the .npy writer stores the host's floats as '<f4' (little-endian)"
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
class NpyWriter final : public EmbeddingWriter {
 public:
  NpyWriter(OutputFile& file, int dims) : file_(file), dims_(dims) { write_header(0); }

  void write(const InputBlock&, const jina3::Embeddings& embeddings, std::uint64_t) override {
    file_.write(embeddings.data.data(), embeddings.data.size() * sizeof(float));
  }

  void finish(std::uint64_t rows) override {
    file_.rewind();
    write_header(rows);
  }

 private:
  static constexpr std::size_t kHeaderBytes = 128;

  void write_header(std::uint64_t rows) {
    std::string dict = fmt::format("{{'descr': '<f4', 'fortran_order': False, 'shape': ({}, {}), }}", rows, dims_);
    const std::size_t dict_bytes = kHeaderBytes - 10;
    dict.resize(dict_bytes - 1, ' ');
    dict += '\n';
    std::string header("\x93NUMPY\x01\x00", 8);
    header += static_cast<char>(dict_bytes & 0xFF);
    header += static_cast<char>(dict_bytes >> 8);
    header += dict;
    file_.write(header.data(), header.size());
  }

  OutputFile& file_;
  int dims_;
};

// One object per text: {"index": N, "id": ... (when the input line had one), "embedding": [...]}.
class JsonlWriter final : public EmbeddingWriter {
 public:
  explicit JsonlWriter(OutputFile& file) : file_(file) {}

  void write(const InputBlock& block, const jina3::Embeddings& embeddings, std::uint64_t first_index) override {
    std::string out;
    for (std::size_t i = 0; i < embeddings.rows; ++i) {
      RowJson row = RowJson::object();
      row["index"] = first_index + i;
      if (i < block.ids.size() && block.ids[i]) row["id"] = *block.ids[i];
      RowJson::array_t values;
      values.reserve(embeddings.dims);
      const float* data = embeddings.row(i);
      for (std::size_t d = 0; d < embeddings.dims; ++d) values.emplace_back(data[d]);
      row["embedding"] = std::move(values);
      out += row.dump();
      out += '\n';
    }
    file_.write(out.data(), out.size());
  }

  void finish(std::uint64_t) override {}

 private:
  OutputFile& file_;
};

}  // namespace

std::unique_ptr<EmbeddingWriter> make_writer(OutputFormat format, OutputFile& file, int dims) {
  if (format == OutputFormat::Npy) return std::make_unique<NpyWriter>(file, dims);
  return std::make_unique<JsonlWriter>(file);
}

}  // namespace jina3_cli
