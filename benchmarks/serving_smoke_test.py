"""Smoke test of the serving benchmark on the tiny test package (ctest benchmarks.serving_smoke).

Runs benchmarks/serving.py for a few seconds (jina3_load_bench, then load_bench.py's Python threads
and asyncio callers; 1 and 4 callers) and checks its JSON and tables: every measurement present,
figures consistent with each other and with the encoder's stats() deltas, the targets table
complete. It asserts nothing about speed: serving is measured by serving.py, never by timed tests.
"""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

from smoke_support import check, run_test

HERE = Path(__file__).resolve().parent
LOAD_BENCH = os.environ["JINA3_LOAD_BENCH"]
BUILD = Path(os.environ["JINA3_BUILD_DIR"])
PACKAGE = Path(os.environ["JINA3_TEST_DATA"]) / "package-bfloat16"
WORK = Path(os.environ["JINA3_BENCH_WORK"]) / "serving"
CALLERS = [1, 4]
MIXED_CALLERS = 3
BATCH_REPEATS = 2
SECONDS = 0.5


def check_latency(lat, completed, where):
    check(lat["count"] == completed, f"{where}: latency count {lat['count']} != completed {completed}")
    if completed:
        check(0 < lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["max"], f"{where}: percentiles not ordered {lat}")
        check(0 < lat["mean"] <= lat["max"], f"{where}: mean {lat}")
    else:
        check(lat["p99"] is None, f"{where}: p99 of no samples must be null")


def check_loop(r, callers, where):
    check(r["callers"] == callers, f"{where}: callers")
    check(r["errors"] == [], f"{where}: errors {r['errors']}")
    check(r["window_s"] >= SECONDS * 0.99, f"{where}: window {r['window_s']} s shorter than asked")
    check(r["completed"] > 0 and r["completed_total"] >= r["completed"], f"{where}: nothing completed")
    check(math.isclose(r["requests_per_s_window"], r["completed"] / r["window_s"], rel_tol=1e-9), f"{where}: req/s")
    check(r["requests_per_s"] > 0 and r["rate_method"] in ("per-caller cycles", "window count"), f"{where}: rate")
    if r["completed"] >= 50 * callers:
        # Many cycles per caller (the tiny model's usual case, unless the machine is swamped): the
        # per-caller rate applies, and both estimate the same rate.
        check(r["rate_method"] == "per-caller cycles", f"{where}: {r['rate_method']} with {r['completed']} requests")
        check(0.7 < r["requests_per_s"] / r["requests_per_s_window"] < 1.4, f"{where}: req/s estimates disagree")
    check(r["steady_at_window_start"] is True, f"{where}: the window opened before every caller had a reply")
    check(r["warmup_s"] >= 0.2 * 0.99 and r["drain_s"] >= 0, f"{where}: warm-up {r['warmup_s']} / drain")
    check_latency(r["latency_ms"], r["completed"], where)
    st = r["stats"]
    # A caller has at most one request in flight, so requests accepted and completed inside the
    # window differ by at most a couple per caller (the stats snapshots sit a moment after its edges).
    check(abs(st["requests"] - r["completed"]) <= 2 * callers + 1,
          f"{where}: stats counted {st['requests']} requests, the callers completed {r['completed']}")
    check(st["rows"] == st["requests"], f"{where}: one text per request, stats rows {st['rows']}")
    check(st["passes"] >= 1 and st["tokens"] <= st["padded_tokens"], f"{where}: stats passes/tokens {st}")
    check(st["failed"] == 0 and st["rejected"] == 0, f"{where}: failed or rejected requests {st}")


def check_batched(items, sizes, where):
    check(sorted(b["callers"] for b in items) == sizes, f"{where}: batched sizes {[b['callers'] for b in items]}")
    for b in items:
        n = b["callers"]
        check(len(b["runs_s"]) == BATCH_REPEATS and all(t > 0 for t in b["runs_s"]), f"{where} {n}: runs")
        check(math.isclose(b["requests_per_s"], n / b["median_s"], rel_tol=1e-9), f"{where} {n}: req/s = N / time")
        # Each timed call is one request of n rows.
        check(b["stats"]["requests"] == BATCH_REPEATS and b["stats"]["rows"] == n * BATCH_REPEATS,
              f"{where} {n}: stats {b['stats']}")


