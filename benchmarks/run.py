#!/usr/bin/python3
"""jina3 benchmark driver: jina3 in each precision beside the Python reference, in one run.

Steps (each reuses earlier results where they are still valid):
  1. a random full-size checkpoint (jina3.testing.make_checkpoint --size full --seed 0), cached;
  2. jina3 packages exported from it (float32, bfloat16, int8 on CPU; float32, bfloat16, float16
     on CUDA), re-exported when the checkpoint or the exporter changed;
  3. the matrix-product ceiling of this machine (torch, 512x1024x4096, best of several);
  4. the workloads' token ids (jina3_bench --emit-inputs), shared by both engines;
  5. the Python reference forward (jina3.export.backbone, eager) in float32 and bfloat16 (float16
     on CUDA);
  6. jina3_bench once per precision;
then prints a markdown table and writes the JSON (and the table beside it).

Run with /usr/bin/python3 from the repository root, after building (see benchmarks/README.md):
  /usr/bin/python3 benchmarks/run.py --build build
"""

import argparse
import datetime
import hashlib
import json
import math
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
ALL_WORKLOADS = ["passages64", "passages256", "mixed256", "query", "longdoc"]
THROUGHPUT = {"passages64", "passages256", "mixed256"}


def log(message):
    print(f"run.py: {message}", file=sys.stderr, flush=True)


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cpu", help="cpu or cuda[:N] (default cpu)")
    p.add_argument("--build", default=str(REPO / "build"), help="CMake build directory (default build)")
    p.add_argument("--data", default="", help="cache for checkpoint, packages, inputs (default BUILD/bench-data)")
    p.add_argument("--checkpoint", default="", help="use this checkpoint instead of making one")
    p.add_argument("--package-dir", default="",
                   help="use DIR/package-<dtype> packages instead of exporting (e.g. the test data)")
    p.add_argument("--size", default="full", choices=["full", "tiny"], help="checkpoint size to make (default full)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--precisions", default="", help="jina3 precisions (default float32,bfloat16,int8; "
                   "CUDA: float32,bfloat16,float16)")
    p.add_argument("--ref-precisions", default="", help="reference precisions (default float32,bfloat16; "
                   "CUDA: float32,bfloat16,float16)")
    p.add_argument("--workloads", default="", help="comma-separated (default passages64,mixed256,query,longdoc; "
                   "CUDA adds passages256)")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                   help="intra-op threads for every engine (default: all cores)")
    p.add_argument("--batch-size", type=int, default=-1,
                   help="jina3 rows per forward pass (default: library default on CPU, 256 on CUDA)")
    p.add_argument("--ref-batch-size", type=int, default=32, help="reference rows per batch (default 32, Jina's)")
    p.add_argument("--repeats", type=int, default=3, help="timed runs per batch workload, jina3 (default 3)")
    p.add_argument("--ref-repeats", type=int, default=0,
                   help="timed runs per batch workload, reference (default 1 on CPU, where it is slow; 3 on CUDA)")
    p.add_argument("--query-calls", type=int, default=100, help="timed single-query calls (default 100)")
    p.add_argument("--skip-reference", action="store_true", help="time jina3 only")
    p.add_argument("--quick", action="store_true", help="one repetition of everything: a smoke test")
    p.add_argument("--out", default="", help="JSON output (default benchmarks/results/<host>-<date>.json)")
    p.add_argument("--variant", default="",
                   help="also time jina3 under --variant-env / --variant-arg, as engine 'jina3[NAME]'")
    p.add_argument("--variant-arg", action="append", default=[], metavar="ARG",
                   help="extra jina3_bench argument of the variant (repeatable), e.g. --variant-arg=--default-malloc")
    p.add_argument("--variant-env", action="append", default=[], metavar="VAR=VALUE",
                   help="environment of the variant (repeatable), e.g. GLIBC_TUNABLES=glibc.malloc.hugetlb=1")
    p.add_argument("--variant-precisions", default="", help="precisions of the variant (default: all of jina3's)")
    p.add_argument("--variant-workloads", default="", help="workloads of the variant (default: all selected)")
    p.add_argument("--note", action="append", default=[], help="free text recorded in the JSON (repeatable)")
    return p.parse_args()


