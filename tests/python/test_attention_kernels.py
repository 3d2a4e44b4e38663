"""jina3::split_qkv_rotary (src/model/attention_ops.cpp) against LibTorch's composition of the same
steps, FusedSoftmaxAttention.attend_prescaled against the manual attention, and the models and
packages whose bfloat16 blocks use them (KernelBlock) against those that do not."""

import copy
import json
import math

import pytest
import torch
import torch.nn.functional as F

import jina3  # noqa: F401  (loads libjina3, which registers the operators)
from jina3.export.backbone import (Block, FusedSoftmaxAttention, KernelBlock, ManualAttention, load_checkpoint,
                                   rotate, use_kernels)

from encoder_support import data_dir, package_dir


def random_qkv(batch, length, heads, dim, dtype, seed=0):
    generator = torch.Generator().manual_seed(seed)
    qkv = (torch.randn(batch, length, 3 * heads * dim, generator=generator) * 3).to(dtype)
    # The model's tables: position x inverse frequency (base 20000), in float64, then rounded.
    inv_freq = torch.exp(torch.arange(dim // 2, dtype=torch.float64) * (-2.0 / dim) * math.log(20000.0))
    angles = torch.arange(length, dtype=torch.float64).unsqueeze(1) * inv_freq.unsqueeze(0)
    return qkv, torch.cos(angles).to(dtype), torch.sin(angles).to(dtype)


def torch_split(qkv, cos, sin, heads, q_scale):
    """Block's LibTorch sequence (permute, rotate, the attention's scaling), in qkv's dtype."""
    batch, length = qkv.size(0), qkv.size(1)
    parts = qkv.view(batch, length, 3, heads, -1).permute(2, 0, 3, 1, 4).contiguous()
    return rotate(parts[0], cos, sin) * q_scale, rotate(parts[1], cos, sin), parts[2]


def float32_split(qkv, cos, sin, heads, q_scale):
    """The same in float32 (float64 for the products' magnitudes), not rounded: what the operator
    rounds once. Returns (q, k, v, bound of |x1 c| + |x2 s| per element for q and k)."""
    batch, length = qkv.size(0), qkv.size(1)
    parts = qkv.double().view(batch, length, 3, heads, -1).permute(2, 0, 3, 1, 4)
    c, s = cos.double(), sin.double()
    q, k = rotate(parts[0], c, s) * q_scale, rotate(parts[1], c, s)
    return q, k, parts[2], magnitude(parts[0], c, s) * q_scale, magnitude(parts[1], c, s)


def magnitude(x, c, s):
    """|x1 c| + |x2 s| and |x2 c| + |x1 s|: the size of the products that the rotation adds."""
    half = x.size(-1) // 2
    x1, x2 = x[..., :half].abs(), x[..., half:].abs()
    return torch.cat((x1 * c.abs() + x2 * s.abs(), x2 * c.abs() + x1 * s.abs()), dim=-1)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float32])
@pytest.mark.parametrize("dim", [64, 32])
@pytest.mark.parametrize("heads", [2, 16])
@pytest.mark.parametrize("length", [1, 7, 33, 130])
@pytest.mark.parametrize("batch", [1, 3])
def test_split_qkv_rotary_matches_the_torch_composition(batch, length, heads, dim, dtype):
    qkv, cos, sin = random_qkv(batch, length, heads, dim, dtype, seed=batch * 1000 + length)
    q_scale = 1.0 / math.sqrt(dim)
    q, k, v = torch.ops.jina3.split_qkv_rotary(qkv, cos, sin, heads, q_scale)
    for out in (q, k, v):
        assert out.shape == (batch, heads, length, dim) and out.dtype == dtype and out.is_contiguous()
    expected_q, expected_k, expected_v = torch_split(qkv, cos, sin, heads, q_scale)
    assert torch.equal(v, expected_v)
    if dtype == torch.float32:
        # The LibTorch fallback runs LibTorch's float32 steps: the same bits.
        assert torch.equal(q, expected_q) and torch.equal(k, expected_k)
        return
    exact_q, exact_k, _, magnitude_q, magnitude_k = float32_split(qkv, cos, sin, heads, q_scale)
    for got, exact, magnitude, eager in ((q, exact_q, magnitude_q, expected_q), (k, exact_k, magnitude_k, expected_k)):
        # Rounded once: half a bfloat16 unit (2^-9 relative, 2^-8 with the float32 steps' own
        # error, which is relative to the products' magnitudes, not to their difference).
        error = (got.double() - exact).abs()
        assert torch.all(error <= exact.abs() * 2.0 ** -8 + magnitude * 2.0 ** -20)
        # LibTorch's bfloat16 sequence rounds each product, their sum and the scaled result: within
        # about one unit of the products' magnitude of the operator.
        assert torch.all((got.double() - eager.double()).abs() <= (exact.abs() + magnitude) * 2.0 ** -7)
    # Something is rotated: position 1 onwards differs from the plain split.
    if length > 1:
        plain = qkv.view(batch, length, 3, heads, dim).permute(2, 0, 3, 1, 4)
        assert not torch.equal(k[:, :, 1:], plain[1][:, :, 1:].contiguous())


