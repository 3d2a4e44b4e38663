"""jina3 embed --precision: every precision, in .npy (the matching dtype) and JSONL (numbers or
base64), byte-equal to jina3.Encoder.encode(..., precision=...) on the same texts; int8/uint8
ranges over the whole input (several blocks), from --ranges, and written by --save-ranges.

Byte equality needs the same float32 rows on both sides, and a row's last bits depend on the
forward pass it shares (padding, matrix shapes): both sides run one text per pass
(max_batch_size 1), so every row is computed alike however the blocks and passes fall."""

import base64
import functools
import json

import numpy as np
import pytest

import jina3
from cli_support import check_ok, leftovers, multilingual_lines, package, read_jsonl, run

TASK = "retrieval.query"
DIMS = 32
PRECISIONS = ["float32", "float16", "int8", "uint8", "binary", "ubinary"]
DTYPES = {"float32": "<f4", "float16": "<f2", "int8": "|i1", "uint8": "|u1", "binary": "|i1", "ubinary": "|u1"}
# Several blocks: int8/uint8 ranges must be the whole input's, as the library computes them for one call.
BLOCK = ["--block-size", 128]
ONE_PER_PASS = ["--max-batch-size", 1]


@functools.lru_cache(maxsize=None)
def exact_encoder():
    return jina3.Encoder(str(package()), max_batch_size=1)


@pytest.fixture(scope="module")
def texts():
    return multilingual_lines()[:700]


@pytest.fixture(scope="module")
def text_file(tmp_path_factory, texts):
    path = tmp_path_factory.mktemp("precision") / "in.txt"
    path.write_text("".join(t + "\n" for t in texts), encoding="utf-8")
    return path


def expected_rows(texts, precision, **kwargs):
    rows = exact_encoder().encode(texts, task=TASK, dims=DIMS, precision=precision, **kwargs)
    assert rows.dtype == np.dtype(DTYPES[precision]) and len(rows) == len(texts)
    return rows


@pytest.mark.parametrize("precision", PRECISIONS)
def test_npy_is_byte_equal(tmp_path, text_file, texts, precision):
    out = tmp_path / "out.npy"
    check_ok(run("embed", package(), text_file, "-o", out, "--task", TASK, "--dims", DIMS, "--precision", precision,
                 *BLOCK, *ONE_PER_PASS))
    got = np.load(out)
    expected = expected_rows(texts, precision)
    assert got.dtype == expected.dtype and got.dtype.str == DTYPES[precision]
    assert got.shape == expected.shape
    assert got.tobytes() == expected.tobytes()
    assert leftovers(tmp_path, {"out.npy"}) == []


@pytest.mark.parametrize("precision", PRECISIONS)
def test_jsonl_numbers_are_equal(tmp_path, text_file, texts, precision):
    result = run("embed", package(), text_file, "--task", TASK, "--dims", DIMS, "--precision", precision, *BLOCK,
                 *ONE_PER_PASS)
    check_ok(result)  # no -o: JSONL on standard output
    rows = read_jsonl(result.stdout)
    expected = expected_rows(texts, precision)
    assert [row["index"] for row in rows] == list(range(len(texts)))
    values = [row["embedding"] for row in rows]
    if precision in ("float32", "float16"):
        assert all(isinstance(v, float) for v in values[0])
    else:
        assert all(isinstance(v, int) for row in values for v in row), "integer precisions are written as integers"
    # Each number reads back as the exact value: float32 and float16 values are printed as the
    # shortest text that parses (rounded to the type) to the same value; integers are exact.
    got = np.array(values, dtype=np.float64).astype(expected.dtype)
    assert got.tobytes() == expected.tobytes()


@pytest.mark.parametrize("precision", PRECISIONS)
def test_jsonl_base64_is_byte_equal(tmp_path, text_file, texts, precision):
    out = tmp_path / "out.jsonl"
    check_ok(run("embed", package(), text_file, "-o", out, "--task", TASK, "--dims", DIMS, "--precision", precision,
                 "--encoding", "base64", *BLOCK, *ONE_PER_PASS))
    rows = read_jsonl(out.read_bytes())
    expected = expected_rows(texts, precision)
    assert len(rows) == len(texts)
    for row, want in zip(rows, expected):
        assert isinstance(row["embedding"], str)
        assert base64.b64decode(row["embedding"], validate=True) == want.tobytes()


