"""The jina3 version for the Python tools, without importing the compiled module (which would load
a second copy of LibTorch next to Python's torch).

The version is written once, in the top-level CMakeLists.txt (project(jina3 VERSION x.y.z)); the
tools read it from there when they run from the source or build tree, else from the installed
distribution's metadata.
"""

import re
from functools import lru_cache
from pathlib import Path

_PROJECT_VERSION = re.compile(r"project\(\s*jina3\s+VERSION\s+([0-9]+(?:\.[0-9]+)*)")


@lru_cache(maxsize=1)
def jina3_version() -> str:
    for ancestor in Path(__file__).resolve().parents:
        cmake = ancestor / "CMakeLists.txt"
        if cmake.is_file():
            try:
                match = _PROJECT_VERSION.search(cmake.read_text(encoding="utf-8", errors="replace"))
            except OSError:
                match = None
            if match:
                return match.group(1)
    try:
        from importlib.metadata import PackageNotFoundError, version

        return version("jina3")
    except (ImportError, PackageNotFoundError):
        return "0+unknown"
