"""The sentence-transformers-shaped surface of jina3 (issue 17, section 5): the ST keyword names
give the numbers of their jina3 twins, a single str, convert_to_tensor, output_value,
encode_query/encode_document, similarity, the context manager and close(), one-line TypeErrors
for unknown keywords, inspect.signature on every public callable, and Task as a str enum."""

import asyncio
import enum
import gc
import inspect
import re
import types
import weakref

import numpy as np
import pytest
import torch

import jina3
import jina3.dask
import jina3.langchain

pytest.register_assert_rewrite("encoder_support")  # before the import, so its asserts explain failures
from encoder_support import (  # noqa: E402
    BATCH_TOLERANCE, TASK_NAMES, max_abs_diff, max_state_diff, package_dir)

pytest_plugins = ("encoder_support",)  # fixtures: encoder, reference, long_text

SAME = BATCH_TOLERANCE  # two calls on the same texts: only the composition of passes differs


@pytest.fixture(scope="module")
def texts(reference):
    return reference["texts"][:6]


# --- aliases --------------------------------------------------------------------------------------

def test_each_sentence_transformers_keyword_equals_its_jina3_name(encoder, texts):
    for task in TASK_NAMES:
        by_alias = encoder.encode(texts, prompt_name=task)
        assert max_abs_diff(by_alias, encoder.encode(texts, task=task)) <= SAME, task
    # The alias has an effect: a task changes the numbers.
    assert max_abs_diff(encoder.encode(texts, prompt_name="retrieval.query"), encoder.encode(texts)) > 1e-3

    for dims in encoder.dims:
        truncated = encoder.encode(texts, "separation", truncate_dim=dims)
        assert truncated.shape == (len(texts), dims)
        assert max_abs_diff(truncated, encoder.encode(texts, "separation", dims=dims)) <= SAME

    for flag in (True, False):
        by_alias = encoder.encode(texts, "classification", normalize_embeddings=flag)
        assert max_abs_diff(by_alias, encoder.encode(texts, "classification", normalize=flag)) <= SAME
    norms = np.linalg.norm(encoder.encode(texts, "classification", normalize_embeddings=False), axis=1)
    assert not np.allclose(norms, 1.0)  # False reached the core
    # None (sentence-transformers' default is False; jina3's normalize default, True, applies).
    np.testing.assert_allclose(np.linalg.norm(encoder.encode(texts, normalize_embeddings=None), axis=1), 1.0,
                               atol=1e-5)

    # All of them at once, with the keywords both libraries share (batch_size, show_progress_bar, precision).
    st = encoder.encode(texts, prompt_name="retrieval.passage", truncate_dim=32, normalize_embeddings=True,
                        batch_size=2, show_progress_bar=None, precision="int8", convert_to_numpy=True)
    ours = encoder.encode(texts, task="retrieval.passage", dims=32, normalize=True, batch_size=2, precision="int8")
    assert st.dtype == ours.dtype == np.int8
    assert np.abs(st.astype(int) - ours.astype(int)).max() <= 1  # int8 of rows equal to float32 rounding

    # texts= (the old name of the first argument) and the positional forms still work.
    assert max_abs_diff(encoder.encode(texts=texts, task="text-matching"),
                        encoder.encode(texts, "text-matching")) <= SAME


def test_conflicting_aliases_are_a_type_error(encoder, texts):
    cases = [
        (dict(task="separation", prompt_name="separation"), "task= and prompt_name="),
        (dict(dims=32, truncate_dim=32), "dims= and truncate_dim="),
        (dict(normalize=True, normalize_embeddings=True), "normalize= and normalize_embeddings="),
    ]
    for keywords, fragment in cases:
        with pytest.raises(TypeError, match=re.escape(fragment)):
            encoder.encode(texts, **keywords)
        with pytest.raises(TypeError, match=re.escape(fragment)):
            asyncio.run(encoder.encode_async(texts, **keywords))
    with pytest.raises(TypeError, match="sentences and texts="):
        encoder.encode(texts, texts=texts)
    with pytest.raises(TypeError, match="sets the task"):
        encoder.encode_query(texts, task="separation")
    with pytest.raises(TypeError, match="sets the task"):
        encoder.encode_document(texts, prompt_name="separation")
    with pytest.raises(TypeError, match="missing 1 required argument: 'sentences'"):
        encoder.encode()


