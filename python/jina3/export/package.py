"""Export a jina-embeddings-v3 Hugging Face checkpoint as a jina3 package (docs/package-format.md).

    python3 -m jina3.export HF_DIR OUT_DIR [--dtype float32|bfloat16|float16|int8] [--max-length N]
                                           [--kernels auto|on|off] [--overwrite]

HF_DIR is a Hugging Face download of the model in either layout (layouts.py): the original
jinaai/jina-embeddings-v3 (config.json, model.safetensors or a sharded index, tokenizer.json) or the
transformers-native jinaai/jina-embeddings-v3-hf (the same files with base weights only, plus one
PEFT adapter folder per task); both give the same package. OUT_DIR gets
manifest.json, backbone.pt (TorchScript) and tokenizer.model (sentencepiece, converted from
tokenizer.json). Everything is written into a temporary directory beside OUT_DIR and renamed into
place at the end, so a failed export leaves no partial package.

With --kernels auto (the default), the backbone calls jina3's own CPU operators (torch.ops.jina3.*)
where the compiled module jina3._jina3 can be imported, i.e. from a build or an installed jina3;
--kernels off writes a backbone of LibTorch operators only (slower on the CPU, same numbers).

Before writing, the exporter checks the scripted module against the eager float32 model on a small
mixed-task batch, and after writing it reloads backbone.pt and checks it again.
"""

import argparse
import hashlib
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Dict, Optional, Union

import torch
from torch import nn

from .config import ModelConfig
from .layouts import HF, load_layout
from .convert_tokenizer import ConvertedTokenizer, convert
from .backbone import JinaEmbeddingsV3, kernels_available, load_checkpoint, quantize_int8, use_kernels
from .errors import ExportError, run_tool
from .version import jina3_version

FORMAT = "jina3.package"
FORMAT_VERSION = 2
DTYPES = ("float32", "bfloat16", "float16", "int8")
KERNELS = ("auto", "on", "off")
BACKBONE_FILE = "backbone.pt"
TOKENIZER_FILE = "tokenizer.model"
MANIFEST_FILE = "manifest.json"

# Self-check limits: scripted (cast) module vs eager float32 model on the probe batch.
_MAX_ABS_DIFF_FLOAT32 = 1e-4
_MIN_COSINE = {"bfloat16": 0.99, "float16": 0.99, "int8": 0.99}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _probe_batch(config: ModelConfig, tokenizer: ConvertedTokenizer):
    """Three rows of different lengths and tasks (no adapter, first, last), right-padded."""
    bos, eos, pad = tokenizer.special_ids["bos"], tokenizer.special_ids["eos"], tokenizer.special_ids["pad"]
    generator = torch.Generator().manual_seed(1234)
    rows = []
    for length in (9, 5, 2):
        body = torch.randint(4, tokenizer.vocab_size - 1, (length - 2,), generator=generator).tolist()
        rows.append([bos] + body + [eos])
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad, dtype=torch.int64)
    mask = torch.zeros((len(rows), width), dtype=torch.int64)
    for i, row in enumerate(rows):
        ids[i, :len(row)] = torch.tensor(row)
        mask[i, :len(row)] = 1
    tasks = torch.tensor([-1, 0, config.num_tasks - 1], dtype=torch.int64)
    return ids, mask, tasks


