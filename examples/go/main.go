// jina3 from Go through cgo and the C API: embed a query and some passages, rank the passages by
// cosine similarity, then serve the same texts to many goroutines at once.
//
//	PKG_CONFIG_PATH=<prefix>/lib/pkgconfig go run . PACKAGE_DIR [QUERY PASSAGE...]
//
// Output: the ranking ("rank R: SCORE passage[I] TEXT"), then every embedding on one line
// ("vector query 0 v1 v2 ..." / "vector passage I v1 v2 ..."), then one line on the concurrent
// requests ("concurrent: N requests from G goroutines, max |diff| D to the synchronous results").
//
// Concurrency: each goroutine submits its texts with jina3_encoder_submit and blocks in
// jina3_request_wait; the encoder's scheduler merges the texts of all pending requests into shared
// forward passes, so many small concurrent calls cost about as much as one batched call.
//
// Errors come back through the C API's jina3_error** out-parameter, which works from any
// goroutine. The thread-local jina3_last_error() would need runtime.LockOSThread() around the
// failing call and the read, because cgo may run two C calls of one goroutine on different OS
// threads.
package main

/*
#cgo pkg-config: jina3
#include <stdlib.h>
#include <jina3/jina3.h>
*/
import "C"

import (
	"fmt"
	"math"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"unsafe"
)

// Error is a failed jina3 call: its status name ("invalid_argument", ...) and message.
type Error struct {
	Status  string
	Message string
}

func (e *Error) Error() string { return fmt.Sprintf("%s (%s)", e.Message, e.Status) }

// check turns a status and its error object (taken over and freed here) into a Go error.
func check(status C.jina3_status, cerr *C.jina3_error) error {
	if status == C.JINA3_OK {
		return nil
	}
	defer C.jina3_error_free(cerr)
	return &Error{
		Status:  C.GoString(C.jina3_status_name(status)),
		Message: C.GoString(C.jina3_error_message(cerr)),
	}
}

// Encoder owns a jina3 encoder; Encode may be called from many goroutines at once.
type Encoder struct {
	raw *C.jina3_encoder
}

// NewEncoder loads a model package directory. Call Close when done.
func NewEncoder(packagePath string) (*Encoder, error) {
	path := C.CString(packagePath)
	defer C.free(unsafe.Pointer(path))
	var raw *C.jina3_encoder
	var cerr *C.jina3_error
	if err := check(C.jina3_encoder_create(path, nil, &raw, &cerr), cerr); err != nil {
		return nil, err
	}
	e := &Encoder{raw: raw}
	runtime.SetFinalizer(e, (*Encoder).Close)
	return e, nil
}

// Close releases the encoder; calling it twice is harmless.
func (e *Encoder) Close() {
	if e.raw != nil {
		C.jina3_encoder_free(e.raw)
		e.raw = nil
	}
}

// HiddenSize is the full embedding size.
func (e *Encoder) HiddenSize() int { return int(C.jina3_encoder_hidden_size(e.raw)) }

// cTexts holds texts in C memory: cgo may not pass Go memory holding Go pointers, so the texts
// are copied; the pointer and length arrays themselves hold no Go pointers and stay in Go memory.
type cTexts struct {
	pointers []*C.char
	lengths  []C.size_t
}

func newCTexts(texts []string) *cTexts {
	t := &cTexts{pointers: make([]*C.char, len(texts)), lengths: make([]C.size_t, len(texts))}
	for i, text := range texts {
		t.pointers[i] = (*C.char)(C.CBytes([]byte(text)))
		t.lengths[i] = C.size_t(len(text))
	}
	return t
}

func (t *cTexts) free() {
	for _, p := range t.pointers {
		C.free(unsafe.Pointer(p))
	}
}

// rows splits a row-major result into one slice per row.
func rows(out []float32, n, dims int) [][]float32 {
	result := make([][]float32, n)
	for i := range result {
		result[i] = out[i*dims : (i+1)*dims]
	}
	return result
}

// Encode embeds texts at full size and returns one row per text.
func (e *Encoder) Encode(texts []string, task C.jina3_task) ([][]float32, error) {
	n, dims := len(texts), e.HiddenSize()
	if n == 0 {
		return nil, nil
	}
	t := newCTexts(texts)
	defer t.free()
	out := make([]float32, n*dims)
	var cerr *C.jina3_error
	status := C.jina3_encoder_encode(e.raw, &t.pointers[0], &t.lengths[0], C.size_t(n), task, 0, nil,
		(*C.float)(unsafe.Pointer(&out[0])), C.size_t(len(out)), nil, &cerr)
	runtime.KeepAlive(e)
	if err := check(status, cerr); err != nil {
		return nil, err
	}
	return rows(out, n, dims), nil
}

// Request is a queued encode call (jina3_encoder_submit); Wait collects its result. Close (or
// the finalizer) releases it, also before it completes: it then still runs, its result dropped.
type Request struct {
	raw *C.jina3_request
}

