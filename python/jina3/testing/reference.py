"""A literal, independent reference of Jina's encode() for jina-embeddings-v3, used to check
jina3.export.backbone, the exported packages and the C++ runtime.

Deliberately written differently from jina3.export.backbone: float32 only, one text at a time (no
padding, no attention mask), LoRA MERGED into the weights of the chosen task (W + s · B[t] @ A[t];
for the embedding tables E + s · A[t] @ B[t], taken row by row for the ids in use), attention head
by head with an explicit softmax, LayerNorm and GELU written out from their formulas, rotary tables
from numpy in float64.

Tokenisation uses the python sentencepiece package on a given .model file: the task's prompt is
concatenated to the text, ids are the sentencepiece ids + 1 (sentencepiece <unk> = 0 becomes 3),
wrapped in <s> ... </s>, and cut to max_length by dropping ids before </s>.
"""

import math
import os
from typing import Dict, List, Optional, Sequence, Union

import numpy as np
import torch

from ..export.checkpoint import PREFIX, CheckpointTensors, check_tensor_names
from ..export.config import ModelConfig, load_config

# fairseq's id layout of XLM-R: sentencepiece id + 1, except sentencepiece's <unk> (0).
SPM_ID_OFFSET = 1
UNK_ID = 3


def _layer_norm(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, eps: float) -> torch.Tensor:
    mean = x.mean(dim=-1, keepdim=True)
    centred = x - mean
    variance = (centred * centred).mean(dim=-1, keepdim=True)
    return centred / torch.sqrt(variance + eps) * weight + bias


def _gelu(x: torch.Tensor) -> torch.Tensor:
    return 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))


def _softmax_rows(scores: torch.Tensor) -> torch.Tensor:
    shifted = scores - scores.max(dim=-1, keepdim=True).values
    e = torch.exp(shifted)
    return e / e.sum(dim=-1, keepdim=True)


