"""The public Python surface over the compiled module ``_jina3`` (imported by jina3/__init__.py).

``_jina3`` holds the C++ bindings; this module wraps them so that Python users get:

- real signatures: ``inspect.signature`` works on every public function and method. The keyword
  lists are read from the compiled functions' own signature lines (pybind11 writes them from the
  option tables in include/jina3/options.hpp), so a new table row is a new keyword here too;
- one-line TypeErrors: an unknown keyword names the closest valid one (difflib), and an argument
  of the wrong type names the argument, instead of pybind11's multi-line dump;
- the sentence-transformers names beside jina3's (``prompt_name``, ``truncate_dim``,
  ``normalize_embeddings``, ``convert_to_tensor``, ``output_value``, a single str, ``encode_query``,
  ``encode_document``, ``similarity``);
- ``Task`` as a Python ``enum`` of str whose values are the task names;
- ``Encoder`` as a context manager with ``close()``, and picklable as its (path, options) spec:
  unpickling loads the package once per process (``Encoder.shared``) and reuses it, which is what
  multiprocessing, Dask, Ray and Spark workers need.

Every check of the values themselves (tasks, dims, texts, ranges, ...) stays in the C++ core.
"""

import ast as _ast
import difflib as _difflib
import enum as _enum
import inspect as _inspect
import os as _os
import threading as _threading
import warnings as _warnings
import weakref as _weakref

import numpy as _np

from . import _jina3

__all__ = [
    "Encoder", "Task", "similarity", "quantize", "calibration_ranges", "shared_load_count", "PerformanceWarning",
]

_NativeEncoder = _jina3.Encoder
_P = _inspect.Parameter


# --- signatures -----------------------------------------------------------------------------------

class _Default:
    """A default value shown in a signature as pybind11 wrote it, when it is no Python literal."""

    def __init__(self, text):
        self.text = text

    def __repr__(self):
        return self.text


def _native_parameters(function):
    """The parameters of a compiled function, from the signature line pybind11 puts first in its
    docstring: [(name, kind, default, annotation text)], ``self`` included for methods."""
    line = function.__doc__.split("\n", 1)[0]
    tree = _ast.parse(f"def {line}: pass").body[0]
    arguments = tree.args
    positional = arguments.posonlyargs + arguments.args
    defaults = [None] * (len(positional) - len(arguments.defaults)) + list(arguments.defaults)
    result = []

    def default_of(node):
        if node is None:
            return _P.empty
        try:
            return _ast.literal_eval(node)
        except ValueError:
            return _Default(_ast.unparse(node))

    def annotation_of(arg):
        return _ast.unparse(arg.annotation) if arg.annotation is not None else _P.empty

    for arg, default in zip(positional, defaults):
        result.append((arg.arg, _P.POSITIONAL_OR_KEYWORD, default_of(default), annotation_of(arg)))
    for arg, default in zip(arguments.kwonlyargs, arguments.kw_defaults):
        result.append((arg.arg, _P.KEYWORD_ONLY, default_of(default), annotation_of(arg)))
    return result


def _native_return(function):
    """The return annotation of a compiled function's signature line (as text)."""
    tree = _ast.parse(f"def {function.__doc__.split(chr(10), 1)[0]}: pass").body[0]
    return _ast.unparse(tree.returns) if tree.returns is not None else _P.empty


def _signature(parameters, drop=(), rename=None, first=None, extra=(), return_annotation=_P.empty):
    """An inspect.Signature from _native_parameters' rows: rows named in drop left out, rename
    {old: new}, first (a name) put before the others as a plain parameter (``self``), extra rows
    (name, kind, default, annotation) added, keyword-only ones after the native keyword-only ones."""
    rename = rename or {}
    built = [_P(first, _P.POSITIONAL_OR_KEYWORD)] if first else []
    rows = [row for row in parameters if row[0] not in drop and row[0] != "self"]
    rows += list(extra)
    rows.sort(key=lambda row: row[1] == _P.KEYWORD_ONLY)  # stable: keyword-only ones last
    for name, kind, default, annotation in rows:
        built.append(_P(rename.get(name, name), kind, default=default, annotation=annotation))
    return _inspect.Signature(built, return_annotation=return_annotation)


