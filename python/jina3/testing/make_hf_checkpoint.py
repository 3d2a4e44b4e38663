"""Rewrites a checkpoint of the original jina-embeddings-v3 layout in the transformers-native -hf
layout (jinaai/jina-embeddings-v3-hf), so that one set of weights exists in both.

    python3 -m jina3.testing.make_hf_checkpoint ORIGINAL_DIR OUT_DIR [--spelling hf|native]
                                                [--lora-alpha A]

The -hf layout: config.json with architectures ["JinaEmbeddingsV3Model"], model_type
"jina_embeddings_v3" and no auto_map; model.safetensors with the base weights only (each
`X.parametrizations.weight.original` becomes `X.weight`; no LoRA); and per task a PEFT LoRA folder
named after it (retrieval.query -> retrieval_query/) with adapter_config.json and
adapter_model.safetensors holding that task's slice of every adapter:
  Linear     X.lora_A.weight = A[t] [r, in],  X.lora_B.weight = B[t] [out, r]
  Embedding  X.lora_embedding_A = A[t]ᵀ [r, rows],  X.lora_embedding_B = B[t]ᵀ [dim, r]
  Wqkv       split into self_attn.{q,k,v}_proj: each gets the same A[t], and B[t]'s row thirds.
The pooler's base weights are kept and its LoRA dropped (transformers' model has no pooler adapter).

--spelling hf (default): the names of the -hf repository as issue #17 describes it: the base tensors
under the original names (roberta.encoder.layers.N.mixer.Wqkv.weight, ...), adapter keys without
PEFT's base_model.model. prefix, the attention LoRA as roberta.encoder.layers.N.self_attn.q_proj
and the other modules under their original names.
--spelling native: transformers' own module names, as its JinaEmbeddingsV3Model saves them:
layers.N.self_attn.{q,k,v,o}_proj (Wqkv split in the base weights too), post_attention_layernorm,
post_mlp_layernorm, embeddings.LayerNorm, mlp.fc1/fc2, no roberta. prefix; adapter keys under
base_model.model.; config.json with rope_parameters instead of rotary_emb_base and without
lora_rank/lora_alpha (they come from the adapters then).
--lora-alpha A: adapters with lora_alpha A (default: config.json's), B divided by A / lora_alpha so
that every adapter still adds the same update (use a power of two to keep the weights exact).

This writer is deliberately independent of jina3.export.layouts (the reader): it maps names with
its own string rules, from the original layout's documented names and PEFT's checkpoint format.
Every tensor keeps its stored dtype; one tensor is in memory at a time.
"""

import argparse
import json
import re
import shutil
import sys
from pathlib import Path
from typing import Dict, List, Tuple

import torch

from ..export.errors import run_tool
from ..export.safetensors_io import LazyTensor, SafetensorsFile, write_lazy

SPELLINGS = ("hf", "native")
_PARAMETRIZED = ".parametrizations.weight.original"
_LORA_A = ".parametrizations.weight.0.lora_A"
_LORA_B = ".parametrizations.weight.0.lora_B"
_EMBEDDING_MODULES = ("word_embeddings", "token_type_embeddings")


def folder_of(task: str) -> str:
    return task.replace(".", "_").replace("-", "_")


def _native_module(module: str) -> str:
    """roberta.encoder.layers.3.mixer.out_proj -> layers.3.self_attn.o_proj, and so on (transformers'
    conversion_mapping.py entry jina_embeddings_v3, read backwards)."""
    assert module.startswith("roberta."), module
    module = module[len("roberta."):]
    module = module.replace("encoder.layers.", "layers.")
    module = re.sub(r"^emb_ln$", "embeddings.LayerNorm", module)
    module = module.replace(".mixer.out_proj", ".self_attn.o_proj")
    module = re.sub(r"\.norm1$", ".post_attention_layernorm", module)
    module = re.sub(r"\.norm2$", ".post_mlp_layernorm", module)
    return module