def check_cpp(cpp):
    check(cpp["tool"] == "jina3_load_bench" and cpp["dtype"] == "bfloat16", "tool and dtype")
    q = cpp["queries"]
    check(q["task"] == "retrieval.query" and q["pool"] == 1024, f"queries {q}")
    check(6 <= q["words"]["min"] <= q["words"]["max"] <= 14, f"query words {q['words']}")
    check(q["tokens"]["min"] > q["words"]["min"], f"query tokens {q['tokens']} leave out the prompt")
    check_batched(cpp["batched"], sorted(set(CALLERS + [MIXED_CALLERS])), "C++")
    for path in ("scheduler", "bypass"):
        items = cpp["closed_loop"][path]
        check([r["callers"] for r in items] == CALLERS, f"{path}: caller counts")
        for r in items:
            check_loop(r, r["callers"], f"C++ {path} {r['callers']}")
    check(cpp["encoders"]["bypass"]["options"]["use_scheduler"] is False, "bypass encoder options")
    check(cpp["encoders"]["scheduler"]["options"]["use_scheduler"] is True, "scheduler encoder options")

    d = cpp["defaults"]
    check(d["default"]["num_threads"] == 0 and d["all_cpus"]["num_threads"] == cpp["cpus"] >= 1, f"defaults {d}")
    check(cpp["encoders"]["all_cpus"]["options"]["num_threads"] == cpp["cpus"], "all-CPUs encoder options")
    for key in ("default", "all_cpus"):
        batch = d[key]["batch"]
        check(batch["texts"] == 64 and 64 * 126 <= batch["real_tokens"] <= 64 * 130, f"{key}: 64x128 batch {batch}")
        check(math.isclose(batch["tokens_per_s"], batch["real_tokens"] / batch["median_s"], rel_tol=1e-9), key)
        check(d[key]["latency_ms"]["count"] > 0, f"{key}: 1-caller latency")

    m = cpp["mixed"]
    p = m["passages"]
    check(m["callers"] == MIXED_CALLERS and p["count"] >= 32, f"mixed: {m['callers']} callers, {p['count']} passages")
    check(98 <= p["tokens"]["min"] <= p["tokens"]["max"] <= 202, f"mixed: passage lengths {p['tokens']}")
    check(p["tokens"]["count"] == p["count"], "mixed: one length per passage")
    for key, r in (("solo", m["solo"]), ("mixed", m["mixed"]["passages"])):
        check(math.isclose(r["tokens_per_s"], p["real_tokens"] / r["seconds"], rel_tol=1e-9), f"mixed {key}: tokens/s")
        check(math.isclose(r["texts_per_s"], p["count"] / r["seconds"], rel_tol=1e-9), f"mixed {key}: texts/s")
    solo = m["solo"]["stats"]
    check(solo["requests"] == 1 and solo["rows"] == p["count"], f"mixed solo: stats {solo}")
    queries = m["mixed"]["queries"]
    check(queries["errors"] == [] and queries["callers"] == MIXED_CALLERS, f"mixed queries {queries['errors']}")
    check(math.isclose(queries["window_s"], m["mixed"]["passages"]["seconds"], rel_tol=0.05, abs_tol=0.01),
          "mixed: the query window is the passage call")
    check_latency(queries["latency_ms"], queries["completed"], "mixed queries")
    mixed_stats = m["mixed"]["stats"]
    check(mixed_stats["rows"] >= p["count"], f"mixed: stats rows {mixed_stats['rows']} < {p['count']} passages")

    names = [t["name"] for t in cpp["targets"]]
    check(len(names) == 7 and len(set(names)) == 7, f"targets {names}")
    for t in cpp["targets"]:
        check(t["op"] in (">=", "<=") and t["target"] > 0, f"target {t}")
        if t["numerator"] is not None and t["denominator"]:
            check(math.isclose(t["measured"], t["numerator"] / t["denominator"], rel_tol=1e-9), f"target {t}")
            reached = t["measured"] >= t["target"] if t["op"] == ">=" else t["measured"] <= t["target"]
            check(t["reached"] is reached, f"target reached flag {t}")
        else:
            check(t["measured"] is None and t["reached"] is None, f"target without figures {t}")
    # Every target has its figures in this run except, maybe, the mixed query p99 (the tiny model's
    # passage call can be over before a query completes).
    present = [t for t in cpp["targets"] if t["measured"] is not None]
    check(len(present) >= 6, f"targets without figures: {[t['name'] for t in cpp['targets'] if t['measured'] is None]}")


