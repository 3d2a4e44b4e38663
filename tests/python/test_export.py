"""python3 -m jina3.export: the package it writes (manifest, backbone, tokenizer), reduced-precision
packages against the reference, and its errors (named tensors and keys, atomic output)."""

import hashlib
import json
import shutil
import subprocess
import sys

import pytest
import sentencepiece
import torch

import jina3.export.package as export_module
from jina3.export import export_package
from jina3.export.convert_tokenizer import convert
from jina3.export.errors import CheckpointError, ConfigError, ExportError
from jina3.export.safetensors_io import load_file, save_file
from jina3.testing.paths import xlmr_spm_model
from jina3.testing.reference import ReferenceModel
from jina3.testing.testdata import TEXTS, shared_test_data

MANIFEST_KEYS = {"format", "format_version", "model_name", "jina3_version", "torch_version", "dtype", "hidden_size",
                 "jina3_kernels", "num_layers", "num_heads", "intermediate_size", "vocab_size", "tasks", "prompts",
                 "matryoshka_dims", "max_length", "special_ids", "spm_id_offset", "files"}
TASKS = ["retrieval.query", "retrieval.passage", "separation", "classification", "text-matching"]


@pytest.fixture(scope="module")
def data_dir():
    return shared_test_data()


@pytest.fixture(scope="module")
def checkpoint(data_dir):
    return data_dir / "checkpoint"


@pytest.fixture(scope="module")
def ref(checkpoint):
    return ReferenceModel(checkpoint, xlmr_spm_model())


def run_export(*args):
    return subprocess.run([sys.executable, "-m", "jina3.export", *map(str, args)], capture_output=True, text=True)


def sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def pooled(module, ref, texts, task):
    rows = ref.tokenize(texts, task)
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), 1, dtype=torch.int64)
    mask = torch.zeros_like(ids)
    for i, row in enumerate(rows):
        ids[i, :len(row)] = torch.tensor(row)
        mask[i, :len(row)] = 1
    with torch.inference_mode():
        hidden = module(ids, mask, torch.full((len(rows),), ref.config.task_index(task), dtype=torch.int64))
    weights = mask.unsqueeze(-1).float()
    out = (hidden.float() * weights).sum(1) / weights.sum(1)
    return torch.nn.functional.normalize(out, dim=-1).numpy(), hidden.dtype


# --- the packages of the test data set -----------------------------------------------------------


@pytest.mark.parametrize("dtype", ["float32", "bfloat16", "int8"])
def test_manifest_follows_the_package_format(data_dir, dtype):
    package = data_dir / f"package-{dtype}"
    manifest = json.loads((package / "manifest.json").read_text(encoding="utf-8"))
    assert set(manifest) == MANIFEST_KEYS
    assert manifest["format"] == "jina3.package" and manifest["format_version"] == 2
    assert manifest["dtype"] == dtype and manifest["torch_version"] == torch.__version__
    assert isinstance(manifest["jina3_version"], str) and manifest["jina3_version"]
    assert manifest["model_name"] == "jina-embeddings-v3"
    assert (manifest["hidden_size"], manifest["num_layers"], manifest["num_heads"], manifest["intermediate_size"],
            manifest["vocab_size"]) == (64, 2, 4, 128, 250002)
    assert manifest["tasks"] == TASKS
    assert manifest["prompts"] == {
        "retrieval.query": "Represent the query for retrieving evidence documents: ",
        "retrieval.passage": "Represent the document for retrieval: ",
        "separation": "", "classification": "", "text-matching": ""}
    assert manifest["matryoshka_dims"] == [8, 16, 32, 64]
    assert manifest["max_length"] == 8194
    assert manifest["special_ids"] == {"bos": 0, "pad": 1, "eos": 2, "unk": 3, "mask": 250001}
    assert manifest["spm_id_offset"] == 1
    assert set(manifest["files"]) == {"backbone.pt", "tokenizer.model"}
    assert sorted(p.name for p in package.iterdir()) == ["backbone.pt", "manifest.json", "tokenizer.model"]
    for name, entry in manifest["files"].items():
        assert entry == {"sha256": sha256(package / name), "size": (package / name).stat().st_size}, name


def test_package_tokenizer_is_the_converted_one(data_dir):
    model = (data_dir / "package-float32" / "tokenizer.model").read_bytes()
    assert model == convert(data_dir / "checkpoint" / "tokenizer.json").model_proto
    ours = sentencepiece.SentencePieceProcessor(model_proto=model)
    real = sentencepiece.SentencePieceProcessor(model_file=str(xlmr_spm_model()))
    for text in TEXTS:
        assert ours.encode(text) == real.encode(text)


@pytest.mark.parametrize("dtype, out_dtype, min_cosine", [
    ("float32", torch.float32, 0.999999), ("bfloat16", torch.bfloat16, 0.999), ("int8", torch.bfloat16, 0.99)])
