"""The jina3 tool's conventions across its commands: `jina3 help COMMAND` and `COMMAND --help` for
each one, every message prefixed with `jina3:` (CLI11's parse errors included), the documented
exit codes, and embed's input and output defaults: JSONL on standard output without -o, --format
for standard input (with a warning for JSONL read as plain lines), the truncation count on stderr
whether or not it is a terminal, --no-truncate naming the line, --priority."""

import json
import re

import numpy as np
import pytest

from cli_support import TOLERANCE, check_ok, encoder, max_diff, multilingual_lines, package, read_jsonl, run

COMMANDS = ["embed", "chunk", "tokenize", "info", "serve"]
USAGE, IO, MODEL = 2, 3, 4


@pytest.mark.parametrize("command", COMMANDS)
def test_help_for_each_command(command):
    by_help = run("help", command)
    check_ok(by_help)
    by_flag = run(command, "--help")
    check_ok(by_flag)
    out = by_help.stdout.decode()
    assert out == by_flag.stdout.decode(), "jina3 help X and jina3 X --help should print the same"
    assert re.search(rf"\b{command}\b", out.splitlines()[0] + out.splitlines()[1]), out
    assert "PACKAGE" in out and "Exit codes:" in out, out


def test_help_alone_and_unknown_topic():
    result = run("help")
    check_ok(result)
    for command in COMMANDS:
        assert re.search(rf"^\s+{command}\b", result.stdout.decode(), re.M), result.stdout
    result = run("help", "embedd")
    assert result.returncode == USAGE and result.stderr.startswith(b"jina3: help: no command 'embedd'")


@pytest.mark.parametrize("args", [
    [],
    ["frobnicate"],
    ["embed"],
    ["embed", "PKG", "in.txt", "--dims", "x"],
    ["embed", "PKG", "in.txt", "--no-such-flag"],
    ["tokenize", "PKG"],
    ["chunk", "PKG"],
    ["info"],
    ["info", "PKG", "extra"],
])
def test_parse_errors_start_with_jina3(args):
    args = [str(package()) if a == "PKG" else a for a in args]
    result = run(*args)
    assert result.returncode == USAGE, result.stderr
    lines = result.stderr.decode().splitlines()
    assert lines and all(line.startswith("jina3: ") or line.startswith("Run 'jina3 help") for line in lines), lines
    assert result.stdout == b""


def test_exit_codes(tmp_path):
    (tmp_path / "in.txt").write_text("one\ntwo\n", encoding="utf-8")
    cases = [
        (["embed", package(), tmp_path / "in.txt", "-o", tmp_path / "out.npy"], 0),
        (["embed", package(), tmp_path / "in.txt", "--dims", "3"], USAGE),
        (["embed", package(), tmp_path / "missing.txt"], IO),
        (["embed", tmp_path / "no-package", tmp_path / "in.txt"], MODEL),
        (["info", tmp_path], MODEL),
        (["tokenize", package(), "--no-truncate", "--max-length", "4", "a b c d e f g"], IO),
    ]
    for args, code in cases:
        result = run(*args)
        assert result.returncode == code, (args, result.returncode, result.stderr)
        if code:
            assert result.stderr.startswith(b"jina3: "), result.stderr


def test_output_defaults_to_jsonl_on_stdout(tmp_path):
    texts = multilingual_lines()[:30]
    (tmp_path / "in.txt").write_text("".join(t + "\n" for t in texts), encoding="utf-8")
    result = run("embed", package(), tmp_path / "in.txt", "--dims", 16, cwd=tmp_path)
    check_ok(result)
    rows = read_jsonl(result.stdout)
    assert max_diff([r["embedding"] for r in rows], encoder().encode(texts, dims=16)) <= TOLERANCE
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.txt"]


def test_stdin_jsonl_and_text():
    texts = multilingual_lines()[:40]
    expected = encoder().encode(texts, task="separation", dims=16)
    jsonl = "".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in enumerate(texts)).encode()
    result = run("embed", package(), "-", "--format", "jsonl", "--task", "separation", "--dims", 16, stdin=jsonl)
    check_ok(result)
    assert result.stderr == b""
    rows = read_jsonl(result.stdout)
    assert [r["id"] for r in rows] == list(range(len(texts)))
    assert max_diff([r["embedding"] for r in rows], expected) <= TOLERANCE
    plain = "".join(t + "\n" for t in texts).encode()
    for extra in ([], ["--format", "text"]):
        result = run("embed", package(), "-", "--task", "separation", "--dims", 16, *extra, stdin=plain)
        check_ok(result)
        assert result.stderr == b""
        assert max_diff([r["embedding"] for r in read_jsonl(result.stdout)], expected) <= TOLERANCE


