//! Options from builders. Each starts from the library's defaults (`*_default_options`) and
//! changes only what you set; values are passed on unchecked, and a bad one is reported by the
//! call that uses it (`Error::InvalidArgument` naming the field).
use std::mem::{size_of, MaybeUninit};

use jina3_sys as sys;

use crate::enums::{DType, Device, Priority};

/// Load-time settings of an encoder (`jina3_encoder_options`), for `Encoder::open_with`.
///
/// ```no_run
/// let options = jina3::EncoderOptions::new().num_threads(4).cache_bytes(64 << 20);
/// let encoder = jina3::Encoder::open_with("/path/to/package", &options)?;
/// # Ok::<(), jina3::Error>(())
/// ```
#[derive(Debug, Clone, Copy)]
pub struct EncoderOptions {
    raw: sys::jina3_encoder_options,
}

impl Default for EncoderOptions {
    fn default() -> Self {
        EncoderOptions { raw: library_defaults(sys::jina3_encoder_default_options) }
    }
}

/// A C options struct as one of the `*_default_options` functions fills it.
fn library_defaults<T>(fill: unsafe extern "C" fn(*mut T, usize)) -> T {
    let mut raw = MaybeUninit::<T>::zeroed();
    // SAFETY: the library writes every field of a struct of the size we pass.
    unsafe {
        fill(raw.as_mut_ptr(), size_of::<T>());
        raw.assume_init()
    }
}

/// The builder methods of an options type over the C struct `$raw` (in its field `raw`): `new`,
/// `as_raw` and one setter per listed field.
macro_rules! builder {
    ($raw:ty; $($(#[$doc:meta])* $field:ident : $t:ty => $convert:expr;)*) => {
        /// The library's defaults.
        pub fn new() -> Self {
            Self::default()
        }

        /// The C struct, for `jina3_sys` calls.
        pub fn as_raw(&self) -> &$raw {
            &self.raw
        }

        $(
            $(#[$doc])*
            pub fn $field(mut self, value: $t) -> Self {
                #[allow(clippy::redundant_closure_call)]
                { self.raw.$field = ($convert)(value); }
                self
            }
        )*
    };
}

impl EncoderOptions {
    builder! {
        sys::jina3_encoder_options;
        /// CPU (default) or CUDA.
        device: Device => Device::raw;
        /// CUDA device ordinal; default 0.
        device_index: i32 => |v| v;
        /// `DType::Auto` (default): the package's dtype; others cast at load.
        dtype: DType => DType::raw;
        /// Intra-op threads; 0 (default): every CPU this process may run on.
        num_threads: i32 => |v| v;
        /// Padded tokens per forward pass; 0 = automatic.
        max_batch_tokens: i32 => |v| v;
        /// Rows per forward pass; 0 = automatic.
        max_batch_size: i32 => |v| v;
        /// Check every package file's SHA-256 at load; default true.
        verify_checksums: bool => |v| v;
        /// CPU: keep freed memory in the process; default true.
        retain_host_memory: bool => |v| v;
        /// Wait up to this long for callers to come back before a smaller pass; default 2000.
        max_wait_us: i32 => |v| v;
        /// Requests accepted and not completed, at most; 0 = automatic (1024).
        max_queued_requests: i32 => |v| v;
        /// LRU cache of embeddings of this size in bytes; 0 = off (default).
        cache_bytes: usize => |v| v;
        /// false: each call runs its own passes on the calling thread; default true.
        use_scheduler: bool => |v| v;
        /// Share of a step's tokens that `Priority::Bulk` rows keep while both lanes have work; default 0.25.
        bulk_share: f64 => |v| v;
        /// Padded tokens per bulk pass at most; 0 = automatic (CPU 256).
        bulk_pass_tokens: i32 => |v| v;
    }
}

/// Per-call settings (`jina3_encode_options`), for the `*_with` calls.
#[derive(Debug, Clone, Copy)]
pub struct EncodeOptions {
    raw: sys::jina3_encode_options,
}

impl Default for EncodeOptions {
    fn default() -> Self {
        EncodeOptions { raw: library_defaults(sys::jina3_encode_default_options) }
    }
}

impl EncodeOptions {
    builder! {
        sys::jina3_encode_options;
        /// Token limit per text, `<s>` and `</s>` included; 0 = the package's.
        max_length: i32 => |v| v;
        /// Rows per forward pass for this call; 0 = the encoder's limits.
        batch_size: i32 => |v| v;
        /// L2-normalise each row after Matryoshka truncation; default true.
        normalize: bool => |v| v;
        /// Cut over-long texts to max_length; false: `Error::InputTooLong`. Default true.
        truncate: bool => |v| v;
        /// Fail with `Error::DeadlineExceeded` unless a forward pass has started within this many
        /// microseconds; 0 = none (default).
        deadline_us: i64 => |v| v;
        /// Queue full: wait for room (default) or fail with `Error::QueueFull`.
        block_when_full: bool => |v| v;
        /// The scheduler lane; default `Priority::Interactive`.
        priority: Priority => Priority::raw;
        /// true: "<s>", "</s>", "<unk>", "<pad>", "<mask>" in a text are plain text; default false.
        split_special_tokens: bool => |v| v;
    }
}

/// How `Encoder::late_chunk` cuts a text (`jina3_late_chunk_options` and the spans argument). At
/// most one of `spans`, `chunk_tokens` and `sentences`; none: the whole text is one chunk.
#[derive(Debug, Clone)]
pub struct LateChunkOptions {
    raw: sys::jina3_late_chunk_options,
    spans: Option<Vec<usize>>,
}

/// The library's defaults: one chunk per text.
impl Default for LateChunkOptions {
    fn default() -> Self {
        LateChunkOptions { raw: library_defaults(sys::jina3_late_chunk_default_options), spans: None }
    }
}

impl LateChunkOptions {
    builder! {
        sys::jina3_late_chunk_options;
        /// Chunks of this many content tokens.
        chunk_tokens: i32 => |v| v;
        /// Chunks of this many sentences.
        sentences: i32 => |v| v;
        /// Macro window in tokens for long texts; 0 = the package's max_length.
        window: i32 => |v| v;
        /// Tokens shared by consecutive windows; negative = default.
        overlap: i32 => |v| v;
        /// L2-normalise each chunk vector; default true.
        normalize: bool => |v| v;
        /// The first and last chunk also pool `<s>`, the prompt and `</s>`; default true.
        include_special_tokens: bool => |v| v;
    }

    /// The chunks as [begin, end) byte offsets into the text.
    pub fn spans(mut self, spans: &[(usize, usize)]) -> Self {
        self.spans = Some(spans.iter().flat_map(|&(begin, end)| [begin, end]).collect());
        self
    }

    pub(crate) fn flat_spans(&self) -> Option<&[usize]> {
        self.spans.as_deref()
    }
}
