package jina3

/*
#cgo pkg-config: jina3
#include <jina3/jina3.h>
*/
import "C"

import "unsafe"

// Histogram: Buckets[i] counts values v with 2^(i-1) < v <= 2^i (Buckets[0]: v <= 1); the last
// bucket counts everything larger. Not cumulative.
type Histogram struct {
	Buckets    [C.JINA3_HISTOGRAM_BUCKETS]uint64
	Count, Sum uint64
}

// LaneStats are one priority lane's counters and histograms (times in microseconds).
type LaneStats struct {
	Requests, Rows, Passes, Tokens, PaddedTokens, Cancelled, CancelledRows uint64
	LatencyUs, QueueWaitUs, RowsPerPass, TokensPerPass                     Histogram
}

// Stats are an encoder's counters since it was loaded (jina3_stats; times in microseconds).
type Stats struct {
	Requests, Rows, Passes, Tokens, PaddedTokens          uint64
	QueueDepth, MaxQueueDepth, Rejected, DeadlineExceeded uint64
	Failed, CacheHits, CacheMisses, CacheEvictions        uint64
	CacheBytes, CacheEntries, QueueWaitUs, PassUs         uint64
	Cancelled                                             uint64
	Lanes                                                 [C.JINA3_PRIORITY_COUNT]LaneStats // indexed by Priority
}

func histogram(h *C.jina3_histogram) Histogram {
	out := Histogram{Count: uint64(h.count), Sum: uint64(h.sum)}
	for i := range out.Buckets {
		out.Buckets[i] = uint64(h.buckets[i])
	}
	return out
}

// Stats reads the encoder's counters.
func (e *Encoder) Stats() (Stats, error) {
	var s Stats
	err := e.use(func(raw *C.jina3_encoder) error {
		var c C.jina3_stats
		c.struct_size = C.size_t(unsafe.Sizeof(c))
		var cerr *C.jina3_error
		if err := check(C.jina3_encoder_stats(raw, &c, &cerr), cerr); err != nil {
			return err
		}
		s = Stats{
			Requests: uint64(c.requests), Rows: uint64(c.rows), Passes: uint64(c.passes), Tokens: uint64(c.tokens),
			PaddedTokens: uint64(c.padded_tokens), QueueDepth: uint64(c.queue_depth),
			MaxQueueDepth: uint64(c.max_queue_depth), Rejected: uint64(c.rejected),
			DeadlineExceeded: uint64(c.deadline_exceeded), Failed: uint64(c.failed), CacheHits: uint64(c.cache_hits),
			CacheMisses: uint64(c.cache_misses), CacheEvictions: uint64(c.cache_evictions),
			CacheBytes: uint64(c.cache_bytes), CacheEntries: uint64(c.cache_entries),
			QueueWaitUs: uint64(c.queue_wait_us), PassUs: uint64(c.pass_us), Cancelled: uint64(c.cancelled),
		}
		for i := range s.Lanes {
			l := &c.lanes[i]
			s.Lanes[i] = LaneStats{
				Requests: uint64(l.requests), Rows: uint64(l.rows), Passes: uint64(l.passes), Tokens: uint64(l.tokens),
				PaddedTokens: uint64(l.padded_tokens), Cancelled: uint64(l.cancelled),
				CancelledRows: uint64(l.cancelled_rows), LatencyUs: histogram(&l.latency_us),
				QueueWaitUs: histogram(&l.queue_wait_us), RowsPerPass: histogram(&l.rows_per_pass),
				TokensPerPass: histogram(&l.tokens_per_pass),
			}
		}
		return nil
	})
	return s, err
}

// Lane returns the counters of one priority lane.
func (s *Stats) Lane(p Priority) *LaneStats { return &s.Lanes[p] }
