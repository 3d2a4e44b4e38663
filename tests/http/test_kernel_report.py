"""`jina3 serve`'s kernel report: /info's "kernels" (the encoder's kernels(), field by field), and the
note the server logs at start-up when it serves a bfloat16 package on a CPU that emulates bfloat16
(played here with JINA3_MAX_CPU_ISA=avx512_core)."""

import requests

from serve_support import encoder, package, running

FIELDS = {"device", "isa", "bf16", "compute_dtype", "matmul", "int8_engine", "notice"}


def test_info_has_the_encoders_kernel_report():
    with running() as server:
        info = requests.get(server.url + "/info", timeout=10).json()
        log = server.log()
    assert set(info["kernels"]) == FIELDS
    assert info["kernels"] == encoder().kernels()
    assert info["kernels"]["device"] == "cpu" and info["kernels"]["compute_dtype"] == info["dtype"] == "float32"
    assert info["kernels"]["notice"] == ""
    assert "note:" not in log


def test_an_emulated_bf16_package_is_noted_at_start_up_and_in_info():
    bf16 = package().parent / "package-bfloat16"
    with running(package_path=bf16, env={"JINA3_MAX_CPU_ISA": "avx512_core"}) as server:
        kernels = requests.get(server.url + "/info", timeout=10).json()["kernels"]
        log = server.log()
    assert kernels["bf16"] == "emulated"
    assert kernels["compute_dtype"] == "bfloat16"
    assert kernels["notice"].startswith(f"bfloat16 is emulated on this CPU ({kernels['isa']}:")
    assert log.count("jina3: note: " + kernels["notice"]) == 1, log