def test_ranges_file_and_save_ranges(tmp_path, text_file, texts):
    # A corpus's ranges saved, then used for other texts (the queries): both equal the library's
    # encode with those ranges.
    corpus_out, ranges_file = tmp_path / "corpus.npy", tmp_path / "ranges.npy"
    check_ok(run("embed", package(), text_file, "-o", corpus_out, "--task", TASK, "--dims", DIMS, "--precision",
                 "int8", "--save-ranges", ranges_file, *BLOCK, *ONE_PER_PASS))
    floats = exact_encoder().encode(texts, task=TASK, dims=DIMS)
    saved = np.load(ranges_file)
    assert saved.dtype == np.float32 and saved.shape == (2, DIMS)
    assert np.array_equal(saved, np.stack([floats.min(axis=0), floats.max(axis=0)]))
    queries = texts[::7][:50]
    (tmp_path / "q.txt").write_text("".join(t + "\n" for t in queries), encoding="utf-8")
    for precision in ("int8", "uint8"):
        out = tmp_path / f"q-{precision}.npy"
        check_ok(run("embed", package(), tmp_path / "q.txt", "-o", out, "--task", TASK, "--dims", DIMS,
                     "--precision", precision, "--ranges", ranges_file, *ONE_PER_PASS))
        expected = expected_rows(queries, precision, ranges=saved)
        assert np.load(out).tobytes() == expected.tobytes()
        # ... and differ from the queries' own ranges, so the file was used.
        assert expected.tobytes() != expected_rows(queries, precision).tobytes()


@pytest.mark.parametrize("args, message", [
    (["--precision", "int4"], "--precision"),
    (["--encoding", "hex"], "--encoding"),
    (["--encoding", "base64", "-o", "out.npy"], "--encoding base64 is for JSONL output"),
    (["--ranges", "r.npy"], "--ranges and --save-ranges are for --precision int8 or uint8"),
    (["--precision", "int8", "--save-ranges", "r.txt"], "--save-ranges r.txt: use a .npy file"),
])
def test_precision_usage_errors(tmp_path, text_file, args, message):
    result = run("embed", package(), text_file, *args, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    stderr = result.stderr.decode()
    assert stderr.startswith("jina3: ") and message in stderr, stderr


def test_packed_precision_needs_dims_multiple_of_8(tmp_path, text_file):
    # The library's check (Encoder::check), before any text is embedded; dims 8 works.
    check_ok(run("embed", package(), text_file, "-o", tmp_path / "ok.npy", "--dims", 8, "--precision", "ubinary"))
    assert np.load(tmp_path / "ok.npy").shape[1] == 1


def test_bad_ranges_files(tmp_path, text_file):
    (tmp_path / "text.npy").write_bytes(b"not numpy")
    np.save(tmp_path / "shape.npy", np.zeros((3, DIMS), dtype=np.float32))
    np.save(tmp_path / "dims.npy", np.stack([np.zeros(16), np.ones(16)]).astype(np.float32))
    np.save(tmp_path / "flat.npy", np.stack([np.zeros(DIMS), np.zeros(DIMS)]).astype(np.float32))
    cases = [("missing.npy", 3, "cannot open --ranges"), ("text.npy", 3, "not a .npy file"),
             ("shape.npy", 3, "shape is (3, 32)"), ("dims.npy", 2, "ranges"), ("flat.npy", 2, "ranges")]
    for name, code, message in cases:
        result = run("embed", package(), text_file, "-o", tmp_path / "out.npy", "--dims", DIMS, "--precision", "int8",
                     "--ranges", tmp_path / name)
        assert result.returncode == code, (name, result.stderr)
        assert message in result.stderr.decode(), (name, result.stderr)
        assert not (tmp_path / "out.npy").exists()


def test_one_text_has_no_ranges_of_its_own(tmp_path):
    # One row: every dimension has a single value, so int8 needs given ranges (the library says
    # the same for a one-row call).
    (tmp_path / "one.txt").write_text("just one text\n", encoding="utf-8")
    with pytest.raises(ValueError):
        exact_encoder().encode(["just one text"], dims=DIMS, precision="int8")
    result = run("embed", package(), tmp_path / "one.txt", "-o", tmp_path / "out.npy", "--dims", DIMS,
                 "--precision", "int8")
    assert result.returncode == 2 and b"pass --ranges" in result.stderr, result.stderr
    assert leftovers(tmp_path, {"one.txt"}) == []


def test_int8_jsonl_keeps_ids_across_the_spill(tmp_path, texts):
    # int8 without ranges writes at the end, from the temporary file: ids still follow their rows.
    rows = [{"id": f"doc-{i}" if i % 2 else i, "text": t} for i, t in enumerate(texts[:300])]
    (tmp_path / "in.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    check_ok(run("embed", package(), tmp_path / "in.jsonl", "-o", tmp_path / "out.jsonl", "--task", TASK, "--dims",
                 DIMS, "--precision", "uint8", "--block-size", 64, *ONE_PER_PASS))
    got = read_jsonl((tmp_path / "out.jsonl").read_bytes())
    assert [row["id"] for row in got] == [r["id"] for r in rows]
    expected = expected_rows(texts[:300], "uint8")
    assert np.array([row["embedding"] for row in got], dtype=np.uint8).tobytes() == expected.tobytes()
