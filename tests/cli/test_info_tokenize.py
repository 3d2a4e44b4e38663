"""jina3 info (the package as JSON, against the Python module's getters and the manifest) and jina3
tokenize (ids equal to jina3.Encoder.tokenize)."""

import json

import pytest

from cli_support import check_ok, encoder, multilingual_lines, package, run


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
