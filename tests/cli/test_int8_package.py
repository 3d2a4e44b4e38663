"""An int8 package through the jina3 tool (issue #19): `jina3 embed` on package-int8 writes rows
within cosine 0.99 of the float32 package's (through the Python module) for several tasks and
dims, equal to the module's own int8 rows, and not float32's; `jina3 info` says dtype int8.
The test data holds package-int8 beside package-float32 (the make_test_data fixture)."""

import functools
import json

import numpy as np
import pytest

import jina3
from cli_support import check_ok, encoder, multilingual_lines, package, read_jsonl, run

MIN_COSINE = 0.99
# The tool and the module run the same int8 encoder on the same texts in one block (equal rows
# here); 1e-4 leaves room for last bits, ten times less than int8's distance from float32 (>= 5e-3).
SAME_ENCODER = 1e-4


def int8_package():
    path = package().parent / "package-int8"
    if not (path / "manifest.json").is_file():
        pytest.fail(f"{path} is not a package: regenerate the test data (ctest -R make_test_data)", pytrace=False)
    return path


@functools.lru_cache(maxsize=None)
def int8_encoder():
    return jina3.Encoder(str(int8_package()))


@pytest.fixture(scope="module")
def texts():
    # A spread of the multilingual lines (Latin, CJK, Arabic, emoji, ...), an empty text, spaces.
    return multilingual_lines()[::20] + ["", "  spaces  "]


@pytest.fixture(scope="module")
def text_file(tmp_path_factory, texts):
    path = tmp_path_factory.mktemp("int8") / "in.txt"
    path.write_text("".join(t + "\n" for t in texts), encoding="utf-8")
    return path


def cosines(a, b):
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    assert a.shape == b.shape, f"shapes differ: {a.shape} vs {b.shape}"
    return (a * b).sum(axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


@pytest.mark.parametrize("task,dims", [("retrieval.query", 0), ("retrieval.passage", 16), ("classification", 32),
                                       (None, 0)])
def test_embed_int8_npy_is_close_to_float32(tmp_path, text_file, texts, task, dims):
    out = tmp_path / "out.npy"
    args = ["embed", int8_package(), text_file, "-o", out, "--dims", dims, "-q"]
    if task is not None:
        args += ["--task", task]
    check_ok(run(*args))
    got = np.load(out)
    width = dims or encoder().hidden_size
    assert got.dtype == np.float32 and got.shape == (len(texts), width)
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-4)

    reference = encoder().encode(texts, task=task, dims=dims or None)
    cos = cosines(got, reference)
    print(f"cli int8 vs float32, task {task}, dims {dims}: min cosine {cos.min():.6f}, "
          f"max |diff| {np.abs(got - reference).max():.3g}")
    assert cos.min() >= MIN_COSINE, f"row {int(cos.argmin())} ({texts[int(cos.argmin())]!r}): cosine {cos.min()}"
    # The rows came from the int8 weights: the module's int8 encoder gives them, float32 does not.
    same = int8_encoder().encode(texts, task=task, dims=dims or None)
    print(f"  vs the module's int8 rows: max |diff| {np.abs(got - same).max():.3g}")
    assert np.abs(got - same).max() <= SAME_ENCODER
    assert np.abs(got - reference).max() > 10 * SAME_ENCODER


def test_embed_int8_jsonl_to_stdout(texts):
    # Standard input to JSONL on standard output: the other end of the tool, same rows.
    task, dims = "text-matching", 16
    result = run("embed", int8_package(), "-", "--task", task, "--dims", dims, "-q",
                 stdin="".join(t + "\n" for t in texts).encode("utf-8"))
    check_ok(result)
    rows = read_jsonl(result.stdout)
    assert [row["index"] for row in rows] == list(range(len(texts)))
    got = np.array([row["embedding"] for row in rows], dtype=np.float32)
    cos = cosines(got, encoder().encode(texts, task=task, dims=dims))
    print(f"cli int8 jsonl vs float32, task {task}, dims {dims}: min cosine {cos.min():.6f}")
    assert cos.min() >= MIN_COSINE


def test_info_says_int8():
    result = run("info", int8_package())
    check_ok(result)
    info = json.loads(result.stdout)
    assert info["dtype"] == "int8"
    assert int8_encoder().dtype == "int8"
    # Everything but the dtype (and the files) is the float32 package's.
    result = run("info", package())
    check_ok(result)
    float32_info = json.loads(result.stdout)
    assert float32_info["dtype"] == "float32"
    for key in ["tasks", "dims", "hidden_size", "max_length", "prompts", "num_layers", "vocab_size"]:
        assert info[key] == float32_info[key], key
