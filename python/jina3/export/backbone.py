"""jina-embeddings-v3's backbone in PyTorch: the module jina3.export scripts into backbone.pt.

XLM-RoBERTa with rotary positions and five LoRA task adapters, kept UNMERGED so that one forward
pass can serve rows of different tasks: y = x Wᵀ + b + s · (x A[t]ᵀ) B[t]ᵀ with t the row's task.
In the linear layers all tasks' A (and B) matrices sit side by side, so the adapters of any mix of
tasks cost two thin matrix products per layer; a per-row mask keeps each row's own task's
columns. In the embeddings, task -1 (adapters off) maps to an extra all-zero adapter slot, and in
the linear layers to an all-zero mask, so no row needs a branch.

The base projections are plain nn.Linear submodules; for int8 packages quantize_int8() turns each
LoRALinear into an Int8LoRALinear (int8 weights with per-channel scales, run by jina3's operator)
while the LoRA tensors stay in floating point beside them.

Scriptable with torch.jit.script on torch 1.13 and 2.x: the attention kernel is chosen when the
module is built (F.scaled_dot_product_attention where torch has it, a manual masked softmax
otherwise), never by a runtime branch on the torch version.

In bfloat16/float16 the softmax, LayerNorm and residual sums run in float32, which keeps reduced
precision close to float32 results at little cost.

As built, the model uses LibTorch operators only (the eager reference runs it so). jina3.export
calls use_kernels() before scripting where the compiled jina3 module is present: LoRALinear then
goes through torch.ops.jina3.lora_linear, FloatLayerNorm through torch.ops.jina3.add_layer_norm,
the MLP's GELU through torch.ops.jina3.gelu_ and the CPU attention softmax through
torch.ops.jina3.softmax_with_bias_ (src/model/torch_ops.cpp), and in bfloat16 on the CPU the
split of qkv into rotated heads through torch.ops.jina3.split_qkv_rotary (src/model/attention_ops.cpp,
KernelBlock): the same functions with faster kernels.
"""

import importlib
import math
from pathlib import Path
from typing import Dict, List, Optional, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .checkpoint import PREFIX, check_tensor_names
from .config import ModelConfig
from .layouts import load_layout, open_tensors
from .errors import CheckpointError

# Score elements (batch x heads x queries x keys) computed at once before attention is split into
# query chunks: 2^27 float32 values = 512 MiB. An 8,192-token text (16 heads) runs in 1,024-query
# chunks instead of needing a 4 GiB score tensor.
DEFAULT_MAX_SCORE_ELEMENTS = 1 << 27

# Added to the scores of padded keys. Finite in float32 and bfloat16, so a row without any real
# token (never sent by the runtime) gives uniform weights rather than NaN there.
_MASKED_SCORE = -1.0e30


def has_sdpa() -> bool:
    return hasattr(F, "scaled_dot_product_attention")


def _layer_norm_in_place(x: Tensor, residual: Optional[Tensor], weight: Tensor, bias: Tensor, eps: float) -> Tensor:
    """float32 LayerNorm of x + residual, the sum made in x."""
    x32 = x if residual is None else x.add_(residual)
    return F.layer_norm(x32, [x.size(-1)], weight, bias, eps)


class FloatLayerNorm(nn.Module):
    """LayerNorm of (x + residual), computed in float32 and returned in x's dtype. In float32 the
    sum is made in place in x (the caller's fresh sublayer output), saving one large temporary."""

    def __init__(self, size: int, eps: float, device=None):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(size, device=device))
        self.bias = nn.Parameter(torch.zeros(size, device=device))
        self.size = size
        self.eps = eps

    def forward(self, x: Tensor, residual: Optional[Tensor] = None) -> Tensor:
        if x.dtype == torch.float32:
            return _layer_norm_in_place(x, residual, self.weight, self.bias, self.eps)
        x32 = x.float()
        if residual is not None:
            x32.add_(residual)  # promotes the reduced-precision residual while adding
        out = F.layer_norm(x32, [self.size], self.weight.float(), self.bias.float(), self.eps)
        return out.to(x.dtype)


class LoRALinear(nn.Module):
    """nn.Linear plus per-row LoRA: base(x) + scale · ((x A_allᵀ) ⊙ mask) B_allᵀ, where A_all
    [T·r, in] stacks every task's A and B_all [out, T·r] every task's B, and the row's mask keeps
    the r columns of its own task (none for adapters off). Two thin matrix products over all rows
    replace a per-row gather of the adapters and per-row batched products; the second accumulates
    into the base output in place."""

    def __init__(self, in_features: int, out_features: int, num_tasks: int, rank: int, scale: float, device=None):
        super().__init__()
        self.base = nn.Linear(in_features, out_features, device=device)
        # Rows t·r .. t·r+r-1 are A[t]; columns t·r .. t·r+r-1 are B[t].
        self.register_buffer("lora_down", torch.zeros(num_tasks * rank, in_features, device=device))
        self.register_buffer("lora_up", torch.zeros(out_features, num_tasks * rank, device=device))
        self.scale = scale

    def forward(self, x: Tensor, task_mask: Tensor) -> Tensor:
        # x: [B, L, in]; task_mask: [B, 1, T·r] of 0/1 in x's dtype.
        y = self.base(x)
        down = torch.matmul(x, self.lora_down.t()).mul_(task_mask)  # [B, L, T·r]
        # In place: y is this call's own contiguous output.
        y.view(-1, y.size(-1)).addmm_(down.view(-1, down.size(-1)), self.lora_up.t(), alpha=self.scale)
        return y


