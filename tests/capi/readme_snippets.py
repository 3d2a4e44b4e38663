"""Builds and runs the README's example for one language, as a reader would copy it, and checks
what it prints against the Python module.

    readme_snippets.py --lang {cpp,python,c,rust,go} --readme README.md --package DIR --work DIR
                       --include-dir DIR [--include-dir DIR] --lib-dir DIR --pkg-config-dir DIR
                       [--cc P] [--cxx P] [--cargo P] [--rustc P] [--go P]

The code blocks under the README's "### <Language>" heading are written out unchanged except for
the package path ("/path/to/package" becomes --package). Each example prints one line per passage,
"SCORE  TEXT"; every score must equal the Python module's cosine similarity to the 4 decimals
printed. Exit status 0: pass; 1: failure; 77: the language's toolchain is not installed.
"""
import argparse
import os
import re
import shutil
import sys

import numpy as np

from run_example import SKIP, fail, go_environment, run, rustc_crates

HEADINGS = {"cpp": "C++", "python": "Python", "c": "C", "rust": "Rust", "go": "Go"}
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)
SCORE_LINE = re.compile(r"^(-?\d+\.\d{4})  (.+)$")
PLACEHOLDER = "/path/to/package"
CHECKOUT = "/path/to/jina3"  # the jina3 checkout in the Rust and Go sections (Cargo.toml, go.mod)
# Every README example embeds these texts (checked, so that an edited example is noticed here).
QUERY = "What is the capital of France?"
PASSAGES = ["Paris is the capital of France.", "Berlin is the capital of Germany."]


def section(readme, heading):
    """The text under '### heading' up to the next heading of level 2 or 3."""
    match = re.search(rf"^### {re.escape(heading)}\n(.*?)(?=^##)", readme, re.S | re.M)
    if not match:
        fail(f"README has no '### {heading}' section")
    return match.group(1)


