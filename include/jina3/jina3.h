/*
 * jina3.h: the C API of jina3 (jina-embeddings-v3 in-process). #include <jina3/jina3.h>
 *
 * This header is the reference documentation of the C ABI. It is plain C99, needs only
 * <stddef.h>, <stdint.h> and <stdbool.h>, and links against the one shared library, libjina3,
 * which also carries the C++ API (<jina3/jina3.hpp>).
 *
 * Conventions that hold for every function below:
 *
 *   Names       Functions jina3_<object>_<verb>, types jina3_*, macros and enum constants JINA3_*.
 *   Strings     All text, in and out, is UTF-8. Input strings are NUL-terminated unless a length
 *               is given. Returned strings are never NULL.
 *   Ownership   Inputs are borrowed for the duration of the call only. The library keeps no
 *               pointer to caller memory after a call returns (a request's user_data is kept,
 *               never dereferenced, and handed back to its callback). The only heap objects it
 *               hands out are jina3_encoder (free with jina3_encoder_free), jina3_request (free
 *               with jina3_request_free), jina3_error (free with jina3_error_free), jina3_tokens
 *               (free with jina3_tokens_free) and jina3_chunks (free with jina3_chunks_free);
 *               never release them, or anything else it returns, with free().
 *   Errors      Fallible functions return a jina3_status (JINA3_OK = 0) and are marked
 *               JINA3_NODISCARD. A failed call leaves its out-parameters untouched, except where
 *               a function says otherwise. The reason is available two ways:
 *                 - jina3_last_error(): a thread-local message, simplest from C and C++;
 *                 - the optional trailing `jina3_error** error` parameter: pass the address of a
 *                   NULL jina3_error* and, on failure, it receives an error object you own. Use
 *                   this from Go (cgo may run two consecutive C calls of one goroutine on
 *                   different OS threads) or anywhere a message must outlive the next call.
 *                 Pass NULL as `error` when the thread-local message is enough.
 *               No C++ exception and no abort crosses this interface.
 *   Options     Option structs start with `struct_size`. Fill them with the matching
 *               *_default_options(&options, sizeof options) function, then change the fields
 *               you need. Fields are only ever appended, so a program built against an older
 *               header keeps working with a newer library.
 *
 * Thread safety: jina3_encoder_encode(), jina3_encoder_encode_tasks(), jina3_encoder_submit()
 * and jina3_encoder_stats() may be called concurrently on one encoder from any number of
 * threads: the encoder's request scheduler merges the rows of concurrent calls into shared
 * forward passes. jina3_encoder_create() and jina3_encoder_free() must not overlap with any other
 * call on that encoder. Getters may be called from any thread while the encoder lives. Requests
 * (jina3_request) have their own rules, given with jina3_encoder_submit. Every other function is
 * thread-safe.
 */
#ifndef JINA3_JINA3_H
#define JINA3_JINA3_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* JINA3_API marks the exported functions. Building libjina3 defines jina3_EXPORTS (CMake does
   this for a shared target); a static build on Windows defines JINA3_STATIC_DEFINE. */
#if defined(_WIN32) || defined(__CYGWIN__)
#  if defined(JINA3_STATIC_DEFINE)
#    define JINA3_API
#  elif defined(jina3_EXPORTS)
#    define JINA3_API __declspec(dllexport)
#  else
#    define JINA3_API __declspec(dllimport)
#  endif
#elif defined(__GNUC__) || defined(__clang__)
#  define JINA3_API __attribute__((visibility("default")))
#else
#  define JINA3_API
#endif

/* JINA3_NODISCARD: the compiler warns when a returned status is ignored. */
#if defined(__GNUC__) || defined(__clang__)
#  define JINA3_NODISCARD __attribute__((warn_unused_result))
#else
#  define JINA3_NODISCARD
#endif

/* Version of this C ABI. It changes only when a function or struct changes incompatibly;
   appending functions or struct fields does not change it. Compare with jina3_abi_version()
   to detect a library that does not match this header. */
#define JINA3_ABI_VERSION 1

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------------------------ */
/* Enumerations. The values are stable ABI and equal the C++ enums (jina3::ErrorCode,         */
/* jina3::Task, jina3::Device, jina3::DType).                                                 */
/* ------------------------------------------------------------------------------------------ */

/* Result of every fallible call. */
typedef enum jina3_status {
  JINA3_OK = 0,
  JINA3_ERR_INVALID_ARGUMENT = 1, /* NULL pointer, unknown task, bad dims, invalid UTF-8, bad option */
  JINA3_ERR_INPUT_TOO_LONG = 2,   /* a text is over the token limit and truncation is off */
  JINA3_ERR_MODEL_NOT_FOUND = 3,  /* package directory or one of its files is missing */
  JINA3_ERR_MODEL_INVALID = 4,    /* corrupt file, checksum mismatch, bad manifest, bad tensor */
  JINA3_ERR_VERSION_MISMATCH = 5, /* package format, torch version, or options struct newer than the library */
  JINA3_ERR_DEVICE = 6,           /* device unavailable (CUDA absent) or dtype unsupported there */
  JINA3_ERR_BUFFER_TOO_SMALL = 7, /* caller's output buffer is too small; nothing was written */
  JINA3_ERR_OUT_OF_MEMORY = 8,    /* an allocation failed */
  JINA3_ERR_INTERNAL = 9,         /* anything else: a bug in jina3 or its dependencies */
  JINA3_ERR_QUEUE_FULL = 10,      /* the encoder's request queue is full and options->block_when_full is false */
  JINA3_ERR_DEADLINE_EXCEEDED = 11, /* the request had not started when options->deadline_us passed */
  JINA3_ERR_CANCELLED = 12        /* the encoder was freed before the request ran */
} jina3_status;

