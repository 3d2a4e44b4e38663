"""jina3.dask.embed: a dask.bag or dask.dataframe Series in, a dask.array out, on a distributed
LocalCluster (2 worker processes x 1 thread, one plugin-loaded Encoder each) and on Dask's local
schedulers; the results equal in-process encode."""

import pickle

import cloudpickle
import dask
import dask.bag as db
import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest

import jina3
import jina3.dask

pytest.register_assert_rewrite("encoder_support")  # before the import, so its asserts explain failures
from encoder_support import BATCH_TOLERANCE, max_abs_diff, package_dir  # noqa: E402

pytest_plugins = ("encoder_support",)  # fixtures: encoder, reference, client (Dask)

TOLERANCE = BATCH_TOLERANCE  # vs the same Encoder in this process: only the batch composition differs
PARTITIONS = 7


@pytest.fixture(scope="module")
def package():
    return str(package_dir("float32"))


@pytest.fixture(scope="module")
def texts(reference):
    """About 200 texts of many lengths, the reference's (Unicode, over 300 tokens) among them."""
    words = ["alpha", "βῆτα", "gamma", "дельта", "epsilon", "ζήτα", "😀", "eta"]
    synthetic = [" ".join(words[(i + j) % len(words)] for j in range(1 + i % 23)) for i in range(200)]
    return (list(reference["texts"]) + synthetic)[:200]


def partition_lengths(collection):
    return tuple(len(part) for part in dask.compute(*collection.to_delayed(), scheduler="sync"))


def worker_plugins(client):
    """{worker address: {jina3 plugin name: (loads, partitions)}}."""
    def plugins(dask_worker):
        return {name: (plugin.loads, plugin.partitions) for name, plugin in dask_worker.plugins.items()
                if name.startswith("jina3-")}
    return client.run(plugins)


# --- distributed ---------------------------------------------------------------------------------

def test_cluster_equals_in_process_encode_and_loads_once_per_worker(client, encoder, package, texts):
    bag = db.from_sequence(texts, npartitions=PARTITIONS)
    loads_here = jina3.dask.load_count()

    vectors = jina3.dask.embed(bag, package, task="retrieval.passage", dims=32, client=client)
    assert vectors.dtype == np.float32
    assert vectors.shape == (len(texts), 32)
    assert vectors.chunks == (partition_lengths(bag), (32,))
    assert len(vectors.chunks[0]) == bag.npartitions == PARTITIONS

    result = vectors.compute(scheduler=client)
    expected = encoder.encode(texts, task="retrieval.passage", dims=32)
    assert result.dtype == np.float32 and result.shape == expected.shape
    assert max_abs_diff(result, expected) <= TOLERANCE

    # A second embed and compute: the plugin is not registered again, nothing is loaded again.
    again = jina3.dask.embed(bag, package, task="retrieval.passage", dims=32, client=client).compute(scheduler=client)
    assert max_abs_diff(again, expected) <= TOLERANCE

    assert client.run(jina3.dask.load_count) == {address: 1 for address in client.scheduler_info()["workers"]}
    name = jina3.dask.plugin_name(package)
    per_worker = worker_plugins(client)
    assert len(per_worker) == 2
    assert all(plugins[name][0] == 1 for plugins in per_worker.values()), per_worker
    # Every partition of both computes ran on a plugin's Encoder (none fell back to the cache).
    assert sum(plugins[name][1] for plugins in per_worker.values()) == 2 * PARTITIONS, per_worker
    # The client read the width from the manifest and loaded nothing itself.
    assert jina3.dask.load_count() == loads_here


