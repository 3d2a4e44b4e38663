//! jina3 from Rust through the C API, with no crates: the few functions used are declared by hand
//! below (from include/jina3/jina3.h) and wrapped in a small safe `Encoder` type.
//!
//!     JINA3_LIB_DIR=/path/to/lib cargo run --release -- PACKAGE_DIR [QUERY PASSAGE...]
//!
//! Output: the ranking ("rank R: SCORE passage[I] TEXT"), then every embedding on one line
//! ("vector query 0 v1 v2 ..." / "vector passage I v1 v2 ...").
use std::ffi::{CStr, CString};
use std::fmt;
use std::os::raw::{c_char, c_int, c_void};
use std::process::ExitCode;
use std::ptr;

mod ffi {
    use super::*;

    // Opaque handles (never dereferenced on this side).
    #[repr(C)]
    pub struct Jina3Encoder {
        _private: [u8; 0],
    }
    #[repr(C)]
    pub struct Jina3Error {
        _private: [u8; 0],
    }

    // C enums are passed as int.
    pub const JINA3_OK: c_int = 0;
    pub const JINA3_TASK_RETRIEVAL_QUERY: c_int = 0;
    pub const JINA3_TASK_RETRIEVAL_PASSAGE: c_int = 1;

    extern "C" {
        pub fn jina3_encoder_create(
            package_path: *const c_char,
            options: *const c_void, // NULL: defaults
            encoder: *mut *mut Jina3Encoder,
            error: *mut *mut Jina3Error,
        ) -> c_int;
        pub fn jina3_encoder_free(encoder: *mut Jina3Encoder);
        pub fn jina3_encoder_hidden_size(encoder: *const Jina3Encoder) -> c_int;
        pub fn jina3_encoder_encode(
            encoder: *const Jina3Encoder,
            texts: *const *const c_char,
            lengths: *const usize,
            count: usize,
            task: c_int,
            dims: c_int,
            options: *const c_void, // NULL: defaults
            out: *mut f32,
            out_capacity: usize,
            truncated: *mut u8,
            error: *mut *mut Jina3Error,
        ) -> c_int;
        pub fn jina3_status_name(status: c_int) -> *const c_char;
        pub fn jina3_error_message(error: *const Jina3Error) -> *const c_char;
        pub fn jina3_error_free(error: *mut Jina3Error);
    }
}

/// A failed jina3 call: its status name ("invalid_argument", ...) and message.
#[derive(Debug)]
pub struct Error {
    pub status: String,
    pub message: String,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message, self.status)
    }
}

/// Turns a status and its error object (taken over and freed here) into a Result.
fn check(status: c_int, error: *mut ffi::Jina3Error) -> Result<(), Error> {
    if status == ffi::JINA3_OK {
        return Ok(());
    }
    // SAFETY: status names are static strings; the error object is ours until freed.
    unsafe {
        let result = Error {
            status: CStr::from_ptr(ffi::jina3_status_name(status)).to_string_lossy().into_owned(),
            message: CStr::from_ptr(ffi::jina3_error_message(error)).to_string_lossy().into_owned(),
        };
        ffi::jina3_error_free(error);
        Err(result)
    }
}

/// An owned jina3 encoder. encode() is thread-safe, so the type is Send + Sync.
pub struct Encoder {
    raw: *mut ffi::Jina3Encoder,
}

unsafe impl Send for Encoder {}
unsafe impl Sync for Encoder {}

impl Encoder {
    pub fn new(package_path: &str) -> Result<Encoder, Error> {
        let path = CString::new(package_path).map_err(|_| Error {
            status: "invalid_argument".into(),
            message: "package path contains a NUL byte".into(),
        })?;
        let mut raw = ptr::null_mut();
        let mut error = ptr::null_mut();
        // SAFETY: valid NUL-terminated path and out-pointers.
        let status = unsafe { ffi::jina3_encoder_create(path.as_ptr(), ptr::null(), &mut raw, &mut error) };
        check(status, error)?;
        Ok(Encoder { raw })
    }

