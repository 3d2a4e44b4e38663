//! Every `Error` variant: each one the library can be made to return is provoked through the safe
//! API; BufferTooSmall (the safe API sizes every buffer itself) through jina3-sys; OutOfMemory and
//! Internal, which no input provokes, through the status conversion every call uses.
mod common;

use std::fs;
use std::os::raw::c_char;
use std::ptr;

use common::*;
use jina3::sys;
use jina3::*;

fn expect_err<T>(result: Result<T>, status: sys::jina3_status, needle: &str) -> Error {
    let error = match result {
        Ok(_) => panic!("expected status {} ({}), the call succeeded", status, needle),
        Err(error) => error,
    };
    assert_eq!(error.status(), status, "{:?}", error);
    assert!(error.message().contains(needle), "{:?} does not mention {:?}", error, needle);
    error
}

#[test]
fn invalid_argument() {
    let encoder = open();
    let e = expect_err(encoder.encode(&TEXTS, Task::RetrievalQuery, 7), sys::JINA3_ERR_INVALID_ARGUMENT, "7");
    assert!(matches!(e, Error::InvalidArgument(_)));
    assert_eq!(e.status_name(), "invalid_argument");
    assert!(e.to_string().contains("invalid_argument"));
    // dims far past the full size: the library's dims error, not an allocation of that size.
    expect_err(encoder.encode(&TEXTS, Task::RetrievalQuery, usize::MAX), sys::JINA3_ERR_INVALID_ARGUMENT, "");
    expect_err(encoder.encode(&TEXTS, Task::RetrievalQuery, 1 << 40), sys::JINA3_ERR_INVALID_ARGUMENT, "");
    expect_err(
        encoder.encode_with(&TEXTS, Task::RetrievalQuery, 0, &EncodeOptions::new().max_length(-3)),
        sys::JINA3_ERR_INVALID_ARGUMENT,
        "max_length",
    );
    expect_err(encoder.submit(&TEXTS, Task::RetrievalQuery, 5), sys::JINA3_ERR_INVALID_ARGUMENT, "5");
    // One task or one per text, nothing between.
    expect_err(
        encoder.submit_with(&TEXTS, &[Task::RetrievalQuery, Task::RetrievalPassage], 0, &EncodeOptions::new()),
        sys::JINA3_ERR_INVALID_ARGUMENT,
        "",
    );
    expect_err(Encoder::open("bad\0path"), sys::JINA3_ERR_INVALID_ARGUMENT, "NUL");
}

#[test]
fn input_too_long() {
    let encoder = open();
    // 40 words over a 16-token limit (the package's own limit, 8194 tokens, is slow to reach).
    let long = "word ".repeat(40);
    let limit = EncodeOptions::new().max_length(16);
    let options = limit.truncate(false);
    let e = expect_err(
        encoder.encode_with(&["short", &long], Task::RetrievalPassage, 0, &options),
        sys::JINA3_ERR_INPUT_TOO_LONG,
        "",
    );
    assert!(matches!(e, Error::InputTooLong(_)));
    // Truncation on (the default): the row is marked instead.
    let cut = encoder.encode_with(&["short", &long], Task::RetrievalPassage, 0, &limit).unwrap();
    assert!(cut.truncated(1) && !cut.truncated(0));
    expect_err(encoder.encode_tokens(&long, Task::RetrievalPassage, &options), sys::JINA3_ERR_INPUT_TOO_LONG, "");
}

#[test]
fn model_not_found() {
    let missing = std::env::temp_dir().join("jina3-no-such-package");
    let e = expect_err(Encoder::open(&missing), sys::JINA3_ERR_MODEL_NOT_FOUND, "jina3-no-such-package");
    assert!(matches!(e, Error::ModelNotFound(_)));
}

#[test]
fn model_invalid() {
    let copy = package_copy("corrupt-manifest");
    fs::write(copy.join("manifest.json"), "{\"format\": \"jina3.package\", ").unwrap();
    let e = expect_err(Encoder::open(&copy), sys::JINA3_ERR_MODEL_INVALID, "manifest.json");
    assert!(matches!(e, Error::ModelInvalid(_)));
}

#[test]
fn version_mismatch() {
    // The package's format_version one past what the library reads.
    let copy = package_copy("newer-format");
    let manifest = fs::read_to_string(copy.join("manifest.json")).unwrap();
    let key = "\"format_version\":";
    let at = manifest.find(key).expect("manifest has format_version") + key.len();
    let digits: String = manifest[at..].trim_start().chars().take_while(|c| c.is_ascii_digit()).collect();
    let start = at + manifest[at..].find(&digits).unwrap();
    let bumped =
        format!("{}{}{}", &manifest[..start], digits.parse::<u64>().unwrap() + 1, &manifest[start + digits.len()..]);
    fs::write(copy.join("manifest.json"), bumped).unwrap();
    let e = expect_err(Encoder::open(&copy), sys::JINA3_ERR_VERSION_MISMATCH, "");
    assert!(matches!(e, Error::VersionMismatch(_)));
}

