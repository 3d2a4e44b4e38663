"""Smoke test of benchmarks/run.py on the tiny test data (ctest benchmarks.driver_smoke).

Runs the whole driver once (--quick, two small workloads) on the test checkpoint and packages and
checks the table and JSON: every engine and precision present, ratios and bounds computed, and the
float32 engines agreeing row by row (so both engines really ran the same inputs).
"""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

from smoke_support import check, run_test

HERE = Path(__file__).resolve().parent
TEST_DATA = Path(os.environ["JINA3_TEST_DATA"])
BUILD = Path(os.environ["JINA3_BUILD_DIR"])
WORK = Path(os.environ["JINA3_BENCH_WORK"]) / "driver"


def main():
    out = WORK / "result.json"
    out.unlink(missing_ok=True)
    cmd = [sys.executable, str(HERE / "run.py"), "--build", str(BUILD), "--data", str(WORK),
           "--checkpoint", str(TEST_DATA / "checkpoint"), "--package-dir", str(TEST_DATA),
           "--workloads", "passages64,query", "--threads", "1", "--quick", "--out", str(out)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=1500)
    check(done.returncode == 0, f"run.py failed ({done.returncode}):\n{done.stderr[-4000:]}")
    doc = json.loads(out.read_text())
    markdown = out.with_suffix(".md").read_text()

    check(doc["gemm"]["float32"]["gflops"] > 0 and doc["gemm"]["bfloat16"]["gflops"] > 0, "GEMM bound measured")
    check(doc["bf16_bound_tokens_per_s"] > 0, "bf16 bound derived")
    h, f, layers = doc["model"]["hidden_size"], doc["model"]["intermediate_size"], doc["model"]["num_layers"]
    check(doc["flops_per_token_body"] == 2 * layers * (4 * h * h + 2 * h * f), "FLOPs per token")

    rows = {(r["workload"], r["engine"], r["precision"]): r for r in doc["table"]}
    expected = {(w, "reference", p) for w in ("passages64", "query") for p in ("float32", "bfloat16")}
    expected |= {(w, "jina3", p) for w in ("passages64", "query") for p in ("float32", "bfloat16", "int8")}
    check(set(rows) == expected, f"table rows: {sorted(set(rows) ^ expected)} differ")
    for key, r in rows.items():
        check(r["tokens_per_s"] > 0 and math.isfinite(r["tokens_per_s"]), f"{key}: tokens/s")
        check(0 < r["p50_ms"] <= r["p99_ms"], f"{key}: latency percentiles")
        check(r["peak_memory_mib"] > 0, f"{key}: peak memory")
        check(r["speedup_vs_ref_float32"] > 0, f"{key}: ratio vs reference float32")
        check(math.isclose(r["fraction_of_bf16_bound"], r["tokens_per_s"] / doc["bf16_bound_tokens_per_s"]),
              f"{key}: fraction of the bf16 bound")
        cos = r["cosine_vs_ref_float32"]
        check(cos is not None and -1.0 - 1e-6 <= cos["min"] <= cos["mean"] <= 1.0 + 1e-6, f"{key}: cosine {cos}")
        check(f"| {key[0]} | {key[1]} | {key[2]} |" in markdown, f"{key}: missing from the markdown table")
    for workload in ("passages64", "query"):
        # Same token ids, same float32 arithmetic up to kernel choice: the embeddings must agree.
        check(rows[(workload, "jina3", "float32")]["cosine_vs_ref_float32"]["min"] > 0.99999,
              f"{workload}: jina3 float32 does not match the float32 reference")
        check(rows[(workload, "reference", "float32")]["speedup_vs_ref_float32"] == 1.0, "reference vs itself")
        check(rows[(workload, "jina3", "int8")]["speedup_vs_ref_same_precision"] is None, "no int8 reference")


if __name__ == "__main__":
    run_test("benchmarks.driver_smoke", main)
