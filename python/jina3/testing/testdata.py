"""The generated test data set shared by the C++ and Python tests.

    OUT_DIR/checkpoint/         tiny random HF checkpoint, seed 0
    OUT_DIR/package-float32/    exported packages, calling jina3's operators (export --kernels on)
    OUT_DIR/package-bfloat16/
    OUT_DIR/package-int8/
    OUT_DIR/package-bfloat16-torch/  the bfloat16 package with LibTorch operators only (--kernels off)
    OUT_DIR/reference.json      jina3.testing.reference results (float32, the REAL XLM-R sentencepiece model)
    OUT_DIR/.stamp              hash of everything the data was generated from

Exporting with jina3's operators needs the compiled module: run with build/python on PYTHONPATH.

ensure() regenerates only when the stamp differs: the jina3 Python sources, the extra inputs the
caller names (the fixture script), the torch version and the shared tokenizer files' sizes.
"""

import fcntl
import hashlib
import json
import shutil
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Dict, Iterable, List, Optional

from .paths import xlmr_spm_model, xlmr_tokenizer_json

# torch, the exporter and the reference are imported only when data must be generated, so that
# an up-to-date check stays fast.

PACKAGE_DTYPES = ("float32", "bfloat16", "int8")
# name -> (dtype, export kernels)
PACKAGES = {**{f"package-{d}": (d, "on") for d in PACKAGE_DTYPES}, "package-bfloat16-torch": ("bfloat16", "off")}
CHECKPOINT_SEED = 0
STAMP_FILE = ".stamp"
REFERENCE_FILE = "reference.json"

# About a dozen texts: scripts, empty, whitespace, emoji and one over 300 tokens.
LONG_TEXT = " ".join([
    "Embeddings map text to vectors so that similar meanings land close together.",
    "Mehrsprachige Modelle teilen sich einen Wortschatz über viele Sprachen hinweg.",
    "Многоязычные модели используют общий словарь для многих языков.",
    "多语言模型在许多语言之间共享一个词表。",
    "Les modèles multilingues partagent un vocabulaire entre de nombreuses langues.",
    "النماذج متعددة اللغات تتشارك مفردات واحدة بين لغات كثيرة.",
] * 6)
TEXTS: List[str] = [
    "Hello World!",
    "The quick brown fox jumps over the lazy dog.",
    "Der schnelle braune Fuchs springt über den faulen Hund.",
    "你好，世界！今天天气很好。",
    "مرحبا بالعالم! كيف حالك اليوم؟",
    "Съешь же ещё этих мягких французских булок да выпей чаю.",
    "",
    LONG_TEXT,
    "I love pizza 🍕🍕🍕 and tacos 🌮! 👨\u200d👩\u200d👧\u200d👦",
    "  \t leading,   inner\n\nand trailing whitespace \u3000 ",
    " \t\n ",
    "नमस्ते! आप कैसे हैं? ＦＵＬＬ－ＷＩＤＴＨ ① ﬁ",
    "こんにちは、世界！ 안녕하세요, 세계!",
]


# Token outputs (encode_tokens) against ReferenceModel.hidden_states: (text, max_length; 0 = none),
# each for TOKEN_TASKS. ASCII, multilingual, whitespace runs, and one cut to 16 tokens.
TOKEN_TEXTS = [
    ("The quick brown fox jumps over the lazy dog.", 0),
    ("Grüße aus München! Příliš žluťoučký kůň, 多语言模型 and Многоязычные модели.", 0),
    ("   leading,  multiple   spaces\tand a tab ", 0),
    ("Embeddings map text to vectors so that similar meanings land close together, in every language.", 16),
]
TOKEN_TASKS = [None, "retrieval.query", "retrieval.passage", "text-matching"]
# Offsets of texts with tricky whitespace and normalisation, checked with the lines of
# tests/data/multilingual.txt against Hugging Face style offsets from sentencepiece's own pieces.
OFFSET_TEXTS = [
    "  Hello  world.\n",
    "a.  \u4e2d and \u3000abc",
    "x\u00a0y\u2009z\u202fw \u205fv",
    "line\u2028sep\u2029para\u1680ogham",
    "\ufb01ne \u2460 \uff26\uff55\uff4c\uff4c e\u0301t\u00e9",
    "zero\u200bwidth\ufeffbom",
    " \t\n ",
    "",
]
# Rust's char::is_whitespace (Unicode White_Space): what Hugging Face's trim_offsets removes.
_HF_WHITESPACE = set("\t\n\x0b\x0c\r \x85\xa0\u1680\u2028\u2029\u202f\u205f\u3000") | {
    chr(c) for c in range(0x2000, 0x200B)}