def test_encode_async_takes_the_aliases(encoder, texts):
    result = asyncio.run(encoder.encode_async(texts, prompt_name="retrieval.query", truncate_dim=16,
                                              normalize_embeddings=False))
    expected = encoder.encode(texts, "retrieval.query", 16, normalize=False)
    assert result.shape == (len(texts), 16)
    assert max_abs_diff(result, expected) <= SAME


def test_single_str_gives_a_1d_vector(encoder, texts):
    for text in (texts[0], texts[0].encode("utf-8")):
        vector = encoder.encode(text, "retrieval.query")
        assert vector.shape == (encoder.hidden_size,) and vector.dtype == np.float32
        assert max_abs_diff(vector, encoder.encode([texts[0]], "retrieval.query")[0]) <= SAME
    assert encoder.encode(texts[0], truncate_dim=16).shape == (16,)
    assert encoder.encode(texts[0], dims=16, precision="ubinary").shape == (2,)
    assert encoder.encode_query(texts[0]).shape == (encoder.hidden_size,)
    assert encoder.encode_document(texts[0], truncate_dim=8).shape == (8,)
    # A list of one is still 2-D, and other calls still want a list.
    assert encoder.encode([texts[0]]).shape == (1, encoder.hidden_size)
    with pytest.raises(TypeError, match="not a single"):
        encoder.encode_tokens(texts[0])


def test_convert_to_tensor_and_numpy(encoder, texts):
    array = encoder.encode(texts, "text-matching", 32)
    tensor = encoder.encode(texts, "text-matching", 32, convert_to_tensor=True)
    assert isinstance(tensor, torch.Tensor) and tensor.dtype == torch.float32 and tuple(tensor.shape) == array.shape
    assert max_abs_diff(tensor.numpy(), array) <= SAME
    # convert_to_tensor wins over convert_to_numpy, as in sentence-transformers.
    assert isinstance(encoder.encode(texts, convert_to_tensor=True, convert_to_numpy=True), torch.Tensor)

    one = encoder.encode(texts[0], "text-matching", 32, convert_to_tensor=True)
    assert isinstance(one, torch.Tensor) and tuple(one.shape) == (32,)
    assert max_abs_diff(one.numpy(), array[0]) <= SAME

    quantised = encoder.encode(texts, "text-matching", 32, precision="int8", ranges=np.array([[-1] * 32, [1] * 32],
                                                                                               dtype=np.float32),
                               convert_to_tensor=True)
    assert quantised.dtype == torch.int8 and tuple(quantised.shape) == (len(texts), 32)

    rows = encoder.encode(texts, "text-matching", 32, convert_to_numpy=False)
    assert isinstance(rows, list) and len(rows) == len(texts)
    assert all(isinstance(row, torch.Tensor) and tuple(row.shape) == (32,) for row in rows)
    assert max_abs_diff(torch.stack(rows).numpy(), array) <= SAME
    single = encoder.encode(texts[0], "text-matching", 32, convert_to_numpy=False)
    assert isinstance(single, torch.Tensor) and tuple(single.shape) == (32,)


