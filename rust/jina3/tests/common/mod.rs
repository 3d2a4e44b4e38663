//! Shared by the integration tests: the test package, and reference results computed through the
//! raw C API (jina3-sys) directly, which the safe crate's results must equal.
#![allow(dead_code)]
use std::env;
use std::ffi::CStr;
use std::fs;
use std::os::raw::{c_char, c_int, c_void};
use std::path::PathBuf;
use std::ptr;

use jina3::sys;
use jina3::{Encoder, EncoderOptions, Request, Task};

/// The tiny float32 test package the build generates: $JINA3_TEST_PACKAGE, else
/// $JINA3_TEST_DATA/package-float32, else the main build's testdata.
pub fn package() -> PathBuf {
    let path = if let Ok(p) = env::var("JINA3_TEST_PACKAGE") {
        PathBuf::from(p)
    } else if let Ok(d) = env::var("JINA3_TEST_DATA") {
        PathBuf::from(d).join("package-float32")
    } else {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../build/testdata/package-float32")
    };
    assert!(
        path.join("manifest.json").is_file(),
        "no test package at {} (build the project and run ctest -R make_test_data, or set JINA3_TEST_PACKAGE)",
        path.display()
    );
    path
}

pub fn open() -> Encoder {
    Encoder::open(package()).expect("the test package loads")
}

/// Texts that cross the boundary as UTF-8: accents, CJK, emoji, an empty text, a NUL byte.
pub const TEXTS: [&str; 6] = [
    "Paris is the capital and largest city of France.",
    "Berlin ist die Hauptstadt von Deutschland.",
    "東京は日本の首都です。",
    "The Eiffel Tower 🗼 was completed in 1889; café, naïve.",
    "",
    "a NUL \0 inside",
];

/// A copy of the test package in a fresh directory under the target's temp dir.
pub fn package_copy(name: &str) -> PathBuf {
    let to = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = fs::remove_dir_all(&to);
    fs::create_dir_all(&to).unwrap();
    for entry in fs::read_dir(package()).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() {
            fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
    to
}

pub fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "lengths differ");
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

fn check(status: sys::jina3_status, error: *mut sys::jina3_error, what: &str) {
    if status != sys::JINA3_OK {
        let message = unsafe { CStr::from_ptr(sys::jina3_error_message(error)) }.to_string_lossy().into_owned();
        unsafe { sys::jina3_error_free(error) };
        panic!("{} failed in the C API: {}", what, message);
    }
}

fn text_args(texts: &[&str]) -> (Vec<*const c_char>, Vec<usize>) {
    (texts.iter().map(|t| t.as_ptr() as *const c_char).collect(), texts.iter().map(|t| t.len()).collect())
}

fn width(encoder: &Encoder, dims: usize) -> usize {
    if dims == 0 {
        encoder.hidden_size()
    } else {
        dims
    }
}

/// The C shape of jina3_encoder_encode, _encode_tasks (`T` = a task per text) and _encode_ids
/// (`P` = i32).
type EncodeFn<P, T> = unsafe extern "C" fn(
    *const sys::jina3_encoder,
    *const *const P,
    *const usize,
    usize,
    T,
    c_int,
    *const sys::jina3_encode_options,
    *mut f32,
    usize,
    *mut u8,
    *mut *mut sys::jina3_error,
) -> sys::jina3_status;

/// One `EncodeFn` called directly: rows of `dims` floats (0: full size) for `pointers.len()` texts.
fn c_rows<P, T>(
    (encode, what): (EncodeFn<P, T>, &str),
    encoder: &Encoder,
    (pointers, lengths): (Vec<*const P>, Vec<usize>),
    task: T,
    dims: usize,
    options: Option<&sys::jina3_encode_options>,
) -> Vec<f32> {
    let mut out = vec![0f32; pointers.len() * width(encoder, dims)];
    let mut error = ptr::null_mut();
    let options = options.map_or(ptr::null(), |o| o as *const _);
    let status = unsafe {
        encode(
            encoder.as_raw(),
            pointers.as_ptr(),
            lengths.as_ptr(),
            pointers.len(),
            task,
            dims as c_int,
            options,
            out.as_mut_ptr(),
            out.len(),
            ptr::null_mut(),
            &mut error,
        )
    };
    check(status, error, what);
    out
}

/// jina3_encoder_encode called directly with default options (or `options`).
pub fn c_encode(
    encoder: &Encoder,
    texts: &[&str],
    task: Task,
    dims: usize,
    options: Option<&sys::jina3_encode_options>,
) -> Vec<f32> {
    let function = (sys::jina3_encoder_encode as EncodeFn<_, _>, "jina3_encoder_encode");
    c_rows(function, encoder, text_args(texts), task.raw(), dims, options)
}

pub fn c_encode_tasks(encoder: &Encoder, texts: &[&str], tasks: &[Task], dims: usize) -> Vec<f32> {
    let raw: Vec<sys::jina3_task> = tasks.iter().map(|t| t.raw()).collect();
    let function = (sys::jina3_encoder_encode_tasks as EncodeFn<_, _>, "jina3_encoder_encode_tasks");
    c_rows(function, encoder, text_args(texts), raw.as_ptr(), dims, None)
}

