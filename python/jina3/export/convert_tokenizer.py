"""tokenizer.json (Hugging Face Unigram, XLM-R layout) -> sentencepiece ModelProto bytes.

jina-embeddings-v3 ships no sentencepiece model, only tokenizer.json. Its vocabulary is XLM-R's in
fairseq order: entries 0..3 are <s>, <pad>, </s>, <unk>; entries 4..N-2 are the sentencepiece
pieces 3..N-3; the last entry is <mask>. The sentencepiece model therefore holds <unk> (0,
UNKNOWN), <s> (1, CONTROL), </s> (2, CONTROL) and the ordinary pieces, so that
model id = sentencepiece id + 1 (SPM_ID_OFFSET) with sentencepiece <unk> -> the json's unk_id.

The normaliser is the json's Precompiled charsmap (nmt_nfkc) with sentencepiece's own
add_dummy_prefix, remove_extra_whitespaces and escape_whitespaces, which is what the json's
Replace(" {2,}" -> " ") and Metaspace pre-tokeniser express.

The ModelProto is built with Debian's python3-protobuf and the sentencepiece_model_pb2 module that
python3-sentencepiece ships; both load next to torch (python3-protobuf uses the same libprotobuf
as LibTorch).

    python3 -m jina3.export.convert_tokenizer tokenizer.json tokenizer.model
"""

import base64
import binascii
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Tuple, Union

from .errors import ProtobufError, TokenizerConversionError

try:
    from google.protobuf.message import DecodeError
    from sentencepiece import sentencepiece_model_pb2 as spm_pb2
except ImportError as exc:  # pragma: no cover - a broken install, not a code path
    raise ImportError(f"jina3.export.convert_tokenizer needs python3-protobuf and python3-sentencepiece ({exc}); "
                      "run scripts/install-deps.sh") from exc

SPM_ID_OFFSET = 1
JSON_SPECIALS = ("<s>", "<pad>", "</s>", "<unk>")  # json ids 0..3
MASK_PIECE = "<mask>"

# sentencepiece.proto enums and field numbers used here.
PIECE_NORMAL, PIECE_UNKNOWN, PIECE_CONTROL = 1, 2, 3
MODEL_TYPE_UNIGRAM = 1


@dataclass
class ConvertedTokenizer:
    model_proto: bytes
    special_ids: Dict[str, int]  # model ids: bos, pad, eos, unk, mask
    spm_id_offset: int
    vocab_size: int  # model vocabulary (json entries)
    spm_piece_count: int


def _fail(source: str, what: str) -> TokenizerConversionError:
    return TokenizerConversionError(f"{source}: {what}")


def _find_charsmap(normalizer, source: str) -> bytes:
    """The Precompiled charsmap, directly or inside a Sequence."""
    if not isinstance(normalizer, dict):
        raise _fail(source, "has no normalizer object (expected Precompiled, possibly inside a Sequence)")
    kind = normalizer.get("type")
    candidates = normalizer.get("normalizers", []) if kind == "Sequence" else [normalizer]
    found = []
    for item in candidates:
        if not isinstance(item, dict):
            continue
        if item.get("type") == "Precompiled":
            found.append(item)
        elif item.get("type") == "Replace":
            pattern = item.get("pattern", {})
            # XLM-R's collapse of space runs; sentencepiece's remove_extra_whitespaces does the same.
            if pattern != {"Regex": " {2,}"} or item.get("content") != " ":
                raise _fail(source, f"normalizer Replace {json.dumps(item)} is not the XLM-R space collapse; "
                                    "sentencepiece cannot express it")
        else:
            raise _fail(source, f"normalizer of type {item.get('type')!r} has no sentencepiece equivalent")
    if len(found) != 1:
        raise _fail(source, "normalizer must contain exactly one Precompiled charsmap (the nmt_nfkc rules)")
    encoded = found[0].get("precompiled_charsmap")
    if not isinstance(encoded, str) or not encoded:
        raise _fail(source, "Precompiled normalizer has no precompiled_charsmap")
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise _fail(source, f"precompiled_charsmap is not valid base64 ({exc})") from None