def test_token_embeddings_equal_encode_tokens(encoder, texts, long_text):
    for task in ("retrieval.passage", None):
        tokens = encoder.encode(texts, prompt_name=task, output_value="token_embeddings")
        expected = encoder.encode_tokens(texts, task)
        assert isinstance(tokens, list) and len(tokens) == len(texts)
        for got, want in zip(tokens, expected):
            assert isinstance(got, np.ndarray) and got.dtype == np.float32
            assert got.shape == (len(want.ids), encoder.hidden_size)
            assert max_state_diff(got, want.embeddings) <= SAME
    # The keywords that shape tokens apply (max_length cuts the long text to 16 tokens).
    cut = encoder.encode([long_text], output_value="token_embeddings", max_length=16, batch_size=4,
                         normalize_embeddings=False, show_progress_bar=False)[0]
    assert cut.shape == (16, encoder.hidden_size)
    one = encoder.encode(texts[0], output_value="token_embeddings")
    assert one.ndim == 2 and max_state_diff(one, encoder.encode_tokens([texts[0]])[0].embeddings) <= SAME
    as_tensors = encoder.encode(texts, output_value="token_embeddings", convert_to_tensor=True)
    assert all(isinstance(t, torch.Tensor) for t in as_tensors)
    assert max_state_diff(as_tensors[1].numpy(), encoder.encode_tokens(texts)[1].embeddings) <= SAME

    # What only a sentence embedding has is refused, by name; so is an unknown output_value.
    for keywords, name in ((dict(truncate_dim=32), "dims"), (dict(precision="int8"), "precision"),
                           (dict(normalize_embeddings=True), "normalize"), (dict(priority="bulk"), "priority"),
                           (dict(show_progress_bar=True), "show_progress_bar")):
        with pytest.raises(jina3.InvalidArgumentError, match=name) as info:
            encoder.encode(texts, output_value="token_embeddings", **keywords)
        assert info.value.code == "invalid_argument"
    with pytest.raises(jina3.InvalidArgumentError, match="output_value='pooled'"):
        encoder.encode(texts, output_value="pooled")


def test_encode_query_and_encode_document(encoder, texts):
    assert max_abs_diff(encoder.encode_query(texts), encoder.encode(texts, task="retrieval.query")) <= SAME
    assert max_abs_diff(encoder.encode_document(texts), encoder.encode(texts, task="retrieval.passage")) <= SAME
    assert max_abs_diff(encoder.encode_query(texts, 16, normalize_embeddings=False),
                        encoder.encode(texts, "retrieval.query", 16, normalize=False)) <= SAME
    assert max_abs_diff(encoder.encode_document(texts, truncate_dim=16, precision="float16").astype(np.float32),
                        encoder.encode(texts, "retrieval.passage", 16).astype(np.float16).astype(np.float32)) <= 1e-3
    assert max_abs_diff(encoder.encode_query(texts), encoder.encode_document(texts)) > 1e-3  # different tasks


def numpy_cosine(a, b):
    a = np.atleast_2d(np.asarray(a, dtype=np.float64))
    b = np.atleast_2d(np.asarray(b, dtype=np.float64))
    a = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
    b = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
    return a @ b.T


