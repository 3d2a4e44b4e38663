/* Late chunking and compact vectors from C: one document is run through the model once, each of
 * its sentences gets a vector pooled from its own tokens, and a query is scored against them;
 * then the same sentences' vectors as 1-bit codes (ubinary) for a Hamming-distance index.
 *
 *   jina3_example_c_late_chunk PACKAGE_DIR
 *
 * Prints one line per chunk: "SCORE  [BEGIN, END)  TEXT", then the ubinary code size. */
#include <jina3/jina3.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char** argv) {
  const char* doc = "Berlin is the capital of Germany. It has 3.8 million people. The Spree flows through it.";
  const char* query = "How many people live in Berlin?";
  jina3_encoder* encoder = NULL;
  jina3_chunks* chunks = NULL;
  jina3_late_chunk_options options;
  float* q = NULL;
  unsigned char* codes = NULL;
  int status = 1;

  if (argc != 2) {
    fprintf(stderr, "usage: %s PACKAGE_DIR\n", argv[0]);
    return 2;
  }
  if (jina3_encoder_create(argv[1], NULL, &encoder, NULL) != JINA3_OK) goto failed;

  /* One chunk per sentence; options left at their defaults are the reference code's. */
  jina3_late_chunk_default_options(&options, sizeof options);
  options.sentences = 1;
  if (jina3_encoder_late_chunk(encoder, doc, SIZE_MAX, JINA3_TASK_RETRIEVAL_PASSAGE, 0, NULL, 0, &options, &chunks,
                               NULL) != JINA3_OK) {
    goto failed;
  }
  {
    const size_t n = jina3_chunks_count(chunks), dims = jina3_chunks_dims(chunks);
    const float* vectors = jina3_chunks_embeddings(chunks);
    const size_t* spans = jina3_chunks_spans(chunks); /* byte offsets into doc */
    size_t i, d;
    q = malloc(dims * sizeof *q);
    if (q == NULL) goto failed;
    if (jina3_encoder_encode(encoder, &query, NULL, 1, JINA3_TASK_RETRIEVAL_QUERY, 0, NULL, q, dims, NULL, NULL) !=
        JINA3_OK) {
      goto failed;
    }
    for (i = 0; i < n; ++i) {
      double score = 0;
      for (d = 0; d < dims; ++d) score += q[d] * vectors[i * dims + d];
      printf("%.4f  [%zu, %zu)  %.*s\n", score, spans[2 * i], spans[2 * i + 1], (int)(spans[2 * i + 1] - spans[2 * i]),
             doc + spans[2 * i]);
    }

    /* The chunk vectors as 1-bit codes: the precision stage on rows the caller already has. */
    {
      const size_t row = jina3_precision_row_bytes(JINA3_PRECISION_UBINARY, (int)dims);
      codes = malloc(n * row);
      if (codes == NULL ||
          jina3_quantize(vectors, n, (int)dims, JINA3_PRECISION_UBINARY, NULL, codes, n * row, NULL) != JINA3_OK) {
        goto failed;
      }
      printf("ubinary: %zu chunks x %zu bytes (first byte 0x%02x)\n", n, row, codes[0]);
    }
  }
  status = 0;
failed:
  if (status != 0) fprintf(stderr, "jina3: %s\n", jina3_last_error());
  free(codes);
  free(q);
  jina3_chunks_free(chunks);
  jina3_encoder_free(encoder);
  return status;
}
