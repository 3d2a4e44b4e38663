// Unit tests of the embedding cache (src/serving/cache.hpp): hits return the stored bits, any
// difference in the key misses, the byte bound and least-recently-used eviction, many threads.
// LibTorch-free: part of the scheduler's test program (tests/scheduler), so ThreadSanitizer runs it
// too. (The cache behind a real Encoder: the [serving] tests of test_serving.cpp.)
#include <catch2/catch.hpp>

#include "watchdog.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "serving/cache.hpp"

using namespace std::chrono_literals;
using jina3::test::Watchdog;

namespace {

using jina3::detail::EmbeddingCache;

std::vector<float> values_for(const std::string& key, std::size_t dims) {
  std::vector<float> values(dims);
  std::size_t h = std::hash<std::string>()(key);
  for (std::size_t d = 0; d < dims; ++d) values[d] = static_cast<float>((h >> (d % 40)) % 100003) * 0.001f - 7.0f;
  return values;
}

}  // namespace

TEST_CASE("cache: a hit returns the identical vector and flag", "[cache]") {
  EmbeddingCache cache(1 << 20);
  const std::string key = "retrieval.query\x1f" "64\x1f" "hello world";
  std::vector<float> values = values_for(key, 64);
  values[3] = -0.0f;
  values[5] = 1e-38f;  // a denormal-adjacent value survives as is
  cache.insert(key, values.data(), values.size(), 1);
  std::vector<float> out(64, 99.0f);
  std::uint8_t truncated = 0;
  REQUIRE(cache.lookup(key, out.data(), out.size(), &truncated));
  CHECK(std::memcmp(out.data(), values.data(), values.size() * sizeof(float)) == 0);
  CHECK(truncated == 1);
  // A null truncated pointer is allowed.
  std::fill(out.begin(), out.end(), 0.0f);
  REQUIRE(cache.lookup(key, out.data(), out.size(), nullptr));
  CHECK(std::memcmp(out.data(), values.data(), values.size() * sizeof(float)) == 0);
  EmbeddingCache::Counters counters = cache.counters();
  CHECK(counters.hits == 2);
  CHECK(counters.misses == 0);
  CHECK(counters.entries == 1);
  CHECK(counters.bytes == EmbeddingCache::entry_bytes(key.size(), 64));
}

TEST_CASE("cache: any difference in the key, or another width, misses", "[cache]") {
  EmbeddingCache cache(1 << 20);
  const std::string key("text\0with nul", 13);
  std::vector<float> values = values_for(key, 16);
  cache.insert(key, values.data(), values.size(), 0);
  std::vector<float> out(32, 5.0f);
  std::uint8_t truncated = 7;
  // Keys that differ after a NUL byte, by one byte, by length, or by case.
  for (const std::string& other : {std::string("text\0with nuL", 13), std::string("text\0with nu", 12),
                                   std::string("text"), std::string("text\0with nul ", 14), std::string("TEXT\0with nul", 13),
                                   std::string()}) {
    CHECK_FALSE(cache.lookup(other, out.data(), 16, &truncated));
  }
  CHECK_FALSE(cache.lookup(key, out.data(), 8, &truncated));   // stored with 16 values
  CHECK_FALSE(cache.lookup(key, out.data(), 32, &truncated));
  // A miss writes nothing.
  CHECK(std::all_of(out.begin(), out.end(), [](float v) { return v == 5.0f; }));
  CHECK(truncated == 7);
  CHECK(cache.lookup(key, out.data(), 16, &truncated));
  EmbeddingCache::Counters counters = cache.counters();
  CHECK(counters.misses == 8);
  CHECK(counters.hits == 1);
}

TEST_CASE("cache: inserting a key again replaces its entry", "[cache]") {
  EmbeddingCache cache(1 << 20);
  std::vector<float> first(8, 1.0f);
  std::vector<float> second(8, 2.0f);
  cache.insert("k", first.data(), 8, 0);
  cache.insert("k", second.data(), 8, 1);
  std::vector<float> out(8);
  std::uint8_t truncated = 0;
  REQUIRE(cache.lookup("k", out.data(), 8, &truncated));
  CHECK(out == second);
  CHECK(truncated == 1);
  EmbeddingCache::Counters counters = cache.counters();
  CHECK(counters.entries == 1);
  CHECK(counters.bytes == EmbeddingCache::entry_bytes(1, 8));
  CHECK(counters.evictions == 0);
}

