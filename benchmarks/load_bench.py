#!/usr/bin/python3
"""Serving benchmark from Python: closed-loop callers on one jina3.Encoder.

Each caller sends one short retrieval.query text, waits for its embedding and sends the next, for
a fixed window after a warm-up; req/s and latency percentiles count the requests that completed
inside the window. Modes:
  threads         N threading.Thread callers of encoder.encode() (which releases the GIL)
  asyncio         N asyncio tasks awaiting encoder.encode_async() on one event loop
  batched         the same first N queries in one encode() call (time, and req/s = N / time)
  bypass-threads  threads on a second encoder with use_scheduler=False (not run by default)
Encoder.stats() deltas over each window are reported beside the figures.

The query texts come from jina3_load_bench (the C++ load generator), so that both languages send
the same queries:
  build/benchmarks/jina3_load_bench --package PKG --emit-inputs queries.json --inputs-only
  PYTHONPATH=build/python /usr/bin/python3 benchmarks/load_bench.py --package PKG --queries queries.json
Prints one JSON document (stdout or --out); progress goes to stderr. benchmarks/serving.py runs it
beside jina3_load_bench; see benchmarks/README.md, "Serving".
"""

import argparse
import asyncio
import json
import os
import sys
import threading
import time
from pathlib import Path

from summary import percentile

ALL_MODES = ["threads", "asyncio", "batched", "bypass-threads"]
DEFAULT_MODES = ["threads", "asyncio", "batched"]


def log(message):
    print(f"load_bench.py: {message}", file=sys.stderr, flush=True)


def int_list(text):
    values = [int(v) for v in text.split(",") if v]
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected positive integers, comma-separated, got {text!r}")
    return values


def mode_list(text):
    modes = [m for m in text.split(",") if m]
    unknown = sorted(set(modes) - set(ALL_MODES))
    if unknown or not modes:
        raise argparse.ArgumentTypeError(f"unknown modes {unknown} (known: {', '.join(ALL_MODES)})")
    return modes


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--package", required=True, help="jina3 model package")
    p.add_argument("--queries", required=True, help="query texts: JSON written by jina3_load_bench --emit-inputs")
    p.add_argument("--device", default="cpu")
    p.add_argument("--callers", type=int_list, default=[1, 8, 60, 256], help="caller counts (default 1,8,60,256)")
    p.add_argument("--modes", type=mode_list, default=DEFAULT_MODES,
                   help=f"comma-separated, from {', '.join(ALL_MODES)} (default {','.join(DEFAULT_MODES)})")
    p.add_argument("--seconds", type=float, default=15.0, help="measurement window of each closed loop (default 15)")
    p.add_argument("--min-cycles", type=float, default=4.0,
                   help="each window lasts at least this many times the batched call of the same queries (default 4)")
    p.add_argument("--warmup-seconds", type=float, default=3.0,
                   help="warm-up before each window, longer until every caller has completed a request (default 3)")
    p.add_argument("--max-warmup-seconds", type=float, default=60.0, help="the window opens after this in any case")
    p.add_argument("--max-drain-seconds", type=float, default=300.0,
                   help="callers must finish their request in flight within this after a window (else exit 3)")
    p.add_argument("--batch-repeats", type=int, default=3, help="timed runs of each batched call (default 3)")
    p.add_argument("--threads", type=int, default=None, help="num_threads of the encoders (default: the library's)")
    p.add_argument("--max-wait-us", type=int, default=None, help="max_wait_us (default: the library's)")
    p.add_argument("--no-verify", action="store_true", help="skip the SHA-256 check of the package files at load")
    p.add_argument("--out", default="", help="write the JSON here instead of stdout")
    args = p.parse_args(argv)
    if args.seconds <= 0 or args.warmup_seconds < 0 or args.batch_repeats < 1:
        p.error("--seconds must be > 0, --warmup-seconds >= 0, --batch-repeats >= 1")
    return args


def latency_ms(seconds):
    ms = [s * 1e3 for s in seconds]
    return {"count": len(ms), "p50": percentile(ms, 50), "p90": percentile(ms, 90), "p99": percentile(ms, 99),
            "max": percentile(ms, 100), "mean": sum(ms) / len(ms) if ms else None}


# Counters that hold a level (now, or the largest seen) rather than a running total: reported as they
# stand at the later snapshot (as jina3_load_bench does).
LEVELS = ("queue_depth", "max_queue_depth", "cache_bytes", "cache_entries")


def stats_delta(before, after):
    """What the encoder did between two stats() snapshots: every counter, then the figures that explain
    a result (the same as jina3_load_bench's)."""
    # The flat counters only: "lanes" (per-lane counters and histograms) is reported as it stands.
    d = {k: after[k] if k in LEVELS or not isinstance(after[k], int) else max(after[k] - before[k], 0)
         for k in after}

    def per(x, n, scale=1):
        return d[x] / (d[n] * scale) if d[n] else None

    return {**d, "rows_per_pass": per("rows", "passes"), "tokens_per_pass": per("tokens", "passes"),
            "padded_per_real_token": per("padded_tokens", "tokens"),
            "queue_wait_ms_per_request": per("queue_wait_us", "requests", 1000),
            "pass_ms": per("pass_us", "passes", 1000)}


