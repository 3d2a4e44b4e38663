"""Shared helpers of the jina3 command-line tool's tests (tests/cli/test_*.py, ctest cli.*).

ctest gives the environment: JINA3_CLI (the jina3 executable), JINA3_TEST_DATA (the tiny
packages, from the make_test_data fixture), JINA3_SOURCE_DIR, and PYTHONPATH with build/python
(the jina3 module, the reference these tests compare the tool with).
"""

import functools
import json
import os
import pathlib
import subprocess

import numpy as np
import pytest

import jina3

TOLERANCE = 1e-6  # max |diff| between the tool's output and jina3.Encoder.encode on the same texts


def _env_path(name: str) -> pathlib.Path:
    value = os.environ.get(name)
    if not value:
        pytest.fail(f"{name} is not set: run these tests through ctest (ctest -R cli)", pytrace=False)
    return pathlib.Path(value)


def cli() -> str:
    return str(_env_path("JINA3_CLI"))


def package() -> pathlib.Path:
    path = _env_path("JINA3_TEST_DATA") / "package-float32"
    if not (path / "manifest.json").is_file():
        pytest.fail(f"{path} is not a package: regenerate the test data (ctest -R make_test_data)", pytrace=False)
    return path


def source_dir() -> pathlib.Path:
    return _env_path("JINA3_SOURCE_DIR")


def multilingual_lines() -> list:
    """tests/data/multilingual.txt, one text per line (Latin, CJK, Arabic, emoji, ...)."""
    text = (source_dir() / "tests" / "data" / "multilingual.txt").read_text(encoding="utf-8")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


@functools.lru_cache(maxsize=None)
def encoder() -> "jina3.Encoder":
    return jina3.Encoder(str(package()))


def run(*args, stdin: bytes = None, timeout: float = 300, **kwargs) -> subprocess.CompletedProcess:
    """Runs `jina3 ARGS...`, capturing stdout and stderr as bytes."""
    return subprocess.run([cli(), *map(str, args)], input=stdin, capture_output=True, timeout=timeout, **kwargs)


def check_ok(result: subprocess.CompletedProcess) -> None:
    assert result.returncode == 0, f"jina3 failed ({result.returncode}): {result.stderr.decode(errors='replace')}"


def max_diff(a, b) -> float:
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    assert a.shape == b.shape, f"shapes differ: {a.shape} vs {b.shape}"
    return float(np.abs(a - b).max()) if a.size else 0.0


def read_jsonl(data: bytes) -> list:
    return [json.loads(line) for line in data.decode("utf-8").splitlines()]


def write_jsonl(path: pathlib.Path, rows: list) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


def leftovers(directory: pathlib.Path, keep: set) -> list:
    """Files in directory other than keep: a partial output or a temporary file would show here."""
    return sorted(p.name for p in directory.iterdir() if p.name not in keep)