def test_packaged_backbone_against_the_reference(data_dir, ref, dtype, out_dtype, min_cosine):
    module = torch.jit.load(str(data_dir / f"package-{dtype}" / "backbone.pt"))
    args = module.forward.schema.arguments
    assert [a.name for a in args[1:]] == ["input_ids", "attention_mask", "task_ids"]
    worst = 1.0
    for task in [None] + TASKS:
        got, hidden_dtype = pooled(module, ref, TEXTS, task)
        assert hidden_dtype == out_dtype
        worst = min(worst, float((got * ref.encode(TEXTS, task)).sum(1).min()))
    print(f"{dtype} package: min cosine to the float32 reference {worst:.6f}")
    assert worst >= min_cosine


def test_int8_package_has_int8_linear_layers(data_dir):
    module = torch.jit.load(str(data_dir / "package-int8" / "backbone.pt"))
    state = module.state_dict()
    qweights = {k: v for k, v in state.items() if k.endswith(".qweight")}
    assert len(qweights) == 4 * 2  # four projections in each of the tiny model's two blocks
    for key, qweight in qweights.items():
        assert qweight.dtype == torch.int8 and qweight.dim() == 2
        assert int(qweight.abs().max()) == 127  # symmetric per channel: every row reaches the range
        scale = state[key[:-len("qweight")] + "wscale"]
        assert scale.dtype == torch.float32 and scale.shape == (qweight.shape[0],)
    # no float copy of the base weights; every other floating tensor is stored in bfloat16
    assert not any(key.endswith("base.weight") or key.endswith(".weight") and "layers" in key and v.dim() == 2
                   for key, v in state.items())
    assert {v.dtype for k, v in state.items() if v.is_floating_point() and not k.endswith("wscale")} == {torch.bfloat16}
    size8 = (data_dir / "package-int8" / "backbone.pt").stat().st_size
    size16 = (data_dir / "package-bfloat16" / "backbone.pt").stat().st_size
    assert size8 < size16


def test_package_cast_to_bfloat16_after_loading_still_works(data_dir, ref):
    # The C++ runtime may load a float32 package and cast it (module.to(kBFloat16)).
    module = torch.jit.load(str(data_dir / "package-float32" / "backbone.pt"))
    module.to(torch.bfloat16)
    got, hidden_dtype = pooled(module, ref, TEXTS, "retrieval.query")
    assert hidden_dtype == torch.bfloat16
    assert float((got * ref.encode(TEXTS, "retrieval.query")).sum(1).min()) >= 0.999


# --- exporting --------------------------------------------------------------------------------


def test_cli_export_with_max_length_and_overwrite(checkpoint, tmp_path):
    out = tmp_path / "pkg"
    result = run_export(checkpoint, out, "--dtype", "bfloat16", "--max-length", "512", "--quiet")
    assert result.returncode == 0, result.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["max_length"] == 512 and manifest["dtype"] == "bfloat16"
    before = sha256(out / "manifest.json")
    # an existing package is not replaced without --overwrite
    result = run_export(checkpoint, out, "--max-length", "64")
    assert result.returncode == 1 and "already exists" in result.stderr
    assert sha256(out / "manifest.json") == before
    result = run_export(checkpoint, out, "--max-length", "64", "--overwrite", "--quiet")
    assert result.returncode == 0, result.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["max_length"] == 64 and manifest["dtype"] == "float32"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pkg"]  # no staging or backup left


def test_float16_package_is_written_for_cuda(checkpoint, tmp_path):
    out = export_package(checkpoint, tmp_path / "pkg", "float16")
    module = torch.jit.load(str(out / "backbone.pt"))
    assert {p.dtype for p in module.parameters()} == {torch.float16}
    assert json.loads((out / "manifest.json").read_text())["dtype"] == "float16"


@pytest.fixture()
def broken_checkpoint(checkpoint, tmp_path):
    """A writable copy of the tiny checkpoint, edited by the test."""
    copy = tmp_path / "ckpt"
    shutil.copytree(checkpoint, copy)
    return copy


def edit_tensors(directory, edit):
    tensors = load_file(directory / "model.safetensors")
    edit(tensors)
    save_file(tensors, directory / "model.safetensors")


def assert_fails_cleanly(checkpoint, tmp_path, *extra, message):
    out = tmp_path / "out" / "pkg"
    result = run_export(checkpoint, out, *extra)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "jina3.export: error:" in result.stderr and message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert not out.exists()
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []


def test_missing_tensor_is_named(broken_checkpoint, tmp_path):
    name = "roberta.encoder.layers.1.mlp.fc1.parametrizations.weight.0.lora_B"
    edit_tensors(broken_checkpoint, lambda t: t.pop(name))
    assert_fails_cleanly(broken_checkpoint, tmp_path, message=f"missing tensor '{name}'")


