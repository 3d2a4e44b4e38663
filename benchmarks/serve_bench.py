#!/usr/bin/python3
"""`jina3 serve` against jina3 in-process: the Benchmark table of issue 16.

Parts (--parts, comma-separated; default all):
  closed       60 keep-alive HTTP clients, one short retrieval.query each at a time, for --seconds,
               against 60 in-process threads calling Encoder.encode() on the same queries (req/s,
               p50, p99; targets: req/s >= 0.85x, p99 <= 1.25x in-process)
  single       1 client against 1 in-process caller (p50; target: <= in-process p50 + 2 ms)
  mixed        open-loop interactive queries at 50% of the closed-loop HTTP capacity, alone, then
               beside one client streaming --bulk-passages passages with priority bulk, then the
               same with everything interactive (no lanes); bulk also alone (interactive p99 <=
               3x alone; bulk >= 35% of its solo passages/s)
  connections  --connections idle connections open, then fresh requests (one new connection
               each): errors, refused connections, p99
The HTTP client is Python asyncio on raw sockets (HTTP/1.1 keep-alive), in this process; the
server is `jina3 serve PACKAGE` started here with default options (--threads etc. as given).
The in-process figures come from the Python module in this process. The in-process encoder and
the server are both loaded, and measured in alternating windows (--rounds of each, order swapped
every round), never at once, so that a change in the machine's load falls on both alike; the
figures pool the rounds, which are also listed.

  PYTHONPATH=build/python /usr/bin/python3 benchmarks/serve_bench.py --cli build/cli/jina3 \\
      --package build/testdata/package-float32 --out benchmarks/results/serve-....json

Prints one JSON document (stdout or --out); progress on stderr. See benchmarks/README.md, "HTTP
server".
"""

import argparse
import asyncio
import json
import os
import platform
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from summary import percentile  # noqa: E402

ALL_PARTS = ["closed", "single", "mixed", "connections"]


def log(message):
    print(f"serve_bench.py: {message}", file=sys.stderr, flush=True)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cli", required=True, help="the jina3 executable")
    p.add_argument("--package", required=True, help="jina3 model package")
    p.add_argument("--parts", default=",".join(ALL_PARTS), help="closed,single,mixed,connections")
    p.add_argument("--clients", type=int, default=60)
    p.add_argument("--rounds", type=int, default=2, help="alternating in-process/HTTP windows of each kind")
    p.add_argument("--seconds", type=float, default=20.0, help="measured window of each closed-loop run")
    p.add_argument("--warmup-seconds", type=float, default=3.0)
    p.add_argument("--single-requests", type=int, default=200)
    p.add_argument("--mixed-seconds", type=float, default=20.0)
    p.add_argument("--bulk-passages", type=int, default=2000)
    p.add_argument("--bulk-batch", type=int, default=32, help="passages per bulk request")
    p.add_argument("--connections", type=int, default=1024)
    p.add_argument("--fresh-requests", type=int, default=100)
    p.add_argument("--serve-arg", action="append", default=[], help="extra `jina3 serve` argument (repeatable)")
    p.add_argument("--out", default="")
    p.add_argument("--note", action="append", default=[])
    return p.parse_args(argv)


# ---- inputs ----------------------------------------------------------------------------------

SUBJECTS = ["capital", "population", "history", "climate", "economy", "language", "currency", "geography",
            "cuisine", "government", "music", "sports", "architecture", "education", "religion", "transport"]
PLACES = ["France", "Germany", "Japan", "Brazil", "Kenya", "Canada", "India", "Norway", "Chile", "Egypt",
          "Vietnam", "Mexico", "Poland", "Peru", "Ghana", "Spain", "Italy", "Korea", "Nepal", "Cuba"]


def queries(n=4000, seed=0):
    rng = random.Random(seed)
    return [f"what is the {rng.choice(SUBJECTS)} of {rng.choice(PLACES)} like in {1800 + rng.randrange(225)}?"
            for _ in range(n)]


def passages(n, seed=1):
    rng = random.Random(seed)
    words = [w.lower() for w in SUBJECTS + PLACES] + ["the", "of", "and", "in", "is", "a", "was", "by", "with"]
    return [" ".join(rng.choice(words) for _ in range(rng.randrange(60, 160))) + f" ({i})" for i in range(n)]


def latency_summary(seconds):
    ms = [s * 1000 for s in seconds]
    return {"p50": percentile(ms, 50), "p90": percentile(ms, 90), "p99": percentile(ms, 99),
            "max": max(ms) if ms else None}


# ---- in-process ------------------------------------------------------------------------------

