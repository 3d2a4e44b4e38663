"""jina3.Encoder from Python: parity with the reference, task forms, properties, zero-copy."""

import os
import pathlib
import re

import numpy as np
import pytest

import jina3

pytest.register_assert_rewrite("encoder_support")  # before the import, so its asserts explain failures
from encoder_support import (  # noqa: E402
    BATCH_TOLERANCE, TASK_NAMES, TOLERANCE, case_dims, max_abs_diff, package_dir, reference_embeddings)

pytest_plugins = ("encoder_support",)  # fixtures: encoder, reference, long_text


def test_imports_the_build_tree_module():
    build_dir = os.environ.get("JINA3_BUILD_DIR")
    assert build_dir, "JINA3_BUILD_DIR is not set: run through ctest"
    package = pathlib.Path(jina3.__file__).resolve().parent
    assert package == (pathlib.Path(build_dir) / "python" / "jina3").resolve()
    assert pathlib.Path(jina3._jina3.__file__).parent.resolve() == package
    # __version__ is the C++ library's, which CMake writes from project(VERSION).
    header = (pathlib.Path(build_dir) / "include" / "jina3" / "version.hpp").read_text()
    expected = re.search(r'#define JINA3_VERSION_STRING "([^"]+)"', header).group(1)
    assert jina3.__version__ == expected
    assert re.fullmatch(r"\d+\.\d+\.\d+", jina3.__version__)


def test_properties(encoder, reference):
    assert encoder.tasks == TASK_NAMES
    assert encoder.dims == reference["matryoshka_dims"]
    assert encoder.hidden_size == reference["hidden_size"] == encoder.dims[-1]
    assert encoder.max_length == reference["max_length"]
    assert encoder.device == "cpu"
    assert encoder.dtype == "float32"
    assert encoder.package_path == str(package_dir("float32"))
    for name in TASK_NAMES:
        assert encoder.prompt(name) == reference["prompts"][name]
        assert encoder.prompt(jina3.Task.from_string(name)) == reference["prompts"][name]
    assert encoder.prompt(None) == ""
    text = repr(encoder)
    assert text.startswith("<jina3.Encoder ")
    assert str(package_dir("float32")) in text and "float32" in text and "retrieval.query" in text
    for name in ("tasks", "dims", "hidden_size", "max_length", "device", "dtype", "package_path"):
        with pytest.raises(AttributeError):
            setattr(encoder, name, getattr(encoder, name))


def test_loads_from_pathlike():
    encoder = jina3.Encoder(package_dir("float32"), "cpu", dtype="auto", num_threads=0, verify_checksums=False)
    assert encoder.package_path == str(package_dir("float32"))
    assert encoder.encode(["path-like"]).shape == (1, encoder.hidden_size)


def test_retain_host_memory_is_an_option_and_changes_no_result(encoder):
    # The allocator setting is process-wide and permanent once set, so only the keyword and the
    # results can be checked here (tests/cpp checks its effect on malloc).
    other = jina3.Encoder(package_dir("float32"), retain_host_memory=False, verify_checksums=False)
    texts = ["allocator", "settings change no result"]
    expected = encoder.encode(texts, task="separation")
    assert max_abs_diff(other.encode(texts, task="separation"), expected) <= BATCH_TOLERANCE
    with pytest.raises(TypeError):
        jina3.Encoder(package_dir("float32"), retain_host_memory="no")


def test_encode_matches_reference_for_every_case(encoder, reference):
    texts = reference["texts"]
    failures = []
    for case in reference["cases"]:
        expected = np.asarray(case["embeddings"], dtype=np.float32)
        actual = encoder.encode(
            texts,
            task=case["task"],
            dims=case["dims"] or None,
            normalize=case["normalize"],
            max_length=case["max_length"] or None,
        )
        assert actual.shape == expected.shape == (len(texts), case_dims(reference, case))
        diff = max_abs_diff(actual, expected)
        if not diff <= TOLERANCE:
            failures.append(f"{ {k: v for k, v in case.items() if k != 'embeddings'} }: max |diff| {diff:.3g}")
    assert not failures, "differs from the reference:\n" + "\n".join(failures)


