"""Builds (Rust, Go) and runs one example program, then checks what it prints against the Python
module: every vector within 1e-5 of jina3.Encoder's, the ranking in the same order, the scores
within 1e-5. The Rust and Go examples also serve their texts to several threads (goroutines) at
once through jina3_encoder_submit: their "concurrent:" line must report at least two requests whose
results are within 1e-6 of the synchronous ones.

    run_example.py --lang {c,cpp,python,rust,go} --package DIR --work DIR [--program CMD...]
                   [--source-dir DIR] [--lib-dir DIR] [--pkg-config-dir DIR] [--cargo P] [--rustc P] [--go P]

Exit status 0: pass; 1: failure; 77: the language's toolchain is not installed (ctest: skipped).
"""
import argparse
import os
import re
import shutil
import subprocess
import sys

import numpy as np

SKIP = 77
TOLERANCE = 1e-5

# One query and passages that exercise UTF-8 across the FFI boundary (accents, CJK, emoji).
QUERY = "What is the capital of France?"
PASSAGES = [
    "Paris is the capital and largest city of France.",
    "Berlin ist die Hauptstadt von Deutschland.",
    "東京は日本の首都です。",
    "The Eiffel Tower 🗼 was completed in 1889; café, naïve.",
]

VECTOR_LINE = re.compile(r"^vector (query|passage) (\d+) (.+)$")
RANK_LINE = re.compile(r"^rank (\d+): (-?[0-9.]+) passage\[(\d+)\] (.*)$")
CONCURRENT_LINE = re.compile(
    r"^concurrent: (\d+) requests from (\d+) (?:threads|goroutines), max \|diff\| (\S+) to the synchronous results$")
CONCURRENT_LANGUAGES = {"rust", "go"}
CONCURRENT_TOLERANCE = 1e-6


def fail(message):
    print(f"FAIL: {message}")
    sys.exit(1)


# Build tools that must not get the ASan runtime that tests/CMakeLists.txt preloads under
# JINA3_SANITIZE=address (rustup's rustc crashes with it); the programs they build keep it.
TOOLCHAIN = {"cargo", "rustc", "go"}


def run(command, **kwargs):
    print("$ " + " ".join(command), flush=True)
    if os.path.basename(command[0]) in TOOLCHAIN:
        env = dict(kwargs.pop("env", None) or os.environ)
        env.pop("LD_PRELOAD", None)
        kwargs["env"] = env
    result = subprocess.run(command, capture_output=True, text=True, **kwargs)
    if result.returncode != 0:
        print(result.stdout)
        print(result.stderr)
        fail(f"{command[0]} exited with {result.returncode}")
    return result


def build_rust(args):
    """cargo if present (Debian's cargo or rustup's), else rustc alone; both offline. The example
    uses the jina3 crate by path (../../rust/jina3), so both folders are copied with that layout."""
    cargo, rustc = args.cargo, args.rustc
    out_dir = args.work
    env = dict(os.environ, JINA3_LIB_DIR=args.lib_dir)
    if cargo:
        # Built from a copy so that cargo writes Cargo.lock and target/ outside the source tree.
        copy = os.path.join(out_dir, "src-copy")
        shutil.rmtree(copy, ignore_errors=True)
        for folder in ("examples/rust", "rust"):
            shutil.copytree(os.path.join(args.source_dir, folder), os.path.join(copy, folder),
                            ignore=shutil.ignore_patterns("target", "Cargo.lock"))
        env["CARGO_TARGET_DIR"] = os.path.join(out_dir, "target")
        if rustc:
            env["RUSTC"] = rustc  # the rustc CMake found next to this cargo, not whichever is first on PATH
        run([cargo, "build", "--release", "--offline", "--quiet", "--manifest-path",
             os.path.join(copy, "examples", "rust", "Cargo.toml")], env=env)
        return [os.path.join(out_dir, "target", "release", "jina3_example_rust")]
    if rustc:
        program = os.path.join(out_dir, "jina3_example_rust")
        run([rustc, "--edition", "2021", "-O", "--crate-name", "jina3_example_rust",
             *rustc_crates(rustc, args.source_dir, args.lib_dir, out_dir, env),
             "-C", f"link-arg=-Wl,-rpath,{args.lib_dir}", "-o", program,
             os.path.join(args.source_dir, "examples", "rust", "src", "main.rs")], env=env)
        return [program]
    print("SKIP: neither cargo nor rustc is installed (Debian: apt-get install rustc cargo)")
    sys.exit(SKIP)