def _signature_line(name, signature):
    """'name(a: int = 0, *, b: bool = True) -> list', as pybind11 writes the first docstring line
    (annotations unquoted)."""
    parts = []
    star = False
    for parameter in signature.parameters.values():
        if parameter.kind == _P.KEYWORD_ONLY and not star:
            parts.append("*")
            star = True
        if parameter.kind == _P.VAR_POSITIONAL:
            star = True
        text = ("*" if parameter.kind == _P.VAR_POSITIONAL else "**" if parameter.kind == _P.VAR_KEYWORD else "")
        text += parameter.name
        if parameter.annotation is not _P.empty:
            text += f": {parameter.annotation}"
        if parameter.default is not _P.empty:
            text += f" = {parameter.default!r}" if parameter.annotation is not _P.empty else f"={parameter.default!r}"
        parts.append(text)
    line = f"{name}({', '.join(parts)})"
    if signature.return_annotation is not _P.empty:
        line += f" -> {signature.return_annotation}"
    return line


def _native_doc_body(function):
    """A compiled function's docstring without its signature line."""
    return function.__doc__.split("\n", 1)[1].lstrip("\n") if "\n" in function.__doc__ else ""


# --- argument errors ------------------------------------------------------------------------------

def _unknown_keyword(qualname, name, valid):
    """The one-line TypeError for an unknown keyword, naming the closest valid one."""
    close = _difflib.get_close_matches(name, list(valid), n=1, cutoff=0.6)
    hint = f"did you mean {close[0]!r}?" if close else "valid keywords: " + ", ".join(sorted(valid))
    return TypeError(f"{qualname}() got an unexpected keyword argument {name!r}; {hint}")


def _check_keywords(qualname, given, valid):
    for name in given:
        if name not in valid:
            raise _unknown_keyword(qualname, name, valid)


def _matches(annotation, value):
    """Whether pybind11 converts value for a parameter annotated so (None: the annotation is not one
    this check knows)."""
    if annotation.startswith("Optional[") and annotation.endswith("]"):
        return value is None or _matches(annotation[len("Optional["):-1], value)
    if annotation == "bool":
        return isinstance(value, (bool, _np.bool_))
    if annotation == "int":
        return not isinstance(value, (float, str, bytes)) and hasattr(value, "__index__")
    if annotation == "float":
        return isinstance(value, (int, float, _np.floating, _np.integer)) and not isinstance(value, bool)
    if annotation == "str":
        return isinstance(value, (str, bytes))
    return None


_TYPE_WORDS = {"bool": "True or False", "int": "an int", "float": "a number", "str": "a str"}


def _describe(annotation):
    if annotation.startswith("Optional["):
        return _describe(annotation[len("Optional["):-1]) + " or None"
    return _TYPE_WORDS.get(annotation, annotation)


def _explain(qualname, signature, args, kwargs, error):
    """A one-line TypeError for pybind11's 'incompatible function arguments' dump, or error itself
    when it is some other TypeError (raised inside the call) or nothing better can be said."""
    if "incompatible function arguments" not in str(error) and "incompatible constructor arguments" not in str(error):
        return error
    try:
        bound = signature.bind(*args, **kwargs)
    except TypeError as mismatch:
        return TypeError(f"{qualname}(): {mismatch}")
    for name, value in bound.arguments.items():
        annotation = signature.parameters[name].annotation
        if isinstance(annotation, str) and _matches(annotation, value) is False:
            shown = repr(value)
            shown = shown if len(shown) <= 40 else shown[:37] + "..."
            return TypeError(f"{qualname}(): {name} must be {_describe(annotation)}, not "
                             f"{type(value).__name__} ({shown})")
    first = str(error).split("\n", 1)[0]
    return TypeError(f"{qualname}(): {first} (see help({qualname}) for the argument types)")


def _call(qualname, signature, function, args, kwargs):
    """function(*args, **kwargs), with pybind11's argument-mismatch dump made one line."""
    try:
        return function(*args, **kwargs)
    except TypeError as error:
        better = _explain(qualname, signature, args, kwargs, error)
        if better is error:
            raise
        raise better from None


def _error(cls, code, message):
    """A jina3 error raised by Python code, with its .code as the core's would have."""
    error = cls(message)
    error.code = code
    return error


def _invalid(message):
    return _error(_jina3.InvalidArgumentError, "invalid_argument", message)


# --- Task -----------------------------------------------------------------------------------------