class Loop:
    """What the thread and asyncio closed loops share: each caller's completions and error, the
    window's edges and the encoder's stats at them, and the figures made of them."""

    def __init__(self, callers, timing):
        self.callers, self.timing = callers, timing
        self.completions = [[] for _ in range(callers)]
        self.errors = [None] * callers
        self.origin = time.perf_counter()

    def served(self, c, sent, rows, call):
        """Records caller c's request, sent at `sent`, that returned `rows` rows (1, or it raises)."""
        if rows != 1:
            raise RuntimeError(f"{call} returned {rows} rows for 1 text")
        done = time.perf_counter()
        self.completions[c].append((done, done - sent))

    def failed(self, c, e):
        self.errors[c] = f"{type(e).__name__}: {e}"

    def warming_up(self):
        """Until the warm-up has lasted long enough and every caller has had a reply, at most
        max_warmup_s; a failed caller ends it at once."""
        elapsed = time.perf_counter() - self.origin
        warm = elapsed >= self.timing.warmup_s and all(self.completions)
        return not (warm or elapsed >= self.timing.max_warmup_s or any(self.errors))

    def open_window(self, encoder):
        self.steady = all(self.completions)
        self.warmup_end = time.perf_counter()
        self.before = encoder.stats()

    def close_window(self, encoder):
        self.window_end = time.perf_counter()
        self.after = encoder.stats()

    def give_up(self, what):
        log(f"{self.callers} {what} did not finish within {self.timing.max_drain_s:.0f} s of the window; giving up")
        sys.stderr.flush()
        os._exit(3)

    def result(self):
        """The closed-loop figures, counting requests that completed inside [warmup_end, window_end].

        requests_per_s is the sum of each caller's completion rate inside the window, as
        jina3_load_bench computes it: merged passes complete their callers in bursts, so a count over a
        window of a few passes is off by up to one burst, while each caller completes one request per
        cycle whatever the window's edges cut. It needs two completions per caller; otherwise, and
        beside it, the window count."""
        drain_s = time.perf_counter() - self.window_end
        window, rate, every_caller_twice = [], 0.0, True
        for mine in self.completions:
            inside = [(end, lat) for end, lat in mine if self.warmup_end <= end <= self.window_end]
            window += [lat for _, lat in inside]
            if len(inside) >= 2 and inside[-1][0] > inside[0][0]:
                rate += (len(inside) - 1) / (inside[-1][0] - inside[0][0])
            else:
                every_caller_twice = False
        window_s = self.window_end - self.warmup_end
        window_rate = len(window) / window_s if window_s > 0 else None
        return {"callers": self.callers, "window_s": window_s, "completed": len(window),
                "requests_per_s": rate if every_caller_twice else window_rate,
                "rate_method": "per-caller cycles" if every_caller_twice else "window count",
                "requests_per_s_window": window_rate, "latency_ms": latency_ms(window),
                "warmup_s": self.warmup_end - self.origin, "steady_at_window_start": self.steady,
                "drain_s": drain_s, "completed_total": sum(len(m) for m in self.completions),
                "errors": [f"caller {c}: {e}" for c, e in enumerate(self.errors) if e],
                "stats": stats_delta(self.before, self.after)}


class Timing:
    def __init__(self, args, cycle_s=None):
        # The window holds at least --min-cycles times the batched call of the same queries (about
        # one cycle of the loop), when that call was measured.
        self.seconds = max(args.seconds, args.min_cycles * cycle_s) if cycle_s else args.seconds
        self.warmup_s = args.warmup_seconds
        self.max_warmup_s = max(args.max_warmup_seconds, args.warmup_seconds)
        self.max_drain_s = args.max_drain_seconds


def query_for(queries, caller, k, callers):
    """Caller c sends queries c, c + callers, c + 2 callers, ... (as jina3_load_bench's callers do)."""
    return queries[(caller + k * callers) % len(queries)]


def threads_loop(encoder, queries, task, callers, timing):
    start = threading.Event()
    stop = threading.Event()
    loop = Loop(callers, timing)

    def caller(c):
        start.wait()
        k = 0
        while not stop.is_set():
            sent = time.perf_counter()
            try:
                loop.served(c, sent, encoder.encode([query_for(queries, c, k, callers)], task=task).shape[0], "encode")
            except Exception as e:  # recorded and reported; the caller stops
                loop.failed(c, e)
                return
            k += 1

    threads = [threading.Thread(target=caller, args=(c,), daemon=True) for c in range(callers)]
    for t in threads:
        t.start()
    loop.origin = time.perf_counter()
    start.set()
    while loop.warming_up():
        time.sleep(0.005)
    loop.open_window(encoder)
    time.sleep(timing.seconds)
    loop.close_window(encoder)
    stop.set()
    for t in threads:
        t.join(max(0.0, loop.window_end + timing.max_drain_s - time.perf_counter()))
    if any(t.is_alive() for t in threads):
        loop.give_up("threads")
    return loop.result()


