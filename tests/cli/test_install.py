"""`cmake --install` puts the jina3 tool into <prefix>/bin and its engine into
<prefix>/libexec/jina3, and the installed tool runs from there: `info` in bin/jina3 itself (which
does not link libjina3, hence no LibTorch start-up), every other command in the engine, with the
installed libjina3 (not the build tree's)."""

import json
import os
import shutil
import subprocess

from cli_support import _env_path, package


def test_installed_tool_runs():
    build = _env_path("JINA3_BUILD_DIR")
    prefix = _env_path("JINA3_INSTALL_WORK") / "prefix"
    shutil.rmtree(prefix, ignore_errors=True)
    subprocess.run(["cmake", "--install", str(build), "--prefix", str(prefix)], check=True, capture_output=True)
    tool = prefix / "bin" / "jina3"
    assert tool.is_file() and os.access(tool, os.X_OK), f"{tool} not installed"
    libs = subprocess.run(["ldd", str(tool)], capture_output=True, text=True, check=True).stdout
    assert "libjina3" not in libs and "libtorch" not in libs, f"bin/jina3 should link neither:\n{libs}"
    engines = list(prefix.glob("libexec/jina3/jina3-engine"))
    assert len(engines) == 1 and os.access(engines[0], os.X_OK), f"no engine under {prefix}/libexec/jina3"
    libs = subprocess.run(["ldd", str(engines[0])], capture_output=True, text=True, check=True).stdout
    jina3_line = next(line for line in libs.splitlines() if "libjina3.so" in line)
    assert str(prefix) in jina3_line, f"the installed engine loads {jina3_line.strip()}"
    result = subprocess.run([str(tool), "info", str(package())], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["hidden_size"] > 0
    result = subprocess.run([str(tool), "tokenize", str(package()), "hello"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    ids = json.loads(result.stdout)
    assert ids[0] == 0 and ids[-1] == 2
