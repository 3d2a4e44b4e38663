"""The two Hugging Face layouts of jina-embeddings-v3: telling them apart, and reading the -hf one.

original  jinaai/jina-embeddings-v3, the remote-code repository (config.json with auto_map,
          model_type "xlm-roberta"): one model.safetensors in which every Linear and Embedding
          carries the five task adapters as a torch parametrization (see checkpoint.py).
hf        jinaai/jina-embeddings-v3-hf, transformers' native JinaEmbeddingsV3Model (model_type
          "jina_embeddings_v3", no auto_map): model.safetensors holds the base weights only, and
          each task has a PEFT LoRA folder named after it (retrieval_query/, retrieval_passage/,
          separation/, classification/, text_matching/), each with adapter_config.json and
          adapter_model.safetensors. transformers loads them with model.load_adapter(repo,
          adapter_kwargs={"subfolder": task}).

The layout is told by the weights, not by config.json: LoRA parametrizations in model.safetensors
mean the original; plain base weights with adapter folders (or a jina_embeddings_v3 config) mean
-hf; anything else is refused with an error naming what was found.

HfLayoutTensors presents an -hf directory under the original tensor names (keys, info,
read_float32_into, as checkpoint.CheckpointTensors), each tensor assembled from the base file and
the five adapters, so that check_tensor_names() and backbone.load_checkpoint() read both layouts
the same way and the exporter writes the same package from either.

Spellings accepted, since tools save the same weights under different names:
  base      with or without "roberta."; encoder.layers.N or layers.N; emb_ln or
            embeddings.LayerNorm; mixer.Wqkv, or self_attn.{q,k,v}_proj (the row thirds of Wqkv);
            mixer.out_proj or self_attn.o_proj; norm1/norm2 or post_attention_layernorm/
            post_mlp_layernorm; mlp.fc1/mlp.fc2; the pooler and an lm_head are ignored.
  adapters  the same module names, with or without PEFT's "base_model.model." prefix. Linear LoRA
            is <module>.lora_A.weight [r, in] and .lora_B.weight [out, r]; Embedding LoRA is
            <module>.lora_embedding_A [r, rows] and .lora_embedding_B [dim, r], the original A[t]
            and B[t] transposed. The attention LoRA may be fused (mixer.Wqkv) or split into q/k/v
            with one shared A and B in row thirds.
A module an adapter leaves out has no LoRA for that task (PEFT applies nothing there). PEFT's
scaling, lora_alpha / r (or / sqrt(r) with use_rslora), is folded into B where it differs from
config.json's lora_alpha / lora_rank, the one scale the package applies to every task.
"""

import json
import math
import os
import re
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple, Union

import numpy as np

from .checkpoint import PREFIX, CheckpointTensors, tensor_shapes
from .config import ModelConfig, config_from_dict, read_config_json
from .errors import CheckpointError
from .safetensors_io import SafetensorsFile, TensorInfo

ORIGINAL = "original"
HF = "hf"
LAYOUTS = (ORIGINAL, HF)

ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = "adapter_model.safetensors"
PEFT_PREFIX = "base_model.model."
HF_MODEL_TYPE = "jina_embeddings_v3"
HF_ARCHITECTURE = "JinaEmbeddingsV3Model"

# transformers' JinaEmbeddingsV3Config defaults, for keys an -hf config.json may leave out.
_HF_DEFAULT_TASKS = ["retrieval.query", "retrieval.passage", "separation", "classification", "text-matching"]
_HF_DEFAULT_INSTRUCTIONS = {
    "retrieval.query": "Represent the query for retrieving evidence documents: ",
    "retrieval.passage": "Represent the document for retrieval: ",
    "separation": "",
    "classification": "",
    "text-matching": "",
}
_HF_DEFAULT_ROPE_THETA = 20000.0
_HF_DEFAULT_MATRYOSHKA = [32, 64, 128, 256, 512, 768, 1024]

# PEFT's LoraConfig defaults for keys an adapter_config.json may leave out.
_PEFT_DEFAULT_R = 8
_PEFT_DEFAULT_ALPHA = 8

_DOWNLOAD_HINT = "huggingface-cli download jinaai/jina-embeddings-v3-hf --local-dir DIR"


def adapter_folder(task: str) -> str:
    """The -hf adapter folder of a task: retrieval.query -> retrieval_query, text-matching -> text_matching."""
    return re.sub(r"[^0-9A-Za-z_]", "_", task)


