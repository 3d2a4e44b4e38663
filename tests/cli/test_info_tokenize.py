"""jina3 info (the package as JSON, against the Python module's getters and the manifest; from the
manifest alone, fast on a full-size package) and jina3 tokenize (ids equal to jina3.Encoder.tokenize,
texts from the arguments or from standard input, --offsets against encode_tokens)."""

import json
import os
import pathlib
import time

import pytest

from cli_support import check_ok, encoder, multilingual_lines, package, run, source_dir


def test_info():
    result = run("info", package())
    check_ok(result)
    info = json.loads(result.stdout)
    manifest = json.loads((package() / "manifest.json").read_text(encoding="utf-8"))
    e = encoder()
    assert info["format_version"] == manifest["format_version"] and isinstance(info["format_version"], int)
    assert info["model_name"] == manifest["model_name"]
    assert info["tasks"] == list(e.tasks) == manifest["tasks"]
    assert info["dims"] == list(e.dims) == manifest["matryoshka_dims"]
    assert info["hidden_size"] == e.hidden_size
    assert info["max_length"] == e.max_length == manifest["max_length"]
    assert info["dtype"] == e.dtype == "float32"
    assert info["prompts"] == {task: e.prompt(task) for task in e.tasks} == manifest["prompts"]
    assert info["package"] == str(package())


@pytest.mark.parametrize("task", [None, "retrieval.query", "text-matching"])
def test_tokenize_matches_the_module(task):
    texts = multilingual_lines()[::40] + ["", "  spaces  ", "emoji 🧪🚀"]
    args = ["tokenize", package(), *texts] + ([] if task is None else ["--task", task])
    result = run(*args)
    check_ok(result)
    got = [json.loads(line) for line in result.stdout.decode().splitlines()]
    expected = encoder().tokenize(texts, task=task)
    assert got == [list(ids) for ids in expected]
    assert len(got) == len(texts) and all(ids[0] == 0 and ids[-1] == 2 for ids in got)


def test_tokenize_max_length():
    text = " ".join(multilingual_lines()[:5])
    result = run("tokenize", package(), "--max-length", 6, text)
    check_ok(result)
    ids = json.loads(result.stdout)
    assert ids == list(encoder().tokenize([text], max_length=6)[0]) and len(ids) == 6


def test_tokenize_rejects_invalid_utf8():
    result = run("tokenize", package(), "fine", b"bad \xff byte".decode("utf-8", errors="surrogateescape"))
    assert result.returncode == 3 and b"TEXT 2: invalid UTF-8" in result.stderr, result.stderr


