"""Shared fixtures for the test_encoder*.py files: the generated test data and loaded encoders.

The test data comes from tests/fixtures/make_test_data.py (the ctest fixture make_test_data),
found through the environment variable JINA3_TEST_DATA. Missing data is a test failure with a
message saying how to make it, never a skip.
"""

import json
import os
import pathlib

import numpy as np
import pytest

import jina3

TASK_NAMES = ["retrieval.query", "retrieval.passage", "separation", "classification", "text-matching"]
TOLERANCE = 1e-5  # float32 max |diff| against the Python reference on the tiny model
# jina3 is not batch-invariant: a text's result may differ in the last bits with the other texts
# of its forward pass (the GEMM blocking depends on the row's position; 1.3e-6 seen on an AMD
# EPYC for two identical texts of one call). So results of different calls, passes or positions
# in one call agree to this, never bit for bit; only cache hits are exact copies. float32
# packages: max |diff| of rows, and of token states relative to max(1, max |value|).
BATCH_TOLERANCE = 1e-5


def data_dir() -> pathlib.Path:
    value = os.environ.get("JINA3_TEST_DATA")
    if not value:
        pytest.fail(
            "JINA3_TEST_DATA is not set. Run these tests through ctest (its make_test_data fixture "
            "writes the data), or run `/usr/bin/python3 tests/fixtures/make_test_data.py DIR` and "
            "set JINA3_TEST_DATA=DIR.",
            pytrace=False,
        )
    path = pathlib.Path(value)
    if not (path / "reference.json").is_file():
        pytest.fail(
            f"JINA3_TEST_DATA={path} has no reference.json: run "
            f"`/usr/bin/python3 tests/fixtures/make_test_data.py {path}` first.",
            pytrace=False,
        )
    return path


def package_dir(dtype: str) -> pathlib.Path:
    path = data_dir() / f"package-{dtype}"
    if not (path / "manifest.json").is_file():
        pytest.fail(f"{path} is not a package (no manifest.json); regenerate the test data", pytrace=False)
    return path


def load_reference() -> dict:
    with open(data_dir() / "reference.json", encoding="utf-8") as f:
        return json.load(f)


def case_dims(reference: dict, case: dict) -> int:
    """The output width of a reference case (dims 0 means the full hidden size)."""
    return case["dims"] or reference["hidden_size"]


def reference_embeddings(reference: dict, task, dims: int = 0, normalize: bool = True, max_length: int = 0):
    """The reference case with these settings as a float32 array; fails if the case is missing.
    dims 0 (or the hidden size) is the full-size case."""
    wanted = (task, dims or reference["hidden_size"], normalize, max_length)
    for case in reference["cases"]:
        if (case["task"], case_dims(reference, case), case["normalize"], case["max_length"]) == wanted:
            return np.asarray(case["embeddings"], dtype=np.float32)
    pytest.fail(f"reference.json has no case task={task!r} dims={dims} normalize={normalize} max_length={max_length}")


def max_abs_diff(a, b) -> float:
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    assert a.shape == b.shape, f"shapes differ: {a.shape} vs {b.shape}"
    return float(np.max(np.abs(a - b))) if a.size else 0.0


def max_state_diff(a, b) -> float:
    """max |diff| of token states (or other unnormalised rows) over max(1, max |value|)."""
    scale = max(1.0, float(np.max(np.abs(np.asarray(b, dtype=np.float64)))) if np.size(b) else 1.0)
    return max_abs_diff(a, b) / scale


@pytest.fixture(scope="session")
def reference() -> dict:
    return load_reference()


@pytest.fixture(scope="session")
def encoder() -> "jina3.Encoder":
    return jina3.Encoder(package_dir("float32"))


@pytest.fixture(scope="session")
def long_text(reference) -> str:
    """The longest reference text (over 300 tokens by the fixture's contract)."""
    return max(reference["texts"], key=len)


@pytest.fixture(scope="module")
def client():
    """A Dask cluster of two worker processes, one per test module (starting one takes seconds on a
    small machine). Not the default client, so local-scheduler tests run without it; tests that
    want the default-client path enter client.as_current(). distributed is imported here, only by
    the modules that use the fixture."""
    import distributed

    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                       silence_logs=40)
    dask_client = distributed.Client(cluster, set_as_default=False)
    try:
        dask_client.wait_for_workers(2, timeout=120)
        yield dask_client
    finally:
        dask_client.close()
        cluster.close()
