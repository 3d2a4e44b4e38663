// SHA-256 (OpenSSL EVP underneath) against the FIPS 180-4 / NIST example vectors.
#include <catch2/catch.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <jina3/errors.hpp>

#include "model/package.hpp"
#include "util/sha256.hpp"
#include "support.hpp"

using jina3::Sha256;
using jina3::sha256_hex;

TEST_CASE("sha256 known vectors", "[unit][sha256]") {
  CHECK(sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  CHECK(sha256_hex("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrs"
                   "mnopqrstnopqrstu") == "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
  CHECK(sha256_hex(std::string(1000000, 'a')) == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST_CASE("sha256 of every short length agrees with a byte-at-a-time hash", "[unit][sha256]") {
  // Lengths 0..300 cross the 55/56/64-byte padding boundaries several times.
  std::string data;
  for (int i = 0; i < 4096; ++i) data += static_cast<char>((i * 131 + 17) ^ (i >> 3));
  std::string previous;
  for (std::size_t length = 0; length <= 300; ++length) {
    Sha256 bytewise;
    for (std::size_t i = 0; i < length; ++i) bytewise.update(&data[i], 1);
    const std::string whole = sha256_hex(std::string_view(data).substr(0, length));
    CHECK(bytewise.hex_digest() == whole);
    CHECK(whole != previous);
    previous = whole;
  }
}

TEST_CASE("sha256 is the same however the input is split", "[unit][sha256]") {
  std::string data;
  for (int i = 0; i < 1000; ++i) data += static_cast<char>(i * 31 + 7);
  const std::string whole = sha256_hex(data);
  for (std::size_t step : {1u, 3u, 55u, 56u, 63u, 64u, 65u, 127u, 129u, 999u}) {
    Sha256 hash;
    for (std::size_t pos = 0; pos < data.size(); pos += step) hash.update(std::string_view(data).substr(pos, step));
    CHECK(hash.hex_digest() == whole);
  }
  // Lengths around the padding boundary (55, 56, 64 bytes) differ from each other.
  CHECK(sha256_hex(std::string(55, 'x')) != sha256_hex(std::string(56, 'x')));
  // A hash moved from keeps its state.
  Sha256 first;
  first.update("ab");
  Sha256 moved = std::move(first);
  moved.update("c");
  CHECK(moved.hex_digest() == sha256_hex("abc"));
}

TEST_CASE("sha256 of a file matches the in-memory hash and reports its size", "[unit][sha256]") {
  jina3::test::TempDir dir;
  const auto file = dir.path() / "data.bin";
  // Not a multiple of the 4 MiB read size, and more than one read.
  std::string data(9 * 1024 * 1024 + 17, '\0');
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>((i * 2654435761u) >> 13);
  std::ofstream(file, std::ios::binary) << data;
  std::uint64_t size = 0;
  CHECK(jina3::sha256_file_hex(file.string(), &size) == sha256_hex(data));
  CHECK(size == data.size());
  const auto empty = dir.path() / "empty.bin";
  std::ofstream(empty, std::ios::binary).close();
  CHECK(jina3::sha256_file_hex(empty.string(), &size) == sha256_hex(""));
  CHECK(size == 0);
  CHECK_THROWS_WITH(jina3::sha256_file_hex((dir.path() / "missing").string()), Catch::Contains("missing"));
  CHECK_THROWS_AS(jina3::sha256_file_hex(dir.path().string()), std::runtime_error);  // a directory: read fails
}

// Needs the generated packages, so it runs with cpp.errors rather than cpp.unit.
TEST_CASE("package checksums checked on another thread fail with ModelInvalid", "[errors][sha256]") {
  using jina3::test::PackageCopy;
  PackageCopy copy(jina3::test::package_dir("float32"), {"tokenizer.model"});
  // The check copies what it needs: the package is destroyed before get().
  auto good = jina3::start_checksum_check(jina3::load_package(copy.str(), false));
  CHECK_NOTHROW(good.get());

  // One byte changed, size kept: only the hash can tell.
  const auto tokenizer = copy.path() / "tokenizer.model";
  {
    std::fstream file(tokenizer, std::ios::in | std::ios::out | std::ios::binary);
    file.seekg(1000);
    const char byte = static_cast<char>(file.get());
    file.seekp(1000);
    file.put(static_cast<char>(byte ^ 0x01));
  }
  const jina3::Package package = jina3::load_package(copy.str(), false);
  auto bad = jina3::start_checksum_check(package);
  try {
    bad.get();
    FAIL("no exception");
  } catch (const jina3::ModelInvalid& e) {
    CHECK_THAT(e.what(), Catch::Contains("tokenizer.model") && Catch::Contains("SHA-256"));
  }
  CHECK_THROWS_AS(jina3::load_package(copy.str(), true), jina3::ModelInvalid);

  // A file that disappears after load_package is ModelInvalid too, not a stray exception type.
  std::filesystem::remove(tokenizer);
  CHECK_THROWS_AS(jina3::start_checksum_check(package).get(), jina3::ModelInvalid);
}
