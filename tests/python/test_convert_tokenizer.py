"""tokenizer.json -> sentencepiece model: equal to the REAL XLM-R sentencepiece.bpe.model in pieces,
scores and normaliser, and equal ids on a multilingual corpus."""

import copy
import json
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest
import sentencepiece

from jina3.export.convert_tokenizer import (PIECE_CONTROL, PIECE_NORMAL, PIECE_UNKNOWN, convert, parse_model_proto)
from jina3.export.errors import ProtobufError, TokenizerConversionError
from jina3.testing.paths import xlmr_spm_model, xlmr_tokenizer_json

CORPUS = Path(__file__).resolve().parents[1] / "data" / "multilingual.txt"


@pytest.fixture(scope="module")
def converted():
    return convert(xlmr_tokenizer_json())


@pytest.fixture(scope="module")
def real_bytes():
    return xlmr_spm_model().read_bytes()


@pytest.fixture(scope="module")
def processors(converted):
    ours = sentencepiece.SentencePieceProcessor(model_proto=converted.model_proto)
    real = sentencepiece.SentencePieceProcessor(model_file=str(xlmr_spm_model()))
    return ours, real


def corpus_lines():
    # Split on "\n" only: lines hold other line-breaking characters (U+0085, U+2028, ...) on purpose.
    text = CORPUS.read_text(encoding="utf-8")
    lines = text.split("\n")
    assert lines[-1] == ""
    return lines[:-1]


def test_pieces_scores_and_types_equal_the_real_model(converted, real_bytes):
    ours, real = parse_model_proto(converted.model_proto), parse_model_proto(real_bytes)
    assert len(ours.pieces) == len(real.pieces) == 250000
    assert ours.pieces[:3] == [("<unk>", 0.0, PIECE_UNKNOWN), ("<s>", 0.0, PIECE_CONTROL), ("</s>", 0.0, PIECE_CONTROL)]
    mismatches = [i for i, (a, b) in enumerate(zip(ours.pieces, real.pieces)) if a != b]
    assert mismatches == []
    assert all(kind == PIECE_NORMAL for _, _, kind in ours.pieces[3:])


def test_normalizer_spec_equals_the_real_model(converted, real_bytes):
    ours, real = parse_model_proto(converted.model_proto), parse_model_proto(real_bytes)
    assert ours.normalizer == real.normalizer
    assert ours.normalizer["name"] == "nmt_nfkc"
    assert len(ours.normalizer["precompiled_charsmap"]) == 237539
    assert ours.normalizer["add_dummy_prefix"] and ours.normalizer["remove_extra_whitespaces"]
    assert ours.normalizer["escape_whitespaces"]


def test_trainer_spec(converted):
    trainer = parse_model_proto(converted.model_proto).trainer
    assert trainer[3] == [1]  # model_type UNIGRAM
    assert trainer[4] == [250000]  # vocab_size
    assert (trainer[40], trainer[41], trainer[42], trainer[43]) == ([0], [1], [2], [-1])  # unk, bos, eos, pad


def test_processor_view_of_every_piece(processors):
    # The same comparison through sentencepiece itself, over all 250,000 ids.
    ours, real = processors
    assert ours.get_piece_size() == real.get_piece_size() == 250000
    assert (ours.unk_id(), ours.bos_id(), ours.eos_id(), ours.pad_id()) == (0, 1, 2, -1)
    for i in range(250000):
        if (ours.id_to_piece(i) != real.id_to_piece(i) or ours.get_score(i) != real.get_score(i)
                or ours.is_control(i) != real.is_control(i) or ours.is_unknown(i) != real.is_unknown(i)):
            pytest.fail(f"id {i}: {ours.id_to_piece(i)!r} {ours.get_score(i)} vs {real.id_to_piece(i)!r} "
                        f"{real.get_score(i)}")


def test_corpus_covers_many_scripts():
    lines = corpus_lines()
    assert len(lines) >= 1000
    text = "\n".join(lines)
    names = {unicodedata.name(c, "").split(" ")[0] for c in text}
    for script in ("LATIN", "CYRILLIC", "GREEK", "ARABIC", "HEBREW", "DEVANAGARI", "THAI", "CJK", "HANGUL",
                   "HIRAGANA", "KATAKANA", "FULLWIDTH", "ARMENIAN", "GEORGIAN", "BENGALI", "TAMIL", "ETHIOPIC"):
        assert script in names, script
    assert any(unicodedata.combining(c) for c in text)
    assert any(0x1F300 <= ord(c) <= 0x1FAFF for c in text)  # emoji
    assert any(c in text for c in "\t\u00a0\u3000\u2003")  # odd whitespace
    assert "https://" in text and "def " in text


def test_converted_model_tokenizes_like_the_real_one(processors):
    ours, real = processors
    lines = corpus_lines()
    disagreements = [(line, ours.encode(line), real.encode(line)) for line in lines
                     if ours.encode(line) != real.encode(line)]
    agree = len(lines) - len(disagreements)
    print(f"tokenizer agreement: {agree}/{len(lines)} lines")
    assert disagreements == []
    # The corpus exercises unknown pieces too (ids the model maps to <unk>).
    assert sum(0 in real.encode(line) for line in lines) > 10


def test_known_xlmr_ids(processors, converted):
    ours, _ = processors
    offset = converted.spm_id_offset
    ids = [0] + [i + offset if i else converted.special_ids["unk"] for i in ours.encode("Hello World!")] + [2]
    assert ids == [0, 35378, 6661, 38, 2]
    assert converted.special_ids == {"bos": 0, "pad": 1, "eos": 2, "unk": 3, "mask": 250001}
    assert converted.vocab_size == 250002 and offset == 1