def test_similarity_against_numpy(encoder, texts):
    rng = np.random.default_rng(17)
    a = rng.standard_normal((5, 24)).astype(np.float32) * 3
    b = rng.standard_normal((7, 24)).astype(np.float32)
    b[2] = 0  # a zero row scores 0, as torch.nn.functional.normalize's eps gives
    scores = jina3.similarity(a, b)
    assert isinstance(scores, np.ndarray) and scores.dtype == np.float32 and scores.shape == (5, 7)
    np.testing.assert_allclose(scores, numpy_cosine(a, b), atol=1e-6)
    assert np.all(scores[:, 2] == 0)
    np.testing.assert_allclose(jina3.similarity(a[0], b), numpy_cosine(a[0], b), atol=1e-6)  # 1-D is one row
    assert jina3.similarity(a[0], b[0]).shape == (1, 1)
    np.testing.assert_allclose(jina3.similarity(a.tolist(), b), numpy_cosine(a, b), atol=1e-6)
    # int8 rows compare as numbers.
    np.testing.assert_allclose(jina3.similarity(a.astype(np.int8), b), numpy_cosine(a.astype(np.int8), b), atol=1e-6)

    # torch in, torch out (sentence-transformers returns tensors).
    as_tensor = jina3.similarity(torch.from_numpy(a), b)
    assert isinstance(as_tensor, torch.Tensor) and tuple(as_tensor.shape) == (5, 7)
    np.testing.assert_allclose(as_tensor.numpy(), numpy_cosine(a, b), atol=1e-6)
    bf16 = jina3.similarity(torch.from_numpy(a).to(torch.bfloat16), torch.from_numpy(b))
    np.testing.assert_allclose(bf16.numpy(), numpy_cosine(a, b), atol=2e-2)  # bfloat16 rows: 8 bits of mantissa

    # The encoder's method, on its own vectors: normalised rows, so it is their dot product.
    q, d = encoder.encode_query(texts[:2]), encoder.encode_document(texts)
    np.testing.assert_allclose(encoder.similarity(q, d), q @ d.T, atol=1e-6)
    np.testing.assert_allclose(encoder.similarity(q, d), numpy_cosine(q, d), atol=1e-6)

    with pytest.raises(jina3.InvalidArgumentError, match="24 dims per row and b 23"):
        jina3.similarity(a, b[:, :23])
    with pytest.raises(jina3.InvalidArgumentError, match="3-D"):
        jina3.similarity(a[None], b)
    with pytest.raises(TypeError, match="numbers"):
        jina3.similarity(["x"], b)


# --- life cycle -----------------------------------------------------------------------------------

def test_context_manager_and_close(texts):
    with jina3.Encoder(package_dir("float32"), verify_checksums=False) as encoder:
        expected = encoder.encode(texts)
        assert not encoder.closed
        model = weakref.ref(encoder._native)
    assert encoder.closed
    gc.collect()
    assert model() is None  # the model was freed at the end of the with block

    calls = [lambda: encoder.encode(texts), lambda: encoder.encode_query(texts[0]), lambda: encoder.tokenize(texts),
             lambda: encoder.encode_tokens(texts), lambda: encoder.stats(), lambda: encoder.hidden_size,
             lambda: asyncio.run(encoder.encode_async(texts))]
    for call in calls:
        with pytest.raises(jina3.InvalidArgumentError, match="closed") as info:
            call()
        assert info.value.code == "invalid_argument"
    encoder.close()  # again: nothing happens
    assert "closed" in repr(encoder)
    with pytest.raises(jina3.InvalidArgumentError, match="closed"):
        with encoder:
            pass

    # close() while another reference is in use: that call finishes, later ones raise.
    other = jina3.Encoder(package_dir("float32"), verify_checksums=False)
    encode = other.encode
    other.close()
    with pytest.raises(jina3.InvalidArgumentError, match="closed"):
        encode(texts)
    # Exceptions in the block propagate, and the encoder is closed all the same.
    with pytest.raises(KeyError):
        with jina3.Encoder(package_dir("float32"), verify_checksums=False) as third:
            assert max_abs_diff(third.encode(texts), expected) <= SAME
            raise KeyError("inside")
    assert third.closed


# --- argument errors ------------------------------------------------------------------------------

def one_line_type_error(call):
    with pytest.raises(TypeError) as info:
        call()
    message = str(info.value)
    assert "\n" not in message, message
    return message


