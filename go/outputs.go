package jina3

/*
#cgo pkg-config: jina3
#include <jina3/jina3.h>
*/
import "C"

import (
	"fmt"
	"unsafe"
)

// Quantized are rows in a Precision: Rows rows of RowBytes bytes.
type Quantized struct {
	Rows, Dims, RowBytes int
	Precision            Precision
	Data                 []byte
	Truncated            []bool // whether each text was cut (rows of Quantize never are)
}

// Row returns row i's bytes (a view into Data). Int8 and Binary rows are int8 values; Float16
// rows are little-endian uint16 halves.
func (q *Quantized) Row(i int) []byte {
	return q.Data[i*q.RowBytes : (i+1)*q.RowBytes : (i+1)*q.RowBytes]
}

// Ranges are the per-dimension min and max that Int8 and Uint8 quantise over. Keep a corpus's
// ranges and pass them again for its queries, so both quantise alike.
type Ranges struct {
	Min, Max []float32
}

// flat gives the C layout (the min row, then the max row) for int8/uint8, nil otherwise; the C
// API cannot see a Go slice's length, so a width mismatch is refused here.
func (r *Ranges) flat(precision Precision, width int) ([]float32, error) {
	if r == nil || (precision != Int8 && precision != Uint8) {
		return nil, nil
	}
	if len(r.Min) != width || len(r.Max) != width {
		return nil, invalid(fmt.Sprintf("ranges have %d and %d values, the rows %d dims", len(r.Min), len(r.Max), width))
	}
	return append(append(make([]float32, 0, 2*width), r.Min...), r.Max...), nil
}

// width: floats per row for dims (the full size for 0). A dims over the full size is refused by
// the library before it looks at the buffer, so the buffer never takes a caller's huge value.
func (e *Encoder) width(raw *C.jina3_encoder, dims int) int {
	full := int(C.jina3_encoder_hidden_size(raw))
	if dims == 0 || dims > full {
		return full
	}
	return dims
}

// EncodeQuantized embeds texts and returns rows in precision. ranges (Int8/Uint8 only): a
// corpus's Ranges, or nil for this call's own.
func (e *Encoder) EncodeQuantized(texts []string, task Task, dims int, precision Precision, ranges *Ranges, opts *EncodeOptions) (*Quantized, error) {
	var q *Quantized
	err := e.use(func(raw *C.jina3_encoder) error {
		width := e.width(raw, dims)
		flat, err := ranges.flat(precision, width)
		if err != nil {
			return err
		}
		ctexts := newCTexts(texts)
		defer ctexts.free()
		options := opts.raw()
		out := newQuantized(len(texts), width, precision)
		truncated := make([]byte, len(texts))
		var cerr *C.jina3_error
		status := C.jina3_encoder_encode_quantized(raw, ctexts.pointers, ctexts.lengths, ctexts.count,
			C.jina3_task(task), cInt(dims), C.jina3_precision(precision), floatPtr(flat), &options,
			unsafe.Pointer(bytePtr(out.Data)), C.size_t(len(out.Data)), bytePtr(truncated), &cerr)
		if err := check(status, cerr); err != nil {
			return err
		}
		out.Truncated = bools(truncated)
		q = out
		return nil
	})
	return q, err
}

func newQuantized(rows, dims int, precision Precision) *Quantized {
	rowBytes := precision.RowBytes(dims)
	return &Quantized{Rows: rows, Dims: dims, RowBytes: rowBytes, Precision: precision,
		Data: make([]byte, rows*rowBytes), Truncated: make([]bool, rows)}
}

func wholeRows(values []float32, dims int) (int, error) {
	if dims <= 0 {
		return 0, nil // the library reports the dims
	}
	if len(values)%dims != 0 {
		return 0, invalid(fmt.Sprintf("%d values are not whole rows of %d dims", len(values), dims))
	}
	return len(values) / dims, nil
}

// CalibrationRanges gives the Int8/Uint8 ranges of values, rows of dims floats.
func CalibrationRanges(values []float32, dims int) (*Ranges, error) {
	rows, err := wholeRows(values, dims)
	if err != nil {
		return nil, err
	}
	n := dims
	if rows == 0 || n < 0 {
		n = 0 // the library refuses the call before it writes: no buffer of a caller's dims
	}
	out := make([]float32, 2*n+1)
	var cerr *C.jina3_error
	if err := check(C.jina3_calibration_ranges(floatPtr(values), C.size_t(rows), cInt(dims), floatPtr(out), &cerr), cerr); err != nil {
		return nil, err
	}
	return &Ranges{Min: out[:n:n], Max: out[n : 2*n : 2*n]}, nil
}

// Quantize converts float32 rows of dims values you already have to precision (ranges nil:
// computed from these rows).
func Quantize(values []float32, dims int, precision Precision, ranges *Ranges) (*Quantized, error) {
	rows, err := wholeRows(values, dims)
	if err != nil {
		return nil, err
	}
	flat, err := ranges.flat(precision, dims)
	if err != nil {
		return nil, err
	}
	out := newQuantized(rows, dims, precision)
	var cerr *C.jina3_error
	status := C.jina3_quantize(floatPtr(values), C.size_t(rows), cInt(dims), C.jina3_precision(precision),
		floatPtr(flat), unsafe.Pointer(bytePtr(out.Data)), C.size_t(len(out.Data)), &cerr)
	if err := check(status, cerr); err != nil {
		return nil, err
	}
	return out, nil
}

