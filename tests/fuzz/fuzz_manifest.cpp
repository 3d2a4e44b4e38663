// fuzz_manifest: the package manifest parser and the package loader. Input: one control byte,
// one argument byte, then manifest.json's text. The text goes to parse_manifest; when the control
// byte says so, it is also written as the manifest of a scratch package directory, whose two
// small files may first be damaged, and load_package reads that directory.
//   control bit 0: also load the package; bit 1: verify_checksums; bit 2: then run
//   start_checksum_check; bits 3-4: damage 0 none, 1 truncate backbone.pt to `argument` % size
//   bytes, 2 flip one byte of tokenizer.model (at `argument` % size), 3 delete tokenizer.model.
// The seeds (tests/fuzz/corpus/fuzz_manifest) list the two files with their real sizes and
// SHA-256, so mutations start from packages that load. Checked on each input:
// - only typed errors (ModelInvalid, VersionMismatch; ModelNotFound from the loader) come out;
//   anything else (a std::exception of nlohmann-json or std::filesystem leaking, a crash) fails;
// - an accepted manifest satisfies every rule of docs/package-format.md that parse_manifest
//   promises to check, and load_package returns what parse_manifest returns for the same text;
// - a damaged package never loads with verify_checksums, and where it loads without, the
//   checksum check reports it.
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <string_view>

#include <jina3/errors.hpp>
#include <jina3/version.hpp>

#include "fuzz_support.hpp"
#include "model/package.hpp"

namespace fs = std::filesystem;

const char* const jina3::fuzz::kTarget = "fuzz_manifest";

namespace {

using jina3::fuzz::expect;
using jina3::fuzz::fail;

// The scratch package's files: their sizes and SHA-256 are in the seed manifests
// (backbone.pt: 64 bytes, tokenizer.model: 32 bytes; see corpus/fuzz_manifest/README).
const std::string kBackbone = "jina3 fuzz_manifest backbone.pt: not a TorchScript archive, 64B\n";
const std::string kTokenizer = "jina3 fuzz_manifest tokenizer:\n\n";

fs::path package_dir;

void write_file(const fs::path& path, std::string_view bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) fail("cannot write the scratch package");
}

void check_manifest(const jina3::Manifest& m) {
  expect(m.format_version == JINA3_PACKAGE_FORMAT_VERSION, "accepted another format_version");
  expect(m.hidden_size > 0 && m.num_layers > 0 && m.num_heads > 0 && m.intermediate_size > 0 && m.vocab_size > 0,
         "accepted a size that is not positive");
  expect(m.hidden_size % m.num_heads == 0, "accepted num_heads that does not divide hidden_size");
  expect(m.dtype != jina3::DType::Auto, "accepted dtype auto");
  std::set<jina3::Task> seen;
  for (jina3::Task task : m.tasks) {
    expect(task != jina3::Task::None && static_cast<int>(task) >= 0 && static_cast<int>(task) <= 4, "accepted a bad task");
    expect(seen.insert(task).second, "accepted a repeated task");
    expect(m.prompts.count(task) == 1, "a task without a prompt");
  }
  expect(m.prompts.size() == m.tasks.size(), "prompts for tasks that are not listed");
  expect(!m.matryoshka_dims.empty() && m.matryoshka_dims.back() == m.hidden_size, "dims do not end with hidden_size");
  for (std::size_t i = 0; i < m.matryoshka_dims.size(); ++i) {
    expect(m.matryoshka_dims[i] >= 1, "accepted a dim below 1");
    if (i > 0) expect(m.matryoshka_dims[i] > m.matryoshka_dims[i - 1], "accepted dims that do not ascend");
  }
  expect(m.max_length >= 2, "accepted max_length below 2");
  const jina3::SpecialIds& s = m.special_ids;
  for (int id : {s.bos, s.pad, s.eos, s.unk, s.mask, m.spm_id_offset}) {
    expect(id >= 0 && id < m.vocab_size, "accepted a special id outside the vocabulary");
  }
  expect(m.files.count("backbone.pt") == 1 && m.files.count("tokenizer.model") == 1, "a required file is not listed");
  for (const auto& [name, file] : m.files) {
    expect(!name.empty() && name != "." && name != ".." && name.find('/') == std::string::npos &&
               name.find('\\') == std::string::npos && name.find('\0') == std::string::npos,
           "accepted a file name that is not a plain name");
    expect(file.sha256.size() == 64 && std::all_of(file.sha256.begin(), file.sha256.end(),
                                                   [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }),
           "accepted a SHA-256 that is not 64 lower-case hex digits");
    expect(file.size <= static_cast<std::uint64_t>(INT64_MAX), "accepted a size above INT64_MAX");
  }
}

