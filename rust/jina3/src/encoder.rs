//! `Encoder` (a loaded package), `Embeddings` (float32 rows) and `Request` (an asynchronous call).
use std::collections::BTreeMap;
use std::ffi::CStr;
use std::marker::PhantomData;
use std::os::raw::{c_char, c_int, c_void};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::ptr::{self, NonNull};
use std::sync::Mutex;

use jina3_sys as sys;

use crate::enums::{DType, Device, Precision, Task};
use crate::error::{c_string, call, Error, Result};
use crate::options::{EncodeOptions, EncoderOptions, LateChunkOptions};
use crate::outputs::{Chunks, Quantized, Ranges, RowBuffer, Tokens, WriteRows};
use crate::stats::Stats;
use crate::{c_dims, tasks_raw};

/// A loaded model package. Every method may be called from any number of threads at once (the
/// encoder's scheduler merges concurrent calls into shared forward passes), so `Encoder` is
/// `Send + Sync`; share it with `&`, `Arc` or `std::thread::scope`. Dropping it frees it: requests
/// still queued then fail with `Error::Cancelled`.
pub struct Encoder {
    raw: NonNull<sys::jina3_encoder>,
}

// SAFETY: jina3.h allows every call but create and free from any thread, concurrently; free takes
// &mut self (Drop), so it never overlaps with another call.
unsafe impl Send for Encoder {}
unsafe impl Sync for Encoder {}

impl Drop for Encoder {
    fn drop(&mut self) {
        // SAFETY: created by jina3_encoder_create, freed once.
        unsafe { sys::jina3_encoder_free(self.raw.as_ptr()) }
    }
}

/// Texts (`P` = c_char) or token-id texts (`P` = i32) as the C API takes them: one pointer and one
/// length per text (no copies, no NUL terminators), borrowed from the caller's slices.
struct Batch<'a, P> {
    pointers: Vec<*const P>,
    lengths: Vec<usize>,
    _texts: PhantomData<&'a [P]>,
}

impl<'a, P> Batch<'a, P> {
    fn from_parts(parts: impl Iterator<Item = (*const P, usize)>) -> Self {
        let (pointers, lengths) = parts.unzip();
        Batch { pointers, lengths, _texts: PhantomData }
    }

    fn len(&self) -> usize {
        self.lengths.len()
    }
}

impl<'a> Batch<'a, c_char> {
    fn texts<S: AsRef<str>>(texts: &'a [S]) -> Self {
        Batch::from_parts(texts.iter().map(|t| (t.as_ref().as_ptr() as *const c_char, t.as_ref().len())))
    }
}

impl<'a> Batch<'a, i32> {
    fn ids(ids: &'a [&[i32]]) -> Self {
        Batch::from_parts(ids.iter().map(|t| (t.as_ptr(), t.len())))
    }
}

/// The shape of jina3_encoder_encode (`T` = one task), _encode_tasks (`T` = a task per text) and
/// _encode_ids (`P` = i32).
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

/// The shape of jina3_encoder_submit and _submit_ids (`P` = i32).
type SubmitFn<P> = unsafe extern "C" fn(
    *const sys::jina3_encoder,
    *const *const P,
    *const usize,
    usize,
    *const sys::jina3_task,
    usize,
    c_int,
    *const sys::jina3_encode_options,
    sys::jina3_request_callback,
    *mut c_void,
    *mut *mut sys::jina3_request,
    *mut *mut sys::jina3_error,
) -> sys::jina3_status;

impl Encoder {
    /// Loads a package directory with the default options.
    pub fn open(path: impl AsRef<Path>) -> Result<Encoder> {
        Encoder::open_with(path, &EncoderOptions::default())
    }

    /// Loads a package directory with `options`.
    pub fn open_with(path: impl AsRef<Path>, options: &EncoderOptions) -> Result<Encoder> {
        let path = path.as_ref();
        let text =
            path.to_str().ok_or_else(|| Error::InvalidArgument(format!("package path {:?} is not UTF-8", path)))?;
        let c_path = c_string("package path", text)?;
        let mut raw = ptr::null_mut();
        // SAFETY: valid path, options and out-pointer.
        call(|error| unsafe { sys::jina3_encoder_create(c_path.as_ptr(), options.as_raw(), &mut raw, error) })?;
        let raw = NonNull::new(raw).ok_or_else(|| Error::Internal("jina3_encoder_create gave NULL".into()))?;
        Ok(Encoder { raw })
    }

