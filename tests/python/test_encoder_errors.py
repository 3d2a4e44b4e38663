"""Every failure reaches Python as the right jina3 exception class with a clear message."""

import json
import os
import shutil

import pytest

import jina3

pytest.register_assert_rewrite("encoder_support")  # before the import, so its asserts explain failures
from encoder_support import max_abs_diff, package_dir, reference_embeddings  # noqa: E402

pytest_plugins = ("encoder_support",)  # fixtures: encoder, reference, long_text


def test_exception_hierarchy():
    assert issubclass(jina3.Error, RuntimeError)
    expected_bases = {
        jina3.InvalidArgumentError: (jina3.Error, ValueError),
        jina3.InputTooLongError: (jina3.Error, ValueError),
        jina3.ModelNotFoundError: (jina3.Error, FileNotFoundError),
        jina3.ModelInvalidError: (jina3.Error,),
        jina3.VersionMismatchError: (jina3.Error,),
        jina3.DeviceError: (jina3.Error,),
    }
    for cls, bases in expected_bases.items():
        assert cls.__bases__ == bases, cls
        assert cls.__module__ == "jina3"
        assert cls.__doc__ and "Example" in cls.__doc__
    assert jina3.Error.__bases__ == (RuntimeError,)
    # The classes stay distinct: a ValueError handler does not see package errors.
    assert not issubclass(jina3.ModelInvalidError, ValueError)
    assert not issubclass(jina3.InvalidArgumentError, FileNotFoundError)


def expect(cls, code, *fragments):
    """pytest.raises for a jina3 error that also checks its code and message fragments."""

    class Checker:
        def __enter__(self):
            self.raises = pytest.raises(cls)
            self.info = self.raises.__enter__()
            return self.info

        def __exit__(self, *exc):
            suppressed = self.raises.__exit__(*exc)
            if not suppressed:  # another exception type: let it propagate as it is
                return False
            error = self.info.value
            assert type(error) is cls, f"{type(error).__name__} raised, {cls.__name__} expected: {error}"
            assert error.code == code
            message = str(error)
            for fragment in fragments:
                assert fragment in message, f"{fragment!r} not in message {message!r}"
            return suppressed

    return Checker()


def test_unknown_task(encoder):
    with expect(jina3.InvalidArgumentError, "invalid_argument", "retrieval.querry", "retrieval.query"):
        encoder.encode(["a"], "retrieval.querry")
    with expect(jina3.InvalidArgumentError, "invalid_argument", "bogus"):
        encoder.encode(["a", "b"], ["separation", "bogus"])
    with expect(jina3.InvalidArgumentError, "invalid_argument", "bogus"):
        encoder.tokenize(["a"], "bogus")
    with expect(jina3.InvalidArgumentError, "invalid_argument", "bogus"):
        encoder.encode([], "bogus")  # checked even with nothing to encode
    with expect(jina3.InvalidArgumentError, "invalid_argument", "bogus"):
        jina3.Task.from_string("bogus")
    # The same error is a ValueError and a jina3.Error for callers who catch those.
    with pytest.raises(ValueError):
        encoder.encode(["a"], "bogus")
    with pytest.raises(jina3.Error):
        encoder.encode(["a"], "bogus")


def test_task_of_wrong_type(encoder):
    for task in (3, 1.5, {"retrieval.query"}, b"retrieval.query"):
        with pytest.raises(TypeError, match="task must be None, a str"):
            encoder.encode(["a"], task)
    with pytest.raises(TypeError, match="task must be"):
        encoder.tokenize(["a", "b"], ["separation", "separation"])  # tokenize takes one task


def test_task_list_length_must_match(encoder):
    with expect(jina3.InvalidArgumentError, "invalid_argument", "2 tasks for 3 texts"):
        encoder.encode(["a", "b", "c"], ["separation", "separation"])
    with expect(jina3.InvalidArgumentError, "invalid_argument", "1 tasks for 3 texts"):
        encoder.encode(["a", "b", "c"], ["separation"])
    with expect(jina3.InvalidArgumentError, "invalid_argument"):
        encoder.encode([], ["separation"])