async def asyncio_loop(encoder, queries, task, callers, timing):
    stop = False
    loop = Loop(callers, timing)

    async def caller(c):
        k = 0
        while not stop:
            sent = time.perf_counter()
            try:
                rows = (await encoder.encode_async([query_for(queries, c, k, callers)], task=task)).shape[0]
                loop.served(c, sent, rows, "encode_async")
            except Exception as e:  # recorded and reported; the caller stops
                loop.failed(c, e)
                return
            k += 1

    tasks = [asyncio.ensure_future(caller(c)) for c in range(callers)]
    while loop.warming_up():
        await asyncio.sleep(0.005)
    loop.open_window(encoder)
    await asyncio.sleep(timing.seconds)
    loop.close_window(encoder)
    stop = True
    try:
        await asyncio.wait_for(asyncio.gather(*tasks), timing.max_drain_s)
    except asyncio.TimeoutError:
        loop.give_up("asyncio callers")
    return loop.result()


def batched_call(encoder, queries, task, n, repeats):
    texts = [queries[i % len(queries)] for i in range(n)]
    encoder.encode(texts, task=task)  # untimed first run
    before = encoder.stats()
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        rows = encoder.encode(texts, task=task).shape[0]
        runs.append(time.perf_counter() - start)
        if rows != n:
            raise RuntimeError(f"encode returned {rows} rows for {n} texts")
    after = encoder.stats()
    median = percentile(runs, 50)
    return {"callers": n, "texts": n, "median_s": median, "requests_per_s": n / median, "runs_s": runs,
            "stats": stats_delta(before, after)}


def report(label, r):
    lat = r["latency_ms"]
    fmt = lambda v: "n/a" if v is None else f"{v:.1f}"  # noqa: E731
    log(f"{label:<14} {r['callers']:>4} callers: {r['requests_per_s'] or 0:8.2f} req/s, p50 {fmt(lat['p50'])} ms, "
        f"p99 {fmt(lat['p99'])} ms ({r['completed']} requests in {r['window_s']:.1f} s"
        f"{', %d callers failed' % len(r['errors']) if r['errors'] else ''})")


def load(jina3, args, **extra):
    options = {"verify_checksums": not args.no_verify}
    if args.threads is not None:
        options["num_threads"] = args.threads
    if args.max_wait_us is not None:
        options["max_wait_us"] = args.max_wait_us
    options.update(extra)
    log(f"loading {args.package} with {options}")
    start = time.perf_counter()
    encoder = jina3.Encoder(args.package, args.device, **options)
    return encoder, {"options": {k: v for k, v in options.items() if k != "verify_checksums"},
                     "load_s": time.perf_counter() - start}


def main(argv=None):
    args = parse_args(argv)
    import jina3

    inputs = json.loads(Path(args.queries).read_text())
    queries, task = inputs["queries"], inputs["task"]
    if not queries:
        raise SystemExit("load_bench.py: the query file has no queries")
    timing = Timing(args)
    cycles = {}  # callers -> the batched call's time
    doc = {"tool": "load_bench.py", "jina3_version": jina3.__version__, "python": sys.version.split()[0],
           "package": str(args.package), "queries": {"file": str(args.queries), "pool": len(queries), "task": task},
           "settings": {"callers": args.callers, "modes": args.modes, "seconds": args.seconds,
                        "min_cycles": args.min_cycles, "warmup_seconds": args.warmup_seconds,
                        "max_warmup_seconds": timing.max_warmup_s,
                        "batch_repeats": args.batch_repeats},
           "encoders": {}, "closed_loop": {}, "batched": []}
    failed = False

    def closed_loops(key, label, run_loop, encoder):
        """One closed loop per caller count, into doc["closed_loop"][key]; True if a caller failed."""
        results = doc["closed_loop"][key] = []
        for n in args.callers:
            results.append(run_loop(encoder, queries, task, n, Timing(args, cycles.get(n))))
            report(label, results[-1])
        return any(r["errors"] for r in results)

    encoder, doc["encoders"]["scheduler"] = load(jina3, args)
    if "batched" in args.modes:
        for n in args.callers:
            r = batched_call(encoder, queries, task, n, args.batch_repeats)
            log(f"batched        {n:>4} queries in one call: {r['median_s'] * 1e3:.1f} ms, "
                f"{r['requests_per_s']:.2f} req/s")
            doc["batched"].append(r)
            cycles[n] = r["median_s"]
    if "threads" in args.modes:
        failed |= closed_loops("python-threads", "python-threads", threads_loop, encoder)
    if "asyncio" in args.modes:
        failed |= closed_loops("python-asyncio", "python-asyncio", lambda *a: asyncio.run(asyncio_loop(*a)), encoder)
    del encoder
    if "bypass-threads" in args.modes:
        bypass, doc["encoders"]["bypass"] = load(jina3, args, use_scheduler=False)
        failed |= closed_loops("python-bypass-threads", "python-bypass", threads_loop, bypass)
        del bypass
    text = json.dumps(doc, indent=1)
    if args.out:
        Path(args.out).write_text(text + "\n")
    else:
        print(text)
    if failed:
        log('some requests failed (see "errors" in the report)')
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
