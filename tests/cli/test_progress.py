"""jina3 embed's progress line: drawn on stderr in place (\\r) when stderr is a terminal (run under
script(1), which gives the command a pseudo-terminal), with texts done / total, texts/s, tokens/s and
ETA; nothing at all when stderr is a pipe, or with --quiet."""

import random
import re
import shlex
import shutil
import subprocess

import pytest

from cli_support import check_ok, cli, package, run

LINES = 20_000


@pytest.fixture(scope="module")
def text_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("progress") / "in.txt"
    rng = random.Random(3)
    words = "alpha beta gamma delta river mountain Straße 東京 مرحبا café".split()
    path.write_text("".join(" ".join(rng.choice(words) for _ in range(6)) + "\n" for _ in range(LINES)),
                    encoding="utf-8")
    return path


def under_terminal(command: str) -> str:
    """Runs a shell command on a pseudo-terminal; returns what it printed there."""
    script = shutil.which("script")
    assert script, "script(1) (util-linux / bsdutils) is needed for this test"
    result = subprocess.run([script, "-qfec", command, "/dev/null"], stdin=subprocess.DEVNULL, capture_output=True,
                            timeout=600)
    # The terminal turns each \n into \r\n; put them back so that \r alone marks a redraw.
    transcript = result.stdout.decode("utf-8", errors="replace").replace("\r\n", "\n")
    assert result.returncode == 0, f"{command} failed ({result.returncode}):\n{transcript}"
    return transcript


def embed_command(*args) -> str:
    return shlex.join([cli(), "embed", str(package()), *map(str, args)])


def test_progress_on_a_terminal(text_file, tmp_path):
    transcript = under_terminal(embed_command(text_file, "-o", tmp_path / "out.npy", "--dims", 16))
    redraws = transcript.split("\r")
    assert len(redraws) >= 3, f"expected the line redrawn in place, got {transcript!r}"
    final = redraws[-1]
    assert f"{LINES}/{LINES} texts (100%)" in final, final
    rates = re.search(r"(\S+) texts/s +(\S+) tokens/s", final)
    assert rates and rates.group(1) != "0" and rates.group(2) != "0", final
    assert "elapsed" in final and final.endswith("\n")
    # While it runs: the total (counted ahead) and an ETA.
    assert any(re.search(rf"\d+/{LINES} texts \(\d+%\).*ETA \d+:\d\d", line) for line in redraws[:-1]), transcript


def test_total_unknown_on_stdin(text_file, tmp_path):
    command = embed_command("-", "-o", tmp_path / "out.npy", "--dims", 16) + " < " + shlex.quote(str(text_file))
    final = under_terminal(command).split("\r")[-1]
    assert re.search(rf"^{LINES} texts  ", final), final


def test_quiet_on_a_terminal(text_file, tmp_path):
    transcript = under_terminal(embed_command(text_file, "-o", tmp_path / "out.npy", "--dims", 16, "--quiet"))
    assert transcript == "", f"--quiet printed {transcript!r}"


def test_nothing_when_stderr_is_a_pipe(text_file, tmp_path):
    result = run("embed", package(), text_file, "-o", tmp_path / "out.npy", "--dims", 16)
    check_ok(result)
    assert result.stderr == b"" and result.stdout == b""


def test_count_never_goes_backwards(tmp_path):
    # Texts of very different lengths in small blocks: the encoder's passes mix the rows of the
    # blocks in flight, so the estimate between writes runs ahead of the next block written (the
    # old line went back then, e.g. 17102/20000 then 16384/20000).
    rng = random.Random(11)
    words = "alpha beta gamma delta river mountain Straße 東京 مرحبا café".split()
    path = tmp_path / "mixed.txt"
    path.write_text("".join(" ".join(rng.choice(words) for _ in range(rng.choice([1, 2, 3, 40, 120]))) + "\n"
                            for _ in range(LINES)), encoding="utf-8")
    transcript = under_terminal(embed_command(path, "-o", tmp_path / "out.npy", "--dims", 16, "--block-size", 512))
    counts = [int(n) for n in re.findall(rf"(\d+)/{LINES} texts", transcript)]
    assert len(counts) >= 3 and counts[-1] == LINES, transcript
    backwards = [(a, b) for a, b in zip(counts, counts[1:]) if b < a]
    assert backwards == [], f"the count went back: {backwards} in {counts}"