def _pooled(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    weights = mask.unsqueeze(-1).to(torch.float32)
    return (hidden.to(torch.float32) * weights).sum(1) / weights.sum(1)


def _check_close(dtype: str, expected: torch.Tensor, got: torch.Tensor, mask: torch.Tensor, what: str) -> None:
    if got.shape != expected.shape:
        raise ExportError(f"self-check failed: {what} returned shape {list(got.shape)}, "
                          f"expected {list(expected.shape)}")
    if not torch.isfinite(got.float()).all():
        raise ExportError(f"self-check failed: {what} produced NaN or infinite values")
    if dtype == "float32":
        diff = (got - expected).abs().max().item()
        if diff > _MAX_ABS_DIFF_FLOAT32:
            raise ExportError(f"self-check failed: {what} differs from the eager model by {diff:.3g}")
        return
    cosine = nn.functional.cosine_similarity(_pooled(got, mask), _pooled(expected, mask), dim=-1).min().item()
    if cosine < _MIN_COSINE[dtype]:
        raise ExportError(f"self-check failed: {what} in {dtype} has cosine {cosine:.5f} to float32 "
                          f"(need >= {_MIN_COSINE[dtype]})")


def _can_run(dtype: str) -> bool:
    # LibTorch's CPU kernels have no float16 matrix products; such packages are for CUDA.
    return dtype != "float16"


def _cast(model: JinaEmbeddingsV3, dtype: str) -> nn.Module:
    if dtype == "float32":
        return model
    if dtype in ("bfloat16", "float16"):
        return model.to(getattr(torch, dtype))
    # int8: the four projections of every block quantised (int8 weights, one float32 scale per
    # output channel; activations per row at run time: Int8LoRALinear), the rest stored in
    # bfloat16 (on CPUs without native bfloat16 the runtime computes it in float32).
    return quantize_int8(model, torch.bfloat16)


def _model_name(config: ModelConfig, layout: str) -> str:
    name = config.name_or_path.rsplit("/", 1)[-1] or "jina-embeddings-v3"
    # jinaai/jina-embeddings-v3-hf is the same model as jinaai/jina-embeddings-v3, repackaged.
    return name[:-len("-hf")] if layout == HF and name.endswith("-hf") else name


def _manifest(config: ModelConfig, layout: str, tokenizer: ConvertedTokenizer, dtype: str, max_length: int,
              kernels: bool, files: Dict[str, Dict]) -> Dict:
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "model_name": _model_name(config, layout),
        "jina3_version": jina3_version(),
        "torch_version": torch.__version__,
        "dtype": dtype,
        "jina3_kernels": kernels,
        "hidden_size": config.hidden_size,
        "num_layers": config.num_hidden_layers,
        "num_heads": config.num_attention_heads,
        "intermediate_size": config.intermediate_size,
        "vocab_size": config.vocab_size,
        "tasks": list(config.lora_adaptations),
        "prompts": {task: config.task_instructions[task] for task in config.lora_adaptations},
        "matryoshka_dims": list(config.matryoshka_dimensions),
        "max_length": max_length,
        "special_ids": dict(tokenizer.special_ids),
        "spm_id_offset": tokenizer.spm_id_offset,
        "files": files,
    }


def _check_tokenizer_fits(config: ModelConfig, tokenizer: ConvertedTokenizer, source: Path) -> None:
    if tokenizer.vocab_size != config.vocab_size:
        raise ExportError(f"{source}: {tokenizer.vocab_size} vocabulary entries, but config.json says "
                          f"vocab_size {config.vocab_size}")
    for name, key in (("bos", "bos_token_id"), ("eos", "eos_token_id"), ("pad", "pad_token_id")):
        if tokenizer.special_ids[name] != getattr(config, key):
            raise ExportError(f"{source}: {name} id {tokenizer.special_ids[name]} differs from config.json "
                              f"{key} {getattr(config, key)}")


