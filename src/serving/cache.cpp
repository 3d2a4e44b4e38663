// The LRU embedding cache (see cache.hpp).
#include "serving/cache.hpp"

#include <algorithm>

namespace jina3::detail {

bool EmbeddingCache::lookup(std::string_view key, float* out, std::size_t dims, std::uint8_t* truncated) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto found = index_.find(key);
  if (found == index_.end() || found->second->values.size() != dims) {
    ++counters_.misses;
    return false;
  }
  lru_.splice(lru_.begin(), lru_, found->second);
  std::copy(found->second->values.begin(), found->second->values.end(), out);
  if (truncated) *truncated = found->second->truncated;
  ++counters_.hits;
  return true;
}

void EmbeddingCache::insert(std::string_view key, const float* values, std::size_t dims, std::uint8_t truncated) {
  const std::size_t bytes = entry_bytes(key.size(), dims);
  if (bytes > capacity_) return;
  // Build the entry before taking the lock: the copies are the slow part.
  std::list<Entry> node;
  node.push_back(Entry{std::string(key), std::vector<float>(values, values + dims), truncated});
  std::lock_guard<std::mutex> lock(mutex_);
  auto found = index_.find(key);
  if (found != index_.end()) erase(found->second);
  while (counters_.bytes + bytes > capacity_ && !lru_.empty()) {
    erase(std::prev(lru_.end()));
    ++counters_.evictions;
  }
  lru_.splice(lru_.begin(), node);
  index_.emplace(std::string_view(lru_.front().key), lru_.begin());
  counters_.bytes += bytes;
  ++counters_.entries;
}

void EmbeddingCache::erase(std::list<Entry>::iterator it) {
  counters_.bytes -= entry_bytes(it->key.size(), it->values.size());
  --counters_.entries;
  index_.erase(std::string_view(it->key));
  lru_.erase(it);
}

EmbeddingCache::Counters EmbeddingCache::counters() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return counters_;
}

}  // namespace jina3::detail
