// Package capiref calls the C API directly, without the jina3 package, so that the tests can
// compare the package's results with the C API's (cgo is not allowed in _test.go files).
package capiref

/*
#cgo pkg-config: jina3
#include <stdlib.h>
#include <jina3/jina3.h>
*/
import "C"

import (
	"errors"
	"unsafe"
)

// Encoder is a raw jina3_encoder.
type Encoder struct{ raw *C.jina3_encoder }

func fail(status C.jina3_status, cerr *C.jina3_error) error {
	defer C.jina3_error_free(cerr)
	return errors.New(C.GoString(C.jina3_status_name(status)) + ": " + C.GoString(C.jina3_error_message(cerr)))
}

// Open calls jina3_encoder_create with default options.
func Open(path string) (*Encoder, error) {
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	var raw *C.jina3_encoder
	var cerr *C.jina3_error
	if status := C.jina3_encoder_create(cpath, nil, &raw, &cerr); status != C.JINA3_OK {
		return nil, fail(status, cerr)
	}
	return &Encoder{raw}, nil
}

// Close calls jina3_encoder_free.
func (e *Encoder) Close() { C.jina3_encoder_free(e.raw) }

// cTexts: every text NUL-terminated in C memory (also those with a NUL inside: lengths are passed).
func cTexts(ts []string) (**C.char, *C.size_t, func()) {
	n := len(ts)
	pointers := unsafe.Slice((**C.char)(C.malloc(C.size_t(8*(n+1)))), n+1)
	lengths := unsafe.Slice((*C.size_t)(C.malloc(C.size_t(8*(n+1)))), n+1)
	for i, t := range ts {
		pointers[i] = (*C.char)(C.CBytes([]byte(t + "\x00")))
		lengths[i] = C.size_t(len(t))
	}
	return &pointers[0], &lengths[0], func() {
		for i := 0; i < n; i++ {
			C.free(unsafe.Pointer(pointers[i]))
		}
		C.free(unsafe.Pointer(&pointers[0]))
		C.free(unsafe.Pointer(&lengths[0]))
	}
}

// Encode calls jina3_encoder_encode with default options; width is the row size to expect.
func (e *Encoder) Encode(ts []string, task, dims, width int) ([]float32, error) {
	p, l, free := cTexts(ts)
	defer free()
	out := make([]float32, len(ts)*width+1)
	var cerr *C.jina3_error
	status := C.jina3_encoder_encode(e.raw, p, l, C.size_t(len(ts)), C.jina3_task(task), C.int(dims), nil,
		(*C.float)(unsafe.Pointer(&out[0])), C.size_t(len(out)), nil, &cerr)
	if status != C.JINA3_OK {
		return nil, fail(status, cerr)
	}
	return out[:len(ts)*width], nil
}

// EncodeQuantized calls jina3_encoder_encode_quantized with default options and no ranges.
func (e *Encoder) EncodeQuantized(ts []string, task, dims, width, precision int) ([]byte, error) {
	p, l, free := cTexts(ts)
	defer free()
	row := int(C.jina3_precision_row_bytes(C.jina3_precision(precision), C.int(width)))
	out := make([]byte, len(ts)*row+1)
	var cerr *C.jina3_error
	status := C.jina3_encoder_encode_quantized(e.raw, p, l, C.size_t(len(ts)), C.jina3_task(task), C.int(dims),
		C.jina3_precision(precision), nil, nil, unsafe.Pointer(&out[0]), C.size_t(len(out)), nil, &cerr)
	if status != C.JINA3_OK {
		return nil, fail(status, cerr)
	}
	return out[:len(ts)*row], nil
}

// Tokens calls jina3_encoder_encode_tokens: ids, embeddings and offsets (2 per token).
func (e *Encoder) Tokens(text string, task int) ([]int32, []float32, []int64, error) {
	p, l, free := cTexts([]string{text})
	defer free()
	var tokens *C.jina3_tokens
	var cerr *C.jina3_error
	if status := C.jina3_encoder_encode_tokens(e.raw, *p, *l, C.jina3_task(task), nil, &tokens, &cerr); status != C.JINA3_OK {
		return nil, nil, nil, fail(status, cerr)
	}
	defer C.jina3_tokens_free(tokens)
	n := int(C.jina3_tokens_count(tokens))
	h := int(C.jina3_tokens_hidden(tokens))
	ids := append([]int32(nil), unsafe.Slice((*int32)(unsafe.Pointer(C.jina3_tokens_ids(tokens))), n)...)
	emb := append([]float32(nil), unsafe.Slice((*float32)(unsafe.Pointer(C.jina3_tokens_embeddings(tokens))), n*h)...)
	off := append([]int64(nil), unsafe.Slice((*int64)(unsafe.Pointer(C.jina3_tokens_offsets(tokens))), 2*n)...)
	return ids, emb, off, nil
}

// LateChunk calls jina3_encoder_late_chunk with `sentences` sentences per chunk: embeddings and
// spans (2 per chunk).
func (e *Encoder) LateChunk(text string, task, dims, sentences int) ([]float32, []uint64, error) {
	p, l, free := cTexts([]string{text})
	defer free()
	var options C.jina3_late_chunk_options
	C.jina3_late_chunk_default_options(&options, C.size_t(unsafe.Sizeof(options)))
	options.sentences = C.int(sentences)
	var chunks *C.jina3_chunks
	var cerr *C.jina3_error
	status := C.jina3_encoder_late_chunk(e.raw, *p, *l, C.jina3_task(task), C.int(dims), nil, 0, &options, &chunks, &cerr)
	if status != C.JINA3_OK {
		return nil, nil, fail(status, cerr)
	}
	defer C.jina3_chunks_free(chunks)
	n := int(C.jina3_chunks_count(chunks))
	d := int(C.jina3_chunks_dims(chunks))
	emb := append([]float32(nil), unsafe.Slice((*float32)(unsafe.Pointer(C.jina3_chunks_embeddings(chunks))), n*d)...)
	spans := make([]uint64, 2*n)
	for i, s := range unsafe.Slice(C.jina3_chunks_spans(chunks), 2*n) {
		spans[i] = uint64(s)
	}
	return emb, spans, nil
}
