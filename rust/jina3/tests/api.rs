//! The safe crate against the C API: every result equals what jina3-sys gives for the same call
//! (float32 within 1e-6, quantised bytes exactly), on the build's tiny test package.
mod common;

use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use common::*;
use jina3::sys;
use jina3::*;

const TOLERANCE: f32 = 1e-6;

#[test]
fn encode_equals_the_c_api_for_every_task_and_dims() {
    let encoder = open();
    let tasks = encoder.tasks();
    assert!(tasks.len() >= 5, "the test package has every adapter: {:?}", tasks);
    let smallest = encoder.dims()[0];
    for &task in tasks.iter().chain([Task::None].iter()) {
        for dims in [0, smallest] {
            let got = encoder.encode(&TEXTS, task, dims).unwrap();
            let width = if dims == 0 { encoder.hidden_size() } else { dims };
            assert_eq!((got.rows(), got.dims()), (TEXTS.len(), width));
            let want = c_encode(&encoder, &TEXTS, task, dims, None);
            assert!(max_diff(got.as_slice(), &want) <= TOLERANCE, "{:?} dims {}", task, dims);
            for i in 0..got.rows() {
                assert_eq!(got.row(i), &want[i * width..(i + 1) * width]);
                let norm: f32 = got.row(i).iter().map(|v| v * v).sum::<f32>().sqrt();
                assert!((norm - 1.0).abs() < 1e-4, "row {} norm {}", i, norm);
                assert!(!got.truncated(i));
            }
        }
    }
    // Distinct texts give distinct rows (the comparison above is not between zeros).
    let rows = encoder.encode(&TEXTS[..2], Task::RetrievalPassage, 0).unwrap();
    assert!(max_diff(rows.row(0), rows.row(1)) > 1e-3);
    // Strings of any kind.
    let owned: Vec<String> = TEXTS.iter().map(|t| t.to_string()).collect();
    assert_eq!(
        encoder.encode(&owned, Task::RetrievalQuery, 0).unwrap(),
        encoder.encode(&TEXTS, Task::RetrievalQuery, 0).unwrap()
    );
    // No texts: no rows.
    let none: [&str; 0] = [];
    assert_eq!(encoder.encode(&none, Task::RetrievalQuery, 0).unwrap().rows(), 0);
}

#[test]
fn options_reach_the_library() {
    let encoder = open();
    let options = EncodeOptions::new().normalize(false).max_length(8).batch_size(2);
    let got = encoder.encode_with(&TEXTS, Task::TextMatching, 0, &options).unwrap();
    let want = c_encode(&encoder, &TEXTS, Task::TextMatching, 0, Some(options.as_raw()));
    assert!(max_diff(got.as_slice(), &want) <= TOLERANCE);
    // Not normalised, and the long texts were cut to 8 tokens.
    let norm: f32 = got.row(0).iter().map(|v| v * v).sum::<f32>().sqrt();
    assert!((norm - 1.0).abs() > 1e-3, "normalize(false) gave a unit row");
    assert!(got.truncated(0) && got.truncated(3));
    assert!(!got.truncated(4), "the empty text was not cut");
    // Defaults equal the C defaults.
    let mut raw = std::mem::MaybeUninit::<sys::jina3_encode_options>::zeroed();
    let raw = unsafe {
        sys::jina3_encode_default_options(raw.as_mut_ptr(), std::mem::size_of::<sys::jina3_encode_options>());
        raw.assume_init()
    };
    let defaults = EncodeOptions::new();
    let d = defaults.as_raw();
    assert_eq!(
        (
            d.struct_size,
            d.max_length,
            d.batch_size,
            d.normalize,
            d.truncate,
            d.deadline_us,
            d.block_when_full,
            d.priority
        ),
        (
            raw.struct_size,
            raw.max_length,
            raw.batch_size,
            raw.normalize,
            raw.truncate,
            raw.deadline_us,
            raw.block_when_full,
            raw.priority
        )
    );
    // Encoder options: a bad value is the library's InvalidArgument naming the field.
    match Encoder::open_with(package(), &EncoderOptions::new().num_threads(-1)) {
        Err(Error::InvalidArgument(message)) => assert!(message.contains("num_threads"), "{}", message),
        Err(other) => panic!("expected InvalidArgument, got {:?}", other),
        Ok(_) => panic!("num_threads -1 was accepted"),
    }
    let tuned = EncoderOptions::new().num_threads(1).max_batch_size(4).cache_bytes(1 << 20).bulk_share(0.5);
    let cached = Encoder::open_with(package(), &tuned).unwrap();
    let a = cached.encode(&TEXTS, Task::RetrievalQuery, 0).unwrap();
    let b = cached.encode(&TEXTS, Task::RetrievalQuery, 0).unwrap();
    assert!(max_diff(a.as_slice(), b.as_slice()) <= TOLERANCE);
    assert!(cached.stats().unwrap().cache_hits >= TEXTS.len() as u64, "the cache option was not applied");
}