    pub fn hidden_size(&self) -> usize {
        // SAFETY: self.raw is a live encoder.
        unsafe { ffi::jina3_encoder_hidden_size(self.raw) as usize }
    }

    /// Embeds texts at full size: one row of hidden_size() floats per text, row-major.
    /// Rust strings go in as pointer + length, without copies or NUL terminators.
    pub fn encode(&self, texts: &[&str], task: c_int) -> Result<Vec<f32>, Error> {
        let pointers: Vec<*const c_char> = texts.iter().map(|t| t.as_ptr() as *const c_char).collect();
        let lengths: Vec<usize> = texts.iter().map(|t| t.len()).collect();
        let mut out = vec![0.0f32; texts.len() * self.hidden_size()];
        let mut error = ptr::null_mut();
        // SAFETY: every pointer refers to memory that outlives the call; out holds out.len() floats.
        let status = unsafe {
            ffi::jina3_encoder_encode(
                self.raw,
                pointers.as_ptr(),
                lengths.as_ptr(),
                texts.len(),
                task,
                0,
                ptr::null(),
                out.as_mut_ptr(),
                out.len(),
                ptr::null_mut(),
                &mut error,
            )
        };
        check(status, error)?;
        Ok(out)
    }
}

impl Drop for Encoder {
    fn drop(&mut self) {
        // SAFETY: created by jina3_encoder_create, freed exactly once.
        unsafe { ffi::jina3_encoder_free(self.raw) }
    }
}

fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let (mut dot, mut norm_a, mut norm_b) = (0.0f64, 0.0f64, 0.0f64);
    for (x, y) in a.iter().zip(b) {
        let (x, y) = (*x as f64, *y as f64);
        dot += x * y;
        norm_a += x * x;
        norm_b += y * y;
    }
    dot / (norm_a * norm_b).sqrt()
}

fn print_vector(kind: &str, index: usize, values: &[f32]) {
    // {} prints the shortest text that reads back as the same f32.
    let numbers: Vec<String> = values.iter().map(|v| format!("{}", v)).collect();
    println!("vector {} {} {}", kind, index, numbers.join(" "));
}

fn run(args: &[String]) -> Result<(), Error> {
    let mut query = "What is the capital of France?";
    let mut passages = vec![
        "Paris is the capital and largest city of France.",
        "Berlin is the capital of Germany.",
        "The Eiffel Tower was completed in 1889.",
    ];
    if args.len() > 3 {
        query = &args[2];
        passages = args[3..].iter().map(|s| s.as_str()).collect();
    }

    let encoder = Encoder::new(&args[1])?;
    let dims = encoder.hidden_size();
    // Queries and passages use different adapters: that is what makes asymmetric retrieval work.
    let q = encoder.encode(&[query], ffi::JINA3_TASK_RETRIEVAL_QUERY)?;
    let p = encoder.encode(&passages, ffi::JINA3_TASK_RETRIEVAL_PASSAGE)?;

    let scores: Vec<f64> = p.chunks(dims).map(|row| cosine(&q, row)).collect();
    let mut order: Vec<usize> = (0..passages.len()).collect();
    // Stable sort: ties keep input order.
    order.sort_by(|&a, &b| scores[b].partial_cmp(&scores[a]).unwrap_or(std::cmp::Ordering::Equal));

    println!("query: {}", query);
    for (rank, &i) in order.iter().enumerate() {
        println!("rank {}: {:.6} passage[{}] {}", rank + 1, scores[i], i, passages[i]);
    }
    print_vector("query", 0, &q);
    for (i, row) in p.chunks(dims).enumerate() {
        print_vector("passage", i, row);
    }
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 2 || args.len() == 3 {
        eprintln!("usage: {} PACKAGE_DIR [QUERY PASSAGE...]", args[0]);
        return ExitCode::from(2);
    }
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("jina3 error: {}", error);
            ExitCode::from(1)
        }
    }
}
