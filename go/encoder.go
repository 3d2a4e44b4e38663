// Package jina3 runs jina-embeddings-v3 in the calling process through libjina3's C API (cgo,
// `#cgo pkg-config: jina3`).
//
//	encoder, err := jina3.Open("/path/to/package")
//	if err != nil { ... }
//	defer encoder.Close()
//	q, err := encoder.Encode(ctx, []string{"What is the capital of France?"}, jina3.RetrievalQuery, 0)
//	row := q.Row(0) // L2-normalised float32: dot products are cosine similarities
//
// Every method of Encoder may be called from any number of goroutines at once: the encoder's
// scheduler merges concurrent calls into shared forward passes. Cancelling the context of
// Encode takes its request out of the encoder's queue (jina3_request_cancel).
package jina3

/*
#cgo pkg-config: jina3
#include <stdlib.h>
#include <string.h>
#include <jina3/jina3.h>
*/
import "C"

import (
	"context"
	"runtime"
	"sync"
	"unsafe"
)

// Encoder is a loaded model package. Close it when done (a finalizer closes a forgotten one).
type Encoder struct {
	// Every call on raw holds mu for reading; Close holds it for writing, so that
	// jina3_encoder_free never overlaps another call on the encoder (jina3.h's rule).
	mu  sync.RWMutex
	raw *C.jina3_encoder
}

// Open loads a package directory.
func Open(path string, opts ...Option) (*Encoder, error) {
	options := defaultEncoderOptions()
	for _, opt := range opts {
		opt(options)
	}
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	var raw *C.jina3_encoder
	var cerr *C.jina3_error
	if err := check(C.jina3_encoder_create(cpath, &options.raw, &raw, &cerr), cerr); err != nil {
		return nil, err
	}
	e := &Encoder{raw: raw}
	runtime.SetFinalizer(e, func(e *Encoder) { e.Close() })
	return e, nil
}

// Close frees the encoder. Requests still queued fail with ErrCancelled. Calls after Close
// return ErrClosed; closing twice is harmless.
func (e *Encoder) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.raw != nil {
		C.jina3_encoder_free(e.raw)
		e.raw = nil
		runtime.SetFinalizer(e, nil)
	}
	return nil
}

// use runs f with the live encoder, or returns ErrClosed.
func (e *Encoder) use(f func(raw *C.jina3_encoder) error) error {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.raw == nil {
		return ErrClosed
	}
	return f(e.raw)
}

// Embeddings are float32 rows: Rows rows of Dims values, row-major, in input order.
type Embeddings struct {
	Rows, Dims int
	Data       []float32
	Truncated  []bool // whether each text was cut to the token limit
}

// Row returns row i (a view into Data).
func (e *Embeddings) Row(i int) []float32 { return e.Data[i*e.Dims : (i+1)*e.Dims : (i+1)*e.Dims] }

// cBatch holds texts (E = C.char) or token-id texts (E = C.int32_t) copied into C memory (cgo may
// not pass Go memory holding Go pointers): one block of values, a pointer per text and a length per
// text. free releases all three.
type cBatch[E any] struct {
	pointers **E
	lengths  *C.size_t
	count    C.size_t
	block    unsafe.Pointer
}

// newCBatch copies n texts: text i has size(i) values, which put(i, dst) copies to dst.
func newCBatch[E any](n int, size func(i int) int, put func(i int, dst unsafe.Pointer)) cBatch[E] {
	total := 0
	for i := 0; i < n; i++ {
		total += size(i)
	}
	var value E
	width := int(unsafe.Sizeof(value))
	c := cBatch[E]{
		block:    C.malloc(C.size_t((total + 1) * width)),
		pointers: (**E)(C.malloc(C.size_t((n + 1) * int(unsafe.Sizeof((*E)(nil)))))),
		lengths:  (*C.size_t)(C.malloc(C.size_t((n + 1) * int(unsafe.Sizeof(C.size_t(0)))))),
		count:    C.size_t(n),
	}
	pointers := unsafe.Slice(c.pointers, n+1)
	lengths := unsafe.Slice(c.lengths, n+1)
	at := 0
	for i := 0; i < n; i++ {
		pointers[i] = (*E)(unsafe.Add(c.block, at*width))
		put(i, unsafe.Pointer(pointers[i]))
		lengths[i] = C.size_t(size(i))
		at += size(i)
	}
	return c
}