#[test]
fn encode_tasks_and_ids_equal_the_c_api() {
    let encoder = open();
    let tasks = [
        Task::RetrievalQuery,
        Task::RetrievalPassage,
        Task::Separation,
        Task::Classification,
        Task::TextMatching,
        Task::None,
    ];
    let got = encoder.encode_tasks(&TEXTS, &tasks, 0, &EncodeOptions::new()).unwrap();
    assert!(max_diff(got.as_slice(), &c_encode_tasks(&encoder, &TEXTS, &tasks, 0)) <= TOLERANCE);
    assert!(matches!(
        encoder.encode_tasks(&TEXTS, &tasks[..2], 0, &EncodeOptions::new()),
        Err(Error::InvalidArgument(_))
    ));

    // Token ids: the text's own tokens (those with an offset) embed like the text.
    let text = TEXTS[0];
    let tokens = encoder.encode_tokens(text, Task::RetrievalPassage, &EncodeOptions::new()).unwrap();
    let ids: Vec<i32> = (0..tokens.len()).filter(|&i| tokens.offset(i).is_some()).map(|i| tokens.ids()[i]).collect();
    assert!(!ids.is_empty());
    let by_ids = encoder.encode_ids(&[&ids], Task::RetrievalPassage, 0, &EncodeOptions::new()).unwrap();
    assert!(max_diff(by_ids.as_slice(), &c_encode_ids(&encoder, &[&ids], Task::RetrievalPassage, 0)) <= TOLERANCE);
    let by_text = encoder.encode(&[text], Task::RetrievalPassage, 0).unwrap();
    assert!(max_diff(by_ids.as_slice(), by_text.as_slice()) <= 1e-5, "ids and text differ");
    let request = encoder.submit_ids(&[&ids], &[Task::RetrievalPassage], 0, &EncodeOptions::new()).unwrap();
    assert!(max_diff(request.wait().unwrap().as_slice(), by_ids.as_slice()) <= TOLERANCE);
    // An id out of the vocabulary is the library's InvalidArgument.
    let bad = [5, encoder.vocab_size() as i32];
    match encoder.encode_ids(&[&bad], Task::RetrievalPassage, 0, &EncodeOptions::new()) {
        Err(Error::InvalidArgument(message)) => assert!(!message.is_empty()),
        other => panic!("expected InvalidArgument, got {:?}", other.map(|e| e.rows())),
    }
}

#[test]
fn quantized_rows_equal_the_c_api_byte_for_byte() {
    let encoder = open();
    let dims = encoder.dims()[0];
    let floats = encoder.encode(&TEXTS, Task::RetrievalPassage, dims).unwrap();
    let ranges = Ranges::of(&floats).unwrap();
    assert_eq!(ranges.dims(), dims);
    for (d, (lo, hi)) in ranges.min().iter().zip(ranges.max()).enumerate() {
        let column: Vec<f32> = floats.iter().map(|row| row[d]).collect();
        assert_eq!(*lo, column.iter().cloned().fold(f32::INFINITY, f32::min));
        assert_eq!(*hi, column.iter().cloned().fold(f32::NEG_INFINITY, f32::max));
    }
    for &precision in Precision::ALL {
        for r in [None, Some(&ranges)] {
            let got = encoder
                .encode_quantized(&TEXTS, Task::RetrievalPassage, dims, precision, r, &EncodeOptions::new())
                .unwrap();
            let want = c_encode_quantized(
                &encoder,
                &TEXTS,
                Task::RetrievalPassage,
                dims,
                precision,
                r.map(|r| [r.min(), r.max()].concat()).as_deref(),
            );
            assert_eq!(got.as_bytes(), &want[..], "{:?}", precision);
            assert_eq!(got.row_bytes(), precision.row_bytes(dims));
            assert_eq!(got.rows(), TEXTS.len());
            // The precision stage alone gives the same bytes from the float rows.
            let again = quantize(floats.as_slice(), dims, precision, r).unwrap();
            assert_eq!(again.as_bytes(), got.as_bytes(), "{:?}: quantize differs", precision);
        }
    }
    let bits = quantize(floats.as_slice(), dims, Precision::Ubinary, None).unwrap();
    assert_eq!(bits.row_bytes(), dims / 8);
    // Bit 7 of byte 0 is dim 0's sign.
    assert_eq!(bits.row(0)[0] >> 7 == 1, floats.row(0)[0] > 0.0);
    // Ranges of the wrong width never reach the C API.
    let short = Ranges::new(&[0.0; 4], &[1.0; 4]).unwrap();
    assert!(matches!(quantize(floats.as_slice(), dims, Precision::Int8, Some(&short)), Err(Error::InvalidArgument(_))));
    assert!(matches!(quantize(&floats.as_slice()[1..], dims, Precision::Int8, None), Err(Error::InvalidArgument(_))));
    assert!(matches!(quantize(&[], 0, Precision::Int8, None), Err(Error::InvalidArgument(_))));
    // No rows with a huge dims: the library's error, not an allocation of that size.
    assert!(matches!(calibration_ranges(&[], 1 << 40), Err(Error::InvalidArgument(_))));
    assert!(matches!(quantize(&[], 1 << 40, Precision::Int8, None), Err(Error::InvalidArgument(_)) | Ok(_)));
    // A packed precision needs dims divisible by 8: the library's check.
    assert!(matches!(quantize(&[0.5; 12], 12, Precision::Binary, None), Err(Error::InvalidArgument(_))));
}

