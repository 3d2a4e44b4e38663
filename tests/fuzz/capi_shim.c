/* The calls of fuzz_capi_encode that pass a jina3_task by value, made from C: a C program may
   pass any int as an enum (C enums are int-compatible), while a C++ caller converting an int
   outside the enum's range would itself be undefined behaviour, which UBSan would report in the
   fuzzer instead of testing the library. */
#include <jina3/jina3.h>

jina3_status jina3_fuzz_encode(const jina3_encoder* encoder, const char* const* texts, const size_t* lengths,
                               size_t count, int task, int dims, const jina3_encode_options* options, float* out,
                               size_t out_capacity, uint8_t* truncated, jina3_error** error) {
  return jina3_encoder_encode(encoder, texts, lengths, count, (jina3_task)task, dims, options, out, out_capacity,
                              truncated, error);
}

jina3_status jina3_fuzz_prompt(const jina3_encoder* encoder, int task, const char** prompt, jina3_error** error) {
  return jina3_encoder_prompt(encoder, (jina3_task)task, prompt, error);
}