def _split_names(module: str, spelling: str) -> List[str]:
    """The q/k/v modules of a fused ...mixer.Wqkv."""
    if spelling == "native":
        base = _native_module(module)
        return [base.replace(".mixer.Wqkv", f".self_attn.{p}_proj") for p in "qkv"]
    return [module.replace(".mixer.Wqkv", f".self_attn.{p}_proj") for p in "qkv"]


def _base_module(module: str, spelling: str) -> str:
    return _native_module(module) if spelling == "native" else module


def _base_tensors(source: SafetensorsFile, spelling: str) -> List[LazyTensor]:
    out = []
    for name in source.keys():
        if name.endswith((_LORA_A, _LORA_B)):
            continue
        info = source.info(name)
        if name.endswith(_PARAMETRIZED):
            module, param = name[:-len(_PARAMETRIZED)], "weight"
        else:
            module, param = name.rsplit(".", 1)
        read = (lambda n=name: source.get(n))
        dtype = _dtype_of(source, name)
        if module.endswith(".mixer.Wqkv") and spelling == "native":
            rows = info.shape[0] // 3
            for i, split in enumerate(_split_names(module, spelling)):
                out.append(LazyTensor(f"{split}.{param}", dtype, (rows,) + tuple(info.shape[1:]),
                                      lambda read=read, i=i, rows=rows: read()[i * rows:(i + 1) * rows].clone()))
        else:
            out.append(LazyTensor(f"{_base_module(module, spelling)}.{param}", dtype, tuple(info.shape), read))
    return out


_DTYPES = {"BF16": torch.bfloat16, "F16": torch.float16, "F32": torch.float32, "F64": torch.float64}


def _dtype_of(source: SafetensorsFile, name: str) -> torch.dtype:
    return _DTYPES[source.info(name).dtype]


def _adapter_tensors(source: SafetensorsFile, task_index: int, spelling: str, b_divisor: float) -> List[LazyTensor]:
    prefix = "base_model.model." if spelling == "native" else ""
    out = []
    for name in source.keys():
        if not name.endswith(_LORA_A) or ".pooler." in name:
            continue
        module = name[:-len(_LORA_A)]
        a_name, b_name = name, module + _LORA_B
        dtype = _dtype_of(source, a_name)
        a_shape, b_shape = source.info(a_name).shape[1:], source.info(b_name).shape[1:]

        def a_of(n=a_name):
            return source.get(n)[task_index].clone()

        def b_of(n=b_name):
            value = source.get(n)[task_index]
            return (value / b_divisor).to(value.dtype) if b_divisor != 1.0 else value.clone()

        leaf = module.rsplit(".", 1)[-1]
        if leaf in _EMBEDDING_MODULES:
            # Original A[t] [rows, r], B[t] [r, dim]; PEFT keeps them transposed.
            target = prefix + _base_module(module, spelling)
            out.append(LazyTensor(f"{target}.lora_embedding_A", dtype, tuple(reversed(a_shape)),
                                  lambda a_of=a_of: a_of().t().contiguous()))
            out.append(LazyTensor(f"{target}.lora_embedding_B", dtype, tuple(reversed(b_shape)),
                                  lambda b_of=b_of: b_of().t().contiguous()))
        elif module.endswith(".mixer.Wqkv"):
            rows = b_shape[0] // 3
            for i, split in enumerate(_split_names(module, spelling)):
                out.append(LazyTensor(f"{prefix}{split}.lora_A.weight", dtype, tuple(a_shape), a_of))
                out.append(LazyTensor(f"{prefix}{split}.lora_B.weight", dtype, (rows, b_shape[1]),
                                      lambda b_of=b_of, i=i, rows=rows: b_of()[i * rows:(i + 1) * rows].clone()))
        else:
            target = prefix + _base_module(module, spelling)
            out.append(LazyTensor(f"{target}.lora_A.weight", dtype, tuple(a_shape), a_of))
            out.append(LazyTensor(f"{target}.lora_B.weight", dtype, tuple(b_shape), b_of))
    return out


