#!/usr/bin/env python3
"""Writes the seed corpora of the libFuzzer targets (tests/fuzz/corpus/<target>/), in the input
layouts their sources describe. The seeds are committed; run this again after changing a layout:

    /usr/bin/python3 tests/fuzz/make_seeds.py
"""

import hashlib
import json
import shutil
import struct
from pathlib import Path

HERE = Path(__file__).resolve().parent

# fuzz_manifest's scratch package files (kBackbone, kTokenizer in fuzz_manifest.cpp).
BACKBONE = b"jina3 fuzz_manifest backbone.pt: not a TorchScript archive, 64B\n"
TOKENIZER = b"jina3 fuzz_manifest tokenizer:\n\n"
TASKS = ["retrieval.query", "retrieval.passage", "separation", "classification", "text-matching"]


def utf8_tokenizer():
    texts = {
        "ascii": b"The quick brown fox jumps over the lazy dog.",
        "multilingual": "Größe, 日本語のテキスト, Привет мир, مرحبا, नमस्ते, 😀 emoji.".encode(),
        "whitespace": "  tabs\tand\nnew lines\u00a0nbsp\u3000ideographic\u2002en\u202fnarrow\u205fmath  ".encode(),
        "nfkc": "ﬁ ligature, ＡＢＣ full width, ① circled, ｶﾀｶﾅ half width, é vs e\u0301".encode(),
        "specials": b"<s> <mask> </s> <pad> <unk> literal",
        "empty": b"",
        "overlong": b"ok \xc0\x80 then",
        "surrogate": b"ok \xed\xa0\x80 then",
        "above_max": b"ok \xf4\x90\x80\x80 then",
        "truncated": b"ok \xe2\x82",
        "continuation": b"\x80 lone",
        "f5": b"\xf5\x80\x80\x80",
        "e0_overlong": b"\xe0\x80\xaf",
        "f0_overlong": b"\xf0\x80\x80\xaf",
        "max_scalar": "\U0010ffff \ud7ff \ue000".encode("utf-8", "surrogatepass"),
    }
    seeds = {}
    for i, (name, text) in enumerate(texts.items()):
        seeds[name] = bytes([i * 37 % 256]) + text
    return seeds


def manifest(**changes):
    m = {
        "format": "jina3.package", "format_version": 2, "model_name": "jina-embeddings-v3",
        "jina3_version": "0.1.0", "torch_version": "1.13.0a0", "dtype": "float32", "jina3_kernels": True,
        "hidden_size": 64, "num_layers": 2, "num_heads": 4, "intermediate_size": 128, "vocab_size": 250002,
        "tasks": TASKS,
        "prompts": {t: ("Represent the query: " if t == "retrieval.query" else "") for t in TASKS},
        "matryoshka_dims": [8, 16, 32, 64], "max_length": 8194,
        "special_ids": {"bos": 0, "pad": 1, "eos": 2, "unk": 3, "mask": 250001}, "spm_id_offset": 1,
        "files": {
            "backbone.pt": {"sha256": hashlib.sha256(BACKBONE).hexdigest(), "size": len(BACKBONE)},
            "tokenizer.model": {"sha256": hashlib.sha256(TOKENIZER).hexdigest(), "size": len(TOKENIZER)},
        },
    }
    m.update(changes)
    return json.dumps(m, separators=(",", ":")).encode()


def manifest_seeds():
    good = manifest()
    return {
        "load_verify": bytes([0x03, 0]) + good,
        "load_no_verify_check": bytes([0x05, 0]) + good,
        "truncated_backbone": bytes([0x0B, 40]) + good,
        "flipped_tokenizer": bytes([0x11, 7]) + good,
        "missing_tokenizer": bytes([0x1B, 0]) + good,
        "parse_only": bytes([0x00, 0]) + good,
        "old_format": bytes([0x00, 0]) + manifest(format_version=1),
        "new_torch": bytes([0x00, 0]) + manifest(torch_version="99.1"),
        "few_tasks": bytes([0x01, 0]) + manifest(tasks=["separation"], prompts={"separation": ""}),
        "bad_dims": bytes([0x00, 0]) + manifest(matryoshka_dims=[16, 8, 64]),
        "extra_file": bytes([0x03, 0]) + manifest(files={
            "backbone.pt": {"sha256": hashlib.sha256(BACKBONE).hexdigest(), "size": len(BACKBONE)},
            "tokenizer.model": {"sha256": hashlib.sha256(TOKENIZER).hexdigest(), "size": len(TOKENIZER)},
            "manifest.json": {"sha256": "0" * 64, "size": 1}}),
        "pretty": bytes([0x03, 0]) + json.dumps(json.loads(good), indent=2).encode(),
    }


