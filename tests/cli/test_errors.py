"""jina3's errors: each names the file and line where there is one, exits with its documented code
(2 usage, 3 input/output, 4 model) and leaves no output file, partial or temporary, behind."""

import json
import signal
import subprocess
import time

import pytest

from cli_support import cli, leftovers, package, run

USAGE, IO, MODEL = 2, 3, 4


def stderr_of(result) -> str:
    return result.stderr.decode("utf-8", errors="replace")


def good_jsonl_lines(n):
    return [json.dumps({"id": i, "text": f"text number {i}"}) for i in range(n)]


def write_lines(path, lines, end=b"\n"):
    path.write_bytes(b"".join((line.encode("utf-8") if isinstance(line, str) else line) + end for line in lines))


@pytest.mark.parametrize("output", ["out.npy", "out.jsonl"])
def test_bad_json_line_names_its_number_and_leaves_nothing(tmp_path, output):
    lines = good_jsonl_lines(3000)
    lines[1233] = '{"id": 1233, "text": "unterminated}'
    write_lines(tmp_path / "in.jsonl", lines)
    result = run("embed", package(), tmp_path / "in.jsonl", "-o", tmp_path / output, "--block-size", 256)
    assert result.returncode == IO, stderr_of(result)
    assert "in.jsonl, line 1234: bad JSON" in stderr_of(result)
    assert leftovers(tmp_path, {"in.jsonl"}) == [], "an output or temporary file was left behind"


def test_an_existing_output_survives_a_failed_run(tmp_path):
    lines = good_jsonl_lines(100)
    lines[50] = "not json"
    write_lines(tmp_path / "in.jsonl", lines)
    (tmp_path / "out.npy").write_bytes(b"previous result")
    result = run("embed", package(), tmp_path / "in.jsonl", "-o", tmp_path / "out.npy")
    assert result.returncode == IO and "line 51: bad JSON" in stderr_of(result)
    assert (tmp_path / "out.npy").read_bytes() == b"previous result"
    assert leftovers(tmp_path, {"in.jsonl", "out.npy"}) == []


@pytest.mark.parametrize("line, message", [
    ('{"txt": "typo"}', "line 7: missing field `text`"),
    ('{"text": 42}', "line 7: field `text` is a number, not a string"),
    ('["text"]', "line 7: expected a JSON object, got an array"),
    ('{"text": "ok", "id": 0.1}', "line 7: `id` 0.1 is a non-integer number"),
    ('{"text": "lone surrogate \\ud800"}', "line 7: bad JSON"),
    # A number too large for a double (found by fuzz_cli_jsonl: it used to exit 1 without a line).
    ('{"text": "ok", "n": 1e5000}', "line 7: bad JSON: number overflow"),
])
def test_bad_jsonl_lines(tmp_path, line, message):
    lines = good_jsonl_lines(10)
    lines[6] = line
    write_lines(tmp_path / "in.jsonl", lines)
    result = run("embed", package(), tmp_path / "in.jsonl", "-o", tmp_path / "out.jsonl")
    assert result.returncode == IO, stderr_of(result)
    assert message in stderr_of(result)
    assert leftovers(tmp_path, {"in.jsonl"}) == []


@pytest.mark.parametrize("suffix", ["txt", "jsonl"])
def test_invalid_utf8_names_the_line(tmp_path, suffix):
    good = [b"fine", "Grüße".encode("utf-8"), b"also fine"] * 5
    bad = b"broken \xc3\x28 sequence"
    lines = good[:11] + [bad if suffix == "txt" else b'{"text": "' + bad + b'"}'] + good[11:]
    if suffix == "jsonl":
        lines = [line if line.startswith(b"{") else b'{"text": "' + line + b'"}' for line in lines]
    write_lines(tmp_path / f"in.{suffix}", lines)
    result = run("embed", package(), tmp_path / f"in.{suffix}", "-o", tmp_path / "out.npy")
    assert result.returncode == IO, stderr_of(result)
    expected = "line 12: invalid UTF-8" if suffix == "txt" else "line 12: bad JSON"
    assert expected in stderr_of(result), stderr_of(result)
    if suffix == "jsonl":
        assert "UTF-8" in stderr_of(result)
    assert leftovers(tmp_path, {f"in.{suffix}"}) == []


def test_missing_package(tmp_path):
    write_lines(tmp_path / "in.txt", ["a", "b"])
    missing = tmp_path / "no-such-package"
    for args in (["embed", missing, tmp_path / "in.txt", "-o", tmp_path / "out.npy"], ["info", missing],
                 ["tokenize", missing, "hello"]):
        result = run(*args)
        assert result.returncode == MODEL, f"{args[0]}: {stderr_of(result)}"
        assert "model_not_found" in stderr_of(result) and str(missing) in stderr_of(result)
        assert result.stdout == b""
    assert leftovers(tmp_path, {"in.txt"}) == []


def test_invalid_package(tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "manifest.json").write_text("{ not a manifest", encoding="utf-8")
    result = run("info", broken)
    assert result.returncode == MODEL and "model_invalid" in stderr_of(result), stderr_of(result)


