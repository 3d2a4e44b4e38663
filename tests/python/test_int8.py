"""The int8 path (issue #19): jina3's int8 operators against a NumPy reference on odd shapes, and int8
packages against float32 per task and dims, in mixed-task batches, and through the Python API.

Bounds, stated once:
- quantize_rows_int8 is exact: the same int8 values and float32 scales as the NumPy formula.
- lora_linear_int8 in float32: the int32 products are exact, so the result matches the float64
  reference (the same quantised values) to float32 rounding: relative 2e-6 of max(1, |value|).
  In bfloat16: one bfloat16 rounding, 2^-8 relative.
- int8 packages (the tiny random test model): cosine >= 0.99 to the float32 package for every
  task and every Matryoshka dims. On the full-size random model the benchmark measures it
  (benchmarks/README.md: min cosine over the benchmark texts, every task).
"""

import numpy as np
import pytest
import torch

import jina3
from jina3.export.backbone import kernels_available

from encoder_support import TASK_NAMES, package_dir

OPS = None


@pytest.fixture(scope="module", autouse=True)
def operators():
    global OPS
    assert kernels_available(), "jina3's operators are not registered (import jina3._jina3 failed)"
    OPS = torch.ops.jina3


def quantize_reference(x: np.ndarray):
    """Per-row symmetric int8, as documented in cpu_kernels.hpp: float32 arithmetic throughout."""
    x = x.astype(np.float32)
    max_abs = np.abs(x).max(axis=1)
    with np.errstate(divide="ignore"):
        inverse = np.where(max_abs > 0, np.float32(127.0) / max_abs, np.float32(0.0)).astype(np.float32)
    q = np.clip(np.rint(x * inverse[:, None]), -127, 127).astype(np.int8)
    scale = np.where(max_abs > 0, max_abs / np.float32(127.0), np.float32(0.0)).astype(np.float32)
    return q, scale


def quantize_weight(w: torch.Tensor):
    scale = w.abs().amax(1) / 127
    return torch.round(w / scale[:, None]).clamp(-127, 127).to(torch.int8), scale.float()