def test_unknown_keyword_is_one_line_naming_the_closest(encoder, texts):
    cases = [
        (lambda: encoder.encode(texts, normalise=False), "Encoder.encode()", "normalise", "normalize"),
        (lambda: encoder.encode(texts, truncate_dims=32), "Encoder.encode()", "truncate_dims", "truncate_dim"),
        (lambda: encoder.encode(texts, prompt="x"), "Encoder.encode()", "prompt", "prompt_name"),
        (lambda: encoder.encode(texts, convert_to_tensors=True), "Encoder.encode()", "convert_to_tensors",
         "convert_to_tensor"),
        (lambda: encoder.encode_query(texts, batchsize=2), "Encoder.encode_query()", "batchsize", "batch_size"),
        (lambda: encoder.encode_tokens(texts, max_len=3), "Encoder.encode_tokens()", "max_len", "max_length"),
        (lambda: encoder.tokenize(texts, split_special_token=True), "Encoder.tokenize()", "split_special_token",
         "split_special_tokens"),
        (lambda: encoder.late_chunk(texts, sentence=1), "Encoder.late_chunk()", "sentence", "sentences"),
        (lambda: jina3.Encoder(package_dir("float32"), num_thread=1), "Encoder()", "num_thread", "num_threads"),
        (lambda: jina3.quantize(np.zeros((1, 8), np.float32), "int8", range=None), "quantize()", "range", "ranges"),
        (lambda: asyncio.run(encoder.encode_async(texts, dimms=8)), "Encoder.encode_async()", "dimms", "dims"),
    ]
    for call, where, given, closest in cases:
        message = one_line_type_error(call)
        assert message == f"{where} got an unexpected keyword argument {given!r}; did you mean {closest!r}?", message
    # Nothing close: the valid keywords are listed, still on one line.
    message = one_line_type_error(lambda: encoder.tokenize(texts, zzzzzz=1))
    assert "valid keywords: max_length, split_special_tokens, task, texts, truncate" in message


def test_wrong_argument_types_are_one_line_naming_the_argument(encoder, texts):
    message = one_line_type_error(lambda: encoder.encode(texts, max_length="16"))
    assert message == "Encoder.encode(): max_length must be an int or None, not str ('16')"
    message = one_line_type_error(lambda: jina3.Encoder(package_dir("float32"), use_scheduler="no"))
    assert message == "Encoder(): use_scheduler must be True or False, not str ('no')"
    message = one_line_type_error(lambda: encoder.encode(texts, "separation", 8, 9))
    assert "too many positional arguments" in message or "positional argument" in message
    # TypeErrors about the texts themselves come from the core unchanged.
    with pytest.raises(TypeError, match=r"texts\[1\] is int, expected str"):
        encoder.encode(["a", 1])


# --- signatures -----------------------------------------------------------------------------------

def public_callables(namespace):
    # An enum's dir() lists its members and its mixin's (str's) methods, not its own: vars() has those.
    names = [name for name in vars(namespace) if name not in namespace.__members__] if namespace is jina3.Task else dir(
        namespace)
    for name in names:
        if not name.startswith("_"):
            value = inspect.getattr_static(namespace, name) if isinstance(namespace, type) else getattr(namespace, name)
            if isinstance(value, (staticmethod, classmethod)):
                value = getattr(namespace, name)
            if callable(value) and not isinstance(value, types.ModuleType):
                yield name, value