/* The five LoRA task adapters of jina-embeddings-v3. JINA3_TASK_NONE embeds without adapter
   and without prompt. Canonical names in comments (see jina3_task_name). */
typedef enum jina3_task {
  JINA3_TASK_NONE = -1,             /* "none" */
  JINA3_TASK_RETRIEVAL_QUERY = 0,   /* "retrieval.query" */
  JINA3_TASK_RETRIEVAL_PASSAGE = 1, /* "retrieval.passage" */
  JINA3_TASK_SEPARATION = 2,        /* "separation" */
  JINA3_TASK_CLASSIFICATION = 3,    /* "classification" */
  JINA3_TASK_TEXT_MATCHING = 4      /* "text-matching" */
} jina3_task;

typedef enum jina3_device {
  JINA3_DEVICE_CPU = 0, /* "cpu" */
  JINA3_DEVICE_CUDA = 1 /* "cuda" */
} jina3_device;

/* Numeric type of the backbone's weights and activations. Embeddings are always float32. */
typedef enum jina3_dtype {
  JINA3_DTYPE_AUTO = 0,     /* "auto": as stored in the package */
  JINA3_DTYPE_FLOAT32 = 1,  /* "float32" */
  JINA3_DTYPE_BFLOAT16 = 2, /* "bfloat16" */
  JINA3_DTYPE_FLOAT16 = 3,  /* "float16" */
  JINA3_DTYPE_INT8 = 4      /* "int8": dynamic int8 linear layers (CPU; chosen at export time) */
} jina3_dtype;

/* A call's lane in the encoder's scheduler (jina3::Priority). */
typedef enum jina3_priority {
  JINA3_PRIORITY_INTERACTIVE = 0, /* "interactive": the default, served first */
  JINA3_PRIORITY_BULK = 1         /* "bulk": keeps at least bulk_share of each step, never starves */
} jina3_priority;
#define JINA3_PRIORITY_COUNT 2

/* ------------------------------------------------------------------------------------------ */
/* Opaque handles.                                                                            */
/* ------------------------------------------------------------------------------------------ */

/* A loaded model package. Create with jina3_encoder_create, release with jina3_encoder_free. */
typedef struct jina3_encoder jina3_encoder;

/* The status and message of one failed call, owned by the caller. Release with
   jina3_error_free. Thread safety: immutable; may be read from any thread. */
typedef struct jina3_error jina3_error;

/* One asynchronous encode call (jina3_encoder_submit), owned by the caller until
   jina3_request_free. */
typedef struct jina3_request jina3_request;

/* ------------------------------------------------------------------------------------------ */
/* Library and errors.                                                                        */
/* ------------------------------------------------------------------------------------------ */

/* The library's version, "major.minor.patch". Static string: never free it. */
JINA3_API const char* jina3_version(void);

/* The JINA3_ABI_VERSION the library was built with. */
JINA3_API int jina3_abi_version(void);

/* Canonical lower-case name of a status, e.g. "invalid_argument"; "unknown" for a value that is
   not a jina3_status. Static string. */
JINA3_API const char* jina3_status_name(jina3_status status);

/* Message of the most recent failed call on the calling thread, or "" if none failed yet.
   Owned by the library and valid until the next jina3 call on this thread: copy it to keep it.
   Successful calls do not clear it. */
JINA3_API const char* jina3_last_error(void);

/* Status of an error object; JINA3_OK for NULL. */
JINA3_API jina3_status jina3_error_code(const jina3_error* error);

/* Message of an error object (never empty); "" for NULL. Owned by the error object and valid
   until jina3_error_free(error). */
JINA3_API const char* jina3_error_message(const jina3_error* error);

/* Releases an error object. NULL is a no-op. */
JINA3_API void jina3_error_free(jina3_error* error);

/* ------------------------------------------------------------------------------------------ */
/* Names of tasks, devices and dtypes.                                                        */
/* ------------------------------------------------------------------------------------------ */

/* Canonical name ("retrieval.query", ..., "none" for JINA3_TASK_NONE); "unknown" for a value
   that is not a jina3_task. Static string. */
JINA3_API const char* jina3_task_name(jina3_task task);

/* Looks a task up by canonical name. name: NUL-terminated; "" and "none" give JINA3_TASK_NONE.
   *task receives the task on success.
   Errors: JINA3_ERR_INVALID_ARGUMENT (NULL pointer, unknown name; the message lists the valid
   names). */
JINA3_NODISCARD JINA3_API jina3_status jina3_task_from_name(const char* name, jina3_task* task, jina3_error** error);

/* "cpu", "cuda"; "unknown" otherwise. Static string. */
JINA3_API const char* jina3_device_name(jina3_device device);

/* Parses "cpu", "cuda" or "cuda:N". *device receives the device; index, if not NULL, receives N
   (0 for "cpu" and "cuda").
   Errors: JINA3_ERR_INVALID_ARGUMENT (NULL name or device, unknown name). */
JINA3_NODISCARD JINA3_API jina3_status jina3_device_from_name(const char* name, jina3_device* device, int* index,
                                                              jina3_error** error);

/* "auto", "float32", "bfloat16", "float16", "int8"; "unknown" otherwise. Static string. */
JINA3_API const char* jina3_dtype_name(jina3_dtype dtype);

/* Parses a dtype name. Errors: JINA3_ERR_INVALID_ARGUMENT (NULL pointer, unknown name). */
JINA3_NODISCARD JINA3_API jina3_status jina3_dtype_from_name(const char* name, jina3_dtype* dtype, jina3_error** error);