# --- validation -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_json():
    """The real tokenizer.json with its vocabulary cut to 200 pieces (fast to convert)."""
    data = json.loads(xlmr_tokenizer_json().read_text(encoding="utf-8"))
    vocab = data["model"]["vocab"]
    data["model"]["vocab"] = vocab[:204] + [vocab[-1]]
    return data


def write(tmp_path, data, name="tokenizer.json"):
    path = tmp_path / name
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_small_vocabulary_converts_and_loads(tmp_path, small_json):
    result = convert(write(tmp_path, small_json))
    assert result.spm_piece_count == 203 and result.special_ids["mask"] == 204
    sp = sentencepiece.SentencePieceProcessor(model_proto=result.model_proto)
    assert sp.get_piece_size() == 203
    assert sp.id_to_piece(3) == small_json["model"]["vocab"][4][0]


def test_newer_metaspace_and_plain_precompiled_are_accepted(tmp_path, small_json):
    data = copy.deepcopy(small_json)
    data["pre_tokenizer"] = {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always", "split": True}
    data["normalizer"] = data["normalizer"]["normalizers"][0]
    assert convert(write(tmp_path, data)).spm_piece_count == 203


def _mutations():
    def model_type(d): d["model"]["type"] = "BPE"
    def unk_id(d): d["model"]["unk_id"] = 0
    def byte_fallback(d): d["model"]["byte_fallback"] = True
    def no_charsmap(d): del d["normalizer"]["normalizers"][0]["precompiled_charsmap"]
    def bad_base64(d): d["normalizer"]["normalizers"][0]["precompiled_charsmap"] = "!!!not base64!!!"
    def no_normalizer(d): d["normalizer"] = None
    def odd_normalizer(d): d["normalizer"]["normalizers"].append({"type": "Lowercase"})
    def odd_replace(d): d["normalizer"]["normalizers"][1]["content"] = "_"
    def layout(d): d["model"]["vocab"][0], d["model"]["vocab"][1] = d["model"]["vocab"][1], d["model"]["vocab"][0]
    def no_mask(d): d["model"]["vocab"].pop()
    def bad_entry(d): d["model"]["vocab"][10] = ["x"]
    def positive_score(d): d["model"]["vocab"][10][1] = 0.5
    def duplicate(d): d["model"]["vocab"][11][0] = d["model"]["vocab"][10][0]
    def no_prefix(d): d["pre_tokenizer"]["add_prefix_space"] = False
    def bytelevel(d): d["pre_tokenizer"] = {"type": "ByteLevel"}
    def no_model(d): del d["model"]
    return [
        (model_type, "only 'Unigram'"), (unk_id, "unk_id"), (byte_fallback, "byte_fallback"),
        (no_charsmap, "no precompiled_charsmap"), (bad_base64, "not valid base64"),
        (no_normalizer, "no normalizer"), (odd_normalizer, "'Lowercase'"), (odd_replace, "space collapse"),
        (layout, "XLM-R layout"), (no_mask, "<mask>"), (bad_entry, r"model.vocab\[10\]"),
        (positive_score, r"model.vocab\[10\] has score"), (duplicate, r"model.vocab\[11\] repeats"),
        (no_prefix, "prefix space"), (bytelevel, "single Metaspace"), (no_model, "'model'"),
    ]


@pytest.mark.parametrize("mutate, message", _mutations(), ids=lambda x: getattr(x, "__name__", ""))
def test_invalid_tokenizer_json_is_reported(tmp_path, small_json, mutate, message):
    data = copy.deepcopy(small_json)
    mutate(data)
    path = write(tmp_path, data)
    with pytest.raises(TokenizerConversionError, match=message) as info:
        convert(path)
    assert str(path) in str(info.value)


def test_unreadable_files(tmp_path):
    with pytest.raises(TokenizerConversionError, match="no such file"):
        convert(tmp_path / "absent.json")
    (tmp_path / "broken.json").write_text("{")
    with pytest.raises(TokenizerConversionError, match="not valid JSON"):
        convert(tmp_path / "broken.json")


def test_cli(tmp_path, small_json):
    source = write(tmp_path, small_json)
    out = tmp_path / "out.model"
    result = subprocess.run([sys.executable, "-m", "jina3.export.convert_tokenizer", str(source), str(out)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert out.read_bytes() == convert(source).model_proto
    result = subprocess.run([sys.executable, "-m", "jina3.export.convert_tokenizer", str(tmp_path / "x.json"),
                             str(out)], capture_output=True, text=True)
    assert result.returncode == 1 and "x.json" in result.stderr


# --- reading models back (python3-protobuf) ------------------------------------------------------


def test_model_bytes_round_trip_through_protobuf(converted):
    # Parsing and writing again gives the same bytes: nothing jina3 writes is lost or reordered.
    from sentencepiece import sentencepiece_model_pb2
    model = sentencepiece_model_pb2.ModelProto()
    model.ParseFromString(converted.model_proto)
    assert model.SerializeToString() == converted.model_proto
    assert model.trainer_spec.pad_id == -1  # a negative int32: a ten-byte varint on the wire


def test_malformed_model_bytes_are_protobuf_errors():
    for data in (b"\x08\x80", b"\x0a\x05ab", b"\x0b", b"\x0a\x03\x0a\x01"):
        with pytest.raises(ProtobufError, match="not a sentencepiece ModelProto"):
            parse_model_proto(data)
