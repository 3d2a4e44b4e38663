"""Measures the matrix-product ceiling of this machine with torch, for benchmarks/run.py.

Per dtype: a 512x1024 @ 1024x4096 product (the shape of an fc1 layer on 512 tokens) and, on a GPU,
also 8192^3 (one small product cannot fill a GPU), each the best of several timed runs after
warm-up. Prints JSON: {"float32": {"gflops": best over shapes, "shapes": {...}}, ...}.
"""

import argparse
import json
import sys
import time

import torch


def best_seconds(fn, repeats, sync):
    for _ in range(3):
        fn()
    sync()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        sync()
        best = min(best, time.perf_counter() - start)
    return best


def measure(shape, dtype, device, repeats, sync):
    m, k, n = shape
    a = torch.randn(m, k, device=device).to(dtype)
    b = torch.randn(k, n, device=device).to(dtype)
    # On a GPU one product takes microseconds: time a chain so launch overhead does not count.
    chain = 20 if device.type == "cuda" else 1

    def product():
        for _ in range(chain):
            torch.matmul(a, b)

    seconds = best_seconds(product, repeats, sync) / chain
    return 2.0 * m * k * n / seconds / 1e9


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0: leave as is)")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--dtypes", default="float32,bfloat16")
    args = parser.parse_args()

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    shapes = [(512, 1024, 4096)] + ([(8192, 8192, 8192)] if device.type == "cuda" else [])
    result = {"torch_version": torch.__version__, "threads": torch.get_num_threads(), "device": args.device}
    if device.type == "cuda":
        result["device_name"] = torch.cuda.get_device_name(device)
    for name in args.dtypes.split(","):
        dtype = getattr(torch, name)
        per_shape = {"x".join(map(str, s)): measure(s, dtype, device, args.repeats, sync) for s in shapes}
        result[name] = {"gflops": max(per_shape.values()), "shapes": per_shape}
        print(f"gemm_bound: {name}: " + ", ".join(f"{k} {v:.0f} GFLOP/s" for k, v in per_shape.items()),
              file=sys.stderr)
    json.dump(result, sys.stdout)
    print()


if __name__ == "__main__":
    main()