/* "interactive", "bulk"; "unknown" otherwise. Static string. */
JINA3_API const char* jina3_priority_name(jina3_priority priority);
JINA3_NODISCARD JINA3_API jina3_status jina3_priority_from_name(const char* name, jina3_priority* priority,
                                                                jina3_error** error);

/* ------------------------------------------------------------------------------------------ */
/* Options. Same fields as the C++ jina3::EncoderOptions and jina3::EncodeOptions.            */
/* ------------------------------------------------------------------------------------------ */

/* Load-time settings, fixed for the lifetime of an encoder. */
typedef struct jina3_encoder_options {
  size_t struct_size;      /* sizeof(jina3_encoder_options), set by jina3_encoder_default_options */
  jina3_device device;     /* default JINA3_DEVICE_CPU */
  int device_index;        /* CUDA device ordinal; default 0 */
  jina3_dtype dtype;       /* JINA3_DTYPE_AUTO: the package's dtype; others cast at load */
  int num_threads;         /* intra-op threads for CPU inference, used by the encoder's worker thread;
                              0 = every CPU this process may run on (sched_getaffinity) */
  int max_batch_tokens;    /* padded tokens per forward pass; 0 = automatic for the device */
  int max_batch_size;      /* rows per forward pass; 0 = automatic for the device */
  bool verify_checksums;   /* check every package file's SHA-256 against the manifest at load; default true */
  bool retain_host_memory; /* CPU: keep freed memory in the process (glibc: no mmap for large blocks, no
                              trimming) so passes do not page-fault their working set back in;
                              process-wide and permanent once set; default true */
  /* Serving (appended; an older struct_size leaves these at their defaults). Every
     encode call, synchronous or not, is a request to the encoder's scheduler, which merges the
     rows of concurrent requests into shared forward passes. */
  int max_wait_us;         /* after a pass that completed several requests, wait up to this long for their
                              callers to come back before a smaller pass; 0 = never wait; default 2000 */
  int max_queued_requests; /* requests accepted and not completed, at most; when full, calls wait for room
                              (or fail with JINA3_ERR_QUEUE_FULL, see block_when_full); 0 = automatic (1024) */
  size_t cache_bytes;      /* LRU cache of embeddings of this size in bytes, keyed by exact text, task, dims
                              and the options that change a vector; 0 = off (default) */
  bool use_scheduler;      /* false: each call runs its own passes on the calling thread (no merging, no
                              queue bound); for comparisons; default true */
  /* Priority lanes (appended). */
  double bulk_share;       /* the share of a step's tokens that JINA3_PRIORITY_BULK rows keep while both lanes
                              have work, 0..1; default 0.25 */
  int bulk_pass_tokens;    /* padded tokens per pass of bulk rows at most, so that an interactive call never
                              waits behind a long bulk pass; 0 = automatic (CPU: 256; CUDA: bulk_share x
                              max_batch_tokens) */
} jina3_encoder_options;

/* Per-call settings. */
typedef struct jina3_encode_options {
  size_t struct_size; /* sizeof(jina3_encode_options), set by jina3_encode_default_options */
  int max_length;     /* token limit per text, <s> and </s> included; 0 = the package's max length */
  int batch_size;     /* rows per forward pass for this call; 0 = the encoder's limits */
  bool normalize;     /* L2-normalise each row after Matryoshka truncation; default true */
  bool truncate;      /* cut over-long texts to max_length; false: JINA3_ERR_INPUT_TOO_LONG; default true */
  /* Serving (appended; an older struct_size leaves these at their defaults). */
  int64_t deadline_us;  /* fail with JINA3_ERR_DEADLINE_EXCEEDED if none of the call's texts is in a forward
                           pass within this many microseconds of the call; 0 = no deadline (default) */
  bool block_when_full; /* queue full (max_queued_requests): true waits for room (up to deadline_us), false
                           fails at once with JINA3_ERR_QUEUE_FULL; default true */
  /* Appended. */
  jina3_priority priority;   /* the call's lane: JINA3_PRIORITY_INTERACTIVE (default; served first) or
                                JINA3_PRIORITY_BULK (at least bulk_share of each step while both have work) */
  bool split_special_tokens; /* true: "<s>", "</s>", "<unk>", "<pad>" and "<mask>" in a text are plain text;
                                false (default): they become their special ids, as Hugging Face's fast
                                tokenizer does */
} jina3_encode_options;

/* Writes the defaults (those of the C++ structs) into *options and sets options->struct_size.
   struct_size: pass sizeof(*options); it tells the library which header version you built with.
   NULL options, or a struct_size smaller than the struct_size field, writes nothing; the later
   call that uses the options then reports JINA3_ERR_INVALID_ARGUMENT. */
JINA3_API void jina3_encoder_default_options(jina3_encoder_options* options, size_t struct_size);
JINA3_API void jina3_encode_default_options(jina3_encode_options* options, size_t struct_size);

/* ------------------------------------------------------------------------------------------ */
/* Encoder.                                                                                   */
/* ------------------------------------------------------------------------------------------ */

/* Loads a model package directory (see docs/package-format.md).
   package_path: NUL-terminated UTF-8 path.
   options: NULL for the defaults, else filled by jina3_encoder_default_options.
   encoder: on success *encoder receives a new encoder; release it with jina3_encoder_free.
   Errors: JINA3_ERR_INVALID_ARGUMENT (NULL pointer, bad struct_size or option value),
   JINA3_ERR_MODEL_NOT_FOUND, JINA3_ERR_MODEL_INVALID, JINA3_ERR_VERSION_MISMATCH (package
   format or torch version, or options->struct_size larger than this library knows),
   JINA3_ERR_DEVICE, JINA3_ERR_OUT_OF_MEMORY.
   Thread safety: may run concurrently with calls on other encoders. */
