"""`pip install .` for jina3: builds libjina3 and the module jina3._jina3 with CMake.

    /usr/bin/python3 -m venv --system-site-packages venv
    venv/bin/python -m pip install --no-build-isolation .

The build uses the PyTorch of the Python that runs pip: its CMake folder (torch.utils.cmake_prefix_path),
so a CUDA PyTorch gives a CUDA build. Debian's python3-torch has no CMake folder; it is built on the
system LibTorch of libtorch-dev (the same 1.13 libraries), which CMake finds by itself. Either way
the LibTorch that CMake found must have this torch's major.minor version, or the build stops.

Environment:
  JINA3_CMAKE_BUILD_DIR  an existing, configured CMake build of this checkout (scripts/build.sh's
                         build/): it is re-configured as it is (no option changes), only the module
                         and its stub are brought up to date, and the Python component is installed
                         from it. CI uses this so that `pip install` costs seconds, not a rebuild.
                         The build must use this Python and this torch's LibTorch (checked).
  CMAKE_ARGS             extra arguments for a fresh configure, e.g. -DJINA3_SENTENCEPIECE_ROOT=...
  CMAKE_BUILD_PARALLEL_LEVEL  build jobs (default: the number of CPUs)
  JINA3_CCACHE=0         no ccache (otherwise used when installed)
  JINA3_PIP_BUILD_BASE   setuptools' build folder (default build-pip/ in the checkout; the CMake
                         build of a fresh install goes into <it>/cmake)
"""

import os
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT = Path(__file__).resolve().parent
BUILD_BASE = str(ROOT / os.environ.get("JINA3_PIP_BUILD_BASE", "build-pip"))  # (an absolute value stays)


def project_version() -> str:
    text = (ROOT / "CMakeLists.txt").read_text(encoding="utf-8")
    match = re.search(r"project\(\s*jina3\s+VERSION\s+([0-9.]+)", text)
    if not match:
        raise RuntimeError("CMakeLists.txt: no `project(jina3 VERSION x.y.z)`")
    return match.group(1)


def cmake_cache(build_dir: Path) -> dict:
    values = {}
    cache = build_dir / "CMakeCache.txt"
    if cache.is_file():
        for line in cache.read_text(encoding="utf-8", errors="replace").splitlines():
            match = re.match(r"^([A-Za-z_0-9.+-]+):[A-Z_]+=(.*)$", line)
            if match:
                values[match.group(1)] = match.group(2)
    return values


def major_minor(version: str) -> str:
    match = re.match(r"(\d+)\.(\d+)", version)
    return f"{match.group(1)}.{match.group(2)}" if match else version


def this_torch():
    """(version, Torch_DIR or None) of the torch importable by this Python, or (None, None)."""
    try:
        import torch
        import torch.utils
    except ImportError:
        return None, None
    torch_dir = Path(torch.utils.cmake_prefix_path) / "Torch"
    return torch.__version__, (str(torch_dir) if (torch_dir / "TorchConfig.cmake").is_file() else None)


def libtorch_version(torch_dir: str) -> str:
    version_file = Path(torch_dir) / "TorchConfigVersion.cmake"
    match = re.search(r'set\(PACKAGE_VERSION\s+"([^"]+)"\)', version_file.read_text(encoding="utf-8"))
    if not match:
        raise RuntimeError(f"{version_file}: no PACKAGE_VERSION")
    return match.group(1)


def run(command, **kwargs):
    print("jina3 setup.py:", " ".join(shlex.quote(str(c)) for c in command), flush=True)
    subprocess.run([str(c) for c in command], check=True, **kwargs)


class CMakeExtension(Extension):
    def __init__(self, name: str):
        super().__init__(name, sources=[])