def test_reference_covers_what_the_tests_claim(reference):
    # The parity test above is only as strong as the cases the fixture wrote.
    covered = {(c["task"], case_dims(reference, c), c["normalize"], c["max_length"]) for c in reference["cases"]}
    full = reference["hidden_size"]
    for task in TASK_NAMES + [None]:
        assert (task, full, True, 0) in covered, f"no full-size case for task {task!r}"
    assert len({case_dims(reference, c) for c in reference["cases"]}) >= 3, "fewer than 3 different dims"
    assert any(not c["normalize"] for c in reference["cases"]), "no normalize=False case"
    assert any(c["max_length"] for c in reference["cases"]), "no max_length case"
    assert "" in reference["texts"]


def test_every_dims_is_a_prefix_of_the_full_embedding(encoder, reference, long_text):
    texts = [text for text in reference["texts"] if text != long_text]
    full = encoder.encode(texts, "text-matching", normalize=False)
    for dims in encoder.dims:
        unnormalised = encoder.encode(texts, "text-matching", dims, normalize=False)
        assert unnormalised.shape == (len(texts), dims)
        assert max_abs_diff(unnormalised, full[:, :dims]) <= TOLERANCE
        normalised = encoder.encode(texts, "text-matching", dims)
        expected = full[:, :dims] / np.linalg.norm(full[:, :dims], axis=1, keepdims=True)
        assert max_abs_diff(normalised, expected) <= TOLERANCE
        np.testing.assert_allclose(np.linalg.norm(normalised, axis=1), 1.0, atol=1e-5)


def test_task_forms_give_the_same_result(encoder, reference):
    texts = reference["texts"][:4]
    for name in TASK_NAMES:
        by_name = encoder.encode(texts, name)
        by_enum = encoder.encode(texts, jina3.Task.from_string(name))
        by_list = encoder.encode(texts, [name] * len(texts))
        by_tuple = encoder.encode(texts, tuple(jina3.Task.from_string(name) for _ in texts))
        for other in (by_enum, by_list, by_tuple):
            assert max_abs_diff(by_name, other) <= TOLERANCE
    none_forms = [encoder.encode(texts, t) for t in (None, "none", "", jina3.Task.NONE)]
    for other in none_forms[1:]:
        assert max_abs_diff(none_forms[0], other) <= TOLERANCE
    # Different tasks really give different vectors, so the comparisons above mean something.
    assert max_abs_diff(encoder.encode(texts, "retrieval.query"), encoder.encode(texts, "separation")) > 1e-3


def test_mixed_task_batch_equals_per_task_batches(encoder, reference):
    texts = reference["texts"]
    choices = TASK_NAMES + [None]
    tasks = [choices[i % len(choices)] for i in range(len(texts))]
    for dims in (None, encoder.dims[0]):
        mixed = encoder.encode(texts, tasks, dims)
        for task in choices:
            rows = [i for i, t in enumerate(tasks) if t == task]
            if not rows:
                continue
            alone = encoder.encode([texts[i] for i in rows], task, dims)
            assert max_abs_diff(mixed[rows], alone) <= TOLERANCE, f"task {task!r} dims {dims}"
            expected = reference_embeddings(reference, task, reference["hidden_size"])[rows]
            if dims is None:
                assert max_abs_diff(mixed[rows], expected) <= TOLERANCE


def test_batch_size_does_not_change_results(encoder, reference):
    texts = reference["texts"]
    expected = reference_embeddings(reference, "retrieval.passage", reference["hidden_size"])
    for batch_size in (1, 3, len(texts)):
        actual = encoder.encode(texts, "retrieval.passage", batch_size=batch_size)
        assert max_abs_diff(actual, expected) <= TOLERANCE, f"batch_size={batch_size}"


