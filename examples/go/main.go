// jina3 from Go through cgo and the C API: embed a query and some passages, rank the passages by
// cosine similarity.
//
//	PKG_CONFIG_PATH=<prefix>/lib/pkgconfig go run . PACKAGE_DIR [QUERY PASSAGE...]
//
// Output: the ranking ("rank R: SCORE passage[I] TEXT"), then every embedding on one line
// ("vector query 0 v1 v2 ..." / "vector passage I v1 v2 ...").
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

// Encode embeds texts at full size and returns one row per text.
func (e *Encoder) Encode(texts []string, task C.jina3_task) ([][]float32, error) {
	n, dims := len(texts), e.HiddenSize()
	if n == 0 {
		return nil, nil
	}
	// cgo may not pass Go memory holding Go pointers, so the texts are copied to C memory; the
	// pointer and length arrays themselves hold no Go pointers and can stay in Go memory.
	pointers := make([]*C.char, n)
	lengths := make([]C.size_t, n)
	for i, text := range texts {
		pointers[i] = (*C.char)(C.CBytes([]byte(text)))
		lengths[i] = C.size_t(len(text))
	}
	defer func() {
		for _, p := range pointers {
			C.free(unsafe.Pointer(p))
		}
	}()
	out := make([]float32, n*dims)
	var cerr *C.jina3_error
	status := C.jina3_encoder_encode(e.raw, &pointers[0], &lengths[0], C.size_t(n), task, 0, nil,
		(*C.float)(unsafe.Pointer(&out[0])), C.size_t(len(out)), nil, &cerr)
	runtime.KeepAlive(e)
	if err := check(status, cerr); err != nil {
		return nil, err
	}
	rows := make([][]float32, n)
	for i := range rows {
		rows[i] = out[i*dims : (i+1)*dims]
	}
	return rows, nil
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
	return nil
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