class LoRAEmbeddings(nn.Module):
    """Word embedding + token-type row 0, each with Embedding LoRA (E + s · A[t] @ B[t]; A is
    [rows, r] per task, B is [r, H], the roles swapped relative to Linear), then LayerNorm."""

    def __init__(self, config: ModelConfig, device=None):
        super().__init__()
        V, H, T, r = config.vocab_size, config.hidden_size, config.num_tasks, config.lora_rank
        self.word = nn.Embedding(V, H, device=device)
        self.register_buffer("word_lora_A", torch.zeros(T + 1, V, r, device=device))
        self.register_buffer("word_lora_B", torch.zeros(T + 1, r, H, device=device))
        # Only token type 0 exists in use; its row and its LoRA row are kept.
        self.register_buffer("token_type", torch.zeros(H, device=device))
        self.register_buffer("token_type_lora_A", torch.zeros(T + 1, 1, r, device=device))
        self.register_buffer("token_type_lora_B", torch.zeros(T + 1, r, H, device=device))
        self.norm = FloatLayerNorm(H, config.layer_norm_eps, device=device)
        self.vocab_size = V
        self.rank = r
        self.scale = config.lora_scale

    def forward(self, input_ids: Tensor, slots: Tensor) -> Tensor:
        h = self.word(input_ids)  # [B, L, H]
        # A row of the merged table, per (slot, id): look up A[slot][id] in the flattened A.
        flat_ids = slots.unsqueeze(1) * self.vocab_size + input_ids
        low = F.embedding(flat_ids, self.word_lora_A.view(-1, self.rank))  # [B, L, r]
        word_b = self.word_lora_B.index_select(0, slots)  # [B, r, H]
        type_a = self.token_type_lora_A.index_select(0, slots)  # [B, 1, r]
        type_b = self.token_type_lora_B.index_select(0, slots)  # [B, r, H]
        token_type = torch.baddbmm(self.token_type.view(1, 1, -1), type_a, type_b, alpha=self.scale)  # [B, 1, H]
        h.add_(token_type)
        h.baddbmm_(low, word_b, alpha=self.scale)
        return self.norm(h)


