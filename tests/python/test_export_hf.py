"""jina3.export reads both Hugging Face layouts of jina-embeddings-v3 (jina3/export/layouts.py).

One random tiny checkpoint is written in the original layout (make_checkpoint) and rewritten in
the transformers-native -hf layout (make_hf_checkpoint, which maps names on its own, not through the
exporter's reader): base weights plus one PEFT adapter folder per task, in the spelling the -hf
repository uses and in transformers' native spelling. Both export to packages that give the same
vectors through jina3.Encoder for every task; other key spellings load the same weights; and what
is neither layout, or an adapter the original form cannot hold, is refused with a named error."""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch

import jina3
from jina3.export import export_package
from jina3.export.backbone import load_checkpoint
from jina3.export.errors import CheckpointError, ConfigError
from jina3.export.layouts import HF, ORIGINAL, HfLayoutTensors, adapter_folder, detect_layout, load_layout
from jina3.export.safetensors_io import SafetensorsFile, load_file, save_file
from jina3.testing.make_checkpoint import write_checkpoint
from jina3.testing.make_hf_checkpoint import write_hf_checkpoint
from jina3.testing.paths import xlmr_tokenizer_json

TASKS = ["retrieval.query", "retrieval.passage", "separation", "classification", "text-matching"]
FOLDERS = ["retrieval_query", "retrieval_passage", "separation", "classification", "text_matching"]
TEXTS = ["Hello World!", "Der schnelle braune Fuchs springt über den faulen Hund.", "多语言模型在许多语言之间共享一个词表。",
         "", "I love pizza 🍕 and tacos 🌮!", "a " * 40]
ORIGINAL_PREFIX = "roberta.encoder.layers."


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    return tmp_path_factory.mktemp("hf_layouts")


@pytest.fixture(scope="module")
def original(work):
    return write_checkpoint(work / "original", "tiny", seed=7, dtype=torch.bfloat16, tokenizer_json=xlmr_tokenizer_json())


@pytest.fixture(scope="module")
def hf(work, original):
    return write_hf_checkpoint(original, work / "hf")


@pytest.fixture(scope="module")
def native(work, original):
    return write_hf_checkpoint(original, work / "native", spelling="native")


@pytest.fixture(scope="module")
def packages(work, original, hf, native):
    return {name: export_package(path, work / f"package-{name}")
            for name, path in (("original", original), ("hf", hf), ("native", native))}


@pytest.fixture(scope="module")
def encoders(packages):
    return {name: jina3.Encoder(str(path)) for name, path in packages.items()}


@pytest.fixture(scope="module")
def original_weights(original):
    return load_checkpoint(original).state_dict()


def variant(source, target):
    """A copy of an -hf checkpoint whose files are symbolic links; rewrite() replaces one of them."""
    shutil.copytree(source, target, copy_function=os.symlink)
    return target


def rewrite_tensors(path, edit):
    tensors = load_file(path)
    result = edit(tensors)  # a new dict, or tensors edited in place
    tensors = result if isinstance(result, dict) else tensors
    path.unlink()
    save_file(tensors, path)


def rewrite_json(path, edit):
    value = json.loads(path.read_text(encoding="utf-8"))
    edit(value)
    path.unlink()
    path.write_text(json.dumps(value), encoding="utf-8")


def run_export(*args):
    return subprocess.run([sys.executable, "-m", "jina3.export", *map(str, args)], capture_output=True, text=True)


# --- the writer wrote what the -hf layout is --------------------------------------------------