class Paths:
    def __init__(self, args):
        self.build = Path(args.build).resolve()
        self.data = Path(args.data).resolve() if args.data else self.build / "bench-data"
        self.bench = self.build / "benchmarks" / "jina3_bench"
        # The build tree's python/ holds the compiled module next to the pure-Python package; the
        # source tree's is enough for the checkpoint maker, the exporter and the reference.
        built = self.build / "python"
        self.pythonpath = built if (built / "jina3" / "__init__.py").exists() else REPO / "python"


def python_env(paths):
    env = dict(os.environ)
    env["PYTHONPATH"] = str(paths.pythonpath)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def run_json(cmd, env=None):
    """Runs a command whose stdout is one JSON document; its stderr streams through. The load
    average before and after is recorded: on a shared machine it says how noisy the figures are."""
    log("$ " + " ".join(map(str, cmd)))
    load_before = os.getloadavg()[0]
    done = subprocess.run(list(map(str, cmd)), stdout=subprocess.PIPE, text=True, env=env)
    if done.returncode != 0:
        raise SystemExit(f"run.py: command failed ({done.returncode}): {' '.join(map(str, cmd))}")
    result = json.loads(done.stdout)
    result["load_average_1min"] = {"before": load_before, "after": os.getloadavg()[0]}
    return result


def run_checked(cmd, env=None):
    log("$ " + " ".join(map(str, cmd)))
    if subprocess.run(list(map(str, cmd)), env=env).returncode != 0:
        raise SystemExit(f"run.py: command failed: {' '.join(map(str, cmd))}")


def files_stamp(paths):
    """Identity of a set of files: name, size and modification time of each."""
    return sorted([str(p), p.stat().st_size, p.stat().st_mtime_ns] for p in paths)


def sources_digest(package_root):
    digest = hashlib.sha256()
    for path in sorted(package_root.rglob("*.py")):
        digest.update(str(path.relative_to(package_root)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def ensure_checkpoint(args, paths, env):
    if args.checkpoint:
        return Path(args.checkpoint).resolve()
    checkpoint = paths.data / f"checkpoint-{args.size}-seed{args.seed}"
    done_marker = checkpoint / ".bench-complete"
    if done_marker.exists():
        log(f"reusing checkpoint {checkpoint}")
        return checkpoint
    log(f"making a {args.size} checkpoint (seed {args.seed}) in {checkpoint}")
    checkpoint.mkdir(parents=True, exist_ok=True)
    run_checked([sys.executable, "-m", "jina3.testing.make_checkpoint", "--size", args.size,
                 "--seed", str(args.seed), checkpoint], env)
    done_marker.write_text(json.dumps({"size": args.size, "seed": args.seed}))
    return checkpoint


def ensure_package(dtype, checkpoint, args, paths, env):
    if args.package_dir:
        package = Path(args.package_dir).resolve() / f"package-{dtype}"
        if not (package / "manifest.json").exists():
            raise SystemExit(f"run.py: no {dtype} package at {package}")
        return package
    package = paths.data / "packages" / f"{checkpoint.name}-{dtype}"
    stamp_file = package.parent / f"{package.name}.stamp.json"
    stamp = {
        "checkpoint": files_stamp(sorted(p for p in checkpoint.iterdir() if p.is_file() and p.name[0] != ".")),
        "exporter": sources_digest(paths.pythonpath / "jina3"),
    }
    if (package / "manifest.json").exists() and stamp_file.exists() and json.loads(stamp_file.read_text()) == stamp:
        log(f"reusing package {package}")
        return package
    log(f"exporting {dtype} package to {package}")
    package.parent.mkdir(parents=True, exist_ok=True)
    stamp_file.unlink(missing_ok=True)
    run_checked([sys.executable, "-m", "jina3.export", checkpoint, package, "--dtype", dtype, "--overwrite"], env)
    stamp_file.write_text(json.dumps(stamp))
    return package


def host_kind(device):
    if device.startswith("cuda"):
        try:
            name = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
                                  capture_output=True, text=True).stdout.splitlines()[0]
        except (OSError, IndexError):
            name = "gpu"
        return "cuda-" + re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    model = platform.processor() or "cpu"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1]
                break
    except OSError:
        pass
    slug = re.sub(r"[^a-z0-9]+", "-", model.lower()).strip("-")
    return f"cpu-{slug}-{os.cpu_count()}c"