def test_bad_dims(encoder):
    for dims in (7, -1, encoder.hidden_size + 1, 10**6):
        with expect(jina3.InvalidArgumentError, "invalid_argument", f"dims {dims}", str(encoder.dims[0])):
            encoder.encode(["a"], None, dims)
    with expect(jina3.InvalidArgumentError, "invalid_argument", "dims 7"):
        encoder.encode([], None, 7)
    for dims in (2**40, 16.0, "16"):
        with pytest.raises(TypeError):
            encoder.encode(["a"], None, dims)


def test_bad_call_options(encoder):
    for max_length in (1, -3, encoder.max_length + 1):
        with expect(jina3.InvalidArgumentError, "invalid_argument", f"max_length {max_length}"):
            encoder.encode(["a"], max_length=max_length)
        with expect(jina3.InvalidArgumentError, "invalid_argument", f"max_length {max_length}"):
            encoder.tokenize(["a"], max_length=max_length)
    with expect(jina3.InvalidArgumentError, "invalid_argument", "batch_size -1"):
        encoder.encode(["a"], batch_size=-1)


def test_invalid_utf8_bytes(encoder):
    for bad in (b"\xff\xfe", b"abc\xc3", b"\xed\xa0\x80", b"\xc0\xaf"):
        with expect(jina3.InvalidArgumentError, "invalid_argument", "text 1", "UTF-8"):
            encoder.encode([b"fine", bad], "retrieval.query")
        with expect(jina3.InvalidArgumentError, "invalid_argument", "text 1", "UTF-8"):
            encoder.tokenize(["fine", bad])


def test_lone_surrogates_in_str(encoder):
    # A Python str can hold a lone surrogate, which has no UTF-8 form: an error, not a crash.
    for bad in ("\ud800", "abc\udfff", "x\udcff y"):
        with expect(jina3.InvalidArgumentError, "invalid_argument", "text 2", "UTF-8", "surrogate"):
            encoder.encode(["fine", "also fine", bad])
        with expect(jina3.InvalidArgumentError, "invalid_argument", "text 0", "surrogate"):
            encoder.tokenize([bad])
    with expect(jina3.InvalidArgumentError, "invalid_argument", "surrogate"):
        encoder.encode(["a"], "retrieval.query\ud800")
    assert encoder.encode(["still works"]).shape == (1, encoder.hidden_size)


def test_single_string_instead_of_list(encoder):
    # encode takes a single text as sentence-transformers does (one 1-D vector; test_st_surface.py);
    # the other calls still want a list.
    for texts in ("hello world", b"hello world"):
        assert encoder.encode(texts).shape == (encoder.hidden_size,)
        with pytest.raises(TypeError, match="list of str, not a single"):
            encoder.tokenize(texts)


def test_texts_of_wrong_type(encoder):
    with pytest.raises(TypeError, match="texts must be a list of str, not int"):
        encoder.encode(42)
    with pytest.raises(TypeError, match="texts must be a list of str, not NoneType"):
        encoder.encode(None)
    with pytest.raises(TypeError, match=r"texts\[1\] is int, expected str"):
        encoder.encode(["a", 1, "c"])
    with pytest.raises(TypeError, match=r"texts\[0\] is NoneType"):
        encoder.tokenize([None])
    with pytest.raises(TypeError, match=r"texts\[0\] is list holding str: a text is a str, or a list of int token ids"):
        encoder.encode([["nested"]])


def test_over_long_text_without_truncation(encoder, long_text):
    with expect(jina3.InputTooLongError, "input_too_long", "text 1", "tokens"):
        encoder.encode(["short", long_text], "retrieval.query", max_length=32, truncate=False)
    with expect(jina3.InputTooLongError, "input_too_long", "text 0"):
        encoder.tokenize([long_text], max_length=32, truncate=False)
    with pytest.raises(ValueError):
        encoder.encode([long_text], max_length=32, truncate=False)
    # Truncation on (the default) accepts the same input.
    assert encoder.encode(["short", long_text], "retrieval.query", max_length=32).shape == (2, encoder.hidden_size)
    assert len(encoder.tokenize([long_text], max_length=32)[0]) == 32


