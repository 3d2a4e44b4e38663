"""jina3: jina-embeddings-v3 in-process.

The Encoder and error classes come from the compiled module ``_jina3`` (built by CMake into
``build/python/jina3``). The pure-Python parts (``jina3.export``, the checkpoint exporter and
tokenizer converter, and ``jina3.testing``, test support and the reference model) work without it.
"""

import asyncio as _asyncio

try:
    from ._jina3 import *  # noqa: F401,F403  (Encoder, Task, errors, quantize, calibration_ranges, __version__)
    from ._jina3 import __version__  # noqa: F401
    _import_error = None
except ImportError as exc:  # the pure-Python tools must work before the C++ build exists
    _import_error = exc


async def _encode_async(self, texts, task=None, dims=None, *, precision="float32", ranges=None, **options):
    """Embeds texts like encode() without blocking the event loop; ``await`` gives the same array.

    Takes encode()'s arguments and keywords (see its docstring), except show_progress_bar. precision and
    ranges are checked before the request is queued; the float32 result is then converted with
    jina3.quantize, so ranges=None computes them from this call's rows, as encode() does. The texts are
    tokenised and queued at once, with the GIL released; the result arrives through the event loop while
    other tasks run. Errors raise here: InvalidArgumentError and the like for bad arguments,
    QueueFullError (block_when_full=False and a full queue), DeadlineExceededError, CancelledError (the
    encoder was deleted before the request ran). A full queue with block_when_full=True waits for room
    on the loop's default executor, not on the loop. Cancelling the awaiting task drops the result.

    Example::

        async def handle(encoder, query):
            return await encoder.encode_async([query], task="retrieval.query", dims=256)
    """
    loop = _asyncio.get_running_loop()
    future = loop.create_future()
    try:
        wait_for_room = self._submit_async(loop, future, texts, task, dims, precision=precision, ranges=ranges,
                                           **options)
        if wait_for_room is not None:  # the queue is full and this call may wait: not on the loop
            await loop.run_in_executor(None, wait_for_room)
        # As with C++ futures, a queued request does not keep the encoder alive: deleting its last
        # reference fails what has not started with CancelledError.
        del self, texts, wait_for_room
        result = await future
        return result if precision == "float32" else quantize(result, precision, ranges)  # noqa: F405
    finally:
        if not loop.is_closed():  # (a coroutine can be closed after its loop)
            future.cancel()  # a no-op once resolved; otherwise the late result is dropped


if _import_error is None:
    _encode_async.__name__ = "encode_async"
    _encode_async.__qualname__ = "Encoder.encode_async"
    Encoder.encode_async = _encode_async  # noqa: F405


def __getattr__(name):
    if _import_error is not None and not name.startswith("__"):
        raise ImportError(
            f"jina3.{name} needs the compiled module jina3._jina3, which could not be imported "
            f"({_import_error}). Build with CMake and put build/python on PYTHONPATH."
        )
    raise AttributeError(f"module 'jina3' has no attribute {name!r}")
