/* Leak check of the C API, built with LeakSanitizer and run by ctest (capi.leaks): CYCLES rounds
 * of create / encode (successes and failures, with and without error objects) / submit and wait
 * (requests freed after, before and from their completion, and after their encoder) / stats /
 * free, plus failed creates. Any leaked block makes LeakSanitizer fail the process at exit.
 *
 *   leak_check PACKAGE_DIR CYCLES [--leak-on-purpose]
 *
 * --leak-on-purpose skips one jina3_encoder_free and one jina3_error_free: the control that shows
 * the detector is live.
 *
 * Written in C99 so that it also shows the API used from plain C. Exits 0 when every call
 * returned what it should, 1 otherwise.
 */
#include <jina3/jina3.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures = 0;

static void expect(int condition, const char* what) {
  if (!condition) {
    fprintf(stderr, "leak_check: unexpected result: %s (last error: %s)\n", what, jina3_last_error());
    ++failures;
  }
}

/* A failing call must return the code and hand over an error object carrying it, which is freed
   here. The object is passed by address: it must be read after the call in the first argument. */
static void expect_error(jina3_status status, jina3_error** error, jina3_status expected, const char* what) {
  expect(status == expected, what);
  expect(*error != NULL && jina3_error_code(*error) == expected && jina3_error_message(*error)[0] != '\0', what);
  jina3_error_free(*error);
  *error = NULL;
}

/* A callback that reads its request's state: the request is alive while it runs. */
static void note_ready(jina3_request* request, void* user_data) {
  (void)user_data;
  (void)jina3_request_ready(request);
}

/* A callback that owns its request and frees it. */
static void free_request(jina3_request* request, void* user_data) {
  (void)user_data;
  jina3_request_free(request);
}

static void requests(jina3_encoder* encoder, const char* const* texts, size_t count, float* out, size_t hidden) {
  jina3_request* request = NULL;
  jina3_error* error = NULL;
  jina3_stats stats;
  const jina3_task task = JINA3_TASK_RETRIEVAL_QUERY;

  /* Submit, a short buffer, then the result. */
  expect(jina3_encoder_submit(encoder, texts, NULL, count, &task, 1, 0, NULL, note_ready, NULL, &request, NULL) ==
             JINA3_OK, "submit");
  expect_error(jina3_request_wait(request, out, hidden * count - 1, NULL, &error), &error, JINA3_ERR_BUFFER_TOO_SMALL,
               "wait with a short buffer");
  expect(jina3_request_wait(request, out, hidden * count, NULL, NULL) == JINA3_OK, "wait");
  jina3_request_free(request);

  /* Freed before it completes (detached), and freed by its own callback. */
  request = NULL;
  expect(jina3_encoder_submit(encoder, texts, NULL, count, &task, 1, 0, NULL, note_ready, NULL, &request, NULL) ==
             JINA3_OK, "submit, then free at once");
  jina3_request_free(request);
  request = NULL;
  expect(jina3_encoder_submit(encoder, texts, NULL, count, &task, 1, 0, NULL, free_request, NULL, &request, NULL) ==
             JINA3_OK, "submit, freed by the callback");

  /* A synchronous submit error. */
  request = NULL;
  expect_error(jina3_encoder_submit(encoder, texts, NULL, count, &task, 1, 3, NULL, NULL, NULL, &request, &error),
               &error, JINA3_ERR_INVALID_ARGUMENT, "submit with bad dims");
  expect(request == NULL, "failed submit leaves *request alone");

  stats.struct_size = sizeof stats;
  expect(jina3_encoder_stats(encoder, &stats, NULL) == JINA3_OK && stats.requests > 0, "stats");

  /* Still queued or running when the encoder goes: freed after it, completed or cancelled. */
  expect(jina3_encoder_submit(encoder, texts, NULL, count, &task, 1, 0, NULL, note_ready, NULL, &request, NULL) ==
             JINA3_OK, "submit before jina3_encoder_free");
  jina3_encoder_free(encoder);
  {
    const jina3_status status = jina3_request_wait(request, out, hidden * count, NULL, &error);
    expect(status == JINA3_OK || status == JINA3_ERR_CANCELLED, "wait after jina3_encoder_free");
    jina3_error_free(error);
  }
  jina3_request_free(request);
}

