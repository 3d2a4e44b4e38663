"""jina3's TorchScript operators (src/torch_ops.cpp) against LibTorch's own computation, for the
shapes the model sends and for the edges (tails of 16/32 lanes, one row, masked keys), and the
packages that call them against the packages that do not."""

import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import jina3
from jina3.model import kernels_available

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


# --- packages with and without the operators -------------------------------------------------------


TEXTS = ["What is the capital of France?", "Paris is the capital and largest city of France.",
         "Ein kurzer deutscher Satz.", "短い日本語の文。", "x " * 300]


def test_test_packages_call_the_operators_and_the_torch_package_does_not():
    for name, expected in (("float32", True), ("bfloat16", True), ("int8", True), ("bfloat16-torch", False)):
        manifest = json.loads((package_dir(name) / "manifest.json").read_text(encoding="utf-8"))
        assert manifest["jina3_kernels"] is expected
        code = torch.jit.load(str(package_dir(name) / "backbone.pt")).code_with_constants[0]
        code += "".join(m.code for m in torch.jit.load(str(package_dir(name) / "backbone.pt")).modules()
                        if hasattr(m, "code"))
        assert ("ops.jina3.linear" in code) is (expected and name != "int8")
        assert ("ops.jina3.softmax_with_bias_" in code) is expected


@pytest.mark.parametrize("task", [None] + TASK_NAMES)
def test_bfloat16_package_with_operators_agrees_with_the_torch_one(task):
    with_ops = jina3.Encoder(str(package_dir("bfloat16")))
    without = jina3.Encoder(str(package_dir("bfloat16-torch")))
    a = np.asarray(with_ops.encode(TEXTS, task=task))
    b = np.asarray(without.encode(TEXTS, task=task))
    cosine = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    assert cosine.min() >= 0.9999, cosine
    assert not math.isnan(float(cosine.sum()))