def test_q_scale_scales_q_only():
    qkv, cos, sin = random_qkv(2, 9, 4, 64, torch.bfloat16)
    q1, k1, v1 = torch.ops.jina3.split_qkv_rotary(qkv, cos, sin, 4, 1.0)
    q3, k3, v3 = torch.ops.jina3.split_qkv_rotary(qkv, cos, sin, 4, 0.3)
    assert torch.equal(k1, k3) and torch.equal(v1, v3)
    exact = float32_split(qkv, cos, sin, 4, 0.3)[0]
    assert torch.allclose(q3.double(), exact, rtol=2.0 ** -8, atol=1e-6)
    assert not torch.allclose(q1.double(), exact, rtol=0.1, atol=1e-3)
    # Power-of-two scales are exact in bfloat16 too.
    q8 = torch.ops.jina3.split_qkv_rotary(qkv, cos, sin, 4, 0.125)[0]
    assert torch.equal(q8, (q1.float() * 0.125).bfloat16())


def test_strided_input_takes_the_fallback_with_the_same_results():
    qkv, cos, sin = random_qkv(3, 20, 4, 32, torch.bfloat16)
    strided = qkv.transpose(0, 1).contiguous().transpose(0, 1)  # same values, not contiguous
    assert not strided.is_contiguous()
    kernel = torch.ops.jina3.split_qkv_rotary(qkv, cos, sin, 4, 0.2)
    fallback = torch.ops.jina3.split_qkv_rotary(strided, cos, sin, 4, 0.2)
    _, _, _, magnitude_q, magnitude_k = float32_split(qkv, cos, sin, 4, 0.2)
    for a, b, m in zip(kernel[:2], fallback[:2], (magnitude_q, magnitude_k)):
        assert a.is_contiguous() and b.is_contiguous()
        # Both round the float32 result once; only the float32 steps' order differs.
        assert torch.all((a.double() - b.double()).abs() <= b.double().abs() * 2.0 ** -7 + m * 2.0 ** -20)
    assert torch.equal(kernel[2], fallback[2])


