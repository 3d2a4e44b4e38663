//! Outputs beyond float32 rows: quantised rows (`Quantized`, `Ranges`, `quantize`), token
//! embeddings with offsets (`Tokens`) and late chunking (`Chunks`).
use std::ops::Range;
use std::os::raw::c_void;
use std::ptr::{self, NonNull};
use std::slice;

use jina3_sys as sys;

use crate::c_dims;
use crate::encoder::Embeddings;
use crate::enums::Precision;
use crate::error::{call, Error, Result};

/// Rows of one width as a C call writes them: the values row-major and a truncated flag per row.
/// The storage of `Embeddings` (f32 values) and `Quantized` (bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RowBuffer<T> {
    pub(crate) data: Vec<T>,
    pub(crate) truncated: Vec<u8>,
    rows: usize,
    width: usize,
}

/// A C call that writes rows: (values, their capacity, the truncated flags, the error out-pointer).
pub(crate) trait WriteRows<T>:
    FnOnce(*mut T, usize, *mut u8, *mut *mut sys::jina3_error) -> sys::jina3_status
{
}

impl<T, F: FnOnce(*mut T, usize, *mut u8, *mut *mut sys::jina3_error) -> sys::jina3_status> WriteRows<T> for F {}

impl<T: Clone + Default> RowBuffer<T> {
    /// `rows` rows of `width` values as `write` fills them.
    pub(crate) fn filled(rows: usize, width: usize, write: impl WriteRows<T>) -> Result<RowBuffer<T>> {
        let mut out = RowBuffer { data: vec![T::default(); rows * width], truncated: vec![0; rows], rows, width };
        call(|error| write(out.data.as_mut_ptr(), out.data.len(), out.truncated.as_mut_ptr(), error))?;
        Ok(out)
    }
}

impl<T> RowBuffer<T> {
    pub(crate) fn rows(&self) -> usize {
        self.rows
    }

    pub(crate) fn width(&self) -> usize {
        self.width
    }

    /// Row `i`; panics if `i >= rows()`, as slice indexing does.
    pub(crate) fn row(&self, i: usize) -> &[T] {
        assert!(i < self.rows, "row {} of {} rows", i, self.rows);
        row_of(&self.data, self.width, i)
    }

    pub(crate) fn truncated(&self, i: usize) -> bool {
        self.truncated[i] != 0
    }
}

/// Row `i` of row-major `values` with `width` per row.
fn row_of<T>(values: &[T], width: usize, i: usize) -> &[T] {
    &values[i * width..(i + 1) * width]
}

/// Rows in a `Precision`: `rows()` rows of `row_bytes()` bytes each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quantized {
    pub(crate) buffer: RowBuffer<u8>,
    dims: usize,
    precision: Precision,
}

impl Quantized {
    /// `rows` rows of `dims` dimensions in `precision` as `write` fills them.
    pub(crate) fn filled(
        rows: usize,
        dims: usize,
        precision: Precision,
        write: impl WriteRows<u8>,
    ) -> Result<Quantized> {
        Ok(Quantized { buffer: RowBuffer::filled(rows, precision.row_bytes(dims), write)?, dims, precision })
    }

    pub fn rows(&self) -> usize {
        self.buffer.rows()
    }

    /// Dimensions per row (before packing: a binary row holds dims / 8 bytes).
    pub fn dims(&self) -> usize {
        self.dims
    }

    pub fn row_bytes(&self) -> usize {
        self.buffer.width()
    }

    pub fn precision(&self) -> Precision {
        self.precision
    }

    /// Row `i`'s bytes (read int8 and binary rows as i8, float16 rows as u16 pairs, little-endian
    /// here as on every platform jina3 runs on).
    pub fn row(&self, i: usize) -> &[u8] {
        self.buffer.row(i)
    }

    /// Row `i` as signed bytes (`Precision::Int8` and `Precision::Binary`).
    pub fn row_i8(&self, i: usize) -> Vec<i8> {
        self.row(i).iter().map(|&b| b as i8).collect()
    }

    /// Every byte, row-major.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buffer.data
    }

    /// Whether text `i` was cut to max_length (rows from `quantize` never are).
    pub fn truncated(&self, i: usize) -> bool {
        self.buffer.truncated(i)
    }
}

