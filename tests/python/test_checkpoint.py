"""Reading checkpoints: the safetensors reader/writer, config.json validation, tensor-name checks."""

import json
import struct

import numpy as np
import pytest
import torch

from jina3.export.checkpoint import CheckpointTensors, check_tensor_names, tensor_shapes
from jina3.export.config import config_from_dict, load_config
from jina3.export.errors import CheckpointError, ConfigError, SafetensorsError, ToolError
from jina3.export.safetensors_io import SafetensorsFile, load_file, save_file
from jina3.testing.make_checkpoint import config_dict


# --- safetensors ------------------------------------------------------------------------------


def sample_tensors():
    g = torch.Generator().manual_seed(7)
    return {
        "w.bf16": torch.randn(3, 5, generator=g).to(torch.bfloat16),
        "w.f16": torch.randn(4, generator=g).to(torch.float16),
        "w.f32": torch.randn(2, 3, 4, generator=g),
        "ids.i64": torch.tensor([[1, -2, 3 << 40]], dtype=torch.int64),
        "ids.i32": torch.tensor([7, -8], dtype=torch.int32),
        "scalar": torch.tensor(2.5),
        "empty": torch.zeros(0, 3),
    }


def write_raw(path, header: dict, data: bytes, header_len=None):
    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw) if header_len is None else header_len) + raw + data)


def test_safetensors_round_trip(tmp_path):
    tensors = sample_tensors()
    path = tmp_path / "t.safetensors"
    save_file(tensors, path, metadata={"format": "pt", "note": "ünïcode"})
    back = load_file(path)
    assert list(back) == list(tensors)
    for name, value in tensors.items():
        assert back[name].dtype == value.dtype, name
        assert back[name].shape == value.shape, name
        assert torch.equal(back[name], value), name
    with SafetensorsFile(path) as f:
        assert f.metadata == {"format": "pt", "note": "ünïcode"}
        assert f.info("w.bf16").dtype == "BF16" and f.info("w.bf16").shape == (3, 5)
        # float32 widening (numpy bit shift for bfloat16) is exact
        assert np.array_equal(f.get_float32("w.bf16"), tensors["w.bf16"].float().numpy())
        assert np.array_equal(f.get_float32("w.f16"), tensors["w.f16"].float().numpy())
        with pytest.raises(SafetensorsError, match="ids.i64"):
            f.get_float32("ids.i64")
    # Data starts 8-byte aligned, as the reference writer does it.
    (header_len,) = struct.unpack("<Q", path.read_bytes()[:8])
    assert (8 + header_len) % 8 == 0


def test_safetensors_layout_is_the_standard_one(tmp_path):
    # Parse the file by hand: header offsets must address little-endian row-major bytes.
    path = tmp_path / "t.safetensors"
    value = torch.tensor([[1.0, -2.0], [0.5, 3.0]], dtype=torch.float32)
    save_file({"x": value}, path)
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    assert header["x"] == {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]}
    assert struct.unpack("<4f", raw[8 + n:8 + n + 16]) == (1.0, -2.0, 0.5, 3.0)


def test_safetensors_missing_file(tmp_path):
    with pytest.raises(SafetensorsError, match="no such file"):
        SafetensorsFile(tmp_path / "absent.safetensors")