def test_info_reads_the_manifest_only(tmp_path):
    # A package whose backbone.pt is a sparse file of the full model's size: the manifest and the
    # files' sizes are right, the model could not load (the bytes are zeros). info prints it at
    # once; embed, which loads the model, fails.
    import shutil
    fake = tmp_path / "package"
    shutil.copytree(package(), fake)
    manifest = json.loads((fake / "manifest.json").read_text(encoding="utf-8"))
    size = 2_271_000_000  # bytes of the full float32 model
    with open(fake / "backbone.pt", "r+b") as f:
        f.truncate(size)
    manifest["files"]["backbone.pt"]["size"] = size
    (fake / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    start = time.monotonic()
    result = run("info", fake)
    elapsed = time.monotonic() - start
    check_ok(result)
    info = json.loads(result.stdout)
    assert info["files"]["backbone.pt"]["size"] == size and info["tasks"] == manifest["tasks"]
    assert elapsed < 2.0, f"info took {elapsed:.2f} s"
    result = run("embed", fake, "-", "--no-verify", stdin=b"text\n")
    assert result.returncode != 0, "the sparse package should not load"


def full_package():
    """A full-size package, for the timing figure: $JINA3_FULL_PACKAGE, or one the benchmarks made."""
    candidates = [os.environ.get("JINA3_FULL_PACKAGE", "")]
    for build in sorted(source_dir().glob("build*")):
        candidates += [str(p) for p in sorted((build / "bench-data").glob("package-full-*"))]
    for candidate in candidates:
        if candidate and (pathlib.Path(candidate) / "manifest.json").is_file():
            return pathlib.Path(candidate)
    return None


def test_info_time_on_the_full_package():
    path = full_package()
    if path is None:
        pytest.skip("no full-size package: set JINA3_FULL_PACKAGE (or run benchmarks/run.py once)")
    times = []
    for _ in range(3):
        start = time.monotonic()
        result = run("info", path)
        times.append(time.monotonic() - start)
        check_ok(result)
    info = json.loads(result.stdout)
    assert info["hidden_size"] == 1024 and info["dims"][-1] == 1024 and info["num_layers"] == 24
    # Under 0.5 s on an idle machine (README); a generous bound on a loaded one.
    assert min(times) < 2.0, f"info took {times} s on {path}"
    print(f"jina3 info {path}: best of 3 {min(times):.3f} s")


def test_tokenize_stdin():
    texts = multilingual_lines()[::25] + ["", "last line"]
    stdin = "".join(t + "\n" for t in texts).encode()
    result = run("tokenize", package(), "-", "--task", "retrieval.query", stdin=stdin)
    check_ok(result)
    got = [json.loads(line) for line in result.stdout.decode().splitlines()]
    assert got == [list(ids) for ids in encoder().tokenize(texts, task="retrieval.query")]
    # A lone "-" among other TEXTs is the text "-".
    result = run("tokenize", package(), "a", "-")
    check_ok(result)
    assert [json.loads(line) for line in result.stdout.decode().splitlines()] == \
        [list(ids) for ids in encoder().tokenize(["a", "-"])]


def test_tokenize_stdin_errors_name_the_line():
    lines = ["short", "fine", " ".join(["long text"] * 30)]
    result = run("tokenize", package(), "-", "--max-length", 16, "--no-truncate",
                 stdin="".join(t + "\n" for t in lines).encode())
    assert result.returncode == 3 and b"jina3: <stdin>, line 3: the text is" in result.stderr, result.stderr
    result = run("tokenize", package(), "-", stdin=b"ok\nbad \xff\n")
    assert result.returncode == 3 and b"<stdin>, line 2: invalid UTF-8" in result.stderr, result.stderr


@pytest.mark.parametrize("task", [None, "retrieval.passage"])
def test_tokenize_offsets(task):
    texts = ["Hello world, this is jina3.", "Grüße aus 東京 🧪!", "  spaced   out  ", ""]
    args = ["tokenize", package(), "--offsets", *texts] + ([] if task is None else ["--task", task])
    result = run(*args)
    check_ok(result)
    rows = [json.loads(line) for line in result.stdout.decode().splitlines()]
    tokens = encoder().encode_tokens(texts, task=task)
    assert len(rows) == len(texts)
    for text, row, want in zip(texts, rows, tokens):
        assert row["ids"] == want.ids.tolist()
        assert len(row["tokens"]) == len(row["ids"]) == len(row["offsets"])
        assert row["tokens"][0] == "<s>" and row["tokens"][-1] == "</s>" and row["truncated"] is False
        for offset, (start, end) in zip(row["offsets"], want.offsets.tolist()):
            assert offset == (None if start < 0 else [start, end])
        for piece, offset in zip(row["tokens"], row["offsets"]):
            if offset is not None and piece.strip("\u2581") and not piece.startswith("<"):
                # A piece's text is what its offsets cover (sentencepiece's ▁ marks a space before it).
                assert text[offset[0]:offset[1]] == piece.replace("\u2581", ""), (text, piece, offset)
    prompt_tokens = sum(1 for offset in rows[0]["offsets"] if offset is None) - 2
    assert (prompt_tokens > 0) == (task is not None)
