"""jina3.testing.reference (the literal reference of Jina's encode) and jina3.export.backbone against
it: eager and the scripted backbone loaded back from the float32 package, every task and no task,
mixed-task batches, padding and batch-neighbour independence, chunked attention."""

import json

import numpy as np
import pytest
import torch

from jina3.export.backbone import (JinaEmbeddingsV3, ManualAttention, SdpaAttention, has_sdpa, load_checkpoint,
                                   make_attention)
from jina3.testing.paths import xlmr_spm_model
from jina3.testing.reference import ReferenceModel
from jina3.testing.testdata import TEXTS, shared_test_data

TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def data_dir():
    return shared_test_data()


class CachedReference(ReferenceModel):
    """The reference, remembering encode() results (the tests ask for the same ones often)."""

    def __init__(self, *args):
        super().__init__(*args)
        self._cache = {}

    def encode(self, texts, task=None, dims=None, normalize=True, max_length=None):
        key = (tuple(texts), task, dims, normalize, max_length)
        if key not in self._cache:
            self._cache[key] = super().encode(texts, task, dims, normalize, max_length)
        return self._cache[key].copy()


@pytest.fixture(scope="module")
def ref(data_dir):
    return CachedReference(data_dir / "checkpoint", xlmr_spm_model())


@pytest.fixture(scope="module")
def eager(data_dir):
    return load_checkpoint(data_dir / "checkpoint")


@pytest.fixture(scope="module")
def scripted(data_dir):
    return torch.jit.load(str(data_dir / "package-float32" / "backbone.pt"))


def all_tasks(ref):
    return [None] + list(ref.config.lora_adaptations)


def batch(rows, pad_id=1, extra_padding=0):
    width = max(len(r) for r in rows) + extra_padding
    ids = torch.full((len(rows), width), pad_id, dtype=torch.int64)
    mask = torch.zeros((len(rows), width), dtype=torch.int64)
    for i, row in enumerate(rows):
        ids[i, :len(row)] = torch.tensor(row)
        mask[i, :len(row)] = 1
    return ids, mask


def embed(model, rows, task_ids, normalize=True, extra_padding=0):
    """Mean pooling over the mask in float32, then L2 normalisation (the runtime's pooling)."""
    ids, mask = batch(rows, extra_padding=extra_padding)
    with torch.inference_mode():
        hidden = model(ids, mask, torch.tensor(task_ids, dtype=torch.int64)).float()
    weights = mask.unsqueeze(-1).float()
    pooled = (hidden * weights).sum(1) / weights.sum(1)
    if normalize:
        pooled = torch.nn.functional.normalize(pooled, dim=-1)
    return pooled.numpy()


# --- the reference itself ------------------------------------------------------------------------


def test_reference_tokenization_matches_known_xlmr_ids(ref):
    # From the transformers XLM-R tokenizer tests (fairseq ids), see shared/data/xlmr/PROVENANCE.md.
    assert ref.tokenize(["Hello World!"]) == [[0, 35378, 6661, 38, 2]]
    hard = ('This is a very long text with a lot of weird characters, such as: . , ~ ? ( ) " [ ] ! : - . Also we '
            'will add words that should not exsist and be tokenized to <unk>, such as saoneuhaoesuth')
    fairseq = [
        0, 3293, 83, 10, 4552, 4989, 7986, 678, 10, 5915, 111, 179459, 124850, 4, 6044, 237, 12, 6, 5, 6, 4, 6780,
        705, 15, 1388, 44, 378, 10114, 711, 152, 20, 6, 5, 22376, 642, 1221, 15190, 34153, 450, 5608, 959, 1119,
        57702, 136, 186, 47, 1098, 29367, 47, 4426, 3678, 2740, 4, 6044, 237, 6284, 50901, 528, 31, 90, 34, 927, 2]
    # fairseq's ids read "<unk>" as text (4426 3678 2740): split_special_tokens.
    assert ref.tokenize_one(hard, split_special_tokens=True) == fairseq
    # Hugging Face's fast tokenizer (tokenizers 0.23.2 on the XLM-R tokenizer.json) makes it <unk>'s
    # id 3, keeps the space before it as a lone "\u2581" (6) and starts ", such" as a new word
    # ("\u2581" 6, "," 4).
    i = fairseq.index(4426)
    assert ref.tokenize([hard])[0] == fairseq[:i] + [6, 3, 6] + fairseq[i + 3:]


