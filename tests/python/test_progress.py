"""encode over iterables (read block by block, lazily) and with a tqdm progress bar."""

import subprocess
import sys

import numpy as np
import pytest

import jina3

pytest.register_assert_rewrite("encoder_support")  # before the import, so its asserts explain failures
from encoder_support import BATCH_TOLERANCE, TASK_NAMES, max_abs_diff, package_dir  # noqa: E402

pytest_plugins = ("encoder_support",)  # fixtures: encoder, reference, long_text

SAME = BATCH_TOLERANCE  # two jina3 calls on the same texts: only the composition of passes differs
DEFAULT_BLOCK = 1024  # texts per block when batch_size is not given (python/src/encoder.cpp)


def fresh_encoder():
    """An encoder of its own, so that its stats count one test's calls."""
    return jina3.Encoder(package_dir("float32"), verify_checksums=False)


def test_progress_bar_goes_to_stderr_and_changes_nothing(encoder, reference, capfd):
    texts = reference["texts"]
    plain = encoder.encode(texts, "retrieval.query")
    assert capfd.readouterr().err == "", "a bar without show_progress_bar"
    with_bar = encoder.encode(texts, "retrieval.query", show_progress_bar=True)
    captured = capfd.readouterr()
    assert max_abs_diff(with_bar, plain) <= SAME
    assert captured.out == ""
    assert f"{len(texts)}/{len(texts)}" in captured.err, captured.err  # tqdm's "n/total", known length
    assert "100%" in captured.err and "text/s" in captured.err, captured.err
    # A generator has no length: the bar counts without a total.
    counted = encoder.encode((t for t in texts), "retrieval.query", show_progress_bar=True, batch_size=2)
    captured = capfd.readouterr()
    assert max_abs_diff(counted, plain) <= SAME
    assert f"{len(texts)}text" in captured.err and "/" + str(len(texts)) not in captured.err, captured.err


def test_generator_equals_list(encoder, reference, long_text):
    texts = [text for text in reference["texts"] if text != long_text]  # quick, still 12 texts
    mixed = [(TASK_NAMES + [None])[i % 6] for i in range(len(texts))]
    for task in ("separation", mixed):
        for dims in (None, encoder.dims[0]):
            for batch_size in (None, 5):
                expected = encoder.encode(texts, task, dims, batch_size=batch_size)
                actual = encoder.encode((t for t in texts), task, dims, batch_size=batch_size)
                assert actual.shape == expected.shape and actual.dtype == np.float32
                assert actual.flags.c_contiguous and actual.flags.writeable
                assert max_abs_diff(actual, expected) <= SAME, (task, dims, batch_size)


def test_other_iterables(encoder, reference):
    texts = reference["texts"][:5]
    expected = encoder.encode(texts)
    for iterable in (iter(texts), map(str, texts), np.array(texts), dict.fromkeys(texts), reversed(texts[::-1])):
        assert max_abs_diff(encoder.encode(iterable), expected) <= SAME, type(iterable)

    class WrongLength:  # a length hint is only a hint
        def __init__(self, length):
            self.length = length

        def __len__(self):
            return self.length

        def __iter__(self):
            return iter(texts)

    for length in (1, 100):
        assert max_abs_diff(encoder.encode(WrongLength(length)), expected) <= SAME
    empty = encoder.encode(iter([]), dims=encoder.dims[1])
    assert empty.shape == (0, encoder.dims[1]) and empty.dtype == np.float32


def test_generator_of_3000_texts_is_read_lazily():
    encoder = fresh_encoder()
    texts = [f"short text number {i}" for i in range(3000)]
    rows_when_read = []

    def generate():
        for text in texts:
            rows_when_read.append(encoder.stats()["rows"])  # rows queued before this text was read
            yield text

    result = encoder.encode(generate(), "retrieval.passage")
    assert result.shape == (3000, encoder.hidden_size)
    # Block k (1024 texts) is queued before the first text of block k+1 is read, and no later.
    assert rows_when_read == [i // DEFAULT_BLOCK * DEFAULT_BLOCK for i in range(3000)]
    expected = encoder.encode(texts, "retrieval.passage")
    assert max_abs_diff(result, expected) <= SAME
    assert encoder.stats()["requests"] == 3 + 1

    # batch_size sets the block size.
    rows_when_read.clear()
    texts = texts[:1000]
    start = encoder.stats()["rows"]
    result = encoder.encode(generate(), "retrieval.passage", batch_size=300)
    assert [rows - start for rows in rows_when_read] == [i // 300 * 300 for i in range(1000)]
    assert max_abs_diff(result, expected[:1000]) <= SAME


def test_errors_in_the_middle_of_a_generator(encoder, reference, capfd):
    def texts_then(bad, at=1500):
        for i in range(at):
            yield f"text {i}"
        yield bad

    with pytest.raises(TypeError, match=r"texts\[1500\] is int"):
        encoder.encode(texts_then(7), batch_size=1000)

    def failing():
        yield "one"
        raise KeyError("from the generator")

    with pytest.raises(KeyError, match="from the generator"):
        encoder.encode(failing(), show_progress_bar=True)
    capfd.readouterr()  # the bar was closed; nothing more is checked of it
    with pytest.raises(jina3.InvalidArgumentError):
        encoder.encode(texts_then("\ud800", at=3))  # a lone surrogate
    # One task per text: the list must match the number of texts the generator gave.
    texts = reference["texts"][:4]
    tasks = TASK_NAMES[:4]
    assert max_abs_diff(encoder.encode(iter(texts), tasks, batch_size=3), encoder.encode(texts, tasks)) <= SAME
    with pytest.raises(jina3.InvalidArgumentError, match="4 tasks for 5 texts"):
        encoder.encode(iter(reference["texts"][:5]), tasks, batch_size=2)
    with pytest.raises(jina3.InvalidArgumentError, match="4 tasks for 3 texts"):
        encoder.encode(iter(texts[:3]), tasks)
    # Bad dims are reported before anything is read, even for an empty iterable.
    consumed = []
    with pytest.raises(jina3.InvalidArgumentError):
        encoder.encode((consumed.append(t) or t for t in texts), dims=7)
    assert consumed == []
    with pytest.raises(jina3.InvalidArgumentError):
        encoder.encode(iter([]), dims=7)
    # A single str is one text (sentence-transformers' form), with a bar too.
    assert max_abs_diff(encoder.encode("one text", show_progress_bar=True), encoder.encode(["one text"])[0]) <= SAME
    with pytest.raises(TypeError, match="not int"):
        encoder.encode(5)


LAZY_IMPORT = r"""
import sys
import jina3

encoder = jina3.Encoder(sys.argv[1], verify_checksums=False)
encoder.encode(["a"])
encoder.encode(iter(["a"]))
print("tqdm imported without a bar:", "tqdm" in sys.modules)
sys.modules["tqdm"] = None  # as if python3-tqdm were not installed
try:
    encoder.encode(["a"], show_progress_bar=True)
except ImportError as error:
    print("ImportError:", error)
"""


def test_tqdm_is_imported_only_for_a_bar(tmp_path):
    script = tmp_path / "lazy_import.py"
    script.write_text(LAZY_IMPORT)
    result = subprocess.run([sys.executable, str(script), str(package_dir("float32"))],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "tqdm imported without a bar: False" in result.stdout, result.stdout
    assert "ImportError: show_progress_bar=True needs tqdm" in result.stdout, result.stdout
    assert "python3-tqdm" in result.stdout