def test_bfloat16_package_is_close_to_reference(reference):
    encoder = jina3.Encoder(package_dir("bfloat16"))
    assert encoder.dtype == "bfloat16"
    texts = reference["texts"]
    for task in TASK_NAMES + [None]:
        expected = reference_embeddings(reference, task, reference["hidden_size"])
        actual = encoder.encode(texts, task)
        assert actual.dtype == np.float32
        cosine = np.sum(actual * expected, axis=1) / (
            np.linalg.norm(actual, axis=1) * np.linalg.norm(expected, axis=1)
        )
        assert np.min(cosine) >= 0.999, f"task {task!r}: cosines {cosine}"


def test_float32_package_cast_to_bfloat16_at_load(reference):
    encoder = jina3.Encoder(package_dir("float32"), dtype="bfloat16")
    assert encoder.dtype == "bfloat16"
    expected = reference_embeddings(reference, "retrieval.query", reference["hidden_size"])
    actual = encoder.encode(reference["texts"], "retrieval.query")
    cosine = np.sum(actual * expected, axis=1) / (np.linalg.norm(actual, axis=1) * np.linalg.norm(expected, axis=1))
    assert np.min(cosine) >= 0.999, cosine


def test_tokenize_matches_reference_ids(encoder, reference):
    texts = reference["texts"]
    assert {entry["task"] for entry in reference["token_ids"]} == set(TASK_NAMES) | {None}
    for entry in reference["token_ids"]:
        assert encoder.tokenize(texts, entry["task"]) == entry["ids"], f"task {entry['task']!r}"
        if entry["task"] is not None:
            assert encoder.tokenize(texts, jina3.Task.from_string(entry["task"])) == entry["ids"]


def test_tokenize_truncates_to_max_length(encoder, reference, long_text):
    full = encoder.tokenize([long_text], "retrieval.query")[0]
    assert len(full) > 300
    cut = encoder.tokenize([long_text], "retrieval.query", max_length=16)[0]
    # Cut by dropping ids before </s>: the first 15 ids, then </s>.
    assert cut == full[:15] + [full[-1]]
    assert all(isinstance(i, int) for i in cut)


def test_empty_inputs(encoder):
    empty = encoder.encode([])
    assert empty.shape == (0, encoder.hidden_size) and empty.dtype == np.float32
    assert encoder.encode([], "retrieval.query", encoder.dims[0]).shape == (0, encoder.dims[0])
    assert encoder.encode([], []).shape == (0, encoder.hidden_size)
    assert encoder.tokenize([]) == []


def test_empty_string_is_a_valid_text(encoder, reference):
    index = reference["texts"].index("")
    for task in ("retrieval.query", None):
        result = encoder.encode([""], task)
        assert result.shape == (1, encoder.hidden_size)
        assert np.all(np.isfinite(result))
        expected = reference_embeddings(reference, task, reference["hidden_size"])[index]
        assert max_abs_diff(result[0], expected) <= TOLERANCE
    assert encoder.tokenize([""]) == [[0, 2]]  # just <s> </s> (XLM-R ids)


def test_bytes_texts_are_utf8(encoder, reference):
    texts = reference["texts"]
    as_str = encoder.encode(texts, "classification")
    as_bytes = encoder.encode([t.encode("utf-8") for t in texts], "classification")
    assert max_abs_diff(as_str, as_bytes) <= TOLERANCE
    assert encoder.tokenize([t.encode("utf-8") for t in texts]) == encoder.tokenize(texts)


def test_any_sequence_of_texts(encoder, reference):
    texts = reference["texts"][:3]
    expected = encoder.encode(texts)
    assert max_abs_diff(encoder.encode(tuple(texts)), expected) <= TOLERANCE
    assert max_abs_diff(encoder.encode(t for t in texts), expected) <= TOLERANCE
    assert max_abs_diff(encoder.encode(np.array(texts)), expected) <= TOLERANCE


