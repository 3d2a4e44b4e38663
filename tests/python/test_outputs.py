"""Outputs beyond float32 sentence embeddings from Python (issue 9): encode(precision=, ranges=),
jina3.quantize and jina3.calibration_ranges against NumPy versions of the formulas, a faiss binary
index on ubinary output, encode_tokens against the reference model (str-index offsets), late_chunk
against pooling the token output by the rule, and the bad inputs."""

import asyncio
import pathlib
import re
import subprocess
import sys
import unicodedata

import faiss
import numpy as np
import pytest
import torch

import jina3
from jina3.testing.paths import xlmr_spm_model
from jina3.testing.reference import ReferenceModel

pytest.register_assert_rewrite("encoder_support")  # before the import, so its asserts explain failures
from encoder_support import (  # noqa: E402
    BATCH_TOLERANCE, TOLERANCE, data_dir, max_abs_diff, max_state_diff, package_dir)

pytest_plugins = ("encoder_support",)  # fixtures: encoder, reference, long_text

REPO = pathlib.Path(__file__).resolve().parents[2]
PRECISIONS = ["float32", "float16", "int8", "uint8", "binary", "ubinary"]
DTYPES = {"float32": np.float32, "float16": np.float16, "int8": np.int8, "uint8": np.uint8, "binary": np.int8,
          "ubinary": np.uint8}
POOLING = BATCH_TOLERANCE  # late-chunk vectors against pooling another call's token output (relative)
UNK_ID = 3
SPM_ID_OFFSET = 1  # jina3 ids = sentencepiece ids + 1 (fairseq), <unk> aside
CHUNK_TEXTS = [
    "Berlin is the capital of Germany. Its population is about 3.8 million! Is it big? Yes.",
    "Grüße aus München! Das Wetter ist heute wunderschön. Straße, Maß und Fuß.",
    "  Où est la bibliothèque ?  Je cherche un livre d'histoire.\n多语言模型 and Многоязычные модели.",
    "x",
]


# --- NumPy versions of the formulas (include/jina3/outputs.hpp), all in float32 --------------------

def np_ranges(x):
    return np.stack([x.min(axis=0), x.max(axis=0)]).astype(np.float32)


def np_uint8(x, ranges):
    lo, hi = ranges[0].astype(np.float32), ranges[1].astype(np.float32)
    step = (hi - lo) / np.float32(255)
    return np.clip(np.floor((x - lo) / step), 0, 255).astype(np.uint8)


def np_precision(x, precision, ranges=None):
    x = np.asarray(x, dtype=np.float32)
    if precision == "float32":
        return x
    if precision == "float16":
        return x.astype(np.float16)
    if precision == "uint8":
        return np_uint8(x, np_ranges(x) if ranges is None else ranges)
    if precision == "int8":  # sentence-transformers' formula; clipped where its cast is undefined
        ranges = np_ranges(x) if ranges is None else ranges
        lo, hi = ranges[0].astype(np.float32), ranges[1].astype(np.float32)
        return np.clip((x - lo) / ((hi - lo) / 255) - 128, -128, 127).astype(np.int8)
    bits = np.packbits(x > 0, axis=-1)
    return bits if precision == "ubinary" else (bits.astype(np.int16) - 128).astype(np.int8)


def assert_same(actual, expected, what):
    assert actual.dtype == expected.dtype, what
    assert actual.shape == expected.shape, what
    # Bits, not values: float16 compares exactly, and a NaN would not hide.
    unsigned = {1: np.uint8, 2: np.uint16, 4: np.uint32}[actual.dtype.itemsize]
    differ = np.flatnonzero(actual.view(unsigned) != expected.view(unsigned))
    assert differ.size == 0, f"{what}: {differ.size} values differ, first at {differ[:5]}: " \
                             f"{actual.ravel()[differ[:5]]} vs {expected.ravel()[differ[:5]]}"


@pytest.fixture(scope="module")
def lines():
    return (REPO / "tests" / "data" / "multilingual.txt").read_text(encoding="utf-8").split("\n")


@pytest.fixture(scope="module")
def ref():
    return ReferenceModel(data_dir() / "checkpoint", xlmr_spm_model())


