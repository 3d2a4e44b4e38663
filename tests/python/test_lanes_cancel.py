"""The serving core from Python (issue 16): priority lanes, cancellation (asyncio and Ctrl-C),
per-lane stats and texts given as token ids."""

import asyncio
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import jina3

pytest.register_assert_rewrite("encoder_support")
from encoder_support import BATCH_TOLERANCE, TASK_NAMES, max_abs_diff, package_dir  # noqa: E402

pytest_plugins = ("encoder_support",)  # fixtures: encoder, reference, long_text


def fresh_encoder(**options):
    """An encoder of its own, so that its stats and queue belong to one test."""
    return jina3.Encoder(package_dir("float32"), verify_checksums=False, **options)


def own_tokens(encoder, texts):
    """Each text's own token ids: tokenize() without a task gives <s> ids </s>."""
    return [row[1:-1] for row in encoder.tokenize(texts)]


@pytest.mark.parametrize("task", [None] + TASK_NAMES)
def test_token_ids_give_the_rows_of_their_texts(encoder, reference, task):
    texts = reference["texts"][:6]
    ids = [list(map(int, row)) for row in own_tokens(encoder, texts)]
    from_text = encoder.encode(texts, task)
    from_ids = encoder.encode(ids, task)
    assert from_ids.shape == from_text.shape
    assert max_abs_diff(from_ids, from_text) <= BATCH_TOLERANCE
    # Tuples and numpy arrays of ids are lists of ids too; so is the asynchronous path.
    as_arrays = encoder.encode([np.asarray(row, dtype=np.int64) for row in ids], task)
    assert max_abs_diff(as_arrays, from_text) <= BATCH_TOLERANCE
    async_rows = asyncio.run(encoder.encode_async([tuple(row) for row in ids], task))
    assert max_abs_diff(async_rows, from_text) <= BATCH_TOLERANCE
    int8 = encoder.encode(ids, task, precision="int8", ranges=np.stack([from_text.min(0), from_text.max(0)]))
    assert np.array_equal(int8, jina3.quantize(from_text, "int8", ranges=np.stack([from_text.min(0),
                                                                                    from_text.max(0)])))


def test_token_ids_are_checked(encoder):
    vocab = encoder.vocab_size
    assert vocab > 0
    with pytest.raises(jina3.InvalidArgumentError, match=rf"text 1: token id {vocab} at position 2 is outside the vocabulary \[0, {vocab}\)"):
        encoder.encode([[5, 6], [5, 6, vocab]])
    with pytest.raises(jina3.InvalidArgumentError, match=r"token id -1 at position 0"):
        encoder.encode([[-1]])
    with pytest.raises(jina3.InvalidArgumentError, match=r"outside the vocabulary"):
        encoder.encode([[2**40]])  # beyond int32: named, never wrapped
    with pytest.raises(TypeError, match=r"texts\[1\] is str: give every text of a call as a str, or every one"):
        encoder.encode([[5, 6], "text"])
    with pytest.raises(TypeError, match=r"texts\[0\] is list holding float"):
        encoder.encode([[5.0]])
    with pytest.raises(TypeError, match="encode and encode_async only"):
        encoder.tokenize([[5, 6]])
    limit = encoder.max_length
    too_long = [[5] * limit]
    with pytest.raises(jina3.InputTooLongError, match="text 0"):
        encoder.encode(too_long, truncate=False)
    cut = encoder.encode(too_long)  # truncated like a text: its first max_length - 1 tokens and </s>
    assert cut.shape == (1, encoder.hidden_size)
    assert max_abs_diff(cut, encoder.encode([[5] * (limit - 2)])) <= BATCH_TOLERANCE