def hf_offsets(ref, prompt: str, text: str, split_special_tokens: bool = False) -> List[int]:
    """ref: a ReferenceModel, a ReferenceTokenizer or a sentencepiece processor (XLM-R ids).

    Byte offsets into text per token (flat: begin, end, ...; -1, -1 for <s>, </s> and the prompt's
    tokens), trimmed of whitespace at both ends as Hugging Face's fast tokenizers (trim_offsets) do,
    from the ranges ReferenceModel.token_spans gives each token of prompt + text (sentencepiece's
    begin/end for its pieces, the content of a special token found in the text). A piece is the
    prompt's when there is a prompt and the piece ends within it; the lone "\u2581" that sentencepiece
    puts before a text starting with an unknown-to-"\u2581x" character (begin = end = 0) is the text's,
    an empty range at 0. split_special_tokens: special-token text as plain text."""
    if not hasattr(ref, "token_spans"):  # a bare sentencepiece processor: XLM-R's ids
        from .reference import ReferenceTokenizer

        ref = ReferenceTokenizer(ref)
    whole = prompt + text
    base = len(prompt)

    def to_bytes(index: int) -> int:
        return len(whole[:index].encode("utf-8")) - len(prompt.encode("utf-8"))

    offsets = []
    for _, begin, end in ref.token_spans(prompt, text, split_special_tokens):
        if begin is None or (base > 0 and end <= base):
            offsets += [-1, -1]
            continue
        begin = max(begin, base)
        surface = whole[begin:end]
        stripped = surface.lstrip("".join(_HF_WHITESPACE))
        begin += len(surface) - len(stripped)
        end = max(begin, end - (len(stripped) - len(stripped.rstrip("".join(_HF_WHITESPACE)))))
        offsets += [to_bytes(begin), to_bytes(end)]
    return offsets


def _offset_lines() -> List[str]:
    """The lines of tests/data/multilingual.txt, when this jina3 sits in a source tree."""
    script = fixture_script()
    if script is None:
        return []
    path = script.resolve().parents[2] / "tests" / "data" / "multilingual.txt"
    return path.read_text(encoding="utf-8").split("\n") if path.is_file() else []


def _cases(tasks: List[str]) -> List[Dict]:
    cases = [{"task": task, "dims": 0, "normalize": True, "max_length": 0} for task in [None] + tasks]
    cases += [
        {"task": tasks[0], "dims": 8, "normalize": True, "max_length": 0},
        {"task": tasks[1], "dims": 16, "normalize": True, "max_length": 0},
        {"task": None, "dims": 32, "normalize": True, "max_length": 0},
        {"task": tasks[-1], "dims": 64, "normalize": True, "max_length": 0},
        {"task": tasks[2], "dims": 0, "normalize": False, "max_length": 0},
        {"task": tasks[3], "dims": 32, "normalize": False, "max_length": 0},
        {"task": tasks[1], "dims": 0, "normalize": True, "max_length": 16},
        {"task": None, "dims": 8, "normalize": False, "max_length": 16},
    ]
    return cases


def reference_data(checkpoint_dir: Path, spm_model: Path) -> Dict:
    from .reference import ReferenceModel

    ref = ReferenceModel(checkpoint_dir, spm_model)
    cfg = ref.config
    tasks = list(cfg.lora_adaptations)
    data = {
        "texts": TEXTS,
        "hidden_size": cfg.hidden_size,
        "matryoshka_dims": list(cfg.matryoshka_dimensions),
        "max_length": cfg.max_position_embeddings,
        "prompts": {task: cfg.task_instructions[task] for task in tasks},
        "token_ids": [{"task": task, "ids": ref.tokenize(TEXTS, task)} for task in [None] + tasks],
        "cases": [],
    }
    for case in _cases(tasks):
        embeddings = ref.encode(TEXTS, case["task"], dims=case["dims"] or None, normalize=case["normalize"],
                                max_length=case["max_length"] or None)
        data["cases"].append(dict(case, embeddings=[[float(v) for v in row] for row in embeddings]))
    import torch

    data["token_outputs"] = []
    for text, max_length in TOKEN_TEXTS:
        for task in TOKEN_TASKS:
            ids = ref.tokenize_one(text, task, max_length or None)
            prompt = cfg.task_instructions[task] if task is not None else ""
            offsets = hf_offsets(ref, prompt, text)
            if max_length and len(offsets) > 2 * max_length:  # as the ids: keep the first max_length - 1 and </s>
                offsets = offsets[:2 * (max_length - 1)] + [-1, -1]
            with torch.no_grad():
                states = ref.hidden_states(ids, task)
            data["token_outputs"].append({"text": text, "task": task, "max_length": max_length, "ids": ids,
                                          "offsets": offsets,
                                          "hidden_states": [[float(v) for v in row] for row in states.tolist()]})
    data["offsets"] = []
    for text in OFFSET_TEXTS + _offset_lines():
        for task in [None, "retrieval.query"] if text in OFFSET_TEXTS else [None]:
            prompt = cfg.task_instructions[task] if task is not None else ""
            data["offsets"].append({"text": text, "task": task, "ids": ref.tokenize_one(text, task, 1 << 30),
                                    "offsets": hf_offsets(ref, prompt, text)})
    return data