def adapter_path(directory: Path, task: str) -> Path:
    """The task's adapter folder in directory: adapter_folder(task), or one named as the task itself
    (a hand-made copy); the former when neither exists."""
    for name in (adapter_folder(task), task):
        if (directory / name).is_dir():
            return directory / name
    return directory / adapter_folder(task)


# ---------------------------------------------------------------------------------------------
# Tensor names: every accepted spelling -> (module in the original's spelling without "roberta.",
# q/k/v part of a split Wqkv or None, parameter).

_LINEAR = ("mixer.Wqkv", "mixer.out_proj", "mlp.fc1", "mlp.fc2")
_EMBEDDINGS = ("embeddings.word_embeddings", "embeddings.token_type_embeddings")
_TOP_MODULES = {
    "embeddings.word_embeddings": "embeddings.word_embeddings",
    "embeddings.token_type_embeddings": "embeddings.token_type_embeddings",
    "emb_ln": "emb_ln",
    "embeddings.LayerNorm": "emb_ln",
}
_LAYER_MODULES = {
    "mixer.Wqkv": ("mixer.Wqkv", None),
    "self_attn.q_proj": ("mixer.Wqkv", 0),
    "self_attn.k_proj": ("mixer.Wqkv", 1),
    "self_attn.v_proj": ("mixer.Wqkv", 2),
    "mixer.out_proj": ("mixer.out_proj", None),
    "self_attn.o_proj": ("mixer.out_proj", None),
    "mlp.fc1": ("mlp.fc1", None),
    "mlp.fc2": ("mlp.fc2", None),
    "norm1": ("norm1", None),
    "post_attention_layernorm": ("norm1", None),
    "norm2": ("norm2", None),
    "post_mlp_layernorm": ("norm2", None),
}
# Longest first: "x.lora_A.weight" also ends with ".weight".
_PARAMS = ("lora_A.weight", "lora_B.weight", "lora_embedding_A", "lora_embedding_B", "weight", "bias")
BASE_PARAMS = ("weight", "bias")
_IGNORED_PREFIXES = ("pooler.", "lm_head.")
IGNORED = ("", None, "")  # parse_name's answer for the pooler and a masked-LM head
_LAYER = re.compile(r"(?:encoder\.)?layers\.(0|[1-9][0-9]*)\.(.+)")

Canonical = Tuple[str, Optional[int], str]


def parse_name(name: str) -> Optional[Canonical]:
    """(module, part, param) for a tensor name in any accepted spelling; IGNORED for the pooler and
    an lm_head; None for a name that belongs to neither layout."""
    body = name[len(PEFT_PREFIX):] if name.startswith(PEFT_PREFIX) else name
    if body.startswith(PREFIX):
        body = body[len(PREFIX):]
    if body.startswith(_IGNORED_PREFIXES):
        return IGNORED
    for param in _PARAMS:
        if body.endswith("." + param):
            module = body[:-len(param) - 1]
            break
    else:
        return None
    if module in _TOP_MODULES:
        return _TOP_MODULES[module], None, param
    match = _LAYER.fullmatch(module)
    if match and match.group(2) in _LAYER_MODULES:
        canonical, part = _LAYER_MODULES[match.group(2)]
        return f"encoder.layers.{match.group(1)}.{canonical}", part, param
    return None


def _kind(module: str) -> str:
    if module in _EMBEDDINGS:
        return "embedding"
    if module.endswith(_LINEAR):
        return "linear"
    return "norm"


def _describe(key: Canonical) -> str:
    module, part, param = key
    name = module if part is None else f"{module}[{'qkv'[part]}]"
    return f"{name}.{param}"


# ---------------------------------------------------------------------------------------------
# Detection.


@dataclass
class Layout:
    name: str  # ORIGINAL or HF
    config: ModelConfig
    notes: List[str] = field(default_factory=list)  # config keys filled in, for the log


def _adapter_dirs(directory: Path) -> List[str]:
    try:
        return sorted(p.name for p in directory.iterdir() if p.is_dir() and (p / ADAPTER_CONFIG).is_file())
    except OSError:
        return []


def _short(values, limit: int = 4) -> str:
    values = list(values)
    shown = ", ".join(repr(v) for v in values[:limit])
    return shown + (f" (and {len(values) - limit} more)" if len(values) > limit else "") if values else "none"