def in_process_closed(encoder, texts, callers, seconds, warmup):
    stop = threading.Event()
    measuring = threading.Event()
    lock = threading.Lock()
    latencies = []

    def caller(c):
        k = 0
        while not stop.is_set():
            sent = time.perf_counter()
            encoder.encode([texts[(c + k * callers) % len(texts)]], task="retrieval.query")
            done = time.perf_counter()
            if measuring.is_set():
                with lock:
                    latencies.append(done - sent)
            k += 1

    threads = [threading.Thread(target=caller, args=(c,), daemon=True) for c in range(callers)]
    for t in threads:
        t.start()
    time.sleep(warmup)
    measuring.set()
    start = time.perf_counter()
    time.sleep(seconds)
    measuring.clear()
    window = time.perf_counter() - start
    stop.set()
    for t in threads:
        t.join(60)
    return {"callers": callers, "completed": len(latencies), "window_s": window,
            "requests_per_s": len(latencies) / window, "latency_ms": latency_summary(latencies),
            "_latencies_ms": [x * 1000 for x in latencies]}


def in_process_single(encoder, texts, n):
    latencies = []
    for i in range(n + 10):
        sent = time.perf_counter()
        encoder.encode([texts[i % len(texts)]], task="retrieval.query")
        if i >= 10:
            latencies.append(time.perf_counter() - sent)
    return {"requests": n, "latency_ms": latency_summary(latencies), "_latencies": latencies}


# ---- HTTP client -----------------------------------------------------------------------------

class Connection:
    def __init__(self, reader, writer):
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return cls(reader, writer)

    async def post(self, path, body, headers=b""):
        data = json.dumps(body).encode()
        self.writer.write(b"POST %s HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n%s"
                          b"Content-Length: %d\r\n\r\n" % (path.encode(), headers, len(data)) + data)
        await self.writer.drain()
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = 0
        for line in head.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        payload = await self.reader.readexactly(length)
        return status, payload

    def close(self):
        self.writer.close()


async def http_closed(port, texts, clients, seconds, warmup):
    conns = [await Connection.open(port) for _ in range(clients)]
    state = {"measuring": False, "stop": False}
    latencies, errors = [], []

    async def client(c, conn):
        k = 0
        while not state["stop"]:
            sent = time.perf_counter()
            status, _ = await conn.post("/v1/embeddings", {"input": texts[(c + k * clients) % len(texts)],
                                                            "task": "retrieval.query"})
            done = time.perf_counter()
            if state["measuring"]:
                (latencies if status == 200 else errors).append(done - sent if status == 200 else status)
            k += 1

    tasks = [asyncio.ensure_future(client(c, conn)) for c, conn in enumerate(conns)]
    await asyncio.sleep(warmup)
    state["measuring"] = True
    start = time.perf_counter()
    await asyncio.sleep(seconds)
    state["measuring"] = False
    window = time.perf_counter() - start
    state["stop"] = True
    await asyncio.gather(*tasks)
    for conn in conns:
        conn.close()
    return {"clients": clients, "completed": len(latencies), "errors": len(errors), "window_s": window,
            "requests_per_s": len(latencies) / window, "latency_ms": latency_summary(latencies),
            "_latencies_ms": [x * 1000 for x in latencies]}


async def http_single(port, texts, n):
    conn = await Connection.open(port)
    latencies = []
    for i in range(n + 10):
        sent = time.perf_counter()
        status, _ = await conn.post("/v1/embeddings", {"input": texts[i % len(texts)], "task": "retrieval.query"})
        assert status == 200
        if i >= 10:
            latencies.append(time.perf_counter() - sent)
    conn.close()
    return {"requests": n, "latency_ms": latency_summary(latencies), "_latencies": latencies}


async def open_loop(port, texts, rate, seconds, priority=b""):
    """Interactive queries at rate req/s (evenly spaced), each on a pooled keep-alive connection."""
    idle = []
    latencies, errors = [], []

    async def one(i, scheduled):
        conn = idle.pop() if idle else await Connection.open(port)
        status, _ = await conn.post("/v1/embeddings", {"input": texts[i % len(texts)], "task": "retrieval.query"},
                                    priority)
        (latencies if status == 200 else errors).append(time.perf_counter() - scheduled if status == 200 else status)
        idle.append(conn)

    start = time.perf_counter()
    tasks = []
    i = 0
    while True:
        scheduled = start + i / rate
        if scheduled - start >= seconds:
            break
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.ensure_future(one(i, scheduled)))
        i += 1
    await asyncio.gather(*tasks)
    for conn in idle:
        conn.close()
    return {"rate_req_s": rate, "sent": i, "completed": len(latencies), "errors": len(errors),
            "latency_ms": latency_summary(latencies)}