def _make_task():
    native = _jina3.Task
    members = [(name, str(value)) for name, value in native.__members__.items()]
    task = _enum.Enum("Task", members, type=str, module="jina3", qualname="Task")
    numbers = {task[name]: int(value) for name, value in native.__members__.items()}

    def from_string(cls, name):
        """The task with this canonical name; None, '' and 'none' give Task.NONE.

        Raises InvalidArgumentError for a name that is no task.

        Example::

            jina3.Task.from_string('retrieval.passage')  # Task.RetrievalPassage
        """
        if isinstance(name, cls):
            return name
        return cls(str(native.from_string(name)))  # the core checks the name

    task.__str__ = lambda self: self.value
    task.__str__.__doc__ = "The canonical name, e.g. 'retrieval.query' (the member's value)."
    task.__format__ = lambda self, spec: format(self.value, spec)
    task.__int__ = lambda self: numbers[self]
    task.__int__.__doc__ = "The C and C++ enum value (jina3_task), e.g. -1 for NONE."
    task.from_string = classmethod(from_string)
    task.__doc__ = (
        "The task adapters of jina-embeddings-v3: a str enum whose values are the canonical names.\n\n"
        "Every task argument takes a member or the plain name (and None or 'none' for no task).\n\n"
        "Example::\n\n"
        "    jina3.Task.RetrievalQuery          # == 'retrieval.query'; str() gives the name\n"
        "    jina3.Task('separation')           # Task.Separation, as does Task.from_string\n"
        "    encoder.encode(texts, task=jina3.Task.TextMatching)\n")
    return task


Task = _make_task()


# --- shared (per-process) encoders ----------------------------------------------------------------

_INIT_ROWS = _native_parameters(_NativeEncoder.__init__)
_INIT_DEFAULTS = {name: default for name, _, default, _ in _INIT_ROWS if name not in ("self", "path")}
_INIT_KEYWORDS = frozenset(_INIT_DEFAULTS)

_shared_lock = _threading.Lock()
_shared = {}  # spec -> native encoder: the per-process cache (Encoder.shared, unpickling, jina3.dask)
_live = _weakref.WeakValueDictionary()  # spec -> native encoder made directly in this process
_state = {"pid": _os.getpid(), "loads": 0}
_orphans = []  # natives inherited through fork(): kept, never freed (their threads are not here)


def _spec(path, device, options):
    """The (path, options) an Encoder is loaded from: the absolute path (so that a worker with
    another working directory finds it) and the options given, without those equal to their
    defaults, sorted: equal specs load equal encoders."""
    path = _os.path.abspath(_os.fsdecode(_os.fspath(path)))
    given = dict(options, device=device)

    def is_default(name, value):
        default = _INIT_DEFAULTS.get(name, _P.empty)
        return type(value) is type(default) and value == default

    return path, tuple(sorted((name, value) for name, value in given.items() if not is_default(name, value)))


def _check_process():
    """Forgets the encoders of the parent after a fork (their scheduler threads did not come along)."""
    pid = _os.getpid()
    if _state["pid"] != pid:
        _orphans.extend(_shared.values())
        _orphans.extend(_live.values())
        _shared.clear()
        _live.clear()
        _state.update(pid=pid, loads=0)


def shared_load_count():
    """How many packages this process has loaded for shared use: by ``Encoder.shared``, by
    unpickling an Encoder, and by jina3.dask. A worker that gets one Encoder pickled many times
    loads it once, so this stays 1 there.

    Example::

        pool.apply(jina3.shared_load_count)  # in a multiprocessing worker: 1 after its first task
    """
    with _shared_lock:
        _check_process()
        return _state["loads"]


def _restore_encoder(path, options):
    """Unpickles an Encoder: the process's shared Encoder for this spec (loaded on first use)."""
    return Encoder.shared(path, **dict(options))


# --- Encoder --------------------------------------------------------------------------------------

_ENCODE_ROWS = _native_parameters(_NativeEncoder.encode)
_ASYNC_ROWS = _native_parameters(_NativeEncoder._submit_async)
_ENCODE_KEYWORDS = frozenset(name for name, kind, _, _ in _ENCODE_ROWS if kind == _P.KEYWORD_ONLY)
_ASYNC_KEYWORDS = frozenset(name for name, kind, _, _ in _ASYNC_ROWS if kind == _P.KEYWORD_ONLY)
# Only the sentence embedding has these; output_value="token_embeddings" refuses them.
_SENTENCE_ONLY = _ENCODE_KEYWORDS - frozenset(
    name for name, kind, _, _ in _native_parameters(_NativeEncoder.encode_tokens) if kind == _P.KEYWORD_ONLY)