@pytest.mark.parametrize("case, message", [
    ("short", "too short"),
    ("header_past_end", "does not fit"),
    ("huge_header", "implausible"),
    ("bad_json", "not valid UTF-8 JSON"),
    ("not_object", "must be a JSON object"),
    ("unknown_dtype", r"tensor 'a'.*unknown or unsupported dtype 'Q7'"),
    ("bad_shape", r"tensor 'a'.*shape"),
    ("size_mismatch", r"tensor 'a'.*needs 16"),
    ("past_end", r"tensor 'a'.*past the data region"),
    ("reversed", r"tensor 'a'.*bad data_offsets"),
    ("overlap", r"overlap"),
    ("bad_offsets", r"tensor 'a'.*data_offsets"),
    ("bad_metadata", r"__metadata__"),
])
def test_safetensors_corruption_is_reported(tmp_path, case, message):
    path = tmp_path / "bad.safetensors"
    data = bytes(32)
    ok = {"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}
    if case == "short":
        path.write_bytes(b"\x01\x02")
    elif case == "header_past_end":
        write_raw(path, ok, data, header_len=10_000)
    elif case == "huge_header":
        write_raw(path, ok, data, header_len=1 << 40)
    elif case == "bad_json":
        path.write_bytes(struct.pack("<Q", 5) + b"{nope" + data)
    elif case == "not_object":
        write_raw(path, [1, 2], data)
    elif case == "unknown_dtype":
        write_raw(path, {"a": {"dtype": "Q7", "shape": [4], "data_offsets": [0, 16]}}, data)
    elif case == "bad_shape":
        write_raw(path, {"a": {"dtype": "F32", "shape": [-4], "data_offsets": [0, 16]}}, data)
    elif case == "size_mismatch":
        write_raw(path, {"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 12]}}, data)
    elif case == "past_end":
        write_raw(path, {"a": {"dtype": "F32", "shape": [4], "data_offsets": [24, 40]}}, data)
    elif case == "reversed":
        write_raw(path, {"a": {"dtype": "F32", "shape": [0], "data_offsets": [8, 4]}}, data)
    elif case == "overlap":
        write_raw(path, {"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]},
                         "b": {"dtype": "F32", "shape": [4], "data_offsets": [8, 24]}}, data)
    elif case == "bad_offsets":
        write_raw(path, {"a": {"dtype": "F32", "shape": [4], "data_offsets": "0-16"}}, data)
    elif case == "bad_metadata":
        write_raw(path, dict(ok, __metadata__={"k": 3}), data)
    with pytest.raises(SafetensorsError, match=message) as info:
        SafetensorsFile(path)
    assert str(path) in str(info.value)
    assert isinstance(info.value, CheckpointError) and isinstance(info.value, ValueError)


def test_safetensors_truncated_data_names_the_tensor(tmp_path):
    path = tmp_path / "t.safetensors"
    save_file({"first": torch.ones(4), "second": torch.ones(1000)}, path)
    raw = path.read_bytes()
    path.write_bytes(raw[:-100])
    with pytest.raises(SafetensorsError, match=r"tensor 'second'.*truncated"):
        SafetensorsFile(path)


def test_safetensors_writer_checks_declared_shapes(tmp_path):
    from jina3.export.safetensors_io import LazyTensor, write_lazy

    path = tmp_path / "t.safetensors"
    with pytest.raises(SafetensorsError, match="'x' came out as"):
        write_lazy(path, [LazyTensor("x", torch.float32, (2,), lambda: torch.ones(3))])
    assert not path.exists()
    assert list(tmp_path.iterdir()) == []  # no temporary file left behind


def test_sharded_checkpoint_index(tmp_path):
    save_file({"a": torch.ones(2)}, tmp_path / "model-00001-of-00002.safetensors")
    save_file({"b": torch.zeros(3)}, tmp_path / "model-00002-of-00002.safetensors")
    index = {"weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}}
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps(index))
    with CheckpointTensors(tmp_path) as t:
        assert sorted(t.keys()) == ["a", "b"]
        assert torch.equal(t.get("b"), torch.zeros(3))
    index["weight_map"]["c"] = "model-00001-of-00002.safetensors"
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps(index))
    with pytest.raises(CheckpointError, match="'c'"):
        CheckpointTensors(tmp_path)


def test_checkpoint_dir_without_weights(tmp_path):
    with pytest.raises(CheckpointError, match="model.safetensors"):
        CheckpointTensors(tmp_path)


# --- config.json --------------------------------------------------------------------------------


REQUIRED_KEYS = ["hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size", "vocab_size",
                 "type_vocab_size", "pad_token_id", "bos_token_id", "eos_token_id", "rotary_emb_base",
                 "layer_norm_eps", "max_position_embeddings", "lora_adaptations", "task_instructions",
                 "matryoshka_dimensions", "lora_rank", "lora_alpha", "hidden_act", "position_embedding_type"]


def test_full_config_values():
    cfg = config_from_dict(config_dict("full"))
    sizes = (cfg.hidden_size, cfg.num_hidden_layers, cfg.num_attention_heads, cfg.intermediate_size)
    assert sizes == (1024, 24, 16, 4096)
    assert cfg.head_dim == 64 and cfg.vocab_size == 250002 and cfg.type_vocab_size == 1
    assert (cfg.pad_token_id, cfg.bos_token_id, cfg.eos_token_id) == (1, 0, 2)
    assert cfg.rotary_emb_base == 20000.0 and cfg.layer_norm_eps == 1e-5 and cfg.max_position_embeddings == 8194
    assert cfg.lora_adaptations == ("retrieval.query", "retrieval.passage", "separation", "classification",
                                    "text-matching")
    assert cfg.lora_scale == 0.25
    assert cfg.matryoshka_dimensions == (32, 64, 128, 256, 512, 768, 1024)
    assert cfg.task_instructions["retrieval.query"] == "Represent the query for retrieving evidence documents: "
    assert cfg.task_instructions["retrieval.passage"] == "Represent the document for retrieval: "
    assert cfg.task_instructions["separation"] == ""
    assert cfg.task_index(None) == -1 and cfg.task_index("text-matching") == 4
    with pytest.raises(ValueError, match="unknown task"):
        cfg.task_index("summarization")


@pytest.mark.parametrize("key", REQUIRED_KEYS)
def test_config_missing_key_is_named(key):
    raw = config_dict("tiny")
    del raw[key]
    with pytest.raises(ConfigError, match=rf"key '{key}' is missing"):
        config_from_dict(raw, "my/config.json")


@pytest.mark.parametrize("key, value, message", [
    ("hidden_size", "64", "must be an integer"),
    ("hidden_size", True, "must be an integer"),
    ("num_hidden_layers", 0, "must be >= 1"),
    ("num_attention_heads", 3, "does not divide hidden_size"),
    ("num_attention_heads", 64, "odd head size"),
    ("vocab_size", 2.5, "must be an integer"),
    ("pad_token_id", 250002, "outside the vocabulary"),
    ("rotary_emb_base", "20000", "must be a number"),
    ("rotary_emb_base", -1.0, "positive"),
    ("layer_norm_eps", 0, "positive"),
    ("lora_adaptations", "retrieval.query", "list of strings"),
    ("lora_adaptations", [], "is empty"),
    ("lora_adaptations", ["a", "a"], "distinct"),
    ("task_instructions", {"retrieval.query": ""}, "no entry for task 'retrieval.passage'"),
    ("task_instructions", {"retrieval.query": 1}, "object of strings"),
    ("matryoshka_dimensions", [8, 16], "must end with hidden_size"),
    ("matryoshka_dimensions", [16, 8, 64], "ascending"),
    ("matryoshka_dimensions", [8, 128], "ascending sizes in"),
    ("lora_rank", 0, ">= 1"),
    ("hidden_act", "relu", "only 'gelu'"),
    ("position_embedding_type", "absolute", "'rotary'"),
])
def test_config_bad_value_is_named(key, value, message):
    raw = config_dict("tiny")
    raw[key] = value
    with pytest.raises(ConfigError, match=rf"key '{key}' .*{message}"):
        config_from_dict(raw, "my/config.json")


def test_config_accepts_integral_floats_and_ignores_unknown_keys():
    raw = config_dict("tiny")
    raw["hidden_size"] = 64.0
    raw["something_new"] = {"x": 1}
    assert config_from_dict(raw).hidden_size == 64


def test_load_config_file_errors(tmp_path):
    with pytest.raises(ConfigError, match="missing"):
        load_config(tmp_path)
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_config(tmp_path)
    (tmp_path / "config.json").write_text("[1]")
    with pytest.raises(ConfigError, match="JSON object"):
        load_config(tmp_path / "config.json")
    (tmp_path / "config.json").write_text(json.dumps(config_dict("tiny")))
    assert load_config(tmp_path).hidden_size == 64
    assert issubclass(ConfigError, ToolError) and issubclass(ConfigError, ValueError)


# --- tensor names against config ------------------------------------------------------------------


def test_check_tensor_names_reports_missing_unexpected_and_misshaped(tmp_path):
    cfg = config_from_dict(config_dict("tiny"))
    shapes = tensor_shapes(cfg, include_pooler=False)
    tensors = {name: torch.zeros(shape, dtype=torch.bfloat16) for name, shape in shapes.items()
               if "word_embeddings" not in name or "original" not in name}  # the big table stays out
    tensors["roberta.embeddings.word_embeddings.parametrizations.weight.original"] = torch.zeros(0)
    del tensors["roberta.encoder.layers.1.mlp.fc2.bias"]
    tensors["roberta.encoder.layers.0.norm1.weight"] = torch.zeros(65, dtype=torch.bfloat16)
    tensors["roberta.encoder.layers.7.extra"] = torch.zeros(1)
    tensors["roberta.pooler.dense.bias"] = torch.zeros(64)  # allowed, ignored
    save_file(tensors, tmp_path / "model.safetensors")
    with CheckpointTensors(tmp_path) as t, pytest.raises(CheckpointError) as info:
        check_tensor_names(cfg, t)
    message = str(info.value)
    assert "missing tensor 'roberta.encoder.layers.1.mlp.fc2.bias'" in message
    assert "'roberta.encoder.layers.0.norm1.weight' has shape [65], expected [64]" in message
    assert "unexpected tensor 'roberta.encoder.layers.7.extra'" in message
    assert "word_embeddings.parametrizations.weight.original' has shape [0], expected [250002, 64]" in message
    assert "pooler" not in message