async def bulk_stream(port, docs, batch, priority, stop_when=None):
    """One client sending docs in requests of batch passages, one at a time."""
    conn = await Connection.open(port)
    start = time.perf_counter()
    sent = 0
    for i in range(0, len(docs), batch):
        status, _ = await conn.post("/v1/embeddings", {"input": docs[i:i + batch], "task": "retrieval.passage",
                                                        "priority": priority})
        assert status == 200, status
        sent += len(docs[i:i + batch])
        if stop_when is not None and stop_when():
            break
    elapsed = time.perf_counter() - start
    conn.close()
    return {"passages": sent, "seconds": elapsed, "passages_per_s": sent / elapsed}


async def mixed(port, texts, docs, capacity, args):
    rate = capacity * 0.5
    log(f"mixed: interactive alone at {rate:.1f} req/s")
    alone = await open_loop(port, texts, rate, args.mixed_seconds)
    log("mixed: bulk alone")
    bulk_alone = await bulk_stream(port, docs, args.bulk_batch, "bulk")
    results = {"interactive_alone": alone, "bulk_alone": bulk_alone}
    for label, priority in (("with_lanes", "bulk"), ("without_lanes", "interactive")):
        log(f"mixed: interactive beside bulk ({label})")
        done = {"flag": False}
        bulk = asyncio.ensure_future(bulk_stream(port, docs, args.bulk_batch, priority, lambda: done["flag"]))
        interactive = await open_loop(port, texts, rate, args.mixed_seconds)
        done["flag"] = True
        bulk_result = await bulk
        results[label] = {"interactive": interactive, "bulk": bulk_result}
    lanes = results["with_lanes"]
    results["interactive_p99_ratio"] = lanes["interactive"]["latency_ms"]["p99"] / alone["latency_ms"]["p99"]
    results["bulk_share_of_solo"] = lanes["bulk"]["passages_per_s"] / bulk_alone["passages_per_s"]
    nolanes = results["without_lanes"]
    results["without_lanes_interactive_p99_ratio"] = (nolanes["interactive"]["latency_ms"]["p99"] /
                                                      alone["latency_ms"]["p99"])
    results["without_lanes_bulk_share_of_solo"] = nolanes["bulk"]["passages_per_s"] / bulk_alone["passages_per_s"]
    return results


async def connections(port, texts, n, fresh):
    idle, refused = [], 0
    for _ in range(n):
        try:
            idle.append(await Connection.open(port))
        except OSError:
            refused += 1
    latencies, errors = [], 0
    for i in range(fresh):
        sent = time.perf_counter()
        try:
            conn = await Connection.open(port)
            status, _ = await asyncio.wait_for(conn.post("/v1/embeddings", {"input": texts[i % len(texts)]}), 30)
            conn.close()
            if status == 200:
                latencies.append(time.perf_counter() - sent)
            else:
                errors += 1
        except (OSError, asyncio.TimeoutError):
            errors += 1
    # the idle ones still work
    still, idle_errors = 0, 0
    for conn in idle[:64]:
        try:
            status, _ = await asyncio.wait_for(conn.post("/v1/embeddings", {"input": "still here"}), 30)
            still += status == 200
        except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError):
            idle_errors += 1
    for conn in idle:
        conn.close()
    return {"connections": n, "refused": refused, "fresh_requests": fresh, "fresh_errors": errors,
            "fresh_latency_ms": latency_summary(latencies), "idle_checked": 64, "idle_answered": still,
            "idle_errors": idle_errors}


# ---- the server --------------------------------------------------------------------------------

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(args):
    port = free_port()
    command = [args.cli, "serve", args.package, "--port", str(port), "--quiet", "--max-inputs", "4096",
               *args.serve_arg]
    log("starting " + " ".join(command))
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    import http.client
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"jina3 serve exited with {process.returncode}")
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            c.request("GET", "/ready")
            if c.getresponse().status == 200:
                return process, port
        except OSError:
            pass
        time.sleep(0.1)
    process.kill()
    raise SystemExit("jina3 serve did not become ready")


STAT_KEYS = ["requests", "rows", "passes", "tokens", "padded_tokens", "pass_us", "queue_wait_us"]


def server_counters(port):
    import http.client
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    c.request("GET", "/metrics")
    text = c.getresponse().read().decode()
    values = {}
    for line in text.splitlines():
        for key in STAT_KEYS:
            if line.startswith(f"jina3_{key}_total "):
                values[key] = int(float(line.split()[1]))
    return values


def delta(before, after):
    d = {k: after[k] - before[k] for k in STAT_KEYS}
    d["rows_per_pass"] = d["rows"] / d["passes"] if d["passes"] else None
    d["ms_per_pass"] = d["pass_us"] / d["passes"] / 1000 if d["passes"] else None
    return d


def pooled(runs, clients_key):
    """One figure from several windows: completions over the summed windows, percentiles of all."""
    completed = sum(r["completed"] for r in runs)
    window = sum(r["window_s"] for r in runs)
    latencies = [ms / 1000 for r in runs for ms in r.pop("_latencies_ms")]
    return {clients_key: runs[0][clients_key], "completed": completed, "window_s": window,
            "requests_per_s": completed / window, "latency_ms": latency_summary(latencies), "rounds": runs}