    /// The C handle, for `jina3_sys` calls; valid while `self` lives.
    pub fn as_raw(&self) -> *const sys::jina3_encoder {
        self.raw.as_ptr()
    }

    /// Floats per row for `dims`: the full size for 0, else dims. A dims over the full size is
    /// not offered and the library rejects it before it looks at the buffer, so the buffer is
    /// sized with the full size then, never with a caller's huge value.
    fn width(&self, dims: usize) -> usize {
        let full = self.hidden_size();
        if dims == 0 || dims > full {
            full
        } else {
            dims
        }
    }

    /// Embeds `texts` with one task: one row of `dims` floats per text (`dims` 0: full size),
    /// L2-normalised.
    pub fn encode<S: AsRef<str>>(&self, texts: &[S], task: Task, dims: usize) -> Result<Embeddings> {
        self.encode_with(texts, task, dims, &EncodeOptions::default())
    }

    /// `encode` with options.
    pub fn encode_with<S: AsRef<str>>(
        &self,
        texts: &[S],
        task: Task,
        dims: usize,
        options: &EncodeOptions,
    ) -> Result<Embeddings> {
        self.encode_rows(sys::jina3_encoder_encode, &Batch::texts(texts), task.raw(), dims, options)
    }

    /// Embeds texts with one task per text (`tasks.len() == texts.len()`); rows with different
    /// tasks share forward passes.
    pub fn encode_tasks<S: AsRef<str>>(
        &self,
        texts: &[S],
        tasks: &[Task],
        dims: usize,
        options: &EncodeOptions,
    ) -> Result<Embeddings> {
        if tasks.len() != texts.len() {
            // The C function reads count tasks: a shorter slice must not reach it.
            return Err(Error::InvalidArgument(format!("{} tasks for {} texts", tasks.len(), texts.len())));
        }
        let raw_tasks = tasks_raw(tasks);
        self.encode_rows(sys::jina3_encoder_encode_tasks, &Batch::texts(texts), raw_tasks.as_ptr(), dims, options)
    }

    /// Embeds texts given as token ids (each text's own tokens, without `<s>`, `</s>` or the
    /// prompt, which the encoder adds). Every id must be below `vocab_size()`.
    pub fn encode_ids(&self, ids: &[&[i32]], task: Task, dims: usize, options: &EncodeOptions) -> Result<Embeddings> {
        self.encode_rows(sys::jina3_encoder_encode_ids, &Batch::ids(ids), task.raw(), dims, options)
    }

    /// One call of an `EncodeFn` into float32 rows sized here.
    fn encode_rows<P, T>(
        &self,
        encode: EncodeFn<P, T>,
        batch: &Batch<P>,
        task: T,
        dims: usize,
        options: &EncodeOptions,
    ) -> Result<Embeddings> {
        // SAFETY: the texts outlive the call (the batch borrows them); task holds one task or
        // batch.len() tasks; out holds rows x width floats and rows truncated bytes.
        Embeddings::filled(batch.len(), self.width(dims), |out, capacity, truncated, error| unsafe {
            encode(
                self.as_raw(),
                batch.pointers.as_ptr(),
                batch.lengths.as_ptr(),
                batch.len(),
                task,
                c_dims(dims),
                options.as_raw(),
                out,
                capacity,
                truncated,
                error,
            )
        })
    }

    /// Embeds texts and returns rows in `precision`. `ranges` (int8/uint8 only): a corpus's
    /// `Ranges`, or None for this call's own.
    pub fn encode_quantized<S: AsRef<str>>(
        &self,
        texts: &[S],
        task: Task,
        dims: usize,
        precision: Precision,
        ranges: Option<&Ranges>,
        options: &EncodeOptions,
    ) -> Result<Quantized> {
        let width = self.width(dims);
        let ranges_ptr = Ranges::checked_ptr(ranges, precision, width)?;
        let batch = Batch::texts(texts);
        Quantized::filled(batch.len(), width, precision, |out, capacity, truncated, error| unsafe {
            sys::jina3_encoder_encode_quantized(
                self.as_raw(),
                batch.pointers.as_ptr(),
                batch.lengths.as_ptr(),
                batch.len(),
                task.raw(),
                c_dims(dims),
                precision.raw(),
                ranges_ptr,
                options.as_raw(),
                out as *mut c_void,
                capacity,
                truncated,
                error,
            )
        })
    }