_MISSING = _Default("<required>")
_OUTPUT_VALUES = ("sentence_embedding", "token_embeddings")

# The sentence-transformers names, keyword-only, after jina3's own.
_ALIAS_ROWS = [
    ("prompt_name", _P.KEYWORD_ONLY, None, "Optional[str]"),
    ("truncate_dim", _P.KEYWORD_ONLY, None, "Optional[int]"),
    ("normalize_embeddings", _P.KEYWORD_ONLY, None, "Optional[bool]"),
]
_ST_ROWS = _ALIAS_ROWS + [
    ("output_value", _P.KEYWORD_ONLY, "sentence_embedding", "str"),
    ("convert_to_numpy", _P.KEYWORD_ONLY, True, "bool"),
    ("convert_to_tensor", _P.KEYWORD_ONLY, False, "bool"),
]

_ALIAS_DOC = """
The sentence-transformers names: each means its jina3 twin, and giving both is a TypeError.
prompt_name: the task (task=); jina-embeddings-v3's prompts are named after the tasks.
truncate_dim: dims.
normalize_embeddings: normalize (None: normalize's value, True by default).
"""

_ST_DOC = _ALIAS_DOC + """output_value: "sentence_embedding" (the default) or "token_embeddings": one (tokens, hidden_size)
   float32 array per text, the final hidden states of every token (<s>, the prompt, the text,
   </s>) as encode_tokens gives them; only the keywords that shape tokens apply then.
convert_to_numpy: False (without convert_to_tensor): a list of 1-D torch tensors, as
   sentence-transformers returns.
convert_to_tensor: a torch.Tensor sharing the array's memory (a list of tensors for token
   embeddings).
A single str (or bytes) text gives one 1-D vector instead of a (1, dims) array (one 2-D array for
token embeddings). texts= is the old name of sentences and still works.
"""


def _resolve_aliases(qualname, task, dims, prompt_name, truncate_dim, normalize_embeddings, options):
    if prompt_name is not None:
        if task is not None:
            raise TypeError(f"{qualname}() got both task= and prompt_name= (its sentence-transformers name): give one")
        task = prompt_name
    if truncate_dim is not None:
        if dims is not None:
            raise TypeError(f"{qualname}() got both dims= and truncate_dim= (its sentence-transformers name): give one")
        dims = truncate_dim
    if normalize_embeddings is not None:
        if "normalize" in options:
            raise TypeError(f"{qualname}() got both normalize= and normalize_embeddings= (its sentence-transformers "
                            "name): give one")
        options["normalize"] = normalize_embeddings
    return task, dims


def _texts_argument(qualname, sentences, options):
    if "texts" in options:
        if sentences is not _MISSING:
            raise TypeError(f"{qualname}() got both sentences and texts= (its old name): give one")
        sentences = options.pop("texts")
    if sentences is _MISSING:
        raise TypeError(f"{qualname}() missing 1 required argument: 'sentences'")
    return sentences


def _torch():
    try:
        import torch
    except ImportError as error:  # pragma: no cover - python3-torch is an install-deps package
        raise ImportError(f"convert_to_tensor / convert_to_numpy=False need torch: {error}") from None
    return torch


class PerformanceWarning(UserWarning):
    """Loading an Encoder that will run slower than it could on this machine: the ``notice`` of its
    ``kernels()`` report, e.g. bfloat16 emulated on a CPU without AVX512-BF16 or AMX, where an int8
    package runs faster.

    Example::

        import warnings
        warnings.simplefilter("ignore", jina3.PerformanceWarning)  # or "error" to refuse such loads
    """

    def __init__(self, message: str):
        super().__init__(message)


def _warn_kernels(native):
    """Warns with the kernel report's notice, if any, at the line that loaded the encoder."""
    notice = native.kernels()["notice"]
    if notice:
        _warnings.warn(notice, PerformanceWarning, stacklevel=3)


