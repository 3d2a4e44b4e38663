"""jina3: jina-embeddings-v3 in-process.

The Encoder, Task and the error classes come from the compiled module ``_jina3`` (built by CMake
into ``build/python/jina3``), through ``jina3._api``, which gives them Python signatures, the
sentence-transformers names and pickling. The pure-Python parts (``jina3.export``, the checkpoint
exporter and tokenizer converter, and ``jina3.testing``, test support and the reference model) work
without it. ``jina3.dask`` embeds Dask collections and ``jina3.langchain`` is a LangChain adapter.
"""

try:
    from ._jina3 import *  # noqa: F401,F403  (the error classes, TokenEmbeddings, ChunkEmbeddings)
    from ._jina3 import __version__  # noqa: F401
    _import_error = None
except ImportError as exc:  # the pure-Python tools must work before the C++ build exists
    _import_error = exc

if _import_error is None:
    # Encoder, Task, quantize and calibration_ranges replace the compiled ones of the same names.
    from ._api import (Encoder, PerformanceWarning, Task, calibration_ranges, quantize,  # noqa: F401
                       shared_load_count, similarity)
    for _value in (Encoder, PerformanceWarning, similarity, quantize, calibration_ranges, shared_load_count):
        _value.__module__ = "jina3"  # where users import them from (and what pickle records)
    del _value


def __getattr__(name):
    if _import_error is not None and not name.startswith("__"):
        raise ImportError(
            f"jina3.{name} needs the compiled module jina3._jina3, which could not be imported "
            f"({_import_error}). Build with CMake and put build/python on PYTHONPATH."
        )
    raise AttributeError(f"module 'jina3' has no attribute {name!r}")
