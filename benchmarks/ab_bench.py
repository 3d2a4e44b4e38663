"""Two builds of jina3_bench on one package, in one run: A and B alternate round by round (the
order flips every round, so a machine that drifts favours neither), and the medians and their
ratios are printed and written as JSON. With --batch1, B also runs with --batch-size 1 (every text
in a pass of its own: the batch-invariant way to run) for the cost of batch invariance.

  /usr/bin/python3 benchmarks/ab_bench.py --old OLD/benchmarks/jina3_bench --new build/benchmarks/jina3_bench \\
      --package PACKAGE --rounds 4 --out results.json
"""
import argparse
import json
import statistics
import subprocess
import time


def bench(binary, args, extra):
    cmd = [binary, "--package", args.package, "--workloads", "passages64,query", "--repeats", str(args.repeats),
           "--warmup", "1", "--query-calls", str(args.query_calls), "--query-warmup", "5", "--no-verify"] + extra
    workloads = json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout)["workloads"]
    return {"passages64_tokens_per_s": workloads["passages64"]["tokens_per_s"],
            "query_p50_ms": workloads["query"]["latency_ms"]["p50"],
            "query_p99_ms": workloads["query"]["latency_ms"]["p99"]}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old", required=True, help="jina3_bench of the baseline build (A)")
    parser.add_argument("--new", required=True, help="jina3_bench of the build measured against it (B)")
    parser.add_argument("--package", required=True)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of passages64 per measurement")
    parser.add_argument("--query-calls", type=int, default=60)
    parser.add_argument("--batch1", action="store_true", help="also B with --batch-size 1")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    runs = {"before": (args.old, []), "after": (args.new, [])}
    if args.batch1:
        runs["after_batch1"] = (args.new, ["--batch-size", "1"])
    rows = {name: [] for name in runs}
    for round_index in range(args.rounds):
        names = list(runs) if round_index % 2 == 0 else list(reversed(runs))
        for name in names:
            binary, extra = runs[name]
            rows[name].append(bench(binary, args, extra))
            print(name, rows[name][-1], flush=True)
    summary = {name: {m: statistics.median(r[m] for r in values) for m in values[0]} for name, values in rows.items()}
    summary["ratio_after_over_before"] = {m: summary["after"][m] / summary["before"][m] for m in summary["after"]}
    if args.batch1:
        summary["ratio_batch1_over_default"] = {m: summary["after_batch1"][m] / summary["after"][m]
                                                for m in summary["after"]}
    with open(args.out, "w") as out:
        json.dump({"rounds": rows, "summary": summary, "package": args.package,
                   "when": time.strftime("%Y-%m-%d %H:%M")}, out, indent=1)
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
