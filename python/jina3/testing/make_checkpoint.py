"""Writes a random jina-embeddings-v3 checkpoint in exactly the Hugging Face layout.

    python3 -m jina3.testing.make_checkpoint --size tiny|full --seed N OUT_DIR [--dtype bfloat16|float32]

OUT_DIR gets config.json (the real keys and values; tiny changes only the sizes), model.safetensors
(the real tensor names and shapes, pooler included) and tokenizer.json (a copy of the real XLM-R
one). Weights are random but well-conditioned: activations stay O(1) through the layers, attention
is far from uniform, and the LoRA adapters are strong enough that tasks give clearly different
embeddings. Each tensor has its own generator seeded from (seed, name), so values do not depend on
the order of writing. The full size (572M parameters) is streamed: one tensor in memory at a time.
"""

import argparse
import json
import math
import shutil
import sys
import zlib
from pathlib import Path
from typing import Dict, Iterator, Tuple

import torch

from ..export.checkpoint import WEIGHTS_FILE, tensor_shapes
from ..export.config import config_from_dict
from ..export.errors import run_tool
from ..export.safetensors_io import LazyTensor, write_lazy
from .paths import xlmr_tokenizer_json

TASKS = ["retrieval.query", "retrieval.passage", "separation", "classification", "text-matching"]
TASK_INSTRUCTIONS = {
    "retrieval.query": "Represent the query for retrieving evidence documents: ",
    "retrieval.passage": "Represent the document for retrieval: ",
    "separation": "",
    "classification": "",
    "text-matching": "",
}

SIZES = {
    "full": {"hidden_size": 1024, "num_hidden_layers": 24, "num_attention_heads": 16, "intermediate_size": 4096,
             "matryoshka_dimensions": [32, 64, 128, 256, 512, 768, 1024]},
    "tiny": {"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 128,
             "matryoshka_dimensions": [8, 16, 32, 64]},
}

# Weight scales (standard deviations). Linear weights use 1/sqrt(fan_in) so every projection keeps
# O(1) activations; LoRA B scales are chosen so the adapter adds about a third of the base output.
EMBEDDING_STD = 0.5
LINEAR_BIAS_STD = 0.05
NORM_WEIGHT_STD = 0.1
NORM_BIAS_STD = 0.05
LORA_LINEAR_B_STD = 0.6
LORA_EMBEDDING_A_STD = 1.0
LORA_EMBEDDING_B_STD = 0.3


def config_dict(size: str) -> Dict:
    """config.json as the real checkpoint has it (keys and values), with the sizes of `size`."""
    dims = SIZES[size]
    return {
        "_name_or_path": "jinaai/jina-embeddings-v3",
        "architectures": ["XLMRobertaModel"],
        "attention_probs_dropout_prob": 0.1,
        "auto_map": {
            "AutoConfig": "jinaai/xlm-roberta-flash-implementation--configuration_xlm_roberta.XLMRobertaFlashConfig",
            "AutoModel": "jinaai/xlm-roberta-flash-implementation--modeling_lora.XLMRobertaLoRA",
            "AutoModelForMaskedLM":
                "jinaai/xlm-roberta-flash-implementation--modeling_xlm_roberta.XLMRobertaForMaskedLM",
            "AutoModelForPreTraining":
                "jinaai/xlm-roberta-flash-implementation--modeling_xlm_roberta.XLMRobertaForPreTraining",
        },
        "bos_token_id": 0,
        "classifier_dropout": None,
        "emb_pooler": None,
        "eos_token_id": 2,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "hidden_size": dims["hidden_size"],
        "initializer_range": 0.02,
        "intermediate_size": dims["intermediate_size"],
        "layer_norm_eps": 1e-05,
        "load_trained_adapters": True,
        "lora_adaptations": list(TASKS),
        "lora_alpha": 1,
        "lora_dropout_p": 0.0,
        "lora_main_params_trainable": False,
        "lora_rank": 4,
        "matryoshka_dimensions": list(dims["matryoshka_dimensions"]),
        "max_position_embeddings": 8194,
        "model_type": "xlm-roberta",
        "num_attention_heads": dims["num_attention_heads"],
        "num_hidden_layers": dims["num_hidden_layers"],
        "output_past": True,
        "pad_token_id": 1,
        "position_embedding_type": "rotary",
        "rotary_emb_base": 20000.0,
        "task_instructions": dict(TASK_INSTRUCTIONS),
        "torch_dtype": "bfloat16",
        "transformers_version": "4.43.4",
        "truncate_dim": None,
        "type_vocab_size": 1,
        "use_cache": True,
        "use_flash_attn": True,
        "use_reentrant": False,
        "vocab_size": 250002,
    }