#[test]
fn tokens_and_offsets_equal_the_c_api() {
    let encoder = open();
    let text = TEXTS[3];
    let tokens = encoder.encode_tokens(text, Task::RetrievalQuery, &EncodeOptions::new()).unwrap();
    let (ids, embeddings, offsets) = c_tokens(&encoder, text, Task::RetrievalQuery);
    assert_eq!(tokens.ids(), &ids[..]);
    // Token states are not normalised: the tolerance is relative to their largest magnitude (two
    // passes may sum in another order when other encoders in this process change LibTorch's
    // process-wide thread count).
    let scale = embeddings.iter().fold(1f32, |m, v| m.max(v.abs()));
    let diff = max_diff(tokens.embeddings(), &embeddings);
    assert!(diff <= TOLERANCE * scale, "token states differ by {} (largest magnitude {})", diff, scale);
    assert_eq!(tokens.offsets().concat(), offsets);
    assert_eq!(tokens.hidden(), encoder.hidden_size());
    assert_eq!(tokens.embedding(1), &embeddings[tokens.hidden()..2 * tokens.hidden()]);
    assert!(!tokens.truncated());
    // <s> and the prompt have no offset; the text's tokens cover it in order.
    assert_eq!(tokens.offset(0), None);
    let spans: Vec<_> = (0..tokens.len()).filter_map(|i| tokens.offset(i)).collect();
    assert!(!spans.is_empty());
    assert!(spans.windows(2).all(|w| w[0].end <= w[1].start + 1));
    assert!(spans.iter().all(|s| text.get(s.clone()).is_some()), "offsets are not on UTF-8 boundaries");
    // Tokens may be read from another thread.
    std::thread::scope(|s| {
        s.spawn(|| assert_eq!(tokens.ids().len(), ids.len()));
    });
}

#[test]
fn late_chunking_equals_the_c_api() {
    let encoder = open();
    let text = "Berlin is the capital of Germany. It has 3.8 million people. The Spree flows through it.";
    let chunks = encoder.late_chunk(text, Task::RetrievalPassage, 0, &LateChunkOptions::new().sentences(1)).unwrap();
    let (embeddings, spans) = c_late_chunk(&encoder, text, Task::RetrievalPassage, 0, 1);
    assert_eq!(chunks.len(), 3);
    assert_eq!(chunks.dims(), encoder.hidden_size());
    assert!(max_diff(chunks.embeddings(), &embeddings) <= TOLERANCE);
    assert_eq!(chunks.spans().concat(), spans);
    assert_eq!(&text[chunks.spans()[1][0]..chunks.spans()[1][1]], "It has 3.8 million people.");
    assert!(chunks.token_spans().windows(2).all(|w| w[0][1] <= w[1][0]));
    // Spans chosen by the caller.
    let own = encoder
        .late_chunk(
            text,
            Task::RetrievalPassage,
            encoder.dims()[0],
            &LateChunkOptions::new().spans(&[(0, 33), (34, 60)]),
        )
        .unwrap();
    assert_eq!(own.spans(), &[[0, 33], [34, 60]]);
    assert_eq!(own.dims(), encoder.dims()[0]);
    // Two ways of choosing chunks at once: the library's InvalidArgument.
    let both = LateChunkOptions::new().sentences(1).chunk_tokens(4);
    assert!(matches!(encoder.late_chunk(text, Task::RetrievalPassage, 0, &both), Err(Error::InvalidArgument(_))));
    let outside = LateChunkOptions::new().spans(&[(0, 1000)]);
    assert!(matches!(encoder.late_chunk(text, Task::RetrievalPassage, 0, &outside), Err(Error::InvalidArgument(_))));
}