def detect_layout(directory: Union[str, os.PathLike], raw_config: Optional[dict] = None) -> str:
    """ORIGINAL or HF; raises CheckpointError describing what was found for anything else."""
    directory = Path(directory)
    raw = raw_config if raw_config is not None else read_config_json(directory)[0]
    with CheckpointTensors(directory) as tensors:
        names = tensors.keys()
    if any(".parametrizations.weight." in n for n in names):
        return ORIGINAL
    adapters = _adapter_dirs(directory)
    parsed = [parse_name(n) for n in names]
    has_base = any(p is not None and p != IGNORED and p[0] == "embeddings.word_embeddings" and p[2] == "weight"
                   for p in parsed)
    architectures = raw.get("architectures") if isinstance(raw.get("architectures"), list) else []
    hf_config = raw.get("model_type") == HF_MODEL_TYPE or HF_ARCHITECTURE in architectures
    if has_base and (adapters or hf_config):
        return HF
    raise CheckpointError(
        f"{directory}: not a jina-embeddings-v3 checkpoint in a layout jina3.export reads. Found: model_type "
        f"{raw.get('model_type')!r}, architectures {architectures}, {len(names)} tensors such as {_short(names, 3)}, "
        f"adapter folders: {_short(adapters)}. Expected either the original jinaai/jina-embeddings-v3 (LoRA "
        f"parametrizations such as '{PREFIX}embeddings.word_embeddings.parametrizations.weight.0.lora_A' in "
        f"model.safetensors) or jinaai/jina-embeddings-v3-hf (base weights such as "
        f"'{PREFIX}embeddings.word_embeddings.weight' plus one PEFT adapter folder per task: "
        f"{', '.join(adapter_folder(t) + '/' for t in _HF_DEFAULT_TASKS)})")


# ---------------------------------------------------------------------------------------------
# Adapters.


@dataclass
class Adapter:
    task: str
    folder: Path
    rank: int
    alpha: float
    scale: float  # PEFT's scaling of this adapter


