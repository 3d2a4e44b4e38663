"""Where the time of one forward pass goes, by part of the model and by operator.

Runs one workload of jina3_bench's inputs (default passages64: 64 x 128 tokens, one pass) through
  --package PKG     the package's backbone.pt (TorchScript: exactly what jina3 runs, with the graph
                    optimiser off as jina3 runs it), operators only; or
  --checkpoint DIR  jina3.export.backbone's eager model, which is the same graph op for op, timed
                    per part (embeddings, the four base projections and their LoRA, attention,
                    LayerNorm, GELU, rotary, the rest) with module hooks, plus the operator table.

    PYTHONPATH=build/python /usr/bin/python3 benchmarks/profile_ops.py --checkpoint CKPT \\
        --inputs build/bench-data/inputs-*.json --dtype bfloat16 --threads 2

Prints a JSON report on stdout and readable tables on stderr.
"""

import argparse
import importlib
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

import torch


def batch_from_inputs(path, workload, task_index, pad_id):
    data = json.loads(Path(path).read_text())["workloads"][workload]
    rows, tasks = data["ids"], data["tasks"]
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.int64)
    mask = torch.zeros_like(ids)
    for i, row in enumerate(rows):
        ids[i, : len(row)] = torch.tensor(row)
        mask[i, : len(row)] = 1
    task_ids = torch.tensor([task_index.get(t, -1) for t in tasks], dtype=torch.int64)
    return ids, mask, task_ids


class PartTimer:
    """Exclusive wall time per part of the eager model, from forward hooks. On a GPU every hook
    synchronises, so parts are device time plus a few microseconds: use a big batch there."""

    def __init__(self, sync):
        self.totals = defaultdict(float)
        self.stack = []  # [part, start, time spent in children]
        self.sync = sync

    def enter(self, part):
        self.sync()
        self.stack.append([part, time.perf_counter(), 0.0])

    def leave(self):
        self.sync()
        part, start, children = self.stack.pop()
        elapsed = time.perf_counter() - start
        self.totals[part] += elapsed - children
        if self.stack:
            self.stack[-1][2] += elapsed

    def hook_module(self, module, part):
        module.register_forward_pre_hook(lambda m, args: self.enter(part))
        module.register_forward_hook(lambda m, args, out: self.leave())

    def wrap_function(self, owner, name, part):
        original = getattr(owner, name)

        def timed(*args, **kwargs):
            self.enter(part)
            try:
                return original(*args, **kwargs)
            finally:
                self.leave()

        setattr(owner, name, timed)
        return original


def instrument(model, model_module, timer):
    timer.hook_module(model, "other (masks, rotary tables, input checks)")
    timer.hook_module(model.embeddings, "embeddings + LoRA")
    timer.hook_module(model.embeddings.norm, "layernorm")
    for block in model.layers:
        timer.hook_module(block, "block glue (views, transposes, reshapes)")
        for name in ("qkv", "out_proj", "fc1", "fc2"):
            lora_linear = getattr(block, name)
            timer.hook_module(lora_linear, f"lora {name} (gather, bmm, baddbmm)")
            timer.hook_module(lora_linear.base, f"linear {name}")
        timer.hook_module(block.attention, "attention (scores, softmax, values)")
        timer.hook_module(block.norm1, "layernorm")
        timer.hook_module(block.norm2, "layernorm")
    timer.wrap_function(model_module, "rotate", "rotary")
    timer.wrap_function(torch.nn.functional, "gelu", "gelu")


def self_time_us(event, cuda):
    if not cuda:
        return event.self_cpu_time_total
    # torch 2.x names it device time; 1.13 cuda time.
    return getattr(event, "self_device_time_total", None) or getattr(event, "self_cuda_time_total", 0)