def test_default_client_encode_and_encoder_options(client, encoder, package, texts):
    bag = db.from_sequence(texts, npartitions=3)
    options = {"num_threads": 1, "verify_checksums": False}
    with client.as_current():  # client=None finds it
        vectors = jina3.dask.embed(bag, package, task="text-matching", encoder_options=options, normalize=False,
                                   max_length=32)
    result = vectors.compute(scheduler=client)
    expected = encoder.encode(texts, task="text-matching", normalize=False, max_length=32)
    assert max_abs_diff(result, expected) <= TOLERANCE
    assert not np.allclose(np.linalg.norm(result, axis=1), 1.0)  # normalize=False reached encode

    # Other encoder options are another plugin, loaded once more on each worker.
    name = jina3.dask.plugin_name(package, tuple(sorted(options.items())))
    assert name != jina3.dask.plugin_name(package)
    per_worker = worker_plugins(client)
    assert all(plugins[name][0] == 1 for plugins in per_worker.values()), per_worker
    assert sum(plugins[name][1] for plugins in per_worker.values()) == 3, per_worker


def test_cluster_dataframe_series(client, encoder, package, texts):
    frame = pd.DataFrame({"id": range(len(texts)), "text": texts})
    series = dd.from_pandas(frame, npartitions=4)["text"]
    vectors = jina3.dask.embed(series, package, task="retrieval.query", dims=16, client=client)
    assert vectors.chunks == (partition_lengths(series), (16,))
    assert len(vectors.chunks[0]) == 4
    result = vectors.compute(scheduler=client)
    assert max_abs_diff(result, encoder.encode(texts, task="retrieval.query", dims=16)) <= TOLERANCE

    with pytest.raises(TypeError, match="not a DataFrame"):
        jina3.dask.embed(dd.from_pandas(frame, npartitions=2), package, client=client)


def test_cluster_bad_dims_raises_at_compute(client, package, texts):
    vectors = jina3.dask.embed(db.from_sequence(texts, npartitions=2), package, dims=100, client=client)
    with pytest.raises(jina3.InvalidArgumentError, match="dims 100"):
        vectors.compute(scheduler=client)


def test_cluster_missing_package_raises_at_embed_and_leaves_no_plugin(client, tmp_path, texts):
    missing = tmp_path / "no-such-package"
    with pytest.raises(jina3.ModelNotFoundError):
        jina3.dask.embed(db.from_sequence(texts[:4]), missing, dims=16, client=client)
    names = client.run_on_scheduler(lambda dask_scheduler: list(dask_scheduler.worker_plugins))
    assert jina3.dask.plugin_name(missing) not in names
    assert all(jina3.dask.plugin_name(missing) not in plugins for plugins in worker_plugins(client).values())


# --- local schedulers ----------------------------------------------------------------------------

@pytest.mark.parametrize("scheduler,num_threads", [("threads", 1), ("synchronous", 2)])
def test_local_scheduler_equals_in_process_encode(scheduler, num_threads, encoder, package, texts):
    # Options no other test uses: this test's Encoder is loaded here, exactly once.
    options = {"num_threads": num_threads, "max_batch_size": 16}
    texts = texts[:80]
    bag = db.from_sequence(texts, npartitions=PARTITIONS)
    loads = jina3.dask.load_count()
    vectors = jina3.dask.embed(bag, package, task="separation", dims=64, encoder_options=options, client=False)
    assert vectors.chunks == (partition_lengths(bag), (64,))
    expected = encoder.encode(texts, task="separation", dims=64)
    with dask.config.set(num_workers=4):  # threads: four partitions wait for one load at once
        for _ in range(2):
            assert max_abs_diff(vectors.compute(scheduler=scheduler), expected) <= TOLERANCE
    assert jina3.dask.load_count() == loads + 1


