"""jina3 embed streams: on 100,000 lines its peak resident memory stays within a small margin of a
1,000-line run's, and the same input taken as one block (what a tool that reads everything first
would do) goes over that bound, so the bound does detect it.

The lines all have the same token count: the library keeps a little memory per distinct forward
pass shape (rows x tokens), which is bounded but grows over the first passes of each new shape and
would blur what is measured here, the tool's own buffering."""

import os
import random
import subprocess

import numpy as np
import pytest

from cli_support import TOLERANCE, cli, encoder, max_diff, package

LINES = 100_000
SMALL = 1_000
DIMS = 32
MARGIN_MIB = 8
GNU_TIME = "/usr/bin/time"
# Words the test package's tokenizer keeps whole, so that every line is <s> + 8 pieces + </s>.
WORDS = ("the cat dog house blue red green tree water fire city river music book table chair window door "
         "light night day sun star road car fish paper glass").split()


def peak_rss_mib(args, work) -> float:
    """Runs jina3 with args and returns its peak RSS, as GNU time reports it. Not wait4's rusage of a
    child of this process: Linux carries the pre-exec peak of the forked copy of this (large, torch
    and numpy loaded) Python process into it; time(1) is small, so its child's figure is jina3's."""
    assert os.access(GNU_TIME, os.X_OK), f"{GNU_TIME} (Debian package time) is needed for this test"
    report = work / "rss.txt"
    result = subprocess.run([GNU_TIME, "-f", "%M", "-o", str(report), cli(), *map(str, args)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert result.returncode == 0, f"jina3 failed ({result.returncode}): {result.stderr.decode(errors='replace')}"
    return int(report.read_text().split()[-1]) / 1024.0  # KiB


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    work = tmp_path_factory.mktemp("memory")
    rng = random.Random(7)
    lines = [" ".join(rng.choice(WORDS) for _ in range(8)) for _ in range(LINES)]
    lengths = {len(ids) for ids in encoder().tokenize(lines[:2000])}
    assert lengths == {10}, f"the lines should all be 10 tokens, got lengths {sorted(lengths)}"
    (work / "big.txt").write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    (work / "small.txt").write_text("".join(line + "\n" for line in lines[:SMALL]), encoding="utf-8")
    return work, lines


def test_rss_does_not_grow_with_the_input(inputs):
    work, lines = inputs
    small = peak_rss_mib(["embed", package(), work / "small.txt", "-o", work / "small.npy", "--dims", DIMS], work)
    big = peak_rss_mib(["embed", package(), work / "big.txt", "-o", work / "big.npy", "--dims", DIMS], work)
    print(f"peak RSS: {SMALL} lines {small:.1f} MiB, {LINES} lines {big:.1f} MiB")
    out = np.load(work / "big.npy", mmap_mode="r")
    assert out.shape == (LINES, DIMS)
    sample = list(range(0, LINES, 9973))
    assert max_diff(out[sample], encoder().encode([lines[i] for i in sample], dims=DIMS)) <= TOLERANCE
    assert big <= small + MARGIN_MIB, f"{LINES} lines peaked at {big:.1f} MiB, over {small:.1f} + {MARGIN_MIB} MiB"

    # Control: the whole input as one block holds every text, its tokens and its embeddings at once.
    whole = peak_rss_mib(["embed", package(), work / "big.txt", "-o", work / "whole.npy", "--dims", DIMS,
                          "--block-size", LINES], work)
    print(f"peak RSS with one block of {LINES}: {whole:.1f} MiB")
    assert whole > small + MARGIN_MIB, f"one block peaked at {whole:.1f} MiB: the bound would not catch it"