def _check_pre_tokenizer(pre, source: str) -> None:
    """Metaspace with "▁" and a prefix space, i.e. sentencepiece's escape + add_dummy_prefix."""
    items = pre.get("pretokenizers", []) if isinstance(pre, dict) and pre.get("type") == "Sequence" else [pre]
    metas = [p for p in items if isinstance(p, dict) and p.get("type") == "Metaspace"]
    if len(metas) != 1 or len(items) != 1:
        raise _fail(source, f"pre_tokenizer must be a single Metaspace, not {json.dumps(pre)[:200]}")
    meta = metas[0]
    if meta.get("replacement") != "\u2581":
        raise _fail(source, f"Metaspace replacement must be '\u2581', not {meta.get('replacement')!r}")
    # Older files say add_prefix_space, newer ones prepend_scheme.
    prefix = meta.get("add_prefix_space", meta.get("prepend_scheme") in ("always", "first"))
    if prefix is not True:
        raise _fail(source, "Metaspace must add a prefix space (add_dummy_prefix); this one does not")


def _read_json(path: Union[str, os.PathLike]) -> Tuple[dict, str]:
    source = str(path)
    try:
        with open(path, "rb") as f:
            data = json.loads(f.read().decode("utf-8"))
    except FileNotFoundError:
        raise _fail(source, "no such file") from None
    except OSError as exc:
        raise _fail(source, f"cannot read: {exc}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _fail(source, f"not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise _fail(source, "must hold a JSON object")
    return data, source


def _vocab(data: dict, source: str) -> List[Tuple[str, float]]:
    model = data.get("model")
    if not isinstance(model, dict):
        raise _fail(source, "key 'model' is missing or not an object")
    if model.get("type") != "Unigram":
        raise _fail(source, f"model.type is {model.get('type')!r}; only 'Unigram' is supported")
    if model.get("byte_fallback"):
        raise _fail(source, "model.byte_fallback is set; the XLM-R tokenizer does not use it and jina3 does not "
                            "support it")
    vocab = model.get("vocab")
    if not isinstance(vocab, list) or len(vocab) < len(JSON_SPECIALS) + 2:
        raise _fail(source, "model.vocab must be a list of [piece, score] entries")
    out = []
    for i, entry in enumerate(vocab):
        if (not isinstance(entry, list) or len(entry) != 2 or not isinstance(entry[0], str)
                or isinstance(entry[1], bool) or not isinstance(entry[1], (int, float))):
            raise _fail(source, f"model.vocab[{i}] must be [piece, score], not {json.dumps(entry)[:100]}")
        if not entry[0]:
            raise _fail(source, f"model.vocab[{i}] has an empty piece")
        out.append((entry[0], float(entry[1])))
    unk_id = model.get("unk_id")
    if unk_id != JSON_SPECIALS.index("<unk>"):
        raise _fail(source, f"model.unk_id is {unk_id!r}; the XLM-R layout has <unk> at 3")
    head = tuple(piece for piece, _ in out[:len(JSON_SPECIALS)])
    if head != JSON_SPECIALS:
        raise _fail(source, f"model.vocab starts with {list(head)}, expected {list(JSON_SPECIALS)} (XLM-R layout)")
    if out[-1][0] != MASK_PIECE:
        raise _fail(source, f"model.vocab ends with {out[-1][0]!r}, expected {MASK_PIECE!r} (XLM-R layout)")
    return out


def _add_piece(model, piece: str, score: float, piece_type: int) -> None:
    entry = model.pieces.add()
    entry.piece = piece
    entry.score = score  # a float field: protobuf rounds the json's float64 to float32, as sentencepiece stores it
    if piece_type != PIECE_NORMAL:  # NORMAL is the proto default; sentencepiece itself leaves it unset
        entry.type = piece_type


def convert(path: Union[str, os.PathLike]) -> ConvertedTokenizer:
    """Reads and validates tokenizer.json; returns the sentencepiece model and the id layout."""
    data, source = _read_json(path)
    vocab = _vocab(data, source)
    charsmap = _find_charsmap(data.get("normalizer"), source)
    _check_pre_tokenizer(data.get("pre_tokenizer"), source)

    ordinary = vocab[len(JSON_SPECIALS):-1]  # sentencepiece pieces 3..
    seen = set(JSON_SPECIALS) | {MASK_PIECE}
    for offset, (piece, score) in enumerate(ordinary):
        if piece in seen:
            raise _fail(source, f"model.vocab[{offset + len(JSON_SPECIALS)}] repeats the piece {piece!r}")
        seen.add(piece)
        if not score <= 0.0 or score != score:
            raise _fail(source, f"model.vocab[{offset + len(JSON_SPECIALS)}] has score {score}; Unigram scores "
                                "are log probabilities (<= 0)")

    model = spm_pb2.ModelProto()
    for piece, piece_type in (("<unk>", PIECE_UNKNOWN), ("<s>", PIECE_CONTROL), ("</s>", PIECE_CONTROL)):
        _add_piece(model, piece, 0.0, piece_type)
    for piece, score in ordinary:
        _add_piece(model, piece, score, PIECE_NORMAL)
    spm_count = 3 + len(ordinary)

    trainer = model.trainer_spec
    trainer.model_type = MODEL_TYPE_UNIGRAM
    trainer.vocab_size = spm_count
    trainer.unk_id, trainer.bos_id, trainer.eos_id, trainer.pad_id = 0, 1, 2, -1
    normalizer = model.normalizer_spec
    normalizer.name = "nmt_nfkc"
    normalizer.precompiled_charsmap = charsmap
    # Their defaults are true as well; set, they are written out, as sentencepiece's own models have them.
    normalizer.add_dummy_prefix = normalizer.remove_extra_whitespaces = normalizer.escape_whitespaces = True
    proto = model.SerializeToString()

    ids = {piece: i for i, (piece, _) in enumerate(vocab[:len(JSON_SPECIALS)])}
    special_ids = {"bos": ids["<s>"], "pad": ids["<pad>"], "eos": ids["</s>"], "unk": ids["<unk>"],
                   "mask": len(vocab) - 1}
    return ConvertedTokenizer(proto, special_ids, SPM_ID_OFFSET, len(vocab), spm_count)


# --- reading a ModelProto back (tests and diagnostics) ------------------------------------------


@dataclass
class ParsedModel:
    pieces: List[Tuple[str, float, int]]  # (piece, score, type)
    trainer: Dict[int, list]  # field number -> values of the fields that are set
    normalizer: Dict[str, object]  # name, precompiled_charsmap, add_dummy_prefix, ... (defaults applied)


NORMALIZER_FIELDS = ("name", "precompiled_charsmap", "add_dummy_prefix", "remove_extra_whitespaces",
                     "escape_whitespaces", "normalization_rule_tsv")


def parse_model_proto(data: bytes) -> ParsedModel:
    """Decodes the parts of a sentencepiece ModelProto that jina3 writes. Raises ProtobufError."""
    model = spm_pb2.ModelProto()
    try:
        model.ParseFromString(bytes(data))
    except DecodeError as exc:
        raise ProtobufError(f"not a sentencepiece ModelProto: {exc}") from None
    pieces = [(p.piece, p.score, p.type) for p in model.pieces]
    trainer = {field.number: list(value) if field.label == field.LABEL_REPEATED else [value]
               for field, value in model.trainer_spec.ListFields()}
    normalizer = {name: getattr(model.normalizer_spec, name) for name in NORMALIZER_FIELDS}
    return ParsedModel(pieces, trainer, normalizer)


def main(argv: Optional[List[str]] = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python3 -m jina3.export.convert_tokenizer",
                                     description="Convert an XLM-R tokenizer.json to a sentencepiece model.")
    parser.add_argument("tokenizer_json")
    parser.add_argument("output_model")
    args = parser.parse_args(argv)
    try:
        converted = convert(args.tokenizer_json)
        Path(args.output_model).write_bytes(converted.model_proto)
    except (TokenizerConversionError, ProtobufError, OSError) as exc:
        print(f"convert_tokenizer: error: {exc}", file=sys.stderr)
        return 1
    print(f"{args.output_model}: {converted.spm_piece_count} pieces, id offset {converted.spm_id_offset}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
