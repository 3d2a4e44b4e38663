"""Functions that test_pickling.py runs in worker processes (multiprocessing's spawn start method
imports them by name, so they live in a module of their own, next to the tests)."""

import os

import jina3


def encode_in_worker(job):
    """Encodes with an Encoder that arrived pickled; returns what the worker saw."""
    encoder, texts, task = job
    vectors = encoder.encode(texts, task=task)
    return os.getpid(), jina3.shared_load_count(), vectors


def embed_with_adapter(job):
    """The LangChain adapter, pickled as a whole (its Encoder inside)."""
    embeddings, texts = job
    return os.getpid(), jina3.shared_load_count(), embeddings.embed_documents(texts), embeddings.embed_query(texts[0])
