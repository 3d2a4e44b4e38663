"""Times the project's Python reference forward (eager PyTorch) on jina3_bench's inputs.

The model is jina3's own eager model (python/jina3/export/backbone.py) loaded from the Hugging
Face checkpoint, not scripted. Texts are encoded the way Jina's encode() does it: sorted by length
(longest first), cut into batches of --batch-size rows (32, Jina's default), each batch padded to
its longest row, forward under inference_mode, mean pooling over the mask in float32, L2
normalisation. Token ids come from jina3_bench --emit-inputs, so both engines run the same
sequences; tokenisation is not timed here (jina3's figures include its own).

Prints JSON in jina3_bench's layout: {"workloads": {name: {...}}, ...}.
"""

import argparse
import ctypes
import importlib
import json
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import memory  # noqa: E402  (benchmarks/memory.py)
from summary import percentile  # noqa: E402  (benchmarks/summary.py)


def retain_freed_host_memory():
    """What src/host_memory.cpp does for jina3: glibc keeps freed blocks (mallopt M_MMAP_MAX 0,
    M_TRIM_THRESHOLD INT_MAX). Returns whether both settings took."""
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    m_trim_threshold, m_mmap_max = -1, -4  # <malloc.h>
    return libc.mallopt(m_mmap_max, 0) == 1 and libc.mallopt(m_trim_threshold, 2**31 - 1) == 1


def load_model(checkpoint, dtype, device):
    # importlib rather than "from jina3 import export": the package's __getattr__ answers for
    # names it does not have yet (the compiled module's), which would shadow the subpackage.
    jina3_model = importlib.import_module("jina3.export.backbone")
    model = jina3_model.load_checkpoint(checkpoint, dtype=dtype)
    model.eval()
    return model.to(device=device)


class Reference:
    def __init__(self, model, config, batch_size, device):
        self.model = model
        self.batch_size = batch_size
        self.device = device
        self.pad_id = int(config.get("pad_token_id", 1))
        self.task_index = {name: i for i, name in enumerate(config["lora_adaptations"])}

    def encode(self, rows, tasks):
        """Embeds token-id rows; returns (float32 [n, H] in input order, padded token count)."""
        order = sorted(range(len(rows)), key=lambda i: -len(rows[i]))
        pieces = [None] * len(rows)
        padded = 0
        with torch.inference_mode():
            for start in range(0, len(order), self.batch_size):
                batch = order[start : start + self.batch_size]
                width = len(rows[batch[0]])
                padded += width * len(batch)
                ids = torch.full((len(batch), width), self.pad_id, dtype=torch.int64)
                mask = torch.zeros((len(batch), width), dtype=torch.int64)
                for r, i in enumerate(batch):
                    ids[r, : len(rows[i])] = torch.tensor(rows[i], dtype=torch.int64)
                    mask[r, : len(rows[i])] = 1
                task_ids = torch.tensor([self.task_index.get(tasks[i], -1) for i in batch], dtype=torch.int64)
                ids, mask, task_ids = ids.to(self.device), mask.to(self.device), task_ids.to(self.device)
                hidden = self.model(ids, mask, task_ids).float()
                weights = mask.unsqueeze(-1).float()
                pooled = (hidden * weights).sum(dim=1) / weights.sum(dim=1)
                pooled = torch.nn.functional.normalize(pooled, p=2.0, dim=-1).cpu()
                for r, i in enumerate(batch):
                    pieces[i] = pooled[r]
        return torch.stack(pieces), padded


def latency_summary_ms(seconds):
    ms = [s * 1e3 for s in seconds]
    return {"calls": len(ms), "p50": percentile(ms, 50), "p90": percentile(ms, 90), "p99": percentile(ms, 99),
            "mean": statistics.fmean(ms), "min": min(ms), "max": max(ms)}