static void cycle(const char* package, const char* missing, int leak_on_purpose) {
  static const char* const texts[] = {"What is the capital of France?", "Paris is the capital of France.", ""};
  const size_t count = sizeof texts / sizeof texts[0];
  jina3_encoder* encoder = NULL;
  jina3_error* error = NULL;
  jina3_encoder_options options;
  jina3_encode_options encode_options;
  float* out;
  uint8_t truncated[3];
  size_t hidden;
  jina3_task tasks[3] = {JINA3_TASK_RETRIEVAL_QUERY, JINA3_TASK_RETRIEVAL_PASSAGE, JINA3_TASK_NONE};

  expect_error(jina3_encoder_create(missing, NULL, &encoder, &error), &error, JINA3_ERR_MODEL_NOT_FOUND,
               "create from a missing package");
  expect(encoder == NULL, "failed create leaves *encoder alone");

  jina3_encoder_default_options(&options, sizeof options);
  options.num_threads = 1;
  if (jina3_encoder_create(package, &options, &encoder, NULL) != JINA3_OK) {
    expect(0, "create");
    return;
  }
  hidden = (size_t)jina3_encoder_hidden_size(encoder);
  out = malloc(sizeof(float) * hidden * count);
  if (out == NULL) {
    jina3_encoder_free(encoder);
    expect(0, "malloc");
    return;
  }

  expect(jina3_encoder_encode(encoder, texts, NULL, count, JINA3_TASK_RETRIEVAL_PASSAGE, 0, NULL, out, hidden * count,
                              truncated, NULL) == JINA3_OK, "encode");
  expect(jina3_encoder_encode_tasks(encoder, texts, NULL, count, tasks, 8, NULL, out, 8 * count, NULL, NULL) == JINA3_OK,
         "encode_tasks");

  expect_error(jina3_encoder_encode(encoder, texts, NULL, count, JINA3_TASK_NONE, 0, NULL, out, hidden * count - 1,
                                    NULL, &error),
               &error, JINA3_ERR_BUFFER_TOO_SMALL, "buffer too small");
  expect_error(jina3_encoder_encode(encoder, texts, NULL, count, (jina3_task)11, 0, NULL, out, hidden * count, NULL,
                                    &error),
               &error, JINA3_ERR_INVALID_ARGUMENT, "unknown task");
  jina3_encode_default_options(&encode_options, sizeof encode_options);
  encode_options.truncate = false;
  encode_options.max_length = 4;
  expect_error(jina3_encoder_encode(encoder, texts, NULL, count, JINA3_TASK_NONE, 0, &encode_options, out,
                                    hidden * count, NULL, &error),
               &error, JINA3_ERR_INPUT_TOO_LONG, "input too long");
  /* A failure reported only through the thread-local message. */
  expect(jina3_encoder_encode(encoder, texts, NULL, count, JINA3_TASK_NONE, 3, NULL, out, hidden * count, NULL, NULL) ==
             JINA3_ERR_INVALID_ARGUMENT,
         "bad dims");
  expect(strlen(jina3_last_error()) > 0, "last error set");

  if (!leak_on_purpose) {
    requests(encoder, texts, count, out, hidden); /* frees the encoder */
    free(out);
    return;
  }
  free(out);
  /* Besides the encoder (whose blocks a stale pointer somewhere in LibTorch's threads can make
     look reachable to LSan's conservative scan), leak an error report: a plain block that nothing
     else can point to. */
  expect(jina3_encoder_create(missing, NULL, &encoder, &error) == JINA3_ERR_MODEL_NOT_FOUND, "leaked error");
}

int main(int argc, char** argv) {
  char missing[4096];
  int cycles, i, leak_on_purpose;
  if (argc < 3 || argc > 4 || (argc == 4 && strcmp(argv[3], "--leak-on-purpose") != 0)) {
    fprintf(stderr, "usage: %s PACKAGE_DIR CYCLES [--leak-on-purpose]\n", argv[0]);
    return 2;
  }
  leak_on_purpose = argc == 4;
  cycles = atoi(argv[2]);
  if (snprintf(missing, sizeof missing, "%s/no-such-package", argv[1]) >= (int)sizeof missing) return 2;
  for (i = 0; i < cycles; ++i) cycle(argv[1], missing, leak_on_purpose && i == 0);
  printf("leak_check: %d cycles, %d unexpected results\n", cycles, failures);
  return failures == 0 ? 0 : 1;
}
