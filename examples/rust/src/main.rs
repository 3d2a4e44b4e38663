//! jina3 from Rust through the C API, with no crates: the few functions used are declared by hand
//! below (from include/jina3/jina3.h) and wrapped in small safe `Encoder` and `Request` types.
//!
//!     JINA3_LIB_DIR=/path/to/lib cargo run --release -- PACKAGE_DIR [QUERY PASSAGE...]
//!
//! Output: the ranking ("rank R: SCORE passage[I] TEXT"), then every embedding on one line
//! ("vector query 0 v1 v2 ..." / "vector passage I v1 v2 ..."), then one line on the concurrent
//! requests ("concurrent: N requests from T threads, max |diff| D to the synchronous results").
//!
//! Concurrency: threads share one `Encoder` (it is `Sync`), each submits its texts with
//! `Encoder::submit` and blocks in `Request::wait`; the encoder's scheduler merges the texts of
//! all pending requests into shared forward passes.
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
    #[repr(C)]
    pub struct Jina3Request {
        _private: [u8; 0],
    }
    pub type Jina3RequestCallback = Option<unsafe extern "C" fn(request: *mut Jina3Request, user_data: *mut c_void)>;

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
        pub fn jina3_encoder_submit(
            encoder: *const Jina3Encoder,
            texts: *const *const c_char,
            lengths: *const usize,
            count: usize,
            tasks: *const c_int, // jina3_task values
            task_count: usize,
            dims: c_int,
            options: *const c_void, // NULL: defaults
            callback: Jina3RequestCallback,
            user_data: *mut c_void,
            request: *mut *mut Jina3Request,
            error: *mut *mut Jina3Error,
        ) -> c_int;
        pub fn jina3_request_wait(
            request: *mut Jina3Request,
            out: *mut f32,
            out_capacity: usize,
            truncated: *mut u8,
            error: *mut *mut Jina3Error,
        ) -> c_int;
        pub fn jina3_request_rows(request: *const Jina3Request) -> usize;
        pub fn jina3_request_dims(request: *const Jina3Request) -> c_int;
        pub fn jina3_request_free(request: *mut Jina3Request);
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

    /// Queues texts for embedding at full size and returns at once; `Request::wait` gives the
    /// result. The texts are only read during this call. A full queue or bad arguments fail here.
    pub fn submit(&self, texts: &[&str], task: c_int) -> Result<Request, Error> {
        let pointers: Vec<*const c_char> = texts.iter().map(|t| t.as_ptr() as *const c_char).collect();
        let lengths: Vec<usize> = texts.iter().map(|t| t.len()).collect();
        let mut raw = ptr::null_mut();
        let mut error = ptr::null_mut();
        // SAFETY: the texts outlive the call; one task for every text; no callback.
        let status = unsafe {
            ffi::jina3_encoder_submit(
                self.raw,
                pointers.as_ptr(),
                lengths.as_ptr(),
                texts.len(),
                &task,
                1,
                0,
                ptr::null(),
                None,
                ptr::null_mut(),
                &mut raw,
                &mut error,
            )
        };
        check(status, error)?;
        Ok(Request { raw })
    }
}

/// A queued encode call. Dropping it releases the request, also before it has completed (it then
/// still runs and its result is dropped). It may be waited on from any thread, so it is Send.
pub struct Request {
    raw: *mut ffi::Jina3Request,
}

unsafe impl Send for Request {}

impl Request {
    /// Blocks until the request is done; one row of hidden_size() floats per text, row-major.
    pub fn wait(&self) -> Result<Vec<f32>, Error> {
        // SAFETY: self.raw is a live request; out holds rows x dims floats.
        unsafe {
            let len = ffi::jina3_request_rows(self.raw) * ffi::jina3_request_dims(self.raw) as usize;
            let mut out = vec![0.0f32; len];
            let mut error = ptr::null_mut();
            let status = ffi::jina3_request_wait(self.raw, out.as_mut_ptr(), out.len(), ptr::null_mut(), &mut error);
            check(status, error)?;
            Ok(out)
        }
    }
}

impl Drop for Request {
    fn drop(&mut self) {
        // SAFETY: created by jina3_encoder_submit, freed exactly once.
        unsafe { ffi::jina3_request_free(self.raw) }
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

fn max_diff(a: &[f32], b: &[f32]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (*x as f64 - *y as f64).abs()).fold(0.0, f64::max)
}

/// Threads submit the query or the passages at the same time; each result is compared with the
/// synchronous one.
fn concurrent(encoder: &Encoder, query: &str, passages: &[&str], q: &[f32], p: &[f32]) -> Result<(), Error> {
    const THREADS: usize = 8;
    let results: Vec<Result<f64, Error>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                scope.spawn(move || {
                    let (texts, task, want) = if t % 2 == 0 {
                        (vec![query], ffi::JINA3_TASK_RETRIEVAL_QUERY, q)
                    } else {
                        (passages.to_vec(), ffi::JINA3_TASK_RETRIEVAL_PASSAGE, p)
                    };
                    let request = encoder.submit(&texts, task)?;
                    let got = request.wait()?;
                    Ok(max_diff(&got, want))
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("thread panicked")).collect()
    });
    let mut worst = 0.0f64;
    for result in results {
        worst = worst.max(result?);
    }
    println!(
        "concurrent: {} requests from {} threads, max |diff| {} to the synchronous results",
        THREADS, THREADS, worst
    );
    if worst > 1e-6 {
        return Err(Error {
            status: "internal".into(),
            message: format!("concurrent results differ from the synchronous ones by {}", worst),
        });
    }
    Ok(())
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
    concurrent(&encoder, query, &passages, &q, &p)
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