def run_workload(ref, name, workload, args, sync):
    rows, tasks = workload["ids"], workload["tasks"]
    latency = workload["timing"] == "latency"
    if name == "query":
        warmups, timed = args.query_warmup, args.query_calls
    elif name == "longdoc":
        warmups, timed = args.long_warmup, args.long_repeats  # CPU default: one run, the eager model is slow there
    else:
        warmups, timed = 0, args.repeats

    peak_reset = memory.reset_peak_resident()
    rss_before = memory.resident_mib()
    if args.device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    if not latency and args.warmup_rows:
        # Warm-up on the first rows only: the eager model compiles nothing, so a full run would
        # only repeat the measurement at great cost on a CPU.
        ref.encode(rows[: args.warmup_rows], tasks[: args.warmup_rows])
    for _ in range(warmups):
        ref.encode(rows, tasks)
    sync()
    runs = []
    for _ in range(timed):
        start = time.perf_counter()
        embeddings, padded = ref.encode(rows, tasks)
        sync()
        runs.append(time.perf_counter() - start)
    real = sum(len(r) for r in rows)
    median_s = percentile(runs, 50)
    result = {
        "timing": "latency" if latency else "throughput",
        "texts": len(rows),
        "tasks": sorted(set(tasks)),
        "real_tokens": real,
        "padded_tokens": padded,
        "batch_size": args.batch_size,
        "warmup_runs": warmups,
        "warmup_rows": 0 if latency else args.warmup_rows,
        "runs_s": runs,
        "median_s": median_s,
        "best_s": min(runs),
        "tokens_per_s": real / median_s,
        "texts_per_s": len(rows) / median_s,
        "latency_ms": latency_summary_ms(runs),
        "rss_before_mib": rss_before,
        "peak_rss_mib": memory.peak_resident_mib(),
        "peak_rss_is_per_workload": peak_reset,
        "gpu_mem_peak_allocated_mib": (torch.cuda.max_memory_allocated() / 2**20
                                       if args.device.startswith("cuda") else None),
    }
    if args.emit_embeddings:
        path = Path(args.emit_embeddings) / f"{name}.f32"
        path.write_bytes(embeddings.numpy().astype("<f4").tobytes())
        result["embeddings_file"] = str(path)
        result["embeddings_shape"] = list(embeddings.shape)
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", required=True, help="Hugging Face checkpoint directory")
    parser.add_argument("--inputs", required=True, help="JSON from jina3_bench --emit-inputs")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--workloads", default="", help="comma-separated subset of the inputs (default all)")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--warmup-rows", type=int, default=32)
    parser.add_argument("--query-calls", type=int, default=100)
    parser.add_argument("--query-warmup", type=int, default=5)
    parser.add_argument("--long-warmup", type=int, default=0)
    parser.add_argument("--long-repeats", type=int, default=1)
    parser.add_argument("--emit-embeddings", default="")
    parser.add_argument("--default-malloc", action="store_true",
                        help="leave glibc's allocator as it is (default: the setting jina3 makes on the CPU)")
    args = parser.parse_args()

    # Same allocator as jina3 on the CPU (EncoderOptions::retain_host_memory), so that the ratio
    # compares the engines rather than glibc settings.
    retained = False if args.default_malloc or args.device != "cpu" else retain_freed_host_memory()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    sync = (lambda: torch.cuda.synchronize(device)) if device.type == "cuda" else (lambda: None)
    config = json.loads((Path(args.checkpoint) / "config.json").read_text())
    inputs = json.loads(Path(args.inputs).read_text())["workloads"]
    selected = [w for w in args.workloads.split(",") if w] or list(inputs)

    memory.reset_peak_resident()
    start = time.perf_counter()
    model = load_model(args.checkpoint, getattr(torch, args.dtype), device)
    load_s = time.perf_counter() - start
    ref = Reference(model, config, args.batch_size, device)
    report = {
        "tool": "reference_bench",
        "engine": "python eager reference (jina3.export.backbone)",
        "torch_version": torch.__version__,
        "device": args.device,
        "dtype": args.dtype,
        "threads": torch.get_num_threads(),
        "batch_size": args.batch_size,
        "retain_host_memory": retained,
        "load_s": load_s,
        "rss_after_load_mib": memory.resident_mib(),
        "peak_rss_during_load_mib": memory.peak_resident_mib(),
        "workloads": {},
    }
    for name in selected:
        print(f"reference_bench: {args.dtype}: timing {name}", file=sys.stderr)
        report["workloads"][name] = run_workload(ref, name, inputs[name], args, sync)
    json.dump(report, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