#[test]
fn submit_wait_and_callbacks() {
    let encoder = open();
    let want = encoder.encode(&TEXTS, Task::Classification, 0).unwrap();
    let request = encoder.submit(&TEXTS, Task::Classification, 0).unwrap();
    assert_eq!((request.rows(), request.dims()), (TEXTS.len(), encoder.hidden_size()));
    let got = request.wait().unwrap();
    assert!(request.is_ready());
    assert!(max_diff(got.as_slice(), want.as_slice()) <= TOLERANCE);
    assert_eq!(request.wait().unwrap(), got, "a second wait gives the same rows");
    assert!(!request.cancel(), "a completed request cannot be cancelled");

    let (sender, receiver) = mpsc::channel();
    let request = encoder
        .submit_then(&TEXTS, &[Task::Classification], 0, &EncodeOptions::new(), move || sender.send(()).unwrap())
        .unwrap();
    receiver.recv_timeout(Duration::from_secs(60)).expect("the callback ran");
    assert!(request.is_ready());
    assert!(max_diff(request.wait().unwrap().as_slice(), want.as_slice()) <= TOLERANCE);
    // A request dropped before it is ready never calls its closure afterwards, and frees it.
    let called = Arc::new(AtomicBool::new(false));
    let flag = called.clone();
    let busy = busy_texts();
    let dropped = encoder
        .submit_then(&busy[..200], &[Task::Classification], 0, &EncodeOptions::new(), move || {
            flag.store(true, Ordering::SeqCst)
        })
        .unwrap();
    drop(dropped);
    let after = called.load(Ordering::SeqCst);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(called.load(Ordering::SeqCst), after, "the closure ran after its request was dropped");
}

#[test]
fn one_encoder_serves_16_threads() {
    fn shareable<T: Send + Sync>() {}
    shareable::<Encoder>();
    shareable::<Request>();
    shareable::<Tokens>();
    shareable::<Chunks>();

    let encoder = open();
    let tasks = [Task::RetrievalQuery, Task::RetrievalPassage, Task::TextMatching];
    let want: Vec<Embeddings> = tasks.iter().map(|&t| encoder.encode(&TEXTS, t, 0).unwrap()).collect();
    let worst = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..16)
            .map(|t| {
                let (encoder, want) = (&encoder, &want);
                scope.spawn(move || {
                    let k = t % tasks.len();
                    let mut worst = 0f32;
                    for round in 0..3 {
                        let got = if (t + round) % 2 == 0 {
                            encoder.encode(&TEXTS, tasks[k], 0).unwrap()
                        } else {
                            encoder.submit(&TEXTS, tasks[k], 0).unwrap().wait().unwrap()
                        };
                        worst = worst.max(max_diff(got.as_slice(), want[k].as_slice()));
                    }
                    worst
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).fold(0f32, f32::max)
    });
    // Rows merged into passes with other threads' rows: the documented batch tolerance.
    assert!(worst <= 1e-5, "threads got results {} away from the single-threaded ones", worst);
    // A Request moves to another thread and is waited on there.
    let request = encoder.submit(&TEXTS, Task::RetrievalQuery, 0).unwrap();
    let got = std::thread::spawn(move || request.wait()).join().unwrap().unwrap();
    assert!(max_diff(got.as_slice(), want[0].as_slice()) <= 1e-5);
    let stats = encoder.stats().unwrap();
    assert!(stats.requests >= 16 * 3 + 3, "stats counted {} requests", stats.requests);
}

#[test]
fn cancel_takes_a_queued_request_out() {
    let encoder = Encoder::open_with(package(), &EncoderOptions::new().num_threads(1)).unwrap();
    let busy = busy_texts();
    let bulk = EncodeOptions::new().priority(Priority::Bulk);
    let mut cancelled = 0;
    for _ in 0..5 {
        // The worker is busy with many passes; the second request waits in the queue.
        let background = encoder.submit_with(&busy, &[Task::RetrievalPassage], 0, &bulk).unwrap();
        let request = encoder.submit_with(&busy[..64], &[Task::RetrievalQuery], 0, &bulk).unwrap();
        if request.cancel() {
            cancelled += 1;
            assert!(!request.cancel(), "cancelled twice");
            assert!(matches!(request.wait(), Err(Error::Cancelled(_))));
            assert!(matches!(request.wait(), Err(Error::Cancelled(_))), "the failure is the same each time");
            assert!(request.is_ready());
        } else {
            request.wait().unwrap();
        }
        assert!(background.cancel());
        assert!(matches!(background.wait(), Err(Error::Cancelled(_))));
        if cancelled > 0 {
            break;
        }
    }
    assert!(cancelled > 0, "no request was still queued when cancelled");
    let stats = encoder.stats().unwrap();
    assert!(stats.cancelled >= 2, "stats.cancelled is {}", stats.cancelled);
    assert!(stats.lane(Priority::Bulk).cancelled >= 2);
    assert!(stats.lane(Priority::Bulk).cancelled_rows > 0);
    // The encoder still serves.
    assert_eq!(encoder.encode(&TEXTS, Task::RetrievalQuery, 0).unwrap().rows(), TEXTS.len());
}