TEST_CASE("cache: the byte bound holds and the least recently used entry goes first", "[cache]") {
  const std::size_t dims = 32;
  const std::size_t entry = EmbeddingCache::entry_bytes(6, dims);  // keys "key000" ...
  SECTION("exactly three entries fit") {
    EmbeddingCache cache(entry * 3 + entry / 2);
    auto insert = [&](const std::string& key) { cache.insert(key, values_for(key, dims).data(), dims, 0); };
    std::vector<float> out(dims);
    insert("key000");
    insert("key001");
    insert("key002");
    CHECK(cache.counters().entries == 3);
    REQUIRE(cache.lookup("key000", out.data(), dims, nullptr));  // key001 is now the oldest
    insert("key003");
    CHECK(cache.counters().evictions == 1);
    CHECK_FALSE(cache.lookup("key001", out.data(), dims, nullptr));
    CHECK(cache.lookup("key000", out.data(), dims, nullptr));
    CHECK(out == values_for("key000", dims));
    CHECK(cache.lookup("key002", out.data(), dims, nullptr));
    CHECK(cache.lookup("key003", out.data(), dims, nullptr));
    CHECK(cache.counters().bytes == 3 * entry);
  }
  SECTION("many inserts") {
    const std::size_t capacity = entry * 50 + 17;
    EmbeddingCache cache(capacity);
    std::vector<float> out(dims);
    std::size_t over = 0;
    for (int i = 0; i < 1000; ++i) {
      char key[16];
      std::snprintf(key, sizeof key, "key%03d", i);
      cache.insert(key, values_for(key, dims).data(), dims, 0);
      // key000 is used after every insert, so it is never the least recently used.
      if (!cache.lookup("key000", out.data(), dims, nullptr)) ++over;
      if (cache.counters().bytes > capacity) ++over;
    }
    CHECK(over == 0);
    EmbeddingCache::Counters counters = cache.counters();
    CHECK(counters.entries == 50);
    CHECK(counters.bytes == 50 * entry);
    CHECK(counters.evictions == 1000 - 50);
    CHECK(cache.lookup("key999", out.data(), dims, nullptr));
    CHECK_FALSE(cache.lookup("key500", out.data(), dims, nullptr));
  }
  SECTION("an entry bigger than the whole cache is not stored and evicts nothing") {
    EmbeddingCache cache(entry * 2);
    std::vector<float> out(dims);
    cache.insert("key000", values_for("key000", dims).data(), dims, 0);
    std::vector<float> huge(10000, 1.0f);
    cache.insert("huge", huge.data(), huge.size(), 0);
    CHECK_FALSE(cache.lookup("huge", huge.data(), huge.size(), nullptr));
    CHECK(cache.lookup("key000", out.data(), dims, nullptr));
    CHECK(cache.counters().entries == 1);
    CHECK(cache.counters().evictions == 0);
  }
  SECTION("a zero-byte cache holds nothing") {
    EmbeddingCache cache(0);
    std::vector<float> out(dims);
    cache.insert("key000", values_for("key000", dims).data(), dims, 0);
    CHECK_FALSE(cache.lookup("key000", out.data(), dims, nullptr));
    CHECK(cache.counters().bytes == 0);
    CHECK(cache.counters().entries == 0);
  }
}

TEST_CASE("cache: concurrent hits, misses and evictions are safe", "[cache]") {
  Watchdog dog("cache threads", 120s);
  const std::size_t dims = 24;
  const std::size_t capacity = EmbeddingCache::entry_bytes(8, dims) * 60;
  EmbeddingCache cache(capacity);
  constexpr int kThreads = 8;
  constexpr int kLookups = 4000;
  std::atomic<int> wrong{0};
  std::atomic<int> over{0};
  std::atomic<std::uint64_t> hits{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 random(static_cast<std::uint32_t>(t) * 7919u + 1u);
      std::vector<float> out(dims);
      for (int i = 0; i < kLookups; ++i) {
        char key[16];
        std::snprintf(key, sizeof key, "key%05u", static_cast<unsigned>(random() % 150));
        std::vector<float> expected = values_for(key, dims);
        std::uint8_t truncated = 9;
        if (cache.lookup(key, out.data(), dims, &truncated)) {
          ++hits;
          if (out != expected || truncated != (key[7] == '7')) ++wrong;
        } else {
          cache.insert(key, expected.data(), dims, key[7] == '7');
        }
        if (i % 64 == 0 && cache.counters().bytes > capacity) ++over;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  CHECK(wrong == 0);
  CHECK(over == 0);
  EmbeddingCache::Counters counters = cache.counters();
  CHECK(counters.hits == hits);
  CHECK(counters.hits + counters.misses == static_cast<std::uint64_t>(kThreads) * kLookups);
  CHECK(counters.hits > 0);
  CHECK(counters.evictions > 0);
  CHECK(counters.bytes <= capacity);
  CHECK(counters.bytes == counters.entries * EmbeddingCache::entry_bytes(8, dims));
}