#[test]
fn device() {
    // No machine has a hundred GPUs.
    let options = EncoderOptions::new().device(Device::Cuda).device_index(99);
    let e = expect_err(Encoder::open_with(package(), &options), sys::JINA3_ERR_DEVICE, "");
    assert!(matches!(e, Error::Device(_)));
}

#[test]
fn buffer_too_small_through_the_raw_api() {
    let encoder = open();
    let text = TEXTS[0];
    let pointer = text.as_ptr() as *const c_char;
    let length = text.len();
    let mut out = vec![0f32; 3];
    let mut error = ptr::null_mut();
    let status = unsafe {
        sys::jina3_encoder_encode(
            encoder.as_raw(),
            &pointer,
            &length,
            1,
            Task::RetrievalQuery.raw(),
            0,
            ptr::null(),
            out.as_mut_ptr(),
            out.len(),
            ptr::null_mut(),
            &mut error,
        )
    };
    let message = unsafe { std::ffi::CStr::from_ptr(sys::jina3_error_message(error)) }.to_string_lossy().into_owned();
    unsafe { sys::jina3_error_free(error) };
    let e = Error::from_status(status, message);
    assert!(matches!(e, Error::BufferTooSmall(_)), "{:?}", e);
    assert_eq!(e.status_name(), "buffer_too_small");
}

#[test]
fn every_status_converts_to_its_variant() {
    // The table behind Error: each status round-trips, names match the library's.
    let mut seen = Vec::new();
    for status in 1..=12 {
        let e = Error::from_status(status, "message");
        assert_eq!(e.status(), status);
        assert_eq!(e.message(), "message");
        let name = unsafe { std::ffi::CStr::from_ptr(sys::jina3_status_name(status)) }.to_str().unwrap();
        assert_eq!(e.status_name(), name);
        seen.push(format!("{:?}", e).split('(').next().unwrap().to_string());
    }
    assert_eq!(
        seen,
        [
            "InvalidArgument",
            "InputTooLong",
            "ModelNotFound",
            "ModelInvalid",
            "VersionMismatch",
            "Device",
            "BufferTooSmall",
            "OutOfMemory",
            "Internal",
            "QueueFull",
            "DeadlineExceeded",
            "Cancelled"
        ]
    );
    assert!(matches!(Error::from_status(sys::JINA3_ERR_OUT_OF_MEMORY, "m"), Error::OutOfMemory(_)));
    assert!(matches!(Error::from_status(sys::JINA3_ERR_INTERNAL, "m"), Error::Internal(_)));
    assert!(matches!(Error::from_status(77, "m"), Error::Internal(m) if m.contains("77")));
}

#[test]
fn queue_full() {
    let (encoder, first) = busy_encoder(EncoderOptions::new().max_queued_requests(1));
    let no_wait = EncodeOptions::new().block_when_full(false);
    let e =
        expect_err(encoder.submit_with(&TEXTS, &[Task::RetrievalQuery], 0, &no_wait), sys::JINA3_ERR_QUEUE_FULL, "");
    assert!(matches!(e, Error::QueueFull(_)));
    expect_err(encoder.encode_with(&TEXTS, Task::RetrievalQuery, 0, &no_wait), sys::JINA3_ERR_QUEUE_FULL, "");
    assert!(encoder.stats().unwrap().rejected >= 2);
    first.cancel();
}

#[test]
fn deadline_exceeded() {
    let (encoder, first) = busy_encoder(EncoderOptions::new());
    let hurry = EncodeOptions::new().deadline_us(1);
    let result = encoder.submit_with(&TEXTS, &[Task::RetrievalQuery], 0, &hurry).and_then(|r| r.wait());
    let e = expect_err(result, sys::JINA3_ERR_DEADLINE_EXCEEDED, "");
    assert!(matches!(e, Error::DeadlineExceeded(_)));
    assert!(encoder.stats().unwrap().deadline_exceeded >= 1);
    first.cancel();
}

#[test]
fn cancelled_when_the_encoder_goes_first() {
    let (encoder, request) = busy_encoder(EncoderOptions::new());
    drop(encoder);
    let e = expect_err(request.wait(), sys::JINA3_ERR_CANCELLED, "");
    assert!(matches!(e, Error::Cancelled(_)));
}
