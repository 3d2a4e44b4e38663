"""Special-token text ("<s>", "</s>", "<unk>", "<pad>", "<mask>" inside a text) through the Python
module: the ids of Hugging Face's fast tokenizer with the model's tokenizer.json, as Jina's
reference tokenises (sentence-transformers strips the text first), and split_special_tokens=True
for the plain-text ids that sentencepiece alone gives.

The expected ids were produced by the tokenizers library itself (its Node.js binding, tokenizers
0.23.2 from npm, the same Rust code as the Python wheel) with the XLM-R tokenizer.json of
shared/data/xlmr and <mask>'s lstrip set to true, as jina-embeddings-v3's tokenizer.json has it.
How it gets there (tokenizers' AddedVocabulary and Metaspace pre-tokenizer): the added tokens are
found in the raw text first (not normalized); <mask> with lstrip also takes the whitespace before
it; each piece of text between them is normalised and pre-tokenised on its own, so it gets a
leading "▁" and whitespace at its end stays as a lone "▁" (id 6).
"""

import numpy as np
import pytest

import jina3
from jina3.testing.paths import xlmr_spm_model

pytest_plugins = ("encoder_support",)  # fixtures: encoder

CASES = [
    # (text, ids, why)
    ("<unk>", [0, 3, 2], "the issue's example: <unk>'s id, not 4426 3678 2740"),
    ("<s>struck</s> text", [0, 0, 91, 173964, 2, 7986, 2], "HTML strikethrough"),
    ("a <s> b", [0, 10, 6, 0, 876, 2], "the space before <s> (no lstrip) is a lone ▁"),
    ("a <mask> b", [0, 10, 250001, 876, 2], "<mask> has lstrip: no ▁ before it"),
    ("x<s>y", [0, 1022, 0, 113, 2], "both sides are words: ▁x, ▁y"),
    ("a <pad><mask> z", [0, 10, 6, 1, 250001, 97, 2], "lstrip does not reach past <pad>"),
    ("<s> </s>", [0, 0, 6, 2, 2], "only whitespace between two tokens: one ▁"),
    ("  <mask>  ", [0, 250001, 2], "stripped first: nothing around <mask>"),
    ("日本<s>語", [0, 34891, 0, 6, 9089, 2], "語 after <s> gets a ▁, a piece of its own"),
    ("a\u200b<s>", [0, 10, 6, 0, 2], "U+200B normalises to a space"),
    ("<S> <s >", [0, 4426, 294, 2740, 4426, 7, 977, 2], "not special-token text"),
    ("Paris is the <mask> of France.", [0, 7270, 83, 70, 250001, 111, 9942, 5, 2], "fill-mask"),
]


@pytest.fixture(scope="module")
def sp():
    import sentencepiece

    return sentencepiece.SentencePieceProcessor(model_file=str(xlmr_spm_model()))


def plain_ids(sp, text):
    """sentencepiece's ids of the whole text in XLM-R's layout (the plain-text expectation)."""
    return [0] + [3 if i == sp.unk_id() else i + 1 for i in sp.encode(text)] + [2]


def test_tokenize_gives_the_fast_tokenizers_ids(encoder):
    got = encoder.tokenize([text for text, _, _ in CASES])
    for (text, want, why), ids in zip(CASES, got):
        assert list(ids) == want, f"{text!r}: {why}"


def test_split_special_tokens_keeps_plain_text(encoder, sp):
    texts = [text for text, _, _ in CASES]
    got = encoder.tokenize(texts, split_special_tokens=True)
    assert list(got[0]) == [0, 4426, 3678, 2740, 2]
    for (text, want, _), ids in zip(CASES, got):
        assert list(ids) == plain_ids(sp, text), text
        has_special = any(i <= 3 or i == 250001 for i in want[1:-1])
        assert (list(ids) != want) == has_special, text  # "<S> <s >" is plain text either way
    # False is the default.
    assert encoder.tokenize(texts, split_special_tokens=False) == encoder.tokenize(texts)