func (c cBatch[E]) free() {
	C.free(c.block)
	C.free(unsafe.Pointer(c.pointers))
	C.free(unsafe.Pointer(c.lengths))
}

func newCTexts(texts []string) cBatch[C.char] {
	return newCBatch[C.char](len(texts), func(i int) int { return len(texts[i]) },
		func(i int, dst unsafe.Pointer) { copy(unsafe.Slice((*byte)(dst), len(texts[i])), texts[i]) })
}

func newCIDs(ids [][]int32) cBatch[C.int32_t] {
	return newCBatch[C.int32_t](len(ids), func(i int) int { return len(ids[i]) },
		func(i int, dst unsafe.Pointer) { copy(unsafe.Slice((*int32)(dst), len(ids[i])), ids[i]) })
}

func cTasks(tasks []Task) (*C.jina3_task, func()) {
	n := len(tasks)
	p := (*C.jina3_task)(C.malloc(C.size_t((n + 1) * int(unsafe.Sizeof(C.jina3_task(0))))))
	s := unsafe.Slice(p, n+1)
	for i, t := range tasks {
		s[i] = C.jina3_task(t)
	}
	return p, func() { C.free(unsafe.Pointer(p)) }
}

func floatPtr(s []float32) *C.float {
	if len(s) == 0 {
		return nil
	}
	return (*C.float)(unsafe.Pointer(&s[0]))
}

func bytePtr(s []byte) *C.uint8_t {
	if len(s) == 0 {
		return nil
	}
	return (*C.uint8_t)(unsafe.Pointer(&s[0]))
}

func bools(flags []byte) []bool {
	out := make([]bool, len(flags))
	for i, f := range flags {
		out[i] = f != 0
	}
	return out
}

// Encode embeds texts with one task: one row of dims floats per text (dims 0: the full size),
// L2-normalised. Cancelling ctx cancels the request and returns ctx.Err() (context.Canceled).
func (e *Encoder) Encode(ctx context.Context, texts []string, task Task, dims int) (*Embeddings, error) {
	return e.EncodeWith(ctx, texts, task, dims, nil)
}

// EncodeWith is Encode with options (nil: the defaults).
func (e *Encoder) EncodeWith(ctx context.Context, texts []string, task Task, dims int, opts *EncodeOptions) (*Embeddings, error) {
	return e.EncodeTasks(ctx, texts, []Task{task}, dims, opts)
}

// EncodeTasks embeds texts with one task for all ([]Task{task}) or one per text; rows with
// different tasks share forward passes.
func (e *Encoder) EncodeTasks(ctx context.Context, texts []string, tasks []Task, dims int, opts *EncodeOptions) (*Embeddings, error) {
	return submitAndWait(ctx, func() (*Request, error) { return e.Submit(texts, tasks, dims, opts) })
}

// EncodeIDs embeds texts given as token ids (each text's own tokens, without <s>, </s> or the
// prompt, which the encoder adds); every id must be below VocabSize().
func (e *Encoder) EncodeIDs(ctx context.Context, ids [][]int32, task Task, dims int, opts *EncodeOptions) (*Embeddings, error) {
	return submitAndWait(ctx, func() (*Request, error) { return e.SubmitIDs(ids, []Task{task}, dims, opts) })
}

// submitAndWait runs one request made by submit to its rows; a ctx already done submits nothing.
func submitAndWait(ctx context.Context, submit func() (*Request, error)) (*Embeddings, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	request, err := submit()
	if err != nil {
		return nil, err
	}
	defer request.Close()
	return request.Wait(ctx)
}

// Request is an asynchronous encode call (Submit). Wait may be called from several goroutines;
// Close frees it (also before it completed: it then still runs and its result is dropped).
type Request struct {
	mu  sync.RWMutex // Wait, Cancel and Ready hold it for reading, Close for writing
	raw *C.jina3_request
}

func newRequest(raw *C.jina3_request) *Request {
	r := &Request{raw: raw}
	runtime.SetFinalizer(r, func(r *Request) { r.Close() })
	return r
}