@pytest.fixture(scope="module")
def cached():
    """An encoder with a cache: a call repeated after a float32 call gets that call's rows (exact
    copies), so its quantised output is exactly the formula applied to them."""
    return jina3.Encoder(package_dir("float32"), cache_bytes=64 << 20, verify_checksums=False)


@pytest.fixture(scope="module")
def corpus(lines):
    """Calibration texts, then other passages and queries (different texts)."""
    return {"calibration": lines[:120], "passages": lines[120:300], "queries": lines[300:340]}


# --- precisions --------------------------------------------------------------------------------

def test_calibration_ranges_are_min_and_max_rows(encoder, corpus):
    x = encoder.encode(corpus["calibration"], "retrieval.passage")
    ranges = jina3.calibration_ranges(x)
    assert ranges.dtype == np.float32 and ranges.shape == (2, encoder.hidden_size) and ranges.flags.c_contiguous
    assert_same(ranges, np_ranges(x), "calibration_ranges")
    # Array-likes (lists, float64) are converted to float32.
    assert_same(jina3.calibration_ranges(x.astype(np.float64).tolist()), np_ranges(x), "from a list")


def test_every_precision_matches_numpy_for_every_dims(cached, corpus):
    encoder = cached  # x below fills the cache; each encode(precision=) then quantises x's rows
    checked = 0
    for dims in encoder.dims:
        calibration = encoder.encode(corpus["calibration"], "retrieval.passage", dims)
        given = jina3.calibration_ranges(calibration)
        for texts, task in ((corpus["passages"], "retrieval.passage"), (corpus["queries"], "retrieval.query")):
            x = encoder.encode(texts, task, dims)
            for precision in PRECISIONS:
                # Given ranges (those of the calibration set) and ranges computed from the call's rows.
                for ranges in (given, None):
                    what = f"dims {dims} {precision} {task} ranges={'given' if ranges is not None else 'computed'}"
                    actual = encoder.encode(texts, task, dims, precision=precision, ranges=ranges)
                    expected = np_precision(x, precision, ranges)
                    assert actual.dtype == DTYPES[precision], what
                    packed = precision in ("binary", "ubinary")
                    assert actual.shape == (len(texts), dims // 8 if packed else dims), what
                    assert actual.flags.c_contiguous and actual.flags.owndata is False, what
                    assert_same(actual, expected, what)
                    assert_same(jina3.quantize(x, precision, ranges), expected, what + " (quantize)")
                    checked += 1
    assert checked == len(encoder.dims) * 2 * len(PRECISIONS) * 2


def test_int8_levels_use_the_whole_range_and_clip(cached, corpus):
    # The test above is only as strong as the values it met: computed ranges reach both ends, and
    # rows outside the calibration ranges clip to 0 and 255 (x's rows, from the cache).
    encoder = cached
    x = encoder.encode(corpus["queries"], "retrieval.query")
    computed = encoder.encode(corpus["queries"], "retrieval.query", precision="uint8")
    assert computed.min() == 0 and computed.max() >= 254
    narrow = jina3.calibration_ranges(x[:3])
    clipped = encoder.encode(corpus["queries"], "retrieval.query", precision="uint8", ranges=narrow)
    outside_low, outside_high = x < narrow[0], x > narrow[1]
    assert outside_low.any() and outside_high.any()
    assert (clipped[outside_low] == 0).all() and (clipped[outside_high] == 255).all()
    # int8 clips the same values to its ends (in between it truncates toward zero, see
    # test_int8_formula.py); binary is ubinary - 128: the same bits with the top one flipped.
    signed = encoder.encode(corpus["queries"], "retrieval.query", precision="int8", ranges=narrow)
    assert (signed[outside_low] == -128).all() and (signed[outside_high] == 127).all()
    bits = encoder.encode(corpus["queries"], "retrieval.query", precision="ubinary")
    signed_bits = encoder.encode(corpus["queries"], "retrieval.query", precision="binary")
    assert_same(signed_bits.view(np.uint8) ^ np.uint8(0x80), bits, "binary vs ubinary")


def test_float32_precision_is_the_default_path(encoder, corpus):
    texts = corpus["queries"]
    plain = encoder.encode(texts, "retrieval.query")
    assert max_abs_diff(encoder.encode(texts, "retrieval.query", precision="float32"), plain) <= BATCH_TOLERANCE
    assert plain.flags.owndata is False  # still the buffer the core wrote


def test_iterables_and_progress_bars_quantise_like_lists(encoder, cached, corpus):
    texts = corpus["passages"][:23]
    given = jina3.calibration_ranges(encoder.encode(corpus["calibration"], "retrieval.passage", 32))
    # Blocks of 5 are other passes than one call of 23 (other padding), so float32 rows agree to
    # the tolerance. The block-wise rows then fill the cache, and each precision is exactly the
    # formula applied to them (the blocks of the streamed calls are answered from the cache).
    listed = encoder.encode(texts, "retrieval.passage", 32)
    blockwise = cached.encode(iter(texts), "retrieval.passage", 32, batch_size=5)
    assert max_abs_diff(blockwise, listed) <= TOLERANCE
    encoder = cached
    for precision in PRECISIONS:
        for ranges in (given, None):
            expected = np_precision(blockwise, precision, ranges)
            streamed = encoder.encode(iter(texts), "retrieval.passage", 32, precision=precision, ranges=ranges,
                                      batch_size=5)
            assert_same(streamed, expected, f"{precision} from a generator")
            barred = encoder.encode(texts, "retrieval.passage", 32, precision=precision, ranges=ranges,
                                    batch_size=5, show_progress_bar=True)
            assert_same(barred, expected, f"{precision} with a progress bar")
    # Computed ranges are the whole call's: quantising each block alone would differ.
    x = blockwise
    per_block = np.concatenate([np_precision(x[i:i + 5], "int8") for i in range(0, len(texts), 5)])
    whole = encoder.encode(iter(texts), "retrieval.passage", 32, precision="int8", batch_size=5)
    assert_same(whole, np_precision(x, "int8"), "whole-call ranges")
    assert (whole != per_block).any()
    empty = encoder.encode(iter([]), "retrieval.passage", 32, precision="binary")
    assert empty.shape == (0, 4) and empty.dtype == np.int8


def test_encode_async_takes_precision(cached, corpus):
    encoder = cached  # after the first call, every call quantises the same (cached) rows
    texts = corpus["queries"]
    given = jina3.calibration_ranges(encoder.encode(corpus["calibration"], "retrieval.query", 16))
    encoder.encode(texts, "retrieval.query", 16)

    async def main():
        return [await encoder.encode_async(texts, "retrieval.query", 16, precision=p, ranges=r)
                for p in PRECISIONS for r in (given, None)]

    results = asyncio.run(main())
    calls = [(p, r) for p in PRECISIONS for r in (given, None)]
    for (precision, ranges), actual in zip(calls, results):
        expected = encoder.encode(texts, "retrieval.query", 16, precision=precision, ranges=ranges)
        assert_same(actual, expected, f"encode_async {precision}")

    async def bad(**keywords):
        await encoder.encode_async(["x"], "retrieval.query", 16, **keywords)

    with pytest.raises(jina3.InvalidArgumentError, match="int4"):
        asyncio.run(bad(precision="int4"))
    with pytest.raises(jina3.InvalidArgumentError, match=r"\(3, 16\)"):
        asyncio.run(bad(precision="int8", ranges=np.ones((3, 16))))


def test_faiss_binary_index_ranks_like_numpy_hamming(encoder, corpus):
    for dims in encoder.dims:
        passages = encoder.encode(corpus["passages"], "retrieval.passage", dims, precision="ubinary")
        queries = encoder.encode(corpus["queries"], "retrieval.query", dims, precision="ubinary")
        index = faiss.IndexBinaryFlat(dims)
        index.add(passages)
        assert index.ntotal == len(passages)
        k = len(passages)
        distances, labels = index.search(queries, k)
        # NumPy: popcount of the xor of the unpacked bits.
        expected = np.unpackbits(queries[:, None, :] ^ passages[None, :, :], axis=-1).sum(axis=-1)
        assert expected.shape == (len(queries), len(passages))
        assert np.unique(expected).size > 3, "too few distinct distances to rank anything"
        for q in range(len(queries)):
            assert sorted(labels[q].tolist()) == list(range(k))
            assert (distances[q] == expected[q, labels[q]]).all(), f"dims {dims} query {q}"
            np.testing.assert_array_equal(distances[q], np.sort(expected[q]))
            # The nearest passage by numpy is at faiss's nearest distance.
            assert expected[q, labels[q, 0]] == expected[q].min()


def test_faiss_imports_next_to_torch_in_one_process():
    # Both orders, each with a small operation in both libraries after the other was loaded.
    for first, second in (("torch", "faiss"), ("faiss", "torch")):
        code = (f"import {first}, {second}, numpy as np, jina3\n"
                "i = faiss.IndexBinaryFlat(16); i.add(np.zeros((2, 2), np.uint8))\n"
                "d, l = i.search(np.ones((1, 2), np.uint8), 1)\n"
                "assert d[0, 0] == 2 and float(torch.ones(3).sum()) == 3.0\n"
                "print('ok')\n")
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
        assert result.returncode == 0 and result.stdout.strip() == "ok", (first, result.stderr[-2000:])


# --- encode_tokens -----------------------------------------------------------------------------

def to_str_index(text, byte_offset):
    """An independent conversion: the str length of the UTF-8 prefix."""
    return -1 if byte_offset < 0 else len(text.encode("utf-8")[:byte_offset].decode("utf-8"))


def test_encode_tokens_matches_reference_hidden_states(encoder, ref, reference, lines):
    texts = reference["texts"][:6] + [t for t in lines[:400] if not t.isascii()][:6] + ["", "  spaces  "]
    worst = 0.0
    for task in (None, "retrieval.query", "retrieval.passage", "text-matching"):
        results = encoder.encode_tokens(texts, task)
        assert isinstance(results, list) and len(results) == len(texts)
        for text, out in zip(texts, results):
            assert isinstance(out, jina3.TokenEmbeddings)
            n = len(out)
            assert out.ids.dtype == np.int32 and out.ids.shape == (n,)
            assert out.embeddings.dtype == np.float32 and out.embeddings.shape == (n, encoder.hidden_size)
            assert out.offsets.dtype == np.int64 and out.offsets.shape == (n, 2)
            assert out.truncated is False
            ids = ref.tokenize_one(text, task)
            assert out.ids.tolist() == ids, text
            with torch.no_grad():
                expected = ref.hidden_states(ids, task).numpy()
            worst = max(worst, max_abs_diff(out.embeddings, expected))
    assert worst <= TOLERANCE, f"max |diff| {worst} against ReferenceModel.hidden_states"


def test_token_offsets_are_str_indices(encoder, reference):
    # reference.json's offsets are Hugging Face style byte offsets derived from sentencepiece's own
    # pieces (jina3.testing.testdata.hf_offsets), for tricky texts and every line of multilingual.txt.
    entries = reference["offsets"]
    assert len(entries) > 1000 and sum(not e["text"].isascii() for e in entries) > 500
    converted = 0
    for task in (None, "retrieval.query"):
        chosen = [e for e in entries if e["task"] == task]
        results = encoder.encode_tokens([e["text"] for e in chosen], task)
        for entry, out in zip(chosen, results):
            text = entry["text"]
            expected = [to_str_index(text, b) for b in entry["offsets"]]
            assert out.offsets.ravel().tolist() == expected, text
            assert out.ids.tolist() == entry["ids"], text
            converted += sum(1 for b, s in zip(entry["offsets"], expected) if b != s)
    assert converted > 1000  # many offsets differ as bytes and as str indices


SPECIAL_TEXT = {0: "<s>", 1: "<pad>", 2: "</s>", 250001: "<mask>"}


def test_token_offsets_slice_the_token_text(encoder, ref, lines):
    # Where sentencepiece's normalisation keeps the text as it is, text[start:end] is the token's
    # piece without its leading "▁" (the prompt's tokens and the specials are (-1, -1)).
    def plain(line):
        return (unicodedata.normalize("NFKC", line) == line and "\ufffd" not in line and "\u2581" not in line
                and not any(unicodedata.category(c) in ("Cc", "Cf") for c in line))

    texts = [line for line in lines if plain(line)]
    assert len(texts) > 1000 and sum(not t.isascii() for t in texts) > 500
    checked = 0
    for task in (None, "retrieval.query"):
        prompt_tokens = len(encoder.tokenize([""], task)[0]) - 2
        for text, out in zip(texts, encoder.encode_tokens(texts, task)):
            offsets = out.offsets.tolist()
            assert offsets[0] == [-1, -1] and offsets[-1] == [-1, -1]
            assert all(o == [-1, -1] for o in offsets[1:1 + prompt_tokens])
            for token, (start, end) in zip(out.ids.tolist()[1 + prompt_tokens:-1], offsets[1 + prompt_tokens:-1]):
                if token == UNK_ID:
                    continue
                if token in SPECIAL_TEXT:  # special-token text in the line: its offsets cover it
                    assert text[start:end] == SPECIAL_TEXT[token], (text, start, end, token)
                    continue
                piece = ref.sp.id_to_piece(token - SPM_ID_OFFSET)
                assert text[start:end] == piece.lstrip("\u2581"), (text, start, end, piece)
                checked += 1
    assert checked > 30000


def test_encode_tokens_of_bytes_give_byte_offsets(encoder):
    text = "Grüße aus München"
    as_str, as_bytes = encoder.encode_tokens([text, text.encode("utf-8")])
    assert as_str.ids.tolist() == as_bytes.ids.tolist()
    # Two positions of one pass: equal to the batch tolerance, not bit for bit.
    assert max_state_diff(as_bytes.embeddings, as_str.embeddings) <= BATCH_TOLERANCE
    data = text.encode("utf-8")
    words = [data[b:e].decode("utf-8") for b, e in as_bytes.offsets.tolist() if b >= 0]
    assert words == [text[b:e] for b, e in as_str.offsets.tolist() if b >= 0] == ["Grüße", "aus", "München"]
    assert as_bytes.offsets[-2].tolist() == [12, 20] and as_str.offsets[-2].tolist() == [10, 17]


def test_encode_tokens_truncation(encoder, long_text):
    cut = encoder.encode_tokens([long_text], max_length=16)[0]
    assert len(cut) == 16 and cut.truncated and cut.offsets[-1].tolist() == [-1, -1]
    full = encoder.encode_tokens([long_text])[0]
    assert cut.offsets[:15].tolist() == full.offsets[:15].tolist()
    with pytest.raises(jina3.InputTooLongError):
        encoder.encode_tokens([long_text], max_length=16, truncate=False)


# --- late_chunk --------------------------------------------------------------------------------

def pool(tokens, token_spans, dims, normalize=True):
    """The rule: mean over the token_spans rows (float64 sums), cut to dims, L2-normalised."""
    rows = []
    for start, end in token_spans:
        mean = tokens.embeddings[start:end].astype(np.float64).mean(axis=0)[:dims]
        if normalize:
            mean = mean / max(np.linalg.norm(mean), 1e-12)
        rows.append(mean)
    return np.array(rows, dtype=np.float32).reshape(len(rows), dims)


def members(offsets, span):
    """Token indices whose (start, end) lies inside span (an empty token: where it starts)."""
    b, e = span
    return [t for t, (s, f) in enumerate(offsets) if s >= 0 and ((s == f and b <= s < e) or (s != f and b <= s and f <= e))]


def test_late_chunk_equals_pooling_the_token_output(encoder):
    texts = CHUNK_TEXTS
    tokens = encoder.encode_tokens(texts, "retrieval.passage")
    spans = [[(0, 33), (34, 70), (20, 50)], [(0, 18), (19, 52), (0, len(texts[1]))],
             [(0, 27), (28, 59), (60, len(texts[2]))], [(0, 1)]]
    modes = [dict(spans=spans), dict(chunk_tokens=3), dict(chunk_tokens=1000), dict(sentences=1),
             dict(sentences=2), dict()]
    worst = 0.0
    for mode in modes:
        for dims in encoder.dims:
            for normalize in (True, False):
                for specials in (True, False):
                    results = encoder.late_chunk(texts, "retrieval.passage", dims, normalize=normalize,
                                                 include_special_tokens=specials, **mode)
                    assert len(results) == len(texts)
                    for i, (out, tok) in enumerate(zip(results, tokens)):
                        what = f"{mode} dims {dims} normalize {normalize} specials {specials} text {i}"
                        assert isinstance(out, jina3.ChunkEmbeddings)
                        n = len(out)
                        assert n >= 1, what
                        assert out.embeddings.dtype == np.float32 and out.embeddings.shape == (n, dims), what
                        assert out.spans.dtype == np.int64 and out.spans.shape == (n, 2), what
                        assert out.token_spans.dtype == np.int64 and out.token_spans.shape == (n, 2), what
                        expected = pool(tok, out.token_spans.tolist(), dims, normalize)
                        worst = max(worst, max_state_diff(out.embeddings, expected))
                        if specials:
                            assert out.token_spans[0, 0] == 0 and out.token_spans[-1, 1] == len(tok), what
                        if "spans" in mode:
                            assert out.spans.tolist() == [list(s) for s in spans[i]], what  # str indices round-trip
                            offsets = tok.offsets.tolist()
                            for k, span in enumerate(spans[i]):
                                inside = members(offsets, span)
                                first = 0 if specials and k == 0 else inside[0]
                                last = len(tok) if specials and k == n - 1 else inside[-1] + 1
                                assert out.token_spans[k].tolist() == [first, last], (what, k)
    assert worst <= POOLING, f"relative max |diff| {worst} against pooling encode_tokens by the rule"


def test_late_chunk_chunk_tokens_and_sentences(encoder):
    text = CHUNK_TEXTS[1]  # "Grüße aus München! Das Wetter ist heute wunderschön. Straße, Maß und Fuß."
    out = encoder.late_chunk([text], sentences=1)[0]
    assert [text[b:e] for b, e in out.spans.tolist()] == [
        "Grüße aus München!", "Das Wetter ist heute wunderschön.", "Straße, Maß und Fuß."]
    two = encoder.late_chunk([text], sentences=2)[0]
    assert [text[b:e] for b, e in two.spans.tolist()] == [
        "Grüße aus München! Das Wetter ist heute wunderschön.", "Straße, Maß und Fuß."]
    # "3.8" and "big?" inside words are no sentence ends; "?" then a space is.
    first = encoder.late_chunk([CHUNK_TEXTS[0]], sentences=1)[0]
    assert [CHUNK_TEXTS[0][b:e] for b, e in first.spans.tolist()] == [
        "Berlin is the capital of Germany.", "Its population is about 3.8 million!", "Is it big?", "Yes."]

    tokens = encoder.encode_tokens([text], "retrieval.passage")[0]
    content = [t for t, (b, _) in enumerate(tokens.offsets.tolist()) if b >= 0]
    fixed = encoder.late_chunk([text], chunk_tokens=4, include_special_tokens=False)[0]
    groups = [content[i:i + 4] for i in range(0, len(content), 4)]
    assert fixed.token_spans.tolist() == [[g[0], g[-1] + 1] for g in groups]
    assert fixed.spans.tolist() == [[tokens.offsets[g[0], 0], tokens.offsets[g[-1], 1]] for g in groups]
    # The empty text has no tokens and so no chunks.
    empty = encoder.late_chunk([""], dims=16)[0]
    assert len(empty) == 0 and empty.embeddings.shape == (0, 16) and empty.spans.shape == (0, 2)


def test_late_chunk_default_task_is_retrieval_passage(encoder):
    text = [CHUNK_TEXTS[0]]
    default = encoder.late_chunk(text)[0].embeddings
    assert max_abs_diff(default, encoder.late_chunk(text, "retrieval.passage")[0].embeddings) <= BATCH_TOLERANCE
    assert max_abs_diff(default, encoder.late_chunk(text, "retrieval.query")[0].embeddings) > 1e-3
    # One chunk of the whole text, specials included, is encode()'s mean pooling.
    whole = encoder.late_chunk(text, "retrieval.query", 32)[0]
    assert len(whole) == 1
    assert max_abs_diff(whole.embeddings, encoder.encode(text, "retrieval.query", 32)) <= TOLERANCE


def test_long_late_chunking(encoder, ref, long_text):
    ids = encoder.tokenize([long_text], "retrieval.passage")[0]
    length = len(ids)
    assert length > 300
    plain = encoder.late_chunk([long_text], chunk_tokens=7)[0]
    # One window covering the text is plain late chunking.
    covering = encoder.late_chunk([long_text], chunk_tokens=7, window=length, overlap=16)[0]
    assert covering.token_spans.tolist() == plain.token_spans.tolist()
    assert max_state_diff(covering.embeddings, plain.embeddings) <= POOLING
    # Small windows: one chunk per content token, unnormalised at full size, gives the stitched
    # outputs one per token; they equal the reference model run window by window.
    window, overlap = 48, 16
    out = encoder.late_chunk([long_text], dims=None, chunk_tokens=1, window=window, overlap=overlap,
                             normalize=False, include_special_tokens=False)[0]
    tokens = encoder.encode_tokens([long_text], "retrieval.passage")[0]
    content = [t for t, (b, _) in enumerate(tokens.offsets.tolist()) if b >= 0]
    assert out.token_spans.tolist() == [[t, t + 1] for t in content]
    stitched = []
    begin = 0
    with torch.no_grad():
        while True:
            end = min(begin + window, length)
            states = ref.hidden_states(ids[begin:end], "retrieval.passage").numpy()
            stitched.append(states if begin == 0 else states[overlap:])
            if end == length:
                break
            begin += window - overlap
    stitched = np.concatenate(stitched)
    assert stitched.shape == (length, encoder.hidden_size) and begin > 0  # more than one window
    assert max_abs_diff(out.embeddings, stitched[content]) <= TOLERANCE
    # And not what the plain pass gives (the windows see less context).
    assert max_abs_diff(out.embeddings, tokens.embeddings[content]) > 1e-3
    # Specials included, chunk_tokens=1 covers every token exactly once, in order.
    covered = encoder.late_chunk([long_text], chunk_tokens=1, window=window, overlap=overlap)[0].token_spans
    assert covered[0, 0] == 0 and covered[-1, 1] == length and (covered[1:, 0] == covered[:-1, 1]).all()


# --- bad input ---------------------------------------------------------------------------------

def raises_invalid(call, *words):
    with pytest.raises(jina3.InvalidArgumentError) as info:
        call()
    message = str(info.value)
    for word in words:
        assert word in message, f"{word!r} not in {message!r}"
    return message


def test_bad_spans(encoder):
    text = "hello world, Grüße"
    chunk = encoder.late_chunk
    raises_invalid(lambda: chunk([text], spans=[[(0, 5), (6, 99)]]), "span 1 (6, 99) of text 0", "outside",
                   "18 characters")
    raises_invalid(lambda: chunk([text], spans=[[(-1, 5)]]), "(-1, 5)", "outside")
    raises_invalid(lambda: chunk([text], spans=[[(3, 3)]]), "(3, 3)", "empty or reversed")
    raises_invalid(lambda: chunk([text], spans=[[(9, 2)]]), "(9, 2)", "empty or reversed")
    raises_invalid(lambda: chunk([text], spans=[[(5, 6)]]), "(5, 6)", "contains no token")  # the space
    raises_invalid(lambda: chunk([text, text], spans=[[(0, 5)]]), "1 lists for 2 texts")
    raises_invalid(lambda: chunk([text], spans=[[(0, 5)]], chunk_tokens=2), "at most one of")
    # A str index at the end of a non-ASCII text is its last character, not a byte.
    assert chunk([text], spans=[[(13, 18)]])[0].spans.tolist() == [[13, 18]]
    raises_invalid(lambda: chunk([text], spans=[[(13, 19)]]), "(13, 19)", "outside")
    # Bytes texts take byte offsets, and the core finds offsets inside a UTF-8 sequence.
    raw = text.encode("utf-8")
    assert chunk([raw], spans=[[(13, 20)]])[0].spans.tolist() == [[13, 20]]
    raises_invalid(lambda: chunk([raw], spans=[[(13, 21)]]), "(13, 21)", "outside", "20 bytes")
    raises_invalid(lambda: chunk([raw], spans=[[(13, 16)]]), "inside a UTF-8 sequence")
    with pytest.raises(TypeError, match=r"spans\[0\]\[0\]"):
        chunk([text], spans=[[(0, 1, 2)]])
    with pytest.raises(TypeError, match=r"spans\[0\]\[0\]\[1\] must be an int"):
        chunk([text], spans=[[(0, 1.5)]])


def test_bad_late_chunk_options(encoder):
    chunk = encoder.late_chunk
    raises_invalid(lambda: chunk(["a b c"], chunk_tokens=0), "chunk_tokens 0 is < 1")
    raises_invalid(lambda: chunk(["a b c"], chunk_tokens=-3), "chunk_tokens -3")
    raises_invalid(lambda: chunk(["a b c"], sentences=0), "sentences 0")
    raises_invalid(lambda: chunk(["a b c"], window=16, overlap=16), "overlap 16", "[0, 16)")
    raises_invalid(lambda: chunk(["a b c"], window=16, overlap=20), "overlap 20")
    raises_invalid(lambda: chunk(["a b c"], window=1), "window 1")
    raises_invalid(lambda: chunk(["a b c"], dims=12), "12")
    with pytest.raises(TypeError):
        chunk(["a b c"], task=["retrieval.passage"])


def test_bad_precision_arguments(encoder):
    x = encoder.encode(["one", "two", "three"], dims=16)
    raises_invalid(lambda: jina3.quantize(np.ones((2, 12), np.float32), "binary"), "dims 12", "multiple of 8")
    raises_invalid(lambda: jina3.quantize(np.ones((2, 12), np.float32), "ubinary"), "dims 12")
    raises_invalid(lambda: encoder.encode(["x"], dims=16, precision="int4"), '"int4"')
    raises_invalid(lambda: encoder.encode(["x"], dims=16, precision="int8", ranges=np.ones((3, 16))), "(3, 16)")
    raises_invalid(lambda: encoder.encode(["x"], dims=16, precision="int8", ranges=np.ones(16)), "(16,)")
    raises_invalid(lambda: encoder.encode(["x"], dims=16, precision="uint8", ranges=np.ones((2, 8))), "2 x 16",
                   "8 and 8")
    flat = jina3.calibration_ranges(x)
    flat[1, 5] = flat[0, 5]
    raises_invalid(lambda: encoder.encode(["x"], dims=16, precision="int8", ranges=flat), "dimension 5",
                   "max <= min")
    flat[1, 5] = flat[0, 5] - 1
    raises_invalid(lambda: jina3.quantize(x, "uint8", flat), "dimension 5")
    # Computed ranges need two distinct values in every dimension.
    raises_invalid(lambda: encoder.encode(["only one"], dims=16, precision="int8"), "dimension 0")
    raises_invalid(lambda: jina3.calibration_ranges(np.zeros((0, 16), np.float32)), "at least one row")
    raises_invalid(lambda: jina3.calibration_ranges(np.zeros(16, np.float32)), "(16,)")
    with pytest.raises(TypeError):
        encoder.encode(["x"], precision=8)
    with pytest.raises(TypeError):
        jina3.quantize(["a", "b"], "int8")
    # An iterable is not read when the precision arguments are wrong.
    read = []

    def texts():
        read.append(1)
        yield "x"

    raises_invalid(lambda: encoder.encode(texts(), dims=16, precision="int8", ranges=np.ones((2, 8))), "2 x 16")
    raises_invalid(lambda: encoder.encode(texts(), dims=16, precision="int4"), "int4")
    assert read == []


# --- README ------------------------------------------------------------------------------------

def test_readme_examples_of_outputs_run(tmp_path):
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    blocks = [body for lang, body in re.findall(r"^```(\w*)\n(.*?)^```", readme, re.S | re.M)
              if lang == "python" and ("late_chunk(" in body or "precision=" in body)]
    assert any("late_chunk(" in b for b in blocks) and any("precision=" in b for b in blocks)
    for k, body in enumerate(blocks):
        assert "/path/to/package" in body, body
        script = tmp_path / f"example_{k}.py"
        script.write_text(body.replace("/path/to/package", str(package_dir("float32"))), encoding="utf-8")
        result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, f"README block {k} failed:\n{body}\n{result.stderr[-3000:]}"
        assert result.stdout.strip(), f"README block {k} printed nothing"