class ReferenceModel:
    """ReferenceModel(checkpoint_dir, spm_model_path).encode(texts, task=None, dims=None,
    normalize=True, max_length=None) -> float32 array [len(texts), dims]."""

    def __init__(self, checkpoint_dir: Union[str, os.PathLike], spm_model_path: Union[str, os.PathLike]):
        import sentencepiece  # only the reference and the tests need it

        self.config: ModelConfig = load_config(checkpoint_dir)
        self.sp = sentencepiece.SentencePieceProcessor(model_file=str(spm_model_path))
        with CheckpointTensors(checkpoint_dir) as tensors:
            check_tensor_names(self.config, tensors)
            self.w: Dict[str, torch.Tensor] = {
                name: torch.from_numpy(tensors.get_float32(name)) for name in tensors.keys()
                if not name.startswith(PREFIX + "pooler.")}
        self._merged_task = "unset"
        self._merged: Dict[str, torch.Tensor] = {}

    # --- tokenisation -------------------------------------------------------------------------

    def _check_task(self, task: Optional[str]) -> None:
        if task is not None and task not in self.config.lora_adaptations:
            raise ValueError(f"unknown task {task!r}; expected one of {list(self.config.lora_adaptations)} or None")

    def tokenize_one(self, text: str, task: Optional[str] = None, max_length: Optional[int] = None) -> List[int]:
        self._check_task(task)
        prompt = self.config.task_instructions[task] if task is not None else ""
        ids = [self.config.bos_token_id]
        for spm_id in self.sp.encode(prompt + text):
            ids.append(UNK_ID if spm_id == self.sp.unk_id() else spm_id + SPM_ID_OFFSET)
        ids.append(self.config.eos_token_id)
        limit = self.config.max_position_embeddings if max_length is None else max_length
        if limit < 2:
            raise ValueError(f"max_length must be at least 2 (<s> and </s>), not {limit}")
        if len(ids) > limit:
            ids = ids[:limit - 1] + [self.config.eos_token_id]
        return ids

    def tokenize(self, texts: Sequence[str], task: Optional[str] = None,
                 max_length: Optional[int] = None) -> List[List[int]]:
        return [self.tokenize_one(text, task, max_length) for text in texts]

    # --- weights ------------------------------------------------------------------------------

    def _linear_weight(self, module: str, task: Optional[str]) -> torch.Tensor:
        """The Linear weight [out, in] with the task's adapter merged in."""
        key = module + ".parametrizations.weight"
        if task is None:
            return self.w[key + ".original"]
        if self._merged_task != task:
            self._merged = {}
            self._merged_task = task
        if key not in self._merged:
            t = self.config.lora_adaptations.index(task)
            a = self.w[key + ".0.lora_A"][t]  # [r, in]
            b = self.w[key + ".0.lora_B"][t]  # [out, r]
            self._merged[key] = self.w[key + ".original"] + self.config.lora_scale * (b @ a)
        return self._merged[key]

    def _embedding_rows(self, table: str, rows: torch.Tensor, task: Optional[str]) -> torch.Tensor:
        """Rows of the embedding table with the task's adapter merged: E[rows] + s · A[t][rows] @ B[t]."""
        key = PREFIX + "embeddings." + table + ".parametrizations.weight"
        base = self.w[key + ".original"][rows]
        if task is None:
            return base
        t = self.config.lora_adaptations.index(task)
        a = self.w[key + ".0.lora_A"][t][rows]  # [n, r]
        b = self.w[key + ".0.lora_B"][t]  # [r, H]
        return base + self.config.lora_scale * (a @ b)

    # --- forward ------------------------------------------------------------------------------

    def _rotary(self, length: int):
        d = self.config.head_dim
        inv_freq = np.power(float(self.config.rotary_emb_base), -np.arange(0, d, 2, dtype=np.float64) / d)
        angles = np.outer(np.arange(length, dtype=np.float64), inv_freq)
        return (torch.from_numpy(np.cos(angles).astype(np.float32)),
                torch.from_numpy(np.sin(angles).astype(np.float32)))

    def hidden_states(self, ids: Sequence[int], task: Optional[str] = None) -> torch.Tensor:
        """Last hidden state [L, H] of one token sequence, float32."""
        self._check_task(task)
        cfg = self.config
        H, heads, d = cfg.hidden_size, cfg.num_attention_heads, cfg.head_dim
        ids_t = torch.tensor(list(ids), dtype=torch.int64)
        length = ids_t.numel()
        x = self._embedding_rows("word_embeddings", ids_t, task) \
            + self._embedding_rows("token_type_embeddings", torch.zeros(1, dtype=torch.int64), task)
        x = _layer_norm(x, self.w[PREFIX + "emb_ln.weight"], self.w[PREFIX + "emb_ln.bias"], cfg.layer_norm_eps)
        cos, sin = self._rotary(length)
        half = d // 2

        def rope(m: torch.Tensor) -> torch.Tensor:
            first, second = m[:, :half], m[:, half:]
            return torch.cat([first * cos - second * sin, second * cos + first * sin], dim=1)

        for i in range(cfg.num_hidden_layers):
            p = f"{PREFIX}encoder.layers.{i}."
            qkv = x @ self._linear_weight(p + "mixer.Wqkv", task).t() + self.w[p + "mixer.Wqkv.bias"]
            q_all, k_all, v_all = qkv[:, :H], qkv[:, H:2 * H], qkv[:, 2 * H:]
            head_outputs = []
            for h in range(heads):
                cols = slice(h * d, (h + 1) * d)
                q = rope(q_all[:, cols])
                k = rope(k_all[:, cols])
                weights = _softmax_rows((q @ k.t()) / math.sqrt(d))
                head_outputs.append(weights @ v_all[:, cols])
            attn = torch.cat(head_outputs, dim=1)
            attn = attn @ self._linear_weight(p + "mixer.out_proj", task).t() + self.w[p + "mixer.out_proj.bias"]
            x = _layer_norm(x + attn, self.w[p + "norm1.weight"], self.w[p + "norm1.bias"], cfg.layer_norm_eps)
            inner = _gelu(x @ self._linear_weight(p + "mlp.fc1", task).t() + self.w[p + "mlp.fc1.bias"])
            mlp = inner @ self._linear_weight(p + "mlp.fc2", task).t() + self.w[p + "mlp.fc2.bias"]
            x = _layer_norm(x + mlp, self.w[p + "norm2.weight"], self.w[p + "norm2.bias"], cfg.layer_norm_eps)
        return x

    def encode(self, texts: Sequence[str], task: Optional[str] = None, dims: Optional[int] = None,
               normalize: bool = True, max_length: Optional[int] = None) -> np.ndarray:
        """Embeddings as Jina's encode() makes them: prompt, tokens, forward with the task's
        adapter, mean pooling (float32), Matryoshka truncation, then L2 normalisation."""
        if isinstance(texts, str):
            raise TypeError("texts must be a sequence of strings, not one string")
        cfg = self.config
        if dims is None or dims == 0:
            dims = cfg.hidden_size
        if dims not in cfg.matryoshka_dimensions:
            raise ValueError(f"dims {dims} is not one of {list(cfg.matryoshka_dimensions)}")
        rows = []
        with torch.no_grad():
            for ids in self.tokenize(texts, task, max_length):
                pooled = self.hidden_states(ids, task).mean(dim=0)[:dims]
                if normalize:
                    pooled = pooled / torch.clamp(torch.sqrt((pooled * pooled).sum()), min=1e-12)
                rows.append(pooled.numpy().astype(np.float32))
        if not rows:
            return np.zeros((0, dims), dtype=np.float32)
        return np.stack(rows)