def blocks(text, languages):
    found = [body for lang, body in FENCE.findall(text) if lang in languages]
    if not found:
        fail(f"no {'/'.join(languages)} code block in the section")
    return found


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def build(args, code_blocks, toml_blocks=(), text_blocks=()):
    """Writes the example's files under args.work; returns the command that runs it."""
    work, package = args.work, args.package
    blocks_with_package = [b.replace(PLACEHOLDER, package) for b in code_blocks]
    rpath = f"-Wl,-rpath,{args.lib_dir}"
    includes = [f"-I{d}" for d in args.include_dir]
    if args.lang == "python":
        source = os.path.join(work, "example.py")
        write(source, blocks_with_package[0])
        return [sys.executable, source]
    if args.lang in ("c", "cpp"):
        compiler = args.cc if args.lang == "c" else args.cxx
        standard = "-std=c99" if args.lang == "c" else "-std=c++17"
        source = os.path.join(work, "example." + args.lang)
        write(source, blocks_with_package[0])
        program = os.path.join(work, "example")
        run([compiler, standard, "-Wall", "-Werror", source, *includes, f"-L{args.lib_dir}", "-ljina3", rpath,
             "-o", program])
        return [program]
    if args.lang == "rust":
        # A crate as the README writes it: Cargo.toml (the jina3 crate by path), build.rs, src/main.rs.
        files = {}
        for block in [b.replace(CHECKOUT, args.source_dir) for b in blocks_with_package + toml_blocks]:
            first = block.splitlines()[0]
            for name in ("Cargo.toml", "build.rs", "src/main.rs"):
                if name in first:
                    files[name] = block
        if set(files) != {"Cargo.toml", "build.rs", "src/main.rs"}:
            fail(f"the Rust section should hold a Cargo.toml, a build.rs and a src/main.rs block, found {sorted(files)}")
        package_name = re.search(r'^name = "([^"]+)"', files["Cargo.toml"], re.M).group(1)
        if args.cargo:
            crate = os.path.join(work, "crate")
            shutil.rmtree(crate, ignore_errors=True)
            for name, text in files.items():
                write(os.path.join(crate, name), text)
            env = dict(os.environ, JINA3_LIB_DIR=args.lib_dir, CARGO_TARGET_DIR=os.path.join(work, "target"))
            if args.rustc:
                env["RUSTC"] = args.rustc
            run([args.cargo, "build", "--release", "--offline", "--quiet", "--manifest-path",
                 os.path.join(crate, "Cargo.toml")], env=env)
            return [os.path.join(work, "target", "release", package_name)]
        if args.rustc:
            source = os.path.join(work, "main.rs")
            write(source, files["src/main.rs"])
            program = os.path.join(work, package_name)
            crates = rustc_crates(args.rustc, args.source_dir, args.lib_dir, os.path.join(work, "crates"), dict(os.environ))
            run([args.rustc, "--edition", "2021", "-O", source, *crates, "-C", f"link-arg={rpath}", "-o", program])
            return [program]
        print("SKIP: neither cargo nor rustc is installed (Debian: apt-get install rustc cargo)")
        sys.exit(SKIP)
    if args.lang == "go":
        if not args.go:
            print("SKIP: go is not installed (Debian: apt-get install golang-go)")
            sys.exit(SKIP)
        # A module as the README writes it: go.mod (the jina3 module by replace) and main.go.
        go_mod = [b for b in text_blocks if b.startswith("// go.mod")]
        if len(go_mod) != 1:
            fail("the Go section should hold one go.mod block (starting with '// go.mod')")
        module = os.path.join(work, "module")
        shutil.rmtree(module, ignore_errors=True)
        write(os.path.join(module, "go.mod"), go_mod[0].replace(CHECKOUT, args.source_dir))
        write(os.path.join(module, "main.go"), blocks_with_package[0])
        program = os.path.join(work, "readme-example")
        env = go_environment(work, args.pkg_config_dir)
        env["CGO_LDFLAGS"] = rpath
        run([args.go, "build", "-o", program, "."], cwd=module, env=env)
        return [program]
    fail(f"unknown language {args.lang}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--lang", required=True, choices=sorted(HEADINGS))
    parser.add_argument("--readme", required=True)
    parser.add_argument("--package", required=True)
    parser.add_argument("--work", required=True)
    parser.add_argument("--include-dir", action="append", default=[])
    parser.add_argument("--lib-dir", required=True)
    parser.add_argument("--pkg-config-dir", default="")
    parser.add_argument("--cc", default="cc")
    parser.add_argument("--cxx", default="c++")
    parser.add_argument("--cargo", default="")
    parser.add_argument("--rustc", default="")
    parser.add_argument("--go", default="")
    parser.add_argument("--source-dir", help="the checkout (default: the README's folder)")
    args = parser.parse_args()
    args.source_dir = args.source_dir or os.path.dirname(os.path.abspath(args.readme))
    os.makedirs(args.work, exist_ok=True)

    with open(args.readme, encoding="utf-8") as f:
        text = section(f.read(), HEADINGS[args.lang])
    languages = {"cpp": ["cpp"], "python": ["python"], "c": ["c"], "rust": ["rust"], "go": ["go"]}[args.lang]
    code = blocks(text, languages)
    source = "\n".join(code)
    for needed in [QUERY, PLACEHOLDER] + PASSAGES:
        if f'"{needed}"' not in source:
            fail(f"the README's {HEADINGS[args.lang]} example no longer contains \"{needed}\"; update this test")
    query, passages = [QUERY], PASSAGES

    fences = FENCE.findall(text)
    toml_blocks = [body for lang, body in fences if lang == "toml"]
    text_blocks = [body for lang, body in fences if lang == "text"]
    output = run(build(args, code, toml_blocks, text_blocks)).stdout
    lines = [m.groups() for m in map(SCORE_LINE.match, output.splitlines()) if m]
    if sorted(t for _, t in lines) != sorted(passages):
        fail(f"expected one 'SCORE  TEXT' line per passage {passages}, got:\n{output}")

    import jina3  # the build tree's module (PYTHONPATH set by ctest)

    encoder = jina3.Encoder(args.package)
    q = encoder.encode(query, "retrieval.query").astype(np.float64)
    p = encoder.encode(passages, "retrieval.passage").astype(np.float64)
    expected = dict(zip(passages, (p @ q[0]).tolist()))
    for score, passage in lines:
        if abs(float(score) - expected[passage]) > 5.001e-5:
            fail(f"{passage!r}: the example prints {score}, the Python module gives {expected[passage]:.6f}")
    print(f"{args.lang}: the README example prints {len(lines)} scores that match the Python module: {lines}")


if __name__ == "__main__":
    main()