JINA3_NODISCARD JINA3_API jina3_status jina3_encoder_create(const char* package_path,
                                                            const jina3_encoder_options* options,
                                                            jina3_encoder** encoder, jina3_error** error);

/* Releases an encoder. NULL is a no-op. A forward pass that is running finishes first; requests
   of jina3_encoder_submit not completed by then fail with JINA3_ERR_CANCELLED (their callbacks
   run inside this call) and stay valid until jina3_request_free.
   Thread safety: must not overlap with any other call on this encoder. */
JINA3_API void jina3_encoder_free(jina3_encoder* encoder);

/* Embeds count texts with one task and writes count x dims floats, row-major, rows in input
   order, to out.
   texts: count pointers to UTF-8 text. Empty texts are valid.
   lengths: NULL if every text is NUL-terminated; otherwise count byte lengths. With lengths, a
     text needs no terminating NUL, may contain NUL bytes, and may be NULL when its length is 0.
   task: the adapter and prompt; JINA3_TASK_NONE for neither.
   dims: 0 for the full size (jina3_encoder_hidden_size), or one of jina3_encoder_dims.
   options: NULL for the defaults, else filled by jina3_encode_default_options.
   out: caller buffer of out_capacity floats, at least count x dims. May be NULL when count is 0.
   truncated: NULL, or a caller buffer of count bytes that receives 1 where a text was cut to
     max_length and 0 elsewhere.
   Errors: JINA3_ERR_INVALID_ARGUMENT (NULL encoder/texts/out, NULL text without length, bad
   struct_size, unknown task or task not in the package, dims not offered, invalid UTF-8, option
   out of range), JINA3_ERR_INPUT_TOO_LONG (options->truncate false), JINA3_ERR_BUFFER_TOO_SMALL,
   JINA3_ERR_VERSION_MISMATCH (options->struct_size larger than this library knows),
   JINA3_ERR_QUEUE_FULL (options->block_when_full false), JINA3_ERR_DEADLINE_EXCEEDED
   (options->deadline_us), JINA3_ERR_OUT_OF_MEMORY, JINA3_ERR_INTERNAL. Every error except the
   last two is detected before anything is written; after JINA3_ERR_OUT_OF_MEMORY or
   JINA3_ERR_INTERNAL the contents of out are unspecified (truncated is still untouched).
   Thread safety: may be called concurrently on one encoder from any number of threads. The call
   is a request to the encoder's scheduler like jina3_encoder_submit, and blocks until it has
   completed: concurrent calls share forward passes, which run on the encoder's worker thread
   with options->num_threads intra-op threads. */
JINA3_NODISCARD JINA3_API jina3_status jina3_encoder_encode(const jina3_encoder* encoder, const char* const* texts,
                                                            const size_t* lengths, size_t count, jina3_task task,
                                                            int dims, const jina3_encode_options* options, float* out,
                                                            size_t out_capacity, uint8_t* truncated,
                                                            jina3_error** error);

/* Same as jina3_encoder_encode with one task per text: tasks points to count tasks. Rows with
   different tasks share forward passes. Errors as jina3_encoder_encode, plus
   JINA3_ERR_INVALID_ARGUMENT for NULL tasks.
   Thread safety: may be called concurrently on one encoder from any number of threads. */
JINA3_NODISCARD JINA3_API jina3_status jina3_encoder_encode_tasks(const jina3_encoder* encoder,
                                                                  const char* const* texts, const size_t* lengths,
                                                                  size_t count, const jina3_task* tasks, int dims,
                                                                  const jina3_encode_options* options, float* out,
                                                                  size_t out_capacity, uint8_t* truncated,
                                                                  jina3_error** error);

/* Getters: effective values after load. They cannot fail; for a NULL encoder they return 0,
   JINA3_TASK_NONE, JINA3_DEVICE_CPU, JINA3_DTYPE_FLOAT32 or "" as applicable.
   Thread safety: may be called from any thread while the encoder lives. */

/* Accepted Matryoshka dims, ascending. Returns how many there are and copies the first
   min(count, capacity) into dims (which may be NULL when capacity is 0): call once with
   capacity 0 to size the buffer. */
JINA3_API size_t jina3_encoder_dims(const jina3_encoder* encoder, int* dims, size_t capacity);

/* Full embedding size (the largest dims). */
JINA3_API int jina3_encoder_hidden_size(const jina3_encoder* encoder);

/* Token limit per text, <s> and </s> included. */
JINA3_API int jina3_encoder_max_length(const jina3_encoder* encoder);

/* Number of task adapters in the package, and the task at index (0 <= index < count;
   JINA3_TASK_NONE for an index out of range). */
JINA3_API size_t jina3_encoder_task_count(const jina3_encoder* encoder);
JINA3_API jina3_task jina3_encoder_task(const jina3_encoder* encoder, size_t index);

/* The device and dtype the encoder runs on (dtype is never JINA3_DTYPE_AUTO). */
JINA3_API jina3_device jina3_encoder_device(const jina3_encoder* encoder);
JINA3_API jina3_dtype jina3_encoder_dtype(const jina3_encoder* encoder);

/* The package directory the encoder was loaded from. Owned by the encoder, valid until
   jina3_encoder_free. */
JINA3_API const char* jina3_encoder_package_path(const jina3_encoder* encoder);

/* The instruction prepended to texts of a task ("" for JINA3_TASK_NONE). *prompt receives a
   NUL-terminated string owned by the encoder, valid until jina3_encoder_free.
   Errors: JINA3_ERR_INVALID_ARGUMENT (NULL pointer, unknown task or task not in the package).
   Thread safety: may be called from any thread while the encoder lives. */
