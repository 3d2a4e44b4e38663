//! Raw declarations of the jina3 C API, one for one with `include/jina3/jina3.h` (read that header
//! for what every function does). Names, argument names and struct fields are the C ones.
//!
//! C enums are `c_int` type aliases with `pub const` values, so a value the library returns is
//! never an invalid Rust enum. Structs are `#[repr(C)]`; `tests/drift.rs` compiles a C program
//! against the header and checks every struct's size and field offsets, every function's
//! signature, every constant and every symbol in the library against this file.
//!
//! Linking: `build.rs` finds libjina3 through `JINA3_LIB_DIR` or `pkg-config jina3`.
#![allow(non_camel_case_types)]

/// `char`, `int` and `void` of the C header (std::os::raw: the crate builds with Rust 1.63).
pub use std::os::raw::{c_char, c_int, c_void};

// ---------------------------------------------------------------------------------------------
// Enumerations (values are stable ABI).
// ---------------------------------------------------------------------------------------------

pub type jina3_status = c_int;
pub const JINA3_OK: jina3_status = 0;
pub const JINA3_ERR_INVALID_ARGUMENT: jina3_status = 1;
pub const JINA3_ERR_INPUT_TOO_LONG: jina3_status = 2;
pub const JINA3_ERR_MODEL_NOT_FOUND: jina3_status = 3;
pub const JINA3_ERR_MODEL_INVALID: jina3_status = 4;
pub const JINA3_ERR_VERSION_MISMATCH: jina3_status = 5;
pub const JINA3_ERR_DEVICE: jina3_status = 6;
pub const JINA3_ERR_BUFFER_TOO_SMALL: jina3_status = 7;
pub const JINA3_ERR_OUT_OF_MEMORY: jina3_status = 8;
pub const JINA3_ERR_INTERNAL: jina3_status = 9;
pub const JINA3_ERR_QUEUE_FULL: jina3_status = 10;
pub const JINA3_ERR_DEADLINE_EXCEEDED: jina3_status = 11;
pub const JINA3_ERR_CANCELLED: jina3_status = 12;

pub type jina3_task = c_int;
pub const JINA3_TASK_NONE: jina3_task = -1;
pub const JINA3_TASK_RETRIEVAL_QUERY: jina3_task = 0;
pub const JINA3_TASK_RETRIEVAL_PASSAGE: jina3_task = 1;
pub const JINA3_TASK_SEPARATION: jina3_task = 2;
pub const JINA3_TASK_CLASSIFICATION: jina3_task = 3;
pub const JINA3_TASK_TEXT_MATCHING: jina3_task = 4;

pub type jina3_device = c_int;
pub const JINA3_DEVICE_CPU: jina3_device = 0;
pub const JINA3_DEVICE_CUDA: jina3_device = 1;

pub type jina3_dtype = c_int;
pub const JINA3_DTYPE_AUTO: jina3_dtype = 0;
pub const JINA3_DTYPE_FLOAT32: jina3_dtype = 1;
pub const JINA3_DTYPE_BFLOAT16: jina3_dtype = 2;
pub const JINA3_DTYPE_FLOAT16: jina3_dtype = 3;
pub const JINA3_DTYPE_INT8: jina3_dtype = 4;

pub type jina3_priority = c_int;
pub const JINA3_PRIORITY_INTERACTIVE: jina3_priority = 0;
pub const JINA3_PRIORITY_BULK: jina3_priority = 1;

pub type jina3_precision = c_int;
pub const JINA3_PRECISION_FLOAT32: jina3_precision = 0;
pub const JINA3_PRECISION_FLOAT16: jina3_precision = 1;
pub const JINA3_PRECISION_INT8: jina3_precision = 2;
pub const JINA3_PRECISION_UINT8: jina3_precision = 3;
pub const JINA3_PRECISION_BINARY: jina3_precision = 4;
pub const JINA3_PRECISION_UBINARY: jina3_precision = 5;

// ---------------------------------------------------------------------------------------------
// Macros of the header.
// ---------------------------------------------------------------------------------------------

pub const JINA3_ABI_VERSION: c_int = 1;
pub const JINA3_PRIORITY_COUNT: usize = 2;
pub const JINA3_HISTOGRAM_BUCKETS: usize = 32;

// ---------------------------------------------------------------------------------------------
// Opaque handles: never constructed or dereferenced on this side.
// ---------------------------------------------------------------------------------------------

