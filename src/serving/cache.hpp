// The in-process embedding cache: an LRU map from a request key to one embedding row, bounded in
// bytes. Thread-safe. No LibTorch here (the scheduler's unit tests build it alone).
#pragma once

#include <cstddef>
#include <cstdint>
#include <list>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace jina3::detail {

class EmbeddingCache {
 public:
  // What one entry costs besides its key and values: the list node, the map node and the vector
  // header, rounded up. Counted so that a cache of many short texts stays within its bound.
  static constexpr std::size_t kEntryOverhead = 128;

  struct Counters {
    std::uint64_t hits = 0;
    std::uint64_t misses = 0;
    std::uint64_t evictions = 0;
    std::uint64_t bytes = 0;
    std::uint64_t entries = 0;
  };

  explicit EmbeddingCache(std::size_t capacity_bytes) : capacity_(capacity_bytes) {}

  // On a hit copies the entry's dims values to out, its truncated flag to *truncated, marks the
  // entry most recently used and returns true. An entry of another width is a miss.
  bool lookup(std::string_view key, float* out, std::size_t dims, std::uint8_t* truncated);

  // Stores (a copy of) values under key, evicting least recently used entries to stay within the
  // capacity. An entry larger than the whole capacity is not stored. Replaces an existing entry.
  void insert(std::string_view key, const float* values, std::size_t dims, std::uint8_t truncated);

  Counters counters() const;
  std::size_t capacity() const noexcept { return capacity_; }

  static std::size_t entry_bytes(std::size_t key_bytes, std::size_t dims) {
    return key_bytes + dims * sizeof(float) + kEntryOverhead;
  }

 private:
  struct Entry {
    std::string key;
    std::vector<float> values;
    std::uint8_t truncated = 0;
  };
  void erase(std::list<Entry>::iterator it);  // mutex_ held

  const std::size_t capacity_;
  mutable std::mutex mutex_;
  std::list<Entry> lru_;  // most recently used first
  std::unordered_map<std::string_view, std::list<Entry>::iterator> index_;  // views into lru_'s keys
  Counters counters_;
};

}  // namespace jina3::detail