JINA3_NODISCARD JINA3_API jina3_status jina3_encoder_prompt(const jina3_encoder* encoder, jina3_task task,
                                                            const char** prompt, jina3_error** error);

/* Which kernels the encoder runs (jina3::KernelReport), fixed at load: string fields named as the
   C++ struct's members (JINA3_KERNEL_FIELDS in jina3/kernels.hpp):
     "device"         where the model runs: "cpu", "cuda:0", ...
     "isa"            the host CPU's best instruction set in oneDNN's names ("avx512_core_bf16",
                      "avx512_core", "avx2", ...), capped by the environment variable JINA3_MAX_CPU_ISA
     "bf16"           "native" (AVX512-BF16 or AMX), "emulated", or "n/a" off the CPU
     "compute_dtype"  the activations' dtype: jina3_encoder_dtype's, but for int8 packages "bfloat16"
                      where bfloat16 is native and "float32" elsewhere
     "matmul"         what runs the matrix products, e.g. "oneDNN bf16 + jina3 avx512_bf16 (<= 48 rows)"
     "int8_engine"    int8 packages: the engine of their int8 products; "" otherwise
     "notice"         "" or advice, e.g. that bfloat16 is emulated on this CPU and an int8 package
                      runs faster (the CLI prints it at load, Python warns)
   jina3_kernel_field_count() and jina3_kernel_field_name(index) list the names in this order
   (NULL for an index out of range; static strings). *value receives a NUL-terminated string
   owned by the encoder, valid until jina3_encoder_free.
   Errors: JINA3_ERR_INVALID_ARGUMENT (NULL pointer, unknown field name).
   Thread safety: may be called from any thread while the encoder lives. */
JINA3_API size_t jina3_kernel_field_count(void);
JINA3_API const char* jina3_kernel_field_name(size_t index);
JINA3_NODISCARD JINA3_API jina3_status jina3_encoder_kernel_report(const jina3_encoder* encoder, const char* field,
                                                                   const char** value, jina3_error** error);

/* ------------------------------------------------------------------------------------------ */
/* Asynchronous requests.                                                                     */
/* ------------------------------------------------------------------------------------------ */

/* Called once when a request's result (or failure) is ready. request: the request it belongs
   to; user_data: as given to jina3_encoder_submit. */
typedef void (*jina3_request_callback)(jina3_request* request, void* user_data);

/* Queues count texts for embedding and returns at once; the result is collected with
   jina3_request_wait. Arguments as jina3_encoder_encode_tasks, except:
   texts, lengths: only read during this call (they may be freed or reused as soon as it returns).
   tasks: task_count tasks: 1 (used for every text) or count (one per text).
   callback: NULL, or a function called exactly once when the request is ready, whether it
     succeeded or failed, with request and user_data. It runs on the encoder's worker thread (or
     inside this call, before it returns, when the request completed at once, e.g. for count 0;
     or inside jina3_encoder_free for a cancelled request). It must be quick (it holds up every
     request behind it) and must not call jina3_encoder_free. It may call jina3_request_ready,
     jina3_request_wait (which then does not block) and jina3_request_free on its request.
   request: on success *request receives the new request, which the caller owns and must release
     with jina3_request_free, completed or not.
   Errors (synchronous: no request is created and the callback is never called):
   JINA3_ERR_INVALID_ARGUMENT (NULL encoder/texts/tasks/request, task_count neither 1 nor count,
   and the argument errors of jina3_encoder_encode), JINA3_ERR_INPUT_TOO_LONG,
   JINA3_ERR_VERSION_MISMATCH, JINA3_ERR_QUEUE_FULL (queue full and options->block_when_full
   false), JINA3_ERR_DEADLINE_EXCEEDED (still no room when options->deadline_us passed),
   JINA3_ERR_OUT_OF_MEMORY. Failures after the request was queued are reported by
   jina3_request_wait.
   Thread safety: may be called concurrently on one encoder from any number of threads. */
JINA3_NODISCARD JINA3_API jina3_status jina3_encoder_submit(const jina3_encoder* encoder, const char* const* texts,
                                                            const size_t* lengths, size_t count,
                                                            const jina3_task* tasks, size_t task_count, int dims,
                                                            const jina3_encode_options* options,
                                                            jina3_request_callback callback, void* user_data,
                                                            jina3_request** request, jina3_error** error);

/* Blocks until the request is ready, then copies its rows x dims floats (jina3_request_rows x
   jina3_request_dims), row-major, rows in input order, to out, and its rows truncation flags to
   truncated (NULL, or a buffer of rows bytes). The result stays in the request until
   jina3_request_free, so wait may be called again (e.g. with a bigger buffer).
   out: out_capacity floats, at least rows x dims; may be NULL when rows is 0.
   Errors: JINA3_ERR_INVALID_ARGUMENT (NULL request, NULL out; found without waiting),
   JINA3_ERR_BUFFER_TOO_SMALL (the request succeeded but out_capacity is short: nothing written),
   and the request's own failure, the same each time it is asked: JINA3_ERR_DEADLINE_EXCEEDED,
   JINA3_ERR_CANCELLED (its encoder was freed first), JINA3_ERR_OUT_OF_MEMORY, JINA3_ERR_INTERNAL.
   A failed call writes nothing to out or truncated.
   Thread safety: may be called from any thread, also from the request's callback and from
   several threads at once; not concurrently with jina3_request_free of the same request. */