def rustc_crates(rustc, source_dir, lib_dir, out_dir, env):
    """Without cargo: builds rust/jina3-sys and rust/jina3 as rlibs in out_dir, as cargo would, and
    returns the rustc arguments that let a program use the jina3 crate."""
    os.makedirs(out_dir, exist_ok=True)
    crates = os.path.join(source_dir, "rust")
    link = ["-L", f"native={lib_dir}", "-L", out_dir]
    run([rustc, "--edition", "2021", "-O", "--crate-type", "rlib", "--crate-name", "jina3_sys", *link,
         "-l", "dylib=jina3", "--out-dir", out_dir, os.path.join(crates, "jina3-sys", "src", "lib.rs")], env=env)
    run([rustc, "--edition", "2021", "-O", "--crate-type", "rlib", "--crate-name", "jina3", *link,
         "--extern", f"jina3_sys={os.path.join(out_dir, 'libjina3_sys.rlib')}", "--out-dir", out_dir,
         os.path.join(crates, "jina3", "src", "lib.rs")], env=env)
    return [*link, "--extern", f"jina3={os.path.join(out_dir, 'libjina3.rlib')}"]


def build_go(args):
    go = args.go
    if not go:
        print("SKIP: go is not installed (Debian: apt-get install golang-go)")
        sys.exit(SKIP)
    out_dir = args.work
    os.makedirs(out_dir, exist_ok=True)
    program = os.path.join(out_dir, "jina3_example_go")
    run([go, "build", "-o", program, "."], cwd=os.path.join(args.source_dir, "examples", "go"),
        env=go_environment(out_dir, args.pkg_config_dir))
    return [program]


def go_environment(out_dir, pkg_config_dir):
    """An offline, self-contained Go build: caches under out_dir, no module proxy, cgo on, and
    jina3.pc found in pkg_config_dir."""
    return dict(os.environ,
                GOCACHE=os.path.join(out_dir, "cache"), GOPATH=os.path.join(out_dir, "gopath"),
                GOFLAGS="", GOPROXY="off", GOTOOLCHAIN="local", GO111MODULE="on", CGO_ENABLED="1",
                PKG_CONFIG_PATH=pkg_config_dir)


def parse(stdout, passages):
    vectors = {"query": {}, "passage": {}}
    ranks = []
    for line in stdout.splitlines():
        if m := VECTOR_LINE.match(line):
            vectors[m.group(1)][int(m.group(2))] = np.array([float(x) for x in m.group(3).split()], dtype=np.float64)
        elif m := RANK_LINE.match(line):
            ranks.append((int(m.group(1)), float(m.group(2)), int(m.group(3)), m.group(4)))
    if sorted(vectors["query"]) != [0] or sorted(vectors["passage"]) != list(range(len(passages))):
        fail(f"expected 1 query and {len(passages)} passage vectors, got {sorted(vectors['query'])} and "
             f"{sorted(vectors['passage'])}:\n{stdout}")
    if [r[0] for r in ranks] != list(range(1, len(passages) + 1)):
        fail(f"expected ranks 1..{len(passages)}, got {[r[0] for r in ranks]}:\n{stdout}")
    return vectors, ranks


def check_concurrent(stdout, lang):
    lines = [m for m in map(CONCURRENT_LINE.match, stdout.splitlines()) if m]
    if len(lines) != 1:
        fail(f"expected one 'concurrent: N requests from T threads, max |diff| D to the synchronous results' "
             f"line, got {len(lines)}:\n{stdout}")
    requests, workers, diff = int(lines[0].group(1)), int(lines[0].group(2)), float(lines[0].group(3))
    if requests < 2 or workers < 2:
        fail(f"the concurrent part ran {requests} requests from {workers} threads; at least 2 of each expected")
    if not diff <= CONCURRENT_TOLERANCE:
        fail(f"concurrent results differ from the synchronous ones by {diff} (tolerance {CONCURRENT_TOLERANCE})")
    print(f"{lang}: {requests} concurrent requests from {workers} threads match the synchronous results "
          f"(max |diff| {diff:.3g})")


