"""jina3 chunk: late chunking of every text, one JSONL object per text, equal to
jina3.Encoder.late_chunk on the same texts (spans in characters as the Python module gives them,
token spans, vectors within float32 rounding), with sentences, chunk tokens or spans from JSONL."""

import base64
import json

import numpy as np
import pytest

from cli_support import TOLERANCE, check_ok, encoder, leftovers, max_diff, multilingual_lines, package, read_jsonl, run

DIMS = 16


@pytest.fixture(scope="module")
def documents():
    # Documents of several sentences each, in many scripts (multi-byte characters make character
    # and byte offsets differ), and one empty line.
    lines = [line for line in multilingual_lines() if line.strip()]
    docs = [" ".join(lines[i:i + 6]) + "." for i in range(0, 240, 6)]
    return docs[:20] + ["Ein Satz. Zwei Sätze! Drei? 東京は大きい。 Done."] + docs[20:]


def check_against_library(rows, expected, ids=None):
    assert [row["index"] for row in rows] == list(range(len(expected)))
    for i, (row, want) in enumerate(zip(rows, expected)):
        assert row["spans"] == want.spans.tolist(), i
        assert row["token_spans"] == want.token_spans.tolist(), i
        got = np.array(row["embeddings"], dtype=np.float32)
        assert got.shape == want.embeddings.shape and max_diff(got, want.embeddings) <= TOLERANCE
        if ids is not None:
            assert row.get("id") == ids[i]


@pytest.mark.parametrize("mode", [["--sentences", 2], ["--chunk-tokens", 7], []])
def test_chunk_equals_late_chunk(tmp_path, documents, mode):
    (tmp_path / "docs.txt").write_text("".join(d + "\n" for d in documents), encoding="utf-8")
    result = run("chunk", package(), tmp_path / "docs.txt", "--dims", DIMS, "--block-size", 8, *mode)
    check_ok(result)
    kwargs = {} if not mode else {"sentences" if mode[0] == "--sentences" else "chunk_tokens": mode[1]}
    expected = encoder().late_chunk(documents, "retrieval.passage", DIMS, **kwargs)
    rows = read_jsonl(result.stdout)
    check_against_library(rows, expected)
    if mode:
        assert sum(len(row["spans"]) for row in rows) > len(documents), "expected several chunks per text"
    for row, doc in zip(rows, documents):
        for start, end in row["spans"]:
            assert 0 <= start < end <= len(doc)


def test_spans_from_jsonl(tmp_path, documents):
    spans = []
    for doc in documents:
        third = max(1, len(doc) // 3)
        spans.append([[0, third], [third, len(doc)]])
    rows = [{"id": f"d{i}", "body": doc, "chunks": s} for i, (doc, s) in enumerate(zip(documents, spans))]
    (tmp_path / "docs.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                                         encoding="utf-8")
    check_ok(run("chunk", package(), tmp_path / "docs.jsonl", "-o", tmp_path / "out.jsonl", "--field", "body",
                 "--spans-field", "chunks", "--task", "retrieval.query", "--no-normalize", "--no-special-tokens"))
    expected = encoder().late_chunk(documents, "retrieval.query", None, spans=spans, normalize=False,
                                    include_special_tokens=False)
    got = read_jsonl((tmp_path / "out.jsonl").read_bytes())
    check_against_library(got, expected, ids=[r["id"] for r in rows])
    assert [row["spans"] for row in got] == spans
    assert leftovers(tmp_path, {"docs.jsonl", "out.jsonl"}) == []


def test_stdin_jsonl_and_base64(documents):
    stdin = "".join(json.dumps({"text": d}) + "\n" for d in documents[:5]).encode()
    result = run("chunk", package(), "-", "--format", "jsonl", "--sentences", 1, "--encoding", "base64", "--window",
                 16, "--overlap", 4, stdin=stdin)
    check_ok(result)
    expected = encoder().late_chunk(documents[:5], sentences=1, window=16, overlap=4)
    for row, want in zip(read_jsonl(result.stdout), expected):
        assert row["spans"] == want.spans.tolist()
        got = np.stack([np.frombuffer(base64.b64decode(v), dtype="<f4") for v in row["embeddings"]])
        assert max_diff(got, want.embeddings) <= TOLERANCE


def test_bad_spans_name_their_line(tmp_path, documents):
    rows = [{"text": d, "spans": [[0, len(d)]]} for d in documents[:10]]
    rows[6]["spans"] = [[0, len(documents[6])], [2, len(documents[6]) + 5]]
    (tmp_path / "docs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    result = run("chunk", package(), tmp_path / "docs.jsonl", "-o", tmp_path / "out.jsonl", "--spans-field", "spans")
    assert result.returncode == 3, result.stderr
    stderr = result.stderr.decode()
    assert stderr.startswith("jina3: ") and "docs.jsonl, line 7: `spans`[1]" in stderr and "outside" in stderr, stderr
    rows[6]["spans"] = [[0, "3"]]
    (tmp_path / "docs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    result = run("chunk", package(), tmp_path / "docs.jsonl", "-o", tmp_path / "out.jsonl", "--spans-field", "spans")
    assert result.returncode == 3 and b"docs.jsonl, line 7: `spans`[0] is [0,\"3\"]" in result.stderr, result.stderr
    assert leftovers(tmp_path, {"docs.jsonl"}) == []


@pytest.mark.parametrize("args, message", [
    (["--sentences", "0"], "--sentences: needs an integer >= 1"),
    (["--sentences", "2", "--chunk-tokens", "3"], "excludes"),
    (["--spans-field", "spans"], "--spans-field needs JSONL input"),
    (["--window", "16", "--overlap", "16"], "overlap 16 must be in [0, window)"),
    (["--window", "999999"], "window 999999 is out of range"),
    (["-o", "out.npy"], "chunk writes JSONL"),
    (["--task", "nope"], "--task"),
    (["--dims", "7"], "dims 7 is not supported"),
])
def test_chunk_usage_errors(tmp_path, args, message):
    (tmp_path / "in.txt").write_text("One. Two.\n", encoding="utf-8")
    result = run("chunk", package(), tmp_path / "in.txt", *args, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert result.stderr.decode().startswith("jina3: ") and message in result.stderr.decode(), result.stderr
    assert result.stdout == b""
