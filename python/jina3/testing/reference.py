"""A literal, independent reference of Jina's encode() for jina-embeddings-v3, used to check
jina3.export.backbone, the exported packages and the C++ runtime.

Deliberately written differently from jina3.export.backbone: float32 only, one text at a time (no
padding, no attention mask), LoRA MERGED into the weights of the chosen task (W + s · B[t] @ A[t];
for the embedding tables E + s · A[t] @ B[t], taken row by row for the ids in use), attention head
by head with an explicit softmax, LayerNorm and GELU written out from their formulas, rotary tables
from numpy in float64.

Tokenisation uses the python sentencepiece package on a given .model file: the task's prompt is
concatenated to the text, ids are the sentencepiece ids + 1 (sentencepiece <unk> = 0 becomes 3),
wrapped in <s> ... </s>, and cut to max_length by dropping ids before </s>. Special-token text
(<s>, <pad>, </s>, <unk>, <mask> in the input) follows Hugging Face's fast tokenizer on the
input as sentence-transformers strips it: found with a regular expression (longest first),
<mask> also taking the whitespace before it (lstrip), each part between them given to
sentencepiece on its own plus a lone "\u2581" where the part ends in whitespace after
normalisation (the Metaspace pre-tokenizer keeps what sentencepiece trims).
"""

import math
import os
import re
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch

from ..export.checkpoint import PREFIX, CheckpointTensors, check_tensor_names
from ..export.config import ModelConfig, load_config

# fairseq's id layout of XLM-R: sentencepiece id + 1, except sentencepiece's <unk> (0).
SPM_ID_OFFSET = 1
UNK_ID = 3

# The added tokens of jina-embeddings-v3's tokenizer.json (all special, none normalized), with
# whether each takes the whitespace on its left (lstrip: <mask> only).
ADDED_TOKENS = (("<s>", False), ("<pad>", False), ("</s>", False), ("<unk>", False), ("<mask>", True))
# What lstrip takes: Rust's char::is_whitespace (Unicode White_Space).
RUST_WHITESPACE = frozenset("\t\n\x0b\x0c\r \x85\xa0\u1680\u2028\u2029\u202f\u205f\u3000") | frozenset(
    chr(c) for c in range(0x2000, 0x200B))
_ADDED_PATTERN = re.compile("|".join(re.escape(content) for content, _ in
                                     sorted(ADDED_TOKENS, key=lambda token: -len(token[0]))))

# One token of an input: its id and the str range [begin, end) of prompt + text it stands for
# (None for <s> and </s>).
Span = Tuple[int, Optional[int], Optional[int]]


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


class ReferenceTokenizer:
    """The reference's tokenisation (see the module doc) over a sentencepiece processor, in XLM-R's
    id layout: token_spans(prompt, text) gives every token with its str range of prompt + text."""

    def __init__(self, sp, bos: int = 0, pad: int = 1, eos: int = 2, vocab_size: int = 250002):
        self.sp = sp
        self.bos, self.eos = bos, eos
        # XLM-R's <mask> is the last id.
        self.added_ids = {"<s>": bos, "<pad>": pad, "</s>": eos, "<unk>": UNK_ID, "<mask>": vocab_size - 1}

    def _spm_spans(self, whole: str, begin: int, end: int) -> List[Span]:
        """sentencepiece's pieces of whole[begin:end] with str ranges of whole."""
        out = []
        for piece in self.sp.encode(whole[begin:end], out_type="immutable_proto").pieces:
            model_id = UNK_ID if piece.id == self.sp.unk_id() else piece.id + SPM_ID_OFFSET
            out.append((model_id, begin + piece.begin, begin + max(piece.end, piece.begin)))
        return out

    def _ends_in_space(self, part: str) -> bool:
        """Whether part, normalised, ends with a space (or is only spaces). sentencepiece trims
        that space, but then a word after it is a piece of its own: "\u2581x" appended."""
        alone = self.sp.encode(part)
        if alone:
            longer = self.sp.encode(part + "x")
            return longer[:len(alone)] == alone and longer[len(alone):] in (
                [self.sp.piece_to_id("\u2581x")], [self.sp.piece_to_id("\u2581"), self.sp.piece_to_id("x")])
        around = self.sp.encode("x" + part + "x")  # "x x" when part is spaces, "xx" when it is nothing
        return len(around) == 2 and around == [self.sp.piece_to_id("\u2581x")] * 2

    def token_spans(self, prompt: str, text: str, split_special_tokens: bool = False) -> List[Span]:
        """Every token of prompt + text with its str range there, <s> and </s> included."""
        whole = prompt + text
        parts = []  # (added token id or None, begin, end, where an added token's content starts)
        if not split_special_tokens:
            begin, end = len(whole) - len(whole.lstrip()), len(whole.rstrip())  # Python's strip
            taken = begin
            for match in _ADDED_PATTERN.finditer(whole, begin, end):
                start = match.start()
                if dict(ADDED_TOKENS)[match.group()]:
                    while start > taken and whole[start - 1] in RUST_WHITESPACE:
                        start -= 1
                if taken < start:
                    parts.append((None, taken, start, None))
                parts.append((self.added_ids[match.group()], start, match.end(), match.start()))
                taken = match.end()
            if parts and taken < end:
                parts.append((None, taken, end, None))
        spans: List[Span] = [(self.bos, None, None)]
        if not parts:
            spans += self._spm_spans(whole, 0, len(whole))
        for model_id, begin, end, content in parts:
            if model_id is not None:
                spans.append((model_id, content, content + len(whole[content:end])))
                continue
            pieces = self._spm_spans(whole, begin, end)
            spans += pieces
            if self._ends_in_space(whole[begin:end]):
                after = max([begin] + [piece_end for _, _, piece_end in pieces])
                spans.append((self.sp.piece_to_id("\u2581") + SPM_ID_OFFSET, after, end))
        return spans + [(self.eos, None, None)]


class ReferenceModel:
    """ReferenceModel(checkpoint_dir, spm_model_path).encode(texts, task=None, dims=None,
    normalize=True, max_length=None) -> float32 array [len(texts), dims]."""

    def __init__(self, checkpoint_dir: Union[str, os.PathLike], spm_model_path: Union[str, os.PathLike]):
        import sentencepiece  # only the reference and the tests need it

        self.config: ModelConfig = load_config(checkpoint_dir)
        self.sp = sentencepiece.SentencePieceProcessor(model_file=str(spm_model_path))
        self.tokenizer = ReferenceTokenizer(self.sp, self.config.bos_token_id, self.config.pad_token_id,
                                            self.config.eos_token_id, self.config.vocab_size)
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

    def token_spans(self, prompt: str, text: str, split_special_tokens: bool = False) -> List[Span]:
        """Every token of prompt + text with its str range there, <s> and </s> included."""
        return self.tokenizer.token_spans(prompt, text, split_special_tokens)

    def tokenize_one(self, text: str, task: Optional[str] = None, max_length: Optional[int] = None,
                     split_special_tokens: bool = False) -> List[int]:
        self._check_task(task)
        prompt = self.config.task_instructions[task] if task is not None else ""
        ids = [model_id for model_id, _, _ in self.token_spans(prompt, text, split_special_tokens)]
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
