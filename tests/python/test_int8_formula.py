"""int8 output equals sentence-transformers' quantize_embeddings, written out here in NumPy as that
function computes it for float32 embeddings and float32 ranges:

    starts = ranges[0]; steps = (ranges[1] - ranges[0]) / 255
    ((embeddings - starts) / steps - 128).astype(np.int8)

Every step stays float32 (255 and 128 are Python ints), and the cast truncates toward zero. Where
the cast is undefined (a value outside int8 after truncation, NaN) jina3 clips to -128 / 127.
Checked with jina3.quantize and Encoder.encode(precision="int8"), with given and computed ranges,
on seeded random rows, on every bucket boundary and beside it, and on negatives near zero.
"""

import numpy as np
import pytest

import jina3

pytest_plugins = ("encoder_support",)  # fixtures: encoder


def st_int8(embeddings, ranges=None):
    """sentence-transformers' int8 branch; out-of-range values clipped instead of cast."""
    embeddings = np.asarray(embeddings, dtype=np.float32)
    if ranges is None:
        ranges = np.vstack((np.min(embeddings, axis=0), np.max(embeddings, axis=0)))
    ranges = np.asarray(ranges, dtype=np.float32)
    starts = ranges[0, :]
    steps = (ranges[1, :] - ranges[0, :]) / 255
    shifted = (embeddings - starts) / steps - 128
    assert shifted.dtype == np.float32
    in_range = (shifted > -129) & (shifted < 128)
    out = np.where(in_range, shifted, 0).astype(np.int8)  # numpy's own cast where it is defined
    out[~in_range & (shifted >= 128)] = 127
    out[~in_range & ~(shifted >= 128)] = -128  # below the range, and NaN
    return out


def old_formula(embeddings, ranges):
    """What jina3 computed before: floor(v) - 128."""
    ranges = np.asarray(ranges, dtype=np.float32)
    steps = (ranges[1] - ranges[0]) / np.float32(255)
    return (np.clip(np.floor((embeddings - ranges[0]) / steps), 0, 255) - 128).astype(np.int8)


def check(got, want, what):
    assert got.dtype == np.int8 and got.shape == want.shape, what
    differ = np.flatnonzero(got != want)
    assert differ.size == 0, f"{what}: {differ.size} differ, first at {differ[:5]}: " \
                             f"{got.ravel()[differ[:5]]} vs {want.ravel()[differ[:5]]}"


@pytest.mark.parametrize("seed", [0, 1, 17])
@pytest.mark.parametrize("dims", [8, 64, 1024])
def test_quantize_equals_the_formula_with_given_and_computed_ranges(seed, dims):
    rng = np.random.default_rng(seed)
    x = rng.normal(0.0, 0.3, size=(40, dims)).astype(np.float32)
    calibration = rng.normal(0.0, 0.25, size=(200, dims)).astype(np.float32)
    given = np.vstack((calibration.min(axis=0), calibration.max(axis=0)))
    check(jina3.quantize(x, "int8"), st_int8(x), "computed ranges")
    check(jina3.quantize(x, "int8", given), st_int8(x, given), "given ranges")
    check(jina3.quantize(x, "int8", jina3.calibration_ranges(calibration)), st_int8(x, given), "calibration_ranges")
    # The rows reach outside the given ranges on both sides: clipping is exercised too.
    assert (x < given[0]).any() and (x > given[1]).any()
    # And the old floor formula really differs (about half the values).
    assert np.mean(old_formula(x, given) != st_int8(x, given)) > 0.3


def test_bucket_boundaries_and_negatives_near_zero():
    lo, hi = np.float32(-0.3712), np.float32(0.4121)
    step = (hi - lo) / 255
    k = np.arange(-2, 258, dtype=np.float32)
    boundaries = lo + k * step
    beside = np.concatenate([boundaries, np.nextafter(boundaries, np.float32(-1)),
                             np.nextafter(boundaries, np.float32(1))]).astype(np.float32)
    ranges = np.array([[lo], [hi]], dtype=np.float32)
    x = beside.reshape(-1, 1)
    check(jina3.quantize(x, "int8", ranges), st_int8(x, ranges), "boundaries")
    # step 1 exactly (min 0, max 255): -0.5 and -0.001 truncate to 0, -1.1 to -1, -128.5 to -128
    # (still in the cast's range), 127.5 to 127; 1 + 2^-20 - 128 rounds to -127 in float32 first.
    unit = np.array([[0.0], [255.0]], dtype=np.float32)
    values = np.array([127.5, 127.999, 126.9, -0.5, 255.5, 1 + 2 ** -20, 128.0, 0.0, 255.0, -1.0, 256.0],
                      dtype=np.float32).reshape(-1, 1)
    want = np.array([0, 0, -1, -128, 127, -127, 0, -128, 127, -128, 127], dtype=np.int8).reshape(-1, 1)
    check(st_int8(values, unit), want, "the test's own formula")
    check(jina3.quantize(values, "int8", unit), want, "by hand")


def test_encode_int8_equals_the_formula_on_its_own_rows():
    from encoder_support import package_dir

    # With a cache, the int8 call gets exactly the float rows of the call before it.
    encoder = jina3.Encoder(package_dir("float32"), cache_bytes=16 << 20)
    texts = [f"text number {i}: " + "lorem ipsum " * (i % 7) for i in range(30)]
    for dims in (None, 64):
        rows = encoder.encode(texts, "retrieval.query", dims=dims)
        ranges = jina3.calibration_ranges(encoder.encode(texts[::2], "retrieval.passage", dims=dims))
        check(encoder.encode(texts, "retrieval.query", dims=dims, precision="int8"), st_int8(rows),
              "encode, computed ranges")
        check(encoder.encode(texts, "retrieval.query", dims=dims, precision="int8", ranges=ranges),
              st_int8(rows, ranges), "encode, given ranges")
