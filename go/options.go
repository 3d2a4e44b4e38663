package jina3

/*
#cgo pkg-config: jina3
#include <jina3/jina3.h>
*/
import "C"

import (
	"time"
	"unsafe"
)

// Option changes one load-time setting of Open (jina3_encoder_options). Values are passed on
// as given; the library reports a bad one as ErrInvalidArgument naming the field.
type Option func(*encoderOptions)

type encoderOptions struct{ raw C.jina3_encoder_options }

func defaultEncoderOptions() *encoderOptions {
	o := &encoderOptions{}
	C.jina3_encoder_default_options(&o.raw, C.size_t(unsafe.Sizeof(o.raw)))
	return o
}

// WithDevice runs the encoder on device (CPU, the default, or CUDA) number index.
func WithDevice(device Device, index int) Option {
	return func(o *encoderOptions) { o.raw.device, o.raw.device_index = C.jina3_device(device), cInt(index) }
}

// WithDType casts the backbone to dtype at load (DTypeAuto, the default: as stored).
func WithDType(dtype DType) Option {
	return func(o *encoderOptions) { o.raw.dtype = C.jina3_dtype(dtype) }
}

// WithThreads sets the intra-op threads (0, the default: every CPU the process may use).
func WithThreads(n int) Option { return func(o *encoderOptions) { o.raw.num_threads = cInt(n) } }

// WithMaxBatchTokens sets the padded tokens per forward pass (0: automatic).
func WithMaxBatchTokens(n int) Option {
	return func(o *encoderOptions) { o.raw.max_batch_tokens = cInt(n) }
}

// WithMaxBatchSize sets the rows per forward pass (0: automatic).
func WithMaxBatchSize(n int) Option {
	return func(o *encoderOptions) { o.raw.max_batch_size = cInt(n) }
}

// WithVerifyChecksums turns the SHA-256 check of the package's files at load on (default) or off.
func WithVerifyChecksums(on bool) Option {
	return func(o *encoderOptions) { o.raw.verify_checksums = C.bool(on) }
}

// WithRetainHostMemory keeps freed memory in the process (CPU; default on).
func WithRetainHostMemory(on bool) Option {
	return func(o *encoderOptions) { o.raw.retain_host_memory = C.bool(on) }
}

// WithMaxWait sets how long the scheduler waits for callers to come back before a smaller pass
// (default 2 ms; microsecond resolution).
func WithMaxWait(d time.Duration) Option {
	return func(o *encoderOptions) { o.raw.max_wait_us = cInt(int(d.Microseconds())) }
}

// WithMaxQueuedRequests bounds the requests accepted and not completed (0: automatic, 1024).
func WithMaxQueuedRequests(n int) Option {
	return func(o *encoderOptions) { o.raw.max_queued_requests = cInt(n) }
}

// WithCacheBytes turns on an LRU cache of embeddings of this many bytes (0, the default: off).
func WithCacheBytes(n int) Option {
	return func(o *encoderOptions) {
		if n < 0 {
			n = 0
		}
		o.raw.cache_bytes = C.size_t(n)
	}
}

// WithScheduler(false) runs each call's passes on the calling thread (no merging, no queue).
func WithScheduler(on bool) Option {
	return func(o *encoderOptions) { o.raw.use_scheduler = C.bool(on) }
}

// WithBulkShare sets the share of each step that Bulk rows keep while both lanes have work (0..1,
// default 0.25).
func WithBulkShare(share float64) Option {
	return func(o *encoderOptions) { o.raw.bulk_share = C.double(share) }
}

// WithBulkPassTokens caps the padded tokens of a pass of Bulk rows, so that an Interactive call
// never waits behind a long bulk pass (0: automatic, 256 on the CPU).
func WithBulkPassTokens(tokens int) Option {
	return func(o *encoderOptions) { o.raw.bulk_pass_tokens = C.int(tokens) }
}

// EncodeOptions are per-call settings (jina3_encode_options). The zero value, like a nil
// pointer, means the library's defaults.
type EncodeOptions struct {
	MaxLength          int           // token limit per text, <s> and </s> included; 0: the package's
	BatchSize          int           // rows per forward pass for this call; 0: the encoder's limits
	NoNormalize        bool          // leave rows as they are instead of L2-normalising them
	NoTruncate         bool          // a text over MaxLength is ErrInputTooLong instead of being cut
	Deadline           time.Duration // ErrDeadlineExceeded unless a pass starts this soon; 0: none
	FailWhenFull       bool          // a full queue is ErrQueueFull instead of a wait for room
	Priority           Priority      // the scheduler lane; Interactive by default
	SplitSpecialTokens bool          // "<s>", "</s>", ... in a text are plain text
}

func (o *EncodeOptions) raw() C.jina3_encode_options {
	var raw C.jina3_encode_options
	C.jina3_encode_default_options(&raw, C.size_t(unsafe.Sizeof(raw)))
	if o == nil {
		return raw
	}
	if o.MaxLength != 0 {
		raw.max_length = cInt(o.MaxLength)
	}
	if o.BatchSize != 0 {
		raw.batch_size = cInt(o.BatchSize)
	}
	if o.NoNormalize {
		raw.normalize = false
	}
	if o.NoTruncate {
		raw.truncate = false
	}
	if o.Deadline != 0 {
		us := o.Deadline.Microseconds()
		if us == 0 {
			us = 1 // under a microsecond: the shortest deadline, not none
		}
		raw.deadline_us = C.int64_t(us)
	}
	if o.FailWhenFull {
		raw.block_when_full = false
	}
	raw.priority = C.jina3_priority(o.Priority)
	if o.SplitSpecialTokens {
		raw.split_special_tokens = true
	}
	return raw
}

// LateChunkOptions choose the chunks of LateChunk (jina3_late_chunk_options and its spans
// argument). At most one of Spans, ChunkTokens and Sentences; none: the whole text is one chunk.
// The zero value, like a nil pointer, means the library's defaults.
type LateChunkOptions struct {
	Spans                [][2]int // chunks as [begin, end) byte offsets into the text
	ChunkTokens          int      // chunks of this many content tokens
	Sentences            int      // chunks of this many sentences
	Window               int      // macro window in tokens for long texts; 0: the package's max length
	Overlap              int      // tokens shared by consecutive windows; 0: the default; NoOverlap: none
	NoNormalize          bool     // leave chunk vectors as they are instead of L2-normalising them
	ExcludeSpecialTokens bool     // the first and last chunk do not pool <s>, the prompt and </s>
}

// NoOverlap as LateChunkOptions.Overlap: windows share no tokens.
const NoOverlap = -1

func (o *LateChunkOptions) raw() C.jina3_late_chunk_options {
	var raw C.jina3_late_chunk_options
	C.jina3_late_chunk_default_options(&raw, C.size_t(unsafe.Sizeof(raw)))
	if o == nil {
		return raw
	}
	raw.chunk_tokens = cInt(o.ChunkTokens)
	raw.sentences = cInt(o.Sentences)
	raw.window = cInt(o.Window)
	switch {
	case o.Overlap == NoOverlap:
		raw.overlap = 0
	case o.Overlap != 0:
		raw.overlap = cInt(o.Overlap)
	}
	if o.NoNormalize {
		raw.normalize = false
	}
	if o.ExcludeSpecialTokens {
		raw.include_special_tokens = false
	}
	return raw
}