def main(argv=None):
    args = parse_args(argv)
    parts = [p for p in args.parts.split(",") if p]
    texts = queries()
    docs = passages(args.bulk_passages)
    doc = {"benchmark": "serve_bench", "date": time.strftime("%Y-%m-%d"), "host": platform.node(),
           "cpus": os.cpu_count(), "package": args.package, "serve_args": args.serve_arg, "notes": args.note,
           "parts": parts, "rounds": args.rounds}
    try:
        doc["cpu_model"] = next(l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    load_before = os.getloadavg()

    # Both loaded at once, measured in alternating windows (in-process, HTTP, HTTP, in-process, ...),
    # so that a change in the machine's load during the run falls on both alike.
    encoder = None
    if "closed" in parts or "single" in parts:
        import jina3
        encoder = jina3.Encoder(args.package)
        encoder.encode(["warm-up"], task="retrieval.query")
    process, port = start_server(args)
    try:
        if "closed" in parts:
            runs = {"in_process": [], "http": []}
            for r in range(args.rounds):
                order = ["in_process", "http"] if r % 2 == 0 else ["http", "in_process"]
                for kind in order:
                    log(f"closed loop, round {r + 1}/{args.rounds}: {kind}, {args.clients} callers, {args.seconds} s")
                    if kind == "in_process":
                        before = {k: encoder.stats()[k] for k in STAT_KEYS}
                        result = in_process_closed(encoder, texts, args.clients, args.seconds, args.warmup_seconds)
                        result["stats"] = delta(before, {k: encoder.stats()[k] for k in STAT_KEYS})
                    else:
                        before = server_counters(port)
                        result = asyncio.run(http_closed(port, texts, args.clients, args.seconds, args.warmup_seconds))
                        result["stats"] = delta(before, server_counters(port))
                    log(f"  {result['requests_per_s']:.2f} req/s, p99 {result['latency_ms']['p99']:.0f} ms, "
                        f"{result['stats']['rows_per_pass'] or 0:.1f} rows/pass, "
                        f"{result['stats']['ms_per_pass'] or 0:.0f} ms/pass (warm-up and drain included)")
                    runs[kind].append(result)
            doc["in_process_closed"] = pooled(runs["in_process"], "callers")
            doc["http_closed"] = pooled(runs["http"], "clients")
            a, b = doc["http_closed"], doc["in_process_closed"]
            doc["closed_ratios"] = {"req_s": a["requests_per_s"] / b["requests_per_s"],
                                    "p99": a["latency_ms"]["p99"] / b["latency_ms"]["p99"],
                                    "per_round_req_s": [h["requests_per_s"] / i["requests_per_s"]
                                                        for h, i in zip(runs["http"], runs["in_process"])]}
        if "single" in parts:
            per_round = max(1, args.single_requests // args.rounds)
            single = {"in_process": [], "http": []}
            for r in range(args.rounds):
                log(f"1 caller, round {r + 1}/{args.rounds}")
                single["in_process"] += in_process_single(encoder, texts, per_round)["_latencies"]
                single["http"] += asyncio.run(http_single(port, texts, per_round))["_latencies"]
            doc["in_process_single"] = {"requests": len(single["in_process"]),
                                        "latency_ms": latency_summary(single["in_process"])}
            doc["http_single"] = {"requests": len(single["http"]), "latency_ms": latency_summary(single["http"])}
            doc["single_p50_delta_ms"] = (doc["http_single"]["latency_ms"]["p50"] -
                                          doc["in_process_single"]["latency_ms"]["p50"])
        del encoder
        if "mixed" in parts:
            capacity = doc.get("http_closed", {}).get("requests_per_s")
            if capacity is None:
                log("mixed: measuring the query capacity (60 clients, 10 s)")
                capacity = asyncio.run(http_closed(port, texts, args.clients, 10, 2))["requests_per_s"]
            doc["mixed"] = asyncio.run(mixed(port, texts, docs, capacity, args))
        if "connections" in parts:
            log(f"http: {args.connections} idle connections + {args.fresh_requests} fresh requests")
            doc["connections"] = asyncio.run(connections(port, texts, args.connections, args.fresh_requests))
    finally:
        process.send_signal(signal.SIGTERM)
        doc["server_exit_code"] = process.wait(120)
    doc["load_average_before_after"] = [load_before, os.getloadavg()]

    text = json.dumps(doc, indent=2)
    if args.out:
        Path(args.out).write_text(text + "\n")
        log(f"wrote {args.out}")
    else:
        print(text)


if __name__ == "__main__":
    main()