def test_reference_prompts_whitespace_and_truncation(ref):
    query = ref.config.task_instructions["retrieval.query"]
    assert ref.tokenize([""], "retrieval.query") == ref.tokenize([query])
    assert ref.tokenize([""], "separation") == [[0, 2]]
    # sentencepiece semantics: whitespace trimmed and collapsed (the sentence-transformers path)
    assert ref.tokenize(["end\n"]) == ref.tokenize(["end"]) == ref.tokenize(["  end  "])
    assert ref.tokenize([" "]) == [[0, 2]]
    full = ref.tokenize([TEXTS[7]])[0]
    assert len(full) > 300
    cut = ref.tokenize([TEXTS[7]], max_length=16)[0]
    assert len(cut) == 16 and cut[:15] == full[:15] and cut[-1] == 2
    assert ref.tokenize(["Hello World!"], max_length=2) == [[0, 2]]
    with pytest.raises(ValueError, match="at least 2"):
        ref.tokenize(["x"], max_length=1)
    with pytest.raises(ValueError, match="unknown task"):
        ref.tokenize(["x"], "summarization")


def test_reference_encode_semantics(ref):
    texts = ["Hello World!", "Grüße aus München"]
    raw = ref.encode(texts, "text-matching", normalize=False)
    assert raw.dtype == np.float32 and raw.shape == (2, 64)
    full = ref.encode(texts, "text-matching")
    np.testing.assert_allclose(np.linalg.norm(full, axis=1), 1.0, atol=1e-6)
    np.testing.assert_allclose(full, raw / np.linalg.norm(raw, axis=1, keepdims=True), atol=1e-7)
    # Matryoshka: truncate first, normalise second
    small = ref.encode(texts, "text-matching", dims=16)
    np.testing.assert_allclose(small, raw[:, :16] / np.linalg.norm(raw[:, :16], axis=1, keepdims=True), atol=1e-7)
    assert ref.encode([], dims=8).shape == (0, 8)
    with pytest.raises(ValueError, match="dims 12"):
        ref.encode(texts, dims=12)
    # tasks really differ
    assert float(np.dot(ref.encode(texts[:1], "retrieval.query")[0], ref.encode(texts[:1], None)[0])) < 0.99


def test_reference_json_is_what_the_reference_computes(data_dir, ref):
    data = json.loads((data_dir / "reference.json").read_text(encoding="utf-8"))
    assert data["texts"] == TEXTS and data["hidden_size"] == 64 and data["max_length"] == 8194
    assert data["matryoshka_dims"] == [8, 16, 32, 64]
    assert [entry["task"] for entry in data["token_ids"]] == all_tasks(ref)
    for entry in data["token_ids"]:
        assert entry["ids"] == ref.tokenize(TEXTS, entry["task"])
    case = data["cases"][-1]
    again = ref.encode(TEXTS, case["task"], case["dims"] or None, case["normalize"], case["max_length"] or None)
    np.testing.assert_array_equal(np.array(case["embeddings"], dtype=np.float32), again)
    seen = {(c["task"], c["dims"], c["normalize"], c["max_length"]) for c in data["cases"]}
    assert {task for task, *_ in seen} == set(all_tasks(ref))
    assert any(d not in (0, 64) for _, d, _, _ in seen) and any(not n for _, _, n, _ in seen)
    assert any(m == 16 for *_, m in seen)


# --- the model against the reference --------------------------------------------------------------


@pytest.mark.parametrize("which", ["eager", "scripted"])
def test_model_equals_reference_for_every_task(request, ref, which):
    model = request.getfixturevalue(which)
    worst = {}
    for task in all_tasks(ref):
        rows = ref.tokenize(TEXTS, task)
        got = embed(model, rows, [ref.config.task_index(task)] * len(rows))
        expected = ref.encode(TEXTS, task)
        worst[task] = float(np.abs(got - expected).max())
        raw = embed(model, rows, [ref.config.task_index(task)] * len(rows), normalize=False)
        raw_expected = ref.encode(TEXTS, task, normalize=False)
        worst[task] = max(worst[task], float(np.abs(raw - raw_expected).max()))
    print(f"{which} vs reference, max |diff| per task: " + ", ".join(f"{t}: {d:.2e}" for t, d in worst.items()))
    assert max(worst.values()) <= TOLERANCE, worst


def test_reference_json_embeddings_from_the_scripted_package(data_dir, ref, scripted):
    data = json.loads((data_dir / "reference.json").read_text(encoding="utf-8"))
    for case in data["cases"]:
        rows = ref.tokenize(TEXTS, case["task"], case["max_length"] or None)
        dims = case["dims"] or 64
        pooled = embed(scripted, rows, [ref.config.task_index(case["task"])] * len(rows), normalize=False)[:, :dims]
        if case["normalize"]:
            pooled = pooled / np.linalg.norm(pooled, axis=1, keepdims=True)
        assert np.abs(pooled - np.array(case["embeddings"])).max() <= TOLERANCE, case["task"]