def check_python(py):
    check(py["tool"] == "load_bench.py" and py["queries"]["pool"] == 1024, "Python tool and queries")
    check_batched(py["batched"], CALLERS, "Python")
    for mode in ("python-threads", "python-asyncio"):
        items = py["closed_loop"][mode]
        check([r["callers"] for r in items] == CALLERS, f"{mode}: caller counts")
        for r in items:
            check_loop(r, r["callers"], f"{mode} {r['callers']}")


def run_load_bench(*args):
    return subprocess.run([LOAD_BENCH, *map(str, args)], capture_output=True, text=True, timeout=300)


def main():
    WORK.mkdir(parents=True, exist_ok=True)
    out = WORK / "serving.json"
    out.unlink(missing_ok=True)
    cmd = [sys.executable, str(HERE / "serving.py"), "--build", str(BUILD), "--package", str(PACKAGE),
           "--callers", ",".join(map(str, CALLERS)), "--seconds", str(SECONDS), "--warmup-seconds", "0.2",
           "--batch-repeats", str(BATCH_REPEATS), "--throughput-repeats", "1", "--target-callers", "4",
           "--mixed-callers", str(MIXED_CALLERS), "--mixed-seconds", "0.5", "--no-verify", "--out", str(out)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    check(done.returncode == 0, f"serving.py failed ({done.returncode}):\n{done.stderr[-4000:]}")
    doc = json.loads(out.read_text())
    check_cpp(doc["cpp"])
    check_python(doc["python"])
    markdown = out.with_suffix(".md").read_text()
    check(markdown == doc["markdown"], "the .md file is the JSON's markdown")
    for heading in ("## Closed loop", "## Mixed load", "## Default options against num_threads = all CPUs",
                    "## Targets"):
        check(heading in markdown, f"markdown lacks {heading!r}")
    for label in ("C++ threads, scheduler |", "C++ threads, scheduler bypassed |", "Python threads |",
                  "Python asyncio |", "one batched call of 4 (C++) |", "one batched call of 4 (Python) |"):
        check(f"| 4 | {label}" in markdown, f"markdown lacks the row {label!r} for 4 callers")
    for t in doc["cpp"]["targets"]:
        check(f"| {t['name']} |" in markdown, f"markdown lacks the target {t['name']!r}")

    # The same query texts on every run (this one's match the summary of the run above), and usage
    # errors reported, not crashed on.
    path = WORK / "queries.json"
    r = run_load_bench("--package", PACKAGE, "--emit-inputs", path, "--inputs-only", "--no-verify")
    check(r.returncode == 0 and r.stdout == "", f"--inputs-only: {r.returncode} {r.stderr}")
    emitted = json.loads(path.read_text())
    summary = doc["cpp"]["queries"]
    check(len(emitted["queries"]) == len(set(emitted["queries"])) == summary["pool"], "distinct query texts")
    check(len(emitted["words"]) == len(emitted["tokens"]) == summary["pool"], "one word and token count per query")
    for key in ("words", "tokens"):
        values = emitted[key]
        check([min(values), max(values)] == [summary[key]["min"], summary[key]["max"]] and
              math.isclose(sum(values) / len(values), summary[key]["mean"]), f"query {key} differ between runs")
    check(all(len(q.split()) == w for q, w in zip(emitted["queries"], emitted["words"])), "word counts")
    for bad in (["--callers", "0"], ["--parts", "nonsense"], ["--inputs-only"], ["--seconds", "x"]):
        r = run_load_bench("--package", PACKAGE, *bad)
        check(r.returncode == 64 and r.stderr, f"{bad}: exit {r.returncode}, stderr {r.stderr!r}")
    missing = run_load_bench("--package", WORK / "no-such-package", "--parts", "closed", "--callers", "1")
    check(missing.returncode == 2 and "model_not_found" in missing.stderr, f"missing package: {missing.stderr}")


if __name__ == "__main__":
    run_test("benchmarks.serving_smoke", main)