def test_input_and_output_files(tmp_path):
    write_lines(tmp_path / "in.txt", ["a"])
    result = run("embed", package(), tmp_path / "missing.txt", "-o", tmp_path / "out.npy")
    assert result.returncode == IO and "missing.txt" in stderr_of(result)
    result = run("embed", package(), tmp_path, "-o", tmp_path / "out.npy")
    assert result.returncode == USAGE  # a directory has no .txt or .jsonl suffix
    (tmp_path / "dir.txt").mkdir()
    result = run("embed", package(), tmp_path / "dir.txt", "-o", tmp_path / "out.npy")
    assert result.returncode == IO and "is a directory" in stderr_of(result)
    result = run("embed", package(), tmp_path / "in.txt", "-o", tmp_path / "no-such-dir" / "out.npy")
    assert result.returncode == IO and "no-such-dir" in stderr_of(result)
    assert leftovers(tmp_path, {"in.txt", "dir.txt"}) == []


@pytest.mark.parametrize("args, message", [
    ([], "A subcommand is required"),
    (["embed", "PKG"], "INPUT is required"),
    (["embed", "PKG", "in.csv", "-o", "out.npy"], "cannot tell the format of input 'in.csv'"),
    (["embed", "PKG", "in.txt", "-o", "out.parquet"], "cannot tell the format of output 'out.parquet'"),
    (["embed", "PKG", "in.txt", "-o", "out.npy", "--precision", "int4"], '--precision: unknown precision "int4"; use float32'),
    (["embed", "PKG", "in.txt", "-o", "out.npy", "--task", "retrieval"], "--task"),
    (["embed", "PKG", "in.txt", "-o", "out.npy", "--dims", "-3"], "--dims: needs an integer >= 0, got '-3'"),
    (["embed", "PKG", "in.txt", "-o", "out.npy", "--batch-size", "0x10"], "needs an integer >= 0, got '0x10'"),
    (["embed", "PKG", "in.txt", "-o", "out.npy", "--block-size", "0"], "needs an integer >= 1"),
    # The library's own checks (Encoder::check), its messages passed on.
    (["embed", "PKG", "in.txt", "-o", "out.npy", "--dims", "33"], "dims 33 is not supported by this model; use 0 "
     "(full size) or one of 8, 16, 32, 64"),
    (["embed", "PKG", "in.txt", "-o", "out.npy", "--max-length", "99999"], "max_length 99999 is out of range"),
    (["tokenize", "PKG", "--max-length", "1", "a"], "max_length 1 is out of range"),
    # Flags of the options tables (include/jina3/options.hpp), checked as they are parsed.
    (["embed", "PKG", "in.txt", "-o", "out.npy", "--device", "tpu"], "--device"),
    (["embed", "PKG", "in.txt", "-o", "out.npy", "--dtype", "float64"], "--dtype"),
    (["embed", "PKG", "in.txt", "-o", "out.npy", "--cache-bytes", "-1"], "needs an integer >= 0, got '-1'"),
    (["embed", "PKG", "in.txt", "-o", "out.npy", "--threads", "010x"], "needs an integer >= 0, got '010x'"),
    (["info", "PKG", "--threads", "1"], "--threads"),  # info and tokenize take only what they use
    (["tokenize", "PKG", "a", "--device", "cpu"], "--device"),
    (["late-chunk", "PKG", "in.txt", "-o", "out.npy"], "no command 'late-chunk'"),
    (["tokenize", "PKG"], "TEXT is required"),
])
def test_usage_errors(tmp_path, args, message):
    write_lines(tmp_path / "in.txt", ["a"])
    args = [str(package()) if a == "PKG" else a for a in args]
    result = run(*args, cwd=tmp_path)
    assert result.returncode == USAGE, f"{args}: {result.returncode} {stderr_of(result)}"
    assert message in stderr_of(result), stderr_of(result)
    assert leftovers(tmp_path, {"in.txt"}) == []


def test_help_documents_the_exit_codes():
    result = run("--help")
    assert result.returncode == 0
    out = result.stdout.decode()
    for code, what in ((0, "success"), (1, "any other"), (2, "usage"), (3, "input or output"), (4, "model")):
        assert f"  {code}  {what}" in out, out
    assert "embed" in out and "info" in out and "tokenize" in out and "late-chunk" not in out


def test_over_long_texts_without_truncation_name_their_lines(tmp_path):
    lines = [f"short {i}" for i in range(40)]
    lines[25] = " ".join(["many words"] * 20)
    write_lines(tmp_path / "in.txt", lines)
    result = run("embed", package(), tmp_path / "in.txt", "-o", tmp_path / "out.npy", "--block-size", 10,
                 "--max-length", 16, "--no-truncate")
    assert result.returncode == IO, stderr_of(result)
    assert "in.txt, line 26: the text is" in stderr_of(result) and "tokens long" in stderr_of(result)
    assert leftovers(tmp_path, {"in.txt"}) == []
    result = run("tokenize", package(), "--max-length", 16, "--no-truncate", "short", lines[25])
    assert result.returncode == IO and "TEXT 2: the text is" in stderr_of(result), stderr_of(result)
    assert result.stdout == b""


def test_sigterm_removes_the_temporary_file(tmp_path):
    # Long enough to be caught mid-run: the temporary output is there, then SIGTERM.
    write_lines(tmp_path / "in.txt", [f"line {i} of a long input" for i in range(200_000)])
    process = subprocess.Popen([cli(), "embed", str(package()), str(tmp_path / "in.txt"), "-o",
                                str(tmp_path / "out.npy"), "--dims", "8"], stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    while not any(p.name.startswith(".out.npy.jina3-") for p in tmp_path.iterdir()):
        assert process.poll() is None and time.monotonic() < deadline, "no temporary file seen while it ran"
        time.sleep(0.05)
    time.sleep(0.5)
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=60)
    assert process.returncode == -signal.SIGTERM
    assert leftovers(tmp_path, {"in.txt"}) == []