JINA3_NODISCARD JINA3_API jina3_status jina3_request_wait(jina3_request* request, float* out, size_t out_capacity,
                                                          uint8_t* truncated, jina3_error** error);

/* Cancels a request that has not completed: its queued texts leave the encoder's queue, its
   forward passes that have not started are skipped (one already running finishes first) and it
   fails with JINA3_ERR_CANCELLED (jina3_request_wait reports it; the callback, if any, is called
   as for any failure). Returns true if this call cancelled it, false when it had already
   completed or failed, or for NULL. The request must still be freed with jina3_request_free.
   Thread safety: may be called from any thread, also from several at once and while another
   thread waits on the request; not concurrently with jina3_request_free of the same request. */
JINA3_API bool jina3_request_cancel(jina3_request* request);

/* Texts given as token ids: ids[i] points to lengths[i] ids, the text's own tokens without <s>,
   </s> or the task prompt, which the encoder adds as for a string. Every id must be below
   jina3_encoder_vocab_size (else JINA3_ERR_INVALID_ARGUMENT, naming the text and position); the
   length counts against max_length as for a string. Otherwise as jina3_encoder_submit. */
JINA3_NODISCARD JINA3_API jina3_status jina3_encoder_submit_ids(const jina3_encoder* encoder,
                                                                const int32_t* const* ids, const size_t* lengths,
                                                                size_t count, const jina3_task* tasks,
                                                                size_t task_count, int dims,
                                                                const jina3_encode_options* options,
                                                                jina3_request_callback callback, void* user_data,
                                                                jina3_request** request, jina3_error** error);

/* The synchronous form of jina3_encoder_submit_ids, with the output rules of jina3_encoder_encode. */
JINA3_NODISCARD JINA3_API jina3_status jina3_encoder_encode_ids(const jina3_encoder* encoder,
                                                                const int32_t* const* ids, const size_t* lengths,
                                                                size_t count, jina3_task task, int dims,
                                                                const jina3_encode_options* options, float* out,
                                                                size_t out_capacity, uint8_t* truncated,
                                                                jina3_error** error);

/* The vocabulary size: token ids are below it. 0 for NULL. */
JINA3_API int jina3_encoder_vocab_size(const jina3_encoder* encoder);

/* Whether jina3_request_wait would return without blocking (the request completed or failed).
   Never blocks; false for NULL. It is true when the callback runs and after a wait returned. */
JINA3_API bool jina3_request_ready(const jina3_request* request);

/* The shape of the request's result: the count and the dims (the full size for dims 0) given
   to jina3_encoder_submit; 0 for NULL. Known at once, before the request is ready. */
JINA3_API size_t jina3_request_rows(const jina3_request* request);
JINA3_API int jina3_request_dims(const jina3_request* request);

/* Releases a request. NULL is a no-op. It may be called at any time: before completion the
   request is detached (it still runs, its result is dropped and its callback is not called after
   this function returns; a callback already running on another thread is waited for), and after
   jina3_encoder_free of its encoder. Thread safety: must not overlap with any other call on this
   request, except from within its own callback. */
JINA3_API void jina3_request_free(jina3_request* request);

/* ------------------------------------------------------------------------------------------ */
/* Statistics.                                                                                */
/* ------------------------------------------------------------------------------------------ */

/* A histogram (jina3::Histogram): buckets[i] counts the values v with 2^(i-1) < v <= 2^i
   (buckets[0]: v <= 1); the last bucket counts everything larger. Not cumulative. */
#define JINA3_HISTOGRAM_BUCKETS 32
typedef struct jina3_histogram {
  uint64_t buckets[JINA3_HISTOGRAM_BUCKETS];
  uint64_t count;
  uint64_t sum;
} jina3_histogram;

/* One lane's counters and histograms (jina3::LaneStats). */
typedef struct jina3_lane_stats {
  uint64_t requests;       /* requests accepted in this lane */
  uint64_t rows;           /* their rows */
  uint64_t passes;         /* forward passes of this lane's rows (a pass holds one lane's rows only) */
  uint64_t tokens;         /* real tokens in those passes */
  uint64_t padded_tokens;  /* rows x longest row over those passes; padded_tokens / tokens: the padding ratio */
  uint64_t cancelled;      /* requests cancelled by their caller */
  uint64_t cancelled_rows; /* rows of cancelled requests that never ran */
  jina3_histogram latency_us;      /* from the call to its completion (successful requests), microseconds */
  jina3_histogram queue_wait_us;   /* from the call to the request's first forward pass, microseconds */
  jina3_histogram rows_per_pass;   /* rows in each pass */
  jina3_histogram tokens_per_pass; /* real tokens in each pass */
} jina3_lane_stats;

/* Counters of one encoder since it was loaded, as jina3::EncoderStats. Times in microseconds.
   Fields are only ever appended. */
typedef struct jina3_stats {
  size_t struct_size;         /* set to sizeof(jina3_stats) before the call; on return, the bytes written */
  uint64_t requests;          /* calls accepted (encode, encode_tasks, submit), cache-only ones included */
  uint64_t rows;              /* texts in those calls */
  uint64_t passes;            /* forward passes run */
  uint64_t tokens;            /* real tokens in those passes */
  uint64_t padded_tokens;     /* rows x longest row, summed over passes (>= tokens) */
  uint64_t queue_depth;       /* requests accepted and not yet completed, now */
  uint64_t max_queue_depth;   /* the largest queue_depth seen */
  uint64_t rejected;          /* calls refused with JINA3_ERR_QUEUE_FULL */
  uint64_t deadline_exceeded; /* requests failed with JINA3_ERR_DEADLINE_EXCEEDED */
  uint64_t failed;            /* requests failed by a pass (out of memory, ...) or by jina3_encoder_free */
  uint64_t cache_hits;        /* rows answered from the cache */
  uint64_t cache_misses;      /* rows looked up and not found (0 while the cache is off) */
  uint64_t cache_evictions;   /* entries dropped to stay within cache_bytes */
  uint64_t cache_bytes;       /* bytes the cache holds now */
  uint64_t cache_entries;     /* entries the cache holds now */
  uint64_t queue_wait_us;     /* summed over requests: from the call to its first forward pass */
  uint64_t pass_us;           /* summed over passes: time inside forward passes and pooling */
  uint64_t cancelled;         /* requests cancelled by their caller (jina3_request_cancel, ...) */
  /* Per lane, indexed by jina3_priority (appended). */
  jina3_lane_stats lanes[JINA3_PRIORITY_COUNT];
} jina3_stats;

