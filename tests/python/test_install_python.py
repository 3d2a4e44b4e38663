"""The Python package as `cmake --install <build> --component python` lays it out (what
`pip install .` puts into the wheel, see setup.py): every file is there, the module finds
libjina3 beside itself ($ORIGIN) and nothing points into the build tree, and the installed copy,
imported from outside the checkout with nothing else on PYTHONPATH, gives the build tree's
vectors. scripts/test.sh's pip job then runs the pytest files on a real pip install."""

import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import sysconfig

import numpy as np
import pytest

import jina3

from encoder_support import package_dir


def build_dir() -> pathlib.Path:
    value = os.environ.get("JINA3_BUILD_DIR")
    assert value, "JINA3_BUILD_DIR is not set: run through ctest (ctest -R python.test_install_python)"
    return pathlib.Path(value)


def cache_value(name: str) -> str:
    text = (build_dir() / "CMakeCache.txt").read_text(encoding="utf-8", errors="replace")
    match = re.search(rf"^{re.escape(name)}:[A-Z_]+=(.*)$", text, re.M)
    assert match, f"{name} is not in {build_dir()}/CMakeCache.txt"
    return match.group(1)


def dynamic_section(path: pathlib.Path) -> str:
    readelf = shutil.which("readelf")
    assert readelf, "readelf (binutils) is needed"
    return subprocess.run([readelf, "-d", str(path)], capture_output=True, text=True, check=True).stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> pathlib.Path:
    prefix = tmp_path_factory.mktemp("prefix")
    cmake = shutil.which("cmake")
    assert cmake, "cmake is not on PATH"
    result = subprocess.run([cmake, "--install", str(build_dir()), "--component", "python", "--prefix", str(prefix)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    site = pathlib.Path(cache_value("JINA3_PYTHON_INSTALL_DIR"))
    package = (site if site.is_absolute() else prefix / site) / "jina3"
    assert package.is_dir(), f"no jina3/ under {prefix}: {sorted(p.name for p in prefix.rglob('*'))[:20]}"
    return package


def test_the_package_holds_every_part(installed):
    soversion = re.search(r"libjina3\.so\.(\d+\.\d+)", dynamic_section(installed / f"_jina3{sysconfig.get_config_var('EXT_SUFFIX')}")).group(1)
    expected = ["__init__.py", f"_jina3{sysconfig.get_config_var('EXT_SUFFIX')}", f"libjina3.so.{soversion}",
                "py.typed", "export/__init__.py", "export/__main__.py", "export/safetensors_io.py",
                "testing/__init__.py", "dask.py"]
    if cache_value("JINA3_PYTHON_STUBS").upper() in ("ON", "1", "TRUE", "YES"):
        expected.append("_jina3.pyi")
    missing = [name for name in expected if not (installed / name).is_file()]
    assert not missing, missing
    source = pathlib.Path(os.environ.get("JINA3_SOURCE_DIR", "")) / "python" / "jina3"
    if source.is_dir():  # every .py of the source package is installed
        sources = {p.relative_to(source).as_posix() for p in source.rglob("*.py")}
        copies = {p.relative_to(installed).as_posix() for p in installed.rglob("*.py")}
        assert sources <= copies, sorted(sources - copies)
    assert not list(installed.glob("libjina3.so")) and not any(p.is_symlink() for p in installed.rglob("*"))


def test_module_finds_its_library_beside_it_and_not_in_the_build_tree(installed):
    module = installed / f"_jina3{sysconfig.get_config_var('EXT_SUFFIX')}"
    section = dynamic_section(module)
    assert re.search(r"\(RUNPATH\)\s+Library runpath: \[\$ORIGIN\]", section), section
    assert str(build_dir()) not in section
    library = next(installed.glob("libjina3.so.*"))
    assert str(build_dir()) not in dynamic_section(library)


def test_installed_copy_works_from_outside_the_checkout(installed, tmp_path):
    script = (
        "import json, sys, numpy as np, jina3\n"
        "encoder = jina3.Encoder(sys.argv[1])\n"
        "rows = encoder.encode(['What is the capital of France?', 'Paris.'], 'retrieval.query')\n"
        "print(json.dumps({'file': jina3.__file__, 'version': jina3.__version__, 'rows': rows.tolist()}))\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(installed.parent)
    result = subprocess.run([sys.executable, "-c", script, str(package_dir("float32"))], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert pathlib.Path(out["file"]).resolve().parent == installed.resolve()
    assert out["version"] == jina3.__version__
    expected = jina3.Encoder(str(package_dir("float32"))).encode(
        ["What is the capital of France?", "Paris."], "retrieval.query")
    assert np.abs(np.asarray(out["rows"], dtype=np.float32) - expected).max() <= 1e-6

    exporter = subprocess.run([sys.executable, "-m", "jina3.export", "--help"], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=300)
    assert exporter.returncode == 0 and "--dtype" in exporter.stdout, exporter.stderr
