"""Embedding Dask collections: ``jina3.dask.embed(collection, package, ...)`` -> a dask.array.

Each partition of a dask.bag of str (or of a dask.dataframe Series of str) becomes one chunk of
rows of an (n, dims) float32 array. The task graph carries only the package path and options,
never a model: an Encoder is loaded where the tasks run, once per process.

- On a distributed cluster (a ``distributed.Client`` is active, or passed as ``client=``), embed
  registers a worker plugin that loads the package on every worker when it starts (on workers
  that join later too), and the tasks use that worker's Encoder.
- With Dask's local schedulers (threads, synchronous, processes), the tasks use jina3's per-process
  cache of Encoders keyed by (package, encoder options) (``jina3.Encoder.shared``, the one that
  unpickled Encoders use too), so each process loads a package once.

The plugin loads through the same cache, so a worker that also runs tasks given a pickled
``jina3.Encoder`` of the same package and options shares one model with them.

Threads: the Encoder runs its own intra-op thread pool, so give each worker process one Dask
thread and let the Encoder own the cores::

    Client(LocalCluster(n_workers=4, threads_per_worker=1))
    jina3.dask.embed(texts, package, encoder_options={"num_threads": cores // 4})

keeping n_workers x num_threads <= the machine's cores (num_threads=0, the default, lets LibTorch
take every core in every worker, which oversubscribes as soon as there are two workers). More
Dask threads in a worker run their partitions on that worker's one Encoder, where they compete for
the same intra-op threads.

Example::

    import dask.array as da
    import dask.bag as db
    from distributed import Client
    import jina3.dask

    client = Client(n_workers=2, threads_per_worker=1)
    texts = db.read_text("corpus-*.txt").map(str.strip)
    vectors = jina3.dask.embed(texts, "jina-v3-package", task="retrieval.passage", dims=256)
    da.to_npy_stack("vectors", vectors)  # or vectors.compute() for one NumPy array
"""

import asyncio
import hashlib
import json
import math
import numbers
import os
import sys

import dask
import dask.array as da
import dask.bag as db
import numpy as np
from dask.highlevelgraph import HighLevelGraph

import jina3

try:  # the plugin is only needed, and distributed only imported, for cluster use
    from distributed import WorkerPlugin as _WorkerPluginBase
except ImportError:  # pragma: no cover - Debian's python3-distributed is an install-deps package
    _WorkerPluginBase = object

__all__ = ["embed", "EncoderPlugin", "load_count", "plugin_name"]


def embed(collection, package, task=None, dims=None, *, encoder_options=None, lengths=True, client=None,
          **encode_options):
    """Embeds every text of ``collection``; returns a lazy float32 dask.array of shape (n, dims).

    collection: a dask.bag of str, or a dask.dataframe Series of str (e.g. ``df["text"]``).
    package: the package directory; it must exist at this path wherever the tasks run.
    task, dims: as in ``Encoder.encode`` (one task for every text; dims None = full size).
    encoder_options: keyword arguments for ``jina3.Encoder`` (device, dtype, num_threads,
    max_batch_tokens, ...). encode_options (normalize, max_length, batch_size, truncate) go to
    ``Encoder.encode``.
    lengths: True computes the partition lengths now (one pass over the collection, without
    embedding), so the array's chunks are known: chunk i holds the rows of partition i. A list of
    ints gives the lengths; False leaves them unknown (NaN chunk sizes), as Dask does for bags.
    client: the distributed Client whose workers get the Encoder plugin (and compute the lengths);
    None = the current client if there is one, False = none (local schedulers only).

    Errors from loading the package are raised here when a client is used (the plugin loads it on
    every worker) or when dims is None and this process cannot read the package's manifest (the
    width then comes from an Encoder), otherwise at compute time; errors from encoding (a dims the package lacks, an
    unknown task, a non-str item) are raised at compute time, with jina3's error classes.

    Example::

        vectors = jina3.dask.embed(bag, "package", task="retrieval.passage", dims=128,
                                   encoder_options={"num_threads": 2}, normalize=True)
        vectors.chunks  # ((rows of partition 0, rows of partition 1, ...), (128,))
        array = vectors.compute()
    """
    partitions = _partitions(collection)
    package = os.fspath(package)
    options = _options_key(encoder_options)
    task = _task_name(task)
    dims = _checked_dims(dims)
    client = _find_client(client)

    if client is not None:
        _register_plugin(client, package, options)
    width = dims or _hidden_size(package, options, client)
    rows = _partition_lengths(partitions, lengths, client)

    embed_partition = dask.delayed(_embed_partition, pure=True)
    blocks = [embed_partition(part, package, options, task, dims, encode_options, count)
              for part, count in zip(partitions, rows)]
    if not blocks:
        return da.zeros((0, width), dtype=np.float32, chunks=((0,), (width,)))
    # Block (i, 0) is partition i's task. Built directly rather than with da.concatenate, which
    # drops empty chunks and so would misalign chunks and partitions after a filter.
    name = "jina3-embed-" + dask.base.tokenize(*(block.key for block in blocks), width)
    layer = {(name, i, 0): block.key for i, block in enumerate(blocks)}
    graph = HighLevelGraph.from_collections(name, layer, dependencies=blocks)
    return da.Array(graph, name, chunks=(tuple(rows), (width,)), dtype=np.float32)