def test_jsonl_piped_as_text_warns():
    jsonl = "".join(json.dumps({"text": t}) + "\n" for t in ["a", "b"]).encode()
    result = run("embed", package(), "-", "--dims", 8, stdin=jsonl)
    check_ok(result)  # plain lines, as asked, but not silently
    assert b"jina3: warning: <stdin> line 1 is a JSON object" in result.stderr and b"--format jsonl" in result.stderr
    expected = encoder().encode([json.dumps({"text": t}) for t in ["a", "b"]], dims=8)
    assert max_diff([r["embedding"] for r in read_jsonl(result.stdout)], expected) <= TOLERANCE
    result = run("embed", package(), "-", "--dims", 8, "--format", "text", stdin=jsonl)
    check_ok(result)
    assert result.stderr == b""


def test_format_overrides_the_suffix(tmp_path):
    texts = ["first text", "second text"]
    (tmp_path / "in.data").write_text("".join(json.dumps({"text": t}) + "\n" for t in texts), encoding="utf-8")
    result = run("embed", package(), tmp_path / "in.data", "--format", "jsonl", "--dims", 8)
    check_ok(result)
    assert max_diff([r["embedding"] for r in read_jsonl(result.stdout)], encoder().encode(texts, dims=8)) <= TOLERANCE
    result = run("embed", package(), tmp_path / "in.data", "--format", "csv")
    assert result.returncode == USAGE and b"--format" in result.stderr


def test_truncation_count_on_stderr_without_a_terminal(tmp_path):
    texts = ["short", " ".join(["many words here"] * 20), "also short", " ".join(["more words"] * 30)]
    (tmp_path / "in.txt").write_text("".join(t + "\n" for t in texts), encoding="utf-8")
    result = run("embed", package(), tmp_path / "in.txt", "-o", tmp_path / "out.npy", "--max-length", 16)
    check_ok(result)
    assert result.stderr == b"jina3: 2 of 4 texts were longer than 16 tokens and were truncated (--no-truncate " \
                            b"makes that an error)\n", result.stderr
    expected = encoder().encode(texts, max_length=16)
    assert max_diff(np.load(tmp_path / "out.npy"), expected) <= TOLERANCE
    # --quiet silences the progress line only, not this.
    result = run("embed", package(), tmp_path / "in.txt", "-o", tmp_path / "out.npy", "--max-length", 16, "--quiet")
    assert b"2 of 4 texts" in result.stderr


def test_no_truncate_names_the_line(tmp_path):
    lines = [f"short {i}" for i in range(40)]
    lines[25] = " ".join(["many words"] * 20)
    (tmp_path / "in.txt").write_text("".join(t + "\n" for t in lines), encoding="utf-8")
    result = run("embed", package(), tmp_path / "in.txt", "-o", tmp_path / "out.npy", "--block-size", 10,
                 "--max-length", 16, "--no-truncate")
    assert result.returncode == IO, result.stderr
    stderr = result.stderr.decode()
    assert re.fullmatch(r"jina3: \S*in\.txt, line 26: the text is \d+ tokens long .*over the limit of 16.*\n", stderr), \
        stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.txt"]
    jsonl = "".join(json.dumps({"text": t}) + "\n\n" for t in lines).encode()  # blank lines between
    result = run("embed", package(), "-", "--format", "jsonl", "--max-length", 16, "--no-truncate", stdin=jsonl)
    assert result.returncode == IO and b"<stdin>, line 51: the text is" in result.stderr, result.stderr


def test_priority(tmp_path):
    texts = multilingual_lines()[:50]
    (tmp_path / "in.txt").write_text("".join(t + "\n" for t in texts), encoding="utf-8")
    expected = encoder().encode(texts, dims=16)
    for lane in ("bulk", "interactive"):
        check_ok(run("embed", package(), tmp_path / "in.txt", "-o", tmp_path / "out.npy", "--dims", 16,
                     "--priority", lane))
        assert max_diff(np.load(tmp_path / "out.npy"), expected) <= TOLERANCE
    result = run("embed", package(), tmp_path / "in.txt", "--priority", "urgent")
    assert result.returncode == USAGE and b"--priority" in result.stderr
