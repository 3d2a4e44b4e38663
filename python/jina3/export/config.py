"""config.json of a jina-embeddings-v3 Hugging Face checkpoint: load, type-check, validate."""

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Mapping, Tuple, Union

from .errors import ConfigError


@dataclass(frozen=True)
class ModelConfig:
    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int
    intermediate_size: int
    vocab_size: int
    type_vocab_size: int
    pad_token_id: int
    bos_token_id: int
    eos_token_id: int
    rotary_emb_base: float
    layer_norm_eps: float
    max_position_embeddings: int
    lora_adaptations: Tuple[str, ...]  # index = task (adapter) index
    task_instructions: Dict[str, str]  # prompt per task name
    matryoshka_dimensions: Tuple[int, ...]
    lora_rank: int
    lora_alpha: float
    hidden_act: str
    position_embedding_type: str
    name_or_path: str = ""

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_attention_heads

    @property
    def lora_scale(self) -> float:
        """LoRA scaling alpha / rank (0.25 for jina v3)."""
        return self.lora_alpha / self.lora_rank

    @property
    def num_tasks(self) -> int:
        return len(self.lora_adaptations)

    def task_index(self, task) -> int:
        """Adapter index of a task name; None means no adapter (-1)."""
        if task is None:
            return -1
        try:
            return self.lora_adaptations.index(task)
        except ValueError:
            raise ValueError(f"unknown task {task!r}; expected one of {list(self.lora_adaptations)} or None") from None

    def prompt(self, task) -> str:
        return "" if task is None else self.task_instructions[task]


class _Reader:
    """Typed access to config keys; every error names the key and the file."""

    def __init__(self, raw: Mapping[str, Any], source: str):
        self.raw = raw
        self.source = source

    def fail(self, key: str, what: str) -> ConfigError:
        return ConfigError(f"{self.source}: key {key!r} {what}")

    def get(self, key: str):
        if key not in self.raw:
            raise self.fail(key, "is missing")
        return self.raw[key]

    def integer(self, key: str, minimum: int = 0) -> int:
        value = self.get(key)
        # JSON writers sometimes emit 4.0 for ints; accept integral floats, reject bools.
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(key, f"must be an integer, not {json.dumps(value)}")
        if value < minimum:
            raise self.fail(key, f"is {value}, must be >= {minimum}")
        return value

    def number(self, key: str, positive: bool = True) -> float:
        value = self.get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.fail(key, f"must be a number, not {json.dumps(value)}")
        value = float(value)
        if not math.isfinite(value) or (positive and value <= 0):
            raise self.fail(key, f"is {value}, must be a positive finite number")
        return value

    def string(self, key: str) -> str:
        value = self.get(key)
        if not isinstance(value, str):
            raise self.fail(key, f"must be a string, not {json.dumps(value)}")
        return value

    def string_list(self, key: str) -> List[str]:
        value = self.get(key)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.fail(key, f"must be a list of strings, not {json.dumps(value)[:200]}")
        return value

    def int_list(self, key: str) -> List[int]:
        value = self.get(key)
        if not isinstance(value, list) or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            raise self.fail(key, f"must be a list of integers, not {json.dumps(value)[:200]}")
        return value

    def string_map(self, key: str) -> Dict[str, str]:
        value = self.get(key)
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise self.fail(key, f"must be an object of strings, not {json.dumps(value)[:200]}")
        return dict(value)


def config_from_dict(raw: Mapping[str, Any], source: str = "config.json") -> ModelConfig:
    """Validates a parsed config.json; raises ConfigError naming the offending key."""
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{source}: must hold a JSON object, not {type(raw).__name__}")
    r = _Reader(raw, source)

    hidden = r.integer("hidden_size", 1)
    layers = r.integer("num_hidden_layers", 1)
    heads = r.integer("num_attention_heads", 1)
    if hidden % heads:
        raise r.fail("num_attention_heads", f"({heads}) does not divide hidden_size ({hidden})")
    if (hidden // heads) % 2:
        raise r.fail("num_attention_heads", f"gives an odd head size {hidden // heads}; rotary needs an even one")
    intermediate = r.integer("intermediate_size", 1)
    vocab = r.integer("vocab_size", 1)
    type_vocab = r.integer("type_vocab_size", 1)
    ids = {key: r.integer(key) for key in ("pad_token_id", "bos_token_id", "eos_token_id")}
    for key, value in ids.items():
        if value >= vocab:
            raise r.fail(key, f"is {value}, outside the vocabulary (vocab_size {vocab})")

    hidden_act = r.string("hidden_act")
    if hidden_act != "gelu":
        raise r.fail("hidden_act", f"is {hidden_act!r}; jina3 implements only 'gelu' (exact, erf-based)")
    position_type = r.string("position_embedding_type")
    if position_type != "rotary":
        raise r.fail("position_embedding_type", f"is {position_type!r}; jina-embeddings-v3 uses 'rotary'")
    rotary_base = r.number("rotary_emb_base")
    eps = r.number("layer_norm_eps")
    max_positions = r.integer("max_position_embeddings", 2)

    tasks = r.string_list("lora_adaptations")
    if not tasks:
        raise r.fail("lora_adaptations", "is empty")
    if len(set(tasks)) != len(tasks) or any(not t for t in tasks):
        raise r.fail("lora_adaptations", f"must hold distinct non-empty names, not {tasks}")
    instructions = r.string_map("task_instructions")
    for task in tasks:
        if task not in instructions:
            raise r.fail("task_instructions", f"has no entry for task {task!r}")
    instructions = {task: instructions[task] for task in tasks}

    dims = r.int_list("matryoshka_dimensions")
    if not dims or any(d < 1 or d > hidden for d in dims) or any(a >= b for a, b in zip(dims, dims[1:])):
        raise r.fail("matryoshka_dimensions", f"must be ascending sizes in [1, hidden_size={hidden}], not {dims}")
    if dims[-1] != hidden:
        raise r.fail("matryoshka_dimensions", f"must end with hidden_size ({hidden}), not {dims[-1]}")

    rank = r.integer("lora_rank", 1)
    alpha = r.number("lora_alpha")

    name = raw.get("_name_or_path", "")
    return ModelConfig(
        hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads, intermediate_size=intermediate,
        vocab_size=vocab, type_vocab_size=type_vocab, pad_token_id=ids["pad_token_id"],
        bos_token_id=ids["bos_token_id"], eos_token_id=ids["eos_token_id"], rotary_emb_base=rotary_base,
        layer_norm_eps=eps, max_position_embeddings=max_positions, lora_adaptations=tuple(tasks),
        task_instructions=instructions, matryoshka_dimensions=tuple(dims), lora_rank=rank, lora_alpha=alpha,
        hidden_act=hidden_act, position_embedding_type=position_type,
        name_or_path=name if isinstance(name, str) else "")


def read_config_json(path: Union[str, os.PathLike]) -> Tuple[Any, str]:
    """The parsed config.json (path to the file or to the checkpoint directory) and its path as a
    string, unvalidated; raises ConfigError when it is missing or not JSON."""
    path = Path(path)
    if path.is_dir():
        path = path / "config.json"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: missing (not a Hugging Face checkpoint directory?)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: not valid JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: must hold a JSON object, not {type(raw).__name__}")
    return raw, str(path)


def load_config(path: Union[str, os.PathLike]) -> ModelConfig:
    """Reads config.json (path to the file or to the checkpoint directory) as the original layout
    has it; jina3.export.layouts.load_layout also reads the -hf layout's."""
    raw, source = read_config_json(path)
    return config_from_dict(raw, source)