def capi_header(api, flags, count, task_count_sel, dims_sel, task, struct_sel, max_length, batch, bits, capacity):
    return bytes([api, flags, (count & 15) | (task_count_sel << 4), dims_sel, (task + 8) & 15, struct_sel]) + \
        struct.pack("<h", max_length) + bytes([batch & 0xFF, bits, capacity])


def capi_texts(*texts):
    out = b""
    for task, text in texts:
        if text is None:
            out += bytes([task & 0xFF, 255])
        else:
            out += bytes([task & 0xFF, len(text)]) + text
    return out


def capi_seeds():
    hello = (0, b"hello world")
    multi = (1, "Grüße aus Köln, 日本語".encode())
    return {
        "encode_one": capi_header(0, 0, 1, 0, 0, 0, 255, 0, 0, 0x07, 0) + capi_texts(hello),
        "encode_three_dims16": capi_header(0, 0x81, 3, 0, 2, 1, 255, 0, 0, 0x07, 0) +
        capi_texts(hello, multi, (2, b"a third text, a bit longer than the others")),
        "encode_lengths_nul": capi_header(0, 0x25, 2, 0, 3, -1, 255, 0, 0, 0x07, 3) +
        capi_texts((0, b"with\x00nul"), (0, None)),
        "encode_tasks": capi_header(1, 0x84, 3, 0, 4, 0, 255, 0, 2, 0x07, 0) +
        capi_texts((0, b"query"), (3, b"classify me"), (-1, b"no task")),
        "encode_truncate_off": capi_header(0, 0x20, 1, 0, 1, 4, 255, 4, 0, 0x05, 0) +
        capi_texts((0, b"more than four tokens here")),
        "encode_short_max_length": capi_header(0, 0x04, 2, 0, 0, 2, 255, 3, 0, 0x07, 0) +
        capi_texts(hello, multi),
        "encode_old_struct": capi_header(0, 0x00, 1, 0, 0, 0, 24, 0, 0, 0x07, 0) + capi_texts(hello),
        "encode_bad_struct": capi_header(0, 0x20, 1, 0, 0, 0, 9, 0, 0, 0x07, 0) + capi_texts(hello),
        "encode_short_buffer": capi_header(0, 0x24, 2, 0, 0, 0, 255, 0, 0, 0x07, 1) + capi_texts(hello, hello),
        "encode_bad_utf8": capi_header(0, 0x21, 1, 0, 0, 0, 255, 0, 0, 0x07, 0) + capi_texts((0, b"bad \xc3\x28")),
        "encode_cached_twice": capi_header(0, 0x88, 2, 0, 3, 1, 255, 0, 0, 0x07, 0) + capi_texts(hello, hello),
        "submit_wait": capi_header(2, 0x44, 2, 1, 0, 0, 255, 0, 0, 0x07, 0) + capi_texts(hello, multi),
        "submit_free_early": capi_header(3, 0x40, 2, 0, 1, 1, 255, 0, 0, 0x07, 0x80) + capi_texts(hello, multi),
        "submit_bad_task_count": capi_header(2, 0x20, 2, 3, 0, 0, 255, 0, 0, 0x07, 0) + capi_texts(hello, hello),
        "submit_deadline": capi_header(2, 0x00, 1, 0, 0, 0, 255, 0, 0, 0x07 | (28 << 3), 0) + capi_texts(hello),
        "create_options": bytes([4, 0, 255, 0, 1, 1, 0, 0, 0, 0, 0x05]),
        "create_bad_options": bytes([4, 0, 20, 3, 9, 0, 0xFF, 0, 0, 0, 0]),
        "getters": bytes([5, 0, 255, 4, 9]),
        "getters_short_stats": bytes([5, 0, 30, 2, 15]),
    }