def test_inspect_signature_on_every_public_callable(encoder):
    seen = []
    for namespace in (jina3, jina3.dask, jina3.langchain, jina3.Encoder, encoder, jina3.Task):
        for name, value in public_callables(namespace):
            signature = inspect.signature(value)
            assert isinstance(signature, inspect.Signature), name
            seen.append(f"{getattr(namespace, '__name__', type(namespace).__name__)}.{name}")
    for name in ("jina3.Encoder", "jina3.similarity", "jina3.quantize", "jina3.calibration_ranges", "jina3.Task",
                 "jina3.InvalidArgumentError", "jina3.TokenEmbeddings", "Encoder.encode", "Encoder.encode_async",
                 "Encoder.encode_query", "Encoder.late_chunk", "Encoder.shared", "Encoder.close", "jina3.dask.embed",
                 "Task.from_string",
                 "jina3.langchain.Jina3Embeddings"):
        assert name in seen, (name, seen)

    # The signatures say what the calls take: every keyword of the compiled function (the option
    # tables) plus the sentence-transformers names.
    native = jina3._jina3.Encoder
    for method, extra in ((encoder.encode, {"sentences", "prompt_name", "truncate_dim", "normalize_embeddings",
                                            "output_value", "convert_to_numpy", "convert_to_tensor"}),
                          (encoder.encode_async, {"prompt_name", "truncate_dim", "normalize_embeddings"}),
                          (encoder.encode_tokens, set()), (encoder.tokenize, set()), (encoder.late_chunk, set())):
        name = method.__name__
        line = getattr(native, "_submit_async" if name == "encode_async" else name).__doc__.split("\n", 1)[0]
        declared = set(re.findall(r"(\w+): ", line)) - {"self", "loop", "future"}
        if name == "encode":
            declared = declared - {"texts"}
        parameters = set(inspect.signature(method).parameters)
        assert parameters == declared | extra, (name, parameters ^ (declared | extra))
    init = inspect.signature(jina3.Encoder).parameters
    assert list(init)[:2] == ["path", "device"] and init["num_threads"].kind == inspect.Parameter.KEYWORD_ONLY
    assert init["dtype"].default == "auto"
    encode = inspect.signature(jina3.Encoder.encode).parameters
    assert list(encode)[:4] == ["self", "sentences", "task", "dims"]
    assert encode["normalize"].default is True and encode["output_value"].default == "sentence_embedding"
    # A signature binds what the call accepts.
    inspect.signature(encoder.encode).bind(["a"], prompt_name="separation", truncate_dim=8, priority="bulk")
    with pytest.raises(TypeError):
        inspect.signature(encoder.encode).bind(["a"], normalise=True)
    assert inspect.iscoroutinefunction(jina3.Encoder.encode_async)


# --- Task -----------------------------------------------------------------------------------------

def test_task_is_a_str_enum_of_the_names(encoder, texts):
    assert issubclass(jina3.Task, enum.Enum) and issubclass(jina3.Task, str)
    assert [task.value for task in jina3.Task] == ["none"] + TASK_NAMES
    assert jina3.Task("retrieval.query") is jina3.Task.RetrievalQuery
    assert jina3.Task.TextMatching == "text-matching" and str(jina3.Task.TextMatching) == "text-matching"
    assert f"{jina3.Task.Separation}" == "separation"
    assert jina3.Task.from_string("classification") is jina3.Task.Classification
    assert jina3.Task.from_string(jina3.Task.Classification) is jina3.Task.Classification
    with pytest.raises(jina3.InvalidArgumentError, match="bogus"):
        jina3.Task.from_string("bogus")
    with pytest.raises(ValueError):
        jina3.Task("bogus")
    # The C enum's numbers stay reachable.
    assert [int(task) for task in jina3.Task] == [-1, 0, 1, 2, 3, 4]


def test_every_api_takes_the_enum_and_the_plain_string(encoder, texts):
    for member in jina3.Task:
        name = member.value
        assert max_abs_diff(encoder.encode(texts, member), encoder.encode(texts, name)) <= SAME
        assert max_abs_diff(encoder.encode(texts, prompt_name=member), encoder.encode(texts, prompt_name=name)) <= SAME
        assert max_abs_diff(asyncio.run(encoder.encode_async(texts, member)), encoder.encode(texts, name)) <= SAME
        assert encoder.tokenize(texts, member) == encoder.tokenize(texts, name)
        assert encoder.prompt(member) == encoder.prompt(name)
        assert max_abs_diff(encoder.encode(texts, [member] * len(texts)), encoder.encode(texts, name)) <= SAME
        by_enum = encoder.encode_tokens(texts[:2], member)
        by_name = encoder.encode_tokens(texts[:2], name)
        assert all(np.array_equal(a.ids, b.ids) for a, b in zip(by_enum, by_name))
        if member is not jina3.Task.NONE:
            assert max_abs_diff(encoder.late_chunk(texts[:2], member)[0].embeddings,
                                encoder.late_chunk(texts[:2], name)[0].embeddings) <= SAME
    embeddings = jina3.langchain.Jina3Embeddings(encoder, task=jina3.Task.TextMatching)
    assert embeddings.query_task == embeddings.document_task == "text-matching"