class EncoderPlugin(_WorkerPluginBase):
    """The distributed worker plugin behind ``embed``: one Encoder per worker process, loaded when
    the plugin is set up (at registration, or when a worker joins), shared by that worker's tasks.

    Only the package path and the options are pickled; the Encoder is made on the worker, through
    jina3's per-process cache (``jina3.Encoder.shared``). ``loads`` counts the Encoders this plugin
    took (one per setup), ``partitions`` the partitions it embedded.
    """

    def __init__(self, package, encoder_options=()):
        self.package = os.fspath(package)
        self.encoder_options = tuple(encoder_options)
        self.name = plugin_name(self.package, self.encoder_options)
        self.encoder = None
        self.loads = 0
        self.partitions = 0

    def __getstate__(self):
        return {"package": self.package, "encoder_options": self.encoder_options}

    def __setstate__(self, state):
        self.__init__(state["package"], state["encoder_options"])

    async def setup(self, worker):
        # Loading reads and hashes the whole package (seconds for the real model): off the
        # worker's event loop, so that it keeps answering the scheduler meanwhile.
        loop = asyncio.get_running_loop()
        self.encoder = await loop.run_in_executor(None, _load, self.package, self.encoder_options)
        self.loads += 1

    def teardown(self, worker):
        self.encoder = None


def plugin_name(package, encoder_options=()):
    """The name ``embed`` registers the plugin for (package, encoder options) under."""
    digest = hashlib.sha256(repr((os.fspath(package), tuple(encoder_options))).encode()).hexdigest()
    return f"jina3-encoder-{digest[:16]}"


def load_count():
    """How many Encoders this process has loaded into jina3's shared per-process cache: jina3.dask's
    plugin and local cache, and unpickled ``jina3.Encoder`` objects (``jina3.shared_load_count``).

    Example (on a cluster: one per worker)::

        client.run(jina3.dask.load_count)  # {'tcp://127.0.0.1:40125': 1, ...}
    """
    return jina3.shared_load_count()


# --- in the tasks -------------------------------------------------------------------------------

def _load(package, options):
    # jina3's per-process cache (thread-safe: threads that start together wait for one load).
    return jina3.Encoder.shared(package, **dict(options))


def _encoder(package, options):
    distributed = sys.modules.get("distributed")  # imported in every worker process
    if distributed is not None:
        try:
            worker = distributed.get_worker()
        except ValueError:  # not in a worker: a local scheduler
            worker = None
        plugin = worker.plugins.get(plugin_name(package, options)) if worker is not None else None
        if plugin is not None and plugin.encoder is not None:
            plugin.partitions += 1
            return plugin.encoder
    return _load(package, options)


def _texts(partition):
    if hasattr(partition, "tolist"):  # a pandas Series
        return partition.tolist()
    return partition if isinstance(partition, list) else list(partition)


def _partition_length(partition):
    return len(partition) if hasattr(partition, "__len__") else sum(1 for _ in partition)


def _embed_partition(partition, package, options, task, dims, encode_options, rows):
    texts = _texts(partition)
    if not math.isnan(rows) and len(texts) != rows:
        # The array's chunks were laid out with the lengths computed (or given) at embed time.
        raise jina3.InvalidArgumentError(
            f"a partition has {len(texts)} texts where its length was {rows} when jina3.dask.embed was "
            "called: the collection changed between the two passes (or lengths= was wrong)")
    return _encoder(package, options).encode(texts, task=task, dims=dims, **encode_options)