def test_cpu_without_avx512_gets_the_fallback_with_the_same_results(tmp_path):
    # JINA3_MAX_CPU_ISA=avx2 plays a CPU without AVX-512: the same contiguous bfloat16 input then
    # takes the LibTorch fallback, which rounds the same float32 function once.
    import os
    import subprocess
    import sys
    qkv, cos, sin = random_qkv(3, 33, 4, 64, torch.bfloat16)
    torch.save((qkv, cos, sin), tmp_path / "in.pt")
    script = (
        "import sys, torch, jina3\n"
        "qkv, cos, sin = torch.load(sys.argv[1])\n"
        "torch.save(torch.ops.jina3.split_qkv_rotary(qkv, cos, sin, 4, 0.2), sys.argv[2])\n"
        "print(torch.ops.jina3.cpu_kernels())\n")
    env = dict(os.environ, JINA3_MAX_CPU_ISA="avx2")
    result = subprocess.run([sys.executable, "-c", script, str(tmp_path / "in.pt"), str(tmp_path / "out.pt")],
                            env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "softmax:torch" in result.stdout
    fallback = torch.load(tmp_path / "out.pt")
    kernel = torch.ops.jina3.split_qkv_rotary(qkv, cos, sin, 4, 0.2)
    _, _, _, magnitude_q, magnitude_k = float32_split(qkv, cos, sin, 4, 0.2)
    for a, b, m in zip(kernel[:2], fallback[:2], (magnitude_q, magnitude_k)):
        assert b.dtype == torch.bfloat16 and b.is_contiguous()
        assert torch.all((a.double() - b.double()).abs() <= b.double().abs() * 2.0 ** -7 + m * 2.0 ** -20)
    assert torch.equal(kernel[2], fallback[2])


def test_malformed_arguments_are_refused():
    qkv, cos, sin = random_qkv(1, 5, 2, 8, torch.bfloat16)
    with pytest.raises(RuntimeError, match="3 x heads"):
        torch.ops.jina3.split_qkv_rotary(qkv, cos, sin, 5, 1.0)
    with pytest.raises(RuntimeError, match="batch, length"):
        torch.ops.jina3.split_qkv_rotary(qkv[0], cos, sin, 2, 1.0)
    with pytest.raises(RuntimeError, match="cos and sin"):
        torch.ops.jina3.split_qkv_rotary(qkv, cos[:4], sin[:4], 2, 1.0)
    with pytest.raises(RuntimeError, match="even"):
        odd = torch.zeros(1, 5, 3 * 2 * 7, dtype=torch.bfloat16)
        torch.ops.jina3.split_qkv_rotary(odd, cos[:, :3], sin[:, :3], 2, 1.0)


# --- FusedSoftmaxAttention.attend_prescaled: [B, L, heads, d] out ------------------------------------


def key_bias_for(batch, heads, length, lengths):
    bias = torch.zeros(batch, 1, 1, length)
    for b, n in enumerate(lengths):
        bias[b, ..., n:] = -1.0e30
    return bias.expand(batch, heads, 1, length).reshape(batch * heads, 1, length)


# max_chunk_elements choosing: one chunk; groups of a divisor of the heads (6 -> 3); groups of
# whole texts with a shorter last group (8 -> 6 of 9); query chunks of 3 rows, one head each.
@pytest.mark.parametrize("batch,heads,length,max_chunk", [
    (2, 6, 33, 1 << 21), (2, 6, 33, 33 * 33 * 4), (3, 3, 33, 33 * 33 * 8), (2, 6, 33, 100)])
def test_attend_prescaled_matches_manual_attention(batch, heads, length, max_chunk):
    dim = 32
    generator = torch.Generator().manual_seed(length + max_chunk)
    q, k, v = (torch.randn(batch, heads, length, dim, generator=generator).bfloat16() for _ in range(3))
    bias = key_bias_for(batch, heads, length, [length, length // 3, 1][:batch])
    manual = ManualAttention(dim)
    fused = FusedSoftmaxAttention(manual, max_chunk)
    with torch.inference_mode():
        out = torch.empty(batch, length, heads, dim, dtype=torch.bfloat16)
        got = fused.attend_prescaled(q * manual.scale, k, v, bias, out)
        through_forward = fused(q, k, v, bias, bias, [])
        exact = manual(q.float(), k.float(), v.float(), bias, bias, [])  # float32 reference
    assert got.data_ptr() == out.data_ptr() and got.shape == (batch, length, heads, dim)
    assert through_forward.shape == (batch, heads, length, dim)
    assert torch.equal(through_forward, got.transpose(1, 2))
    # bfloat16 products and probabilities against float32 throughout.
    assert torch.allclose(got.transpose(1, 2).float(), exact, rtol=2.0 ** -5, atol=2.0 ** -6)


# Texts split at once: 2 of 3 (a shorter last group), then 1 (one text's heads in two groups, queries
# in chunks of 16 rows).
@pytest.mark.parametrize("length,max_chunk", [(20, 20 * 20 * 4 * 2), (33, 16 * 33 * 2)])
def test_attend_qkv_is_the_split_then_attend_prescaled(length, max_chunk):
    batch, heads, dim = 3, 4, 32
    qkv, cos, sin = random_qkv(batch, length, heads, dim, torch.bfloat16, seed=length)
    qkv = qkv / 4  # scores of order 1, where bfloat16 scores still give float32's probabilities to 2^-6
    bias = key_bias_for(batch, heads, length, [length, length // 2, 2])
    manual = ManualAttention(dim)
    fused = FusedSoftmaxAttention(manual, max_chunk)
    whole = FusedSoftmaxAttention(manual)  # everything in one chunk
    with torch.inference_mode():
        got = fused.attend_qkv(qkv, cos, sin, bias, heads)
        q, k, v = torch.ops.jina3.split_qkv_rotary(qkv, cos, sin, heads, manual.scale)
        expected = whole.attend_prescaled(q, k, v, bias, torch.empty(batch, length, heads, dim, dtype=torch.bfloat16))
        unscaled_q = torch.ops.jina3.split_qkv_rotary(qkv, cos, sin, heads, 1.0)[0]
        exact = manual(unscaled_q.float(), k.float(), v.float(), bias, bias, []).transpose(1, 2)  # scales q
    got = got.view(batch, length, heads, dim)
    assert got.is_contiguous()
    # The same products chunked otherwise: equal up to the products' blocking and rounding (a unit
    # in the last place of |p| . |v|, |v| <= 4 here; a misplaced chunk would be off by O(1)).
    assert torch.allclose(got.float(), expected.float(), rtol=2.0 ** -7, atol=2.0 ** -6)
    assert torch.allclose(got.float(), exact, rtol=2.0 ** -5, atol=2.0 ** -6)


# --- the models and packages that use them ------------------------------------------------------------


def small_inputs():
    generator = torch.Generator().manual_seed(1)
    ids = torch.randint(5, 2000, (3, 41), generator=generator)
    mask = torch.ones_like(ids)
    mask[1, 17:] = 0
    mask[2, 3:] = 0
    return ids, mask, torch.tensor([-1, 0, 3])


def first_block(scripted):
    # getattr: indexing a scripted ModuleList in the process that scripted it gives the Python module.
    return getattr(scripted.layers, "0")


def pooled(hidden, mask):
    weights = mask.unsqueeze(-1).float()
    return F.normalize((hidden.float() * weights).sum(1) / weights.sum(1), dim=-1)


@pytest.fixture(scope="module")
def float32_model():
    return load_checkpoint(data_dir() / "checkpoint", attention="manual")


def test_use_kernels_makes_kernel_blocks_that_script(float32_model):
    model = copy.deepcopy(float32_model)
    assert all(type(block) is Block for block in model.layers)
    use_kernels(model)
    assert all(type(block) is KernelBlock for block in model.layers)
    scripted = torch.jit.script(model)
    block = first_block(scripted)
    assert "attend_qkv" in block.self_attention.code
    assert "jina3.split_qkv_rotary" in block.attention.attend_qkv.code
    assert "jina3.softmax_with_bias_" in block.attention.attend_prescaled.code


def test_kernel_blocks_keep_float32_exact(float32_model):
    # float32 takes Block's LibTorch path inside KernelBlock: the eager model's result.
    ids, mask, tasks = small_inputs()
    kernel_model = copy.deepcopy(float32_model)
    use_kernels(kernel_model)
    scripted = torch.jit.script(kernel_model)
    with torch.inference_mode():
        expected = float32_model(ids, mask, tasks)
        got = scripted(ids, mask, tasks)
    keep = mask.bool()
    assert float((got - expected)[keep].abs().max()) <= 1e-5


def test_kernel_blocks_in_bfloat16_agree_with_libtorchs_blocks(float32_model):
    ids, mask, tasks = small_inputs()
    plain = copy.deepcopy(float32_model).to(torch.bfloat16)
    kernel_model = copy.deepcopy(plain)
    use_kernels(kernel_model)
    scripted = torch.jit.script(kernel_model)
    with torch.inference_mode():
        exact = pooled(float32_model(ids, mask, tasks), mask)
        libtorch = pooled(plain(ids, mask, tasks), mask)
        got = pooled(scripted(ids, mask, tasks), mask)
    assert float((got * libtorch).sum(-1).min()) >= 0.9999
    assert float((got * exact).sum(-1).min()) >= 0.999


def test_bfloat16_test_package_calls_the_operator_and_matches_float32():
    modules = {name: torch.jit.load(str(package_dir(name) / "backbone.pt"))
               for name in ("float32", "bfloat16", "bfloat16-torch")}
    manifest = json.loads((package_dir("bfloat16") / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["dtype"] == "bfloat16" and manifest["jina3_kernels"] is True
    block = first_block(modules["bfloat16"])
    assert "attend_qkv" in block.self_attention.code
    assert "jina3.split_qkv_rotary" in block.attention.attend_qkv.code
    assert "jina3" not in first_block(modules["bfloat16-torch"]).self_attention.code
    ids, mask, tasks = small_inputs()
    with torch.inference_mode():
        out = {name: pooled(module(ids, mask, tasks), mask) for name, module in modules.items()}
    # The bounds of test_export.py (bfloat16 package against float32) and test_kernels.py (against
    # the LibTorch-only bfloat16 package).
    assert float((out["bfloat16"] * out["float32"]).sum(-1).min()) >= 0.999
    assert float((out["bfloat16"] * out["bfloat16-torch"]).sum(-1).min()) >= 0.9999