/// int8/uint8 ranges: per dimension the min and the max of a calibration set. Keep a corpus's
/// ranges and pass them again for its queries, so both quantise alike.
#[derive(Debug, Clone, PartialEq)]
pub struct Ranges {
    // The min row, then the max row (the C layout).
    values: Vec<f32>,
}

impl Ranges {
    /// From a min row and a max row of equal length.
    pub fn new(min: &[f32], max: &[f32]) -> Result<Ranges> {
        if min.len() != max.len() {
            return Err(Error::InvalidArgument(format!("min has {} values, max {}", min.len(), max.len())));
        }
        Ok(Ranges { values: min.iter().chain(max).copied().collect() })
    }

    /// The ranges of float32 rows (`jina3_calibration_ranges`).
    pub fn of(embeddings: &Embeddings) -> Result<Ranges> {
        calibration_ranges(embeddings.as_slice(), embeddings.dims())
    }

    pub fn dims(&self) -> usize {
        self.values.len() / 2
    }

    pub fn min(&self) -> &[f32] {
        &self.values[..self.dims()]
    }

    pub fn max(&self) -> &[f32] {
        &self.values[self.dims()..]
    }

    /// The pointer for a C call that reads 2 x width floats for int8/uint8 (NULL otherwise or for
    /// None). The C API cannot know the caller's length, so a mismatch is refused here.
    pub(crate) fn checked_ptr(ranges: Option<&Ranges>, precision: Precision, width: usize) -> Result<*const f32> {
        match ranges {
            Some(r) if matches!(precision, Precision::Int8 | Precision::Uint8) => {
                if r.dims() != width {
                    return Err(Error::InvalidArgument(format!("ranges have {} dims, the rows {}", r.dims(), width)));
                }
                Ok(r.values.as_ptr())
            }
            _ => Ok(ptr::null()),
        }
    }
}

/// The int8/uint8 ranges of `values`, rows of `dims` floats (`jina3_calibration_ranges`).
pub fn calibration_ranges(values: &[f32], dims: usize) -> Result<Ranges> {
    let rows = whole_rows(values, dims)?;
    // With no rows the library refuses the call before it writes: no buffer of a caller's dims.
    let mut out = vec![0.0f32; if rows == 0 { 2 } else { 2 * dims }];
    call(|error| unsafe {
        sys::jina3_calibration_ranges(values.as_ptr(), rows, c_dims(dims), out.as_mut_ptr(), error)
    })?;
    Ok(Ranges { values: out })
}

/// The precision stage alone for float32 rows you already have (`jina3_quantize`): `values` holds
/// rows of `dims` floats; `ranges` None computes them from these rows.
pub fn quantize(values: &[f32], dims: usize, precision: Precision, ranges: Option<&Ranges>) -> Result<Quantized> {
    let rows = whole_rows(values, dims)?;
    let ranges_ptr = Ranges::checked_ptr(ranges, precision, dims)?;
    Quantized::filled(rows, dims, precision, |out, capacity, _truncated, error| unsafe {
        sys::jina3_quantize(
            values.as_ptr(),
            rows,
            c_dims(dims),
            precision.raw(),
            ranges_ptr,
            out as *mut c_void,
            capacity,
            error,
        )
    })
}

/// Rows in values; the library checks dims itself (dims 0 reaches it as 0 rows).
fn whole_rows(values: &[f32], dims: usize) -> Result<usize> {
    if dims == 0 {
        return Ok(0);
    }
    if values.len().checked_rem(dims) != Some(0) {
        return Err(Error::InvalidArgument(format!("{} values are not whole rows of {} dims", values.len(), dims)));
    }
    Ok(values.len() / dims)
}

/// A slice over library-owned memory; empty for NULL.
unsafe fn view<'a, T>(pointer: *const T, len: usize) -> &'a [T] {
    if pointer.is_null() || len == 0 {
        &[]
    } else {
        slice::from_raw_parts(pointer, len)
    }
}

/// `len` library-owned [begin, end) pairs (two values each).
unsafe fn pairs<'a, T>(pointer: *const T, len: usize) -> &'a [[T; 2]] {
    view(pointer as *const [T; 2], len)
}