def cpu_flags():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                return sorted(f for f in flags if f.startswith(("avx512", "amx")) or f in ("avx2", "avx_vnni", "fma"))
    except OSError:
        pass
    return []


def machine(host, device):
    """Where a result was measured, for the head of a results document (run.py's and serving.py's)."""
    return {
        "host": host,
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "device": device,
        "cpu_flags": cpu_flags(),
        "cores": os.cpu_count(),
        # Settings of this process's environment that change how LibTorch runs, inherited by every engine.
        "environment": {k: os.environ[k] for k in ("GLIBC_TUNABLES", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
                                                   "LD_PRELOAD", "CUDA_VISIBLE_DEVICES") if k in os.environ},
    }


def busy_note(when):
    """A note for the results when the machine is busy (load average above half its cores), else None."""
    load = os.getloadavg()[0]
    if load > 0.5 * (os.cpu_count() or 1):
        return f"machine busy {when}: load average {load:.2f} on {os.cpu_count()} cores"
    return None


def body_flops_per_token(manifest):
    """Dense matrix-product FLOPs per token of the 24 blocks (Wqkv, out_proj, fc1, fc2); attention
    scores, LoRA, LayerNorm and GELU are left out, as in the issue's ~0.6 GFLOP/token."""
    h, f, layers = manifest["hidden_size"], manifest["intermediate_size"], manifest["num_layers"]
    return 2.0 * layers * (4 * h * h + 2 * h * f)


def cosine_stats(file_a, file_b, rows, dims):
    import numpy as np

    a = np.fromfile(file_a, dtype="<f4").reshape(rows, dims).astype(np.float64)
    b = np.fromfile(file_b, dtype="<f4").reshape(rows, dims).astype(np.float64)
    cos = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    return {"min": float(cos.min()), "mean": float(cos.mean())}


def speedup(row, base, workload):
    """How many times faster `row` is than `base` (throughput ratio, or latency ratio at p50)."""
    if not base:
        return None
    if workload in THROUGHPUT:
        return row["tokens_per_s"] / base["tokens_per_s"]
    return base["latency_ms"]["p50"] / row["latency_ms"]["p50"]


def build_rows(results, workloads, bound_tokens_per_s):
    """One row per workload x engine x precision, with the derived columns."""
    rows = []
    ref = results.get("reference", {})
    ref_f32 = ref.get("float32", {}).get("workloads", {})
    for workload in workloads:
        for engine in results:
            for precision, report in results[engine].items():
                w = report["workloads"].get(workload)
                if w is None:
                    continue
                same = ref.get(precision, {}).get("workloads", {}).get(workload)
                padded = w.get("padded_tokens")
                if padded is None and "padded_tokens_estimate" in w:
                    padded = w["padded_tokens_estimate"]["length_sorted_batches"]
                memory = w.get("gpu_mem_used_peak_mib") or w.get("gpu_mem_peak_allocated_mib") or w["peak_rss_mib"]
                row = {
                    "workload": workload,
                    "engine": engine,
                    "precision": precision,
                    "tokens_per_s": w["tokens_per_s"],
                    "p50_ms": w["latency_ms"]["p50"],
                    "p99_ms": w["latency_ms"]["p99"],
                    "calls": w["latency_ms"]["calls"],
                    "peak_memory_mib": memory,
                    "memory_kind": ("gpu" if (w.get("gpu_mem_used_peak_mib") or w.get("gpu_mem_peak_allocated_mib"))
                                    else "host_rss"),
                    "padding_overhead": (padded - w["real_tokens"]) / w["real_tokens"] if padded else None,
                    "padding_is_estimate": "padded_tokens" not in w,
                    "speedup_vs_ref_float32": speedup(w, ref_f32.get(workload), workload),
                    "speedup_vs_ref_same_precision": speedup(w, same, workload) if same is not None else None,
                    "fraction_of_bf16_bound": w["tokens_per_s"] / bound_tokens_per_s if bound_tokens_per_s else None,
                    "cosine_vs_ref_float32": w.get("cosine_vs_ref_float32"),
                }
                rows.append(row)
    return rows


def fmt(value, spec, suffix=""):
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    return format(value, spec) + suffix


