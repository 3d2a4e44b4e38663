//! `Stats`: an encoder's counters (`jina3_stats`), with per-lane counters and histograms.
use std::mem::{size_of, MaybeUninit};

use jina3_sys as sys;

use crate::encoder::Encoder;
use crate::enums::Priority;
use crate::error::{call, Result};

/// A histogram: `buckets[i]` counts values v with 2^(i-1) < v <= 2^i (`buckets[0]`: v <= 1); the
/// last bucket counts everything larger. Not cumulative.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Histogram {
    pub buckets: [u64; sys::JINA3_HISTOGRAM_BUCKETS],
    pub count: u64,
    pub sum: u64,
}

impl From<sys::jina3_histogram> for Histogram {
    fn from(raw: sys::jina3_histogram) -> Self {
        Histogram { buckets: raw.buckets, count: raw.count, sum: raw.sum }
    }
}

// The counters, named once: each becomes a pub u64 field of the Rust struct and is copied from
// the C struct's field of the same name (tests/drift.rs in jina3-sys checks those against jina3.h).
macro_rules! counters {
    ($(#[$doc:meta])* $name:ident from $raw:ty { $($field:ident),* $(,)? } $(hist { $($h:ident),* })? $(lanes $lanes:ident)?) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub struct $name {
            $(pub $field: u64,)*
            $($(pub $h: Histogram,)*)?
            $(pub $lanes: [LaneStats; sys::JINA3_PRIORITY_COUNT],)?
        }

        impl From<&$raw> for $name {
            fn from(raw: &$raw) -> Self {
                $name {
                    $($field: raw.$field,)*
                    $($($h: raw.$h.into(),)*)?
                    $($lanes: [LaneStats::from(&raw.$lanes[0]), LaneStats::from(&raw.$lanes[1])],)?
                }
            }
        }
    };
}

counters! {
    /// One priority lane's counters and histograms (times in microseconds).
    LaneStats from sys::jina3_lane_stats {
        requests, rows, passes, tokens, padded_tokens, cancelled, cancelled_rows
    } hist { latency_us, queue_wait_us, rows_per_pass, tokens_per_pass }
}

counters! {
    /// An encoder's counters since it was loaded (times in microseconds); see jina3.h's jina3_stats.
    Stats from sys::jina3_stats {
        requests, rows, passes, tokens, padded_tokens, queue_depth, max_queue_depth, rejected,
        deadline_exceeded, failed, cache_hits, cache_misses, cache_evictions, cache_bytes, cache_entries,
        queue_wait_us, pass_us, cancelled
    } lanes lanes
}

impl Stats {
    pub(crate) fn read(encoder: &Encoder) -> Result<Stats> {
        let mut raw = MaybeUninit::<sys::jina3_stats>::zeroed();
        // SAFETY: a zeroed struct with struct_size set; the library writes at most that many bytes.
        unsafe {
            (*raw.as_mut_ptr()).struct_size = size_of::<sys::jina3_stats>();
            call(|error| sys::jina3_encoder_stats(encoder.as_raw(), raw.as_mut_ptr(), error))?;
            Ok(Stats::from(&raw.assume_init()))
        }
    }

    /// The counters of one lane.
    pub fn lane(&self, priority: Priority) -> &LaneStats {
        &self.lanes[priority.raw() as usize]
    }
}
