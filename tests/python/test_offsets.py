"""The expected token offsets of the test data (jina3.testing.testdata.hf_offsets: byte offsets from
sentencepiece's serialized pieces, trimmed as Hugging Face's fast tokenizers trim them), checked
against a second path through sentencepiece's python API: encode(out_type="immutable_proto"), whose
pieces carry str indices. cpp.tokenizer compares the C++ offsets with the same expectations.

Not yet here: jina3's own Python offsets (encode_tokens is not bound yet); once it is, compare them
with the str-index offsets below."""

from pathlib import Path

import pytest

from jina3.testing import testdata
from jina3.testing.paths import xlmr_spm_model

WHITESPACE = "".join(testdata._HF_WHITESPACE)
QUERY_PROMPT = "Represent the query for retrieving evidence documents: "
LINES_FILE = Path(__file__).resolve().parents[1] / "data" / "multilingual.txt"


@pytest.fixture(scope="module")
def sp():
    import sentencepiece

    return sentencepiece.SentencePieceProcessor(model_file=str(xlmr_spm_model()))


def str_offsets(sp, prompt: str, text: str):
    """(begin, end) str indices into text per token, from the immutable proto's str indices."""
    out = [(-1, -1)]
    base = len(prompt)
    for piece in sp.encode(prompt + text, out_type="immutable_proto").pieces:
        begin, end = piece.begin, max(piece.end, piece.begin)
        if base > 0 and end <= base:
            out.append((-1, -1))
            continue
        begin = max(begin, base)
        surface = (prompt + text)[begin:end]
        begin += len(surface) - len(surface.lstrip(WHITESPACE))
        end = max(begin, end - (len(surface) - len(surface.rstrip(WHITESPACE))))
        out.append((begin - base, end - base))
    return out + [(-1, -1)]


def as_str_indices(text: str, flat):
    """Byte offsets (flat begin, end, ...) into text's UTF-8 as str indices."""
    index_of_byte = {}
    position = 0
    for i, ch in enumerate(text):
        index_of_byte[position] = i
        position += len(ch.encode("utf-8"))
    index_of_byte[position] = len(text)
    pairs = []
    for begin, end in zip(flat[::2], flat[1::2]):
        if begin < 0:
            pairs.append((begin, end))
        else:
            assert begin in index_of_byte and end in index_of_byte, f"({begin}, {end}) inside a UTF-8 sequence"
            pairs.append((index_of_byte[begin], index_of_byte[end]))
    return pairs


def test_by_hand(sp):
    assert as_str_indices("  Hello  world.\n", testdata.hf_offsets(sp, "", "  Hello  world.\n")) == [
        (-1, -1), (2, 7), (9, 14), (14, 15), (-1, -1)]
    # The lone "▁" before a first character that has no "▁x" piece is the text's: an empty range at 0.
    assert testdata.hf_offsets(sp, "", "Ёлка")[:6] == [-1, -1, 0, 0, 0, 2]
    # With a prompt, its tokens are (-1, -1) and the text's start after it.
    offsets = testdata.hf_offsets(sp, QUERY_PROMPT, "Hi there")
    assert offsets[-6:] == [0, 2, 3, 8, -1, -1]
    assert set(offsets[:-6]) == {-1}
    # Unicode separators are trimmed like spaces.
    assert testdata.hf_offsets(sp, "", "line\u2028sep")[2:6] == [0, 4, 7, 10]


def test_both_sentencepiece_paths_agree(sp):
    lines = LINES_FILE.read_text(encoding="utf-8").split("\n")
    assert len(lines) > 1000
    checked = 0
    for text in testdata.OFFSET_TEXTS + lines:
        for prompt in ("", QUERY_PROMPT):
            # sentencepiece's own path reads special-token text as plain text.
            flat = testdata.hf_offsets(sp, prompt, text, split_special_tokens=True)
            ids = sp.encode(prompt + text)
            assert len(flat) == 2 * (len(ids) + 2), text
            assert as_str_indices(text, flat) == str_offsets(sp, prompt, text), text
            checked += 1
    assert checked == 2 * (len(testdata.OFFSET_TEXTS) + len(lines))