class Encoder:
    """A jina-embeddings-v3 model package loaded in-process."""

    def __init__(self, path, device=_INIT_DEFAULTS["device"], **options):
        _check_keywords("Encoder", options, _INIT_KEYWORDS - {"device"})
        native = _call("Encoder", Encoder._init_signature, _NativeEncoder, (path, device), options)
        _warn_kernels(native)
        self._adopt(native, _spec(path, device, options))
        with _shared_lock:
            _check_process()
            _live[self._spec] = native

    def _adopt(self, native, spec):
        self._native = native
        self._spec = spec
        self._pid = _os.getpid()

    @classmethod
    def shared(cls, path, device=_INIT_DEFAULTS["device"], **options):
        """This process's Encoder for (path, options): loaded on the first call, the same model on
        every later call with an equal spec (and reused from an Encoder this process already made
        with it). Unpickling an Encoder calls this, so a worker process loads each package once
        however many tasks bring it. The model stays loaded until ``Encoder.clear_shared()`` or the
        end of the process; ``close()`` on one of these ends only that handle.

        Example::

            encoder = jina3.Encoder.shared("jina-v3-package", num_threads=2)  # loads the package
            again = jina3.Encoder.shared("jina-v3-package", num_threads=2)    # the same model
            jina3.shared_load_count()  # 1
        """
        _check_keywords("Encoder.shared", options, _INIT_KEYWORDS - {"device"})
        spec = _spec(path, device, options)
        with _shared_lock:
            _check_process()
            native = _shared.get(spec) or _live.get(spec)
            if native is None:
                native = _call("Encoder.shared", Encoder._init_signature, _NativeEncoder, (path, device), options)
                _state["loads"] += 1
                _warn_kernels(native)
            _shared[spec] = native
        encoder = cls.__new__(cls)
        encoder._adopt(native, spec)
        return encoder

    @staticmethod
    def clear_shared():
        """Drops this process's shared Encoders (see ``Encoder.shared``); each model is freed once no
        Encoder handle uses it any more. Returns how many were dropped."""
        with _shared_lock:
            _check_process()
            count = len(_shared)
            _shared.clear()
        return count

    # -- life cycle --

    def _live_native(self):
        native = self._native
        if native is None:
            raise _invalid("this jina3.Encoder is closed (close() or the end of its with block): load the package "
                           "again with jina3.Encoder(...)")
        if self._pid != _os.getpid():
            raise _invalid(f"this jina3.Encoder was loaded in process {self._pid}, before a fork: its threads are "
                           "not in this process. Pass it to workers pickled (e.g. multiprocessing's 'spawn' "
                           "context), or load it in the child")
        return native

    def close(self):
        """Frees this Encoder's model (and GPU memory) now rather than when it is garbage collected;
        calls that are running finish first. Later calls raise InvalidArgumentError; closing again
        does nothing. An Encoder from ``Encoder.shared`` (or unpickled) ends only this handle: the
        process's shared model stays loaded for the others (``Encoder.clear_shared()`` drops it).

        Example::

            with jina3.Encoder("jina-v3-package") as encoder:
                vectors = encoder.encode(texts)
            # the model is freed here
        """
        self._native = None

    @property
    def closed(self):
        """True after close()."""
        return self._native is None

    def __enter__(self):
        self._live_native()
        return self

    def __exit__(self, *exc_info):
        self.close()
        return False

    def __reduce__(self):
        # Pickled as its spec, never its model: unpickling loads (once per process) where it lands.
        return _restore_encoder, self._spec

    def __repr__(self):
        if self._native is None:
            return f"<jina3.Encoder {self._spec[0]!r} closed>"
        return repr(self._live_native())

    # -- encode --

    def encode(self, sentences=_MISSING, task=None, dims=None, *, prompt_name=None, truncate_dim=None,
               normalize_embeddings=None, output_value="sentence_embedding", convert_to_numpy=True,
               convert_to_tensor=False, **options):
        return self._encode("Encoder.encode", sentences, task, dims, prompt_name, truncate_dim, normalize_embeddings,
                            output_value, convert_to_numpy, convert_to_tensor, options)

    def encode_query(self, sentences=_MISSING, dims=None, **options):
        """encode() with task="retrieval.query" (sentence-transformers' encode_query); takes encode()'s
        other arguments.

        Example::

            q = encoder.encode_query("What is LoRA?", truncate_dim=256)  # 1-D float32
        """
        return self._encode_for("Encoder.encode_query", _QUERY_TASK, sentences, dims, options)

    def encode_document(self, sentences=_MISSING, dims=None, **options):
        """encode() with task="retrieval.passage" (sentence-transformers' encode_document); takes
        encode()'s other arguments.

        Example::

            d = encoder.encode_document(docs, truncate_dim=256)
            scores = encoder.similarity(q, d)
        """
        return self._encode_for("Encoder.encode_document", _DOCUMENT_TASK, sentences, dims, options)

    def _encode_for(self, qualname, task, sentences, dims, options):
        for name in ("task", "prompt_name"):
            if name in options:
                raise TypeError(f"{qualname}() sets the task ({task}): use encode() for {name}=")
        st = {name: options.pop(name) for name, _, _, _ in _ST_ROWS if name in options}
        defaults = {name: default for name, _, default, _ in _ST_ROWS}
        values = [st.get(name, defaults[name]) for name, _, _, _ in _ST_ROWS[1:]]
        return self._encode(qualname, sentences, task, dims, None, *values, options)

    def _encode(self, qualname, sentences, task, dims, prompt_name, truncate_dim, normalize_embeddings,
                output_value, convert_to_numpy, convert_to_tensor, options):
        for name in options:
            if name not in _ENCODE_KEYWORDS and name != "texts":
                valid = _inspect.signature(getattr(Encoder, qualname.rsplit(".", 1)[1])).parameters
                raise _unknown_keyword(qualname, name, [name for name in valid if name != "self"])
        sentences = _texts_argument(qualname, sentences, options)
        task, dims = _resolve_aliases(qualname, task, dims, prompt_name, truncate_dim, normalize_embeddings, options)
        if options.get("show_progress_bar", False) is None:  # sentence-transformers' default
            del options["show_progress_bar"]
        single = isinstance(sentences, (str, bytes))
        texts = [sentences] if single else sentences
        native = self._live_native()

        if output_value == "token_embeddings":
            # batch_size changes no number (and sentence-transformers code passes it everywhere);
            # the rest would be ignored, so they are refused unless off or at their defaults.
            refused = [name for name in _SENTENCE_ONLY - {"batch_size"} if name in options and
                       (bool(options[name]) if name == "normalize" else options[name] != _ENCODE_DEFAULTS[name])]
            if dims is not None:
                refused.append("dims (truncate_dim)")
            if refused:
                raise _invalid(f"{', '.join(sorted(refused))}: for output_value='sentence_embedding' only; "
                               "token_embeddings are the hidden states as they are")
            keywords = {name: value for name, value in options.items() if name not in _SENTENCE_ONLY}
            # (normalize=False is accepted: token embeddings are not normalised.)
            results = _call(qualname, Encoder._encode_signature, native.encode_tokens, (texts, task), keywords)
            arrays = [result.embeddings for result in results]
            if convert_to_tensor or not convert_to_numpy:
                torch = _torch()
                arrays = [torch.from_numpy(array) for array in arrays]
            return arrays[0] if single else arrays
        if output_value != "sentence_embedding":
            raise _invalid(f"output_value={output_value!r}: use one of {', '.join(map(repr, _OUTPUT_VALUES))} "
                           "('sentence_embedding' is the default)")

        vectors = _call(qualname, Encoder._encode_signature, native.encode, (texts, task, dims), options)
        if single:
            vectors = vectors[0]
        if convert_to_tensor:
            return _torch().from_numpy(vectors)
        if not convert_to_numpy:
            torch = _torch()
            return torch.from_numpy(vectors) if single else list(torch.from_numpy(vectors))
        return vectors

    async def encode_async(self, texts, task=None, dims=None, *, prompt_name=None, truncate_dim=None,
                           normalize_embeddings=None, **options):
        import asyncio

        for name in options:
            if name not in _ASYNC_KEYWORDS:
                valid = _inspect.signature(Encoder.encode_async).parameters
                raise _unknown_keyword("Encoder.encode_async", name, [name for name in valid if name != "self"])
        task, dims = _resolve_aliases("Encoder.encode_async", task, dims, prompt_name, truncate_dim,
                                      normalize_embeddings, options)
        precision = options.get("precision", "float32")
        ranges = options.get("ranges")
        native = self._live_native()
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        try:
            wait_for_room = _call("Encoder.encode_async", Encoder._async_signature, native._submit_async,
                                  (loop, future, texts, task, dims), options)
            if wait_for_room is not None:  # the queue is full and this call may wait: not on the loop
                await loop.run_in_executor(None, wait_for_room)
            # As with C++ futures, a queued request does not keep the encoder alive: deleting its last
            # reference fails what has not started with CancelledError.
            del self, native, texts, wait_for_room
            result = await future
            return result if precision == "float32" else _jina3.quantize(result, precision, ranges)
        finally:
            if not loop.is_closed():  # (a coroutine can be closed after its loop)
                future.cancel()  # a no-op once resolved; otherwise the late result is dropped

    def similarity(self, a, b):
        """Cosine similarity of every row of a with every row of b: jina3.similarity(a, b)."""
        return similarity(a, b)