def _target_modules(spelling: str) -> List[str]:
    linear = ["q_proj", "k_proj", "v_proj", "o_proj" if spelling == "native" else "out_proj", "fc1", "fc2"]
    return list(_EMBEDDING_MODULES) + linear


def adapter_config(rank: int, alpha, spelling: str) -> Dict:
    """adapter_config.json as PEFT's save_pretrained writes it for a LoRA adapter."""
    return {
        "alpha_pattern": {},
        "auto_mapping": None,
        "base_model_name_or_path": "jinaai/jina-embeddings-v3-hf",
        "bias": "none",
        "fan_in_fan_out": False,
        "inference_mode": True,
        "init_lora_weights": True,
        "layers_pattern": None,
        "layers_to_transform": None,
        "lora_alpha": alpha,
        "lora_dropout": 0.0,
        "modules_to_save": None,
        "peft_type": "LORA",
        "r": rank,
        "rank_pattern": {},
        "revision": None,
        "target_modules": _target_modules(spelling),
        "task_type": "FEATURE_EXTRACTION",
        "use_dora": False,
        "use_rslora": False,
    }


def hf_config(original: Dict, spelling: str) -> Dict:
    config = {k: v for k, v in original.items() if k != "auto_map"}
    config["_name_or_path"] = "jinaai/jina-embeddings-v3-hf"
    config["architectures"] = ["JinaEmbeddingsV3Model"]
    config["model_type"] = "jina_embeddings_v3"
    if spelling == "native":
        config["rope_parameters"] = {"rope_theta": config.pop("rotary_emb_base"), "rope_type": "default"}
        config.pop("lora_rank")
        config.pop("lora_alpha")
    return config


def write_hf_checkpoint(original_dir, out_dir, spelling: str = "hf", lora_alpha=None) -> Path:
    """Writes out_dir (created if needed) from the original-layout checkpoint in original_dir."""
    if spelling not in SPELLINGS:
        raise ValueError(f"unknown spelling {spelling!r}; expected one of {SPELLINGS}")
    original_dir, out_dir = Path(original_dir), Path(out_dir)
    original = json.loads((original_dir / "config.json").read_text(encoding="utf-8"))
    rank, alpha = original["lora_rank"], original["lora_alpha"]
    if lora_alpha is None:
        lora_alpha = alpha
    b_divisor = float(lora_alpha) / float(alpha)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "config.json").write_text(json.dumps(hf_config(original, spelling), indent=2) + "\n", encoding="utf-8")
    shutil.copyfile(original_dir / "tokenizer.json", out_dir / "tokenizer.json")
    with SafetensorsFile(original_dir / "model.safetensors") as source:
        write_lazy(out_dir / "model.safetensors", _base_tensors(source, spelling), metadata={"format": "pt"})
        for index, task in enumerate(original["lora_adaptations"]):
            folder = out_dir / folder_of(task)
            folder.mkdir(exist_ok=True)
            (folder / "adapter_config.json").write_text(
                json.dumps(adapter_config(rank, lora_alpha, spelling), indent=2) + "\n", encoding="utf-8")
            write_lazy(folder / "adapter_model.safetensors", _adapter_tensors(source, index, spelling, b_divisor),
                       metadata={"format": "pt"})
    return out_dir


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m jina3.testing.make_hf_checkpoint",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("original_dir", help="a checkpoint in the original layout (e.g. from make_checkpoint)")
    parser.add_argument("out_dir", help="directory to write (created if missing)")
    parser.add_argument("--spelling", choices=SPELLINGS, default="hf")
    parser.add_argument("--lora-alpha", type=float, default=None)
    args = parser.parse_args(argv)
    return run_tool("make_hf_checkpoint",
                    lambda: write_hf_checkpoint(args.original_dir, args.out_dir, args.spelling, args.lora_alpha),
                    (OSError, ValueError, KeyError))


if __name__ == "__main__":
    sys.exit(main())