def late_chunk_header(mode, task, dims_sel, amount, window, overlap, count, spans_per_text):
    return bytes([mode, task & 0xFF, dims_sel, amount & 0xFF]) + struct.pack("<hh", window, overlap) + \
        bytes([((count - 1) & 3) | (spans_per_text << 2)])


def late_chunk_seeds():
    text = b"First sentence here. A second one follows! Is this the third? Yes."
    other = "Zweiter Text: Größe und Maß. 日本語の文です。 Fin.".encode()
    seeds = {
        "whole_compare": late_chunk_header(0x98, 1, 0, 0, 0, 0, 1, 0) + bytes([len(text)]) + text,
        "sentences": late_chunk_header(0x1B, 1, 3, 1, 0, 0, 2, 0) + bytes([len(text)]) + text +
        bytes([len(other)]) + other,
        "chunk_tokens": late_chunk_header(0x0A, 2, 1, 3, 0, 0, 1, 0) + bytes([len(text)]) + text,
        "spans": late_chunk_header(0x19, 1, 0, 0, 0, 0, 1, 3) + bytes([len(text)]) + text +
        bytes([0, 20, 21, 42, 43, len(text)]),
        "bad_span": late_chunk_header(0x09, 1, 0, 0, 0, 0, 1, 1) + bytes([len(other)]) + other + bytes([17, 19]),
        "windows": late_chunk_header(0x7A, 0, 4, 2, 8, 3, 1, 0) + bytes([len(text)]) + text,
        "both_ways": late_chunk_header(0x0C, 1, 0, 2, 0, 0, 1, 1) + bytes([len(text)]) + text + bytes([0, 5]),
    }
    return seeds


def cli_jsonl_seeds():
    # Control byte: bit 0 .txt, bit 1 keep ids, bit 2 --field id, bits 3-5 block size - 1.
    jsonl = 0
    txt = 1
    ids = 2
    block = lambda n: (n - 1) << 3  # noqa: E731
    good = (b'{"text": "first", "id": 1}\n{"id": "b", "text": "zweite \\u00fc"}\n\n'
            b'  {"text": "\xe6\x97\xa5\xe6\x9c\xac", "id": [1, {"x": null}]}  \n{"text": ""}\n')
    return {
        "jsonl-good": bytes([jsonl | ids | block(2)]) + good,
        "jsonl-bad-json": bytes([jsonl | block(4)]) + b'{"text": "ok"}\n{"text": "unterminated}\n',
        "jsonl-missing-field": bytes([jsonl | block(1)]) + b'{"title": "no text"}\n',
        "jsonl-wrong-type": bytes([jsonl | ids | block(3)]) + b'{"text": 12, "id": 3}\n',
        "jsonl-field-id": bytes([jsonl | 4 | ids | block(2)]) + b'{"id": "the text is the id"}\n',
        "jsonl-bad-utf8": bytes([jsonl | block(8)]) + b'{"text": "\xc3("}\n',
        "jsonl-not-object": bytes([jsonl]) + b'[1, 2, 3]\n"string"\n',
        # Found by this target: a number out of double range escaped as nlohmann's out_of_range.
        "jsonl-number-overflow": bytes([jsonl | block(2)]) + b'{"text": "a", "n": 1e5000}\n',
        "jsonl-crlf-bom": bytes([jsonl | block(2)]) + b'\xef\xbb\xbf{"text": "a"}\r\n{"text": "b"}\r\n',
        "txt-lines": bytes([txt | block(3)]) + "one\ntwo \u00fc\n\nthree\r\nlast without newline".encode(),
        "txt-bad-utf8": bytes([txt | ids | block(2)]) + b"fine\nbad \xff byte\n",
        "txt-bom": bytes([txt]) + b"\xef\xbb\xbfwith a byte order mark\n",
    }


def write(target, seeds):
    folder = HERE / "corpus" / target
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for name, data in seeds.items():
        (folder / name).write_bytes(data)
    print(f"{folder}: {len(seeds)} seeds")


if __name__ == "__main__":
    write("fuzz_utf8_tokenizer", utf8_tokenizer())
    write("fuzz_manifest", manifest_seeds())
    write("fuzz_capi_encode", capi_seeds())
    write("fuzz_late_chunk", late_chunk_seeds())
    write("fuzz_cli_jsonl", cli_jsonl_seeds())