def test_priority_changes_no_vector_and_counts_per_lane(reference):
    encoder = fresh_encoder()
    texts = reference["texts"][:5]
    interactive = encoder.encode(texts, "retrieval.query")
    bulk = encoder.encode(texts, "retrieval.query", priority="bulk")
    assert max_abs_diff(interactive, bulk) <= BATCH_TOLERANCE
    assert max_abs_diff(asyncio.run(encoder.encode_async(texts, "retrieval.query", priority="bulk")),
                        interactive) <= BATCH_TOLERANCE
    lanes = encoder.stats()["lanes"]
    assert lanes["interactive"]["requests"] == 1 and lanes["interactive"]["rows"] == 5
    assert lanes["bulk"]["requests"] == 2 and lanes["bulk"]["rows"] == 10
    for lane, requests in (("interactive", 1), ("bulk", 2)):
        stats = lanes[lane]
        assert stats["passes"] >= 1 and stats["padded_tokens"] >= stats["tokens"] > 0
        latency = stats["latency_us"]
        assert latency["count"] == requests and sum(count for _, count in latency["buckets"]) == requests
        assert latency["buckets"][-1][0] is None and latency["buckets"][0][0] == 1
        assert stats["rows_per_pass"]["count"] == stats["passes"]
        assert stats["tokens_per_pass"]["sum"] == stats["tokens"]
    with pytest.raises(jina3.InvalidArgumentError, match='unknown priority "urgent"'):
        encoder.encode(texts, priority="urgent")
    with pytest.raises(jina3.InvalidArgumentError, match="bulk_share"):
        fresh_encoder(bulk_share=1.5)


def test_cancelling_the_awaiting_task_cancels_the_request(reference, long_text):
    encoder = fresh_encoder(max_batch_size=1)  # one row per pass: a long queue of passes
    texts = [long_text] * 64

    async def main():
        task = asyncio.ensure_future(encoder.encode_async(texts, "retrieval.passage"))
        while encoder.stats()["passes"] < 1:
            await asyncio.sleep(0.005)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        # The core drops the request's queued rows: the queue empties long before 64 passes.
        for _ in range(2000):
            if encoder.stats()["queue_depth"] == 0:
                break
            await asyncio.sleep(0.005)

    asyncio.run(main())
    stats = encoder.stats()
    assert stats["cancelled"] == 1 and stats["queue_depth"] == 0
    assert stats["lanes"]["interactive"]["cancelled"] == 1
    assert stats["lanes"]["interactive"]["cancelled_rows"] > 0
    assert stats["rows"] - stats["lanes"]["interactive"]["cancelled_rows"] < 64
    # The encoder goes on serving, with the same vectors.
    again = encoder.encode(reference["texts"][:3], "retrieval.query")
    assert max_abs_diff(again, fresh_encoder().encode(reference["texts"][:3], "retrieval.query")) <= BATCH_TOLERANCE


SIGINT_CHILD = textwrap.dedent("""
    import json, os, signal, sys, threading, time
    import jina3
    encoder = jina3.Encoder(sys.argv[1], verify_checksums=False, max_batch_size=16)
    long_text = " ".join(["word"] * 200)
    texts = [long_text] * 20000
    marks = {}

    def interrupt():
        while encoder.stats()["passes"] < 3:
            time.sleep(0.001)
        marks["passes"] = encoder.stats()["passes"]
        marks["time"] = time.perf_counter()
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=interrupt, daemon=True).start()
    try:
        encoder.encode(texts, "retrieval.passage")
        print(json.dumps({"interrupted": False}))
    except KeyboardInterrupt:
        stats = encoder.stats()
        print(json.dumps({"interrupted": True, "seconds": time.perf_counter() - marks["time"],
                          "passes_at_signal": marks["passes"], "passes": stats["passes"],
                          "pass_us": stats["pass_us"], "cancelled": stats["cancelled"],
                          "queue_depth": stats["queue_depth"]}))
""")


def test_ctrl_c_cancels_a_synchronous_encode_within_one_pass(tmp_path):
    script = tmp_path / "child.py"
    script.write_text(SIGINT_CHILD)
    done = subprocess.run([sys.executable, str(script), str(package_dir("float32"))], capture_output=True, text=True,
                          timeout=600, env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert done.returncode == 0, done.stderr
    import json
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["interrupted"], "the encode of 20,000 texts finished before Ctrl-C took effect"
    assert result["cancelled"] == 1 and result["queue_depth"] == 0
    # Signals are looked at every 10 ms while the call waits; a pass of 16 texts of 200 words takes
    # longer than that here, so at most the running pass and the one started before the check
    # finish after the signal (issue 17: "returns within 2 passes").
    mean_pass_s = result["pass_us"] / result["passes"] / 1e6
    extra = result["passes"] - result["passes_at_signal"]
    assert extra <= 2 + int(0.01 / mean_pass_s), result
    assert result["seconds"] < 0.01 + 3 * mean_pass_s + 1.0, result