_QUERY_TASK = Task.RetrievalQuery.value
_DOCUMENT_TASK = Task.RetrievalPassage.value
_ENCODE_DEFAULTS = {name: default for name, _, default, _ in _ENCODE_ROWS}

_ASYNC_DOC = """Embeds texts like encode() without blocking the event loop; ``await`` gives the same array.

Takes encode()'s arguments and keywords (see its docstring), except show_progress_bar, output_value
and the convert_to_* keywords; texts must be a list. precision and ranges are checked before the
request is queued; the float32 result is then converted with jina3.quantize, so ranges=None
computes them from this call's rows, as encode() does. The texts are tokenised and queued at once,
with the GIL released; the result arrives through the event loop while other tasks run. Errors
raise here: InvalidArgumentError and the like for bad arguments, QueueFullError
(block_when_full=False and a full queue), DeadlineExceededError, CancelledError (the encoder was
deleted before the request ran). A full queue with block_when_full=True waits for room on the
loop's default executor, not on the loop. Cancelling the awaiting task drops the result.
""" + _ALIAS_DOC + """
Example::

    async def handle(encoder, query):
        return await encoder.encode_async([query], task="retrieval.query", dims=256)
"""


def _finish_encoder():
    """Signatures, docstrings, the forwarded methods and the properties, from the compiled class."""
    init_sig = _signature(_INIT_ROWS, first="self")
    Encoder._init_signature = _signature(_INIT_ROWS)
    Encoder.__init__.__signature__ = init_sig
    Encoder.__init__.__doc__ = _signature_line("__init__", init_sig) + "\n\n" + _native_doc_body(_NativeEncoder.__init__)
    Encoder.__doc__ = _NativeEncoder.__doc__ + """
Also a context manager (``with jina3.Encoder(path) as encoder:`` frees the model at the end; see
close()), and picklable: an Encoder pickles as its path and options, and unpickling loads the
package once per process (see Encoder.shared), for multiprocessing, Dask, Ray or Spark workers.
"""
    shared_sig = _signature(_INIT_ROWS, first="cls")
    Encoder.shared.__func__.__signature__ = shared_sig

    # sentences (texts' sentence-transformers name) in texts' place, the aliases after the keywords.
    encode_rows = [("sentences", _P.POSITIONAL_OR_KEYWORD, _P.empty, "object") if row[0] == "texts" else row
                   for row in _ENCODE_ROWS]
    encode_sig = _signature(encode_rows, first="self", extra=_ST_ROWS, return_annotation="numpy.ndarray")
    params = list(encode_sig.parameters.values())
    Encoder.encode.__signature__ = encode_sig
    Encoder._encode_signature = encode_sig.replace(parameters=params[1:])
    Encoder.encode.__doc__ = (_signature_line("encode", encode_sig) + "\n\n" +
                              _native_doc_body(_NativeEncoder.encode).replace(
                                  "texts: a list of str", "sentences (texts): a list of str").replace(
                                  "A\nsingle str is a TypeError.", "A\nsingle str gives one 1-D vector.") + _ST_DOC)
    for method in (Encoder.encode_query, Encoder.encode_document):
        sig = encode_sig.replace(parameters=[p for p in params if p.name not in ("task", "prompt_name")])
        method.__signature__ = sig
        method.__doc__ = _signature_line(method.__name__, sig) + "\n\n" + method.__doc__

    async_rows = [row for row in _ASYNC_ROWS if row[0] not in ("loop", "future")]
    async_sig = _signature(async_rows, first="self", extra=_ALIAS_ROWS, return_annotation="numpy.ndarray")
    Encoder.encode_async.__signature__ = async_sig
    Encoder._async_signature = _signature(_ASYNC_ROWS)
    Encoder.encode_async.__doc__ = _signature_line("encode_async", async_sig) + "\n\n" + _ASYNC_DOC

    for name, value in vars(_NativeEncoder).items():
        if name.startswith("__") or name in ("encode", "encode_async"):
            continue
        if isinstance(value, property):
            setattr(Encoder, name, property(lambda self, name=name: getattr(self._live_native(), name),
                                            doc=value.__doc__))
        elif callable(value):
            setattr(Encoder, name, _forwarder(name, value))
    Encoder.__module__ = "jina3"