/// A result the library owns and `$free` frees: `$count` items ($items, one $item each) with one
/// vector of `$width` floats each (`$vectors`). Immutable, so `Send + Sync`; its arrays are read in
/// place.
macro_rules! library_result {
    (
        $(#[$doc:meta])* $name:ident ($items:literal, $item:literal): $raw:ty,
        count $count:path, free $free:path, vectors $vectors:path, width $width:ident = $width_fn:path
    ) => {
        $(#[$doc])*
        pub struct $name {
            raw: NonNull<$raw>,
        }

        unsafe impl Send for $name {}
        unsafe impl Sync for $name {}

        impl $name {
            pub(crate) fn from_raw(raw: *mut $raw) -> Result<$name> {
                NonNull::new(raw).map(|raw| $name { raw }).ok_or_else(|| Error::Internal(concat!("NULL ", $items).into()))
            }

            fn ptr(&self) -> *const $raw {
                self.raw.as_ptr()
            }

            #[doc = concat!("Number of ", $items, ".")]
            pub fn len(&self) -> usize {
                unsafe { $count(self.ptr()) }
            }

            pub fn is_empty(&self) -> bool {
                self.len() == 0
            }

            #[doc = concat!("Floats per ", $item, ".")]
            pub fn $width(&self) -> usize {
                unsafe { $width_fn(self.ptr()) }
            }

            #[doc = concat!("len() x ", stringify!($width), "() floats, row-major.")]
            pub fn embeddings(&self) -> &[f32] {
                unsafe { view($vectors(self.ptr()), self.len() * self.$width()) }
            }

            #[doc = concat!("The vector of ", $item, " `i`.")]
            pub fn embedding(&self, i: usize) -> &[f32] {
                row_of(self.embeddings(), self.$width(), i)
            }
        }

        impl Drop for $name {
            fn drop(&mut self) {
                unsafe { $free(self.raw.as_ptr()) }
            }
        }
    };
}

library_result! {
    /// One text's token embeddings: `<s>`, the task's prompt, the text's tokens, `</s>`.
    Tokens ("tokens", "token"): sys::jina3_tokens,
    count sys::jina3_tokens_count, free sys::jina3_tokens_free,
    vectors sys::jina3_tokens_embeddings, width hidden = sys::jina3_tokens_hidden
}

impl Tokens {
    pub fn ids(&self) -> &[i32] {
        unsafe { view(sys::jina3_tokens_ids(self.ptr()), self.len()) }
    }

    /// [begin, end) byte offsets into the text per token; [-1, -1] for `<s>`, `</s>` and the prompt.
    pub fn offsets(&self) -> &[[i64; 2]] {
        unsafe { pairs(sys::jina3_tokens_offsets(self.ptr()), self.len()) }
    }

    /// Token `i`'s byte range in the text; None for `<s>`, `</s>` and the prompt.
    pub fn offset(&self, i: usize) -> Option<Range<usize>> {
        let [begin, end] = self.offsets()[i];
        if begin < 0 {
            None
        } else {
            Some(begin as usize..end as usize)
        }
    }

    /// Whether the text was cut to max_length.
    pub fn truncated(&self) -> bool {
        unsafe { sys::jina3_tokens_truncated(self.ptr()) }
    }
}

library_result! {
    /// One text's chunk embeddings from late chunking.
    Chunks ("chunks", "chunk"): sys::jina3_chunks,
    count sys::jina3_chunks_count, free sys::jina3_chunks_free,
    vectors sys::jina3_chunks_embeddings, width dims = sys::jina3_chunks_dims
}

impl Chunks {
    /// [begin, end) byte offsets into the text per chunk.
    pub fn spans(&self) -> &[[usize; 2]] {
        unsafe { pairs(sys::jina3_chunks_spans(self.ptr()), self.len()) }
    }

    /// [begin, end) token indices in the full sequence per chunk.
    pub fn token_spans(&self) -> &[[usize; 2]] {
        unsafe { pairs(sys::jina3_chunks_token_spans(self.ptr()), self.len()) }
    }
}