def linear_reference(x, qweight, wscale, down, up_t, mask):
    """float64 reference of lora_linear_int8 on the same quantised activations."""
    k = x.shape[-1]
    rows = x.float().reshape(-1, k).numpy()
    q, scale = quantize_reference(rows)
    acc = q.astype(np.int64) @ qweight.numpy().astype(np.int64).T
    y = acc.astype(np.float64) * scale.astype(np.float64)[:, None] * wscale.numpy().astype(np.float64)[None]
    adapters = down.shape[0]
    groups = mask.numel() // adapters
    row_mask = np.repeat(mask.float().reshape(groups, adapters).numpy().astype(np.float64), len(rows) // groups, 0)
    low = (rows.astype(np.float64) @ down.float().numpy().astype(np.float64).T) * row_mask
    up = up_t.float().numpy().astype(np.float64)
    y = y + low @ up[:adapters] + up[adapters]
    return y.reshape(*x.shape[:-1], -1)


@pytest.mark.parametrize("rows", [1, 7, 33])
@pytest.mark.parametrize("depth", [100, 1000, 1024])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_quantize_rows_is_exactly_the_formula(rows, depth, dtype):
    x = (torch.randn(rows, depth) * torch.logspace(-3, 3, rows)[:, None]).to(dtype)
    if rows > 1:
        x[0, :] = 0  # an all-zero row: scale 0, all zeros
    q, scale = OPS.quantize_rows_int8(x)
    q_ref, scale_ref = quantize_reference(x.float().numpy())
    assert q.dtype == torch.int8 and scale.dtype == torch.float32
    assert np.array_equal(q.numpy(), q_ref)
    assert np.array_equal(scale.numpy(), scale_ref)
    zero_rows = 1 if rows > 1 else 0
    assert all(scale[:zero_rows] == 0) and int(q[:zero_rows].abs().sum()) == 0
    assert (q[zero_rows:].abs().amax(1) == 127).all()  # every other row reaches the full range


@pytest.mark.parametrize("batch, length, depth, outputs", [
    (1, 1, 100, 37), (1, 7, 1000, 3), (3, 11, 200, 64), (1, 33, 1024, 33), (2, 5, 64, 1), (1, 130, 1024, 4096)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_lora_linear_int8_matches_the_reference_on_odd_shapes(batch, length, depth, outputs, dtype):
    torch.manual_seed(batch * 1000 + length + depth + outputs)
    adapters = 20
    x = torch.randn(batch, length, depth).to(dtype)
    qweight, wscale = quantize_weight(torch.randn(outputs, depth))
    down = (torch.randn(adapters, depth) * 0.1).to(dtype)
    up_t = (torch.randn(adapters + 1, outputs) * 0.1).to(dtype)
    tasks = torch.tensor([(-1, 0, 4)[i % 3] for i in range(batch)])
    mask = (torch.arange(adapters)[None] // 4 == tasks[:, None]).to(dtype).unsqueeze(1)
    got = OPS.lora_linear_int8(x, qweight, wscale, down, up_t, mask)
    assert got.shape == (batch, length, outputs) and got.dtype == dtype
    expected = linear_reference(x, qweight, wscale, down, up_t, mask)
    relative = np.abs(got.double().numpy() - expected) / np.maximum(1.0, np.abs(expected))
    bound = 2e-6 if dtype == torch.float32 else 2.0 ** -8
    assert relative.max() <= bound
    # The packed weights give bit-identical results.
    packed = OPS.pack_int8_weight(qweight)
    assert packed.dim() == 1
    assert torch.equal(OPS.lora_linear_int8(x, packed, wscale, down, up_t, mask), got)


def test_lora_linear_int8_rows_keep_their_own_adapter():
    torch.manual_seed(3)
    depth, outputs, adapters = 96, 40, 20
    x = torch.randn(1, 6, depth)
    qweight, wscale = quantize_weight(torch.randn(outputs, depth))
    down, up_t = torch.randn(adapters, depth) * 0.1, torch.randn(adapters + 1, outputs) * 0.1
    alone = []
    for task in range(-1, 5):
        mask = (torch.arange(adapters) // 4 == task).float().view(1, 1, -1)
        alone.append(OPS.lora_linear_int8(x, qweight, wscale, down, up_t, mask)[0])
    # Mixed: one batch row per task, each row the same text.
    mixed_x = x.expand(6, 6, depth).contiguous()
    mixed_mask = (torch.arange(adapters)[None] // 4 == torch.arange(-1, 5)[:, None]).float().unsqueeze(1)
    mixed = OPS.lora_linear_int8(mixed_x, qweight, wscale, down, up_t, mixed_mask)
    for i in range(6):
        assert torch.allclose(mixed[i], alone[i], rtol=0, atol=1e-5)
    # and the adapters do change the rows: no task equals "no adapter".
    for i in range(1, 6):
        assert (alone[i] - alone[0]).abs().max() > 1e-3


def test_lora_linear_int8_refuses_bad_arguments():
    x = torch.randn(2, 3, 16)
    qweight, wscale = quantize_weight(torch.randn(8, 16))
    down, up_t, mask = torch.randn(20, 16), torch.randn(21, 8), torch.zeros(2, 1, 20)
    with pytest.raises(RuntimeError, match="qweight"):
        OPS.lora_linear_int8(x, qweight.float(), wscale, down, up_t, mask)
    with pytest.raises(RuntimeError, match="up_t"):
        OPS.lora_linear_int8(x, qweight, wscale, down, up_t[:20], mask)
    with pytest.raises(RuntimeError, match="packed"):
        OPS.lora_linear_int8(x, qweight.flatten()[:50].contiguous(), wscale, down, up_t, mask)
    with pytest.raises(RuntimeError, match="task_mask"):
        OPS.lora_linear_int8(x, qweight, wscale, down, up_t, torch.zeros(4, 1, 20))


TEXTS = ["What is the capital of France?", "Paris is the capital and largest city of France.",
         "Ein kurzer deutscher Satz.", "短い日本語の文。", "x " * 200, "A somewhat longer passage about rivers, "
         "mountains and the weather in spring, written to have more than a handful of tokens."]


@pytest.fixture(scope="module")
def encoders():
    return jina3.Encoder(str(package_dir("float32"))), jina3.Encoder(str(package_dir("int8")))


@pytest.mark.parametrize("task", TASK_NAMES)
def test_int8_package_is_close_to_float32_for_every_task_and_dims(encoders, task):
    f32, int8 = encoders
    assert int8.dtype == "int8"
    for dims in f32.dims:
        a = np.asarray(f32.encode(TEXTS, task=task, dims=dims))
        b = np.asarray(int8.encode(TEXTS, task=task, dims=dims))
        assert a.shape == b.shape == (len(TEXTS), dims)
        cosine = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
        assert cosine.min() >= 0.99, f"{task} dims {dims}: min cosine {cosine.min():.5f}"


def test_int8_mixed_tasks_in_one_call_equal_each_task_alone(encoders):
    _, int8 = encoders
    tasks = [TASK_NAMES[i % len(TASK_NAMES)] for i in range(len(TEXTS))]
    mixed = np.asarray(int8.encode(TEXTS, task=tasks))
    for i, (text, task) in enumerate(zip(TEXTS, tasks)):
        alone = np.asarray(int8.encode([text], task=task))[0]
        # Activations are quantised per row, so a row's int8 products do not depend on its
        # neighbours; the bfloat16 parts may differ in the last bits with the batch.
        assert np.abs(mixed[i] - alone).max() <= 2e-2
        assert float(mixed[i] @ alone) >= 0.9999


def test_int8_package_without_native_bfloat16_computes_in_float32(encoders, tmp_path):
    # JINA3_MAX_CPU_ISA=avx512_core plays a CPU without AVX512-BF16 (and without VNNI): the int8
    # package's other layers then run in float32 and oneDNN's int8 products without VNNI.
    import os
    import subprocess
    import sys
    script = (
        "import sys, numpy as np, torch, jina3\n"
        "e = jina3.Encoder(sys.argv[1])\n"
        "np.save(sys.argv[2], np.asarray(e.encode(sys.argv[3:], task='text-matching')))\n"
        "print(torch.ops.jina3.cpu_kernels())\n")
    out = tmp_path / "capped.npy"
    env = dict(os.environ, JINA3_MAX_CPU_ISA="avx512_core")
    result = subprocess.run([sys.executable, "-c", script, str(package_dir("int8")), str(out), *TEXTS], env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "linear:torch" in result.stdout and "brg:avx512_core_vnni" not in result.stdout
    capped = np.load(out)
    f32, int8 = encoders
    a = np.asarray(f32.encode(TEXTS, task="text-matching"))
    native = np.asarray(int8.encode(TEXTS, task="text-matching"))
    assert ((capped * a).sum(1)).min() >= 0.99
    # a different compute path (float32 rather than bfloat16), not a copy of the native result
    assert np.abs(capped - native).max() > 0


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_the_gelu_variants_are_gelu_of_the_plain_operators(dtype):
    torch.manual_seed(11)
    depth, outputs, adapters = 200, 300, 20
    x = torch.randn(2, 70, depth).to(dtype)  # 140 rows: the many-rows path of lora_linear
    mask = (torch.arange(adapters)[None] // 4 == torch.tensor([[1], [3]])).to(dtype).unsqueeze(1)
    down = (torch.randn(adapters, depth) * 0.1).to(dtype)
    qweight, wscale = quantize_weight(torch.randn(outputs, depth) * 0.1)
    up_t = (torch.randn(adapters + 1, outputs) * 0.1).to(dtype)
    weight = (torch.randn(outputs, depth) * 0.1).to(dtype)
    tolerance = 1e-6 if dtype == torch.float32 else 2.0 ** -7
    for rows in (x, x[:1, :5]):  # many rows, and few (the bfloat16 kernel path)
        mask_rows = mask[: rows.size(0)]
        plain = OPS.lora_linear_int8(rows, qweight, wscale, down, up_t, mask_rows).float()
        fused = OPS.lora_linear_int8_gelu(rows, qweight, wscale, down, up_t, mask_rows).float()
        assert torch.allclose(fused, torch.nn.functional.gelu(plain), rtol=tolerance, atol=tolerance)
        plain = OPS.lora_linear(rows, weight, down, up_t.t().contiguous(), mask_rows).float()
        fused = OPS.lora_linear_gelu(rows, weight, down, up_t.t().contiguous(), mask_rows).float()
        assert torch.allclose(fused, torch.nn.functional.gelu(plain), rtol=tolerance, atol=tolerance)
        assert (fused < 0).any() and (fused > 1).any()  # GELU's shape is really applied: negatives kept small
        assert fused.min() >= -0.2
