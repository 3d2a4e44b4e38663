#!/usr/bin/python3
"""The jina3 command-line tool's throughput beside the C++ API's, in one run, on the same passages.

  C++ API: jina3_bench --texts-file passages.txt: every passage in one Encoder::encode call, timed
           around the call (package load excluded), as a program that has its texts in memory does.
  CLI:     jina3 embed PACKAGE passages.txt -o out.npy (and -o out.jsonl): the whole command, timed
           from outside. Its start-up (process start, package load with the SHA-256 check, exit) is
           measured by the same command on an empty input and taken off, so that both figures are
           embedding throughput; the end-to-end figure is reported too.

The two alternate (API, CLI, API, CLI, ...) so that a busy machine weighs on both alike; medians are
reported. The issue's target: the CLI's throughput within 5% of the C++ API's. The CLI's .npy
output is compared with the API's embeddings (max |diff|).

  /usr/bin/python3 benchmarks/cli_bench.py --build build              # tiny test package
  /usr/bin/python3 benchmarks/cli_bench.py --build build --package DIR --repeats 3   # e.g. full size
"""

import argparse
import json
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent


def log(message):
    print(f"cli_bench.py: {message}", file=sys.stderr, flush=True)


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--build", default=str(REPO / "build"), help="CMake build directory (default build)")
    p.add_argument("--package", default="", help="package to time (default: BUILD/testdata/package-float32, tiny)")
    p.add_argument("--texts", type=int, default=10_000, help="passages (default 10000)")
    p.add_argument("--words", default="60,90", help="words per passage, min,max (default 60,90: ~100-200 tokens)")
    p.add_argument("--task", default="retrieval.passage")
    p.add_argument("--repeats", type=int, default=3, help="API and CLI runs each, alternating (default 3)")
    p.add_argument("--api-warmup", type=int, default=0,
                   help="untimed API encode calls first (default 0: like the CLI, the timed call is the first)")
    p.add_argument("--threads", type=int, default=0, help="intra-op threads for both (default 0: all CPUs)")
    p.add_argument("--formats", default="npy,jsonl", help="CLI outputs to time (default npy,jsonl)")
    p.add_argument("--work", default="", help="scratch directory (default BUILD/cli-bench)")
    p.add_argument("--out", default="", help="write the results as JSON here too")
    return p.parse_args()


def make_passages(count, words_range, seed=0):
    """Deterministic passages of words from the multilingual test lines (many scripts)."""
    words = (REPO / "tests" / "data" / "multilingual.txt").read_text(encoding="utf-8").split()
    lo, hi = words_range
    rng = random.Random(seed)
    return [" ".join(rng.choice(words) for _ in range(rng.randint(lo, hi))) for _ in range(count)]


def timed(command):
    start = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"cli_bench.py: {command[0]} failed ({result.returncode}):\n{result.stderr}")
    return elapsed, result.stdout


