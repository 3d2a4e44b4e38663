"""jina3 embed, every input format to every output format, against jina3.Encoder.encode on the same
texts (max |diff| <= 1e-6), with the multilingual test lines (Unicode of many scripts)."""

import json
import re

import numpy as np
import pytest

from cli_support import (TOLERANCE, check_ok, encoder, leftovers, max_diff, multilingual_lines, package,
                         read_jsonl, run, source_dir, write_jsonl)

TASK = "retrieval.passage"
DIMS = 32
# Several blocks, the last one short: block boundaries and the pipeline of blocks in flight are
# part of what is checked.
BLOCK = ["--block-size", 300]


@pytest.fixture(scope="module")
def texts():
    lines = multilingual_lines()
    assert len(lines) > 1000 and "" in lines, "the test lines should be many and include an empty text"
    return lines


@pytest.fixture(scope="module")
def expected(texts):
    return encoder().encode(texts, task=TASK, dims=DIMS)


def write_txt(path, texts):
    path.write_text("".join(t + "\n" for t in texts), encoding="utf-8")


def check_rows(rows, expected, ids=None):
    assert [row["index"] for row in rows] == list(range(len(expected)))
    if ids is None:
        assert all("id" not in row for row in rows)
    else:
        assert [row.get("id", None) for row in rows] == ids
        assert all(("id" in row) == (i is not None) for row, i in zip(rows, ids))
    got = np.array([row["embedding"] for row in rows], dtype=np.float32)
    assert max_diff(got, expected) <= TOLERANCE


def test_txt_to_npy(tmp_path, texts, expected):
    write_txt(tmp_path / "in.txt", texts)
    check_ok(run("embed", package(), tmp_path / "in.txt", "-o", tmp_path / "out.npy", "--task", TASK,
                 "--dims", DIMS, *BLOCK))
    got = np.load(tmp_path / "out.npy")
    assert got.dtype == np.float32 and got.shape == (len(texts), DIMS)
    assert max_diff(got, expected) <= TOLERANCE
    assert leftovers(tmp_path, {"in.txt", "out.npy"}) == []


def test_txt_to_jsonl(tmp_path, texts, expected):
    write_txt(tmp_path / "in.txt", texts)
    check_ok(run("embed", package(), tmp_path / "in.txt", "-o", tmp_path / "out.jsonl", "--task", TASK,
                 "--dims", DIMS, *BLOCK))
    check_rows(read_jsonl((tmp_path / "out.jsonl").read_bytes()), expected)


def test_jsonl_with_ids_to_jsonl(tmp_path, texts, expected):
    # Ids of several kinds, some lines without one, the text in another field, blank lines between.
    ids = [f"doc-{i}" if i % 3 == 0 else i if i % 3 == 1 else None for i in range(len(texts))]
    rows = [{"body": t, "lang": "x"} | ({} if i is None else {"id": i}) for t, i in zip(texts, ids)]
    with open(tmp_path / "in.jsonl", "w", encoding="utf-8") as f:
        for n, row in enumerate(rows):
            f.write(json.dumps(row, ensure_ascii=n % 2 == 0) + "\n")
            if n % 500 == 0:
                f.write("\n  \n")
    check_ok(run("embed", package(), tmp_path / "in.jsonl", "-o", tmp_path / "out.jsonl", "--task", TASK,
                 "--dims", DIMS, "--field", "body", *BLOCK))
    check_rows(read_jsonl((tmp_path / "out.jsonl").read_bytes()), expected, ids)


def test_jsonl_without_ids_to_npy(tmp_path, texts, expected):
    write_jsonl(tmp_path / "in.jsonl", [{"text": t} for t in texts])
    check_ok(run("embed", package(), tmp_path / "in.jsonl", "-o", tmp_path / "out.npy", "--task", TASK,
                 "--dims", DIMS, *BLOCK))
    assert max_diff(np.load(tmp_path / "out.npy"), expected) <= TOLERANCE


def test_jsonl_ids_to_npy_are_dropped(tmp_path, texts, expected):
    write_jsonl(tmp_path / "in.jsonl", [{"id": i, "text": t} for i, t in enumerate(texts)])
    check_ok(run("embed", package(), tmp_path / "in.jsonl", "-o", tmp_path / "out.npy", "--task", TASK,
                 "--dims", DIMS))
    assert max_diff(np.load(tmp_path / "out.npy"), expected) <= TOLERANCE


def test_stdin_to_stdout(tmp_path, texts, expected):
    stdin = "".join(t + "\n" for t in texts).encode("utf-8")
    result = run("embed", package(), "-", "-o", "-", "--task", TASK, "--dims", DIMS, *BLOCK, stdin=stdin, cwd=tmp_path)
    check_ok(result)
    assert result.stderr == b""
    check_rows(read_jsonl(result.stdout), expected)
    assert leftovers(tmp_path, set()) == []