// Submit queues texts for embedding at full size and returns at once. The texts are copied during
// the call. Queue full or bad arguments fail here; failures after queueing come from Wait.
func (e *Encoder) Submit(texts []string, task C.jina3_task) (*Request, error) {
	if len(texts) == 0 {
		return nil, &Error{Status: "invalid_argument", Message: "Submit: no texts"}
	}
	t := newCTexts(texts)
	defer t.free()
	var raw *C.jina3_request
	// The error object, not jina3_last_error(): this goroutine may be on another OS thread by the
	// time it would read the thread-local message.
	var cerr *C.jina3_error
	status := C.jina3_encoder_submit(e.raw, &t.pointers[0], &t.lengths[0], C.size_t(len(texts)), &task, 1, 0, nil,
		nil, nil, &raw, &cerr)
	runtime.KeepAlive(e)
	if err := check(status, cerr); err != nil {
		return nil, err
	}
	r := &Request{raw: raw}
	runtime.SetFinalizer(r, (*Request).Close)
	return r, nil
}

// Wait blocks until the request is done and returns one row per text.
func (r *Request) Wait() ([][]float32, error) {
	n, dims := int(C.jina3_request_rows(r.raw)), int(C.jina3_request_dims(r.raw))
	out := make([]float32, n*dims)
	var cerr *C.jina3_error
	status := C.jina3_request_wait(r.raw, (*C.float)(unsafe.Pointer(&out[0])), C.size_t(len(out)), nil, &cerr)
	runtime.KeepAlive(r)
	if err := check(status, cerr); err != nil {
		return nil, err
	}
	return rows(out, n, dims), nil
}

// Close releases the request; calling it twice is harmless.
func (r *Request) Close() {
	if r.raw != nil {
		C.jina3_request_free(r.raw)
		r.raw = nil
	}
}

func cosine(a, b []float32) float64 {
	var dot, normA, normB float64
	for i := range a {
		x, y := float64(a[i]), float64(b[i])
		dot += x * y
		normA += x * x
		normB += y * y
	}
	return dot / math.Sqrt(normA*normB)
}

func maxDiff(a, b [][]float32) float64 {
	worst := 0.0
	for i := range a {
		for d := range a[i] {
			worst = math.Max(worst, math.Abs(float64(a[i][d])-float64(b[i][d])))
		}
	}
	return worst
}

// concurrent has goroutines submit the query or the passages at the same time and compares what
// each gets with the synchronous results.
func concurrent(encoder *Encoder, query string, passages []string, q, p [][]float32) error {
	const goroutines = 8
	worst := make([]float64, goroutines)
	errs := make([]error, goroutines)
	var wg sync.WaitGroup
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			texts, task, want := []string{query}, C.jina3_task(C.JINA3_TASK_RETRIEVAL_QUERY), q
			if g%2 == 1 {
				texts, task, want = passages, C.JINA3_TASK_RETRIEVAL_PASSAGE, p
			}
			request, err := encoder.Submit(texts, task)
			if err != nil {
				errs[g] = err
				return
			}
			defer request.Close()
			got, err := request.Wait()
			if err != nil {
				errs[g] = err
				return
			}
			worst[g] = maxDiff(got, want)
		}(g)
	}
	wg.Wait()
	overall := 0.0
	for g := range worst {
		if errs[g] != nil {
			return errs[g]
		}
		overall = math.Max(overall, worst[g])
	}
	fmt.Printf("concurrent: %d requests from %d goroutines, max |diff| %g to the synchronous results\n",
		goroutines, goroutines, overall)
	if overall > 1e-6 {
		return fmt.Errorf("concurrent results differ from the synchronous ones by %g", overall)
	}
	return nil
}

func printVector(kind string, index int, values []float32) {
	numbers := make([]string, len(values))
	for i, v := range values {
		// Shortest text that reads back as the same float32.
		numbers[i] = strconv.FormatFloat(float64(v), 'g', -1, 32)
	}
	fmt.Printf("vector %s %d %s\n", kind, index, strings.Join(numbers, " "))
}

func run(args []string) error {
	query := "What is the capital of France?"
	passages := []string{
		"Paris is the capital and largest city of France.",
		"Berlin is the capital of Germany.",
		"The Eiffel Tower was completed in 1889.",
	}
	if len(args) > 3 {
		query, passages = args[2], args[3:]
	}

	encoder, err := NewEncoder(args[1])
	if err != nil {
		return err
	}
	defer encoder.Close()
	// Queries and passages use different adapters: that is what makes asymmetric retrieval work.
	q, err := encoder.Encode([]string{query}, C.JINA3_TASK_RETRIEVAL_QUERY)
	if err != nil {
		return err
	}
	p, err := encoder.Encode(passages, C.JINA3_TASK_RETRIEVAL_PASSAGE)
	if err != nil {
		return err
	}

	scores := make([]float64, len(p))
	order := make([]int, len(p))
	for i := range p {
		scores[i] = cosine(q[0], p[i])
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return scores[order[a]] > scores[order[b]] })

	fmt.Printf("query: %s\n", query)
	for rank, i := range order {
		fmt.Printf("rank %d: %.6f passage[%d] %s\n", rank+1, scores[i], i, passages[i])
	}
	printVector("query", 0, q[0])
	for i, row := range p {
		printVector("passage", i, row)
	}
	return concurrent(encoder, query, passages, q, p)
}

func main() {
	if len(os.Args) < 2 || len(os.Args) == 3 {
		fmt.Fprintf(os.Stderr, "usage: %s PACKAGE_DIR [QUERY PASSAGE...]\n", os.Args[0])
		os.Exit(2)
	}
	if err := run(os.Args); err != nil {
		fmt.Fprintf(os.Stderr, "jina3 error: %v\n", err)
		os.Exit(1)
	}
}