def test_local_task_enum_empty_partitions_and_lengths(encoder, package, texts):
    # The first 50 texts (by position: the fixture may repeat a text), from 7 partitions of 29.
    numbered = db.from_sequence(list(enumerate(texts)), npartitions=PARTITIONS)
    bag = numbered.filter(lambda pair: pair[0] < 50).map(lambda pair: pair[1])
    vectors = jina3.dask.embed(bag, package, task=jina3.Task.Classification, client=False)
    # The partitions that the filter emptied keep their (empty) chunks: chunk i is partition i.
    assert vectors.chunks == (partition_lengths(bag), (encoder.hidden_size,))
    assert 0 in vectors.chunks[0]
    expected = encoder.encode(texts[:50], task="classification")
    assert max_abs_diff(vectors.compute(scheduler="synchronous"), expected) <= TOLERANCE

    unknown = jina3.dask.embed(bag, package, task="classification", lengths=False, client=False)
    assert all(np.isnan(n) for n in unknown.chunks[0])
    assert max_abs_diff(unknown.compute(scheduler="synchronous"), expected) <= TOLERANCE

    given = jina3.dask.embed(bag, package, task="classification", lengths=partition_lengths(bag), client=False)
    assert given.chunks == vectors.chunks
    wrong = list(partition_lengths(bag))
    wrong[0] += 1
    bad = jina3.dask.embed(bag, package, task="classification", lengths=wrong, client=False)
    with pytest.raises(jina3.InvalidArgumentError, match="collection changed"):
        bad.compute(scheduler="synchronous")

    empty = jina3.dask.embed(db.from_sequence([], npartitions=1), package, dims=8, client=False)
    assert empty.shape == (0, 8) and empty.compute(scheduler="synchronous").shape == (0, 8)


def test_local_bad_arguments(package, texts, tmp_path):
    bag = db.from_sequence(texts[:6], npartitions=2)
    with pytest.raises(jina3.InvalidArgumentError, match="dims 100"):
        jina3.dask.embed(bag, package, dims=100, client=False).compute(scheduler="synchronous")
    with pytest.raises(jina3.InvalidArgumentError, match="no-such-task"):
        jina3.dask.embed(bag, package, task="no-such-task", client=False).compute(scheduler="synchronous")
    with pytest.raises(TypeError, match="expected str"):
        jina3.dask.embed(db.from_sequence([1, 2]), package, dims=8, client=False).compute(scheduler="synchronous")
    with pytest.raises(jina3.InvalidArgumentError, match="-1"):
        jina3.dask.embed(bag, package, dims=-1, client=False)
    with pytest.raises(TypeError, match="dims"):
        jina3.dask.embed(bag, package, dims="32", client=False)
    with pytest.raises(TypeError, match="one task"):
        jina3.dask.embed(bag, package, task=["separation"] * 6, client=False)
    with pytest.raises(TypeError, match="dask.bag"):
        jina3.dask.embed(texts, package, client=False)
    with pytest.raises(TypeError, match="encoder_options"):
        jina3.dask.embed(bag, package, encoder_options=[("num_threads", 1)], client=False)
    with pytest.raises(jina3.InvalidArgumentError, match="lengths"):
        jina3.dask.embed(bag, package, lengths=[3], client=False)
    # Without dims and without a readable manifest the width comes from loading the package here.
    with pytest.raises(jina3.ModelNotFoundError):
        jina3.dask.embed(bag, tmp_path / "no-such-package", client=False)


# --- pickling ------------------------------------------------------------------------------------

def test_no_model_is_pickled(encoder, package, texts):
    # An Encoder pickles as its (path, options) spec, never its model (test_pickling.py has the rest).
    for dumps in (pickle.dumps, cloudpickle.dumps):
        data = dumps(encoder)
        assert len(data) < 1000
        assert max_abs_diff(pickle.loads(data).encode(texts[:3]), encoder.encode(texts[:3])) <= TOLERANCE

    bag = db.from_sequence(texts[:20], npartitions=3)
    vectors = jina3.dask.embed(bag, package, dims=8, client=False)
    vectors.compute(scheduler="synchronous")  # this process's cache now holds an Encoder
    # The whole graph pickles: it holds no Encoder (an Encoder in it would raise above), only the
    # texts, the package path and options.
    graph = dict(vectors.__dask_graph__())
    restored = pickle.loads(cloudpickle.dumps(graph))
    assert set(restored) == set(graph)

    plugin = jina3.dask.EncoderPlugin(package, (("num_threads", 1),))
    plugin.encoder = encoder  # as after setup on a worker
    copy = pickle.loads(pickle.dumps(plugin))
    assert copy.encoder is None and copy.loads == 0
    assert (copy.package, copy.encoder_options, copy.name) == (plugin.package, plugin.encoder_options, plugin.name)
