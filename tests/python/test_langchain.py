"""The LangChain adapter jina3.langchain.Jina3Embeddings (issue 17, section 6): standalone (LangChain
is not in Debian) and, with a stand-in langchain_core.embeddings module put in sys.modules, as a
subclass of its Embeddings."""

import abc
import asyncio
import importlib
import pickle
import sys
import types

import pytest

import jina3
import jina3.langchain

pytest.register_assert_rewrite("encoder_support")  # before the import, so its asserts explain failures
from encoder_support import BATCH_TOLERANCE, max_abs_diff, package_dir  # noqa: E402

pytest_plugins = ("encoder_support",)  # fixtures: encoder, reference, long_text

SAME = BATCH_TOLERANCE


@pytest.fixture(scope="module")
def texts(reference):
    return reference["texts"][:5]


def check_adapter(adapter, encoder, texts, query_task="retrieval.query", document_task="retrieval.passage", dims=None):
    documents = adapter.embed_documents(texts)
    assert isinstance(documents, list) and len(documents) == len(texts)
    assert all(isinstance(row, list) and all(isinstance(x, float) for x in row) for row in documents)
    assert max_abs_diff(documents, encoder.encode(texts, document_task, dims)) <= SAME
    query = adapter.embed_query(texts[0])
    assert isinstance(query, list) and isinstance(query[0], float)
    assert max_abs_diff(query, encoder.encode([texts[0]], query_task, dims)[0]) <= SAME
    assert max_abs_diff(asyncio.run(adapter.aembed_documents(texts)), documents) <= SAME
    assert max_abs_diff(asyncio.run(adapter.aembed_query(texts[0])), query) <= SAME


def test_standalone(encoder, texts):
    assert "langchain_core" not in sys.modules  # Debian has no LangChain: this is the standalone class
    assert jina3.langchain.Jina3Embeddings.__bases__ == (object,)
    check_adapter(jina3.langchain.Jina3Embeddings(encoder), encoder, texts)
    # Queries and documents use different tasks by default.
    adapter = jina3.langchain.Jina3Embeddings(encoder)
    assert max_abs_diff(adapter.embed_query(texts[1]), adapter.embed_documents([texts[1]])[0]) > 1e-3
    # One task for both, dims, encode options, and a path loaded with encoder options.
    check_adapter(jina3.langchain.Jina3Embeddings(encoder, task="text-matching", dims=16), encoder, texts,
                  "text-matching", "text-matching", 16)
    check_adapter(jina3.langchain.Jina3Embeddings(encoder, query_task=jina3.Task.Separation, document_task="classification"),
                  encoder, texts, "separation", "classification")
    loaded = jina3.langchain.Jina3Embeddings(package_dir("float32"), dims=32, verify_checksums=False,
                                             encode_options={"batch_size": 2, "priority": "bulk"})
    check_adapter(loaded, encoder, texts, dims=32)
    unnormalised = jina3.langchain.Jina3Embeddings(encoder, encode_options={"normalize": False})
    assert max_abs_diff(unnormalised.embed_documents(texts), encoder.encode(texts, "retrieval.passage",
                                                                            normalize=False)) <= SAME
    assert adapter.embed_documents([]) == []

    # It pickles through its Encoder (the spec): the copy shares this process's model.
    copy = pickle.loads(pickle.dumps(loaded))
    assert copy.encoder._native is loaded.encoder._native and copy.dims == 32
    assert copy.embed_query(texts[0]) == pytest.approx(loaded.embed_query(texts[0]), abs=SAME)


def test_bad_arguments(encoder, texts):
    with pytest.raises(TypeError, match="embed_query for one text"):
        jina3.langchain.Jina3Embeddings(encoder).embed_documents("one text")
    with pytest.raises(TypeError, match="embed_documents for a list"):
        jina3.langchain.Jina3Embeddings(encoder).embed_query(["a", "b"])
    with pytest.raises(TypeError, match="not both"):
        jina3.langchain.Jina3Embeddings(encoder, task="separation", query_task="classification")
    with pytest.raises(TypeError, match="already loaded"):
        jina3.langchain.Jina3Embeddings(encoder, num_threads=2)
    with pytest.raises(TypeError, match="did you mean 'normalize'"):
        jina3.langchain.Jina3Embeddings(encoder, encode_options={"normalise": False})
    with pytest.raises(TypeError, match="did you mean 'num_threads'"):
        jina3.langchain.Jina3Embeddings(package_dir("float32"), num_thread=2)
    with pytest.raises(jina3.InvalidArgumentError, match="no-such-task"):
        jina3.langchain.Jina3Embeddings(encoder, task="no-such-task").embed_query("x")
    with pytest.raises(jina3.InvalidArgumentError):
        jina3.langchain.Jina3Embeddings(encoder, dims=7).embed_documents(texts)


@pytest.fixture
def fake_langchain_core(monkeypatch):
    """langchain_core.embeddings with an Embeddings ABC shaped like LangChain's (abstract
    embed_documents and embed_query; async forms that default to running those in an executor)."""

    class Embeddings(abc.ABC):
        @abc.abstractmethod
        def embed_documents(self, texts):
            ...

        @abc.abstractmethod
        def embed_query(self, text):
            ...

        async def aembed_documents(self, texts):
            raise AssertionError("the adapter has its own aembed_documents")

        async def aembed_query(self, text):
            raise AssertionError("the adapter has its own aembed_query")

    package = types.ModuleType("langchain_core")
    package.__path__ = []
    module = types.ModuleType("langchain_core.embeddings")
    module.Embeddings = Embeddings
    package.embeddings = module
    monkeypatch.setitem(sys.modules, "langchain_core", package)
    monkeypatch.setitem(sys.modules, "langchain_core.embeddings", module)
    yield Embeddings
    monkeypatch.undo()
    importlib.reload(jina3.langchain)  # back to the standalone class for the other tests


def test_subclasses_langchain_embeddings_when_importable(fake_langchain_core, encoder, texts):
    adapter_module = importlib.reload(jina3.langchain)
    assert issubclass(adapter_module.Jina3Embeddings, fake_langchain_core)
    adapter = adapter_module.Jina3Embeddings(encoder, dims=8)
    assert isinstance(adapter, fake_langchain_core)  # what Mem0's LangChain embedder checks
    check_adapter(adapter, encoder, texts, dims=8)
    # Mem0 calls embed_query for memories and searches alike: with task="text-matching" both sides match.
    symmetric = adapter_module.Jina3Embeddings(encoder, task="text-matching")
    assert max_abs_diff(symmetric.embed_query(texts[2]), symmetric.embed_documents([texts[2]])[0]) <= SAME