def test_stdin_to_npy(tmp_path, texts, expected):
    stdin = "".join(t + "\n" for t in texts).encode("utf-8")
    check_ok(run("embed", package(), "-", "-o", tmp_path / "out.npy", "--task", TASK, "--dims", DIMS, stdin=stdin))
    assert max_diff(np.load(tmp_path / "out.npy"), expected) <= TOLERANCE


def test_defaults_full_size_no_task(tmp_path, texts):
    write_txt(tmp_path / "in.txt", texts[:200])
    check_ok(run("embed", package(), tmp_path / "in.txt", "-o", tmp_path / "out.npy"))
    got = np.load(tmp_path / "out.npy")
    assert got.shape == (200, encoder().hidden_size)
    assert max_diff(got, encoder().encode(texts[:200])) <= TOLERANCE


def test_max_length_and_batch_size(tmp_path, texts):
    write_txt(tmp_path / "in.txt", texts[:300])
    check_ok(run("embed", package(), tmp_path / "in.txt", "-o", tmp_path / "out.npy", "--task", "separation",
                 "--dims", 16, "--max-length", 8, "--batch-size", 7, "--threads", 1))
    expected = encoder().encode(texts[:300], task="separation", dims=16, max_length=8)
    assert max_diff(np.load(tmp_path / "out.npy"), expected) <= TOLERANCE
    # The limit made a difference: without it the embeddings differ.
    assert max_diff(expected, encoder().encode(texts[:300], task="separation", dims=16)) > 1e-3


def test_options_table_flags(tmp_path, texts):
    # Flags the tool gets from the options tables (include/jina3/options.hpp) reach the library.
    write_txt(tmp_path / "in.txt", texts[:100])
    check_ok(run("embed", package(), tmp_path / "in.txt", "-o", tmp_path / "out.npy", "--dims", 16,
                 "--no-normalize", "--cache-bytes", 1 << 20, "--max-batch-tokens", 256, "--dtype", "auto",
                 "--device", "cpu", "--no-verify"))
    expected = encoder().encode(texts[:100], dims=16, normalize=False)
    got = np.load(tmp_path / "out.npy")
    assert max_diff(got, expected) <= TOLERANCE
    assert np.abs(np.linalg.norm(got, axis=1) - 1).max() > 1e-3, "--no-normalize left the rows normalised"


def test_help_lists_the_options_tables_flags():
    # Every flag of the tables' cli_flag column: embed takes them all.
    header = (source_dir() / "include" / "jina3" / "options.hpp").read_text(encoding="utf-8")
    flags = sorted(set(re.findall(r'"(--[a-z-]+)"', header)))
    assert {"--device", "--threads", "--no-verify", "--max-length", "--batch-size", "--no-truncate"} <= set(flags)
    result = run("embed", "--help")
    check_ok(result)
    out = result.stdout.decode()
    for flag in flags:
        assert re.search(rf"^\s+{flag}\b", out, re.M), f"embed --help lacks {flag}:\n{out}"


def test_crlf_and_byte_order_mark(tmp_path, texts):
    sample = texts[:50]
    (tmp_path / "in.txt").write_bytes(b"\xef\xbb\xbf" + "".join(t + "\r\n" for t in sample).encode("utf-8"))
    check_ok(run("embed", package(), tmp_path / "in.txt", "-o", tmp_path / "out.npy", "--dims", DIMS))
    assert max_diff(np.load(tmp_path / "out.npy"), encoder().encode(sample, dims=DIMS)) <= TOLERANCE


def test_last_line_without_newline(tmp_path, texts):
    (tmp_path / "in.txt").write_text("\n".join(texts[:20]), encoding="utf-8")
    check_ok(run("embed", package(), tmp_path / "in.txt", "-o", tmp_path / "out.npy", "--dims", DIMS))
    assert max_diff(np.load(tmp_path / "out.npy"), encoder().encode(texts[:20], dims=DIMS)) <= TOLERANCE


def test_empty_input_gives_empty_outputs(tmp_path):
    (tmp_path / "in.txt").write_bytes(b"")
    check_ok(run("embed", package(), tmp_path / "in.txt", "-o", tmp_path / "out.npy", "--dims", DIMS))
    got = np.load(tmp_path / "out.npy")
    assert got.shape == (0, DIMS) and got.dtype == np.float32
    check_ok(run("embed", package(), tmp_path / "in.txt", "-o", tmp_path / "out.jsonl"))
    assert (tmp_path / "out.jsonl").read_bytes() == b""


def test_existing_output_is_replaced(tmp_path, texts):
    write_txt(tmp_path / "in.txt", texts[:10])
    (tmp_path / "out.npy").write_bytes(b"old contents")
    check_ok(run("embed", package(), tmp_path / "in.txt", "-o", tmp_path / "out.npy", "--dims", DIMS))
    assert np.load(tmp_path / "out.npy").shape == (10, DIMS)
    assert leftovers(tmp_path, {"in.txt", "out.npy"}) == []