// Submit queues texts (one task for all, or one per text) and returns at once; Wait gives the
// rows.
func (e *Encoder) Submit(texts []string, tasks []Task, dims int, opts *EncodeOptions) (*Request, error) {
	ctexts := newCTexts(texts)
	defer ctexts.free()
	return e.submit(tasks, dims, opts, func(raw *C.jina3_encoder, a *submitArgs) C.jina3_status {
		return C.jina3_encoder_submit(raw, ctexts.pointers, ctexts.lengths, ctexts.count, a.tasks, a.taskCount, a.dims,
			a.options, nil, nil, a.request, a.cerr)
	})
}

// SubmitIDs is Submit for token-id texts (see EncodeIDs).
func (e *Encoder) SubmitIDs(ids [][]int32, tasks []Task, dims int, opts *EncodeOptions) (*Request, error) {
	cids := newCIDs(ids)
	defer cids.free()
	return e.submit(tasks, dims, opts, func(raw *C.jina3_encoder, a *submitArgs) C.jina3_status {
		return C.jina3_encoder_submit_ids(raw, cids.pointers, cids.lengths, cids.count, a.tasks, a.taskCount, a.dims,
			a.options, nil, nil, a.request, a.cerr)
	})
}

// submitArgs are the arguments that jina3_encoder_submit and _submit_ids share after the texts.
type submitArgs struct {
	tasks     *C.jina3_task
	taskCount C.size_t
	dims      C.int
	options   *C.jina3_encode_options
	request   **C.jina3_request
	cerr      **C.jina3_error
}

// submit calls one of the submit functions with the live encoder and makes its Request.
func (e *Encoder) submit(tasks []Task, dims int, opts *EncodeOptions, call func(*C.jina3_encoder, *submitArgs) C.jina3_status) (*Request, error) {
	var request *Request
	err := e.use(func(raw *C.jina3_encoder) error {
		ctasks, free := cTasks(tasks)
		defer free()
		options := opts.raw()
		var req *C.jina3_request
		var cerr *C.jina3_error
		args := submitArgs{tasks: ctasks, taskCount: C.size_t(len(tasks)), dims: cInt(dims), options: &options,
			request: &req, cerr: &cerr}
		if err := check(call(raw, &args), cerr); err != nil {
			return err
		}
		request = newRequest(req)
		return nil
	})
	return request, err
}

// Wait blocks until the request is done and returns its rows or its failure (ErrCancelled,
// ErrDeadlineExceeded, ...; the same each time). If ctx is done first, Wait cancels the request
// and returns ctx.Err().
func (r *Request) Wait(ctx context.Context) (*Embeddings, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.raw == nil {
		return nil, invalid("the request is closed")
	}
	rows := int(C.jina3_request_rows(r.raw))
	dims := int(C.jina3_request_dims(r.raw))
	out := &Embeddings{Rows: rows, Dims: dims, Data: make([]float32, rows*dims)}
	truncated := make([]byte, rows)
	wait := func() error {
		var cerr *C.jina3_error
		status := C.jina3_request_wait(r.raw, floatPtr(out.Data), C.size_t(len(out.Data)), bytePtr(truncated), &cerr)
		return check(status, cerr)
	}
	var err error
	if ctx.Done() == nil {
		err = wait()
	} else {
		done := make(chan error, 1)
		go func() { done <- wait() }()
		select {
		case err = <-done:
		case <-ctx.Done():
			// The C wait returns as soon as the request fails as cancelled (or completes, if
			// its last pass was running); the buffers stay ours until then.
			C.jina3_request_cancel(r.raw)
			<-done
			return nil, ctx.Err()
		}
	}
	if err != nil {
		return nil, err
	}
	out.Truncated = bools(truncated)
	return out, nil
}

// Cancel takes the request out of the encoder's queue if it has not completed; Wait then
// returns ErrCancelled. It reports whether this call cancelled it.
func (r *Request) Cancel() bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.raw != nil && bool(C.jina3_request_cancel(r.raw))
}

// Ready reports whether Wait would return without blocking.
func (r *Request) Ready() bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.raw != nil && bool(C.jina3_request_ready(r.raw))
}