def test_result_owns_its_buffer_without_copy(encoder, reference):
    texts = reference["texts"][:3]
    result = encoder.encode(texts, "separation", encoder.dims[1])
    assert isinstance(result, np.ndarray)
    assert result.dtype == np.float32
    assert result.shape == (3, encoder.dims[1])
    assert result.flags.c_contiguous
    assert result.strides == (encoder.dims[1] * 4, 4)
    # The data belongs to the capsule that frees the library's buffer, not to a NumPy copy.
    assert not result.flags.owndata
    assert type(result.base).__name__ == "PyCapsule"
    assert result.flags.writeable  # the caller owns it outright
    # Every call gets its own buffer; writing to one result leaves others alone.
    again = encoder.encode(texts, "separation", encoder.dims[1])
    assert not np.shares_memory(result, again)
    saved = again.copy()
    result[:] = 0.0
    assert np.array_equal(again, saved)
    # A view keeps the buffer alive after the array it came from is gone.
    view = again[1:]
    del again
    assert np.array_equal(view, saved[1:])


def test_keyword_only_options(encoder):
    with pytest.raises(TypeError):
        encoder.encode(["a"], None, None, False)  # normalize is keyword-only
    with pytest.raises(TypeError):
        encoder.tokenize(["a"], None, 16)  # max_length is keyword-only
    with pytest.raises(TypeError):
        jina3.Encoder(package_dir("float32"), "cpu", "float32")  # dtype is keyword-only


def test_defaults_are_the_cpp_defaults(encoder, reference):
    # normalize=True and truncate=True by default (EncodeOptions{}), dims=None = full size.
    texts = reference["texts"]
    default = encoder.encode(texts, "retrieval.query")
    explicit = encoder.encode(texts, "retrieval.query", encoder.hidden_size, normalize=True, truncate=True)
    assert max_abs_diff(default, explicit) <= TOLERANCE
    np.testing.assert_allclose(np.linalg.norm(default, axis=1), 1.0, atol=1e-5)
    assert "normalize: bool = True" in jina3.Encoder.encode.__doc__
    assert "dtype: str = 'auto'" in jina3.Encoder.__init__.__doc__


def test_keywords_and_their_docs_come_from_the_option_tables(encoder, reference):
    # Each keyword in a signature (an option table's row) has its own doc line below it.
    def keywords(function):
        signature = function.__doc__.split("\n", 1)[0]
        return re.findall(r"(\w+): [\w\[\]]+ = ", signature.split("*,", 1)[1])

    per_call = ["normalize", "truncate", "max_length", "batch_size", "deadline_us", "block_when_full", "priority",
                "split_special_tokens"]
    assert set(per_call) <= set(keywords(jina3.Encoder.encode))
    assert set(per_call) <= set(keywords(jina3.Encoder._submit_async))
    for function in (jina3.Encoder.encode_tokens, jina3.Encoder.tokenize):  # the rows that shape tokens
        assert keywords(function) == ["truncate", "max_length", "split_special_tokens"]
    for function in (jina3.Encoder.__init__, jina3.Encoder.encode, jina3.Encoder.encode_tokens,
                     jina3.Encoder.tokenize):
        for name in keywords(function):
            if name not in ("precision", "ranges"):
                assert f"\n{name}: " in function.__doc__, (function.__name__, name)
    for name in encoder.stats():
        assert f"\n{name}: " in jina3.Encoder.stats.__doc__, name
    # A per-call int takes None for its default, 0.
    texts = reference["texts"][:2]
    assert max_abs_diff(encoder.encode(texts, max_length=None, batch_size=None),
                        encoder.encode(texts, max_length=0, batch_size=0)) <= BATCH_TOLERANCE
    with pytest.raises(TypeError, match="max_length"):
        encoder.encode(texts, max_length="16")
    with pytest.raises(TypeError):
        encoder.encode(texts, normalise=False)  # not a keyword


def test_task_enum():
    assert [t.name for t in jina3.Task.__members__.values()] == [
        "NONE", "RetrievalQuery", "RetrievalPassage", "Separation", "Classification", "TextMatching"]
    assert [str(jina3.Task.from_string(n)) for n in TASK_NAMES] == TASK_NAMES
    assert str(jina3.Task.NONE) == "none"
    assert jina3.Task.from_string("") == jina3.Task.from_string("none") == jina3.Task.NONE
    assert int(jina3.Task.NONE) == -1 and int(jina3.Task.TextMatching) == 4
    assert jina3.Task.from_string(None) == jina3.Task.NONE
