"""The CPU's kernels in the tool: `jina3 info`'s "cpu" object (from the launcher, without LibTorch)
against the loaded encoder's kernels(), and the engine commands' one-line note at load when the
package is bfloat16 and bfloat16 is emulated. JINA3_MAX_CPU_ISA=avx512_core makes this machine
play a CPU without native bfloat16; an unknown value fails info and every load."""

import json
import os
import subprocess

import pytest

import jina3

from cli_support import check_ok, cli, package

NOTE = b"jina3: note: bfloat16 is emulated on this CPU"


def bf16_package():
    return package().parent / "package-bfloat16"


def run_with(cap, *args):
    env = dict(os.environ)
    env.pop("JINA3_MAX_CPU_ISA", None)
    if cap is not None:
        env["JINA3_MAX_CPU_ISA"] = cap
    return subprocess.run([cli(), *map(str, args)], capture_output=True, timeout=300, env=env)


def info(path, cap=None):
    result = run_with(cap, "info", path)
    check_ok(result)
    return json.loads(result.stdout)


def test_info_cpu_matches_the_loaded_encoder():
    cpu = info(bf16_package())["cpu"]
    assert set(cpu) == {"isa", "bf16", "int8_engine", "notice"}
    kernels = jina3.Encoder(str(bf16_package())).kernels()  # this process: the same environment
    assert cpu["isa"] == kernels["isa"]
    assert cpu["bf16"] == kernels["bf16"] in ("native", "emulated")
    assert cpu["notice"] == kernels["notice"]
    assert cpu["int8_engine"].startswith("oneDNN ")
    # The int8 ISA is one oneDNN's int8 products use, never above the CPU's own.
    assert cpu["int8_engine"].split()[1] in ("avx512_core_amx", "avx512_core_vnni", "avx2_vnni", "avx512_core",
                                             "avx2", "sse41", "none")


def test_info_under_a_cap_reports_emulated_bf16_and_the_notice():
    uncapped = info(bf16_package())["cpu"]
    cpu = info(bf16_package(), "avx512_core")["cpu"]
    assert cpu["bf16"] == "emulated"
    if uncapped["isa"].startswith("avx512_core"):
        assert cpu["isa"] == "avx512_core"
        assert cpu["int8_engine"] in ("oneDNN avx512_core", "oneDNN avx2_vnni")
    assert cpu["notice"].startswith(f"bfloat16 is emulated on this CPU ({cpu['isa']}: no AVX512-BF16 or AMX)")
    assert "python3 -m jina3.export CHECKPOINT OUT --dtype int8" in cpu["notice"]
    # Not for a float32 package: nothing of it is emulated.
    assert info(package(), "avx512_core")["cpu"]["notice"] == ""
    # The cap is case-insensitive, as oneDNN's.
    assert info(bf16_package(), "AVX2")["cpu"]["isa"] in ("avx2", "sse41", "none")


@pytest.mark.parametrize("command", [["tokenize", "{pkg}", "hello"], ["embed", "{pkg}", "-", "-q"]])
def test_engine_commands_note_emulated_bf16_once_at_load(command):
    args = [str(bf16_package()) if a == "{pkg}" else a for a in command]
    stdin = b"hello\nworld\n" if "-" in args else None
    env = dict(os.environ, JINA3_MAX_CPU_ISA="avx512_core")
    capped = subprocess.run([cli(), *args], input=stdin, capture_output=True, timeout=300, env=env)
    check_ok(capped)
    assert capped.stderr.count(NOTE) == 1, capped.stderr
    assert b"--dtype int8" in capped.stderr
    assert capped.stdout  # the command still ran
    # A float32 package: no note.
    float_args = [str(package()) if a == str(bf16_package()) else a for a in args]
    plain = subprocess.run([cli(), *float_args], input=stdin, capture_output=True, timeout=300, env=env)
    check_ok(plain)
    assert NOTE not in plain.stderr, plain.stderr


def test_no_note_where_bf16_is_native():
    if info(bf16_package())["cpu"]["bf16"] != "native":
        pytest.skip("this CPU emulates bfloat16")
    result = run_with(None, "tokenize", bf16_package(), "hello")
    check_ok(result)
    assert b"note:" not in result.stderr, result.stderr


def test_an_unknown_cap_fails_info_and_loads_naming_the_values():
    for args in (["info", bf16_package()], ["tokenize", package(), "hello"]):
        result = run_with("avx512_bogus", *args)
        assert result.returncode == 2, (args, result.returncode, result.stderr)
        message = result.stderr.decode()
        assert 'JINA3_MAX_CPU_ISA="avx512_bogus" is not an ISA name' in message, message
        assert "avx512_core_bf16" in message and "avx2_vnni" in message