def main():
    args = parse_args()
    build = Path(args.build).resolve()
    bench = build / "benchmarks" / "jina3_bench"
    cli = build / "cli" / "jina3"
    package = Path(args.package).resolve() if args.package else build / "testdata" / "package-float32"
    for path in (bench, cli, package / "manifest.json"):
        if not path.exists():
            raise SystemExit(f"cli_bench.py: {path} not found (build first; the tiny package comes from "
                             f"ctest -R make_test_data)")
    work = Path(args.work).resolve() if args.work else build / "cli-bench"
    work.mkdir(parents=True, exist_ok=True)
    formats = [f for f in args.formats.split(",") if f]

    passages = make_passages(args.texts, tuple(int(x) for x in args.words.split(",")))
    texts_file = work / "passages.txt"
    texts_file.write_text("".join(p + "\n" for p in passages), encoding="utf-8")
    (work / "empty.txt").write_bytes(b"")
    threads = ["--threads", str(args.threads)]
    log(f"{len(passages)} passages in {texts_file}; package {package}")

    api_runs, cli_runs, startup_runs = [], {f: [] for f in formats}, []
    report = None
    for r in range(args.repeats):
        _, out = timed([str(bench), "--package", str(package), "--texts-file", str(texts_file), "--texts-task",
                        args.task, "--repeats", "1", "--warmup", str(args.api_warmup), *threads,
                        "--emit-embeddings", str(work)])
        report = json.loads(out)
        api_runs.append(report["workloads"]["file"]["median_s"])
        startup, _ = timed([str(cli), "embed", str(package), str(work / "empty.txt"), "-o", str(work / "empty.npy"),
                            "--task", args.task, "--quiet", *threads])
        startup_runs.append(startup)
        for f in formats:
            wall, _ = timed([str(cli), "embed", str(package), str(texts_file), "-o", str(work / f"out.{f}"),
                             "--task", args.task, "--quiet", *threads])
            cli_runs[f].append(wall)
        log(f"run {r + 1}/{args.repeats}: API {api_runs[-1]:.2f} s, CLI start-up {startup:.2f} s, "
            + ", ".join(f"CLI {f} {cli_runs[f][-1]:.2f} s" for f in formats))

    file_workload = report["workloads"]["file"]
    n = file_workload["texts"]
    tokens = file_workload["real_tokens"]
    api_s = statistics.median(api_runs)
    startup_s = statistics.median(startup_runs)
    api_embeddings = np.fromfile(work / "file.f32", dtype="<f4").reshape(n, report["hidden_size"])
    results = {
        "tool": "cli_bench.py",
        "package": str(package),
        "hidden_size": report["hidden_size"],
        "dtype": report["dtype"],
        "texts": n,
        "real_tokens": tokens,
        "threads": args.threads,
        "repeats": args.repeats,
        "api_warmup": args.api_warmup,
        "api": {"runs_s": api_runs, "median_s": api_s, "texts_per_s": n / api_s, "tokens_per_s": tokens / api_s},
        "cli_startup": {"runs_s": startup_runs, "median_s": startup_s},
        "cli": {},
    }
    for f in formats:
        wall = statistics.median(cli_runs[f])
        embed_s = statistics.median(w - s for w, s in zip(cli_runs[f], startup_runs))
        entry = {"runs_s": cli_runs[f], "median_wall_s": wall, "median_embed_s": embed_s,
                 "texts_per_s": n / embed_s, "tokens_per_s": tokens / embed_s,
                 "end_to_end_texts_per_s": n / wall, "vs_api": (n / embed_s) / (n / api_s)}
        if f == "npy":
            entry["max_abs_diff_vs_api"] = float(np.abs(np.load(work / "out.npy").astype(np.float64)
                                                        - api_embeddings).max())
        results["cli"][f] = entry

    print(f"{n} passages, {tokens} tokens, {report['dtype']} dims {report['hidden_size']}, "
          f"threads {args.threads or 'all'}, median of {args.repeats}")
    print("| what | s | texts/s | tokens/s | vs C++ API |")
    print("|---|---:|---:|---:|---:|")
    print(f"| C++ API, one encode() call | {api_s:.2f} | {n / api_s:.0f} | {tokens / api_s:.0f} | 1.000 |")
    for f, e in results["cli"].items():
        print(f"| jina3 embed -> .{f}, less start-up | {e['median_embed_s']:.2f} | {e['texts_per_s']:.0f} | "
              f"{e['tokens_per_s']:.0f} | {e['vs_api']:.3f} |")
        print(f"| jina3 embed -> .{f}, end to end | {e['median_wall_s']:.2f} | {e['end_to_end_texts_per_s']:.0f} | "
              f"{tokens / e['median_wall_s']:.0f} | {(n / e['median_wall_s']) / (n / api_s):.3f} |")
    diff = results["cli"].get("npy", {}).get("max_abs_diff_vs_api")
    print(f"CLI start-up (process, package load, exit) {startup_s:.2f} s"
          + ("" if diff is None else f"; max |diff| CLI .npy vs API {diff:.2e}"))
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