    /// One text's token embeddings (final hidden states before pooling) with ids and offsets.
    pub fn encode_tokens(&self, text: &str, task: Task, options: &EncodeOptions) -> Result<Tokens> {
        let mut raw = ptr::null_mut();
        call(|error| unsafe {
            sys::jina3_encoder_encode_tokens(
                self.as_raw(),
                text.as_ptr() as *const c_char,
                text.len(),
                task.raw(),
                options.as_raw(),
                &mut raw,
                error,
            )
        })?;
        Tokens::from_raw(raw)
    }

    /// Late chunking of one text: the text runs through the model whole and each chunk's vector
    /// pools that chunk's tokens.
    pub fn late_chunk(&self, text: &str, task: Task, dims: usize, options: &LateChunkOptions) -> Result<Chunks> {
        let spans = options.flat_spans();
        let (spans_ptr, span_count) = spans.map_or((ptr::null(), 0), |s| (s.as_ptr(), s.len() / 2));
        let mut raw = ptr::null_mut();
        call(|error| unsafe {
            sys::jina3_encoder_late_chunk(
                self.as_raw(),
                text.as_ptr() as *const c_char,
                text.len(),
                task.raw(),
                c_dims(dims),
                spans_ptr,
                span_count,
                options.as_raw(),
                &mut raw,
                error,
            )
        })?;
        Chunks::from_raw(raw)
    }

    /// Queues texts and returns at once; `Request::wait` gives the rows. The texts are only read
    /// during this call.
    pub fn submit<S: AsRef<str>>(&self, texts: &[S], task: Task, dims: usize) -> Result<Request> {
        self.submit_with(texts, &[task], dims, &EncodeOptions::default())
    }

    /// `submit` with options and one task for all texts (`[task]`) or one per text.
    pub fn submit_with<S: AsRef<str>>(
        &self,
        texts: &[S],
        tasks: &[Task],
        dims: usize,
        options: &EncodeOptions,
    ) -> Result<Request> {
        self.submit_rows(sys::jina3_encoder_submit, &Batch::texts(texts), tasks, dims, options, None)
    }