def export_package(hf_dir: Union[str, os.PathLike], out_dir: Union[str, os.PathLike], dtype: str = "float32",
                   max_length: Optional[int] = None, overwrite: bool = False, attention: str = "auto",
                   kernels: str = "auto", log=None) -> Path:
    """Writes the package; returns its path. Raises ToolError subclasses (ConfigError,
    CheckpointError, TokenizerConversionError, ExportError) with messages naming what is wrong."""
    log = log or (lambda message: None)
    hf_dir, out_dir = Path(hf_dir), Path(out_dir)
    if dtype not in DTYPES:
        raise ExportError(f"dtype {dtype!r} is not one of {', '.join(DTYPES)}")
    if kernels not in KERNELS:
        raise ExportError(f"kernels {kernels!r} is not one of {', '.join(KERNELS)}")
    with_kernels = kernels != "off" and kernels_available()
    if dtype == "int8" and not with_kernels:
        raise ExportError("int8 packages run their linear layers through jina3's int8 operator: export them with "
                          "jina3's operators available (build jina3, put build/python on PYTHONPATH, and leave "
                          "--kernels at auto or on)")
    if kernels == "on" and not with_kernels:
        raise ExportError("--kernels on: jina3's operators are not available (jina3._jina3 cannot be imported; "
                          "build jina3 and put build/python on PYTHONPATH)")
    if not hf_dir.is_dir():
        raise ExportError(f"{hf_dir}: checkpoint directory does not exist")
    if out_dir.exists() and not overwrite:
        raise ExportError(f"{out_dir}: already exists (pass --overwrite to replace it)")
    if out_dir.exists() and not out_dir.is_dir():
        raise ExportError(f"{out_dir}: exists and is not a directory")

    layout = load_layout(hf_dir)
    config = layout.config
    log(f"{hf_dir}: the {'transformers-native -hf' if layout.name == HF else 'original'} layout"
        + (f" ({'; '.join(layout.notes)})" if layout.notes else ""))
    if max_length is None:
        max_length = config.max_position_embeddings
    if not 2 <= max_length <= config.max_position_embeddings:
        raise ExportError(f"max_length {max_length} must be in [2, {config.max_position_embeddings}] "
                          "(<s> and </s> count; config.json max_position_embeddings is the limit)")
    tokenizer_json = hf_dir / "tokenizer.json"
    if not tokenizer_json.is_file():
        raise ExportError(f"{tokenizer_json}: missing (the package's tokenizer is converted from it)")
    tokenizer = convert(tokenizer_json)
    _check_tokenizer_fits(config, tokenizer, tokenizer_json)

    log(f"loading {hf_dir}")
    model = load_checkpoint(hf_dir, torch.float32, attention=attention, config=config)
    probe = _probe_batch(config, tokenizer)
    with torch.inference_mode():
        expected = model(*probe)

    log(f"casting to {dtype} and scripting" + (" with jina3's operators" if with_kernels else ""))
    model = _cast(model, dtype).eval()
    if with_kernels:
        use_kernels(model)
    try:
        scripted = torch.jit.script(model)
    except Exception as exc:  # TorchScript reports compile problems with many exception types
        raise ExportError(f"torch.jit.script failed: {exc}") from exc
    got = None
    if _can_run(dtype):
        with torch.inference_mode():
            got = scripted(*probe)
        _check_close(dtype, expected, got, probe[1], "the scripted module")
    del model

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=out_dir.parent))
    try:
        scripted.save(str(staging / BACKBONE_FILE))
        (staging / TOKENIZER_FILE).write_bytes(tokenizer.model_proto)
        if got is not None:
            reloaded = torch.jit.load(str(staging / BACKBONE_FILE))
            with torch.inference_mode():
                again = reloaded(*probe)
            if not torch.equal(again, got):
                raise ExportError("self-check failed: the saved backbone.pt does not reproduce the scripted module")
        files = {name: {"sha256": _sha256(staging / name), "size": (staging / name).stat().st_size}
                 for name in (BACKBONE_FILE, TOKENIZER_FILE)}
        manifest = _manifest(config, layout.name, tokenizer, dtype, max_length, with_kernels, files)
        (staging / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n",
                                             encoding="utf-8")
        os.chmod(staging, 0o755)  # mkdtemp makes it 0700
        _move_into_place(staging, out_dir, overwrite)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    log(f"wrote {out_dir}")
    return out_dir


def _move_into_place(staging: Path, out_dir: Path, overwrite: bool) -> None:
    if not out_dir.exists():
        os.rename(staging, out_dir)
        return
    if not overwrite:
        raise ExportError(f"{out_dir}: appeared while exporting; not replacing it")
    # Swap: the old package is moved aside first, so out_dir is at every moment either the old
    # package or the new one.
    old = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.old-", dir=out_dir.parent))
    os.rmdir(old)
    os.rename(out_dir, old)
    try:
        os.rename(staging, out_dir)
    except BaseException:
        os.rename(old, out_dir)
        raise
    shutil.rmtree(old, ignore_errors=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m jina3.export", description=__doc__.split("\n\n")[0])
    parser.add_argument("hf_dir", help="Hugging Face checkpoint directory, either layout: jinaai/jina-embeddings-v3 "
                                       "(config.json, model.safetensors, tokenizer.json) or "
                                       "jinaai/jina-embeddings-v3-hf (the same plus one PEFT adapter folder per task)")
    parser.add_argument("out_dir", help="package directory to create")
    parser.add_argument("--dtype", choices=DTYPES, default="float32",
                        help="stored weights: float32, bfloat16, float16 (CUDA only) or int8 (per-channel "
                             "quantised linear layers, CPU only); default float32")
    parser.add_argument("--max-length", type=int, default=None,
                        help="token limit per text, <s> and </s> included (default: max_position_embeddings)")
    parser.add_argument("--kernels", choices=KERNELS, default="auto",
                        help="call jina3's CPU operators from the backbone: auto (where jina3._jina3 imports), "
                             "on (required), off (LibTorch operators only); default auto")
    parser.add_argument("--overwrite", action="store_true", help="replace OUT_DIR if it exists")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    log = (lambda m: None) if args.quiet else (lambda m: print(f"jina3.export: {m}", file=sys.stderr))
    return run_tool("jina3.export", lambda: export_package(args.hf_dir, args.out_dir, args.dtype, args.max_length,
                                                           args.overwrite, kernels=args.kernels, log=log))


if __name__ == "__main__":
    sys.exit(main())