def operator_table(events, total_s, cuda=False):
    rows = []
    for e in events:
        self_us = self_time_us(e, cuda)
        if cuda and not self_us:
            continue
        rows.append({"op": e.key, "calls": e.count, "self_s": self_us / 1e6,
                     "share": self_us / 1e6 / total_s if total_s else None,
                     "shapes": str(e.input_shapes) if getattr(e, "input_shapes", None) else ""})
    rows.sort(key=lambda r: -r["self_s"])
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--checkpoint", help="eager jina3.export.backbone from this HF checkpoint")
    source.add_argument("--package", help="TorchScript backbone.pt of this jina3 package")
    parser.add_argument("--inputs", required=True, help="JSON from jina3_bench --emit-inputs")
    parser.add_argument("--workload", default="passages64")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--runs", type=int, default=1, help="timed passes after one warm-up (default 1)")
    parser.add_argument("--top", type=int, default=20, help="operators listed (default 20)")
    args = parser.parse_args()

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    dtype = getattr(torch, args.dtype)
    if args.checkpoint:
        config = json.loads((Path(args.checkpoint) / "config.json").read_text())
        tasks, pad_id = config["lora_adaptations"], int(config.get("pad_token_id", 1))
        model_module = importlib.import_module("jina3.export.backbone")
        model = model_module.load_checkpoint(args.checkpoint, dtype=dtype).eval().to(args.device)
        engine = "eager jina3.export.backbone"
    else:
        manifest = json.loads((Path(args.package) / "manifest.json").read_text())
        tasks, pad_id = manifest["tasks"], int(manifest["special_ids"]["pad"])
        if manifest.get("jina3_kernels") and not importlib.import_module("jina3.export.backbone").kernels_available():
            raise SystemExit("profile_ops.py: this package calls jina3's operators; put build/python on PYTHONPATH")
        model = torch.jit.load(str(Path(args.package) / "backbone.pt"), map_location=args.device).eval()
        if manifest["dtype"] == "int8":
            # As the runtime loads it (src/model/backbone.cpp): the int8 weights repacked once into
            # oneDNN's layout, so that no pass repacks them. (The float parts stay bfloat16: run
            # on a CPU with native bfloat16, as the runtime would.)
            with torch.no_grad():
                for name, buffer in model.named_buffers():
                    if name.endswith("qweight") and buffer.dtype == torch.int8 and buffer.dim() == 2:
                        buffer.set_(torch.ops.jina3.pack_int8_weight(buffer))
        elif manifest["dtype"] != args.dtype:
            model = model.to(dtype)
        engine = "TorchScript backbone.pt"
    ids, mask, task_ids = batch_from_inputs(args.inputs, args.workload, {t: i for i, t in enumerate(tasks)}, pad_id)
    ids, mask, task_ids = ids.to(args.device), mask.to(args.device), task_ids.to(args.device)
    cuda = torch.device(args.device).type == "cuda"
    sync = torch.cuda.synchronize if cuda else (lambda: None)

    # As jina3 runs the scripted module: inference mode, no profiling-executor specialisation.
    with torch.inference_mode(), torch.jit.optimized_execution(False):
        for _ in range(3 if cuda else 1):
            model(ids, mask, task_ids)  # warm-up
        sync()
        start = time.perf_counter()
        for _ in range(args.runs):
            model(ids, mask, task_ids)
        sync()
        plain_s = (time.perf_counter() - start) / args.runs

        parts = None
        if args.checkpoint:
            timer = PartTimer(sync)
            instrument(model, model_module, timer)
            start = time.perf_counter()
            for _ in range(args.runs):
                model(ids, mask, task_ids)
            hooked_s = (time.perf_counter() - start) / args.runs
            parts = {k: v / args.runs for k, v in sorted(timer.totals.items(), key=lambda kv: -kv[1])}

        activities = [torch.profiler.ProfilerActivity.CPU]
        if cuda:
            activities.append(torch.profiler.ProfilerActivity.CUDA)
        with torch.profiler.profile(activities=activities, record_shapes=True) as prof:
            model(ids, mask, task_ids)
            sync()

    by_op = prof.key_averages()
    on_device = [e for e in by_op if str(getattr(e, "device_type", "")).endswith("CUDA")]  # kernels, memcpys
    # On a GPU both an operator and the kernels it launched carry its device time: count kernels once.
    total_self_s = sum(self_time_us(e, cuda) for e in (on_device if cuda else by_op)) / 1e6
    cpu_self_s = sum(e.self_cpu_time_total for e in by_op) / 1e6
    kernels = sum(e.count for e in on_device)
    tokens = int(mask.sum())
    report = {
        "engine": engine,
        "dtype": args.dtype,
        "threads": torch.get_num_threads(),
        "workload": args.workload,
        "batch_shape": list(ids.shape),
        "real_tokens": tokens,
        "forward_s": plain_s,
        "tokens_per_s": tokens / plain_s,
        "parts_s": parts,
        "parts_forward_s_with_hooks": hooked_s if parts else None,
        "device": args.device,
        "profiled_self_s": total_self_s,
        "profiled_self_cpu_s": cpu_self_s,
        "cuda_kernels_per_pass": kernels if cuda else None,
        "ops": operator_table(by_op, total_self_s, cuda)[: args.top],
        "ops_by_shape": operator_table(prof.key_averages(group_by_input_shape=True), total_self_s, cuda)[: args.top],
    }
    print(f"{engine} {args.dtype}, {args.workload} {list(ids.shape)}, {torch.get_num_threads()} threads: "
          f"{plain_s * 1e3:.2f} ms per pass, {tokens / plain_s:.0f} tokens/s", file=sys.stderr)
    if parts:
        total = sum(parts.values())
        print(f"\nparts (exclusive wall time, hooked pass {hooked_s * 1e3:.2f} ms):", file=sys.stderr)
        for name, seconds in parts.items():
            print(f"  {name:45s} {seconds * 1e3:10.2f} ms  {seconds / total * 100:5.1f}%", file=sys.stderr)
    print(f"\noperators (self {'GPU' if cuda else 'CPU'} time, profiled pass; {total_self_s:.4f} s in all; "
          f"CPU-side {cpu_self_s:.4f} s; {kernels} CUDA kernels):", file=sys.stderr)
    for row in report["ops"]:
        print(f"  {row['op'][:60]:60s} {row['calls']:6d} {row['self_s'] * 1e3:10.2f} ms  {row['share'] * 100:5.1f}%",
              file=sys.stderr)
    print("\nby input shape:", file=sys.stderr)
    for row in report["ops_by_shape"]:
        print(f"  {row['op'][:40]:40s} {row['calls']:6d} {row['self_s'] * 1e3:10.2f} ms  {row['share'] * 100:5.1f}%  "
              f"{row['shapes'][:100]}",
              file=sys.stderr)
    json.dump(report, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
