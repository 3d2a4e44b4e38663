"""Encoders for distributed engines (issue 17, section 6): an Encoder pickles as its (path, options)
spec, and unpickling loads the package once per process and reuses it (Encoder.shared), through
multiprocessing with the spawn start method, through a Dask LocalCluster of worker processes, and
in-process."""

import collections
import multiprocessing
import os
import pickle

import cloudpickle
import dask.bag as db
import numpy as np
import pytest

import jina3
import jina3.langchain

pytest.register_assert_rewrite("encoder_support")  # before the import, so its asserts explain failures
from encoder_support import BATCH_TOLERANCE, max_abs_diff, package_dir  # noqa: E402

import pickling_workers  # noqa: E402

pytest_plugins = ("encoder_support",)  # fixtures: encoder, reference, long_text, client (Dask)

SAME = BATCH_TOLERANCE


@pytest.fixture(scope="module")
def texts(reference):
    return reference["texts"][:12]


def test_pickles_as_its_spec_and_shares_the_model_in_process(encoder, texts):
    path = os.path.abspath(package_dir("float32"))
    data = pickle.dumps(encoder)
    assert len(data) < 500 and path.encode() in data  # the spec, never the model
    loads = jina3.shared_load_count()
    copy = pickle.loads(data)
    # This process already has that model (the fixture's): reused, nothing loaded.
    assert copy._native is encoder._native and jina3.shared_load_count() == loads
    assert max_abs_diff(copy.encode(texts), encoder.encode(texts)) <= SAME
    assert pickle.loads(cloudpickle.dumps(encoder))._native is encoder._native

    # Options are part of the spec; options at their defaults are not (they load the same model).
    other = jina3.Encoder(path, max_batch_size=7, verify_checksums=False)
    assert pickle.loads(pickle.dumps(other))._native is other._native
    assert pickle.loads(pickle.dumps(other))._native is not encoder._native
    default_spelled_out = jina3.Encoder(path, "cpu", num_threads=0, dtype="auto")
    assert pickle.dumps(default_spelled_out) == data

    # Encoder.shared: loaded on first use, then the same model.
    first = jina3.Encoder.shared(path, max_batch_size=5)
    assert jina3.shared_load_count() == loads + 1
    second = jina3.Encoder.shared(path, max_batch_size=5)
    assert second._native is first._native and jina3.shared_load_count() == loads + 1
    assert max_abs_diff(second.encode(texts, "separation"), encoder.encode(texts, "separation")) <= SAME
    # close() ends one handle; the shared model stays for the others and for later unpickling.
    first.close()
    assert max_abs_diff(second.encode(texts[:2]), encoder.encode(texts[:2])) <= SAME
    assert pickle.loads(pickle.dumps(second))._native is second._native
    assert jina3.Encoder.clear_shared() >= 1
    third = jina3.Encoder.shared(path, max_batch_size=5)
    assert third._native is not second._native and jina3.shared_load_count() == loads + 2


def test_spec_path_is_absolute(texts, tmp_path, monkeypatch):
    # A worker may run in another directory (Ray does): the spec holds the absolute path.
    package = package_dir("float32")
    monkeypatch.chdir(package.parent)
    relative = jina3.Encoder(package.name, verify_checksums=False, max_batch_size=3)
    data = pickle.dumps(relative)
    monkeypatch.chdir(tmp_path)
    copy = pickle.loads(data)
    assert os.path.isabs(copy._spec[0])
    assert max_abs_diff(copy.encode(texts[:3]), relative.encode(texts[:3])) <= SAME


def test_bad_spec_fails_when_unpickled(tmp_path):
    # Unpickling where the package is missing raises jina3's error for it, naming the path.
    restore, (path, options) = jina3.Encoder(package_dir("float32"), max_batch_size=9).__reduce__()
    assert options == (("max_batch_size", 9),)
    with pytest.raises(jina3.ModelNotFoundError, match="gone"):
        restore(str(tmp_path / "gone"), options)