def test_hf_writer_writes_the_documented_layout(original, hf):
    config = json.loads((hf / "config.json").read_text())
    assert config["architectures"] == ["JinaEmbeddingsV3Model"] and config["model_type"] == "jina_embeddings_v3"
    assert "auto_map" not in config
    assert sorted(p.name for p in hf.iterdir() if p.is_dir()) == sorted(FOLDERS)
    assert [adapter_folder(t) for t in TASKS] == FOLDERS
    with SafetensorsFile(original / "model.safetensors") as src, SafetensorsFile(hf / "model.safetensors") as base:
        assert not any("lora" in k or "parametrizations" in k for k in base.keys())
        qkv = "roberta.encoder.layers.1.mixer.Wqkv"
        assert torch.equal(base.get(qkv + ".weight"), src.get(qkv + ".parametrizations.weight.original"))
        for index, folder in enumerate(FOLDERS):
            adapter = json.loads((hf / folder / "adapter_config.json").read_text())
            assert (adapter["peft_type"], adapter["r"], adapter["lora_alpha"]) == ("LORA", 4, 1)
            with SafetensorsFile(hf / folder / "adapter_model.safetensors") as lora:
                assert not any(k.startswith("base_model.model.") for k in lora.keys())
                word = "roberta.embeddings.word_embeddings"
                a = src.get(word + ".parametrizations.weight.0.lora_A")[index]  # [V, r]
                b = src.get(word + ".parametrizations.weight.0.lora_B")[index]  # [r, H]
                assert torch.equal(lora.get(word + ".lora_embedding_A"), a.t())
                assert torch.equal(lora.get(word + ".lora_embedding_B"), b.t())
                a = src.get(qkv + ".parametrizations.weight.0.lora_A")[index]  # [r, H]
                b = src.get(qkv + ".parametrizations.weight.0.lora_B")[index]  # [3H, r]
                for i, part in enumerate("qkv"):
                    split = f"{ORIGINAL_PREFIX}1.self_attn.{part}_proj"
                    assert torch.equal(lora.get(split + ".lora_A.weight"), a)
                    assert torch.equal(lora.get(split + ".lora_B.weight"), b[i * 64:(i + 1) * 64])
                fc2 = f"{ORIGINAL_PREFIX}0.mlp.fc2"
                assert torch.equal(lora.get(fc2 + ".lora_B.weight"),
                                   src.get(fc2 + ".parametrizations.weight.0.lora_B")[index])


# --- both layouts give one package ------------------------------------------------------------


def test_layouts_are_detected(original, hf, native):
    assert detect_layout(original) == ORIGINAL
    assert detect_layout(hf) == HF and detect_layout(native) == HF
    assert load_layout(hf).notes == []
    # transformers' config spelling: rope_parameters and no LoRA keys; filled in and said so.
    notes = load_layout(native).notes
    assert any("rope_parameters.rope_theta" in n for n in notes) and any(n.startswith("lora_rank 4") for n in notes)
    assert load_layout(native).config == load_layout(original).config.__class__(
        **{**load_layout(original).config.__dict__, "name_or_path": "jinaai/jina-embeddings-v3-hf"})


@pytest.mark.parametrize("layout", ["hf", "native"])
def test_loaded_weights_are_the_original_ones(original_weights, hf, native, layout):
    weights = load_checkpoint(hf if layout == "hf" else native).state_dict()
    assert weights.keys() == original_weights.keys()
    for name, value in original_weights.items():
        assert torch.equal(weights[name], value), name


@pytest.mark.parametrize("task", [None] + TASKS)
def test_both_layouts_give_the_same_vectors(encoders, task):
    expected = np.asarray(encoders["original"].encode(TEXTS, task=task))
    assert expected.shape == (len(TEXTS), 64) and np.isfinite(expected).all()
    for name in ("hf", "native"):
        got = np.asarray(encoders[name].encode(TEXTS, task=task))
        assert np.abs(got - expected).max() <= 1e-6, (name, task)
    if task is not None:  # the adapters matter: a reader that dropped one would fail above
        plain = np.asarray(encoders["original"].encode(TEXTS, task=None))
        assert np.abs(plain - expected).max() > 1e-2


def test_both_layouts_give_the_same_manifest(packages):
    manifests = {name: json.loads((path / "manifest.json").read_text()) for name, path in packages.items()}
    for name in ("hf", "native"):
        assert {k: v for k, v in manifests[name].items() if k != "files"} == \
               {k: v for k, v in manifests["original"].items() if k != "files"}
    assert manifests["hf"]["model_name"] == "jina-embeddings-v3"
    assert manifests["hf"]["files"]["tokenizer.model"] == manifests["original"]["files"]["tokenizer.model"]