    /// `submit_with`, and `on_ready` runs once when the request completes or fails, on the
    /// encoder's worker thread (keep it short: it holds up the requests behind it). It is not
    /// called if the `Request` is dropped first.
    pub fn submit_then<S: AsRef<str>, F: FnOnce() + Send + 'static>(
        &self,
        texts: &[S],
        tasks: &[Task],
        dims: usize,
        options: &EncodeOptions,
        on_ready: F,
    ) -> Result<Request> {
        let on_ready: Box<dyn FnOnce() + Send> = Box::new(on_ready);
        self.submit_rows(sys::jina3_encoder_submit, &Batch::texts(texts), tasks, dims, options, Some(on_ready))
    }

    /// `submit_with` for token-id texts (see `encode_ids`).
    pub fn submit_ids(&self, ids: &[&[i32]], tasks: &[Task], dims: usize, options: &EncodeOptions) -> Result<Request> {
        self.submit_rows(sys::jina3_encoder_submit_ids, &Batch::ids(ids), tasks, dims, options, None)
    }

    /// One call of a `SubmitFn`.
    fn submit_rows<P>(
        &self,
        submit: SubmitFn<P>,
        batch: &Batch<P>,
        tasks: &[Task],
        dims: usize,
        options: &EncodeOptions,
        on_ready: Option<Box<dyn FnOnce() + Send>>,
    ) -> Result<Request> {
        let raw_tasks = tasks_raw(tasks);
        // SAFETY: the texts and tasks are read during the call only (the C API copies them).
        Request::submit(on_ready, |callback, user_data, request, error| unsafe {
            submit(
                self.as_raw(),
                batch.pointers.as_ptr(),
                batch.lengths.as_ptr(),
                batch.len(),
                raw_tasks.as_ptr(),
                raw_tasks.len(),
                c_dims(dims),
                options.as_raw(),
                callback,
                user_data,
                request,
                error,
            )
        })
    }

    /// The encoder's counters since it was loaded.
    pub fn stats(&self) -> Result<Stats> {
        Stats::read(self)
    }

    /// Accepted Matryoshka dims, ascending.
    pub fn dims(&self) -> Vec<usize> {
        unsafe {
            let count = sys::jina3_encoder_dims(self.as_raw(), ptr::null_mut(), 0);
            let mut dims = vec![0; count];
            let written = sys::jina3_encoder_dims(self.as_raw(), dims.as_mut_ptr(), count);
            dims.truncate(written.min(count));
            dims.into_iter().map(|d| d as usize).collect()
        }
    }

    /// Full embedding size (the largest dims).
    pub fn hidden_size(&self) -> usize {
        unsafe { sys::jina3_encoder_hidden_size(self.as_raw()) as usize }
    }

    /// Token limit per text, `<s>` and `</s>` included.
    pub fn max_length(&self) -> usize {
        unsafe { sys::jina3_encoder_max_length(self.as_raw()) as usize }
    }

    /// Vocabulary size: token ids are below it.
    pub fn vocab_size(&self) -> usize {
        unsafe { sys::jina3_encoder_vocab_size(self.as_raw()) as usize }
    }

    /// The task adapters in the package.
    pub fn tasks(&self) -> Vec<Task> {
        unsafe {
            (0..sys::jina3_encoder_task_count(self.as_raw()))
                .filter_map(|i| Task::from_raw(sys::jina3_encoder_task(self.as_raw(), i)))
                .collect()
        }
    }

    /// The device the encoder runs on.
    pub fn device(&self) -> Device {
        Device::from_raw(unsafe { sys::jina3_encoder_device(self.as_raw()) }).unwrap_or(Device::Cpu)
    }

    /// The dtype the encoder runs in (never `DType::Auto`).
    pub fn dtype(&self) -> DType {
        DType::from_raw(unsafe { sys::jina3_encoder_dtype(self.as_raw()) }).unwrap_or(DType::Float32)
    }

    /// The package directory the encoder was loaded from.
    pub fn package_path(&self) -> &str {
        // SAFETY: owned by the encoder, valid while it lives; UTF-8 (it was given as &str).
        unsafe { CStr::from_ptr(sys::jina3_encoder_package_path(self.as_raw())) }.to_str().unwrap_or("")
    }

    /// The instruction prepended to texts of `task` ("" for `Task::None`).
    pub fn prompt(&self, task: Task) -> Result<&str> {
        let mut prompt: *const c_char = ptr::null();
        call(|error| unsafe { sys::jina3_encoder_prompt(self.as_raw(), task.raw(), &mut prompt, error) })?;
        // SAFETY: owned by the encoder, valid while it lives.
        let text = unsafe { CStr::from_ptr(prompt) };
        text.to_str().map_err(|_| Error::Internal("the prompt is not UTF-8".into()))
    }

    /// Which kernels the encoder runs, fixed at load: every field of `jina3_encoder_kernel_report`
    /// by name (`device`, `isa`, `bf16`, `compute_dtype`, `matmul`, `int8_engine`, `notice`; see
    /// `jina3/kernels.hpp`). `notice` is not empty when this CPU emulates the bfloat16 the encoder
    /// computes in (an int8 package runs faster there).
    pub fn kernels(&self) -> Result<BTreeMap<String, String>> {
        let mut report = BTreeMap::new();
        // SAFETY: the field names are static strings; the values are owned by the encoder.
        for index in 0..unsafe { sys::jina3_kernel_field_count() } {
            let name = unsafe { sys::jina3_kernel_field_name(index) };
            let mut value: *const c_char = ptr::null();
            call(|error| unsafe { sys::jina3_encoder_kernel_report(self.as_raw(), name, &mut value, error) })?;
            let name = unsafe { CStr::from_ptr(name) }.to_string_lossy().into_owned();
            let value = unsafe { CStr::from_ptr(value) }.to_string_lossy().into_owned();
            report.insert(name, value);
        }
        Ok(report)
    }
}

/// Float32 embeddings: `rows()` rows of `dims()` values, row-major, in input order.
#[derive(Debug, Clone, PartialEq)]
pub struct Embeddings {
    buffer: RowBuffer<f32>,
}

impl Embeddings {
    /// `rows` rows of `dims` floats as `write` fills them.
    fn filled(rows: usize, dims: usize, write: impl WriteRows<f32>) -> Result<Embeddings> {
        Ok(Embeddings { buffer: RowBuffer::filled(rows, dims, write)? })
    }

    /// Number of rows (texts).
    pub fn rows(&self) -> usize {
        self.buffer.rows()
    }

    /// Floats per row.
    pub fn dims(&self) -> usize {
        self.buffer.width()
    }

    /// Row `i`; panics if `i >= rows()`, as slice indexing does.
    pub fn row(&self, i: usize) -> &[f32] {
        self.buffer.row(i)
    }

    /// The rows in order.
    pub fn iter(&self) -> impl Iterator<Item = &[f32]> {
        (0..self.rows()).map(move |i| self.row(i))
    }

    /// Every value, row-major.
    pub fn as_slice(&self) -> &[f32] {
        &self.buffer.data
    }

