"""Encoder.kernels() and stats()["kernels"] (the core's kernel report), and jina3.PerformanceWarning
at load when the encoder computes in bfloat16 that this CPU emulates. A process reads
JINA3_MAX_CPU_ISA once, so the capped cases run in a child Python with JINA3_MAX_CPU_ISA=avx512_core
(this machine playing a CPU without AVX512-BF16)."""

import json
import os
import subprocess
import sys
import textwrap
import warnings

import jina3

from encoder_support import package_dir

FIELDS = {"device", "isa", "bf16", "compute_dtype", "matmul", "int8_engine", "notice"}


def test_kernels_and_stats_give_the_same_report():
    with warnings.catch_warnings(record=True):
        encoder = jina3.Encoder(str(package_dir("float32")))
    kernels = encoder.kernels()
    assert set(kernels) == FIELDS and all(type(value) is str for value in kernels.values())
    assert encoder.stats()["kernels"] == kernels
    assert kernels["device"] == "cpu" and kernels["compute_dtype"] == encoder.dtype == "float32"
    assert kernels["bf16"] in ("native", "emulated")
    assert kernels["matmul"] == "LibTorch float32" and kernels["notice"] == "" and kernels["int8_engine"] == ""
    for name in FIELDS:
        assert f"\n{name}: " in jina3.Encoder.kernels.__doc__, name


def test_int8_package_names_its_engine():
    kernels = jina3.Encoder(str(package_dir("int8"))).kernels()
    assert kernels["matmul"] == "oneDNN int8"
    assert kernels["compute_dtype"] == ("bfloat16" if kernels["bf16"] == "native" else "float32")
    assert "oneDNN" in kernels["int8_engine"]
    assert kernels["notice"] == ""


def test_performance_warning_is_a_user_warning_of_the_package():
    assert issubclass(jina3.PerformanceWarning, UserWarning)
    assert jina3.PerformanceWarning.__module__ == "jina3"


def test_no_warning_where_bf16_is_native():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        encoder = jina3.Encoder(str(package_dir("bfloat16")))
    ours = [w for w in caught if issubclass(w.category, jina3.PerformanceWarning)]
    if encoder.kernels()["bf16"] == "native":
        assert not ours and encoder.kernels()["notice"] == ""
    else:  # a CPU without AVX512-BF16 or AMX: the capped case below, for real
        assert len(ours) == 1 and str(ours[0].message) == encoder.kernels()["notice"]


CHILD = textwrap.dedent("""
    import json, sys, warnings
    import jina3

    bf16, f32 = sys.argv[1], sys.argv[2]
    out = {}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        encoder = jina3.Encoder(bf16)  # the line the warning must point at
        out["bf16"] = [(w.category.__name__, str(w.message), w.filename, w.lineno) for w in caught]
    out["kernels"] = encoder.stats()["kernels"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        jina3.Encoder(f32)
        out["float32"] = [str(w.message) for w in caught]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        jina3.Encoder.shared(bf16, num_threads=1)
        out["shared"] = [w.category.__name__ for w in caught]
    with warnings.catch_warnings():
        warnings.simplefilter("error", jina3.PerformanceWarning)
        try:
            jina3.Encoder(bf16)
            out["error"] = False
        except jina3.PerformanceWarning:
            out["error"] = True
    print(json.dumps(out))
""")


def run_child(cap, script=CHILD):
    env = dict(os.environ, JINA3_MAX_CPU_ISA=cap)
    return subprocess.run([sys.executable, "-c", script, str(package_dir("bfloat16")), str(package_dir("float32"))],
                          capture_output=True, text=True, timeout=600, env=env)


def test_emulated_bf16_warns_at_load_and_stats_say_why():
    result = run_child("avx512_core")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert len(out["bf16"]) == 1, out["bf16"]
    category, message, filename, lineno = out["bf16"][0]
    assert category == "PerformanceWarning"
    assert message.startswith("bfloat16 is emulated on this CPU (")
    assert "no AVX512-BF16 or AMX" in message and "python3 -m jina3.export CHECKPOINT OUT --dtype int8" in message
    caller = CHILD.splitlines().index(next(line for line in CHILD.splitlines() if "must point at" in line)) + 1
    assert (filename, lineno) == ("<string>", caller), "the warning points at the caller's line"
    kernels = out["kernels"]
    assert kernels["bf16"] == "emulated" and kernels["notice"] == message
    assert kernels["compute_dtype"] == "bfloat16"
    assert kernels["isa"] in ("avx512_core", "avx2_vnni", "avx2", "sse41", "none")  # at most the cap
    assert out["float32"] == []
    assert out["shared"] == ["PerformanceWarning"]
    assert out["error"] is True  # "error" filters refuse such a load


def test_an_unknown_cap_fails_the_load_naming_the_values():
    script = "import sys, jina3\ntry:\n    jina3.Encoder(sys.argv[2])\nexcept jina3.InvalidArgumentError as e:\n" \
             "    print(e)\n"
    result = run_child("avx512_bogus", script)
    assert result.returncode == 0, result.stderr
    assert 'JINA3_MAX_CPU_ISA="avx512_bogus" is not an ISA name' in result.stdout
    assert "avx512_core_bf16" in result.stdout