def read_adapter_config(folder: Path, task: str) -> Adapter:
    path = folder / ADAPTER_CONFIG
    if not folder.is_dir():
        raise CheckpointError(f"{folder}: missing: the PEFT adapter of task {task!r} (download the whole "
                              f"repository: {_DOWNLOAD_HINT})")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CheckpointError(f"{path}: missing (the PEFT adapter of task {task!r})") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise CheckpointError(f"{path}: cannot read it as JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise CheckpointError(f"{path}: must hold a JSON object")

    def fail(key, what):
        return CheckpointError(f"{path}: key {key!r} {what}")

    peft_type = raw.get("peft_type", "LORA")
    if peft_type != "LORA":
        raise fail("peft_type", f"is {peft_type!r}; only LoRA adapters (\"LORA\") are read")
    rank = raw.get("r", _PEFT_DEFAULT_R)
    if isinstance(rank, bool) or not isinstance(rank, int) or rank < 1:
        raise fail("r", f"must be a positive integer, not {json.dumps(rank)}")
    alpha = raw.get("lora_alpha", _PEFT_DEFAULT_ALPHA)
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not math.isfinite(alpha) or alpha == 0:
        raise fail("lora_alpha", f"must be a non-zero finite number, not {json.dumps(alpha)}")
    for key, what in (("use_dora", "DoRA"), ("fan_in_fan_out", "fan_in_fan_out weights")):
        if raw.get(key):
            raise fail(key, f"is set; {what} cannot be expressed in jina-embeddings-v3's LoRA form")
    for key in ("rank_pattern", "alpha_pattern", "modules_to_save"):
        if raw.get(key):
            raise fail(key, f"is {json.dumps(raw[key])[:120]}; per-module ranks, alphas and saved modules are "
                            "not supported")
    if raw.get("bias", "none") not in ("none", None):
        raise fail("bias", f"is {raw.get('bias')!r}; LoRA bias tensors are not supported")
    scale = alpha / (math.sqrt(rank) if raw.get("use_rslora") else rank)
    return Adapter(task, folder, rank, float(alpha), scale)


def _hf_config(directory: Path, raw: dict, source: str) -> Tuple[ModelConfig, List[str], Dict[str, Adapter]]:
    """config.json of an -hf checkpoint, keys transformers' config class may omit filled in
    (rope_parameters.rope_theta -> rotary_emb_base, the task lists, LoRA rank and alpha from the
    adapters); then the same validation as the original's."""
    raw = dict(raw)
    notes = []
    if "rotary_emb_base" not in raw:
        rope = raw.get("rope_parameters") if isinstance(raw.get("rope_parameters"), dict) else {}
        theta = rope.get("rope_theta", raw.get("rope_theta"))
        if theta is None:
            theta, origin = _HF_DEFAULT_ROPE_THETA, "transformers' default"
        else:
            origin = "rope_parameters.rope_theta" if "rope_theta" in rope else "rope_theta"
        raw["rotary_emb_base"] = theta
        notes.append(f"rotary_emb_base {theta} from {origin}")
        rope_type = rope.get("rope_type", "default")
        if rope_type != "default":
            raise CheckpointError(f"{source}: rope_parameters.rope_type is {rope_type!r}; jina-embeddings-v3 uses "
                                  "plain rotary positions ('default')")
    for key, default in (("position_embedding_type", "rotary"), ("lora_adaptations", _HF_DEFAULT_TASKS),
                         ("task_instructions", _HF_DEFAULT_INSTRUCTIONS),
                         ("matryoshka_dimensions", _HF_DEFAULT_MATRYOSHKA)):
        if key not in raw:
            raw[key] = default
            notes.append(f"{key} from transformers' defaults")
    tasks = raw["lora_adaptations"]
    adapters: Dict[str, Adapter] = {}
    if isinstance(tasks, list) and all(isinstance(t, str) for t in tasks):
        adapters = {task: read_adapter_config(adapter_path(directory, task), task) for task in tasks}
    if adapters:
        first = next(iter(adapters.values()))
        if "lora_rank" not in raw:
            raw["lora_rank"] = first.rank
            notes.append(f"lora_rank {first.rank} from {adapter_folder(first.task)}/{ADAPTER_CONFIG}")
        if "lora_alpha" not in raw:
            raw["lora_alpha"] = first.alpha
            notes.append(f"lora_alpha {first.alpha:g} from {adapter_folder(first.task)}/{ADAPTER_CONFIG}")
    config = config_from_dict(raw, source)
    for adapter in adapters.values():
        if adapter.rank != config.lora_rank:
            raise CheckpointError(f"{adapter.folder / ADAPTER_CONFIG}: r is {adapter.rank}, but config.json's "
                                  f"lora_rank is {config.lora_rank}; every task's adapter must have that rank")
    return config, notes, adapters


def load_layout(directory: Union[str, os.PathLike]) -> Layout:
    """Detects the layout and reads config.json accordingly (raises ConfigError/CheckpointError)."""
    directory = Path(directory)
    raw, source = read_config_json(directory)
    name = detect_layout(directory, raw)
    if name == ORIGINAL:
        return Layout(ORIGINAL, config_from_dict(raw, source))
    config, notes, _ = _hf_config(directory, raw, source)
    return Layout(HF, config, notes)


def open_tensors(directory: Union[str, os.PathLike], config: ModelConfig, layout: Optional[str] = None):
    """The checkpoint's tensors under the original names: CheckpointTensors for the original layout,
    HfLayoutTensors for -hf. Use as a context manager."""
    directory = Path(directory)
    if layout is None:
        layout = detect_layout(directory)
    if layout == ORIGINAL:
        return CheckpointTensors(directory)
    if layout == HF:
        return HfLayoutTensors(directory, config)
    raise ValueError(f"unknown layout {layout!r}; expected one of {LAYOUTS}")


# ---------------------------------------------------------------------------------------------
# The -hf layout under the original names.


@dataclass
class _Virtual:
    shape: Tuple[int, ...]
    fill: Callable[[np.ndarray], None]  # writes the tensor into a float32 array of its shape


class _Source:
    """One safetensors file's tensors by canonical key."""

    def __init__(self, path: Path, what: str, allowed_params, problems: List[str]):
        self.path = path
        self.file = SafetensorsFile(path)
        self.by_key: Dict[Canonical, str] = {}
        for name in self.file.keys():
            key = parse_name(name)
            if key == IGNORED:
                continue
            if key is None:
                problems.append(f"{what}: unexpected tensor {name!r}")
                continue
            if key[2] not in allowed_params:
                problems.append(f"{what}: tensor {name!r} does not belong in this file")
                continue
            kind = _kind(key[0])
            if (key[2].startswith("lora_embedding") and kind != "embedding") or \
                    (key[2].startswith(("lora_A", "lora_B")) and kind != "linear") or \
                    (kind == "norm" and key[2].startswith("lora")):
                problems.append(f"{what}: tensor {name!r} is a LoRA form its module does not take")
                continue
            if key in self.by_key:
                problems.append(f"{what}: {name!r} and {self.by_key[key]!r} are the same tensor")
                continue
            self.by_key[key] = name
            info = self.file.info(name)
            if info.dtype not in ("BF16", "F16", "F32", "F64"):
                problems.append(f"{what}: tensor {name!r} has dtype {info.dtype}, expected a floating type")

    def has(self, key: Canonical) -> bool:
        return key in self.by_key

    def shape(self, key: Canonical) -> Tuple[int, ...]:
        return self.file.info(self.by_key[key]).shape

    def read(self, key: Canonical) -> np.ndarray:
        return self.file.get_float32(self.by_key[key])

    def name(self, key: Canonical) -> str:
        return self.by_key[key]


class HfLayoutTensors:
    """An -hf checkpoint directory read as the original one (see the module docstring).

    Raises CheckpointError listing every problem found: a missing base tensor or adapter folder,
    unexpected or misshaped tensors, an adapter configuration that the original form cannot hold."""

    def __init__(self, directory: Union[str, os.PathLike], config: ModelConfig):
        self.directory = Path(directory)
        self.config = config
        self._base: Optional[CheckpointTensors] = None
        self._adapters: Dict[str, _Source] = {}
        self._virtual: "OrderedDict[str, _Virtual]" = OrderedDict()
        try:
            self._build()
        except BaseException:
            self.close()
            raise

    # -- construction ----------------------------------------------------------------------

    def _build(self) -> None:
        cfg = self.config
        problems: List[str] = []
        self._base = CheckpointTensors(self.directory)
        base_keys: Dict[Canonical, str] = {}
        for name in self._base.keys():
            key = parse_name(name)
            if key == IGNORED:
                continue
            if key is None:
                problems.append(f"model.safetensors: unexpected tensor {name!r}")
            elif key[2] not in BASE_PARAMS:
                problems.append(f"model.safetensors: LoRA tensor {name!r} in the base weights (the -hf layout keeps "
                                "adapters in their task folders)")
            elif key in base_keys:
                problems.append(f"model.safetensors: {name!r} and {base_keys[key]!r} are the same tensor")
            else:
                base_keys[key] = name
        self._base_keys = base_keys

        self._scales: Dict[str, float] = {}
        for task in cfg.lora_adaptations:
            adapter = read_adapter_config(adapter_path(self.directory, task), task)
            if adapter.rank != cfg.lora_rank:
                problems.append(f"{adapter_folder(task)}/{ADAPTER_CONFIG}: r is {adapter.rank}, config.json's "
                                f"lora_rank is {cfg.lora_rank}")
            weights = adapter.folder / ADAPTER_WEIGHTS
            if not weights.is_file():
                other = " (adapter_model.bin, a pickle, is not read)" if (adapter.folder / "adapter_model.bin").exists() \
                    else ""
                raise CheckpointError(f"{weights}: missing{other}; download the whole repository: {_DOWNLOAD_HINT}")
            source = _Source(weights, f"{adapter_folder(task)}/{ADAPTER_WEIGHTS}",
                             ("lora_A.weight", "lora_B.weight", "lora_embedding_A", "lora_embedding_B"), problems)
            self._adapters[task] = source
            if not source.by_key:
                problems.append(f"{adapter_folder(task)}/{ADAPTER_WEIGHTS}: holds no LoRA tensor of this model")
            # The package applies config.json's alpha / rank to every task; another scale goes into B.
            self._scales[task] = adapter.scale / cfg.lora_scale

        self._expected_base: set = set()
        self._expected_lora: set = set()
        for name, shape in tensor_shapes(cfg, include_pooler=False).items():
            self._plan(name, shape, problems)
        # Names that parse but name nothing of this model (a layer beyond num_hidden_layers, an
        # embedding bias, a LoRA on a LayerNorm).
        for key in sorted(set(base_keys) - self._expected_base, key=str):
            problems.append(f"model.safetensors: unexpected tensor {base_keys[key]!r}")
        for task, source in self._adapters.items():
            for key in sorted(set(source.by_key) - self._expected_lora, key=str):
                problems.append(f"{adapter_folder(task)}/{ADAPTER_WEIGHTS}: unexpected tensor {source.name(key)!r}")
        if problems:
            shown = problems[:12]
            more = f"; and {len(problems) - len(shown)} more" if len(problems) > len(shown) else ""
            raise CheckpointError(f"{self.directory}: the -hf checkpoint does not fit config.json: "
                                  + "; ".join(shown) + more)

    def _base_shape(self, key: Canonical) -> Tuple[int, ...]:
        return self._base.info(self._base_keys[key]).shape

    def _plan(self, name: str, shape: Tuple[int, ...], problems: List[str]) -> None:
        """Registers how the original tensor `name` of `shape` is assembled, or notes why it cannot be."""
        module = name[len(PREFIX):]
        param = "weight"
        for suffix, which in ((".parametrizations.weight.original", "weight"),
                              (".parametrizations.weight.0.lora_A", "lora_A"),
                              (".parametrizations.weight.0.lora_B", "lora_B"),
                              (".weight", "weight"), (".bias", "bias")):
            if module.endswith(suffix):
                module, param = module[:-len(suffix)], which
                break
        if param in ("weight", "bias"):
            self._plan_base(name, module, param, shape, problems)
        else:
            self._plan_lora(name, module, param, shape, problems)

    def _plan_base(self, name, module, param, shape, problems) -> None:
        whole = (module, None, param)
        parts = [(module, i, param) for i in range(3)] if module.endswith("mixer.Wqkv") else []
        self._expected_base.update([whole] + parts)
        if whole in self._base_keys:
            got = self._base_shape(whole)
            if got != shape:
                problems.append(f"model.safetensors: {self._base_keys[whole]!r} has shape {list(got)}, expected "
                                f"{list(shape)}")
                return
            self._virtual[name] = _Virtual(shape, lambda out, k=whole: self._base.read_float32_into(
                self._base_keys[k], out))
            return
        if any(p in self._base_keys for p in parts):
            third = (shape[0] // 3,) + shape[1:]
            for part in parts:
                if part not in self._base_keys:
                    problems.append(f"model.safetensors: missing {_describe(part)} (split attention needs q, k and v)")
                    return
                if self._base_shape(part) != third:
                    problems.append(f"model.safetensors: {self._base_keys[part]!r} has shape "
                                    f"{list(self._base_shape(part))}, expected {list(third)}")
                    return

            def fill(out, parts=parts, rows=third[0]):
                for i, part in enumerate(parts):
                    self._base.read_float32_into(self._base_keys[part], out[i * rows:(i + 1) * rows])
            self._virtual[name] = _Virtual(shape, fill)
            return
        problems.append(f"model.safetensors: missing the base tensor {PREFIX}{module}.{param}"
                        + (" (or self_attn.{q,k,v}_proj)" if module.endswith("mixer.Wqkv") else ""))

    def _plan_lora(self, name, module, param, shape, problems) -> None:
        tasks = list(self.config.lora_adaptations)
        kind = _kind(module)
        if kind == "embedding":
            # Original A [T, rows, r] / B [T, r, dim]; PEFT lora_embedding_A [r, rows] / _B [dim, r].
            key = (module, None, "lora_embedding_A" if param == "lora_A" else "lora_embedding_B")
            self._expected_lora.add(key)
            wanted = tuple(reversed(shape[1:]))
            plans = []
            for task in tasks:
                source = self._adapters[task]
                if not source.has(key):
                    plans.append(None)
                    continue
                if source.shape(key) != wanted:
                    problems.append(f"{adapter_folder(task)}: {source.name(key)!r} has shape "
                                    f"{list(source.shape(key))}, expected {list(wanted)}")
                    return
                plans.append(key)
            if param == "lora_A":
                self._check_pairs(module, kind, problems)

            def fill(out, plans=plans, param=param):
                for t, (task, key) in enumerate(zip(tasks, plans)):
                    if key is None:
                        out[t] = 0.0
                        continue
                    value = self._adapters[task].read(key).T
                    out[t] = value if param == "lora_A" else self._scaled(task, value)
            self._virtual[name] = _Virtual(shape, fill)
            return

        # Linear: original A [T, r, in], B [T, out, r]; PEFT lora_A.weight [r, in], lora_B.weight [out, r].
        peft_param = param + ".weight"
        whole = (module, None, peft_param)
        parts = [(module, i, peft_param) for i in range(3)] if module.endswith("mixer.Wqkv") else []
        self._expected_lora.update([whole] + parts)
        per_task = []
        for task in tasks:
            source = self._adapters[task]
            split = [p for p in parts if source.has(p)]
            if source.has(whole) and split:
                problems.append(f"{adapter_folder(task)}: {module} has both a fused and a split attention LoRA")
                return
            if source.has(whole):
                wanted = shape[1:]
                if source.shape(whole) != wanted:
                    problems.append(f"{adapter_folder(task)}: {source.name(whole)!r} has shape "
                                    f"{list(source.shape(whole))}, expected {list(wanted)}")
                    return
                per_task.append(("whole", whole))
            elif split:
                wanted = shape[1:] if param == "lora_A" else (shape[1] // 3, shape[2])
                for part in split:
                    if source.shape(part) != wanted:
                        problems.append(f"{adapter_folder(task)}: {source.name(part)!r} has shape "
                                        f"{list(source.shape(part))}, expected {list(wanted)}")
                        return
                per_task.append(("split", split))
            else:
                per_task.append(None)
        if param == "lora_A":
            self._check_pairs(module, kind, problems)

        def fill(out, per_task=per_task, param=param):
            for t, (task, plan) in enumerate(zip(tasks, per_task)):
                source = self._adapters[task]
                if plan is None:
                    out[t] = 0.0
                elif plan[0] == "whole":
                    out[t] = source.read(plan[1]) if param == "lora_A" else self._scaled(task, source.read(plan[1]))
                elif param == "lora_A":
                    self._shared_a(task, module, plan[1], out[t])
                else:
                    rows = out.shape[1] // 3
                    out[t] = 0.0
                    for part in plan[1]:
                        out[t, part[1] * rows:(part[1] + 1) * rows] = self._scaled(task, source.read(part))
        self._virtual[name] = _Virtual(shape, fill)

    def _check_pairs(self, module: str, kind: str, problems: List[str]) -> None:
        """Every A an adapter has for a module (or q/k/v part) comes with its B, and the other way round."""
        names = ("lora_embedding_A", "lora_embedding_B") if kind == "embedding" else ("lora_A.weight", "lora_B.weight")
        parts = (None, 0, 1, 2) if module.endswith("mixer.Wqkv") else (None,)
        for task, source in self._adapters.items():
            for part in parts:
                a, b = ((module, part, n) for n in names)
                if source.has(a) != source.has(b):
                    have, lack = (a, b) if source.has(a) else (b, a)
                    problems.append(f"{adapter_folder(task)}: {source.name(have)!r} has no {_describe(lack)}")

    def _scaled(self, task: str, value: np.ndarray) -> np.ndarray:
        ratio = self._scales[task]
        return value if ratio == 1.0 else value * np.float32(ratio)

    def _shared_a(self, task: str, module: str, parts: List[Canonical], out: np.ndarray) -> None:
        source = self._adapters[task]
        first = source.read(parts[0])
        for part in parts[1:]:
            if not np.array_equal(source.read(part), first):
                raise CheckpointError(
                    f"{source.path}: {source.name(part)!r} differs from {source.name(parts[0])!r}; jina-embeddings-v3 "
                    f"has one attention LoRA over the fused {module} (q, k and v share its A), which this adapter "
                    "cannot be turned into")
        out[...] = first

    # -- the CheckpointTensors interface ---------------------------------------------------

    def close(self) -> None:
        if self._base is not None:
            self._base.close()
        for source in self._adapters.values():
            source.file.close()
        self._adapters.clear()

    def __enter__(self) -> "HfLayoutTensors":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def keys(self) -> List[str]:
        return list(self._virtual)

    def info(self, name: str) -> TensorInfo:
        # Assembled in float32 (bfloat16 and float16 sources widen exactly).
        return TensorInfo(name, "F32", self._virtual[name].shape, 0, 0)

    def get_float32(self, name: str) -> np.ndarray:
        out = np.empty(self._virtual[name].shape, dtype=np.float32)
        self._virtual[name].fill(out)
        return out

    def read_float32_into(self, name: str, out: np.ndarray) -> None:
        virtual = self._virtual[name]
        if out.shape != virtual.shape or out.dtype != np.float32:
            raise ValueError(f"{name}: expected a float32 array of shape {list(virtual.shape)}")
        virtual.fill(out)
