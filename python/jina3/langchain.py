"""A LangChain embeddings adapter: ``jina3.langchain.Jina3Embeddings(package)``.

It has LangChain's ``Embeddings`` interface (``embed_documents``, ``embed_query`` and their async
forms ``aembed_documents``, ``aembed_query``): documents are embedded with the
``retrieval.passage`` task and queries with ``retrieval.query`` (jina-embeddings-v3's asymmetric
retrieval), or both with one task (``task="text-matching"`` for symmetric uses).

When ``langchain_core`` is importable the class subclasses ``langchain_core.embeddings.Embeddings``,
so LangChain vector stores and tools that check ``isinstance(x, Embeddings)`` (Mem0's LangChain
embedder, for one) accept it; without it the class works on its own with the same methods. It
pickles through its Encoder (as the package path and options), so Ray, Spark or Dask workers that
receive it load the package once per process.

Example::

    from jina3.langchain import Jina3Embeddings

    embeddings = Jina3Embeddings("jina-v3-package", dims=256)
    vectors = embeddings.embed_documents(["Berlin is the capital of Germany.", "LoRA adapters"])
    query = embeddings.embed_query("What is the capital of Germany?")
"""

import inspect

import jina3
from jina3 import _api

try:
    from langchain_core.embeddings import Embeddings as _Base
except ImportError:  # LangChain is optional: the adapter works standalone
    _Base = object

__all__ = ["Jina3Embeddings"]

# encode()'s keywords that an adapter passes on every call (normalize, batch_size, priority, ...):
# everything but the texts, the task and dims (the adapter's own arguments) and the output forms
# (the adapter returns lists of float).
_FIXED = {"self", "sentences", "task", "prompt_name", "dims", "truncate_dim", "output_value", "convert_to_numpy",
          "convert_to_tensor", "precision", "ranges"}
_ENCODE_OPTIONS = frozenset(inspect.signature(jina3.Encoder.encode).parameters) - _FIXED


class Jina3Embeddings(_Base):
    """LangChain embeddings from a jina3 Encoder.

    encoder: a ``jina3.Encoder``, or a package path loaded as ``jina3.Encoder(encoder,
    **encoder_options)``.
    query_task, document_task: the tasks of embed_query and embed_documents (defaults:
    "retrieval.query", "retrieval.passage"); task= sets both (e.g. "text-matching" where queries
    and documents are the same kind of text, as Mem0 embeds both with embed_query).
    dims: the Matryoshka size (None: full).
    encode_options: keywords for every ``Encoder.encode`` call (normalize, batch_size, priority,
    max_length, ...).

    Example::

        embeddings = Jina3Embeddings("jina-v3-package", task="text-matching", dims=512,
                                     encode_options={"batch_size": 64}, num_threads=4)
    """

    def __init__(self, encoder, *, query_task=jina3.Task.RetrievalQuery.value,
                 document_task=jina3.Task.RetrievalPassage.value, task=None, dims=None, encode_options=None,
                 **encoder_options):
        super().__init__()
        if isinstance(encoder, jina3.Encoder):
            if encoder_options:
                raise TypeError(f"Jina3Embeddings(): encoder options ({', '.join(sorted(encoder_options))}) are for "
                                "a package path; this encoder is already loaded")
        else:
            encoder = jina3.Encoder(encoder, **encoder_options)
        if task is not None:
            if (query_task, document_task) != (jina3.Task.RetrievalQuery.value, jina3.Task.RetrievalPassage.value):
                raise TypeError("Jina3Embeddings(): give task= (both tasks) or query_task=/document_task=, not both")
            query_task = document_task = task
        options = dict(encode_options or {})
        for name in options:
            if name not in _ENCODE_OPTIONS:
                error = _api._unknown_keyword("Encoder.encode", name, _ENCODE_OPTIONS)
                raise TypeError(f"Jina3Embeddings(): encode_options: {error}")
        self.encoder = encoder
        self.query_task = str(query_task) if isinstance(query_task, jina3.Task) else query_task
        self.document_task = str(document_task) if isinstance(document_task, jina3.Task) else document_task
        self.dims = dims
        self.encode_options = options

    def embed_documents(self, texts):
        """One vector (a list of float) per text, with the document task."""
        return self._vectors(self.encoder.encode(self._texts(texts), self.document_task, self.dims,
                                                 **self.encode_options))

    def embed_query(self, text):
        """One vector (a list of float) for the text, with the query task."""
        return self.encoder.encode([self._text(text)], self.query_task, self.dims, **self.encode_options)[0].tolist()

    async def aembed_documents(self, texts):
        """embed_documents without blocking the event loop (Encoder.encode_async)."""
        vectors = await self.encoder.encode_async(self._texts(texts), self.document_task, self.dims,
                                                  **self._async_options())
        return self._vectors(vectors)

    async def aembed_query(self, text):
        """embed_query without blocking the event loop (Encoder.encode_async)."""
        vectors = await self.encoder.encode_async([self._text(text)], self.query_task, self.dims,
                                                  **self._async_options())
        return vectors[0].tolist()

    def _async_options(self):
        options = dict(self.encode_options)
        options.pop("show_progress_bar", None)  # encode only
        return options

    @staticmethod
    def _texts(texts):
        if isinstance(texts, (str, bytes)):
            raise TypeError("embed_documents takes a list of str, not a single str: use embed_query for one text, "
                            "or wrap it in a list")
        return list(texts)

    @staticmethod
    def _text(text):
        if not isinstance(text, (str, bytes)):
            raise TypeError(f"embed_query takes one str, not {type(text).__name__}: use embed_documents for a list")
        return text

    @staticmethod
    def _vectors(array):
        return array.tolist()

    def __repr__(self):
        return (f"Jina3Embeddings({self.encoder!r}, query_task={self.query_task!r}, "
                f"document_task={self.document_task!r}, dims={self.dims!r})")
