#include "synthetic_texts.hpp"

#include <algorithm>
#include <cstdlib>
#include <random>
#include <string_view>

namespace jina3_bench {

namespace {

// Everyday words, mostly English as in typical retrieval corpora, with a share of other languages
// and scripts so the tokenizer sees multi-piece words too.
constexpr std::string_view kWords[] = {
    "the", "of", "and", "to", "in", "is", "for", "that", "with", "on", "as", "by", "at", "from", "this",
    "which", "be", "are", "was", "it", "an", "or", "has", "have", "not", "but", "can", "more", "also",
    "their", "system", "data", "model", "results", "method", "water", "energy", "history", "city",
    "government", "research", "university", "students", "market", "price", "company", "customer",
    "software", "network", "security", "protein", "cells", "patients", "treatment", "climate",
    "temperature", "river", "mountain", "language", "translation", "library", "document", "search",
    "retrieval", "question", "answer", "evidence", "analysis", "measurement", "performance", "memory",
    "processor", "embedding", "vector", "similarity", "training", "evaluation", "benchmark",
    "population", "century", "european", "international", "development", "environment", "children",
    "health", "economic", "policy", "industry", "production", "agriculture", "railway", "station",
    "bridge", "museum", "painting", "music", "festival", "election", "parliament", "court", "law",
    "article", "chapter", "section", "figure", "table", "experiment", "hypothesis", "observed",
    "significantly", "increased", "reduced", "compared", "approximately", "between", "during",
    "because", "although", "however", "therefore", "recently", "quickly", "carefully", "important",
    "different", "several", "available", "possible", "original", "natural", "public", "local",
    "Bahnhof", "Wissenschaft", "Gesellschaft", "université", "développement", "gouvernement",
    "población", "investigación", "información", "città", "sviluppo", "pesquisa", "história",
    "исследование", "город", "данные", "研究", "数据", "東京", "データ", "검색", "مدينة", "तापमान",
};
constexpr std::size_t kWordCount = sizeof(kWords) / sizeof(kWords[0]);

// Short words tried in place of the last word when a text overshoots its target by a piece or two.
constexpr std::string_view kFillers[] = {"a", "the", "of", "is", "in", "to", "and", "it", "on", "by", "at", "as"};

// A stream of `count` words grouped into sentences: capitalised first word, full stop at the end.
std::vector<std::string> word_stream(std::size_t count, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<std::string> words;
  words.reserve(count);
  std::size_t left_in_sentence = 0;
  while (words.size() < count) {
    if (left_in_sentence == 0) left_in_sentence = 6 + rng() % 13;
    std::string word(kWords[rng() % kWordCount]);
    const bool first = words.empty() || words.back().back() == '.';
    if (first && word[0] >= 'a' && word[0] <= 'z') word[0] = static_cast<char>(word[0] - 'a' + 'A');
    if (--left_in_sentence == 0) word += '.';
    words.push_back(std::move(word));
  }
  return words;
}

std::string join(const std::vector<std::string>& words, std::size_t count) {
  std::string text;
  for (std::size_t i = 0; i < count; ++i) {
    if (i) text += ' ';
    text += words[i];
  }
  return text;
}

int token_count(const jina3::Encoder& encoder, jina3::Task task, const std::string& text) {
  return static_cast<int>(encoder.tokenize({text}, task)[0].size());
}

}  // namespace

CalibratedText calibrated_text(const jina3::Encoder& encoder, jina3::Task task, int target_tokens, std::uint64_t seed) {
  // Every word is at least one token, so `target_tokens` words always reach the target: binary
  // search for the fewest words that do.
  const std::size_t max_words = static_cast<std::size_t>(std::max(target_tokens, 1));
  const std::vector<std::string> words = word_stream(max_words, seed);
  std::size_t lo = 0, hi = max_words;
  while (lo < hi) {
    const std::size_t mid = (lo + hi) / 2;
    if (token_count(encoder, task, join(words, mid)) >= target_tokens) {
      hi = mid;
    } else {
      lo = mid + 1;
    }
  }
  CalibratedText best{join(words, lo), token_count(encoder, task, join(words, lo))};
  if (best.tokens == target_tokens || lo == 0) return best;

  // Overshot because the last word is several pieces: swap it for a short word, or keep the
  // text one word shorter, whichever lands closest.
  CalibratedText shorter{join(words, lo - 1), token_count(encoder, task, join(words, lo - 1))};
  if (std::abs(shorter.tokens - target_tokens) < std::abs(best.tokens - target_tokens)) best = shorter;
  for (std::string_view filler : kFillers) {
    std::string text = join(words, lo - 1);
    if (!text.empty()) text += ' ';
    text += filler;
    const int tokens = token_count(encoder, task, text);
    if (std::abs(tokens - target_tokens) < std::abs(best.tokens - target_tokens)) best = {text, tokens};
    if (best.tokens == target_tokens) break;
  }
  return best;
}

std::vector<int> uniform_lengths(std::size_t count, int lo, int hi, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  const auto span = static_cast<std::uint64_t>(hi - lo + 1);
  std::vector<int> lengths(count);
  for (auto& length : lengths) length = lo + static_cast<int>(rng() % span);
  return lengths;
}

}  // namespace jina3_bench