class ManualAttention(nn.Module):
    """softmax(q kᵀ / sqrt(d) + key bias) v, in query chunks.

    On the CPU the scores go into a workspace that the model allocates once per forward pass and
    every layer reuses (a fresh multi-megabyte tensor per layer costs page faults on every call),
    and the softmax runs in place there, in float32. On CUDA, where allocation is cheap and passes
    over memory are what costs, it uses the fused softmax kernel (float32 inside, also for
    bfloat16/float16 inputs)."""

    def __init__(self, head_dim: int, max_score_elements: int = DEFAULT_MAX_SCORE_ELEMENTS):
        super().__init__()
        self.scale = 1.0 / math.sqrt(head_dim)
        self.max_score_elements = max_score_elements

    def forward(self, q: Tensor, k: Tensor, v: Tensor, key_bias: Tensor, key_keep: Tensor,
                workspace: List[Tensor]) -> Tensor:
        # q, k, v: [B, heads, L, d] contiguous; key_bias: float32 [B*heads, 1, L] (0 or _MASKED_SCORE);
        # workspace (CPU only): float32 scores buffer, and in reduced precision one in q's dtype.
        batch, heads, length, dim = q.size(0), q.size(1), q.size(2), q.size(3)
        bh = batch * heads
        q = (q * self.scale).view(bh, length, dim)
        k_t = k.view(bh, length, dim).transpose(1, 2)
        v = v.view(bh, length, dim)
        if len(workspace) == 0:
            rows = max(1, min(length, self.max_score_elements // max(1, bh * length)))
        else:
            rows = workspace[0].numel() // (bh * length)
        bias = key_bias.to(q.dtype)
        outputs: List[Tensor] = []
        for start in range(0, length, rows):
            n = min(rows, length - start)
            q_chunk = q[:, start:start + n]
            if len(workspace) == 0:
                probs = torch.softmax(torch.baddbmm(bias, q_chunk, k_t), dim=-1)
            else:
                scores = workspace[0][:bh * n * length].view(bh, n, length)
                if q.dtype == torch.float32:
                    torch.baddbmm(key_bias, q_chunk, k_t, out=scores)
                    probs = scores
                else:
                    probs = workspace[1][:bh * n * length].view(bh, n, length)
                    torch.bmm(q_chunk, k_t, out=probs)
                    scores.copy_(probs).add_(key_bias)
                scores.sub_(scores.amax(-1, keepdim=True))
                scores.exp_()
                scores.div_(scores.sum(-1, keepdim=True))
                if q.dtype != torch.float32:
                    probs.copy_(scores)
            outputs.append(torch.bmm(probs, v))
        out = outputs[0] if len(outputs) == 1 else torch.cat(outputs, dim=1)
        return out.view(batch, heads, length, dim)


class SdpaAttention(nn.Module):
    """The same attention through F.scaled_dot_product_attention (torch >= 2.0), in query chunks
    too, so that kernels without a fused path never build the whole score tensor."""

    def __init__(self, head_dim: int, max_score_elements: int = DEFAULT_MAX_SCORE_ELEMENTS):
        super().__init__()
        self.max_score_elements = max_score_elements

    def forward(self, q: Tensor, k: Tensor, v: Tensor, key_bias: Tensor, key_keep: Tensor,
                workspace: List[Tensor]) -> Tensor:
        batch, heads, length = q.size(0), q.size(1), q.size(2)
        rows = max(1, self.max_score_elements // max(1, batch * heads * k.size(2)))
        if rows >= length:
            return F.scaled_dot_product_attention(q, k, v, attn_mask=key_keep)
        chunks: List[Tensor] = []
        for start in range(0, length, rows):
            chunks.append(F.scaled_dot_product_attention(q[:, :, start:start + rows], k, v, attn_mask=key_keep))
        return torch.cat(chunks, dim=2)


# Attention score elements per chunk on the fused path: 2^21 bfloat16 values (4 MiB) stay in the
# L2/L3 caches between the product that writes them, the softmax and the product that reads them.
FUSED_SCORE_ELEMENTS = 1 << 21


class FusedSoftmaxAttention(nn.Module):
    """ManualAttention with the CPU softmax of reduced-precision scores done by jina3's fused kernel
    (torch.ops.jina3.softmax_with_bias_: bias, max, exp, sum and scaling in one pass per row, in
    float32), in cache-sized chunks of heads x queries. float32 and CUDA go to ManualAttention,
    which is faster there (float32 products are slow in small chunks; CUDA has its own fused
    softmax). Only built where the jina3 operators are registered (see kernels_available)."""

    def __init__(self, manual: ManualAttention, max_chunk_elements: int = FUSED_SCORE_ELEMENTS):
        super().__init__()
        self.manual = manual
        self.max_chunk_elements = max_chunk_elements

    def forward(self, q: Tensor, k: Tensor, v: Tensor, key_bias: Tensor, key_keep: Tensor,
                workspace: List[Tensor]) -> Tensor:
        if q.is_cuda or q.dtype == torch.float32:
            return self.manual(q, k, v, key_bias, key_keep, workspace)
        batch, heads, length, dim = q.size(0), q.size(1), q.size(2), q.size(3)
        out = torch.empty((batch, length, heads, dim), dtype=q.dtype, device=q.device)
        # [B, heads, L, d] as a view of [B, L, heads, d]: the caller's transpose back to
        # [B, L, hidden] is then free.
        return self.attend_prescaled(q * self.manual.scale, k, v, key_bias, out).transpose(1, 2)

    def attend_qkv(self, qkv: Tensor, cos: Tensor, sin: Tensor, key_bias: Tensor, heads: int) -> Tensor:
        """KernelBlock's bfloat16 CPU attention, from the qkv projection's output [B, L, 3·hidden]
        to [B, L, hidden]. Per group of texts (as many as one chunk of scores holds),
        torch.ops.jina3.split_qkv_rotary makes their q (rotated, times the scale), k (rotated) and
        v, which the products then read while they are still in the cache."""
        batch, length = qkv.size(0), qkv.size(1)
        dim = qkv.size(2) // (3 * heads)
        rows = max(1, min(length, self.max_chunk_elements // max(1, length)))
        texts = max(1, self.max_chunk_elements // max(1, rows * length * heads))
        out = torch.empty((batch, length, heads, dim), dtype=qkv.dtype, device=qkv.device)
        for first in range(0, batch, texts):
            n = min(texts, batch - first)
            q, k, v = torch.ops.jina3.split_qkv_rotary(qkv[first:first + n], cos, sin, heads, self.manual.scale)
            self.attend_prescaled(q, k, v, key_bias[first * heads:(first + n) * heads], out[first:first + n])
        return out.view(batch, length, heads * dim)

    def attend_prescaled(self, q: Tensor, k: Tensor, v: Tensor, key_bias: Tensor, out: Tensor) -> Tensor:
        """The CPU path for reduced precision: q (already times the scale), k, v [B, heads, L, d]
        contiguous; key_bias float32 [B*heads, 1, L]. Writes out [B, L, heads, d] (contiguous, so
        that viewing it as [B, L, hidden] costs nothing) and returns it: each chunk's product lands
        in a small buffer that is copied into place while it is still in the cache, instead of a
        transposed copy of the whole output afterwards."""
        batch, heads, length, dim = q.size(0), q.size(1), q.size(2), q.size(3)
        bh = batch * heads
        q = q.view(bh, length, dim)
        k_t = k.view(bh, length, dim).transpose(1, 2)
        v = v.view(bh, length, dim)
        rows = max(1, min(length, self.max_chunk_elements // max(1, length)))
        group = max(1, min(bh, self.max_chunk_elements // max(1, rows * length)))
        # A group is whole texts (all their heads) or a divisor of the heads of one text, so that
        # its output is one block of [B, L, heads, d].
        if group >= heads:
            group = group // heads * heads
        else:
            while heads % group != 0:
                group -= 1
        scores_buffer = torch.empty(group * rows * length, dtype=q.dtype, device=q.device)
        chunk_buffer = torch.empty(group * rows * dim, dtype=q.dtype, device=q.device)
        for first in range(0, bh, group):
            g = min(group, bh - first)
            text = first // heads
            for start in range(0, length, rows):
                n = min(rows, length - start)
                scores = scores_buffer[:g * n * length].view(g, n, length)
                torch.bmm(q[first:first + g, start:start + n], k_t[first:first + g], out=scores)
                torch.ops.jina3.softmax_with_bias_(scores, key_bias[first:first + g])
                chunk = chunk_buffer[:g * n * dim].view(g, n, dim)
                torch.bmm(scores, v[first:first + g], out=chunk)
                if g >= heads:
                    texts = g // heads
                    out[text:text + texts, start:start + n].copy_(chunk.view(texts, heads, n, dim).transpose(1, 2))
                else:
                    head = first % heads
                    out[text, start:start + n, head:head + g].copy_(chunk.transpose(0, 1))
        return out


class KernelLayerNorm(FloatLayerNorm):
    """FloatLayerNorm with reduced-precision inputs through torch.ops.jina3.add_layer_norm: the
    residual sum and LayerNorm in float32 in one pass per row, no float32 copies in memory."""

    @staticmethod
    def wrapping(norm: FloatLayerNorm) -> "KernelLayerNorm":
        kernel = KernelLayerNorm(norm.size, norm.eps, device="meta")
        kernel.weight, kernel.bias = norm.weight, norm.bias
        return kernel

    def forward(self, x: Tensor, residual: Optional[Tensor] = None) -> Tensor:
        if x.dtype == torch.float32:
            return _layer_norm_in_place(x, residual, self.weight, self.bias, self.eps)
        return torch.ops.jina3.add_layer_norm(x, residual, self.weight, self.bias, self.eps)


class KernelLoRALinear(nn.Module):
    """LoRALinear as one operator, torch.ops.jina3.lora_linear: x Wᵀ + [(x A_allᵀ) ⊙ mask, 1]
    [s·B_all | b]ᵀ. The bias rides in the adapter product (LibTorch would first copy it into every
    output row); for few rows (a query) on CPUs with AVX-512 BF16 all three products take jina3's
    bfloat16 kernel."""

    def __init__(self, lora: LoRALinear):
        super().__init__()
        self.weight = lora.base.weight
        self.register_buffer("lora_down", lora.lora_down)
        up_bias = torch.cat((lora.lora_up * lora.scale, lora.base.bias.detach().unsqueeze(1)), dim=1)
        self.register_buffer("lora_up_bias", up_bias.contiguous())
        # fc1 in reduced precision: the MLP's GELU applied by the operator (fuse_gelu()).
        self.gelu = False

    def forward(self, x: Tensor, task_mask: Tensor) -> Tensor:
        if self.gelu:
            return torch.ops.jina3.lora_linear_gelu(x, self.weight, self.lora_down, self.lora_up_bias, task_mask)
        return torch.ops.jina3.lora_linear(x, self.weight, self.lora_down, self.lora_up_bias, task_mask)


class Int8LoRALinear(nn.Module):
    """LoRALinear of an int8 package, one operator, torch.ops.jina3.lora_linear_int8: the base
    weight quantised to int8 here, symmetric with one scale per output channel (max |w| / 127);
    at run time each input row is quantised to int8 by its own max |x| / 127, the product is
    accumulated in int32 (oneDNN: VNNI or AMX where the CPU has them) and scaled back in float32,
    and the row's own LoRA adapter and the bias are added in floating point (lora_up_bias_t is
    [T·r + 1, out]: every task's scale · B transposed, then the bias)."""

    def __init__(self, lora: LoRALinear):
        super().__init__()
        weight = lora.base.weight.detach().float()
        scale = weight.abs().amax(dim=1) / 127.0
        safe = torch.where(scale > 0, scale, torch.ones_like(scale))
        self.register_buffer("qweight", torch.round(weight / safe.unsqueeze(1)).clamp_(-127, 127).to(torch.int8))
        self.register_buffer("wscale", scale.float().contiguous())
        self.register_buffer("lora_down", lora.lora_down.detach().clone())
        up_bias = torch.cat((lora.lora_up.detach().float() * lora.scale,
                             lora.base.bias.detach().float().unsqueeze(1)), dim=1)
        self.register_buffer("lora_up_bias_t", up_bias.t().contiguous())
        self.gelu = False  # fc1: the MLP's GELU applied by the operator (fuse_gelu())

    def forward(self, x: Tensor, task_mask: Tensor) -> Tensor:
        if self.gelu:
            return torch.ops.jina3.lora_linear_int8_gelu(x, self.qweight, self.wscale, self.lora_down,
                                                         self.lora_up_bias_t, task_mask)
        return torch.ops.jina3.lora_linear_int8(x, self.qweight, self.wscale, self.lora_down, self.lora_up_bias_t,
                                                task_mask)


def quantize_int8(model: "JinaEmbeddingsV3", compute_dtype: torch.dtype = torch.bfloat16) -> "JinaEmbeddingsV3":
    """The int8 package's model, in place: every block's four LoRALinear layers become
    Int8LoRALinear (quantised from the float32 weights), and every other floating-point tensor
    (embeddings, LayerNorms, the adapters) is stored in compute_dtype, except the weight scales,
    which stay float32. The runtime computes in bfloat16 where the CPU has native bfloat16 and
    casts the bfloat16 tensors to float32 elsewhere (src/model/backbone.cpp). Needs jina3's
    operators (kernels_available())."""
    for block in model.layers:
        for name in ("qkv", "out_proj", "fc1", "fc2"):
            setattr(block, name, Int8LoRALinear(getattr(block, name)))
    with torch.no_grad():
        for module in model.modules():
            for key, tensor in list(module._parameters.items()):
                if tensor is not None and tensor.is_floating_point():
                    module._parameters[key] = nn.Parameter(tensor.to(compute_dtype), requires_grad=False)
            for key, tensor in list(module._buffers.items()):
                if tensor is not None and tensor.is_floating_point() and key != "wscale":
                    module._buffers[key] = tensor.to(compute_dtype)
    return model


def kernels_available() -> bool:
    """Whether jina3's compiled operators (torch.ops.jina3.*, registered by libjina3, which
    importing jina3._jina3 loads) exist in this process."""
    try:
        importlib.import_module("jina3._jina3")
    except ImportError:
        return False
    try:
        torch.ops.jina3.cpu_kernels()
    except (RuntimeError, AttributeError):
        return False
    return True


def use_kernels(model: "JinaEmbeddingsV3") -> None:
    """Swaps jina3's operators into a model in place before scripting: every LoRALinear over a float
    nn.Linear becomes a KernelLoRALinear on the same tensors (Int8LoRALinear ones stay),
    every FloatLayerNorm a KernelLayerNorm, Gelu KernelGelu, and manual attention
    FusedSoftmaxAttention (its block then a KernelBlock: the qkv split and rotary through
    torch.ops.jina3.split_qkv_rotary). The scripted module then needs libjina3."""
    model.embeddings.norm = KernelLayerNorm.wrapping(model.embeddings.norm)
    for block in model.layers:
        block.norm1 = KernelLayerNorm.wrapping(block.norm1)
        block.norm2 = KernelLayerNorm.wrapping(block.norm2)
        block.activation = KernelGelu()
        for name in ("qkv", "out_proj", "fc1", "fc2"):
            lora = getattr(block, name)
            if isinstance(lora, LoRALinear) and type(lora.base) is nn.Linear:
                setattr(block, name, KernelLoRALinear(lora))
        fuse_gelu(block)
        if isinstance(block.attention, ManualAttention):
            block.attention = FusedSoftmaxAttention(block.attention)
            KernelBlock.retyping(block)
    model.fused_softmax = model.manual_attention


def fuse_gelu(block: "Block") -> None:
    """fc1 applies the MLP's GELU itself (lora_linear_gelu / lora_linear_int8_gelu: in the LoRA
    tail, while the block is in the cache, instead of a pass of its own over fc1's output; the
    same numbers as jina3::gelu_ on the stored output), for int8 and reduced-precision layers;
    float32 ones keep LibTorch's exact GELU."""
    fc1 = block.fc1
    if isinstance(fc1, Int8LoRALinear) or (isinstance(fc1, KernelLoRALinear) and fc1.weight.dtype != torch.float32):
        fc1.gelu = True
        block.activation = nn.Identity()


def make_attention(head_dim: int, kind: str = "auto",
                   max_score_elements: int = DEFAULT_MAX_SCORE_ELEMENTS) -> nn.Module:
    """kind: "auto" (SDPA when torch has it), "sdpa" or "manual"."""
    if kind == "auto":
        kind = "sdpa" if has_sdpa() else "manual"
    if kind == "sdpa":
        if not has_sdpa():
            raise ValueError(f"attention 'sdpa' needs torch >= 2.0 (this is torch {torch.__version__})")
        return SdpaAttention(head_dim, max_score_elements)
    if kind == "manual":
        return ManualAttention(head_dim, max_score_elements)
    raise ValueError(f"unknown attention kind {kind!r}; expected 'auto', 'sdpa' or 'manual'")


class Gelu(nn.Module):
    """F.gelu (the erf form) of the MLP's fresh hidden activations."""

    def forward(self, x: Tensor) -> Tensor:
        return F.gelu(x)


class KernelGelu(nn.Module):
    """Gelu in place through torch.ops.jina3.gelu_ for reduced precision (float32 stays F.gelu)."""

    def forward(self, x: Tensor) -> Tensor:
        if x.dtype == torch.float32:
            return F.gelu(x)
        return torch.ops.jina3.gelu_(x)


def rotate(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """Non-interleaved rotary: pairs (x_j, x_{j+d/2}) rotated by position x frequency j."""
    half = x.size(-1) // 2
    x1 = x[..., :half]
    x2 = x[..., half:]
    return torch.cat((x1 * cos - x2 * sin, x2 * cos + x1 * sin), dim=-1)


class Block(nn.Module):
    """Post-LayerNorm transformer block: h = norm1(h + attn(h)); h = norm2(h + mlp(h))."""

    def __init__(self, config: ModelConfig, attention: str, max_score_elements: int, device=None):
        super().__init__()
        H, F_, T, r, s = (config.hidden_size, config.intermediate_size, config.num_tasks, config.lora_rank,
                          config.lora_scale)
        self.qkv = LoRALinear(H, 3 * H, T, r, s, device=device)
        self.attention = make_attention(config.head_dim, attention, max_score_elements)
        self.out_proj = LoRALinear(H, H, T, r, s, device=device)
        self.norm1 = FloatLayerNorm(H, config.layer_norm_eps, device=device)
        self.fc1 = LoRALinear(H, F_, T, r, s, device=device)
        self.fc2 = LoRALinear(F_, H, T, r, s, device=device)
        self.activation = Gelu()
        self.norm2 = FloatLayerNorm(H, config.layer_norm_eps, device=device)
        self.heads = config.num_attention_heads
        self.head_dim = config.head_dim

    def forward(self, h: Tensor, task_mask: Tensor, cos: Tensor, sin: Tensor, key_bias: Tensor,
                key_keep: Tensor, workspace: List[Tensor]) -> Tensor:
        attn = self.self_attention(self.qkv(h, task_mask), cos, sin, key_bias, key_keep, workspace)
        h = self.norm1(self.out_proj(attn, task_mask), h)
        mlp = self.fc2(self.activation(self.fc1(h, task_mask)), task_mask)
        return self.norm2(mlp, h)

    def self_attention(self, qkv: Tensor, cos: Tensor, sin: Tensor, key_bias: Tensor, key_keep: Tensor,
                       workspace: List[Tensor]) -> Tensor:
        """Attention of the qkv projection's output [B, L, 3·hidden], as [B, L, hidden]."""
        return self.torch_attention(qkv, cos, sin, key_bias, key_keep, workspace)

    def torch_attention(self, qkv: Tensor, cos: Tensor, sin: Tensor, key_bias: Tensor, key_keep: Tensor,
                        workspace: List[Tensor]) -> Tensor:
        batch, length = qkv.size(0), qkv.size(1)
        # Wqkv's outputs are [q of all heads | k | v], each head's values contiguous. One permute
        # gives [3, B, heads, L, d]; rotating q and k makes them contiguous too.
        qkv = qkv.view(batch, length, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4).contiguous()
        q = rotate(qkv[0], cos, sin)
        k = rotate(qkv[1], cos, sin)
        attn = self.attention(q, k, qkv[2], key_bias, key_keep, workspace)  # [B, heads, L, d]
        return attn.transpose(1, 2).reshape(batch, length, self.heads * self.head_dim)


class KernelBlock(Block):
    """Block with FusedSoftmaxAttention whose bfloat16 CPU attention goes through jina3's operators:
    torch.ops.jina3.split_qkv_rotary turns the qkv projection's output into q (rotated and already
    times the attention's scale), k (rotated) and v, each [B, heads, L, d], in one pass (LibTorch
    needs a permuted copy, then multiplies, subtractions, a concatenation and the scaling, each a
    pass over memory), for a few texts at a time, whose attention then reads them from the cache
    (FusedSoftmaxAttention.attend_qkv) and writes [B, L, heads, d], which is [B, L, hidden] as it
    stands. Rotary and scale are computed in float32 and rounded once (LibTorch rounds after each
    step): about one bfloat16 unit in the last place apart. float32, other dtypes and CUDA take
    Block's LibTorch path unchanged."""

    @staticmethod
    def retyping(block: Block) -> "KernelBlock":
        """The block itself as a KernelBlock: the same submodules and attributes, only the
        attention sublayer's code differs. Its attention must be a FusedSoftmaxAttention."""
        if not isinstance(block.attention, FusedSoftmaxAttention):
            raise TypeError("KernelBlock needs FusedSoftmaxAttention, not " + type(block.attention).__name__)
        block.__class__ = KernelBlock
        return block

    def self_attention(self, qkv: Tensor, cos: Tensor, sin: Tensor, key_bias: Tensor, key_keep: Tensor,
                       workspace: List[Tensor]) -> Tensor:
        if qkv.is_cuda or qkv.dtype != torch.bfloat16:
            return self.torch_attention(qkv, cos, sin, key_bias, key_keep, workspace)
        return self.attention.attend_qkv(qkv, cos, sin, key_bias, self.heads)


class JinaEmbeddingsV3(nn.Module):
    """forward(input_ids [B, L] int64, attention_mask [B, L] int64, task_ids [B] int64, -1 = no
    adapter) -> last hidden state [B, L, H] in the compute dtype (float32 for int8 modules).
    Padding is on the right; positions are 0..L-1 in every row; rows are independent."""

    def __init__(self, config: ModelConfig, attention: str = "auto",
                 max_score_elements: int = DEFAULT_MAX_SCORE_ELEMENTS, device=None):
        super().__init__()
        self.embeddings = LoRAEmbeddings(config, device=device)
        self.layers = nn.ModuleList([Block(config, attention, max_score_elements, device=device)
                                     for _ in range(config.num_hidden_layers)])
        self.manual_attention = isinstance(self.layers[0].attention, ManualAttention)
        self.fused_softmax = False  # set by use_kernels(): reduced precision then needs no workspace
        self.max_score_elements = max_score_elements
        self.num_tasks = config.num_tasks
        self.lora_rank = config.lora_rank
        self.vocab_size = config.vocab_size
        self.hidden_size = config.hidden_size
        self.heads = config.num_attention_heads
        self.head_dim = config.head_dim
        self.rotary_base = float(config.rotary_emb_base)
        self.masked_score = _MASKED_SCORE
        # Inference only: no weight needs a gradient (and the attention's out= kernels refuse them).
        self.requires_grad_(False)

    def rotary_tables(self, length: int, device: torch.device, dtype: torch.dtype) -> Tuple[Tensor, Tensor]:
        """cos and sin of position x inverse frequency, [L, d/2]; computed in float64 so the angles
        are exact before rounding, whatever the compute dtype."""
        half = self.head_dim // 2
        exponent = torch.arange(half, dtype=torch.float64, device=device) * (-2.0 / self.head_dim)
        inv_freq = torch.exp(exponent * math.log(self.rotary_base))
        positions = torch.arange(length, dtype=torch.float64, device=device)
        angles = positions.unsqueeze(1) * inv_freq.unsqueeze(0)
        return torch.cos(angles).to(dtype), torch.sin(angles).to(dtype)

    def check_inputs(self, input_ids: Tensor, attention_mask: Tensor, task_ids: Tensor) -> None:
        if input_ids.dim() != 2 or attention_mask.shape != input_ids.shape:
            raise ValueError("input_ids and attention_mask must both be [batch, length]")
        if task_ids.dim() != 1 or task_ids.size(0) != input_ids.size(0):
            raise ValueError("task_ids must be [batch]")
        if input_ids.dtype != torch.int64 or attention_mask.dtype != torch.int64 or task_ids.dtype != torch.int64:
            raise ValueError("input_ids, attention_mask and task_ids must be int64")
        if input_ids.numel() == 0:
            return
        # One host sync for all range checks (an out-of-range index on CUDA would be a device assert).
        bad = ((input_ids < 0).any() | (input_ids >= self.vocab_size).any() | (task_ids < -1).any()
               | (task_ids >= self.num_tasks).any())
        if bool(bad):
            if bool((task_ids < -1).any() | (task_ids >= self.num_tasks).any()):
                raise ValueError("task_ids must be -1 (no adapter) or an adapter index below " + str(self.num_tasks))
            raise ValueError("input_ids must be token ids in [0, vocab_size=" + str(self.vocab_size) + ")")

    def forward(self, input_ids: Tensor, attention_mask: Tensor, task_ids: Tensor) -> Tensor:
        self.check_inputs(input_ids, attention_mask, task_ids)
        batch, length = input_ids.size(0), input_ids.size(1)
        device = input_ids.device
        slots = torch.where(task_ids < 0, torch.full_like(task_ids, self.num_tasks), task_ids)
        h = self.embeddings(input_ids, slots)
        # Column j of the stacked adapters belongs to task j // rank; a row keeps its task's columns.
        column_task = torch.arange(self.num_tasks * self.lora_rank, device=device) // self.lora_rank
        task_mask = (column_task.unsqueeze(0) == task_ids.unsqueeze(1)).to(h.dtype).unsqueeze(1)  # [B, 1, T·r]
        cos, sin = self.rotary_tables(length, device, h.dtype)
        key_keep = (attention_mask != 0).view(batch, 1, 1, length)
        workspace: List[Tensor] = []
        key_bias = key_keep  # unused by SDPA
        if self.manual_attention:
            bias = torch.zeros((batch, 1, 1, length), dtype=torch.float32, device=device)
            bias = bias.masked_fill(key_keep.logical_not(), self.masked_score)
            key_bias = bias.expand(batch, self.heads, 1, length).reshape(batch * self.heads, 1, length)
            if not input_ids.is_cuda and (not self.fused_softmax or h.dtype == torch.float32):
                rows = max(1, min(length, self.max_score_elements // max(1, batch * self.heads * length)))
                size = batch * self.heads * rows * length
                workspace.append(torch.empty(size, dtype=torch.float32, device=device))
                if h.dtype != torch.float32:
                    workspace.append(torch.empty(size, dtype=h.dtype, device=device))
        for layer in self.layers:
            h = layer(h, task_mask, cos, sin, key_bias, key_keep, workspace)
        return h


# ---------------------------------------------------------------------------------------------
# Loading from a Hugging Face checkpoint directory.


def _targets(model: JinaEmbeddingsV3, config: ModelConfig) -> Dict[str, Tensor]:
    """HF tensor name -> the model tensor (or view of it) it is copied into."""
    T = config.num_tasks
    emb = model.embeddings
    e = PREFIX + "embeddings."
    targets: Dict[str, Tensor] = {
        e + "word_embeddings.parametrizations.weight.original": emb.word.weight,
        e + "word_embeddings.parametrizations.weight.0.lora_A": emb.word_lora_A[:T],
        e + "word_embeddings.parametrizations.weight.0.lora_B": emb.word_lora_B[:T],
        # Token type 0 only: row 0 of the table and of each task's A.
        e + "token_type_embeddings.parametrizations.weight.original": emb.token_type.view(1, -1),
        e + "token_type_embeddings.parametrizations.weight.0.lora_A": emb.token_type_lora_A[:T],
        e + "token_type_embeddings.parametrizations.weight.0.lora_B": emb.token_type_lora_B[:T],
        PREFIX + "emb_ln.weight": emb.norm.weight,
        PREFIX + "emb_ln.bias": emb.norm.bias,
    }
    for i, block in enumerate(model.layers):
        layer = f"{PREFIX}encoder.layers.{i}."
        for hf, lora in (("mixer.Wqkv", block.qkv), ("mixer.out_proj", block.out_proj),
                         ("mlp.fc1", block.fc1), ("mlp.fc2", block.fc2)):
            targets[f"{layer}{hf}.parametrizations.weight.original"] = lora.base.weight
            out_features, in_features = lora.base.weight.shape
            # HF A is [T, r, in], B is [T, out, r]: views of the stacked layouts (B's is strided).
            targets[f"{layer}{hf}.parametrizations.weight.0.lora_A"] = lora.lora_down.view(T, -1, in_features)
            targets[f"{layer}{hf}.parametrizations.weight.0.lora_B"] = \
                lora.lora_up.view(out_features, T, -1).permute(1, 0, 2)
            targets[f"{layer}{hf}.bias"] = lora.base.bias
        for hf, norm in (("norm1", block.norm1), ("norm2", block.norm2)):
            targets[f"{layer}{hf}.weight"] = norm.weight
            targets[f"{layer}{hf}.bias"] = norm.bias
    return targets


def _zero_off_slots(model: JinaEmbeddingsV3, num_tasks: int) -> None:
    """The embeddings' extra adapter slot (task -1) must be exactly zero; to_empty() left it
    uninitialised."""
    with torch.no_grad():
        for name, buffer in model.embeddings.named_buffers():
            if "lora_A" in name or "lora_B" in name:
                buffer[num_tasks:].zero_()


def build_model(config: ModelConfig, attention: str = "auto",
                max_score_elements: int = DEFAULT_MAX_SCORE_ELEMENTS) -> JinaEmbeddingsV3:
    """A model with uninitialised weights (no random init: loading overwrites everything)."""
    model = JinaEmbeddingsV3(config, attention, max_score_elements, device="meta")
    model = model.to_empty(device="cpu")
    _zero_off_slots(model, config.num_tasks)
    return model.eval()


def load_checkpoint(directory: Union[str, Path], dtype: torch.dtype = torch.float32, attention: str = "auto",
                    max_score_elements: int = DEFAULT_MAX_SCORE_ELEMENTS,
                    config: Optional[ModelConfig] = None) -> JinaEmbeddingsV3:
    """Loads a jina-embeddings-v3 checkpoint in either Hugging Face layout (the original one, or
    the -hf one of base weights and per-task PEFT adapters: see layouts.py) into an eval-mode
    model of the given dtype on the CPU. Raises ConfigError or CheckpointError naming the key or
    tensor at fault. The pooler is ignored."""
    directory = Path(directory)
    if config is None:
        config = load_layout(directory).config
    model = build_model(config, attention, max_score_elements)
    targets = _targets(model, config)
    with open_tensors(directory, config) as tensors:
        check_tensor_names(config, tensors)
        for name, dest in targets.items():
            # Straight into the parameter's memory (a float32 CPU tensor, so numpy shares it);
            # through a scratch array where the destination is a strided view.
            contiguous = dest.is_contiguous()
            array = dest.detach().numpy() if contiguous else np.empty(tuple(dest.shape), dtype=np.float32)
            tensors.read_float32_into(name, array)
            if not np.isfinite(array).all():
                raise CheckpointError(f"{directory}: tensor {name!r} holds NaN or infinite values")
            if not contiguous:
                with torch.no_grad():
                    dest.copy_(torch.from_numpy(array))
    return model.to(dtype)


def model_tensor_count(model: nn.Module) -> int:
    return sum(t.numel() for t in model.state_dict().values() if isinstance(t, Tensor))
