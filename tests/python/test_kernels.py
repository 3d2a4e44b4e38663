"""jina3's TorchScript operators (src/model/torch_ops.cpp) against LibTorch's own computation, for the
shapes the model sends and for the edges (tails of 16/32 lanes, one row, masked keys), and the
packages that call them against the packages that do not."""

import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import jina3
from jina3.export.backbone import FloatLayerNorm, KernelLayerNorm, KernelLoRALinear, LoRALinear, kernels_available

from encoder_support import TASK_NAMES, package_dir

torch.manual_seed(0)


def test_operators_are_registered_by_the_compiled_module():
    assert kernels_available()
    report = torch.ops.jina3.cpu_kernels()
    assert report.split()[0] in ("softmax:avx512", "softmax:torch")
    assert report.split()[1] in ("linear:avx512_bf16", "linear:torch")


# --- softmax_with_bias_ ----------------------------------------------------------------------------


def bias_for(groups, length, masked_from):
    bias = torch.zeros(groups, 1, length)
    for g in range(groups):
        bias[g, :, masked_from[g]:] = -1.0e30
    return bias


@pytest.mark.parametrize("length", [1, 2, 15, 16, 17, 100, 1000, 8192])
def test_softmax_float32_matches_torch(length):
    groups, rows = 3, 5
    scores = torch.randn(groups, rows, length) * 6
    bias = bias_for(groups, length, [length, max(1, length // 2), 1])
    expected = torch.softmax(scores + bias, dim=-1)
    got = torch.ops.jina3.softmax_with_bias_(scores.clone(), bias)
    assert got.shape == expected.shape and got.dtype == torch.float32
    assert torch.allclose(got, expected, rtol=2e-6, atol=1e-9)
    # Padded keys get exactly zero weight, and every row sums to one.
    for g, start in enumerate([length, max(1, length // 2), 1]):
        assert torch.all(got[g, :, start:] == 0)
    assert torch.allclose(got.sum(-1), torch.ones(groups, rows), atol=1e-5)


@pytest.mark.parametrize("length", [1, 7, 16, 33, 513])
def test_softmax_bfloat16_is_float32_softmax_rounded_once(length):
    groups, rows = 2, 4
    scores = (torch.randn(groups, rows, length) * 6).bfloat16()
    bias = bias_for(groups, length, [length, max(1, length - 3)])
    exact = torch.softmax(scores.float() + bias, dim=-1)
    got = torch.ops.jina3.softmax_with_bias_(scores.clone(), bias)
    assert got.dtype == torch.bfloat16
    # One rounding of the float32 result: within half a bfloat16 unit (2^-9 relative), plus the
    # float32 arithmetic's own few ulps.
    assert torch.all((got.float() - exact).abs() <= exact.abs() * (2.0 ** -8) + 1e-30)
    assert torch.all(got[1, :, max(1, length - 3):] == 0)


def test_softmax_works_in_place_and_returns_its_input():
    scores = torch.randn(1, 3, 40)
    bias = torch.zeros(1, 1, 40)
    out = torch.ops.jina3.softmax_with_bias_(scores, bias)
    assert out.data_ptr() == scores.data_ptr()
    assert torch.allclose(scores.sum(-1), torch.ones(1, 3), atol=1e-6)


def test_softmax_of_unusual_layouts_falls_back_to_torch():
    # Non-contiguous scores and a broadcast bias are not the kernel's layout; the result is the same.
    base = torch.randn(2, 40, 6)
    scores = base.transpose(1, 2)  # [2, 6, 40], strided
    bias = torch.zeros(1, 1, 40)
    bias[..., 30:] = -1.0e30
    expected = torch.softmax(scores + bias, dim=-1)
    got = torch.ops.jina3.softmax_with_bias_(scores, bias)
    assert torch.allclose(got, expected, rtol=2e-6, atol=1e-9)


# --- linear ----------------------------------------------------------------------------------------


def bf16_linear_reference(x, weight, bias):
    """float32 product of the bfloat16 operands (what the kernel accumulates), then one rounding."""
    out = F.linear(x.float(), weight.float(), None if bias is None else bias.float())
    return out


@pytest.mark.parametrize("rows", [1, 5, 6, 7, 30, 48])
@pytest.mark.parametrize("depth,outputs", [(1, 1), (31, 5), (32, 4), (33, 9), (64, 130), (1024, 256)])
def test_linear_bfloat16_matches_float32_accumulation(rows, depth, outputs):
    x = torch.randn(rows, depth).bfloat16()
    weight = torch.randn(outputs, depth).bfloat16()
    bias = torch.randn(outputs).bfloat16()
    got = torch.ops.jina3.linear(x, weight, bias)
    assert got.shape == (rows, outputs) and got.dtype == torch.bfloat16
    exact = bf16_linear_reference(x, weight, bias)
    # Rounding the float32 sum once: half a unit of bfloat16 (2^-9 relative) + summation-order
    # differences of float32 over `depth` terms.
    scale = (x.float().abs() @ weight.float().abs().t()) + bias.float().abs()
    tolerance = exact.abs() * 2.0 ** -8 + scale * depth * 2.0 ** -23 + 1e-6
    assert torch.all((got.float() - exact).abs() <= tolerance)


def test_linear_without_bias_and_with_leading_dimensions():
    x = torch.randn(2, 3, 64).bfloat16()
    weight = torch.randn(20, 64).bfloat16()
    got = torch.ops.jina3.linear(x, weight, None)
    assert got.shape == (2, 3, 20)
    exact = bf16_linear_reference(x, weight, None)
    assert torch.allclose(got.float(), exact, rtol=2.0 ** -8, atol=1e-3)


@pytest.mark.parametrize("rows", [49, 200])
def test_linear_with_many_rows_is_libtorchs(rows):
    x = torch.randn(rows, 96).bfloat16()
    weight = torch.randn(40, 96).bfloat16()
    bias = torch.randn(40).bfloat16()
    assert torch.equal(torch.ops.jina3.linear(x, weight, bias), F.linear(x, weight, bias))


def test_linear_float32_and_strided_inputs_are_libtorchs():
    x = torch.randn(7, 33)
    weight = torch.randn(12, 33)
    bias = torch.randn(12)
    assert torch.equal(torch.ops.jina3.linear(x, weight, bias), F.linear(x, weight, bias))
    strided = torch.randn(33, 7).bfloat16().t()
    w16, b16 = weight.bfloat16(), bias.bfloat16()
    assert torch.equal(torch.ops.jina3.linear(strided, w16, b16), F.linear(strided, w16, b16))


# --- lora_linear: LoRALinear in one operator -----------------------------------------------------


def random_lora(in_features, out_features, dtype, num_tasks=5, rank=4, scale=0.25):
    lora = LoRALinear(in_features, out_features, num_tasks, rank, scale)
    with torch.no_grad():
        lora.base.weight.normal_(0, 0.05)
        lora.base.bias.normal_(0, 0.5)
        lora.lora_down.normal_(0, 0.05)
        lora.lora_up.normal_(0, 0.5)
    return lora.requires_grad_(False).to(dtype)


def task_mask_for(tasks, num_tasks=5, rank=4, dtype=torch.float32):
    column_task = torch.arange(num_tasks * rank) // rank
    return (column_task.unsqueeze(0) == torch.tensor(tasks).unsqueeze(1)).to(dtype).unsqueeze(1)


@pytest.mark.parametrize("batch,length", [(1, 1), (1, 30), (2, 24), (3, 40), (64, 16)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_lora_linear_matches_the_python_module(batch, length, dtype):
    lora = random_lora(96, 136, dtype)
    kernel = KernelLoRALinear(lora)
    x = torch.randn(batch, length, 96).to(dtype)
    tasks = [(-1 if b % 6 == 5 else b % 5) for b in range(batch)]
    mask = task_mask_for(tasks, dtype=dtype)
    with torch.inference_mode():
        expected = lora(x, mask)
        got = kernel(x, mask)
    assert got.shape == expected.shape and got.dtype == dtype
    if dtype == torch.float32:
        assert torch.allclose(got, expected, rtol=1e-5, atol=1e-5)
    else:
        # Both round bfloat16 sums; the orders of rounding differ by a unit in the last place.
        scale = expected.float().abs().max()
        assert (got.float() - expected.float()).abs().max() <= scale * 2.0 ** -6


def test_lora_linear_adapters_change_only_their_rows():
    lora = random_lora(64, 48, torch.bfloat16)
    kernel = KernelLoRALinear(lora)
    x = torch.randn(1, 8, 64).bfloat16().expand(3, 8, 64).contiguous()
    with torch.inference_mode():
        out = kernel(x, task_mask_for([-1, 0, 0], dtype=torch.bfloat16))
    # The two rows with adapter 0 agree to bfloat16 rounding (not bit for bit: the GEMM blocking
    # may depend on a row's position), and the row without an adapter differs by far more.
    scale = float(out.float().abs().max())
    assert float((out[1].float() - out[2].float()).abs().max()) <= scale * 2.0 ** -7
    assert float((out[0].float() - out[1].float()).abs().max()) > scale * 2.0 ** -4


def test_lora_linear_refuses_a_malformed_up_bias():
    x = torch.randn(1, 2, 8)
    with pytest.raises(RuntimeError, match="up_bias"):
        torch.ops.jina3.lora_linear(x, torch.randn(4, 8), torch.randn(20, 8), torch.randn(4, 20),
                                    task_mask_for([0]))


# --- add_layer_norm --------------------------------------------------------------------------------


@pytest.mark.parametrize("width", [1, 16, 17, 1024])
@pytest.mark.parametrize("with_residual", [True, False])
def test_add_layer_norm_matches_float_layer_norm(width, with_residual):
    norm = FloatLayerNorm(width, 1e-5)
    with torch.no_grad():
        norm.weight.normal_(1, 0.2)
        norm.bias.normal_(0, 0.2)
    norm = norm.requires_grad_(False).bfloat16()
    kernel = KernelLayerNorm.wrapping(norm)
    x = (torch.randn(3, 7, width) * 3 + 1).bfloat16()
    residual = torch.randn(3, 7, width).bfloat16() if with_residual else None
    with torch.inference_mode():
        expected = norm(x.clone(), residual)
        got = kernel(x.clone(), residual)
    assert got.dtype == torch.bfloat16 and got.shape == x.shape
    # The same float32 computation rounded once: at most a unit in the last place apart.
    assert torch.all((got.float() - expected.float()).abs() <= expected.float().abs() * 2.0 ** -7 + 1e-6)


def test_add_layer_norm_fallback_for_other_layouts_is_the_python_computation():
    # A strided input is not the kernel's layout: the operator computes FloatLayerNorm's way (as on
    # CUDA and on CPUs without AVX-512), which must give FloatLayerNorm's result exactly.
    norm = FloatLayerNorm(24, 1e-5).requires_grad_(False).bfloat16()
    x = torch.randn(24, 10).bfloat16().t()
    residual = torch.randn(10, 24).bfloat16()
    with torch.inference_mode():
        got = torch.ops.jina3.add_layer_norm(x, residual, norm.weight, norm.bias, 1e-5)
        assert torch.equal(got, norm(x, residual))
        assert torch.equal(torch.ops.jina3.add_layer_norm(x, None, norm.weight, norm.bias, 1e-5), norm(x))


def test_add_layer_norm_float32_is_the_python_computation():
    norm = FloatLayerNorm(24, 1e-5).requires_grad_(False)
    kernel = KernelLayerNorm.wrapping(norm)
    x, residual = torch.randn(2, 5, 24), torch.randn(2, 5, 24)
    with torch.inference_mode():
        assert torch.equal(kernel(x.clone(), residual), norm(x.clone(), residual))


# --- gelu_ ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("count", [1, 15, 16, 17, 100000])
def test_gelu_bfloat16_matches_torch_within_a_unit(count):
    x = (torch.randn(count) * 4).bfloat16()
    x[0] = 0.0
    expected = F.gelu(x.float())
    got = torch.ops.jina3.gelu_(x.clone())
    assert got.dtype == torch.bfloat16
    assert torch.all((got.float() - expected).abs() <= expected.abs() * 2.0 ** -8 + 1e-6)
    # Large |x|: the identity and zero.
    edge = torch.tensor([-30.0, -8.0, 8.0, 30.0]).bfloat16()
    assert torch.equal(torch.ops.jina3.gelu_(edge.clone()), F.gelu(edge))


def test_gelu_works_in_place_and_falls_back_for_float32_and_strided():
    x = torch.randn(40).bfloat16()
    out = torch.ops.jina3.gelu_(x)
    assert out.data_ptr() == x.data_ptr()
    y = torch.randn(33)
    assert torch.equal(torch.ops.jina3.gelu_(y.clone()), F.gelu(y))
    strided = torch.randn(8, 6).bfloat16().t()
    assert torch.equal(torch.ops.jina3.gelu_(strided.clone()), F.gelu(strided))


# --- packages with and without the operators -------------------------------------------------------


TEXTS = ["What is the capital of France?", "Paris is the capital and largest city of France.",
         "Ein kurzer deutscher Satz.", "短い日本語の文。", "x " * 300]


def test_test_packages_call_the_operators_and_the_torch_package_does_not():
    for name, expected in (("float32", True), ("bfloat16", True), ("int8", True), ("bfloat16-torch", False)):
        manifest = json.loads((package_dir(name) / "manifest.json").read_text(encoding="utf-8"))
        assert manifest["jina3_kernels"] is expected
        module = torch.jit.load(str(package_dir(name) / "backbone.pt"))
        # every method of every submodule (the attention calls the softmax from a helper method)
        code = "".join(m._c._get_method(method).code for m in module.modules() for method in m._c._method_names())
        assert ("ops.jina3.lora_linear(" in code) is (expected and name != "int8")
        assert ("ops.jina3.lora_linear_int8(" in code) is (name == "int8")
        assert ("ops.jina3.softmax_with_bias_" in code) is expected
        assert ("ops.jina3.add_layer_norm" in code) is expected
        # fc1 applies the GELU itself in bfloat16 and int8 (lora_linear_gelu, lora_linear_int8_gelu);
        # float32 keeps the exact GELU, through the operator
        assert ("ops.jina3.gelu_" in code) is (name == "float32")
        if expected:
            flags = [m.gelu for path, m in module.named_modules() if path.endswith(".fc1")]
            assert flags and all(flag is (name != "float32") for flag in flags)


@pytest.mark.parametrize("task", [None] + TASK_NAMES)
def test_bfloat16_package_with_operators_agrees_with_the_torch_one(task):
    with_ops = jina3.Encoder(str(package_dir("bfloat16")))
    without = jina3.Encoder(str(package_dir("bfloat16-torch")))
    a = np.asarray(with_ops.encode(TEXTS, task=task))
    b = np.asarray(without.encode(TEXTS, task=task))
    cosine = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    assert cosine.min() >= 0.9999, cosine
    assert not math.isnan(float(cosine.sum()))