// Close frees the request; closing twice is harmless.
func (r *Request) Close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.raw != nil {
		C.jina3_request_free(r.raw)
		r.raw = nil
		runtime.SetFinalizer(r, nil)
	}
}

// Dims lists the accepted Matryoshka dims, ascending.
func (e *Encoder) Dims() []int {
	var dims []int
	_ = e.use(func(raw *C.jina3_encoder) error {
		n := C.jina3_encoder_dims(raw, nil, 0)
		if n == 0 {
			return nil
		}
		buf := make([]C.int, n)
		n = C.jina3_encoder_dims(raw, &buf[0], n)
		for _, d := range buf[:n] {
			dims = append(dims, int(d))
		}
		return nil
	})
	return dims
}

// getter reads one value of a live encoder (0 after Close).
func getter[T any](e *Encoder, f func(raw *C.jina3_encoder) T) T {
	var v T
	_ = e.use(func(raw *C.jina3_encoder) error { v = f(raw); return nil })
	return v
}

// HiddenSize is the full embedding size (the largest dims).
func (e *Encoder) HiddenSize() int {
	return getter(e, func(raw *C.jina3_encoder) int { return int(C.jina3_encoder_hidden_size(raw)) })
}

// MaxLength is the token limit per text, <s> and </s> included.
func (e *Encoder) MaxLength() int {
	return getter(e, func(raw *C.jina3_encoder) int { return int(C.jina3_encoder_max_length(raw)) })
}

// VocabSize is the vocabulary size: token ids are below it.
func (e *Encoder) VocabSize() int {
	return getter(e, func(raw *C.jina3_encoder) int { return int(C.jina3_encoder_vocab_size(raw)) })
}

// Tasks lists the package's task adapters.
func (e *Encoder) Tasks() []Task {
	return getter(e, func(raw *C.jina3_encoder) []Task {
		var tasks []Task
		for i := C.size_t(0); i < C.jina3_encoder_task_count(raw); i++ {
			tasks = append(tasks, Task(C.jina3_encoder_task(raw, i)))
		}
		return tasks
	})
}

// Device is the device the encoder runs on.
func (e *Encoder) Device() Device {
	return getter(e, func(raw *C.jina3_encoder) Device { return Device(C.jina3_encoder_device(raw)) })
}

// DType is the dtype the encoder runs in (never DTypeAuto).
func (e *Encoder) DType() DType {
	return getter(e, func(raw *C.jina3_encoder) DType { return DType(C.jina3_encoder_dtype(raw)) })
}

// PackagePath is the directory the encoder was loaded from.
func (e *Encoder) PackagePath() string {
	return getter(e, func(raw *C.jina3_encoder) string { return C.GoString(C.jina3_encoder_package_path(raw)) })
}

// Prompt is the instruction prepended to texts of task ("" for TaskNone).
func (e *Encoder) Prompt(task Task) (string, error) {
	var prompt string
	err := e.use(func(raw *C.jina3_encoder) error {
		var p *C.char
		var cerr *C.jina3_error
		if err := check(C.jina3_encoder_prompt(raw, C.jina3_task(task), &p, &cerr), cerr); err != nil {
			return err
		}
		prompt = C.GoString(p)
		return nil
	})
	return prompt, err
}

// Kernels reports which kernels the encoder runs, fixed at load: every field of
// jina3_encoder_kernel_report by name ("device", "isa", "bf16", "compute_dtype", "matmul",
// "int8_engine", "notice"; see jina3/kernels.hpp). "notice" is not empty when this CPU emulates the
// bfloat16 the encoder computes in (an int8 package runs faster there).
func (e *Encoder) Kernels() (map[string]string, error) {
	report := map[string]string{}
	err := e.use(func(raw *C.jina3_encoder) error {
		for i := C.size_t(0); i < C.jina3_kernel_field_count(); i++ {
			name := C.jina3_kernel_field_name(i)
			var value *C.char
			var cerr *C.jina3_error
			if err := check(C.jina3_encoder_kernel_report(raw, name, &value, &cerr), cerr); err != nil {
				return err
			}
			report[C.GoString(name)] = C.GoString(value)
		}
		return nil
	})
	return report, err
}
