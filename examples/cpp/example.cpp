// jina3 from C++: embed a query and some passages, rank the passages by cosine similarity.
//
//   example_cpp PACKAGE_DIR [QUERY PASSAGE...]
//
// Output: the ranking ("rank R: SCORE passage[I] TEXT"), then every embedding on one line
// ("vector query 0 v1 v2 ..." / "vector passage I v1 v2 ...").
#include <jina3/jina3.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <string>
#include <vector>

namespace {

double cosine(const float* a, const float* b, std::size_t dims) {
  double dot = 0.0, norm_a = 0.0, norm_b = 0.0;
  for (std::size_t i = 0; i < dims; ++i) {
    dot += static_cast<double>(a[i]) * b[i];
    norm_a += static_cast<double>(a[i]) * a[i];
    norm_b += static_cast<double>(b[i]) * b[i];
  }
  return dot / std::sqrt(norm_a * norm_b);
}

void print_vector(const char* kind, std::size_t index, const float* values, std::size_t dims) {
  std::printf("vector %s %zu", kind, index);
  for (std::size_t i = 0; i < dims; ++i) std::printf(" %.9g", values[i]);
  std::printf("\n");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || argc == 3) {
    std::fprintf(stderr, "usage: %s PACKAGE_DIR [QUERY PASSAGE...]\n", argv[0]);
    return 2;
  }
  std::string query = "What is the capital of France?";
  std::vector<std::string> passages = {
      "Paris is the capital and largest city of France.",
      "Berlin is the capital of Germany.",
      "The Eiffel Tower was completed in 1889.",
  };
  if (argc > 3) {
    query = argv[2];
    passages.assign(argv + 3, argv + argc);
  }

  try {
    const jina3::Encoder encoder(argv[1]);
    // Queries and passages use different adapters: that is what makes asymmetric retrieval work.
    const jina3::Embeddings q = encoder.encode({query}, jina3::Task::RetrievalQuery);
    const jina3::Embeddings p = encoder.encode(passages, jina3::Task::RetrievalPassage);

    std::vector<double> scores(p.rows);
    for (std::size_t i = 0; i < p.rows; ++i) scores[i] = cosine(q.row(0), p.row(i), p.dims);
    std::vector<std::size_t> order(p.rows);
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return scores[a] > scores[b]; });

    std::printf("query: %s\n", query.c_str());
    for (std::size_t r = 0; r < order.size(); ++r) {
      std::printf("rank %zu: %.6f passage[%zu] %s\n", r + 1, scores[order[r]], order[r], passages[order[r]].c_str());
    }
    print_vector("query", 0, q.row(0), q.dims);
    for (std::size_t i = 0; i < p.rows; ++i) print_vector("passage", i, p.row(i), p.dims);
  } catch (const jina3::Error& e) {
    std::fprintf(stderr, "jina3 error (%s): %s\n", jina3::to_string(e.code()), e.what());
    return 1;
  }
  return 0;
}
