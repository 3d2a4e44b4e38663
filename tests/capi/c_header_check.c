/* jina3.h is C99: this file, built with -std=c99 -pedantic -Werror, takes the address of every
 * declared function (so each prototype is checked by a C compiler) and checks the calls that
 * need no model. Exit 0: all good. */
#include <jina3/jina3.h>

#include <stddef.h>
#include <stdio.h>
#include <string.h>

static int failures = 0;

#define EXPECT(condition)                                          \
  do {                                                             \
    if (!(condition)) {                                            \
      fprintf(stderr, "%s:%d: failed: %s\n", __FILE__, __LINE__, #condition); \
      ++failures;                                                  \
    }                                                              \
  } while (0)

/* Every function of the API, with the exact prototype the header declares. */
static const struct {
  const char* (*version)(void);
  int (*abi_version)(void);
  const char* (*status_name)(jina3_status);
  const char* (*last_error)(void);
  jina3_status (*error_code)(const jina3_error*);
  const char* (*error_message)(const jina3_error*);
  void (*error_free)(jina3_error*);
  const char* (*task_name)(jina3_task);
  jina3_status (*task_from_name)(const char*, jina3_task*, jina3_error**);
  const char* (*device_name)(jina3_device);
  jina3_status (*device_from_name)(const char*, jina3_device*, int*, jina3_error**);
  const char* (*dtype_name)(jina3_dtype);
  jina3_status (*dtype_from_name)(const char*, jina3_dtype*, jina3_error**);
  void (*encoder_default_options)(jina3_encoder_options*, size_t);
  void (*encode_default_options)(jina3_encode_options*, size_t);
  jina3_status (*encoder_create)(const char*, const jina3_encoder_options*, jina3_encoder**, jina3_error**);
  void (*encoder_free)(jina3_encoder*);
  jina3_status (*encoder_encode)(const jina3_encoder*, const char* const*, const size_t*, size_t, jina3_task, int,
                                 const jina3_encode_options*, float*, size_t, uint8_t*, jina3_error**);
  jina3_status (*encoder_encode_tasks)(const jina3_encoder*, const char* const*, const size_t*, size_t,
                                       const jina3_task*, int, const jina3_encode_options*, float*, size_t, uint8_t*,
                                       jina3_error**);
  size_t (*encoder_dims)(const jina3_encoder*, int*, size_t);
  int (*encoder_hidden_size)(const jina3_encoder*);
  int (*encoder_max_length)(const jina3_encoder*);
  size_t (*encoder_task_count)(const jina3_encoder*);
  jina3_task (*encoder_task)(const jina3_encoder*, size_t);
  jina3_device (*encoder_device)(const jina3_encoder*);
  jina3_dtype (*encoder_dtype)(const jina3_encoder*);
  const char* (*encoder_package_path)(const jina3_encoder*);
  jina3_status (*encoder_prompt)(const jina3_encoder*, jina3_task, const char**, jina3_error**);
  jina3_status (*encoder_submit)(const jina3_encoder*, const char* const*, const size_t*, size_t, const jina3_task*,
                                 size_t, int, const jina3_encode_options*, jina3_request_callback, void*,
                                 jina3_request**, jina3_error**);
  jina3_status (*request_wait)(jina3_request*, float*, size_t, uint8_t*, jina3_error**);
  bool (*request_ready)(const jina3_request*);
  size_t (*request_rows)(const jina3_request*);
  int (*request_dims)(const jina3_request*);
  void (*request_free)(jina3_request*);
  jina3_status (*encoder_stats)(const jina3_encoder*, jina3_stats*, jina3_error**);
  size_t (*precision_row_bytes)(jina3_precision, int);
  jina3_status (*encoder_encode_quantized)(const jina3_encoder*, const char* const*, const size_t*, size_t,
                                           jina3_task, int, jina3_precision, const float*,
                                           const jina3_encode_options*, void*, size_t, uint8_t*, jina3_error**);
  jina3_status (*calibration_ranges)(const float*, size_t, int, float*, jina3_error**);
  jina3_status (*quantize)(const float*, size_t, int, jina3_precision, const float*, void*, size_t,
                           jina3_error**);
  jina3_status (*encoder_encode_tokens)(const jina3_encoder*, const char*, size_t, jina3_task,
                                        const jina3_encode_options*, jina3_tokens**, jina3_error**);
  size_t (*tokens_count)(const jina3_tokens*);
  size_t (*tokens_hidden)(const jina3_tokens*);
  const int32_t* (*tokens_ids)(const jina3_tokens*);
  const float* (*tokens_embeddings)(const jina3_tokens*);
  const int64_t* (*tokens_offsets)(const jina3_tokens*);
  bool (*tokens_truncated)(const jina3_tokens*);
  void (*tokens_free)(jina3_tokens*);
  void (*late_chunk_default_options)(jina3_late_chunk_options*, size_t);
  jina3_status (*encoder_late_chunk)(const jina3_encoder*, const char*, size_t, jina3_task, int, const size_t*,
                                     size_t, const jina3_late_chunk_options*, jina3_chunks**, jina3_error**);
  size_t (*chunks_count)(const jina3_chunks*);
  size_t (*chunks_dims)(const jina3_chunks*);
  const float* (*chunks_embeddings)(const jina3_chunks*);
  const size_t* (*chunks_spans)(const jina3_chunks*);
  const size_t* (*chunks_token_spans)(const jina3_chunks*);
  void (*chunks_free)(jina3_chunks*);
  /* Issue 16: priorities, cancellation, token-id input. */
  const char* (*priority_name)(jina3_priority);
  jina3_status (*priority_from_name)(const char*, jina3_priority*, jina3_error**);
  bool (*request_cancel)(jina3_request*);
  jina3_status (*encoder_submit_ids)(const jina3_encoder*, const int32_t* const*, const size_t*, size_t,
                                     const jina3_task*, size_t, int, const jina3_encode_options*,
                                     jina3_request_callback, void*, jina3_request**, jina3_error**);
  jina3_status (*encoder_encode_ids)(const jina3_encoder*, const int32_t* const*, const size_t*, size_t, jina3_task,
                                     int, const jina3_encode_options*, float*, size_t, uint8_t*, jina3_error**);
  int (*encoder_vocab_size)(const jina3_encoder*);
  size_t (*kernel_field_count)(void);
  const char* (*kernel_field_name)(size_t);
  jina3_status (*encoder_kernel_report)(const jina3_encoder*, const char*, const char**, jina3_error**);
} api = {
    jina3_version,          jina3_abi_version,        jina3_status_name,
    jina3_last_error,       jina3_error_code,         jina3_error_message,
    jina3_error_free,       jina3_task_name,          jina3_task_from_name,
    jina3_device_name,      jina3_device_from_name,   jina3_dtype_name,
    jina3_dtype_from_name,  jina3_encoder_default_options, jina3_encode_default_options,
    jina3_encoder_create,   jina3_encoder_free,       jina3_encoder_encode,
    jina3_encoder_encode_tasks, jina3_encoder_dims,   jina3_encoder_hidden_size,
    jina3_encoder_max_length, jina3_encoder_task_count, jina3_encoder_task,
    jina3_encoder_device,   jina3_encoder_dtype,      jina3_encoder_package_path,
    jina3_encoder_prompt,   jina3_encoder_submit,     jina3_request_wait,
    jina3_request_ready,    jina3_request_rows,       jina3_request_dims,
    jina3_request_free,     jina3_encoder_stats,
    jina3_precision_row_bytes, jina3_encoder_encode_quantized, jina3_calibration_ranges,
    jina3_quantize,         jina3_encoder_encode_tokens, jina3_tokens_count,
    jina3_tokens_hidden,    jina3_tokens_ids,         jina3_tokens_embeddings,
    jina3_tokens_offsets,   jina3_tokens_truncated,   jina3_tokens_free,
    jina3_late_chunk_default_options, jina3_encoder_late_chunk, jina3_chunks_count,
    jina3_chunks_dims,      jina3_chunks_embeddings,  jina3_chunks_spans,
    jina3_chunks_token_spans, jina3_chunks_free,
    jina3_priority_name,    jina3_priority_from_name, jina3_request_cancel,
    jina3_encoder_submit_ids, jina3_encoder_encode_ids, jina3_encoder_vocab_size,
    jina3_kernel_field_count, jina3_kernel_field_name, jina3_encoder_kernel_report,
};

/* A callback of the declared type (never called here: every submit below fails). */
static void on_ready(jina3_request* request, void* user_data) {
  (void)request;
  ++*(int*)user_data;
}

int main(void) {
  jina3_task task = JINA3_TASK_NONE;
  jina3_error* error = NULL;
  jina3_encoder* encoder = NULL;
  jina3_encoder_options encoder_options;
  jina3_encode_options encode_options;
  float out[4] = {0};
  const char* text = "x";
  jina3_request* request = NULL;
  jina3_stats stats;
  int calls = 0;

  EXPECT(api.abi_version() == JINA3_ABI_VERSION);
  EXPECT(strlen(api.version()) >= 5);
  EXPECT(strcmp(api.status_name(JINA3_ERR_MODEL_NOT_FOUND), "model_not_found") == 0);
  EXPECT(strcmp(api.last_error(), "") == 0); /* nothing failed yet on this thread */

  EXPECT(api.task_from_name("text-matching", &task, NULL) == JINA3_OK && task == JINA3_TASK_TEXT_MATCHING);
  EXPECT(strcmp(api.task_name(JINA3_TASK_RETRIEVAL_PASSAGE), "retrieval.passage") == 0);

  EXPECT(api.task_from_name("bogus", &task, &error) == JINA3_ERR_INVALID_ARGUMENT);
  EXPECT(task == JINA3_TASK_TEXT_MATCHING);
  EXPECT(api.error_code(error) == JINA3_ERR_INVALID_ARGUMENT);
  EXPECT(strstr(api.error_message(error), "bogus") != NULL);
  EXPECT(strcmp(api.error_message(error), api.last_error()) == 0);
  api.error_free(error);

  api.encoder_default_options(&encoder_options, sizeof encoder_options);
  EXPECT(encoder_options.struct_size == sizeof encoder_options);
  EXPECT(encoder_options.device == JINA3_DEVICE_CPU && encoder_options.verify_checksums &&
         encoder_options.retain_host_memory);
  api.encode_default_options(&encode_options, sizeof encode_options);
  EXPECT(encode_options.normalize && encode_options.truncate && encode_options.max_length == 0);

  error = NULL;
  EXPECT(api.encoder_create("/nonexistent/jina3/package", &encoder_options, &encoder, &error) ==
         JINA3_ERR_MODEL_NOT_FOUND);
  EXPECT(encoder == NULL);
  EXPECT(api.error_code(error) == JINA3_ERR_MODEL_NOT_FOUND);
  api.error_free(error);

  EXPECT(api.encoder_encode(NULL, &text, NULL, 1, JINA3_TASK_NONE, 0, NULL, out, 4, NULL, NULL) ==
         JINA3_ERR_INVALID_ARGUMENT);
  EXPECT(api.encoder_encode_tasks(NULL, &text, NULL, 1, &task, 0, NULL, out, 4, NULL, NULL) ==
         JINA3_ERR_INVALID_ARGUMENT);
  EXPECT(strstr(api.last_error(), "encoder is NULL") != NULL);
  EXPECT(api.encoder_hidden_size(NULL) == 0 && api.encoder_dims(NULL, NULL, 0) == 0);
  api.encoder_free(NULL);

  /* Serving: the new codes, options and the request calls that need no model. */
  EXPECT(JINA3_ERR_QUEUE_FULL == 10 && JINA3_ERR_DEADLINE_EXCEEDED == 11 && JINA3_ERR_CANCELLED == 12);
  EXPECT(strcmp(api.status_name(JINA3_ERR_QUEUE_FULL), "queue_full") == 0);
  EXPECT(strcmp(api.status_name(JINA3_ERR_DEADLINE_EXCEEDED), "deadline_exceeded") == 0);
  EXPECT(strcmp(api.status_name(JINA3_ERR_CANCELLED), "cancelled") == 0);
  EXPECT(encoder_options.use_scheduler && encoder_options.max_wait_us >= 0 && encoder_options.cache_bytes == 0);
  EXPECT(encode_options.deadline_us == 0 && encode_options.block_when_full);
  EXPECT(api.encoder_submit(NULL, &text, NULL, 1, &task, 1, 0, &encode_options, on_ready, &calls, &request, NULL) ==
         JINA3_ERR_INVALID_ARGUMENT);
  EXPECT(request == NULL && calls == 0);
  EXPECT(api.request_wait(NULL, out, 4, NULL, NULL) == JINA3_ERR_INVALID_ARGUMENT);
  EXPECT(!api.request_ready(NULL) && api.request_rows(NULL) == 0 && api.request_dims(NULL) == 0);
  api.request_free(NULL);
  stats.struct_size = sizeof stats;
  EXPECT(api.encoder_stats(NULL, &stats, NULL) == JINA3_ERR_INVALID_ARGUMENT);
  EXPECT(stats.struct_size == sizeof stats);

  /* Lanes, cancellation and token ids (issue 16): names, defaults and the calls that need no model. */
  {
    jina3_priority priority = JINA3_PRIORITY_BULK;
    const int32_t ids[2] = {0, 2};
    const int32_t* rows[1];
    size_t lengths[1];
    rows[0] = ids;
    lengths[0] = 2;
    EXPECT(JINA3_PRIORITY_INTERACTIVE == 0 && JINA3_PRIORITY_BULK == 1 && JINA3_PRIORITY_COUNT == 2);
    EXPECT(strcmp(api.priority_name(JINA3_PRIORITY_INTERACTIVE), "interactive") == 0);
    EXPECT(strcmp(api.priority_name(JINA3_PRIORITY_BULK), "bulk") == 0);
    EXPECT(api.priority_from_name("interactive", &priority, NULL) == JINA3_OK && priority == JINA3_PRIORITY_INTERACTIVE);
    EXPECT(api.priority_from_name("urgent", &priority, NULL) == JINA3_ERR_INVALID_ARGUMENT);
    EXPECT(priority == JINA3_PRIORITY_INTERACTIVE);
    EXPECT(encode_options.priority == JINA3_PRIORITY_INTERACTIVE && !encode_options.split_special_tokens);
    EXPECT(encoder_options.bulk_share == 0.25);
    EXPECT(!api.request_cancel(NULL));
    EXPECT(api.encoder_vocab_size(NULL) == 0);
    EXPECT(api.encoder_encode_ids(NULL, rows, lengths, 1, JINA3_TASK_NONE, 0, NULL, out, 4, NULL, NULL) ==
           JINA3_ERR_INVALID_ARGUMENT);
    request = NULL;
    EXPECT(api.encoder_submit_ids(NULL, rows, lengths, 1, &task, 1, 0, NULL, on_ready, &calls, &request, NULL) ==
           JINA3_ERR_INVALID_ARGUMENT);
    EXPECT(request == NULL && calls == 0);
    EXPECT(JINA3_HISTOGRAM_BUCKETS == 32 && sizeof stats.lanes / sizeof stats.lanes[0] == JINA3_PRIORITY_COUNT);
    EXPECT(sizeof stats.lanes[JINA3_PRIORITY_BULK].latency_us.buckets == JINA3_HISTOGRAM_BUCKETS * sizeof(uint64_t));
    EXPECT(offsetof(jina3_stats, cancelled) == offsetof(jina3_stats, pass_us) + sizeof(uint64_t));
  }

  /* The kernel report (issue 19): the field names, and the call without a model. */
  {
    const char* value = text;
    EXPECT(api.kernel_field_count() == 7);
    EXPECT(strcmp(api.kernel_field_name(0), "device") == 0 && strcmp(api.kernel_field_name(6), "notice") == 0);
    EXPECT(api.kernel_field_name(7) == NULL);
    EXPECT(api.encoder_kernel_report(NULL, "isa", &value, NULL) == JINA3_ERR_INVALID_ARGUMENT);
    EXPECT(value == text);
  }

  /* Outputs: sizes, defaults, and the calls that need no model. */
  {
    const float rows[4] = {0.5f, -1.0f, 1.5f, 1.0f}; /* 2 rows x 2 dims */
    float ranges[4] = {0};
    unsigned char bytes[4] = {0xAB, 0xAB, 0xAB, 0xAB};
    jina3_late_chunk_options chunk_options;
    jina3_tokens* tokens = NULL;
    jina3_chunks* chunks = NULL;
    EXPECT(api.precision_row_bytes(JINA3_PRECISION_UBINARY, 64) == 8 && api.precision_row_bytes(JINA3_PRECISION_FLOAT16, 3) == 6);
    EXPECT(api.calibration_ranges(rows, 2, 2, ranges, NULL) == JINA3_OK);
    EXPECT(ranges[0] == 0.5f && ranges[1] == -1.0f && ranges[2] == 1.5f && ranges[3] == 1.0f);
    EXPECT(api.quantize(rows, 2, 2, JINA3_PRECISION_UINT8, ranges, bytes, 4, NULL) == JINA3_OK);
    /* The maximum: floor(1 / (1 / 255)) in float32 is 254, as numpy computes it too. */
    EXPECT(bytes[0] == 0 && bytes[1] == 0 && bytes[2] == 254 && bytes[3] == 254);
    EXPECT(api.quantize(rows, 2, 2, JINA3_PRECISION_BINARY, NULL, bytes, 4, NULL) == JINA3_ERR_INVALID_ARGUMENT);
    EXPECT(api.encoder_encode_quantized(NULL, &text, NULL, 1, JINA3_TASK_NONE, 0, JINA3_PRECISION_INT8, NULL, NULL,
                                        bytes, 4, NULL, NULL) == JINA3_ERR_INVALID_ARGUMENT);
    EXPECT(api.encoder_encode_tokens(NULL, text, 1, JINA3_TASK_NONE, NULL, &tokens, NULL) == JINA3_ERR_INVALID_ARGUMENT);
    EXPECT(tokens == NULL && api.tokens_count(NULL) == 0 && api.tokens_hidden(NULL) == 0 && !api.tokens_truncated(NULL));
    EXPECT(api.tokens_ids(NULL) == NULL && api.tokens_embeddings(NULL) == NULL && api.tokens_offsets(NULL) == NULL);
    api.tokens_free(NULL);
    api.late_chunk_default_options(&chunk_options, sizeof chunk_options);
    EXPECT(chunk_options.struct_size == sizeof chunk_options && chunk_options.normalize &&
           chunk_options.include_special_tokens && chunk_options.chunk_tokens == 0 && chunk_options.overlap < 0);
    EXPECT(api.encoder_late_chunk(NULL, text, 1, JINA3_TASK_RETRIEVAL_PASSAGE, 0, NULL, 0, &chunk_options, &chunks,
                                  NULL) == JINA3_ERR_INVALID_ARGUMENT);
    EXPECT(chunks == NULL && api.chunks_count(NULL) == 0 && api.chunks_dims(NULL) == 0);
    EXPECT(api.chunks_embeddings(NULL) == NULL && api.chunks_spans(NULL) == NULL && api.chunks_token_spans(NULL) == NULL);
    api.chunks_free(NULL);
  }

  if (failures == 0) printf("jina3.h as C99: %d functions checked, all good\n", (int)(sizeof api / sizeof api.version));
  return failures == 0 ? 0 : 1;
}