pub fn c_encode_ids(encoder: &Encoder, ids: &[&[i32]], task: Task, dims: usize) -> Vec<f32> {
    let args = (ids.iter().map(|t| t.as_ptr()).collect(), ids.iter().map(|t| t.len()).collect());
    let function = (sys::jina3_encoder_encode_ids as EncodeFn<_, _>, "jina3_encoder_encode_ids");
    c_rows(function, encoder, args, task.raw(), dims, None)
}

pub fn c_encode_quantized(
    encoder: &Encoder,
    texts: &[&str],
    task: Task,
    dims: usize,
    precision: jina3::Precision,
    ranges: Option<&[f32]>,
) -> Vec<u8> {
    let (pointers, lengths) = text_args(texts);
    let row = unsafe { sys::jina3_precision_row_bytes(precision.raw(), width(encoder, dims) as i32) };
    let mut out = vec![0u8; texts.len() * row];
    let mut error = ptr::null_mut();
    let status = unsafe {
        sys::jina3_encoder_encode_quantized(
            encoder.as_raw(),
            pointers.as_ptr(),
            lengths.as_ptr(),
            texts.len(),
            task.raw(),
            dims as i32,
            precision.raw(),
            ranges.map_or(ptr::null(), |r| r.as_ptr()),
            ptr::null(),
            out.as_mut_ptr() as *mut c_void,
            out.len(),
            ptr::null_mut(),
            &mut error,
        )
    };
    check(status, error, "jina3_encoder_encode_quantized");
    out
}

/// (ids, embeddings, offsets) of jina3_encoder_encode_tokens.
pub fn c_tokens(encoder: &Encoder, text: &str, task: Task) -> (Vec<i32>, Vec<f32>, Vec<i64>) {
    let mut tokens = ptr::null_mut();
    let mut error = ptr::null_mut();
    let status = unsafe {
        sys::jina3_encoder_encode_tokens(
            encoder.as_raw(),
            text.as_ptr() as *const c_char,
            text.len(),
            task.raw(),
            ptr::null(),
            &mut tokens,
            &mut error,
        )
    };
    check(status, error, "jina3_encoder_encode_tokens");
    unsafe {
        let n = sys::jina3_tokens_count(tokens);
        let hidden = sys::jina3_tokens_hidden(tokens);
        let result = (
            std::slice::from_raw_parts(sys::jina3_tokens_ids(tokens), n).to_vec(),
            std::slice::from_raw_parts(sys::jina3_tokens_embeddings(tokens), n * hidden).to_vec(),
            std::slice::from_raw_parts(sys::jina3_tokens_offsets(tokens), 2 * n).to_vec(),
        );
        sys::jina3_tokens_free(tokens);
        result
    }
}

/// (embeddings, spans) of jina3_encoder_late_chunk with `sentences` sentences per chunk.
pub fn c_late_chunk(encoder: &Encoder, text: &str, task: Task, dims: usize, sentences: i32) -> (Vec<f32>, Vec<usize>) {
    let mut options = std::mem::MaybeUninit::<sys::jina3_late_chunk_options>::zeroed();
    let mut chunks = ptr::null_mut();
    let mut error = ptr::null_mut();
    unsafe {
        sys::jina3_late_chunk_default_options(
            options.as_mut_ptr(),
            std::mem::size_of::<sys::jina3_late_chunk_options>(),
        );
        let mut options = options.assume_init();
        options.sentences = sentences;
        let status = sys::jina3_encoder_late_chunk(
            encoder.as_raw(),
            text.as_ptr() as *const c_char,
            text.len(),
            task.raw(),
            dims as i32,
            ptr::null(),
            0,
            &options,
            &mut chunks,
            &mut error,
        );
        check(status, error, "jina3_encoder_late_chunk");
        let n = sys::jina3_chunks_count(chunks);
        let d = sys::jina3_chunks_dims(chunks);
        let result = (
            std::slice::from_raw_parts(sys::jina3_chunks_embeddings(chunks), n * d).to_vec(),
            std::slice::from_raw_parts(sys::jina3_chunks_spans(chunks), 2 * n).to_vec(),
        );
        sys::jina3_chunks_free(chunks);
        result
    }
}

/// Many long texts: enough passes to keep the encoder's worker busy for a while.
pub fn busy_texts() -> Vec<String> {
    (0..1500).map(|i| format!("document {} ", i) + &"several words of filler text ".repeat(20)).collect()
}

/// An encoder with one thread (and `options`) whose worker is kept busy for a while by the
/// request returned with it.
pub fn busy_encoder(options: EncoderOptions) -> (Encoder, Request) {
    let encoder = Encoder::open_with(package(), &options.num_threads(1)).unwrap();
    let request = encoder.submit(&busy_texts(), Task::RetrievalPassage, 0).unwrap();
    (encoder, request)
}