#[repr(C)]
pub struct jina3_encoder {
    _private: [u8; 0],
}
#[repr(C)]
pub struct jina3_error {
    _private: [u8; 0],
}
#[repr(C)]
pub struct jina3_request {
    _private: [u8; 0],
}
#[repr(C)]
pub struct jina3_tokens {
    _private: [u8; 0],
}
#[repr(C)]
pub struct jina3_chunks {
    _private: [u8; 0],
}

/// `jina3_request_callback`: NULL is `None`.
pub type jina3_request_callback = Option<unsafe extern "C" fn(request: *mut jina3_request, user_data: *mut c_void)>;

// ---------------------------------------------------------------------------------------------
// Structs.
// ---------------------------------------------------------------------------------------------

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct jina3_encoder_options {
    pub struct_size: usize,
    pub device: jina3_device,
    pub device_index: c_int,
    pub dtype: jina3_dtype,
    pub num_threads: c_int,
    pub max_batch_tokens: c_int,
    pub max_batch_size: c_int,
    pub verify_checksums: bool,
    pub retain_host_memory: bool,
    pub max_wait_us: c_int,
    pub max_queued_requests: c_int,
    pub cache_bytes: usize,
    pub use_scheduler: bool,
    pub bulk_share: f64,
    pub bulk_pass_tokens: c_int,
}

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct jina3_encode_options {
    pub struct_size: usize,
    pub max_length: c_int,
    pub batch_size: c_int,
    pub normalize: bool,
    pub truncate: bool,
    pub deadline_us: i64,
    pub block_when_full: bool,
    pub priority: jina3_priority,
    pub split_special_tokens: bool,
}

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct jina3_histogram {
    pub buckets: [u64; JINA3_HISTOGRAM_BUCKETS],
    pub count: u64,
    pub sum: u64,
}

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct jina3_lane_stats {
    pub requests: u64,
    pub rows: u64,
    pub passes: u64,
    pub tokens: u64,
    pub padded_tokens: u64,
    pub cancelled: u64,
    pub cancelled_rows: u64,
    pub latency_us: jina3_histogram,
    pub queue_wait_us: jina3_histogram,
    pub rows_per_pass: jina3_histogram,
    pub tokens_per_pass: jina3_histogram,
}

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct jina3_stats {
    pub struct_size: usize,
    pub requests: u64,
    pub rows: u64,
    pub passes: u64,
    pub tokens: u64,
    pub padded_tokens: u64,
    pub queue_depth: u64,
    pub max_queue_depth: u64,
    pub rejected: u64,
    pub deadline_exceeded: u64,
    pub failed: u64,
    pub cache_hits: u64,
    pub cache_misses: u64,
    pub cache_evictions: u64,
    pub cache_bytes: u64,
    pub cache_entries: u64,
    pub queue_wait_us: u64,
    pub pass_us: u64,
    pub cancelled: u64,
    pub lanes: [jina3_lane_stats; JINA3_PRIORITY_COUNT],
}

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct jina3_late_chunk_options {
    pub struct_size: usize,
    pub chunk_tokens: c_int,
    pub sentences: c_int,
    pub window: c_int,
    pub overlap: c_int,
    pub normalize: bool,
    pub include_special_tokens: bool,
}

// ---------------------------------------------------------------------------------------------
// Functions, in the header's order.
// ---------------------------------------------------------------------------------------------