def _hidden_size_of(package, options):
    return _encoder(package, options).hidden_size


def _scheduler_has_plugin(name, dask_scheduler=None):
    return name in dask_scheduler.worker_plugins


# --- in embed -----------------------------------------------------------------------------------

def _partitions(collection):
    if isinstance(collection, db.Bag):
        return collection.to_delayed()
    dataframe = sys.modules.get("dask.dataframe")  # never imported here: it needs pandas
    if dataframe is not None:
        if isinstance(collection, dataframe.Series):
            return collection.to_delayed()
        if isinstance(collection, dataframe.DataFrame):
            raise TypeError("jina3.dask.embed takes a Series of texts, not a DataFrame: pick the column, "
                            "e.g. embed(df['text'], ...)")
    raise TypeError(f"jina3.dask.embed takes a dask.bag of str or a dask.dataframe Series of str, "
                    f"not {type(collection).__module__}.{type(collection).__name__}")


def _options_key(encoder_options):
    if encoder_options is None:
        return ()
    if not isinstance(encoder_options, dict):
        raise TypeError(f"encoder_options must be a dict of jina3.Encoder keyword arguments, "
                        f"not {type(encoder_options).__name__}")
    for name, value in encoder_options.items():
        if not isinstance(name, str):
            raise TypeError(f"encoder_options keys must be str, not {type(name).__name__}")
        hash(value)  # the options key the per-process cache; a TypeError names the unhashable type
    return tuple(sorted(encoder_options.items()))


def _task_name(task):
    if isinstance(task, (list, tuple)):
        raise TypeError("task must be one task for the whole collection (None, a name or a jina3.Task), "
                        "not a list")
    if isinstance(task, jina3.Task):
        return str(task)  # the canonical name; tasks then carry a plain str
    return task


def _checked_dims(dims):
    if dims is None:
        return None
    if isinstance(dims, bool) or not isinstance(dims, numbers.Integral):
        raise TypeError(f"dims must be None or an int, not {type(dims).__name__}")
    if dims < 0:
        raise jina3.InvalidArgumentError(f"dims must be None or one of the package's dims, not {dims}")
    return int(dims)


def _find_client(client):
    if client is False:
        return None
    if client is not None:
        return client
    distributed = sys.modules.get("distributed")
    if distributed is None:
        return None
    try:
        return distributed.default_client()
    except ValueError:  # no client
        return None


def _register_plugin(client, package, options):
    name = plugin_name(package, options)
    # Registering a name again would tear the plugin down and load the package once more.
    if client.run_on_scheduler(_scheduler_has_plugin, name):
        return
    try:
        client.register_worker_plugin(EncoderPlugin(package, options), name=name)
    except BaseException:
        # The scheduler keeps a plugin whose setup failed and would hand it to new workers.
        try:
            client.unregister_worker_plugin(name)
        except Exception:  # noqa: BLE001  the setup error is the one to report
            pass
        raise


def _hidden_size(package, options, client):
    """The full embedding width, from the manifest when this process can read it, otherwise from an
    Encoder where the tasks run."""
    try:
        with open(os.path.join(package, "manifest.json"), encoding="utf-8") as f:
            value = json.load(f)["hidden_size"]
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    except (OSError, ValueError, KeyError, TypeError):
        pass
    probe = dask.delayed(_hidden_size_of, pure=True)(package, options)
    return probe.compute(scheduler=client if client is not None else "sync")


def _partition_lengths(partitions, lengths, client):
    if lengths is True:
        counts = [dask.delayed(_partition_length, pure=True)(part) for part in partitions]
        return list(dask.compute(*counts, scheduler=client)) if counts else []
    if lengths is False or lengths is None:
        return [math.nan] * len(partitions)
    counts = list(lengths)
    if len(counts) != len(partitions) or not all(
            isinstance(n, numbers.Integral) and not isinstance(n, bool) and n >= 0 for n in counts):
        raise jina3.InvalidArgumentError(
            f"lengths must be True, False or {len(partitions)} non-negative ints (one per partition)")
    return [int(n) for n in counts]
