// Memory bounds on huge inputs: each case runs in a child process (this program again, with
// --child), and its peak resident memory (wait4's ru_maxrss) is compared with a bound.
//
//   jina3_memory_bound PACKAGE_DIR [--texts N] [--tokens T] [--dims D]
//
// Cases (defaults: N = T = 1,000,000, dims 32):
//   texts  one encode call of N short texts ("memory test text 123456": about 8 tokens each)
//   pass   one text of exactly max_length tokens: the cost P of the largest forward pass
//   long   one text of T tokens (T one-token words), truncated to max_length by default
// The child loads the encoder, builds the input, reports its resident memory just before the
// call ("before"), makes the call and checks the result's shape. The growth, peak - before, must
// stay within the bound README "Behaviour worth knowing" documents:
//   texts: N x dims x 4 (the output) + N x kPerText + kSlack
//   long:  P + L x kPerTextByte + kSlack           (L: the text's bytes)
// so a huge text costs its tokenisation and one pass at max_length, never a pass over T tokens.
// Prints each case's figures; exits 0 when every case is within its bound, 1 otherwise.
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include <jina3/jina3.hpp>

namespace {

// The documented constants (README "Behaviour worth knowing", memory on huge inputs).
constexpr double kPerText = 400;      // bytes per text beside its output row: token ids, bookkeeping
constexpr double kPerTextByte = 100;  // bytes per byte of a long text: sentencepiece's working set
constexpr double kSlack = 64 << 20;   // allocator slack and small passes

std::uint64_t rss_bytes() {
  std::ifstream statm("/proc/self/statm");
  std::uint64_t pages = 0, resident = 0;
  statm >> pages >> resident;
  return resident * static_cast<std::uint64_t>(sysconf(_SC_PAGESIZE));
}

// Words that are one XLM-R token each with their leading "▁" (checked by the child).
const char* const kWords[] = {"the", "and", "for", "with", "this", "that", "from", "have", "are", "was"};

int child(const std::string& package, const std::string& what, std::size_t amount, int dims) {
  jina3::EncoderOptions options;
  options.verify_checksums = false;
  const jina3::Encoder encoder(package, options);
  std::vector<std::string> texts;
  std::size_t text_bytes = 0;
  if (what == "pass") {  // Task::None: <s> + words + </s>, exactly max_length tokens
    std::string text;
    for (int i = 0; i + 2 < encoder.max_length(); ++i) text += std::string(kWords[(i * 7) % 10]) + " ";
    text_bytes = text.size();
    texts.push_back(std::move(text));
  } else if (what == "texts") {
    texts.reserve(amount);
    for (std::size_t i = 0; i < amount; ++i) {
      texts.push_back("memory test text " + std::to_string(100000 + i % 900000));
      text_bytes += texts.back().size();
    }
  } else {
    std::string sample;
    for (const char* word : kWords) sample += std::string(word) + " ";
    if (encoder.tokenize({sample})[0].size() != 2 + sizeof kWords / sizeof kWords[0]) {
      std::fprintf(stderr, "memory_bound: the words are not one token each in this tokenizer\n");
      return 1;
    }
    std::string text;
    text.reserve(amount * 6);
    for (std::size_t i = 0; i < amount; ++i) text += std::string(kWords[(i * 7) % 10]) + " ";
    text_bytes = text.size();
    texts.push_back(std::move(text));
  }
  const std::uint64_t before = rss_bytes();
  const auto start = std::chrono::steady_clock::now();
  const jina3::Task task = what == "texts" ? jina3::Task::RetrievalPassage : jina3::Task::None;
  const jina3::Embeddings result = encoder.encode(texts, task, dims);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (result.rows != texts.size() || result.dims != static_cast<std::size_t>(dims) ||
      result.data.size() != texts.size() * static_cast<std::size_t>(dims)) {
    std::fprintf(stderr, "memory_bound: wrong result shape\n");
    return 1;
  }
  if ((what == "long") != (result.truncated[0] == 1)) {
    std::fprintf(stderr, "memory_bound: the text was %struncated\n", result.truncated[0] ? "" : "not ");
    return 1;
  }
  std::printf("%llu %zu %.2f\n", static_cast<unsigned long long>(before), text_bytes, seconds);
  return 0;
}

struct ChildResult {
  bool ok = false;
  std::uint64_t before = 0;
  std::uint64_t peak = 0;
  std::size_t text_bytes = 0;
  double seconds = 0;
};

ChildResult run_child(const char* self, const std::string& package, const char* what, std::size_t amount, int dims) {
  ChildResult result;
  int pipe_fds[2];
  if (pipe(pipe_fds) != 0) return result;
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(pipe_fds[1], STDOUT_FILENO);
    close(pipe_fds[0]);
    close(pipe_fds[1]);
    const std::string amount_text = std::to_string(amount), dims_text = std::to_string(dims);
    execl(self, self, "--child", package.c_str(), what, amount_text.c_str(), dims_text.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  close(pipe_fds[1]);
  std::string output;
  char buffer[256];
  for (ssize_t n; (n = read(pipe_fds[0], buffer, sizeof buffer)) > 0;) output.append(buffer, static_cast<std::size_t>(n));
  close(pipe_fds[0]);
  int status = 0;
  struct rusage usage {};
  if (wait4(pid, &status, 0, &usage) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) return result;
  unsigned long long before = 0;
  if (std::sscanf(output.c_str(), "%llu %zu %lf", &before, &result.text_bytes, &result.seconds) != 3) return result;
  result.before = before;
  result.peak = static_cast<std::uint64_t>(usage.ru_maxrss) * 1024;  // KiB on Linux
  result.ok = true;
  return result;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 6 && std::strcmp(argv[1], "--child") == 0) {
    return child(argv[2], argv[3], std::strtoull(argv[4], nullptr, 10), std::atoi(argv[5]));
  }
  if (argc < 2 || argc % 2 != 0) {
    std::fprintf(stderr, "usage: jina3_memory_bound PACKAGE_DIR [--texts N] [--tokens T] [--dims D]\n");
    return 2;
  }
  std::size_t texts = 1000000, tokens = 1000000;
  int dims = 32;
  for (int i = 2; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--texts") == 0) texts = std::strtoull(argv[i + 1], nullptr, 10);
    else if (std::strcmp(argv[i], "--tokens") == 0) tokens = std::strtoull(argv[i + 1], nullptr, 10);
    else if (std::strcmp(argv[i], "--dims") == 0) dims = std::atoi(argv[i + 1]);
    else return 2;
  }
  const char* self = "/proc/self/exe";
  char path[4096];
  const ssize_t n = readlink(self, path, sizeof path - 1);
  if (n <= 0) return 2;
  path[n] = '\0';

  bool ok = true;
  const auto mib = [](double bytes) { return bytes / (1 << 20); };
  double pass = 0;  // P, measured by the "pass" case
  struct Case {
    const char* name;
    std::size_t amount;
  } cases[] = {{"texts", texts}, {"pass", 0}, {"long", tokens}};
  for (const Case& c : cases) {
    if (c.amount == 0 && c.name[0] != 'p') continue;
    const ChildResult r = run_child(path, argv[1], c.name, c.amount, dims);
    if (!r.ok) {
      std::printf("memory_bound %s: the child failed\n", c.name);
      ok = false;
      continue;
    }
    const double growth = static_cast<double>(r.peak) - static_cast<double>(r.before);
    const std::string name = c.name;
    if (name == "pass") {
      pass = growth;
      std::printf("memory_bound pass: one text of max_length tokens (%zu bytes): %.1f s; RSS before the call %.1f MiB, "
                  "peak %.1f MiB, growth P = %.1f MiB\n", r.text_bytes, r.seconds, mib(r.before), mib(r.peak), mib(growth));
      continue;
    }
    const bool many = name == "texts";
    const double bound = many ? static_cast<double>(c.amount) * (dims * 4 + kPerText) + kSlack
                              : pass + static_cast<double>(r.text_bytes) * kPerTextByte + kSlack;
    std::printf("memory_bound %s: %zu %s (%zu bytes of text), dims %d: %.1f s; RSS before the call %.1f MiB, peak %.1f "
                "MiB, growth %.1f MiB (%.1f bytes per %s%s), bound %.1f MiB: %s\n",
                c.name, c.amount, many ? "texts" : "tokens", r.text_bytes, dims, r.seconds, mib(r.before), mib(r.peak),
                mib(growth), (many ? growth : growth - pass) / static_cast<double>(many ? c.amount : r.text_bytes),
                many ? "text" : "text byte", many ? "" : " beyond P", mib(bound), growth <= bound ? "ok" : "OVER");
    ok = ok && growth <= bound;
  }
  return ok ? 0 : 1;
}