def _package_sources() -> Iterable[Path]:
    root = Path(__file__).resolve().parents[1]  # the jina3 package
    return sorted(p for p in root.rglob("*.py") if "__pycache__" not in p.parts)


def _torch_version() -> str:
    try:
        from importlib.metadata import version

        return version("torch")
    except Exception:  # no distribution metadata: ask torch itself
        import torch

        return torch.__version__


def stamp(extra_inputs: Iterable[Path] = ()) -> str:
    digest = hashlib.sha256()
    root = Path(__file__).resolve().parents[1]
    for path in _package_sources():
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    for path in extra_inputs:
        digest.update(Path(path).name.encode() + b"\0" + Path(path).read_bytes() + b"\0")
    digest.update(f"torch {_torch_version()}\0".encode())
    for path in (xlmr_tokenizer_json(), xlmr_spm_model()):
        digest.update(f"{path.name} {path.stat().st_size}\0".encode())
    return digest.hexdigest()


@contextmanager
def _locked(out_dir: Path):
    """Serialises generators working on one directory (parallel test processes)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    with open(out_dir / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def is_current(out_dir: Path, expected_stamp: str) -> bool:
    stamp_file = out_dir / STAMP_FILE
    return ((out_dir / REFERENCE_FILE).is_file() and stamp_file.is_file()
            and stamp_file.read_text().strip() == expected_stamp)


def generate(out_dir: Path, log=print) -> None:
    """Writes the whole data set into out_dir, replacing what is there."""
    import torch

    from ..export import export_package
    from .make_checkpoint import write_checkpoint

    for name in [STAMP_FILE, REFERENCE_FILE, "checkpoint"] + list(PACKAGES):
        path = out_dir / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
    checkpoint = out_dir / "checkpoint"
    start = time.perf_counter()
    write_checkpoint(checkpoint, "tiny", CHECKPOINT_SEED, torch.bfloat16, xlmr_tokenizer_json())
    log(f"make_test_data: checkpoint {time.perf_counter() - start:.1f}s")
    for name, (dtype, kernels) in PACKAGES.items():
        start = time.perf_counter()
        export_package(checkpoint, out_dir / name, dtype, kernels=kernels)
        log(f"make_test_data: {name} {time.perf_counter() - start:.1f}s")
    start = time.perf_counter()
    data = reference_data(checkpoint, xlmr_spm_model())
    tmp = out_dir / (REFERENCE_FILE + ".tmp")
    tmp.write_text(json.dumps(data, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(out_dir / REFERENCE_FILE)
    log(f"make_test_data: reference.json {time.perf_counter() - start:.1f}s")


def ensure(out_dir, extra_inputs: Iterable[Path] = (), log=print) -> Path:
    """Generates the data set in out_dir unless its stamp is current; returns out_dir."""
    out_dir = Path(out_dir)
    extra_inputs = list(extra_inputs)
    expected = stamp(extra_inputs)
    if is_current(out_dir, expected):
        return out_dir
    with _locked(out_dir):
        if not is_current(out_dir, expected):  # another process may have finished meanwhile
            generate(out_dir, log)
            (out_dir / STAMP_FILE).write_text(expected + "\n")
    return out_dir


def fixture_script() -> Optional[Path]:
    """tests/fixtures/make_test_data.py of the source tree, if this jina3 sits in one."""
    for ancestor in Path(__file__).resolve().parents:
        candidate = ancestor / "tests" / "fixtures" / "make_test_data.py"
        if candidate.is_file():
            return candidate
    return None


def generator_inputs(script: Optional[Path]) -> List[Path]:
    """The files besides jina3's Python sources that the data depends on: the fixture script, and
    the files that register the TorchScript operators whose schemas the exported packages name
    (src/model/torch_ops.cpp, attention_ops.cpp)."""
    if script is None:
        return []
    root = script.resolve().parents[2]
    operators = [root / "src" / "model" / name for name in ("torch_ops.cpp", "attention_ops.cpp")]
    lines = root / "tests" / "data" / "multilingual.txt"  # offsets of its lines
    return [script] + [path for path in (*operators, lines) if path.is_file()]


def shared_test_data() -> Path:
    """The data set for tests: $JINA3_TEST_DATA as ctest's fixture made it (used as is), else a
    per-user cache in the temp directory, generated on first use."""
    import os
    import tempfile

    env = os.environ.get("JINA3_TEST_DATA")
    if env:
        path = Path(env)
        if not (path / REFERENCE_FILE).is_file():
            raise FileNotFoundError(f"JINA3_TEST_DATA={env} has no {REFERENCE_FILE}: run the make_test_data "
                                    "fixture (tests/fixtures/make_test_data.py) first")
        return path
    script = fixture_script()
    cache = Path(tempfile.gettempdir()) / f"jina3-testdata-{os.getuid()}"
    return ensure(cache, generator_inputs(script))