def test_command_line_reads_the_hf_layout(hf, tmp_path):
    result = run_export(hf, tmp_path / "pkg", "--dtype", "bfloat16")
    assert result.returncode == 0, result.stderr
    assert "the transformers-native -hf layout" in result.stderr
    assert json.loads((tmp_path / "pkg" / "manifest.json").read_text())["dtype"] == "bfloat16"


# --- other spellings of the same weights ------------------------------------------------------


def _prefixed(tensors):
    return {"base_model.model." + k: v for k, v in tensors.items()}


def _native_names_with_roberta(tensors):
    return {k.replace("roberta.encoder.layers.", "roberta.layers.").replace(".mixer.out_proj.", ".self_attn.o_proj.")
            .replace(".norm1.", ".post_attention_layernorm.").replace("roberta.emb_ln.", "roberta.embeddings.LayerNorm."):
            v for k, v in tensors.items()}


def _fused_attention_lora(tensors):
    out = {}
    for k, v in tensors.items():
        if ".self_attn.q_proj." in k:
            fused = k.replace(".self_attn.q_proj.", ".mixer.Wqkv.")
            if k.endswith("lora_A.weight"):
                out[fused] = v
            else:
                out[fused] = torch.cat([tensors[k.replace("q_proj", p)] for p in ("q_proj", "k_proj", "v_proj")])
        elif ".self_attn.k_proj." not in k and ".self_attn.v_proj." not in k:
            out[k] = v
    return out


def _split_base_attention(tensors):
    out = {}
    for k, v in tensors.items():
        if ".mixer.Wqkv." in k:
            for i, part in enumerate(v.chunk(3, dim=0)):
                out[k.replace(".mixer.Wqkv.", f".self_attn.{'qkv'[i]}_proj.")] = part.clone()
        else:
            out[k] = v
    return out


@pytest.mark.parametrize("where, edit", [
    ("adapters", _prefixed),
    ("adapters", _native_names_with_roberta),
    ("adapters", _fused_attention_lora),
    ("base", _split_base_attention),
    ("base", _native_names_with_roberta),
], ids=["peft-prefix", "native-names", "fused-qkv-lora", "split-qkv-base", "native-base-names"])
def test_other_key_spellings_load_the_same_weights(original_weights, hf, tmp_path, where, edit):
    directory = variant(hf, tmp_path / "ck")
    if where == "base":
        rewrite_tensors(directory / "model.safetensors", edit)
    else:
        for folder in FOLDERS[::2]:  # a mix: some adapters rewritten, some not
            rewrite_tensors(directory / folder / "adapter_model.safetensors", edit)
    weights = load_checkpoint(directory).state_dict()
    for name, value in original_weights.items():
        assert torch.equal(weights[name], value), name


def test_adapter_folders_named_as_the_tasks(original_weights, hf, tmp_path):
    directory = variant(hf, tmp_path / "ck")
    for task, folder in zip(TASKS, FOLDERS):
        if task != folder:
            (directory / folder).rename(directory / task)
    assert (directory / "retrieval.query").is_dir() and not (directory / "retrieval_query").exists()
    weights = load_checkpoint(directory).state_dict()
    for name, value in original_weights.items():
        assert torch.equal(weights[name], value), name


