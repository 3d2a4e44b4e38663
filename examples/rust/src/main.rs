//! jina3 from Rust through the jina3 crate (../../rust/jina3, added by path in Cargo.toml).
//!
//!     JINA3_LIB_DIR=/path/to/lib cargo run --release -- PACKAGE_DIR [QUERY PASSAGE...]
//!
//! Output: the ranking ("rank R: SCORE passage[I] TEXT"), then every embedding on one line
//! ("vector query 0 v1 v2 ..." / "vector passage I v1 v2 ..."), then one line on the concurrent
//! requests ("concurrent: N requests from T threads, max |diff| D to the synchronous results").
//!
//! Concurrency: threads share one `Encoder` (it is `Sync`), each submits its texts with
//! `Encoder::submit` and blocks in `Request::wait`; the encoder's scheduler merges the texts of
//! all pending requests into shared forward passes.
use std::process::ExitCode;

use jina3::{Embeddings, Encoder, Error, Task};

fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let (mut dot, mut norm_a, mut norm_b) = (0.0f64, 0.0f64, 0.0f64);
    for (x, y) in a.iter().zip(b) {
        let (x, y) = (*x as f64, *y as f64);
        dot += x * y;
        norm_a += x * x;
        norm_b += y * y;
    }
    dot / (norm_a * norm_b).sqrt()
}

fn max_diff(a: &[f32], b: &[f32]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (*x as f64 - *y as f64).abs()).fold(0.0, f64::max)
}

/// Threads submit the query or the passages at the same time; each result is compared with the
/// synchronous one.
fn concurrent(encoder: &Encoder, query: &str, passages: &[&str], q: &Embeddings, p: &Embeddings) -> Result<(), Error> {
    const THREADS: usize = 8;
    let results: Vec<Result<f64, Error>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                scope.spawn(move || {
                    let (texts, task, want) = if t % 2 == 0 {
                        (vec![query], Task::RetrievalQuery, q)
                    } else {
                        (passages.to_vec(), Task::RetrievalPassage, p)
                    };
                    let got = encoder.submit(&texts, task, 0)?.wait()?;
                    Ok(max_diff(got.as_slice(), want.as_slice()))
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("thread panicked")).collect()
    });
    let mut worst = 0.0f64;
    for result in results {
        worst = worst.max(result?);
    }
    println!(
        "concurrent: {} requests from {} threads, max |diff| {} to the synchronous results",
        THREADS, THREADS, worst
    );
    if worst > 1e-6 {
        return Err(Error::Internal(format!("concurrent results differ from the synchronous ones by {}", worst)));
    }
    Ok(())
}

fn print_vector(kind: &str, index: usize, values: &[f32]) {
    // {} prints the shortest text that reads back as the same f32.
    let numbers: Vec<String> = values.iter().map(|v| format!("{}", v)).collect();
    println!("vector {} {} {}", kind, index, numbers.join(" "));
}

fn run(args: &[String]) -> Result<(), Error> {
    let mut query = "What is the capital of France?";
    let mut passages = vec![
        "Paris is the capital and largest city of France.",
        "Berlin is the capital of Germany.",
        "The Eiffel Tower was completed in 1889.",
    ];
    if args.len() > 3 {
        query = &args[2];
        passages = args[3..].iter().map(|s| s.as_str()).collect();
    }

    let encoder = Encoder::open(&args[1])?;
    // Queries and passages use different adapters: that is what makes asymmetric retrieval work.
    let q = encoder.encode(&[query], Task::RetrievalQuery, 0)?;
    let p = encoder.encode(&passages, Task::RetrievalPassage, 0)?;

    let scores: Vec<f64> = p.iter().map(|row| cosine(q.row(0), row)).collect();
    let mut order: Vec<usize> = (0..passages.len()).collect();
    // Stable sort: ties keep input order.
    order.sort_by(|&a, &b| scores[b].partial_cmp(&scores[a]).unwrap_or(std::cmp::Ordering::Equal));

    println!("query: {}", query);
    for (rank, &i) in order.iter().enumerate() {
        println!("rank {}: {:.6} passage[{}] {}", rank + 1, scores[i], i, passages[i]);
    }
    print_vector("query", 0, q.row(0));
    for (i, row) in p.iter().enumerate() {
        print_vector("passage", i, row);
    }
    concurrent(&encoder, query, &passages, &q, &p)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 2 || args.len() == 3 {
        eprintln!("usage: {} PACKAGE_DIR [QUERY PASSAGE...]", args[0]);
        return ExitCode::from(2);
    }
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("jina3: {}", error);
            ExitCode::from(1)
        }
    }
}