extern "C" {
    // Library and errors.
    pub fn jina3_version() -> *const c_char;
    pub fn jina3_abi_version() -> c_int;
    pub fn jina3_status_name(status: jina3_status) -> *const c_char;
    pub fn jina3_last_error() -> *const c_char;
    pub fn jina3_error_code(error: *const jina3_error) -> jina3_status;
    pub fn jina3_error_message(error: *const jina3_error) -> *const c_char;
    pub fn jina3_error_free(error: *mut jina3_error);

    // Names of tasks, devices, dtypes and priorities.
    pub fn jina3_task_name(task: jina3_task) -> *const c_char;
    pub fn jina3_task_from_name(
        name: *const c_char,
        task: *mut jina3_task,
        error: *mut *mut jina3_error,
    ) -> jina3_status;
    pub fn jina3_device_name(device: jina3_device) -> *const c_char;
    pub fn jina3_device_from_name(
        name: *const c_char,
        device: *mut jina3_device,
        index: *mut c_int,
        error: *mut *mut jina3_error,
    ) -> jina3_status;
    pub fn jina3_dtype_name(dtype: jina3_dtype) -> *const c_char;
    pub fn jina3_dtype_from_name(
        name: *const c_char,
        dtype: *mut jina3_dtype,
        error: *mut *mut jina3_error,
    ) -> jina3_status;
    pub fn jina3_priority_name(priority: jina3_priority) -> *const c_char;
    pub fn jina3_priority_from_name(
        name: *const c_char,
        priority: *mut jina3_priority,
        error: *mut *mut jina3_error,
    ) -> jina3_status;

    // Options.
    pub fn jina3_encoder_default_options(options: *mut jina3_encoder_options, struct_size: usize);
    pub fn jina3_encode_default_options(options: *mut jina3_encode_options, struct_size: usize);

    // Encoder.
    pub fn jina3_encoder_create(
        package_path: *const c_char,
        options: *const jina3_encoder_options,
        encoder: *mut *mut jina3_encoder,
        error: *mut *mut jina3_error,
    ) -> jina3_status;
    pub fn jina3_encoder_free(encoder: *mut jina3_encoder);
    pub fn jina3_encoder_encode(
        encoder: *const jina3_encoder,
        texts: *const *const c_char,
        lengths: *const usize,
        count: usize,
        task: jina3_task,
        dims: c_int,
        options: *const jina3_encode_options,
        out: *mut f32,
        out_capacity: usize,
        truncated: *mut u8,
        error: *mut *mut jina3_error,
    ) -> jina3_status;
    pub fn jina3_encoder_encode_tasks(
        encoder: *const jina3_encoder,
        texts: *const *const c_char,
        lengths: *const usize,
        count: usize,
        tasks: *const jina3_task,
        dims: c_int,
        options: *const jina3_encode_options,
        out: *mut f32,
        out_capacity: usize,
        truncated: *mut u8,
        error: *mut *mut jina3_error,
    ) -> jina3_status;
    pub fn jina3_encoder_dims(encoder: *const jina3_encoder, dims: *mut c_int, capacity: usize) -> usize;
    pub fn jina3_encoder_hidden_size(encoder: *const jina3_encoder) -> c_int;
    pub fn jina3_encoder_max_length(encoder: *const jina3_encoder) -> c_int;
    pub fn jina3_encoder_task_count(encoder: *const jina3_encoder) -> usize;
    pub fn jina3_encoder_task(encoder: *const jina3_encoder, index: usize) -> jina3_task;
    pub fn jina3_encoder_device(encoder: *const jina3_encoder) -> jina3_device;
    pub fn jina3_encoder_dtype(encoder: *const jina3_encoder) -> jina3_dtype;
    pub fn jina3_encoder_package_path(encoder: *const jina3_encoder) -> *const c_char;
    pub fn jina3_encoder_prompt(
        encoder: *const jina3_encoder,
        task: jina3_task,
        prompt: *mut *const c_char,
        error: *mut *mut jina3_error,
    ) -> jina3_status;
    pub fn jina3_kernel_field_count() -> usize;
    pub fn jina3_kernel_field_name(index: usize) -> *const c_char;
    pub fn jina3_encoder_kernel_report(
        encoder: *const jina3_encoder,
        field: *const c_char,
        value: *mut *const c_char,
        error: *mut *mut jina3_error,
    ) -> jina3_status;

    // Asynchronous requests.
    pub fn jina3_encoder_submit(
        encoder: *const jina3_encoder,
        texts: *const *const c_char,
        lengths: *const usize,
        count: usize,
        tasks: *const jina3_task,
        task_count: usize,
        dims: c_int,
        options: *const jina3_encode_options,
        callback: jina3_request_callback,
        user_data: *mut c_void,
        request: *mut *mut jina3_request,
        error: *mut *mut jina3_error,
    ) -> jina3_status;
    pub fn jina3_request_wait(
        request: *mut jina3_request,
        out: *mut f32,
        out_capacity: usize,
        truncated: *mut u8,
        error: *mut *mut jina3_error,
    ) -> jina3_status;
    pub fn jina3_request_cancel(request: *mut jina3_request) -> bool;
    pub fn jina3_encoder_submit_ids(
        encoder: *const jina3_encoder,
        ids: *const *const i32,
        lengths: *const usize,
        count: usize,
        tasks: *const jina3_task,
        task_count: usize,
        dims: c_int,
        options: *const jina3_encode_options,
        callback: jina3_request_callback,
        user_data: *mut c_void,
        request: *mut *mut jina3_request,
        error: *mut *mut jina3_error,
    ) -> jina3_status;
    pub fn jina3_encoder_encode_ids(
        encoder: *const jina3_encoder,
        ids: *const *const i32,
        lengths: *const usize,
        count: usize,
        task: jina3_task,
        dims: c_int,
        options: *const jina3_encode_options,
        out: *mut f32,
        out_capacity: usize,
        truncated: *mut u8,
        error: *mut *mut jina3_error,
    ) -> jina3_status;
    pub fn jina3_encoder_vocab_size(encoder: *const jina3_encoder) -> c_int;
    pub fn jina3_request_ready(request: *const jina3_request) -> bool;
    pub fn jina3_request_rows(request: *const jina3_request) -> usize;
    pub fn jina3_request_dims(request: *const jina3_request) -> c_int;
    pub fn jina3_request_free(request: *mut jina3_request);

    // Statistics.
    pub fn jina3_encoder_stats(
        encoder: *const jina3_encoder,
        stats: *mut jina3_stats,
        error: *mut *mut jina3_error,
    ) -> jina3_status;

    // Outputs: quantised rows, token embeddings, late chunking.
    pub fn jina3_precision_row_bytes(precision: jina3_precision, dims: c_int) -> usize;
    pub fn jina3_encoder_encode_quantized(
        encoder: *const jina3_encoder,
        texts: *const *const c_char,
        lengths: *const usize,
        count: usize,
        task: jina3_task,
        dims: c_int,
        precision: jina3_precision,
        ranges: *const f32,
        options: *const jina3_encode_options,
        out: *mut c_void,
        out_capacity_bytes: usize,
        truncated: *mut u8,
        error: *mut *mut jina3_error,
    ) -> jina3_status;
    pub fn jina3_calibration_ranges(
        values: *const f32,
        rows: usize,
        dims: c_int,
        ranges: *mut f32,
        error: *mut *mut jina3_error,
    ) -> jina3_status;
    pub fn jina3_quantize(
        values: *const f32,
        rows: usize,
        dims: c_int,
        precision: jina3_precision,
        ranges: *const f32,
        out: *mut c_void,
        out_capacity_bytes: usize,
        error: *mut *mut jina3_error,
    ) -> jina3_status;
    pub fn jina3_encoder_encode_tokens(
        encoder: *const jina3_encoder,
        text: *const c_char,
        length: usize,
        task: jina3_task,
        options: *const jina3_encode_options,
        tokens: *mut *mut jina3_tokens,
        error: *mut *mut jina3_error,
    ) -> jina3_status;
    pub fn jina3_tokens_count(tokens: *const jina3_tokens) -> usize;
    pub fn jina3_tokens_hidden(tokens: *const jina3_tokens) -> usize;
    pub fn jina3_tokens_ids(tokens: *const jina3_tokens) -> *const i32;
    pub fn jina3_tokens_embeddings(tokens: *const jina3_tokens) -> *const f32;
    pub fn jina3_tokens_offsets(tokens: *const jina3_tokens) -> *const i64;
    pub fn jina3_tokens_truncated(tokens: *const jina3_tokens) -> bool;
    pub fn jina3_tokens_free(tokens: *mut jina3_tokens);
    pub fn jina3_late_chunk_default_options(options: *mut jina3_late_chunk_options, struct_size: usize);
    pub fn jina3_encoder_late_chunk(
        encoder: *const jina3_encoder,
        text: *const c_char,
        length: usize,
        task: jina3_task,
        dims: c_int,
        spans: *const usize,
        span_count: usize,
        options: *const jina3_late_chunk_options,
        chunks: *mut *mut jina3_chunks,
        error: *mut *mut jina3_error,
    ) -> jina3_status;
    pub fn jina3_chunks_count(chunks: *const jina3_chunks) -> usize;
    pub fn jina3_chunks_dims(chunks: *const jina3_chunks) -> usize;
    pub fn jina3_chunks_embeddings(chunks: *const jina3_chunks) -> *const f32;
    pub fn jina3_chunks_spans(chunks: *const jina3_chunks) -> *const usize;
    pub fn jina3_chunks_token_spans(chunks: *const jina3_chunks) -> *const usize;
    pub fn jina3_chunks_free(chunks: *mut jina3_chunks);
}
