#!/usr/bin/python3
"""jina3 serving benchmark: how one Encoder serves many callers at once, in one run.

Steps:
  1. the benchmark package: the full-size random checkpoint exported in bfloat16, made and cached
     exactly as benchmarks/run.py does (or --package);
  2. jina3_load_bench (C++): closed-loop query callers (1, 8, 60, 256) through the scheduler and
     with it bypassed (use_scheduler=False), the same queries as one batched call, 60 query
     callers beside one large passage call, default options against num_threads = all CPUs,
     and the targets table;
  3. load_bench.py: the same queries from Python threads (encode) and asyncio (encode_async);
then prints markdown tables and writes the JSON and the tables to
benchmarks/results/serving-<host>-<date>.{json,md}.

Run with /usr/bin/python3 from the repository root, after building (see benchmarks/README.md):
  /usr/bin/python3 benchmarks/serving.py --build build
"""

import argparse
import datetime
import json
import math
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import run as bench_run  # noqa: E402  (the checkpoint, package and host helpers of run.py)



def log(message):
    print(f"serving.py: {message}", file=sys.stderr, flush=True)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cpu", help="cpu or cuda[:N] (default cpu)")
    p.add_argument("--build", default=str(bench_run.REPO / "build"), help="CMake build directory (default build)")
    p.add_argument("--data", default="", help="cache for checkpoint and packages (default BUILD/bench-data, "
                   "shared with run.py)")
    p.add_argument("--checkpoint", default="", help="use this checkpoint instead of making one")
    p.add_argument("--package", default="", help="use this package instead of exporting one")
    p.add_argument("--size", default="full", choices=["full", "tiny"], help="checkpoint size to make (default full)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--dtype", default="bfloat16", help="precision of the exported package (default bfloat16)")
    p.add_argument("--callers", default="1,8,60,256", help="closed-loop caller counts (default 1,8,60,256)")
    p.add_argument("--seconds", type=float, default=15.0, help="measurement window per closed loop (default 15)")
    p.add_argument("--min-cycles", type=float, default=4.0,
                   help="a window lasts at least this many times the batched call of its queries (default 4)")
    p.add_argument("--warmup-seconds", type=float, default=3.0, help="warm-up before each window (default 3)")
    p.add_argument("--batch-repeats", type=int, default=3, help="timed runs of each batched call (default 3)")
    p.add_argument("--throughput-repeats", type=int, default=2, help="timed runs of the 64x128 batch (default 2)")
    p.add_argument("--target-callers", type=int, default=60, help="callers the targets compare (default 60)")
    p.add_argument("--mixed-callers", type=int, default=60, help="query callers of the mixed load (default 60)")
    p.add_argument("--mixed-passages", type=int, default=0,
                   help="passages in the mixed load's call "
                   "(default 0: about --mixed-seconds of solo work, at most 2000)")
    p.add_argument("--mixed-seconds", type=float, default=30.0, help="see --mixed-passages (default 30)")
    p.add_argument("--parts", default="", help="jina3_load_bench --parts (default all)")
    p.add_argument("--python-modes", default="threads,asyncio,batched", help="load_bench.py --modes")
    p.add_argument("--skip-python", action="store_true", help="run the C++ load generator only")
    p.add_argument("--no-verify", action="store_true", help="skip the package checksums at each load")
    p.add_argument("--load-bench-arg", action="append", default=[], metavar="ARG",
                   help="extra jina3_load_bench argument (repeatable), e.g. --load-bench-arg=--max-wait-us=0")
    p.add_argument("--out", default="", help="JSON output (default benchmarks/results/serving-<host>-<date>.json)")
    p.add_argument("--note", action="append", default=[], help="free text recorded in the JSON (repeatable)")
    return p.parse_args(argv)


def ensure_package(args, paths, env):
    """The package run.py benchmarks: its checkpoint and export code, and its cache."""
    if args.package:
        package = Path(args.package).resolve()
        if not (package / "manifest.json").exists():
            raise SystemExit(f"serving.py: no package at {package}")
        return package
    shim = argparse.Namespace(checkpoint=args.checkpoint, size=args.size, seed=args.seed, package_dir="")
    checkpoint = bench_run.ensure_checkpoint(shim, paths, env)
    return bench_run.ensure_package(args.dtype, checkpoint, shim, paths, env)


def fmt(value, spec=".1f"):
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    return format(value, spec)


def by_callers(items):
    return {item["callers"]: item for item in items or []}


def loop_row(label, n, r, batched):
    lat, st = r["latency_ms"], r["stats"]
    vs = r["requests_per_s"] / batched["requests_per_s"] if batched and r["requests_per_s"] else None
    failed = f" ({len(r['errors'])} callers failed)" if r["errors"] else ""
    rate = fmt(r["requests_per_s"], ".2f") + ("" if r["rate_method"] == "per-caller cycles" else " (count)")
    return (f"| {n} | {label}{failed} | {rate} | {fmt(lat['p50'])} | {fmt(lat['p99'])} | "
            f"{lat['count']} | {fmt(r['window_s'])} | {fmt(vs, '.2f')} | {st['passes']} | "
            f"{fmt(st['rows_per_pass'], '.1f')} | "
            f"{fmt(st['padded_per_real_token'], '.2f')} | {fmt(st['queue_wait_ms_per_request'])} |")