/* Reads the encoder's counters. stats->struct_size must be set first (sizeof *stats): the
   library writes only the fields that fit in it, so a program built with an older header keeps
   working, and then sets stats->struct_size to the bytes it wrote (smaller than yours when the
   library is older than your header).
   Errors: JINA3_ERR_INVALID_ARGUMENT (NULL encoder or stats, struct_size too small for the first
   counter); then *stats is untouched.
   Thread safety: may be called concurrently with any call on the encoder but create and free. */
JINA3_NODISCARD JINA3_API jina3_status jina3_encoder_stats(const jina3_encoder* encoder, jina3_stats* stats,
                                                           jina3_error** error);

/* ------------------------------------------------------------------------------------------ */
/* Outputs beyond float32 sentence embeddings (as jina3/outputs.hpp): quantised rows, token    */
/* embeddings with offsets, late chunking.                                                    */
/* ------------------------------------------------------------------------------------------ */

/* Element type of an output row; values equal jina3::Precision. int8/uint8 quantise each
   dimension over [min, max] in 256 steps; binary/ubinary pack bit (x > 0) 8 dims per byte, dim 0
   the most significant bit (binary is ubinary - 128 as int8). */
typedef enum jina3_precision {
  JINA3_PRECISION_FLOAT32 = 0, /* dims floats */
  JINA3_PRECISION_FLOAT16 = 1, /* dims IEEE half floats (uint16 bits) */
  JINA3_PRECISION_INT8 = 2,    /* dims int8 */
  JINA3_PRECISION_UINT8 = 3,   /* dims uint8 */
  JINA3_PRECISION_BINARY = 4,  /* dims / 8 int8 */
  JINA3_PRECISION_UBINARY = 5  /* dims / 8 uint8 */
} jina3_precision;

/* Bytes one row of dims dimensions takes in precision; 0 for an unknown precision or dims < 0. */
JINA3_API size_t jina3_precision_row_bytes(jina3_precision precision, int dims);

/* jina3_encoder_encode followed by the precision stage: count x jina3_precision_row_bytes(precision,
   dims) bytes, row-major, rows in input order, to out (dims 0: the full size).
   ranges: for int8/uint8, NULL (ranges from this call's rows) or 2 x dims floats, the min row then
     the max row (store a corpus's ranges and pass them for its queries); ignored otherwise.
   out: out_capacity_bytes bytes; may be NULL when count is 0.
   Errors: those of jina3_encoder_encode, plus JINA3_ERR_INVALID_ARGUMENT for an unknown precision,
   a packed precision with dims not a multiple of 8, or max <= min in ranges, and
   JINA3_ERR_BUFFER_TOO_SMALL when out_capacity_bytes < count x row bytes (checked before any
   pass). A failed call writes nothing to out or truncated. */
JINA3_NODISCARD JINA3_API jina3_status jina3_encoder_encode_quantized(
    const jina3_encoder* encoder, const char* const* texts, const size_t* lengths, size_t count, jina3_task task,
    int dims, jina3_precision precision, const float* ranges, const jina3_encode_options* options, void* out,
    size_t out_capacity_bytes, uint8_t* truncated, jina3_error** error);

/* The int8/uint8 ranges of a calibration set: rows x dims float32 values, row-major, to ranges
   (2 x dims floats: the min row, then the max row). Store them with a corpus and pass them to
   jina3_encoder_encode_quantized or jina3_quantize for its queries, so both quantise alike.
   Errors: JINA3_ERR_INVALID_ARGUMENT (NULL values or ranges, rows 0, dims < 1). A failed call
   writes nothing to ranges. */
JINA3_NODISCARD JINA3_API jina3_status jina3_calibration_ranges(const float* values, size_t rows, int dims,
                                                                float* ranges, jina3_error** error);

/* The precision stage alone, for float32 rows the caller already has: rows x dims values to
   rows x jina3_precision_row_bytes(precision, dims) bytes in out. ranges: as in
   jina3_encoder_encode_quantized (NULL: computed from these rows).
   Errors: JINA3_ERR_INVALID_ARGUMENT (NULL values or out with rows > 0, dims < 1, unknown
   precision, packed precision with dims not a multiple of 8, max <= min in ranges),
   JINA3_ERR_BUFFER_TOO_SMALL. A failed call writes nothing to out. */
JINA3_NODISCARD JINA3_API jina3_status jina3_quantize(const float* values, size_t rows, int dims,
                                                      jina3_precision precision, const float* ranges, void* out,
                                                      size_t out_capacity_bytes, jina3_error** error);

/* One text's token embeddings (final hidden states with the task's adapter, before pooling).
   Owned by the caller; release with jina3_tokens_free. Immutable: read from any thread. */
typedef struct jina3_tokens jina3_tokens;