// Tokens are one text's token embeddings (final hidden states before pooling): <s>, the task's
// prompt, the text's tokens, </s>.
type Tokens struct {
	IDs        []int32
	Hidden     int       // floats per token
	Embeddings []float32 // len(IDs) x Hidden, row-major
	Offsets    [][2]int  // [begin, end) byte offsets into the text; -1 -1 for <s>, </s> and the prompt
	Truncated  bool      // whether the text was cut to the token limit
}

// Embedding returns token i's vector.
func (t *Tokens) Embedding(i int) []float32 {
	return t.Embeddings[i*t.Hidden : (i+1)*t.Hidden : (i+1)*t.Hidden]
}

// EncodeTokens runs one text and returns its token embeddings with ids and offsets.
func (e *Encoder) EncodeTokens(text string, task Task, opts *EncodeOptions) (*Tokens, error) {
	var tokens *Tokens
	err := e.use(func(raw *C.jina3_encoder) error {
		ctext := newCTexts([]string{text})
		defer ctext.free()
		options := opts.raw()
		var ct *C.jina3_tokens
		var cerr *C.jina3_error
		status := C.jina3_encoder_encode_tokens(raw, *ctext.pointers, C.size_t(len(text)), C.jina3_task(task), &options, &ct, &cerr)
		if err := check(status, cerr); err != nil {
			return err
		}
		defer C.jina3_tokens_free(ct)
		n := int(C.jina3_tokens_count(ct))
		hidden := int(C.jina3_tokens_hidden(ct))
		tokens = &Tokens{Hidden: hidden, Truncated: bool(C.jina3_tokens_truncated(ct)),
			IDs: make([]int32, n), Embeddings: make([]float32, n*hidden), Offsets: make([][2]int, n)}
		if n > 0 {
			copy(tokens.IDs, unsafe.Slice((*int32)(unsafe.Pointer(C.jina3_tokens_ids(ct))), n))
			copy(tokens.Embeddings, unsafe.Slice((*float32)(unsafe.Pointer(C.jina3_tokens_embeddings(ct))), n*hidden))
			offsets := unsafe.Slice((*int64)(unsafe.Pointer(C.jina3_tokens_offsets(ct))), 2*n)
			for i := range tokens.Offsets {
				tokens.Offsets[i] = [2]int{int(offsets[2*i]), int(offsets[2*i+1])}
			}
		}
		return nil
	})
	return tokens, err
}

// Chunks are one text's chunk embeddings from late chunking.
type Chunks struct {
	Dims       int
	Embeddings []float32 // len(Spans) x Dims, row-major
	Spans      [][2]int  // [begin, end) byte offsets into the text per chunk
	TokenSpans [][2]int  // [begin, end) token indices in the full sequence per chunk
}

// Len is the number of chunks.
func (c *Chunks) Len() int { return len(c.Spans) }

// Embedding returns chunk i's vector.
func (c *Chunks) Embedding(i int) []float32 {
	return c.Embeddings[i*c.Dims : (i+1)*c.Dims : (i+1)*c.Dims]
}

// LateChunk embeds one text by late chunking: the text runs through the model whole (long texts
// as overlapping windows) and each chunk's vector pools that chunk's tokens. opts nil: one chunk.
func (e *Encoder) LateChunk(text string, task Task, dims int, opts *LateChunkOptions) (*Chunks, error) {
	var chunks *Chunks
	err := e.use(func(raw *C.jina3_encoder) error {
		ctext := newCTexts([]string{text})
		defer ctext.free()
		options := opts.raw()
		var spans []C.size_t
		if opts != nil {
			for _, s := range opts.Spans {
				if s[0] < 0 || s[1] < 0 {
					return invalid(fmt.Sprintf("span [%d, %d) is negative", s[0], s[1]))
				}
				spans = append(spans, C.size_t(s[0]), C.size_t(s[1]))
			}
		}
		var spansPtr *C.size_t
		if len(spans) > 0 {
			spansPtr = &spans[0]
		}
		var cc *C.jina3_chunks
		var cerr *C.jina3_error
		status := C.jina3_encoder_late_chunk(raw, *ctext.pointers, C.size_t(len(text)), C.jina3_task(task), cInt(dims),
			spansPtr, C.size_t(len(spans)/2), &options, &cc, &cerr)
		if err := check(status, cerr); err != nil {
			return err
		}
		defer C.jina3_chunks_free(cc)
		n := int(C.jina3_chunks_count(cc))
		d := int(C.jina3_chunks_dims(cc))
		chunks = &Chunks{Dims: d, Embeddings: make([]float32, n*d), Spans: make([][2]int, n), TokenSpans: make([][2]int, n)}
		if n > 0 {
			copy(chunks.Embeddings, unsafe.Slice((*float32)(unsafe.Pointer(C.jina3_chunks_embeddings(cc))), n*d))
			s := unsafe.Slice(C.jina3_chunks_spans(cc), 2*n)
			ts := unsafe.Slice(C.jina3_chunks_token_spans(cc), 2*n)
			for i := 0; i < n; i++ {
				chunks.Spans[i] = [2]int{int(s[2*i]), int(s[2*i+1])}
				chunks.TokenSpans[i] = [2]int{int(ts[2*i]), int(ts[2*i+1])}
			}
		}
		return nil
	})
	return chunks, err
}
