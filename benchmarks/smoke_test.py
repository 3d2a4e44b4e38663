"""Smoke test of jina3_bench on the tiny test package (run by ctest as benchmarks.smoke).

Checks that the program runs every workload, that its JSON parses and its numbers are consistent
with each other and with the inputs it emits. It asserts nothing about speed: benchmarks are
measured by benchmarks/run.py, never by timed unit tests.
"""

import json
import math
import os
import struct
import subprocess
from pathlib import Path

from smoke_support import check, run_test

BENCH = os.environ["JINA3_BENCH"]
PACKAGE = Path(os.environ["JINA3_TEST_DATA"]) / "package-float32"
WORK = Path(os.environ["JINA3_BENCH_WORK"])


def run_bench(*args):
    return subprocess.run([BENCH, *map(str, args)], capture_output=True, text=True, timeout=600)


def check_report(report, inputs):
    check(report["tool"] == "jina3_bench", "tool name")
    check(report["dtype"] == "float32" and report["device"] == "cpu", "effective dtype/device reported")
    check(report["load_s"] > 0 and report["rss_after_load_mib"] > 0, "load time and RSS recorded")
    hidden = report["hidden_size"]
    # The query is 16 tokens of text on top of the task prompt and <s>/</s>.
    query_total = report["workloads"]["query"]["target_tokens"][0]
    check(query_total > 16 + 2, f"query target {query_total} leaves out the prompt")
    targets = {"passages64": (64, 128), "mixed256": (256, None), "query": (1, query_total), "longdoc": (1, 8192)}
    check(set(report["workloads"]) == set(targets), f"workloads run: {sorted(report['workloads'])}")
    for name, (texts, tokens) in targets.items():
        w = report["workloads"][name]
        ids = inputs["workloads"][name]["ids"]
        lengths = [len(row) for row in ids]
        check(w["texts"] == texts == len(ids), f"{name}: text count")
        check(w["real_tokens"] == sum(lengths), f"{name}: real_tokens {w['real_tokens']} != emitted {sum(lengths)}")
        check(w["min_tokens"] == min(lengths) and w["max_tokens"] == max(lengths), f"{name}: min/max tokens")
        if tokens is not None:
            # Calibration may miss by a piece where a word cannot be split finer; most rows are exact.
            check(all(abs(n - tokens) <= 2 for n in lengths), f"{name}: lengths {lengths[:8]}... not ~{tokens}")
            check(sum(n == tokens for n in lengths) >= 0.9 * len(lengths), f"{name}: too few exact lengths")
        else:
            check(8 <= min(lengths) and max(lengths) <= 512 and max(lengths) - min(lengths) > 300, f"{name}: mixed lengths")
            check(len(w["tasks"]) == 3, f"{name}: three adapters mixed in one call")
        for row in ids:
            check(row[0] == 0 and row[-1] == 2, f"{name}: rows start with <s> and end with </s>")
        pad = w["padded_tokens_estimate"]
        check(pad["one_pass"] >= pad["length_sorted_batches"] >= w["real_tokens"], f"{name}: padding estimates")
        runs = w["runs_s"]
        expected_runs = 10 if name == "query" else 1
        check(len(runs) == expected_runs and all(r > 0 and math.isfinite(r) for r in runs), f"{name}: runs {runs}")
        check(math.isclose(w["tokens_per_s"], w["real_tokens"] / w["median_s"], rel_tol=1e-6), f"{name}: tokens/s")
        lat = w["latency_ms"]
        check(lat["min"] <= lat["p50"] <= lat["p99"] <= lat["max"], f"{name}: percentiles ordered {lat}")
        check(math.isclose(lat["p50"], w["median_s"] * 1e3, rel_tol=1e-6), f"{name}: p50 == median")
        check(w["tokenize_s"] > 0, f"{name}: tokenize time")
        check(w["peak_rss_mib"] >= w["rss_before_mib"] * 0.99 > 0, f"{name}: peak RSS {w['peak_rss_mib']}")
        check(w["gpu_mem_used_peak_mib"] is None, f"{name}: no GPU figure on CPU")
        # Embeddings written are the right size and L2-normalised (the default).
        data = Path(w["embeddings_file"]).read_bytes()
        check(w["embeddings_shape"] == [texts, hidden], f"{name}: shape {w['embeddings_shape']}")
        check(len(data) == texts * hidden * 4, f"{name}: embeddings file size")
        first = struct.unpack(f"<{hidden}f", data[: hidden * 4])
        norm = math.sqrt(sum(v * v for v in first))
        check(abs(norm - 1.0) < 1e-4, f"{name}: first embedding has norm {norm}")


def main():
    WORK.mkdir(parents=True, exist_ok=True)
    inputs_path = WORK / "inputs.json"
    emb_dir = WORK / "embeddings"
    emb_dir.mkdir(exist_ok=True)
    result = run_bench("--package", PACKAGE, "--threads", 1, "--quick",
                       "--workloads", "passages64,mixed256,query,longdoc",
                       "--emit-inputs", inputs_path, "--emit-embeddings", emb_dir)
    check(result.returncode == 0, f"jina3_bench failed ({result.returncode}):\n{result.stderr}")
    report = json.loads(result.stdout)
    inputs = json.loads(inputs_path.read_text())
    check_report(report, inputs)

    # Same inputs on every run: the generator is deterministic.
    again = run_bench("--package", PACKAGE, "--workloads", "query,passages64",
                      "--emit-inputs", WORK / "inputs2.json", "--inputs-only")
    check(again.returncode == 0 and again.stdout == "", f"--inputs-only: {again.returncode} {again.stderr}")
    inputs2 = json.loads((WORK / "inputs2.json").read_text())["workloads"]
    for name in ("query", "passages64"):
        check(inputs2[name] == inputs["workloads"][name], f"{name}: inputs differ between runs")

    # Bad arguments and a missing package are reported, not crashed on.
    bad = run_bench("--package", PACKAGE, "--workloads", "nonsense")
    check(bad.returncode == 64 and "unknown workload" in bad.stderr, f"bad workload: {bad.returncode} {bad.stderr}")
    missing = run_bench("--package", WORK / "no-such-package")
    check(missing.returncode == 2 and "model_not_found" in missing.stderr, f"missing package: {missing.stderr}")


if __name__ == "__main__":
    run_test("benchmarks.smoke", main)