/* Runs one text and returns its tokens: <s>, the task's prompt, the text, </s>, truncated (or
   JINA3_ERR_INPUT_TOO_LONG) as options say (normalize and batch_size do not apply).
   text: UTF-8, length bytes; length SIZE_MAX for a NUL-terminated text; may be NULL when length is 0.
   tokens: on success *tokens receives a new object.
   Errors: JINA3_ERR_INVALID_ARGUMENT (NULL encoder or tokens, NULL text with a length, unknown
   task, invalid UTF-8, bad options), JINA3_ERR_INPUT_TOO_LONG, JINA3_ERR_VERSION_MISMATCH,
   JINA3_ERR_OUT_OF_MEMORY, JINA3_ERR_INTERNAL. *tokens is untouched on failure.
   Thread safety: as jina3_encoder_encode. */
JINA3_NODISCARD JINA3_API jina3_status jina3_encoder_encode_tokens(const jina3_encoder* encoder, const char* text,
                                                                   size_t length, jina3_task task,
                                                                   const jina3_encode_options* options,
                                                                   jina3_tokens** tokens, jina3_error** error);

/* Getters; 0 or NULL for a NULL object. Arrays are owned by the object (valid until
   jina3_tokens_free). count: tokens; hidden: floats per token; ids: count ids; embeddings:
   count x hidden floats; offsets: count x 2 [begin, end) byte offsets into the text, -1 -1 for
   <s>, </s> and the prompt's tokens. truncated: whether the text was cut to max_length. */
JINA3_API size_t jina3_tokens_count(const jina3_tokens* tokens);
JINA3_API size_t jina3_tokens_hidden(const jina3_tokens* tokens);
JINA3_API const int32_t* jina3_tokens_ids(const jina3_tokens* tokens);
JINA3_API const float* jina3_tokens_embeddings(const jina3_tokens* tokens);
JINA3_API const int64_t* jina3_tokens_offsets(const jina3_tokens* tokens);
JINA3_API bool jina3_tokens_truncated(const jina3_tokens* tokens);

/* Releases a tokens object. NULL is a no-op. */
JINA3_API void jina3_tokens_free(jina3_tokens* tokens);

/* Options of jina3_encoder_late_chunk (as jina3::LateChunkOptions). At most one way of choosing
   chunks: spans (an argument), chunk_tokens or sentences; none: the whole text is one chunk. */
typedef struct jina3_late_chunk_options {
  size_t struct_size;          /* sizeof(jina3_late_chunk_options), set by jina3_late_chunk_default_options */
  int chunk_tokens;            /* chunks of this many content tokens; 0 = not set (default) */
  int sentences;               /* chunks of this many sentences; 0 = not set (default) */
  int window;                  /* macro window in tokens for long texts; 0 = the package's max_length */
  int overlap;                 /* tokens shared by consecutive windows; negative = default (512, or
                                  window / 2 for windows under 1024), the default */
  bool normalize;              /* L2-normalise each chunk vector; default true */
  bool include_special_tokens; /* first/last chunk also pool <s>, the prompt and </s>; default true */
} jina3_late_chunk_options;

/* Writes the defaults into *options, as jina3_encode_default_options. */
JINA3_API void jina3_late_chunk_default_options(jina3_late_chunk_options* options, size_t struct_size);

/* One text's chunk embeddings. Owned by the caller; release with jina3_chunks_free. */
typedef struct jina3_chunks jina3_chunks;

/* Late chunking of one text: it runs through the model whole (long texts as overlapping windows,
   never truncated) and each chunk's vector is the mean of its tokens' states, cut to dims (0: full
   size) and normalised as options say.
   text, length: as jina3_encoder_encode_tokens.
   spans: NULL, or span_count x 2 [begin, end) byte offsets into the text, the chunks to embed.
   options: NULL for the defaults, else filled by jina3_late_chunk_default_options.
   chunks: on success *chunks receives a new object.
   Errors: JINA3_ERR_INVALID_ARGUMENT (NULL encoder or chunks, NULL spans with span_count > 0,
   spans outside the text, reversed or inside a UTF-8 sequence, more than one way of choosing
   chunks, chunk_tokens or sentences < 0, window or overlap out of range, unknown task, dims not
   offered, invalid UTF-8, bad struct_size), JINA3_ERR_VERSION_MISMATCH, JINA3_ERR_OUT_OF_MEMORY,
   JINA3_ERR_INTERNAL. *chunks is untouched on failure. Thread safety: as jina3_encoder_encode. */
JINA3_NODISCARD JINA3_API jina3_status jina3_encoder_late_chunk(const jina3_encoder* encoder, const char* text,
                                                                size_t length, jina3_task task, int dims,
                                                                const size_t* spans, size_t span_count,
                                                                const jina3_late_chunk_options* options,
                                                                jina3_chunks** chunks, jina3_error** error);

/* Getters; 0 or NULL for a NULL object. Arrays owned by the object. count: chunks; dims: floats
   per chunk; embeddings: count x dims; spans: count x 2 [begin, end) byte offsets into the text;
   token_spans: count x 2 [begin, end) token indices in the full sequence. */
JINA3_API size_t jina3_chunks_count(const jina3_chunks* chunks);
JINA3_API size_t jina3_chunks_dims(const jina3_chunks* chunks);
JINA3_API const float* jina3_chunks_embeddings(const jina3_chunks* chunks);
JINA3_API const size_t* jina3_chunks_spans(const jina3_chunks* chunks);
JINA3_API const size_t* jina3_chunks_token_spans(const jina3_chunks* chunks);

/* Releases a chunks object. NULL is a no-op. */
JINA3_API void jina3_chunks_free(jina3_chunks* chunks);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* JINA3_JINA3_H */