    /// Every value, row-major, without a copy.
    pub fn into_vec(self) -> Vec<f32> {
        self.buffer.data
    }

    /// Whether text `i` was cut to max_length.
    pub fn truncated(&self, i: usize) -> bool {
        self.buffer.truncated(i)
    }
}

/// The closure of `submit_then`, shared with the C callback through user_data.
type Notify = Mutex<Option<Box<dyn FnOnce() + Send>>>;

unsafe extern "C" fn on_request_ready(_request: *mut sys::jina3_request, user_data: *mut c_void) {
    // SAFETY: user_data is the Request's Notify box, which outlives every call of this callback
    // (jina3_request_free, in Request's Drop, returns only once no callback runs or will run).
    let notify = &*(user_data as *const Notify);
    let f = notify.lock().map(|mut slot| slot.take()).unwrap_or(None);
    if let Some(f) = f {
        // A panic must not unwind into C.
        let _ = catch_unwind(AssertUnwindSafe(f));
    }
}

/// An asynchronous encode call. `wait()` blocks until its rows are ready (and may be called
/// again, and from several threads at once); `cancel()` takes it out of the encoder's queue.
/// Dropping it frees it, also before completion (it then still runs and its result is dropped).
/// It may outlive its encoder: then it fails with `Error::Cancelled` if it had not run.
pub struct Request {
    raw: NonNull<sys::jina3_request>,
    // Dropped after the request is freed (see Drop).
    notify: Option<Box<Notify>>,
}

// SAFETY: jina3.h allows wait, cancel, ready, rows and dims from any thread, concurrently; free
// takes &mut self (Drop).
unsafe impl Send for Request {}
unsafe impl Sync for Request {}

impl Request {
    fn submit(
        on_ready: Option<Box<dyn FnOnce() + Send>>,
        submit: impl FnOnce(
            sys::jina3_request_callback,
            *mut c_void,
            *mut *mut sys::jina3_request,
            *mut *mut sys::jina3_error,
        ) -> sys::jina3_status,
    ) -> Result<Request> {
        let notify: Option<Box<Notify>> = on_ready.map(|f| Box::new(Mutex::new(Some(f))));
        let (callback, user_data): (sys::jina3_request_callback, *mut c_void) = match &notify {
            Some(n) => (Some(on_request_ready), &**n as *const Notify as *mut c_void),
            None => (None, ptr::null_mut()),
        };
        let mut raw = ptr::null_mut();
        call(|error| submit(callback, user_data, &mut raw, error))?;
        let raw = NonNull::new(raw).ok_or_else(|| Error::Internal("submit gave a NULL request".into()))?;
        Ok(Request { raw, notify })
    }

    /// The C handle, for `jina3_sys` calls; valid while `self` lives.
    pub fn as_raw(&self) -> *mut sys::jina3_request {
        self.raw.as_ptr()
    }

    /// Rows of the result (the number of texts), known at once.
    pub fn rows(&self) -> usize {
        unsafe { sys::jina3_request_rows(self.as_raw()) }
    }

    /// Floats per row (the full size for dims 0), known at once.
    pub fn dims(&self) -> usize {
        unsafe { sys::jina3_request_dims(self.as_raw()) as usize }
    }

    /// Whether `wait` would return without blocking.
    pub fn is_ready(&self) -> bool {
        unsafe { sys::jina3_request_ready(self.as_raw()) }
    }

    /// Blocks until the request is done and returns its rows, or its failure
    /// (`Error::Cancelled`, `Error::DeadlineExceeded`, ...), the same each time.
    pub fn wait(&self) -> Result<Embeddings> {
        Embeddings::filled(self.rows(), self.dims(), |out, capacity, truncated, error| unsafe {
            sys::jina3_request_wait(self.as_raw(), out, capacity, truncated, error)
        })
    }

    /// Cancels the request if it has not completed: its queued texts leave the queue, passes not
    /// started are skipped, and `wait` returns `Error::Cancelled`. True if this call cancelled it,
    /// false if it had already completed or failed.
    pub fn cancel(&self) -> bool {
        unsafe { sys::jina3_request_cancel(self.as_raw()) }
    }
}

impl Drop for Request {
    fn drop(&mut self) {
        // SAFETY: created by a submit call, freed once. After this returns, the callback neither
        // runs nor will run, so the Notify box may go.
        unsafe { sys::jina3_request_free(self.raw.as_ptr()) }
        drop(self.notify.take());
    }
}
