//! An int8 package through the safe crate (issue #19): `package-int8`, the sibling of the float32
//! test package, loads, reports `DType::Int8`, and its rows are within cosine 0.99 of the float32
//! package's for every task and two Matryoshka sizes, nearer their own text's float32 row than any
//! other text's, and not float32's rows.
mod common;

use std::path::PathBuf;

use common::*;
use jina3::*;

/// `package-int8` beside the float32 test package (the make_test_data fixture writes both).
fn int8_package() -> PathBuf {
    let path = package().parent().expect("the test package has a parent directory").join("package-int8");
    assert!(
        path.join("manifest.json").is_file(),
        "no int8 test package at {} (run ctest -R make_test_data)",
        path.display()
    );
    path
}

fn cosine(a: &[f32], b: &[f32]) -> f64 {
    assert_eq!(a.len(), b.len(), "lengths differ");
    let (mut dot, mut na, mut nb) = (0f64, 0f64, 0f64);
    for (&x, &y) in a.iter().zip(b) {
        let (x, y) = (x as f64, y as f64);
        dot += x * y;
        na += x * x;
        nb += y * y;
    }
    dot / (na * nb).sqrt()
}

#[test]
fn int8_package_reports_int8_and_the_float32_shape() {
    let int8 = Encoder::open(int8_package()).expect("the int8 test package loads");
    let float32 = open();
    assert_eq!(int8.dtype(), DType::Int8);
    assert_eq!(int8.dtype().name(), "int8");
    assert_eq!(float32.dtype(), DType::Float32);
    assert_eq!(int8.device(), Device::Cpu);
    assert_eq!(int8.dims(), float32.dims());
    assert_eq!(int8.tasks(), float32.tasks());
    assert_eq!(int8.hidden_size(), float32.hidden_size());
    assert_eq!(int8.max_length(), float32.max_length());
    assert_eq!(int8.package_path(), int8_package().to_str().unwrap());
}

#[test]
fn int8_rows_are_within_cosine_0_99_of_float32_for_every_task() {
    let int8 = Encoder::open(int8_package()).expect("the int8 test package loads");
    let float32 = open();
    let tasks = float32.tasks();
    assert!(tasks.len() >= 5, "the test package has every adapter: {:?}", tasks);
    let small = float32.dims()[1]; // 16 of 8/16/32/64: a real Matryoshka cut
    let (mut min_cosine, mut min_margin) = (1f64, 1f64);
    for &task in tasks.iter().chain([Task::None].iter()) {
        for dims in [0, small] {
            let got = int8.encode(&TEXTS, task, dims).unwrap();
            let want = float32.encode(&TEXTS, task, dims).unwrap();
            let width = if dims == 0 { int8.hidden_size() } else { dims };
            assert_eq!((got.rows(), got.dims()), (TEXTS.len(), width), "{:?} dims {}", task, dims);
            assert_eq!((want.rows(), want.dims()), (TEXTS.len(), width));
            for i in 0..got.rows() {
                let own = cosine(got.row(i), want.row(i));
                assert!(own >= 0.99, "{:?} dims {} row {} ({:?}): cosine {}", task, dims, i, TEXTS[i], own);
                min_cosine = min_cosine.min(own);
                // The tiny random model's rows are close to each other (up to ~0.993): the int8
                // row must still be nearest its own text's float32 row.
                for j in (0..want.rows()).filter(|&j| j != i) {
                    let other = cosine(got.row(i), want.row(j));
                    assert!(own > other, "{:?} dims {} row {}: {} to its own row, {} to row {}", task, dims, i, own, other, j);
                    min_margin = min_margin.min(own - other);
                }
                let norm: f32 = got.row(i).iter().map(|v| v * v).sum::<f32>().sqrt();
                assert!((norm - 1.0).abs() < 1e-4, "row {} norm {}", i, norm);
            }
            // int8 weights give other rows than float32's.
            assert!(max_diff(got.as_slice(), want.as_slice()) > 1e-4, "{:?} dims {}: int8 rows equal float32's", task, dims);
        }
    }
    println!("rust int8 vs float32: min cosine {:.6}, min margin over other texts {:.4}", min_cosine, min_margin);
}