def _forwarder(name, native):
    """A method with native's signature and docstring that calls it on the live model."""
    rows = _native_parameters(native)
    signature = _signature(rows, first="self", return_annotation=_native_return(native))
    call_signature = _signature(rows)
    valid = frozenset(row[0] for row in rows if row[0] != "self")
    qualname = f"Encoder.{name}"

    def method(self, *args, **kwargs):
        _check_keywords(qualname, kwargs, valid)
        return _call(qualname, call_signature, getattr(self._live_native(), name), args, kwargs)

    method.__name__ = name
    method.__qualname__ = qualname
    method.__signature__ = signature
    method.__doc__ = native.__doc__.replace(native.__doc__.split("\n", 1)[0], _signature_line(name, signature), 1)
    return method


_finish_encoder()


# --- module functions -----------------------------------------------------------------------------

def _module_function(native):
    rows = _native_parameters(native)
    signature = _signature(rows, return_annotation=_native_return(native))
    valid = frozenset(row[0] for row in rows)
    name = native.__name__

    def function(*args, **kwargs):
        _check_keywords(name, kwargs, valid)
        return _call(name, signature, native, args, kwargs)

    function.__name__ = function.__qualname__ = name
    function.__signature__ = signature
    function.__doc__ = native.__doc__.replace(native.__doc__.split("\n", 1)[0], _signature_line(name, signature), 1)
    return function