def test_adapter_scaling_is_folded_into_b(original, hf, original_weights, tmp_path):
    # lora_alpha 2 with B halved: the same update; the package keeps config.json's alpha / rank.
    directory = write_hf_checkpoint(original, tmp_path / "scaled", lora_alpha=2.0)
    assert json.loads((directory / "retrieval_query" / "adapter_config.json").read_text())["lora_alpha"] == 2.0
    weights = load_checkpoint(directory).state_dict()
    for name, value in original_weights.items():
        assert torch.equal(weights[name], value), name
    # use_rslora: scaling alpha / sqrt(r) = 1 / 2 instead of 1 / 4, so B must come out doubled.
    rslora = variant(hf, tmp_path / "rslora")
    for folder in FOLDERS:
        rewrite_json(rslora / folder / "adapter_config.json", lambda c: c.update(use_rslora=True))
    doubled = load_checkpoint(rslora).state_dict()
    name = "layers.1.fc1.lora_up"
    assert torch.equal(doubled[name], original_weights[name] * 2)


# --- what is refused --------------------------------------------------------------------------


def test_unknown_layout_names_what_it_found(hf, tmp_path):
    directory = tmp_path / "bert"
    directory.mkdir()
    (directory / "config.json").write_text(json.dumps({"model_type": "bert", "architectures": ["BertModel"]}))
    save_file({"bert.embeddings.word_embeddings.weight": torch.zeros(8, 4),
               "bert.encoder.layer.0.attention.self.query.weight": torch.zeros(4, 4)}, directory / "model.safetensors")
    with pytest.raises(CheckpointError) as info:
        load_layout(directory)
    message = str(info.value)
    for part in ("not a jina-embeddings-v3 checkpoint", "model_type 'bert'", "['BertModel']",
                 "bert.embeddings.word_embeddings.weight", "adapter folders: none", "jinaai/jina-embeddings-v3 ",
                 "jinaai/jina-embeddings-v3-hf", "retrieval_query/"):
        assert part in message, (part, message)
    result = run_export(directory, tmp_path / "pkg")
    assert result.returncode == 1 and "jina3.export: error:" in result.stderr and "model_type 'bert'" in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "pkg").exists()
    # Base weights without adapters or a jina_embeddings_v3 config: not recognisable either.
    plain = variant(hf, tmp_path / "plain")
    for folder in FOLDERS:
        shutil.rmtree(plain / folder)
    rewrite_json(plain / "config.json", lambda c: c.update(model_type="xlm-roberta", architectures=["XLMRobertaModel"]))
    with pytest.raises(CheckpointError, match="adapter folders: none"):
        load_layout(plain)


def test_missing_adapter_folder_names_the_download(hf, tmp_path):
    directory = variant(hf, tmp_path / "ck")
    shutil.rmtree(directory / "text_matching")
    for call in (lambda: load_layout(directory), lambda: export_package(directory, tmp_path / "pkg")):
        with pytest.raises(CheckpointError) as info:
            call()
        assert "text_matching: missing" in str(info.value) and "'text-matching'" in str(info.value)
        assert "huggingface-cli download jinaai/jina-embeddings-v3-hf" in str(info.value)
    assert not (tmp_path / "pkg").exists()
    (directory / "separation" / "adapter_model.safetensors").unlink()
    with pytest.raises(CheckpointError, match="separation/adapter_model.safetensors: missing"):
        HfLayoutTensors(directory, load_layout(hf).config)


def _edit_adapter(folder, edit):
    def run(directory):
        rewrite_tensors(directory / folder / "adapter_model.safetensors", edit)
    return run


def _edit_adapter_config(folder, edit):
    def run(directory):
        rewrite_json(directory / folder / "adapter_config.json", edit)
    return run


def _different_k_a(tensors):
    key = f"{ORIGINAL_PREFIX}0.self_attn.k_proj.lora_A.weight"
    tensors[key] = tensors[key] + 1


# Also through the command line (each run starts a Python with torch: a few, one per kind of failure):
# found while assembling a tensor, while planning, and while reading adapter_config.json.
CLI_CASES = {"qkv-a-differ", "misshaped", "dora"}