def markdown_table(rows, device):
    memory_label = "peak mem MiB" if device == "cpu" else "peak mem MiB (GPU)"
    lines = [
        f"| workload | engine | precision | tokens/s | p50 ms | p99 ms | {memory_label} | padding | "
        "x ref f32 | x ref same | of bf16 bound | cos vs ref f32 (min) |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        cos = r["cosine_vs_ref_float32"]
        padding = fmt(r["padding_overhead"] * 100 if r["padding_overhead"] is not None else None, ".0f", "%")
        if r["padding_is_estimate"] and r["padding_overhead"] is not None:
            padding += " (est.)"
        lines.append(
            f"| {r['workload']} | {r['engine']} | {r['precision']} | {fmt(r['tokens_per_s'], ',.0f')} | "
            f"{fmt(r['p50_ms'], '.1f')} | {fmt(r['p99_ms'], '.1f')} | {fmt(r['peak_memory_mib'], ',.0f')} | "
            f"{padding} | {fmt(r['speedup_vs_ref_float32'], '.2f')} | {fmt(r['speedup_vs_ref_same_precision'], '.2f')} | "
            f"{fmt(r['fraction_of_bf16_bound'] * 100 if r['fraction_of_bf16_bound'] is not None else None, '.0f', '%')} | "
            f"{fmt(cos['min'] if cos else None, '.6f')} |")
    return "\n".join(lines)


def main():
    args = parse_args()
    paths = Paths(args)
    env = python_env(paths)
    cuda = args.device.startswith("cuda")
    precisions = [p for p in (args.precisions or ("float32,bfloat16,float16" if cuda else "float32,bfloat16,int8"))
                  .split(",") if p]
    ref_precisions = [] if args.skip_reference else [
        p for p in (args.ref_precisions or ("float32,bfloat16,float16" if cuda else "float32,bfloat16")).split(",") if p]
    workloads = [w for w in (args.workloads or ",".join(
        ALL_WORKLOADS if cuda else [w for w in ALL_WORKLOADS if w != "passages256"])).split(",") if w]
    unknown = set(workloads) - set(ALL_WORKLOADS)
    if unknown:
        raise SystemExit(f"run.py: unknown workloads {sorted(unknown)} (known: {', '.join(ALL_WORKLOADS)})")
    batch_size = args.batch_size if args.batch_size >= 0 else (256 if cuda else 0)
    ref_repeats = args.ref_repeats or (3 if cuda else 1)
    if not paths.bench.exists():
        raise SystemExit(f"run.py: {paths.bench} not found: build first (cmake --build {paths.build})")
    paths.data.mkdir(parents=True, exist_ok=True)
    started = time.time()

    checkpoint = ensure_checkpoint(args, paths, env)
    packages = {p: ensure_package(p, checkpoint, args, paths, env) for p in precisions}
    manifest = json.loads((next(iter(packages.values())) / "manifest.json").read_text())

    gemm_dtypes = "float32,bfloat16,float16" if cuda else "float32,bfloat16"
    gemm = run_json([sys.executable, HERE / "gemm_bound.py", "--device", args.device, "--threads", args.threads,
                     "--repeats", 3 if args.quick else 10, "--dtypes", gemm_dtypes], env)
    flops_per_token = body_flops_per_token(manifest)
    bound = gemm["bfloat16"]["gflops"] * 1e9 / flops_per_token

    inputs = paths.data / f"inputs-{checkpoint.name}.json"
    run_checked([paths.bench, "--package", next(iter(packages.values())), "--workloads", ",".join(workloads),
                 "--emit-inputs", inputs, "--inputs-only", "--no-verify"])

    results = {"reference": {}, "jina3": {}}
    runs = [("jina3", p, package, None) for p, package in packages.items()]
    if args.variant:
        variant_env = dict(os.environ)
        for item in args.variant_env:
            name, _, value = item.partition("=")
            variant_env[name] = value
        chosen = [p for p in args.variant_precisions.split(",") if p] or list(packages)
        results[f"jina3[{args.variant}]"] = {}
        runs += [(f"jina3[{args.variant}]", p, packages[p], variant_env) for p in chosen]
    variant_workloads = [w for w in args.variant_workloads.split(",") if w] or workloads
    embeddings_root = paths.data / "embeddings"
    for precision in ref_precisions:
        out_dir = embeddings_root / f"reference-{precision}"
        out_dir.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, HERE / "reference_bench.py", "--checkpoint", checkpoint, "--inputs", inputs,
               "--dtype", precision, "--device", args.device, "--threads", args.threads,
               "--batch-size", args.ref_batch_size, "--workloads", ",".join(workloads),
               "--repeats", 1 if args.quick else ref_repeats, "--emit-embeddings", out_dir]
        if args.quick:
            cmd += ["--query-calls", 10, "--query-warmup", 2, "--warmup-rows", 4]
        else:
            cmd += ["--query-calls", args.query_calls]
            if cuda:
                cmd += ["--long-warmup", 1, "--long-repeats", 3]
        results["reference"][precision] = run_json(cmd, env)

    for engine, precision, package, engine_env in runs:
        out_dir = embeddings_root / f"{engine}-{precision}"
        if engine_env is not None:
            log(f"{engine} runs with {' '.join(args.variant_env + args.variant_arg)}")
        out_dir.mkdir(parents=True, exist_ok=True)
        cmd = [paths.bench, "--package", package, "--device", args.device, "--threads", args.threads,
               "--workloads", ",".join(variant_workloads if engine_env is not None else workloads),
               "--batch-size", batch_size, "--emit-embeddings", out_dir]
        if cuda:
            cmd += ["--long-warmup", 1, "--long-repeats", 5, "--warmup", 2]
        else:
            cmd += ["--warmup-rows", 32]
        cmd += ["--quick"] if args.quick else ["--repeats", args.repeats, "--query-calls", args.query_calls]
        if engine_env is not None:
            cmd += args.variant_arg
        results[engine][precision] = run_json(cmd, engine_env)

    # Agreement with the float32 reference, row by row (same token ids on both sides).
    ref_f32 = results["reference"].get("float32", {}).get("workloads", {})
    for engine in results:
        for report in results[engine].values():
            for name, w in report["workloads"].items():
                base = ref_f32.get(name)
                if base and "embeddings_file" in w:
                    rows, dims = w["embeddings_shape"]
                    w["cosine_vs_ref_float32"] = cosine_stats(w["embeddings_file"], base["embeddings_file"], rows, dims)

    table_rows = build_rows(results, workloads, bound)
    table = markdown_table(table_rows, "cpu" if not cuda else "cuda")
    host = host_kind(args.device)
    out = Path(args.out) if args.out else HERE / "results" / f"{host}-{datetime.date.today().isoformat()}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    notes = list(args.note)
    if args.quick:
        notes.append("--quick: one repetition of everything; a smoke test, not a measurement")
    notes += filter(None, [busy_note("at start")])
    document = {
        **machine(host, args.device),
        "threads": args.threads,
        "checkpoint": str(checkpoint),
        "packages": {p: str(v) for p, v in packages.items()},
        "model": {k: manifest[k] for k in ("hidden_size", "num_layers", "num_heads", "intermediate_size", "vocab_size")},
        "flops_per_token_body": flops_per_token,
        "gemm": gemm,
        "bf16_bound_tokens_per_s": bound,
        "jina3_batch_size": batch_size,
        "reference_batch_size": args.ref_batch_size,
        "method": {
            "token_counts": "prompt, <s> and </s> included; tokens/s counts real (unpadded) tokens",
            "jina3": "jina3_bench: whole encode() calls (tokenise, forward, pool, normalise); warm-up first",
            "reference": "jina3.export.backbone eager, length-sorted batches padded to their longest row, "
                         "mean pooling; token ids precomputed (tokenisation not timed); longdoc run once "
                         "without warm-up on CPU, 3 times after one warm-up on CUDA",
            "speedup": "throughput workloads: tokens/s ratio; latency workloads: p50 ratio",
            "bf16_bound": "bf16 GFLOP/s of the gemm above / dense body FLOPs per token",
        },
        "variant": {"name": args.variant, "env": args.variant_env, "args": args.variant_arg} if args.variant else None,
        "notes": notes,
        "elapsed_s": time.time() - started,
        "table": table_rows,
        "markdown": table,
        "results": results,
    }
    out.write_text(json.dumps(document, indent=1) + "\n")
    variant_line = (f"\njina3[{args.variant}]: jina3 with {' '.join(args.variant_env + args.variant_arg)}\n"
                    if args.variant else "")
    out.with_suffix(".md").write_text(f"# jina3 benchmark: {host}, {document['date']}\n\n{table}\n{variant_line}")
    print(table)
    log(f"wrote {out} and {out.with_suffix('.md')}")


if __name__ == "__main__":
    main()