def batched_row(label, n, b):
    st = b["stats"]
    ms = b["median_s"] * 1e3
    return (f"| {n} | {label} | {fmt(b['requests_per_s'], '.2f')} | {fmt(ms)} | {fmt(ms)} | {len(b['runs_s'])} calls | "
            f"n/a | 1.00 | {st['passes']} | {fmt(st['rows_per_pass'], '.1f')} | "
            f"{fmt(st['padded_per_real_token'], '.2f')} | "
            f"n/a |")


def markdown(doc):
    cpp, py = doc["cpp"], doc.get("python") or {}
    lines = [f"# jina3 serving benchmark: {doc['host']}, {doc['date']}", "",
             f"Package `{cpp['package']}` ({cpp['dtype']}, hidden size {cpp['hidden_size']}), device {cpp['device']}, "
             f"{cpp['cpus']} CPUs. Queries: {cpp['queries']['pool']} distinct {cpp['queries']['task']} texts of "
             f"{cpp['queries']['words']['min']}-{cpp['queries']['words']['max']} words "
             f"({cpp['queries']['tokens']['min']}-{cpp['queries']['tokens']['max']} tokens with prompt and specials). "
             f"Closed loop: a window of {cpp['settings']['seconds']:g} s, or {cpp['settings']['min_cycles']:g} times "
             f"the batched call of the same queries if longer, after a {cpp['settings']['warmup_seconds']:g} s warm-up "
             "per row; only requests completed inside the window count. req/s is the sum of each caller's completion "
             "rate in the window (passes complete callers in bursts; a plain count would be off by up to a burst).",
             ""]

    cpp_batched = by_callers(cpp.get("batched"))
    py_batched = by_callers(py.get("batched"))
    closed = cpp.get("closed_loop", {})
    py_closed = py.get("closed_loop", {})
    sources = [("C++ threads, scheduler", closed.get("scheduler")), ("C++ threads, scheduler bypassed",
                                                                      closed.get("bypass")),
               ("Python threads", py_closed.get("python-threads")), ("Python asyncio", py_closed.get("python-asyncio")),
               ("Python threads, scheduler bypassed", py_closed.get("python-bypass-threads"))]
    counts = sorted({n for _, items in sources for n in by_callers(items)} | set(cpp_batched))
    lines += ["## Closed loop: N callers, one query each at a time, one encoder", "",
              "| callers | load | req/s | p50 ms | p99 ms | requests | window s | x batched req/s | passes | "
              "rows/pass | padded/real | queue wait ms |",
              "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for n in counts:
        batched = cpp_batched.get(n)
        for label, items in sources:
            r = by_callers(items).get(n)
            if r:
                lines.append(loop_row(label, n, r, batched))
        if batched:
            lines.append(batched_row(f"one batched call of {n} (C++)", n, batched))
        if n in py_batched:
            lines.append(batched_row(f"one batched call of {n} (Python)", n, py_batched[n]))
    lines += ["", "Batched rows: p50 and p99 are the call's median time; req/s = N / time. \"(count)\": req/s is the "
              "window count, some caller completed fewer than two requests in the window. Stats columns are "
              "Encoder::stats() deltas over the window: rows/pass = rows accepted / passes, padded/real = padded "
              "tokens / real tokens, queue wait = mean time from the call to its first pass.", ""]

    mixed = cpp.get("mixed")
    if mixed:
        p = mixed["passages"]
        q = mixed["mixed"]["queries"]
        lines += [f"## Mixed load: {mixed['callers']} query callers beside one call of {p['count']} passages", "",
                  f"Passages of {p['tokens']['min']}-{p['tokens']['max']} tokens ({p['real_tokens']:,} in all); "
                  f"count: {p['sizing']}.", "",
                  "| load | passage call s | passages/s | passage tokens/s | query req/s | query p50 ms | "
                  "query p99 ms | queries | passes | rows/pass | padded/real |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        solo, st = mixed["solo"], mixed["solo"]["stats"]
        lines.append(f"| passages alone | {fmt(solo['seconds'])} | {fmt(solo['texts_per_s'], '.2f')} | "
                     f"{fmt(solo['tokens_per_s'], ',.0f')} | n/a | n/a | n/a | 0 | {st['passes']} | "
                     f"{fmt(st['rows_per_pass'])} | {fmt(st['padded_per_real_token'], '.2f')} |")
        mp, st = mixed["mixed"]["passages"], mixed["mixed"]["stats"]
        lines.append(f"| passages + {mixed['callers']} query callers | {fmt(mp['seconds'])} | "
                     f"{fmt(mp['texts_per_s'], '.2f')} | {fmt(mp['tokens_per_s'], ',.0f')} | "
                     f"{fmt(q['requests_per_s'], '.2f')} | {fmt(q['latency_ms']['p50'])} | "
                     f"{fmt(q['latency_ms']['p99'])} | "
                     f"{q['latency_ms']['count']} | {st['passes']} | {fmt(st['rows_per_pass'])} | "
                     f"{fmt(st['padded_per_real_token'], '.2f')} |")
        lines.append("")

    defaults = cpp.get("defaults")
    if defaults:
        lines += ["## Default options against num_threads = all CPUs", "",
                  "| options | num_threads | 1 caller p50 ms | 1 caller p99 ms | requests | 64x128 batch s | "
                  "64x128 tokens/s |", "|---|---:|---:|---:|---:|---:|---:|"]
        for label, key in (("default EncoderOptions", "default"), ("num_threads = all CPUs", "all_cpus")):
            d = defaults.get(key)
            if d:
                lines.append(f"| {label} | {d['num_threads']} | {fmt(d['latency_ms']['p50'])} | "
                             f"{fmt(d['latency_ms']['p99'])} | {d['latency_ms']['count']} | "
                             f"{fmt(d['batch']['median_s'], '.2f')} | {fmt(d['batch']['tokens_per_s'], ',.0f')} |")
        lines.append("")

    lines += ["## Targets (ratios from this run)", "", "| target | measure | measured | target | reached |",
              "|---|---|---:|---|---|"]
    for t in cpp["targets"]:
        reached = "n/a" if t["reached"] is None else ("yes" if t["reached"] else "no")
        samples = f" (n={int(t['samples'])})" if t.get("samples") is not None else ""
        lines.append(f"| {t['name']} | {t['measure']}{samples} | {fmt(t['measured'], '.3f')} | "
                     f"{t['op']} {t['target']:g} | {reached} |")
    lines.append("")
    for note in doc["notes"]:
        lines.append(f"- {note}")
    return "\n".join(lines) + "\n"


def main(argv=None):
    args = parse_args(argv)
    paths = bench_run.Paths(argparse.Namespace(build=args.build, data=args.data))
    env = bench_run.python_env(paths)
    load_bench = paths.build / "benchmarks" / "jina3_load_bench"
    if not load_bench.exists():
        raise SystemExit(f"serving.py: {load_bench} not found: build first (cmake --build {paths.build})")
    paths.data.mkdir(parents=True, exist_ok=True)
    started = time.time()
    package = ensure_package(args, paths, env)

    with tempfile.TemporaryDirectory(prefix="jina3-serving-") as work:
        queries = Path(work) / "queries.json"
        cmd = [load_bench, "--package", package, "--device", args.device, "--callers", args.callers,
               "--seconds", args.seconds, "--min-cycles", args.min_cycles, "--warmup-seconds", args.warmup_seconds,
               "--batch-repeats", args.batch_repeats, "--throughput-repeats", args.throughput_repeats,
               "--target-callers", args.target_callers, "--mixed-callers", args.mixed_callers,
               "--mixed-passages", args.mixed_passages, "--mixed-seconds", args.mixed_seconds,
               "--emit-inputs", queries]
        if args.parts:
            cmd += ["--parts", args.parts]
        if args.no_verify:
            cmd += ["--no-verify"]
        cmd += args.load_bench_arg
        cpp = bench_run.run_json(cmd, env)
        python = None
        if not args.skip_python:
            cmd = [sys.executable, HERE / "load_bench.py", "--package", package, "--queries", queries,
                   "--device", args.device, "--callers", args.callers, "--seconds", args.seconds,
                   "--min-cycles", args.min_cycles, "--warmup-seconds", args.warmup_seconds,
                   "--batch-repeats", args.batch_repeats, "--modes", args.python_modes]
            if args.no_verify:
                cmd += ["--no-verify"]
            python = bench_run.run_json(cmd, env)

    host = bench_run.host_kind(args.device)
    out = (Path(args.out) if args.out else
           HERE / "results" / f"serving-{host}-{datetime.date.today().isoformat()}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    notes = list(args.note)
    notes += cpp.get("notes", [])
    notes += filter(None, [bench_run.busy_note("at the end")])
    doc = {
        **bench_run.machine(host, args.device),
        "package": str(package),
        "arguments": sys.argv[1:] if argv is None else list(argv),
        "notes": notes,
        "elapsed_s": None,
        "cpp": cpp,
        "python": python,
    }
    doc["elapsed_s"] = time.time() - started
    table = markdown(doc)
    doc["markdown"] = table
    out.write_text(json.dumps(doc, indent=1) + "\n")
    out.with_suffix(".md").write_text(table)
    print(table)
    log(f"wrote {out} and {out.with_suffix('.md')}")


if __name__ == "__main__":
    main()