bool same(const jina3::Manifest& a, const jina3::Manifest& b) {
  return a.format_version == b.format_version && a.model_name == b.model_name && a.dtype == b.dtype &&
         a.hidden_size == b.hidden_size && a.tasks == b.tasks && a.prompts == b.prompts &&
         a.matryoshka_dims == b.matryoshka_dims && a.max_length == b.max_length && a.files.size() == b.files.size() &&
         std::equal(a.files.begin(), a.files.end(), b.files.begin(), [](const auto& x, const auto& y) {
           return x.first == y.first && x.second.sha256 == y.second.sha256 && x.second.size == y.second.size;
         });
}

// Runs body; true if it returned, false if it threw one of the allowed typed errors.
template <class Body>
bool typed(Body&& body, bool not_found_allowed) {
  try {
    body();
    return true;
  } catch (const jina3::ModelInvalid&) {
  } catch (const jina3::VersionMismatch&) {
  } catch (const jina3::ModelNotFound&) {
    if (!not_found_allowed) fail("parse_manifest threw ModelNotFound");
  } catch (const std::exception& e) {
    fail(std::string("untyped exception: ") + e.what());
  }
  return false;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  std::string base = (fs::exists("/dev/shm") ? "/dev/shm" : fs::temp_directory_path().string()) + "/jina3-fuzz-XXXXXX";
  if (mkdtemp(base.data()) == nullptr) fail("mkdtemp failed");
  package_dir = base;
  // Removed at exit; a crash leaves it behind in /dev/shm (or TMPDIR), named jina3-fuzz-*.
  std::atexit([] {
    std::error_code ignored;
    fs::remove_all(package_dir, ignored);
  });
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const unsigned control = data[0];
  const unsigned argument = data[1];
  const std::string_view text(reinterpret_cast<const char*>(data + 2), size - 2);

  jina3::Manifest parsed;
  const bool parsed_ok = typed([&] { parsed = jina3::parse_manifest(text, "manifest.json"); }, false);
  if (parsed_ok) check_manifest(parsed);
  if ((control & 1) == 0) return 0;

  const bool verify = (control & 2) != 0;
  const unsigned damage = (control >> 3) & 3;
  write_file(package_dir / "manifest.json", text);
  std::string backbone = kBackbone, tokenizer = kTokenizer;
  if (damage == 1) backbone.resize(argument % backbone.size());
  if (damage == 2) tokenizer[argument % tokenizer.size()] ^= static_cast<char>(1 + (argument >> 5));
  write_file(package_dir / "backbone.pt", backbone);
  if (damage == 3) {
    fs::remove(package_dir / "tokenizer.model");
  } else {
    write_file(package_dir / "tokenizer.model", tokenizer);
  }

  jina3::Package package;
  const bool loaded = typed([&] { package = jina3::load_package(package_dir.string(), verify); }, true);
  if (!loaded) return 0;
  // A manifest that loads parses: the loader reads nothing else from it.
  expect(parsed_ok, "load_package accepted a manifest that parse_manifest refuses");
  expect(same(package.manifest, parsed), "load_package and parse_manifest read the manifest differently");
  expect(package.path == package_dir.string(), "the package path changed");
  expect(damage != 3, "loaded a package without tokenizer.model");
  if (damage != 0) expect(!verify, "a damaged package passed its checksums");
  if (control & 4 || (damage != 0 && !verify)) {
    const bool clean = typed([&] { jina3::start_checksum_check(package).get(); }, false);
    if (damage != 0) expect(!clean, "the checksum check missed a damaged file");
    if (verify) expect(clean, "the checksum check fails where load_package's passed");
  }
  return 0;
}
