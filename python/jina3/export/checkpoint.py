"""The Hugging Face checkpoint of jina-embeddings-v3: tensor names and shapes, and reading them.

Every Linear and Embedding of the model carries LoRA through a torch parametrization, so its weight
is stored as `<module>.parametrizations.weight.original` beside `...weight.0.lora_A` and
`...weight.0.lora_B`; biases and LayerNorms are plain.
"""

import json
import os
from collections import OrderedDict
from pathlib import Path
from typing import Dict, List, Tuple, Union

import torch

from .config import ModelConfig
from .safetensors_io import SafetensorsFile, TensorInfo
from .errors import CheckpointError

PREFIX = "roberta."
POOLER_PREFIX = "roberta.pooler."
WEIGHTS_FILE = "model.safetensors"
INDEX_FILE = "model.safetensors.index.json"


def _lora_linear(name: str, out_features: int, in_features: int, tasks: int, rank: int, bias: bool = True):
    yield f"{name}.parametrizations.weight.original", (out_features, in_features)
    yield f"{name}.parametrizations.weight.0.lora_A", (tasks, rank, in_features)
    yield f"{name}.parametrizations.weight.0.lora_B", (tasks, out_features, rank)
    if bias:
        yield f"{name}.bias", (out_features,)


def _lora_embedding(name: str, rows: int, dim: int, tasks: int, rank: int):
    # Embedding LoRA swaps the roles: A is [rows, r] per task, B is [r, dim].
    yield f"{name}.parametrizations.weight.original", (rows, dim)
    yield f"{name}.parametrizations.weight.0.lora_A", (tasks, rows, rank)
    yield f"{name}.parametrizations.weight.0.lora_B", (tasks, rank, dim)


def _layer_norm(name: str, dim: int):
    yield f"{name}.weight", (dim,)
    yield f"{name}.bias", (dim,)


def tensor_shapes(config: ModelConfig, include_pooler: bool = True) -> "OrderedDict[str, Tuple[int, ...]]":
    """Every tensor of the checkpoint with its shape, in a stable order (embeddings, layers, pooler)."""
    H, F, T, r = config.hidden_size, config.intermediate_size, config.num_tasks, config.lora_rank
    e = PREFIX + "embeddings."
    items: List = []
    items += _lora_embedding(e + "word_embeddings", config.vocab_size, H, T, r)
    items += _lora_embedding(e + "token_type_embeddings", config.type_vocab_size, H, T, r)
    items += _layer_norm(PREFIX + "emb_ln", H)
    for i in range(config.num_hidden_layers):
        layer = f"{PREFIX}encoder.layers.{i}."
        items += _lora_linear(layer + "mixer.Wqkv", 3 * H, H, T, r)
        items += _lora_linear(layer + "mixer.out_proj", H, H, T, r)
        items += _layer_norm(layer + "norm1", H)
        items += _lora_linear(layer + "mlp.fc1", F, H, T, r)
        items += _lora_linear(layer + "mlp.fc2", H, F, T, r)
        items += _layer_norm(layer + "norm2", H)
    if include_pooler:
        items += _lora_linear(POOLER_PREFIX + "dense", H, H, T, r)
    return OrderedDict(items)


class CheckpointTensors:
    """The tensors of a checkpoint directory: model.safetensors, or shards listed in
    model.safetensors.index.json. Reads one tensor at a time."""

    def __init__(self, directory: Union[str, os.PathLike]):
        self.directory = Path(directory)
        if not self.directory.is_dir():
            raise CheckpointError(f"{self.directory}: not a directory")
        self._files: Dict[str, SafetensorsFile] = {}
        self._owner: Dict[str, str] = {}
        single = self.directory / WEIGHTS_FILE
        index = self.directory / INDEX_FILE
        try:
            if single.is_file():
                self._open(WEIGHTS_FILE)
                for name in self._files[WEIGHTS_FILE].keys():
                    self._owner[name] = WEIGHTS_FILE
            elif index.is_file():
                self._read_index(index)
            else:
                raise CheckpointError(f"{self.directory}: has neither {WEIGHTS_FILE} nor {INDEX_FILE}")
        except BaseException:
            self.close()
            raise

    def _open(self, file_name: str) -> SafetensorsFile:
        if file_name not in self._files:
            self._files[file_name] = SafetensorsFile(self.directory / file_name)
        return self._files[file_name]

    def _read_index(self, index: Path) -> None:
        try:
            weight_map = json.loads(index.read_text(encoding="utf-8"))["weight_map"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise CheckpointError(f"{index}: not a safetensors index with a weight_map ({exc})") from None
        if not isinstance(weight_map, dict):
            raise CheckpointError(f"{index}: weight_map must be an object")
        for name, file_name in weight_map.items():
            if not isinstance(file_name, str) or "/" in file_name or file_name in ("", ".", ".."):
                raise CheckpointError(f"{index}: tensor {name!r} maps to a bad file name {file_name!r}")
            shard = self._open(file_name)
            if name not in shard:
                raise CheckpointError(f"{index}: tensor {name!r} is listed in {file_name}, which lacks it")
            self._owner[name] = file_name

    def close(self) -> None:
        for f in self._files.values():
            f.close()
        self._files.clear()

    def __enter__(self) -> "CheckpointTensors":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def keys(self) -> List[str]:
        return list(self._owner)

    def info(self, name: str) -> TensorInfo:
        return self._files[self._owner[name]].info(name)

    def get(self, name: str) -> torch.Tensor:
        return self._files[self._owner[name]].get(name)

    def get_float32(self, name: str):
        """The tensor as a float32 numpy array."""
        return self._files[self._owner[name]].get_float32(name)

    def read_float32_into(self, name: str, out) -> None:
        """Reads the tensor into a C-contiguous float32 numpy array of its shape."""
        self._files[self._owner[name]].read_float32_into(name, out)


def check_tensor_names(config: ModelConfig, tensors: CheckpointTensors) -> None:
    """Raises CheckpointError listing every missing, unexpected or misshaped tensor. Pooler tensors
    are allowed (and ignored: the embeddings do not use them)."""
    expected = tensor_shapes(config, include_pooler=False)
    present = set(tensors.keys())
    problems = []
    for name, shape in expected.items():
        if name not in present:
            problems.append(f"missing tensor {name!r} (expected shape {list(shape)})")
            continue
        info = tensors.info(name)
        if info.shape != shape:
            problems.append(f"tensor {name!r} has shape {list(info.shape)}, expected {list(shape)}")
        if info.dtype not in ("BF16", "F16", "F32", "F64"):
            problems.append(f"tensor {name!r} has dtype {info.dtype}, expected a floating type")
    for name in sorted(present - set(expected)):
        if not name.startswith(POOLER_PREFIX):
            problems.append(f"unexpected tensor {name!r}")
    if problems:
        shown = problems[:12]
        more = f"; and {len(problems) - len(shown)} more" if len(problems) > len(shown) else ""
        raise CheckpointError(f"{tensors.directory}: checkpoint does not match config.json: "
                              + "; ".join(shown) + more)