def test_missing_package(tmp_path):
    missing = tmp_path / "no-such-package"
    with expect(jina3.ModelNotFoundError, "model_not_found", str(missing)):
        jina3.Encoder(missing)
    with pytest.raises(FileNotFoundError):
        jina3.Encoder(str(missing))


def copy_package(source, destination, link=()):
    """Copies a package, symlinking the files named in link (they stay untouched)."""
    destination.mkdir()
    for entry in source.iterdir():
        if entry.name in link:
            os.symlink(entry, destination / entry.name)
        else:
            shutil.copy(entry, destination / entry.name)
    return destination


def test_package_missing_a_file(tmp_path):
    package = copy_package(package_dir("float32"), tmp_path / "package", link=("backbone.pt",))
    (package / "tokenizer.model").unlink()
    with expect(jina3.ModelNotFoundError, "model_not_found", "tokenizer.model"):
        jina3.Encoder(package)


def test_corrupt_file_fails_its_checksum(tmp_path):
    package = copy_package(package_dir("float32"), tmp_path / "package", link=("backbone.pt",))
    data = bytearray((package / "tokenizer.model").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (package / "tokenizer.model").write_bytes(bytes(data))
    with expect(jina3.ModelInvalidError, "model_invalid", "tokenizer.model"):
        jina3.Encoder(package)


def test_corrupt_manifest(tmp_path):
    package = copy_package(package_dir("float32"), tmp_path / "package", link=("backbone.pt", "tokenizer.model"))
    (package / "manifest.json").write_text('{"format": "jina3.package", "format_version": 1,')
    with expect(jina3.ModelInvalidError, "model_invalid", "manifest.json"):
        jina3.Encoder(package)


def test_manifest_missing_a_key(tmp_path):
    package = copy_package(package_dir("float32"), tmp_path / "package", link=("backbone.pt", "tokenizer.model"))
    manifest = json.loads((package / "manifest.json").read_text())
    del manifest["hidden_size"]
    (package / "manifest.json").write_text(json.dumps(manifest))
    with expect(jina3.ModelInvalidError, "model_invalid", "hidden_size"):
        jina3.Encoder(package)


def test_future_format_version(tmp_path):
    package = copy_package(package_dir("float32"), tmp_path / "package", link=("backbone.pt", "tokenizer.model"))
    manifest = json.loads((package / "manifest.json").read_text())
    manifest["format_version"] = 999
    (package / "manifest.json").write_text(json.dumps(manifest))
    with expect(jina3.VersionMismatchError, "version_mismatch", "999"):
        jina3.Encoder(package)


def test_bad_load_options():
    path = package_dir("float32")
    with expect(jina3.InvalidArgumentError, "invalid_argument", "tpu"):
        jina3.Encoder(path, "tpu")
    with expect(jina3.InvalidArgumentError, "invalid_argument", "float64"):
        jina3.Encoder(path, dtype="float64")
    with expect(jina3.InvalidArgumentError, "invalid_argument", "num_threads -1"):
        jina3.Encoder(path, num_threads=-1)
    with expect(jina3.InvalidArgumentError, "invalid_argument", "max_batch_size -2"):
        jina3.Encoder(path, max_batch_size=-2)
    with pytest.raises(TypeError):
        jina3.Encoder(42)


def test_cuda_is_a_device_error_or_works(reference):
    # Without a usable GPU this must be a DeviceError; with one, the encoder must run on it and
    # match the float32 reference (float32 on the GPU: only summation order differs).
    try:
        encoder = jina3.Encoder(package_dir("float32"), "cuda")
    except jina3.DeviceError as error:
        assert error.code == "device" and "cuda" in str(error).lower()
    else:
        assert encoder.device == "cuda"
        assert encoder.dtype == "float32"
        for task in ("retrieval.query", None):
            expected = reference_embeddings(reference, task)
            actual = encoder.encode(reference["texts"], task)
            assert max_abs_diff(actual, expected) <= 1e-4, f"task {task!r}"