def test_misshaped_and_unexpected_tensors_are_named(broken_checkpoint, tmp_path):
    def edit(t):
        t["roberta.emb_ln.bias"] = torch.zeros(63, dtype=torch.bfloat16)
        t["roberta.encoder.layers.2.norm1.weight"] = torch.zeros(64, dtype=torch.bfloat16)
    edit_tensors(broken_checkpoint, edit)
    assert_fails_cleanly(broken_checkpoint, tmp_path, message="'roberta.emb_ln.bias' has shape [63], expected [64]")
    assert_fails_cleanly(broken_checkpoint, tmp_path,
                         message="unexpected tensor 'roberta.encoder.layers.2.norm1.weight'")


def test_non_finite_weights_are_named(broken_checkpoint, tmp_path):
    def edit(t):
        t["roberta.encoder.layers.0.mlp.fc2.bias"][3] = float("nan")
    edit_tensors(broken_checkpoint, edit)
    assert_fails_cleanly(broken_checkpoint, tmp_path, message="'roberta.encoder.layers.0.mlp.fc2.bias' holds NaN")


def test_truncated_weights_file(broken_checkpoint, tmp_path):
    path = broken_checkpoint / "model.safetensors"
    path.write_bytes(path.read_bytes()[:-1000])
    assert_fails_cleanly(broken_checkpoint, tmp_path, message="truncated")


@pytest.mark.parametrize("edit, message", [
    (lambda c: c.pop("rotary_emb_base"), "key 'rotary_emb_base' is missing"),
    (lambda c: c.update(num_attention_heads="4"), "key 'num_attention_heads' must be an integer"),
    (lambda c: c.update(hidden_act="gelu_new"), "key 'hidden_act'"),
    (lambda c: c.update(hidden_size=32, matryoshka_dimensions=[8, 32]), "expected [250002, 32]"),
])
def test_bad_config_is_named(broken_checkpoint, tmp_path, edit, message):
    config = json.loads((broken_checkpoint / "config.json").read_text())
    edit(config)
    (broken_checkpoint / "config.json").write_text(json.dumps(config))
    assert_fails_cleanly(broken_checkpoint, tmp_path, message=message)


def test_missing_files_and_bad_arguments(broken_checkpoint, tmp_path):
    assert_fails_cleanly(broken_checkpoint, tmp_path, "--max-length", "9000", message="max_length 9000")
    assert_fails_cleanly(broken_checkpoint, tmp_path, "--max-length", "1", message="max_length 1")
    assert_fails_cleanly(tmp_path / "nowhere", tmp_path, message="does not exist")
    (broken_checkpoint / "tokenizer.json").unlink()
    assert_fails_cleanly(broken_checkpoint, tmp_path, message="tokenizer.json: missing")
    result = run_export(broken_checkpoint, tmp_path / "x", "--dtype", "int4")
    assert result.returncode == 2 and "int4" in result.stderr


def test_tokenizer_that_does_not_fit_the_config(broken_checkpoint, tmp_path):
    config = json.loads((broken_checkpoint / "config.json").read_text())
    config["vocab_size"] = 250010
    (broken_checkpoint / "config.json").write_text(json.dumps(config))
    assert_fails_cleanly(broken_checkpoint, tmp_path, message="vocab_size 250010")


def test_python_errors_are_typed(broken_checkpoint, tmp_path):
    with pytest.raises(ExportError, match="already exists"):
        export_package(broken_checkpoint, broken_checkpoint)
    (broken_checkpoint / "config.json").write_text("{}")
    with pytest.raises(ConfigError):
        export_package(broken_checkpoint, tmp_path / "a")
    (broken_checkpoint / "config.json").unlink()
    with pytest.raises(CheckpointError):  # ConfigError is a CheckpointError
        export_package(broken_checkpoint, tmp_path / "a")


def test_failure_while_writing_leaves_nothing(checkpoint, tmp_path, monkeypatch):
    def fail(*args, **kwargs):
        raise OSError("disk full (simulated)")

    # Fails after backbone.pt and tokenizer.model are staged, before the rename.
    monkeypatch.setattr(export_module, "_manifest", fail)
    with pytest.raises(OSError, match="simulated"):
        export_package(checkpoint, tmp_path / "pkg")
    assert list(tmp_path.iterdir()) == []


def test_failure_while_overwriting_keeps_the_old_package(checkpoint, tmp_path, monkeypatch):
    out = export_package(checkpoint, tmp_path / "pkg", max_length=100)
    before = {p.name: sha256(p) for p in out.iterdir()}

    def fail(*args, **kwargs):
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(export_module, "_manifest", fail)
    with pytest.raises(OSError, match="simulated"):
        export_package(checkpoint, out, overwrite=True)
    assert {p.name: sha256(p) for p in out.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pkg"]


def test_self_check_catches_a_broken_module(checkpoint, tmp_path, monkeypatch):
    real_cast = export_module._cast

    def sabotage(model, dtype):
        model = real_cast(model, dtype)
        with torch.no_grad():
            model.layers[0].norm2.bias.add_(3.0)
        return model

    monkeypatch.setattr(export_module, "_cast", sabotage)
    with pytest.raises(ExportError, match="self-check failed"):
        export_package(checkpoint, tmp_path / "pkg", "bfloat16")
    assert list(tmp_path.iterdir()) == []