def test_every_python_entry_point_gives_the_same_ids(encoder):
    texts = [text for text, _, _ in CASES]
    for plain in (False, True):
        ids = encoder.tokenize(texts, "retrieval.query", split_special_tokens=plain)
        tokens = encoder.encode_tokens(texts, "retrieval.query", split_special_tokens=plain)
        for text, want, out in zip(texts, ids, tokens):
            assert list(out.ids) == list(want), (text, plain)
    # And encode pools exactly those tokens: the mean of encode_tokens' states, normalised.
    for plain in (False, True):
        out = encoder.encode_tokens(["a <mask> b"], "text-matching", split_special_tokens=plain)[0]
        mean = np.asarray(out.embeddings, dtype=np.float64).mean(axis=0)
        pooled = encoder.encode(["a <mask> b"], "text-matching", split_special_tokens=plain)[0]
        assert np.max(np.abs(pooled - mean / np.linalg.norm(mean))) < 1e-5
    special = encoder.encode(["a <mask> b"], "text-matching")
    plain = encoder.encode(["a <mask> b"], "text-matching", split_special_tokens=True)
    assert not np.array_equal(special, plain)


def test_offsets_cover_the_special_token_text(encoder):
    def pieces(text, **options):
        out = encoder.encode_tokens([text], **options)[0]
        return [text[b:e] if b >= 0 else None for b, e in out.offsets.tolist()]

    # str indices: <s> is the whole "<s>", the lone ▁ before it an empty range, <mask> without
    # the space its lstrip takes.
    assert pieces("a <s> b") == [None, "a", "", "<s>", "b", None]
    assert pieces("a <mask> b") == [None, "a", "<mask>", "b", None]
    assert pieces("日本<s>語") == [None, "日本", "<s>", "", "語", None]
    out = encoder.encode_tokens(["日本<s>語"])[0]
    assert out.offsets.tolist()[2:4] == [[2, 5], [5, 5]]
    assert pieces("<unk>", split_special_tokens=True) == [None, "<", "unk", ">", None]


def test_late_chunk_spans_over_special_tokens(encoder):
    text = "keep <s>gone</s> rest"
    # Tokens: <s>, ▁keep, ▁ (empty at 5), <s>, ▁gone, </s>, ▁rest, </s>.
    assert len(encoder.tokenize([text])[0]) == 8
    assert encoder.tokenize([text])[0][2:6] == [6, 0, encoder.tokenize(["gone"])[0][1], 2]
    # "separation" has no prompt, so the token indices are the ones above.
    chunks = encoder.late_chunk([text], "separation", spans=[[(0, 4), (5, 8), (8, 12), (12, 16), (17, 21)]],
                                include_special_tokens=False)[0]
    assert chunks.token_spans.tolist() == [[1, 2], [2, 4], [4, 5], [5, 6], [6, 7]]
    by_tokens = encoder.late_chunk([text], "separation", chunk_tokens=2, include_special_tokens=False)[0]
    assert by_tokens.token_spans.tolist() == [[1, 3], [3, 5], [5, 7]]
    assert by_tokens.spans.tolist() == [[0, 5], [5, 12], [12, 21]]


def test_split_special_tokens_is_part_of_the_cache_key():
    from encoder_support import package_dir

    cached = jina3.Encoder(package_dir("float32"), cache_bytes=1 << 20)
    uncached = jina3.Encoder(package_dir("float32"))
    texts = ["<s>struck</s> text"]
    for _ in range(2):  # the second round is served from the cache
        special = cached.encode(texts, "retrieval.passage")
        plain = cached.encode(texts, "retrieval.passage", split_special_tokens=True)
        assert np.array_equal(special, uncached.encode(texts, "retrieval.passage"))
        assert np.array_equal(plain, uncached.encode(texts, "retrieval.passage", split_special_tokens=True))
        assert not np.array_equal(special, plain)
