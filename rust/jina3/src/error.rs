//! `Error`: one variant per `jina3_status` (but JINA3_OK), each with the library's message.
use std::ffi::{CStr, CString};
use std::fmt;
use std::ptr;

use jina3_sys as sys;

macro_rules! errors {
    ($($(#[$doc:meta])* $variant:ident = $status:path,)*) => {
        /// A failed call: the variant is the C API's `jina3_status`, the string its message
        /// (which names the argument, text or file at fault).
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub enum Error {
            $($(#[$doc])* $variant(String),)*
        }

        impl Error {
            /// The `jina3_status` value (1 ... 12).
            pub fn status(&self) -> sys::jina3_status {
                match self { $(Error::$variant(_) => $status,)* }
            }

            /// The message.
            pub fn message(&self) -> &str {
                match self { $(Error::$variant(message) => message,)* }
            }

            /// The error for a status returned by a `jina3_sys` call (for code that mixes both);
            /// a value that is no error status becomes `Internal`, saying so.
            pub fn from_status(status: sys::jina3_status, message: impl Into<String>) -> Error {
                let message = message.into();
                match status {
                    $($status => Error::$variant(message),)*
                    other => Error::Internal(format!("unknown jina3_status {}: {}", other, message)),
                }
            }
        }
    };
}

errors! {
    /// NULL or out-of-range argument, unknown task, dims not offered, invalid UTF-8, bad option.
    InvalidArgument = sys::JINA3_ERR_INVALID_ARGUMENT,
    /// A text is over the token limit and truncation is off.
    InputTooLong = sys::JINA3_ERR_INPUT_TOO_LONG,
    /// The package directory or one of its files is missing.
    ModelNotFound = sys::JINA3_ERR_MODEL_NOT_FOUND,
    /// Corrupt file, checksum mismatch, bad manifest, bad tensor.
    ModelInvalid = sys::JINA3_ERR_MODEL_INVALID,
    /// Package format or torch version newer than the library.
    VersionMismatch = sys::JINA3_ERR_VERSION_MISMATCH,
    /// Device unavailable, or dtype unsupported there.
    Device = sys::JINA3_ERR_DEVICE,
    /// An output buffer is too small (the safe API sizes its buffers; seen only through `from_status`).
    BufferTooSmall = sys::JINA3_ERR_BUFFER_TOO_SMALL,
    /// An allocation failed.
    OutOfMemory = sys::JINA3_ERR_OUT_OF_MEMORY,
    /// A bug in jina3 or its dependencies.
    Internal = sys::JINA3_ERR_INTERNAL,
    /// The request queue is full and `block_when_full` is off.
    QueueFull = sys::JINA3_ERR_QUEUE_FULL,
    /// The request had not started when its deadline passed.
    DeadlineExceeded = sys::JINA3_ERR_DEADLINE_EXCEEDED,
    /// The request was cancelled, or its encoder dropped before it ran.
    Cancelled = sys::JINA3_ERR_CANCELLED,
}

impl Error {
    /// The status's canonical name, e.g. "invalid_argument" (`jina3_status_name`).
    pub fn status_name(&self) -> &'static str {
        static_str(unsafe { sys::jina3_status_name(self.status()) })
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message(), self.status_name())
    }
}

impl std::error::Error for Error {}

/// The result type of this crate.
pub type Result<T> = std::result::Result<T, Error>;

/// A static string of the library (names); "" for NULL.
pub(crate) fn static_str(pointer: *const std::os::raw::c_char) -> &'static str {
    if pointer.is_null() {
        return "";
    }
    // SAFETY: the library's name functions return static NUL-terminated ASCII strings.
    unsafe { CStr::from_ptr(pointer) }.to_str().unwrap_or("")
}

/// `value` as a C string; `what` names it in the error for a NUL byte inside.
pub(crate) fn c_string(what: &str, value: &str) -> Result<CString> {
    CString::new(value).map_err(|_| Error::InvalidArgument(format!("{} {:?} contains a NUL byte", what, value)))
}

/// Runs a C call that takes a trailing `jina3_error**` and turns its status into a Result, taking
/// the message from the error object (then freed). Never the thread-local jina3_last_error.
pub(crate) fn call(f: impl FnOnce(*mut *mut sys::jina3_error) -> sys::jina3_status) -> Result<()> {
    let mut error: *mut sys::jina3_error = ptr::null_mut();
    let status = f(&mut error);
    if status == sys::JINA3_OK {
        return Ok(());
    }
    // SAFETY: on failure the library hands us an error object (or NULL, read as "").
    let message = unsafe {
        let text = CStr::from_ptr(sys::jina3_error_message(error)).to_string_lossy().into_owned();
        sys::jina3_error_free(error);
        text
    };
    Err(Error::from_status(status, message))
}