def check_against_python(package, vectors, ranks, query, passages, lang):
    import jina3  # the pybind11 module from the build tree (PYTHONPATH set by ctest)

    encoder = jina3.Encoder(package)
    q = encoder.encode([query], "retrieval.query").astype(np.float64)
    p = encoder.encode(passages, "retrieval.passage").astype(np.float64)

    worst = 0.0
    for name, got, want in [("query 0", vectors["query"][0], q[0])] + [
            (f"passage {i}", vectors["passage"][i], p[i]) for i in range(len(passages))]:
        if got.shape != want.shape:
            fail(f"{name}: {got.shape[0]} values, the Python module gives {want.shape[0]}")
        worst = max(worst, float(np.max(np.abs(got - want))))
    if worst > TOLERANCE:
        fail(f"vectors differ from the Python module's by up to {worst:.3g} (tolerance {TOLERANCE})")

    scores = (p @ q[0]) / (np.linalg.norm(p, axis=1) * np.linalg.norm(q[0]))
    expected_order = sorted(range(len(passages)), key=lambda i: -scores[i])
    got_order = [r[2] for r in ranks]
    # Scores closer than the tolerance may legitimately swap; anything else must agree.
    for (rank, score, index, text), want_index in zip(ranks, expected_order):
        if abs(score - scores[index]) > TOLERANCE:
            fail(f"rank {rank}: score {score} for passage {index}, the Python module gives {scores[index]:.6f}")
        if index != want_index and abs(scores[index] - scores[want_index]) > TOLERANCE:
            fail(f"ranking {got_order}, expected {expected_order} (scores {np.round(scores, 6).tolist()})")
        if text != passages[index]:
            fail(f"rank {rank} prints {text!r} for passage {index}, which is {passages[index]!r}")
    print(f"{lang}: {1 + len(passages)} vectors of {q.shape[1]} dims match the Python module "
          f"(max |diff| {worst:.3g}); ranking {got_order} matches")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--lang", required=True, choices=["c", "cpp", "python", "rust", "go"])
    parser.add_argument("--package", required=True)
    parser.add_argument("--work", required=True)
    parser.add_argument("--program", nargs="*", default=[])
    parser.add_argument("--source-dir")
    parser.add_argument("--lib-dir")
    parser.add_argument("--pkg-config-dir")
    parser.add_argument("--cargo", default="", help="cargo, if installed")
    parser.add_argument("--rustc", default="", help="rustc, if installed")
    parser.add_argument("--go", default="", help="go, if installed")
    args = parser.parse_args()
    os.makedirs(args.work, exist_ok=True)

    if args.lang == "rust":
        program = build_rust(args)
    elif args.lang == "go":
        program = build_go(args)
    else:
        program = args.program

    # With the texts given on the command line.
    result = run(program + [args.package, QUERY] + PASSAGES)
    vectors, ranks = parse(result.stdout, PASSAGES)
    check_against_python(args.package, vectors, ranks, QUERY, PASSAGES, args.lang)
    if args.lang in CONCURRENT_LANGUAGES:
        check_concurrent(result.stdout, args.lang)

    # With the built-in texts, as someone trying the example would run it.
    result = run(program + [args.package])
    vectors, _ = parse(result.stdout, [None] * 3)  # every example has three built-in passages
    if args.lang in CONCURRENT_LANGUAGES:
        check_concurrent(result.stdout, args.lang)
    print(f"{args.lang}: default run printed {len(vectors['passage'])} passage vectors")

    # A missing package is reported, not crashed on.
    missing = subprocess.run(program + [os.path.join(args.work, "no-such-package")], capture_output=True, text=True)
    if missing.returncode != 1 or "no-such-package" not in missing.stderr:
        fail(f"a missing package should exit 1 with a message, got {missing.returncode}: {missing.stderr!r}")
    print(f"{args.lang}: missing package -> exit 1, {missing.stderr.strip()!r}")


if __name__ == "__main__":
    main()