@pytest.mark.parametrize("edit, messages", [
    (_edit_adapter("separation", _different_k_a),
     ["'roberta.encoder.layers.0.self_attn.k_proj.lora_A.weight' differs", "share its A"]),
    (_edit_adapter("classification", lambda t: t.pop(f"{ORIGINAL_PREFIX}1.mlp.fc1.lora_B.weight")),
     ["classification: 'roberta.encoder.layers.1.mlp.fc1.lora_A.weight' has no encoder.layers.1.mlp.fc1.lora_B"]),
    (_edit_adapter("retrieval_query", lambda t: t.update({f"{ORIGINAL_PREFIX}7.mlp.fc1.lora_A.weight": torch.zeros(4, 64)})),
     ["retrieval_query/adapter_model.safetensors: unexpected tensor 'roberta.encoder.layers.7.mlp.fc1.lora_A.weight'"]),
    (_edit_adapter("retrieval_query", lambda t: t.update({"roberta.encoder.layers.0.attn.q.lora_A.weight": torch.zeros(4)})),
     ["unexpected tensor 'roberta.encoder.layers.0.attn.q.lora_A.weight'"]),
    (_edit_adapter("text_matching", lambda t: t.update(
        {"roberta.embeddings.word_embeddings.lora_embedding_A": torch.zeros(4, 1000)})),
     ["'roberta.embeddings.word_embeddings.lora_embedding_A' has shape [4, 1000], expected [4, 250002]"]),
    (_edit_adapter("text_matching", lambda t: t.update({"roberta.encoder.layers.0.norm1.lora_A.weight": torch.zeros(4)})),
     ["LoRA form its module does not take"]),
    (_edit_adapter_config("separation", lambda c: c.update(use_dora=True)), ["'use_dora' is set"]),
    (_edit_adapter_config("separation", lambda c: c.update(peft_type="IA3")), ["only LoRA adapters"]),
    (_edit_adapter_config("separation", lambda c: c.update(r=8)),
     ["separation/adapter_config.json: r is 8", "lora_rank is 4"]),
    (_edit_adapter_config("separation", lambda c: c.update(rank_pattern={"fc1": 2})), ["'rank_pattern'"]),
    (lambda d: rewrite_tensors(d / "model.safetensors", lambda t: t.pop("roberta.encoder.layers.1.mlp.fc2.weight")),
     ["missing the base tensor roberta.encoder.layers.1.mlp.fc2.weight"]),
    (lambda d: rewrite_tensors(d / "model.safetensors", lambda t: t.update(
        {"roberta.encoder.layers.0.mixer.Wqkv.lora_A.weight": torch.zeros(4, 64)})), ["LoRA tensor", "base weights"]),
    (lambda d: rewrite_tensors(d / "model.safetensors", lambda t: t.update(
        {"roberta.embeddings.LayerNorm.weight": t["roberta.emb_ln.weight"]})), ["are the same tensor"]),
], ids=["qkv-a-differ", "a-without-b", "layer-beyond-config", "unknown-module", "misshaped", "lora-on-norm", "dora",
        "not-lora", "rank", "rank-pattern", "missing-base", "lora-in-base", "duplicate"])
def test_bad_hf_checkpoints_are_named(hf, tmp_path, request, edit, messages):
    directory = variant(hf, tmp_path / "ck")
    edit(directory)
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(directory)
    for message in messages:
        assert message in str(info.value), (message, str(info.value))
    if request.node.callspec.id not in CLI_CASES:
        return
    result = run_export(directory, tmp_path / "pkg")
    assert result.returncode == 1 and "jina3.export: error:" in result.stderr and messages[0] in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "pkg").exists()


def test_hf_config_values_are_still_checked(hf, tmp_path):
    directory = variant(hf, tmp_path / "ck")
    rewrite_json(directory / "config.json", lambda c: (c.pop("rotary_emb_base"),
                                                       c.update(rope_parameters={"rope_theta": 1e4, "rope_type": "yarn"})))
    with pytest.raises(CheckpointError, match="rope_type is 'yarn'"):
        load_layout(directory)
    rewrite_json(directory / "config.json", lambda c: c.update(rope_parameters={"rope_theta": -1.0}))
    with pytest.raises(ConfigError, match="rotary_emb_base"):
        load_layout(directory)
