"""`cmake --install` puts the jina3 tool into <prefix>/bin, and the installed tool runs from there
with the installed libjina3 (not the build tree's)."""

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
    jina3_line = next(line for line in libs.splitlines() if "libjina3.so" in line)
    assert str(prefix) in jina3_line, f"the installed tool loads {jina3_line.strip()}"
    result = subprocess.run([str(tool), "info", str(package())], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["hidden_size"] > 0