#[test]
fn stats_count_requests_rows_and_lanes() {
    let encoder = open();
    let before = encoder.stats().unwrap();
    encoder.encode(&TEXTS, Task::RetrievalQuery, 0).unwrap();
    encoder.encode_with(&TEXTS[..2], Task::RetrievalQuery, 0, &EncodeOptions::new().priority(Priority::Bulk)).unwrap();
    let after = encoder.stats().unwrap();
    assert_eq!(after.requests - before.requests, 2);
    assert_eq!(after.rows - before.rows, TEXTS.len() as u64 + 2);
    assert!(after.passes > before.passes && after.tokens > before.tokens && after.padded_tokens >= after.tokens);
    let interactive = after.lane(Priority::Interactive);
    let bulk = after.lane(Priority::Bulk);
    assert_eq!(interactive.rows + bulk.rows, after.rows);
    assert_eq!(bulk.rows - before.lane(Priority::Bulk).rows, 2);
    assert!(interactive.latency_us.count >= 1);
    assert_eq!(interactive.rows_per_pass.buckets.iter().sum::<u64>(), interactive.rows_per_pass.count);
    assert_eq!(after.queue_depth, 0);
}

#[test]
fn names_and_metadata_come_from_the_library() {
    for &task in Task::ALL {
        assert_eq!(Task::from_str(task.name()).unwrap(), task);
        assert_eq!(task.to_string(), task.name());
    }
    assert_eq!(Task::RetrievalQuery.name(), "retrieval.query");
    assert_eq!("".parse::<Task>().unwrap(), Task::None);
    match "retrieval.queries".parse::<Task>() {
        Err(Error::InvalidArgument(message)) => assert!(message.contains("retrieval.query"), "{}", message),
        other => panic!("expected InvalidArgument, got {:?}", other),
    }
    assert!(matches!("a\0b".parse::<Task>(), Err(Error::InvalidArgument(_))));
    for &priority in Priority::ALL {
        assert_eq!(priority.name().parse::<Priority>().unwrap(), priority);
    }
    assert_eq!(Priority::Bulk.name(), "bulk");
    assert!("urgent".parse::<Priority>().is_err());
    for &dtype in DType::ALL {
        assert_eq!(dtype.name().parse::<DType>().unwrap(), dtype);
    }
    assert_eq!(Device::parse("cuda:3").unwrap(), (Device::Cuda, 3));
    assert_eq!(Device::parse("cpu").unwrap(), (Device::Cpu, 0));
    assert!(Device::parse("tpu").is_err());
    assert_eq!(Precision::Float16.row_bytes(64), 128);
    assert_eq!(Precision::Binary.row_bytes(64), 8);
    assert_eq!(Task::from_raw(99), None);

    let encoder = open();
    assert_eq!(encoder.device(), Device::Cpu);
    assert_eq!(encoder.dtype(), DType::Float32);
    assert_eq!(*encoder.dims().last().unwrap(), encoder.hidden_size());
    assert!(encoder.max_length() > 8 && encoder.vocab_size() > 1000);
    assert_eq!(encoder.package_path(), package().to_str().unwrap());
    assert!(!encoder.prompt(Task::RetrievalQuery).unwrap().is_empty());
    assert_eq!(encoder.prompt(Task::None).unwrap(), "");
    let kernels = encoder.kernels().unwrap();
    assert_eq!(kernels.len(), 7);
    assert_eq!(kernels["device"], "cpu");
    assert_eq!(kernels["compute_dtype"], "float32");
    assert!(kernels["bf16"] == "native" || kernels["bf16"] == "emulated");
    assert!(!kernels["isa"].is_empty() && kernels["notice"].is_empty());
    assert_eq!(abi_version(), sys::JINA3_ABI_VERSION);
    assert_eq!(version().split('.').count(), 3);
}