def test_multiprocessing_spawn_loads_once_per_process(encoder, texts):
    jobs = [(encoder, texts[i:i + 2], task) for i, task in
            zip(range(0, 12, 2), ["retrieval.query", "retrieval.passage", "separation", None, "text-matching",
                                  "classification"])]
    context = multiprocessing.get_context("spawn")
    with context.Pool(2) as pool:
        results = pool.map(pickling_workers.encode_in_worker, jobs, chunksize=1)
    per_process = collections.defaultdict(list)
    for (pid, loads, vectors), (_, job_texts, task) in zip(results, jobs):
        per_process[pid].append(loads)
        assert max_abs_diff(vectors, encoder.encode(job_texts, task=task)) <= SAME, task
    assert os.getpid() not in per_process and 1 <= len(per_process) <= 2
    # Every task in a worker unpickled the Encoder; each worker loaded the package once in all.
    assert all(counts == [1] * len(counts) for counts in per_process.values()), dict(per_process)
    assert sum(len(counts) for counts in per_process.values()) == len(jobs)


def test_multiprocessing_spawn_with_the_langchain_adapter(encoder, texts):
    adapter = jina3.langchain.Jina3Embeddings(encoder, dims=16)
    context = multiprocessing.get_context("spawn")
    with context.Pool(1) as pool:
        results = pool.map(pickling_workers.embed_with_adapter, [(adapter, texts[:3]), (adapter, texts[3:6])],
                           chunksize=1)
    for (pid, loads, documents, query), chunk in zip(results, (texts[:3], texts[3:6])):
        assert pid != os.getpid() and loads == 1
        assert max_abs_diff(documents, encoder.encode(chunk, "retrieval.passage", 16)) <= SAME
        assert max_abs_diff(query, encoder.encode(chunk[0], "retrieval.query", 16)) <= SAME


def test_dask_cluster_loads_once_per_worker(client, encoder, texts):
    # An Encoder captured by the task functions and passed as an argument: each worker process
    # unpickles it for many tasks and loads it once.
    def encode(chunk, model):
        return model.encode(list(chunk), task="retrieval.passage", dims=32)

    futures = client.map(encode, [texts[i:i + 2] for i in range(0, 12, 2)], model=encoder, pure=False)
    results = client.gather(futures)
    expected = encoder.encode(texts, "retrieval.passage", 32)
    assert max_abs_diff(np.concatenate(results), expected) <= SAME

    bag = db.from_sequence(texts, npartitions=6)
    vectors = bag.map_partitions(lambda part: [encoder.encode_document(list(part), truncate_dim=32)]).compute(
        scheduler=client)
    assert max_abs_diff(np.concatenate(vectors), expected) <= SAME

    loads = client.run(jina3.shared_load_count)
    assert set(loads) == set(client.scheduler_info()["workers"])
    assert all(count <= 1 for count in loads.values()), loads
    assert sum(loads.values()) >= 1, loads
    # The same workers asked again (another 12 unpicklings): still no new load.
    again = client.gather(client.map(encode, [texts[i:i + 1] for i in range(12)], model=encoder, pure=False))
    assert max_abs_diff(np.concatenate(again), expected) <= SAME
    after = client.run(jina3.shared_load_count)
    assert all(after[worker] == loads[worker] or (loads[worker], after[worker]) == (0, 1) for worker in loads), (
        loads, after)


def test_a_forked_child_gets_a_clear_error(encoder):
    # The encoder's scheduler threads do not survive fork(): the child is told so instead of hanging.
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: only Python code runs here, never the model
        try:
            encoder.encode(["x"])
            message = b"no error"
        except jina3.InvalidArgumentError as error:
            message = str(error).encode()
        except BaseException as error:  # noqa: BLE001
            message = repr(error).encode()
        os.write(write, message[:4000])
        os._exit(0)
    os.close(write)
    message = os.read(read, 4096).decode()
    os.close(read)
    os.waitpid(pid, 0)
    assert "before a fork" in message and "spawn" in message, message