class CMakeBuild(build_ext):
    """Configures (or re-uses) a CMake build, builds the Python targets, and installs the CMake
    component "python" (module, libjina3, sources, stub, py.typed) into build_lib/jina3."""

    def run(self):
        if self.inplace:
            raise RuntimeError("jina3 has no editable install (pip install -e): build with CMake "
                               "(scripts/build.sh) and put build/python on PYTHONPATH instead")
        for ext in self.extensions:
            self.build_cmake(ext)

    def build_cmake(self, ext: Extension) -> None:
        torch_version, torch_dir = this_torch()
        reused = os.environ.get("JINA3_CMAKE_BUILD_DIR")
        env = dict(os.environ)
        if env.get("JINA3_CCACHE", "1") != "0" and shutil.which("ccache"):
            env.setdefault("CCACHE_BASEDIR", str(ROOT))
            env.setdefault("CMAKE_CXX_COMPILER_LAUNCHER", "ccache")
            env.setdefault("CMAKE_C_COMPILER_LAUNCHER", "ccache")
        if reused:
            build_dir = Path(reused).resolve()
            cache = cmake_cache(build_dir)
            if not cache:
                raise RuntimeError(f"JINA3_CMAKE_BUILD_DIR={reused} is not a configured CMake build "
                                   f"(no CMakeCache.txt); run scripts/build.sh first or unset it")
            home = cache.get("CMAKE_HOME_DIRECTORY", "")
            if home and Path(home).resolve() != ROOT:
                raise RuntimeError(f"JINA3_CMAKE_BUILD_DIR={reused} builds {home}, not {ROOT}")
            if torch_dir and Path(cache.get("Torch_DIR", "")).resolve() != Path(torch_dir).resolve():
                raise RuntimeError(f"JINA3_CMAKE_BUILD_DIR={reused} uses Torch_DIR={cache.get('Torch_DIR')}, "
                                   f"but this Python's torch is {torch_dir}; unset JINA3_CMAKE_BUILD_DIR "
                                   f"for a fresh build against it")
            # Re-configure as it is: no option changes, so the build stays what its owner made.
            run(["cmake", "-S", ROOT, "-B", build_dir], env=env)
        else:
            build_dir = Path(BUILD_BASE, "cmake").resolve()
            args = [
                "-DCMAKE_BUILD_TYPE=Release",
                f"-DPython3_EXECUTABLE={sys.executable}",
                f"-DPYTHON_EXECUTABLE={sys.executable}",
                "-DJINA3_BUILD_PYTHON=ON",
                "-DJINA3_INSTALL=ON",
                "-DJINA3_BUILD_TESTS=OFF",
                "-DJINA3_BUILD_EXAMPLES=OFF",
                "-DJINA3_BUILD_BENCHMARKS=OFF",
                "-DJINA3_BUILD_CLI=OFF",
            ]
            if torch_dir:
                args.append(f"-DTorch_DIR={torch_dir}")
            args += shlex.split(env.get("CMAKE_ARGS", ""))
            run(["cmake", "-S", ROOT, "-B", build_dir] + args, env=env)
            cache = cmake_cache(build_dir)

        cache = cmake_cache(build_dir)
        if cache.get("JINA3_BUILD_PYTHON", "ON").upper() in ("OFF", "0", "FALSE", "NO"):
            raise RuntimeError(f"{build_dir} was configured with JINA3_BUILD_PYTHON=OFF")
        if torch_version is not None:
            linked = libtorch_version(cache["Torch_DIR"])
            if major_minor(linked) != major_minor(torch_version):
                raise RuntimeError(
                    f"CMake found LibTorch {linked} ({cache['Torch_DIR']}), but this Python's torch is "
                    f"{torch_version}: both would be loaded into one process. Install the matching "
                    f"libtorch, or build against this torch's CMake folder (torch.utils.cmake_prefix_path)")

        jobs = env.get("CMAKE_BUILD_PARALLEL_LEVEL") or str(os.cpu_count() or 1)
        run(["cmake", "--build", build_dir, "-j", jobs, "--target", "_jina3", "jina3_python_typing"], env=env)

        suffix = sysconfig.get_config_var("EXT_SUFFIX")
        built = build_dir / "python" / "jina3" / f"_jina3{suffix}"
        if not built.is_file():
            raise RuntimeError(f"{build_dir} built no {built.name}: it was configured for another Python "
                               f"(Python3_EXECUTABLE={cache.get('Python3_EXECUTABLE')}), not {sys.executable}")

        staging = Path(self.build_temp).resolve() / "cmake-install"
        shutil.rmtree(staging, ignore_errors=True)
        run(["cmake", "--install", build_dir, "--component", "python", "--prefix", staging], env=env)
        pydir = Path(cache.get("JINA3_PYTHON_INSTALL_DIR", ""))
        installed = (pydir if pydir.is_absolute() else staging / pydir) / "jina3"
        if not (installed / built.name).is_file():
            raise RuntimeError(f"cmake --install --component python left no {built.name} in {installed}")
        target = Path(self.build_lib) / "jina3"
        shutil.copytree(installed, target, dirs_exist_ok=True)


# setuptools' own folders (build/, *.egg-info) stay out of the checkout's CMake build/ and python/.
os.makedirs(BUILD_BASE, exist_ok=True)
setup(
    version=project_version(),
    package_dir={"": "python"},
    packages=["jina3", "jina3.export", "jina3.testing"],
    package_data={"jina3": ["py.typed", "*.pyi", "*.so", "*.so.*"]},
    ext_modules=[CMakeExtension("jina3._jina3")],
    cmdclass={"build_ext": CMakeBuild},
    options={"build": {"build_base": BUILD_BASE}, "egg_info": {"egg_base": BUILD_BASE}},
    zip_safe=False,
)