@pytest.mark.parametrize("which", ["eager", "scripted"])
def test_mixed_task_batch_equals_single_task_batches(request, ref, which):
    model = request.getfixturevalue(which)
    tasks = all_tasks(ref)
    texts = TEXTS[:6]
    rows, task_ids, expected = [], [], []
    for i, text in enumerate(texts):
        task = tasks[i % len(tasks)]
        rows += ref.tokenize([text], task)
        task_ids.append(ref.config.task_index(task))
        expected.append(ref.encode([text], task)[0])
    got = embed(model, rows, task_ids)
    assert np.abs(got - np.stack(expected)).max() <= TOLERANCE


@pytest.mark.parametrize("which", ["eager", "scripted"])
def test_rows_do_not_depend_on_padding_or_neighbours(request, ref, which):
    model = request.getfixturevalue(which)
    rows = ref.tokenize(TEXTS, "classification")
    t = ref.config.task_index("classification")
    alone = np.stack([embed(model, [row], [t])[0] for row in rows])
    together = embed(model, rows, [t] * len(rows))
    padded = embed(model, rows, [t] * len(rows), extra_padding=37)
    reversed_rows = embed(model, rows[::-1], [t] * len(rows))[::-1]
    for other in (together, padded, reversed_rows):
        assert np.abs(other - alone).max() <= TOLERANCE
    # and an unrelated task in a neighbouring row changes nothing
    mixed = embed(model, [rows[0], rows[1]], [t, -1])
    assert np.abs(mixed[0] - alone[0]).max() <= TOLERANCE


@pytest.mark.parametrize("kind", ["manual", "sdpa"] if has_sdpa() else ["manual"])
def test_chunked_attention_equals_unchunked(data_dir, ref, kind):
    # A budget of 4 x 16 x 600 score elements forces 16-query chunks on the ~600-token text.
    chunked = load_checkpoint(data_dir / "checkpoint", attention=kind, max_score_elements=4 * 16 * 600)
    assert isinstance(chunked.layers[0].attention, ManualAttention if kind == "manual" else SdpaAttention)
    rows = ref.tokenize([TEXTS[7]], "retrieval.passage")
    assert len(rows[0]) > 500
    got = embed(chunked, rows, [1])
    assert np.abs(got - ref.encode([TEXTS[7]], "retrieval.passage")).max() <= TOLERANCE
    scripted_chunked = torch.jit.script(chunked)
    assert np.abs(embed(scripted_chunked, rows, [1]) - got).max() <= TOLERANCE


def test_attention_kind_follows_torch(eager):
    # Chosen when the module is built: SDPA where torch has it (2.x), the manual kernel on 1.13.
    expected = SdpaAttention if has_sdpa() else ManualAttention
    assert all(isinstance(block.attention, expected) for block in eager.layers)
    with pytest.raises(ValueError, match="unknown attention kind"):
        make_attention(16, "flash")


def test_an_8k_token_document_runs(eager):
    ids = torch.randint(4, 250000, (1, 8192), generator=torch.Generator().manual_seed(0))
    ids[0, 0], ids[0, -1] = 0, 2
    with torch.inference_mode():
        hidden = eager(ids, torch.ones_like(ids), torch.tensor([4]))
    assert hidden.shape == (1, 8192, 64) and torch.isfinite(hidden).all()


def test_reduced_precision_model_stays_close(data_dir, ref):
    model = load_checkpoint(data_dir / "checkpoint", dtype=torch.bfloat16)
    for task in all_tasks(ref):
        rows = ref.tokenize(TEXTS, task)
        got = embed(model, rows, [ref.config.task_index(task)] * len(rows))
        cosine = (got * ref.encode(TEXTS, task)).sum(1)
        assert cosine.min() >= 0.999, (task, cosine.min())


@pytest.mark.parametrize("which", ["eager", "scripted"])
def test_bad_inputs_raise(request, which):
    model = request.getfixturevalue(which)
    ids, mask = batch([[0, 5, 2]])
    with pytest.raises(Exception, match="task_ids must be -1"):
        model(ids, mask, torch.tensor([5]))
    with pytest.raises(Exception, match="task_ids must be -1"):
        model(ids, mask, torch.tensor([-2]))
    with pytest.raises(Exception, match="vocab_size"):
        model(torch.tensor([[0, 250002, 2]]), mask, torch.tensor([0]))
    with pytest.raises(Exception, match="task_ids must be"):
        model(ids, mask, torch.tensor([0, 0]))
    with pytest.raises(Exception, match="int64"):
        model(ids.int(), mask, torch.tensor([0]))


def test_model_uses_plain_linear_submodules(eager):
    # quantize_dynamic finds the base projections by type.
    linears = [name for name, m in eager.named_modules() if type(m) is torch.nn.Linear]
    assert len(linears) == 4 * 2
    assert isinstance(eager, JinaEmbeddingsV3)
