"""Runs the Rust crates' tests (`cargo test --offline`, rust/) or the Go module's (`go test -race`,
go/) against the built libjina3 and the test package.

    run_ffi.py --lang {rust,go} --source-dir DIR --work DIR --lib-dir DIR --include-dir DIR
               --pkg-config-dir DIR --package DIR [--cargo P] [--rustc P] [--go P]

Rust builds from a copy of rust/ under --work (Cargo.lock and target/ stay out of the source
tree, and rustup's and Debian's cargo do not fight over one lock file); Go builds in place, with its
caches under --work and no module proxy. Under the AddressSanitizer build (LD_PRELOAD holds the
ASan runtime) the toolchains run without the preload and the test programs with it; Go's race
detector cannot share a process with ASan, so there the Go tests run without -race.

Exit status 0: pass; 1: failure; 77: the toolchain is not installed (ctest: skipped).
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import time

SKIP = 77


def toolchain_env(extra):
    """The environment for cargo/go themselves: without the ASan preload (rustup's rustc crashes
    with it)."""
    env = dict(os.environ, **extra)
    env.pop("LD_PRELOAD", None)
    return env


def run(command, **kwargs):
    print("$ " + " ".join(command), flush=True)
    started = time.monotonic()
    result = subprocess.run(command, **kwargs)
    print(f"({time.monotonic() - started:.1f} s, exit {result.returncode})", flush=True)
    if result.returncode != 0:
        sys.exit(1)
    return result


def rust(args):
    if not args.cargo:
        print("SKIP: cargo is not installed (Debian: apt-get install cargo)")
        sys.exit(SKIP)
    source = os.path.join(args.work, "src")
    shutil.rmtree(source, ignore_errors=True)
    shutil.copytree(os.path.join(args.source_dir, "rust"), source,
                    ignore=shutil.ignore_patterns("target", "Cargo.lock"))
    env = {
        "JINA3_LIB_DIR": args.lib_dir,
        "JINA3_INCLUDE_DIR": args.include_dir,
        "JINA3_TEST_PACKAGE": args.package,
        "CARGO_TARGET_DIR": os.path.join(args.work, "target"),
        "CARGO_TERM_COLOR": "never",
    }
    if args.rustc:
        env["RUSTC"] = args.rustc  # the rustc next to this cargo, not whichever is first on PATH
        rustdoc = os.path.join(os.path.dirname(args.rustc), "rustdoc")
        if os.path.exists(rustdoc):
            env["RUSTDOC"] = rustdoc  # doc tests link against what that rustc built
    manifest = ["--manifest-path", os.path.join(source, "Cargo.toml")]
    preload = os.environ.get("LD_PRELOAD")
    if not preload:
        run([args.cargo, "test", "--offline", "--workspace", *manifest], env=toolchain_env(env))
        return
    # Sanitizer build: build the test programs, then run each with the preload.
    built = run([args.cargo, "test", "--offline", "--workspace", "--no-run", "--message-format=json", *manifest],
                env=toolchain_env(env), stdout=subprocess.PIPE, text=True)
    programs = []
    for line in built.stdout.splitlines():
        message = json.loads(line) if line.startswith("{") else {}
        if message.get("reason") == "compiler-artifact" and message.get("executable") and \
                message.get("profile", {}).get("test"):
            programs.append(message["executable"])
    if not programs:
        print("FAIL: cargo built no test programs")
        sys.exit(1)
    for program in programs:
        run([program], env=dict(os.environ, **env))


def go(args):
    if not args.go:
        print("SKIP: go is not installed (Debian: apt-get install golang-go)")
        sys.exit(SKIP)
    env = toolchain_env({
        "GOCACHE": os.path.join(args.work, "cache"), "GOPATH": os.path.join(args.work, "gopath"),
        "GOFLAGS": "", "GOPROXY": "off", "GOTOOLCHAIN": "local", "GO111MODULE": "on", "CGO_ENABLED": "1",
        "PKG_CONFIG_PATH": args.pkg_config_dir, "JINA3_TEST_PACKAGE": args.package,
    })
    module = os.path.join(args.source_dir, "go")
    run([args.go, "vet", "./..."], cwd=module, env=env)
    if "libasan" not in os.environ.get("LD_PRELOAD", ""):
        run([args.go, "test", "-race", "-count=1", "./..."], cwd=module, env=env)
        return
    # Sanitizer build: Go's race detector cannot share a process with the ASan runtime (both map
    # their own shadow memory), so the tests run without -race, with the preload.
    program = os.path.join(args.work, "jina3.test")
    run([args.go, "test", "-c", "-o", program, "."], cwd=module, env=env)
    run([program, "-test.count=1"], cwd=module, env=dict(os.environ, JINA3_TEST_PACKAGE=args.package))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--lang", required=True, choices=["rust", "go"])
    parser.add_argument("--source-dir", required=True)
    parser.add_argument("--work", required=True)
    parser.add_argument("--lib-dir", required=True)
    parser.add_argument("--include-dir", required=True)
    parser.add_argument("--pkg-config-dir", required=True)
    parser.add_argument("--package", required=True)
    parser.add_argument("--cargo", default="")
    parser.add_argument("--rustc", default="")
    parser.add_argument("--go", default="")
    args = parser.parse_args()
    os.makedirs(args.work, exist_ok=True)
    rust(args) if args.lang == "rust" else go(args)


if __name__ == "__main__":
    main()
