//! jina3: jina-embeddings-v3 in your process, through libjina3's C API.
//!
//! ```no_run
//! use jina3::{Encoder, Task};
//!
//! let encoder = Encoder::open("/path/to/package")?;
//! let passages = ["Paris is the capital of France.", "Berlin is the capital of Germany."];
//! let q = encoder.encode(&["What is the capital of France?"], Task::RetrievalQuery, 0)?;
//! let p = encoder.encode(&passages, Task::RetrievalPassage, 0)?;
//! for (i, text) in passages.iter().enumerate() {
//!     let score: f32 = q.row(0).iter().zip(p.row(i)).map(|(a, b)| a * b).sum();
//!     println!("{:.4}  {}", score, text);
//! }
//! # Ok::<(), jina3::Error>(())
//! ```
//!
//! - [`Encoder`] (`Send + Sync`): `encode`, `encode_with` (options), `encode_tasks`, `encode_ids`
//!   (token ids), `encode_quantized` ([`Precision`]), `encode_tokens` ([`Tokens`] with offsets),
//!   `late_chunk` ([`Chunks`]), `submit` ([`Request`]: `wait`, `cancel`), `stats` ([`Stats`]).
//! - Options come from builders: [`EncoderOptions`], [`EncodeOptions`], [`LateChunkOptions`].
//! - Every failure is an [`Error`], one variant per `jina3_status`, with the library's message.
//!
//! Every check of the arguments is the library's: values are passed on as given, except where the
//! C API could not see a mistake (slice lengths), which this crate refuses itself.
mod encoder;
mod enums;
mod error;
mod options;
mod outputs;
mod stats;

pub use encoder::{Embeddings, Encoder, Request};
pub use enums::{DType, Device, Precision, Priority, Task};
pub use error::{Error, Result};
pub use options::{EncodeOptions, EncoderOptions, LateChunkOptions};
pub use outputs::{calibration_ranges, quantize, Chunks, Quantized, Ranges, Tokens};
pub use stats::{Histogram, LaneStats, Stats};

/// The raw C API (the `jina3-sys` crate), for what this crate does not wrap.
pub use jina3_sys as sys;

use std::os::raw::c_int;

/// The library's version, "major.minor.patch".
pub fn version() -> &'static str {
    error::static_str(unsafe { sys::jina3_version() })
}

/// The ABI version the library was built with; equals `sys::JINA3_ABI_VERSION` when the library
/// matches these declarations.
pub fn abi_version() -> i32 {
    unsafe { sys::jina3_abi_version() }
}

/// dims for C: a value over c_int's range is no offered size either, and the library says so.
pub(crate) fn c_dims(dims: usize) -> c_int {
    c_int::try_from(dims).unwrap_or(c_int::MAX)
}

pub(crate) fn tasks_raw(tasks: &[Task]) -> Vec<sys::jina3_task> {
    tasks.iter().map(|t| t.raw()).collect()
}