def _seed_for(seed: int, name: str) -> int:
    return (seed * 0x9E3779B97F4A7C15 + zlib.crc32(name.encode("utf-8"))) % (1 << 63)


def _std_and_mean(name: str, shape) -> Tuple[float, float]:
    """(std, mean) of the normal distribution a tensor is drawn from, by its role."""
    if name.endswith(".parametrizations.weight.original"):
        if "embeddings." in name:
            return EMBEDDING_STD, 0.0
        return 1.0 / math.sqrt(shape[1]), 0.0
    if name.endswith(".lora_A"):
        if "embeddings." in name:
            return LORA_EMBEDDING_A_STD, 0.0
        return 1.0 / math.sqrt(shape[2]), 0.0  # [T, r, in]
    if name.endswith(".lora_B"):
        if "embeddings." in name:
            return LORA_EMBEDDING_B_STD, 0.0
        return LORA_LINEAR_B_STD, 0.0
    is_norm = "emb_ln." in name or ".norm1." in name or ".norm2." in name
    if is_norm and name.endswith(".weight"):
        return NORM_WEIGHT_STD, 1.0
    if is_norm and name.endswith(".bias"):
        return NORM_BIAS_STD, 0.0
    if name.endswith(".bias"):
        return LINEAR_BIAS_STD, 0.0
    raise ValueError(f"no initialisation rule for tensor {name!r}")


def random_tensor(seed: int, name: str, shape, dtype: torch.dtype) -> torch.Tensor:
    std, mean = _std_and_mean(name, shape)
    generator = torch.Generator().manual_seed(_seed_for(seed, name))
    values = torch.randn(shape, generator=generator, dtype=torch.float32)
    values.mul_(std).add_(mean)
    return values.to(dtype)


def lazy_tensors(size: str, seed: int, dtype: torch.dtype) -> Iterator[LazyTensor]:
    config = config_from_dict(config_dict(size), f"<{size} config>")
    for name, shape in tensor_shapes(config, include_pooler=True).items():
        yield LazyTensor(name, dtype, shape, lambda name=name, shape=shape: random_tensor(seed, name, shape, dtype))


def write_checkpoint(out_dir, size: str = "tiny", seed: int = 0, dtype: torch.dtype = torch.bfloat16,
                     tokenizer_json=None) -> Path:
    """Writes config.json, model.safetensors and tokenizer.json into out_dir (created if needed)."""
    if size not in SIZES:
        raise ValueError(f"unknown size {size!r}; expected one of {sorted(SIZES)}")
    out_dir = Path(out_dir)
    tokenizer_json = Path(tokenizer_json) if tokenizer_json else xlmr_tokenizer_json()
    if not tokenizer_json.is_file():
        raise FileNotFoundError(f"{tokenizer_json}: no such tokenizer.json")
    out_dir.mkdir(parents=True, exist_ok=True)
    config = config_dict(size)
    config["torch_dtype"] = {torch.bfloat16: "bfloat16", torch.float32: "float32"}[dtype]
    (out_dir / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    shutil.copyfile(tokenizer_json, out_dir / "tokenizer.json")
    write_lazy(out_dir / WEIGHTS_FILE, lazy_tensors(size, seed, dtype), metadata={"format": "pt"})
    return out_dir


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m jina3.testing.make_checkpoint",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir", help="directory to write (created if missing; our files are overwritten)")
    parser.add_argument("--size", choices=sorted(SIZES), default="tiny")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dtype", choices=["bfloat16", "float32"], default="bfloat16",
                        help="stored dtype (the real checkpoint is bfloat16)")
    parser.add_argument("--tokenizer-json", default=None,
                        help="tokenizer.json to copy (default: $JINA3_SHARED_DATA/xlmr or ../shared/data/xlmr)")
    args = parser.parse_args(argv)
    return run_tool("make_checkpoint",
                    lambda: write_checkpoint(args.out_dir, args.size, args.seed, getattr(torch, args.dtype),
                                             args.tokenizer_json),
                    (OSError, ValueError))


if __name__ == "__main__":
    sys.exit(main())
