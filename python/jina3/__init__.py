"""jina3: jina-embeddings-v3 in-process.

The Encoder and error classes come from the compiled module ``_jina3`` (built by CMake into
``build/python/jina3``). The pure-Python parts (``jina3.export``, ``jina3.testing``,
``jina3.reference``, ``jina3.convert_tokenizer``) work without it.
"""

try:
    from ._jina3 import *  # noqa: F401,F403  (Encoder, Task, errors, __version__)
    from ._jina3 import __version__  # noqa: F401
    _import_error = None
except ImportError as exc:  # the pure-Python tools must work before the C++ build exists
    _import_error = exc


def __getattr__(name):
    if _import_error is not None and not name.startswith("__"):
        raise ImportError(
            f"jina3.{name} needs the compiled module jina3._jina3, which could not be imported "
            f"({_import_error}). Build with CMake and put build/python on PYTHONPATH."
        )
    raise AttributeError(f"module 'jina3' has no attribute {name!r}")