quantize = _module_function(_jina3.quantize)
calibration_ranges = _module_function(_jina3.calibration_ranges)


def similarity(a, b):
    """Cosine similarity of every row of ``a`` with every row of ``b``: an (len(a), len(b)) matrix, as
    sentence-transformers' ``similarity`` (its default cosine similarity_fn) computes it.

    a, b: 2-D arrays (a 1-D vector is one row), NumPy or torch, of any numeric dtype (int8 and
    binary rows are compared as numbers). Rows are divided by max(norm, 1e-12), so an all-zero row
    scores 0. Returns a float32 NumPy array, or a torch.Tensor when a or b is one.

    Example::

        scores = jina3.similarity(encoder.encode_query(["q"]), encoder.encode_document(docs))  # (1, n)
    """
    tensor = any(type(x).__module__.startswith("torch") for x in (a, b))
    rows = []
    for name, x in (("a", a), ("b", b)):
        if tensor and hasattr(x, "detach"):
            x = x.detach().cpu().float().numpy()  # (bfloat16 has no NumPy type; float32 is used anyway)
        x = _np.asarray(x)
        if x.dtype == object or not (_np.issubdtype(x.dtype, _np.number) or x.dtype == _np.bool_):
            raise TypeError(f"similarity(): {name} must hold numbers, not {x.dtype}")
        if x.ndim == 1:
            x = x[None, :]
        if x.ndim != 2:
            raise _invalid(f"similarity(): {name} must be 1-D or 2-D, not {x.ndim}-D with shape {x.shape}")
        x = x.astype(_np.float32)
        rows.append(x / _np.maximum(_np.linalg.norm(x, axis=1, keepdims=True), _np.float32(1e-12)))
    if rows[0].shape[1] != rows[1].shape[1]:
        raise _invalid(f"similarity(): a has {rows[0].shape[1]} dims per row and b {rows[1].shape[1]}")
    scores = rows[0] @ rows[1].T
    return _torch().from_numpy(scores) if tensor else scores


# Result and error classes: what inspect.signature should show (results are made by jina3 only).
for _cls in (_jina3.TokenEmbeddings, _jina3.ChunkEmbeddings):
    _cls.__signature__ = _inspect.Signature()
for _name in dir(_jina3):
    _value = getattr(_jina3, _name)
    if isinstance(_value, type) and issubclass(_value, BaseException):
        _value.__signature__ = _inspect.Signature([_P("args", _P.VAR_POSITIONAL)])
del _cls, _name, _value
