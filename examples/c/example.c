/* jina3 from C: embed a query and some passages, rank the passages by cosine similarity.
 *
 *   example_c PACKAGE_DIR [QUERY PASSAGE...]
 *
 * Build against an installed jina3:  cc -std=c99 example.c $(pkg-config --cflags --libs jina3)
 *
 * Output: the ranking ("rank R: SCORE passage[I] TEXT"), then every embedding on one line
 * ("vector query 0 v1 v2 ..." / "vector passage I v1 v2 ...").
 */
#include <jina3/jina3.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static const char* const default_texts[] = {
    "What is the capital of France?",
    "Paris is the capital and largest city of France.",
    "Berlin is the capital of Germany.",
    "The Eiffel Tower was completed in 1889.",
};

static double cosine(const float* a, const float* b, int dims) {
  double dot = 0.0, norm_a = 0.0, norm_b = 0.0;
  int i;
  for (i = 0; i < dims; ++i) {
    dot += (double)a[i] * b[i];
    norm_a += (double)a[i] * a[i];
    norm_b += (double)b[i] * b[i];
  }
  return dot / sqrt(norm_a * norm_b);
}

static void print_vector(const char* kind, size_t index, const float* values, int dims) {
  int i;
  printf("vector %s %zu", kind, index);
  for (i = 0; i < dims; ++i) printf(" %.9g", values[i]);
  printf("\n");
}

int main(int argc, char** argv) {
  const char* const* texts = default_texts;
  size_t n_passages = sizeof default_texts / sizeof default_texts[0] - 1;
  jina3_encoder* encoder = NULL;
  jina3_status status;
  float* query = NULL;
  float* passages = NULL;
  size_t* order = NULL;
  double* scores = NULL;
  size_t i, j;
  int dims, exit_code = 1;

  if (argc < 2 || argc == 3) {
    fprintf(stderr, "usage: %s PACKAGE_DIR [QUERY PASSAGE...]\n", argv[0]);
    return 2;
  }
  if (argc > 3) {
    texts = (const char* const*)(argv + 2);
    n_passages = (size_t)(argc - 3);
  }

  /* NULL options: the defaults (CPU, the package's dtype). */
  status = jina3_encoder_create(argv[1], NULL, &encoder, NULL);
  if (status != JINA3_OK) {
    fprintf(stderr, "cannot load %s: %s (%s)\n", argv[1], jina3_last_error(), jina3_status_name(status));
    return 1;
  }
  dims = jina3_encoder_hidden_size(encoder);

  query = malloc(sizeof(float) * (size_t)dims);
  passages = malloc(sizeof(float) * (size_t)dims * n_passages);
  order = malloc(sizeof(size_t) * n_passages);
  scores = malloc(sizeof(double) * n_passages);
  if (!query || !passages || !order || !scores) {
    fprintf(stderr, "out of memory\n");
    goto done;
  }

  /* Queries and passages use different adapters: that is what makes asymmetric retrieval work. */
  status = jina3_encoder_encode(encoder, texts, NULL, 1, JINA3_TASK_RETRIEVAL_QUERY, 0, NULL, query, (size_t)dims,
                                NULL, NULL);
  if (status == JINA3_OK) {
    status = jina3_encoder_encode(encoder, texts + 1, NULL, n_passages, JINA3_TASK_RETRIEVAL_PASSAGE, 0, NULL,
                                  passages, (size_t)dims * n_passages, NULL, NULL);
  }
  if (status != JINA3_OK) {
    fprintf(stderr, "encode failed: %s (%s)\n", jina3_last_error(), jina3_status_name(status));
    goto done;
  }

  /* Rank passages by cosine similarity (insertion sort: the list is short). */
  for (i = 0; i < n_passages; ++i) {
    scores[i] = cosine(query, passages + i * (size_t)dims, dims);
    for (j = i; j > 0 && scores[order[j - 1]] < scores[i]; --j) order[j] = order[j - 1];
    order[j] = i;
  }

  printf("query: %s\n", texts[0]);
  for (i = 0; i < n_passages; ++i) {
    printf("rank %zu: %.6f passage[%zu] %s\n", i + 1, scores[order[i]], order[i], texts[1 + order[i]]);
  }
  print_vector("query", 0, query, dims);
  for (i = 0; i < n_passages; ++i) print_vector("passage", i, passages + i * (size_t)dims, dims);
  exit_code = 0;

done:
  free(scores);
  free(order);
  free(passages);
  free(query);
  jina3_encoder_free(encoder);
  return exit_code;
}
