"""Every endpoint of `jina3 serve` with a real HTTP client, compared with the library (the Python
module on the same package): float32 within 1e-6, base64, every embedding_type byte for byte,
late_chunking, token-id input, TEI /embed, /tokenize, and the GET endpoints."""

import base64
import json

import numpy as np
import prometheus_client.parser
import pytest
import requests

from serve_support import TOLERANCE, encoder, running

TEXTS = ["What is the capital of France?", "Berlin is the capital of Germany.", "日本語のテキスト 😀", ""]


@pytest.fixture(scope="module")
def server():
    with running("--model-name", "test-model") as s:
        yield s


def embeddings(server, body):
    response = requests.post(server.url + "/v1/embeddings", json=body, timeout=60)
    assert response.status_code == 200, response.text
    payload = response.json()
    assert payload["object"] == "list"
    assert payload["model"] == "test-model"
    assert [row["index"] for row in payload["data"]] == list(range(len(payload["data"])))
    assert all(row["object"] == "embedding" for row in payload["data"])
    return payload


@pytest.mark.parametrize("task,dims", [(None, None), ("retrieval.query", None), ("retrieval.passage", 16),
                                       ("text-matching", 32), ("classification", 8), ("separation", 64)])
def test_float_rows_equal_the_library(server, task, dims):
    body = {"input": TEXTS, "model": "anything"}
    if task:
        body["task"] = task
    if dims:
        body["dimensions"] = dims
    payload = embeddings(server, body)
    got = np.array([row["embedding"] for row in payload["data"]], dtype=np.float32)
    want = encoder().encode(TEXTS, task=task, dims=dims)
    assert got.shape == want.shape
    assert np.abs(got - want).max() <= TOLERANCE
    # usage counts the tokens the model ran: prompt, <s>, </s> and the texts' own.
    tokens = sum(len(ids) for ids in encoder().tokenize(TEXTS, task=task))
    assert payload["usage"] == {"prompt_tokens": tokens, "total_tokens": tokens}


def test_a_single_string_is_one_input(server):
    payload = embeddings(server, {"input": "just one"})
    assert len(payload["data"]) == 1
    want = encoder().encode(["just one"])[0]
    assert np.abs(np.array(payload["data"][0]["embedding"], dtype=np.float32) - want).max() <= TOLERANCE


def test_base64_decodes_to_the_same_floats(server):
    for body in ({"input": TEXTS, "encoding_format": "base64"}, {"input": TEXTS, "embedding_type": "base64"}):
        payload = embeddings(server, body)
        got = np.stack([np.frombuffer(base64.b64decode(row["embedding"]), dtype="<f4") for row in payload["data"]])
        assert np.array_equal(got, encoder().encode(TEXTS)) or np.abs(got - encoder().encode(TEXTS)).max() <= TOLERANCE


@pytest.mark.parametrize("kind,dtype", [("binary", np.int8), ("ubinary", np.uint8), ("int8", np.int8),
                                        ("uint8", np.uint8)])
def test_every_embedding_type_is_byte_equal_to_the_precision_output(server, kind, dtype):
    payload = embeddings(server, {"input": TEXTS, "embedding_type": kind, "task": "retrieval.passage"})
    got = np.array([row["embedding"] for row in payload["data"]], dtype=dtype)
    want = encoder().encode(TEXTS, task="retrieval.passage", precision=kind)
    assert got.tobytes() == np.ascontiguousarray(want).tobytes()
    # base64 of those bytes with encoding_format
    payload = embeddings(server, {"input": TEXTS, "embedding_type": kind, "task": "retrieval.passage",
                                  "encoding_format": "base64"})
    assert b"".join(base64.b64decode(row["embedding"]) for row in payload["data"]) == want.tobytes()


def test_normalized_false_and_truncate(server):
    payload = embeddings(server, {"input": TEXTS[:2], "normalized": False})
    got = np.array([row["embedding"] for row in payload["data"]], dtype=np.float32)
    want = encoder().encode(TEXTS[:2], normalize=False)
    assert np.abs(got - want).max() <= TOLERANCE * max(1.0, float(np.abs(want).max()))
    assert abs(float(np.linalg.norm(got[0])) - 1.0) > 1e-3  # really not normalised


def test_late_chunking_equals_late_chunk_with_the_chunks_spans(server):
    chunks = ["Berlin is the capital of Germany.", "Its population is 3.8 million.", "Größe: 891 km²."]
    payload = embeddings(server, {"input": chunks, "late_chunking": True, "task": "retrieval.passage",
                                  "dimensions": 32})
    got = np.array([row["embedding"] for row in payload["data"]], dtype=np.float32)
    document = " ".join(chunks)
    spans, start = [], 0
    for chunk in chunks:
        spans.append((start, start + len(chunk)))
        start += len(chunk) + 1
    want = encoder().late_chunk([document], task="retrieval.passage", dims=32, spans=[spans])[0].embeddings
    assert got.shape == want.shape == (3, 32)
    assert np.abs(got - want).max() <= TOLERANCE


def test_token_id_input_equals_text_input(server):
    texts = TEXTS[:3]
    # The texts' own tokens: tokenize() without a task gives <s> ... </s> around them.
    ids = [row[1:-1] for row in encoder().tokenize(texts)]
    for task in (None, "retrieval.query"):
        body = {"input": ids, **({"task": task} if task else {})}
        from_ids = np.array([row["embedding"] for row in embeddings(server, body)["data"]], dtype=np.float32)
        want = encoder().encode(texts, task=task)
        assert np.abs(from_ids - want).max() <= TOLERANCE
        tokens = sum(len(row) for row in encoder().tokenize(texts, task=task))
        assert embeddings(server, body)["usage"]["prompt_tokens"] == tokens
    one = embeddings(server, {"input": ids[0]})  # one text as one id array
    assert len(one["data"]) == 1
    assert np.abs(np.array(one["data"][0]["embedding"], dtype=np.float32) - encoder().encode(texts[:1])[0]).max() \
        <= TOLERANCE


def test_priority_from_body_or_header_gives_the_same_rows(server):
    plain = embeddings(server, {"input": TEXTS})
    bulk = embeddings(server, {"input": TEXTS, "priority": "bulk"})
    response = requests.post(server.url + "/v1/embeddings", json={"input": TEXTS},
                             headers={"X-Priority": "bulk"}, timeout=60)
    assert response.status_code == 200
    for other in (bulk, response.json()):
        a = np.array([r["embedding"] for r in plain["data"]], dtype=np.float32)
        b = np.array([r["embedding"] for r in other["data"]], dtype=np.float32)
        assert np.abs(a - b).max() <= TOLERANCE
    # the bulk lane counted them
    metrics = prometheus_client.parser.text_string_to_metric_families(
        requests.get(server.url + "/metrics", timeout=10).text)
    lanes = {s.labels["lane"]: s.value for f in metrics if f.name == "jina3_lane_requests"
             for s in f.samples}
    assert lanes["bulk"] >= 2 and lanes["interactive"] >= 1


def test_tei_embed_returns_arrays(server):
    response = requests.post(server.url + "/embed", json={"inputs": TEXTS, "prompt_name": "retrieval.query",
                                                          "dimensions": 16}, timeout=60)
    assert response.status_code == 200, response.text
    got = np.array(response.json(), dtype=np.float32)
    assert np.abs(got - encoder().encode(TEXTS, task="retrieval.query", dims=16)).max() <= TOLERANCE
    response = requests.post(server.url + "/embed", json={"inputs": "one", "normalize": False}, timeout=60)
    assert response.status_code == 200
    got = np.array(response.json(), dtype=np.float32)
    assert got.shape == (1, 64)
    want = encoder().encode(["one"], normalize=False)
    assert np.abs(got - want).max() <= TOLERANCE * max(1.0, float(np.abs(want).max()))


def test_tokenize_gives_ids_tokens_and_character_offsets(server):
    texts = ["Hello wörld 😀!", "Größe"]
    response = requests.post(server.url + "/tokenize", json={"inputs": texts, "task": "retrieval.query"},
                             timeout=60)
    assert response.status_code == 200, response.text
    got = response.json()
    want_ids = encoder().tokenize(texts, task="retrieval.query")
    assert [[t["id"] for t in row] for row in got] == [list(ids) for ids in want_ids]
    # The library's offsets, as the Python module gives them: str (code point) indices.
    details = encoder().encode_tokens(texts, task="retrieval.query")
    for text, row, detail in zip(texts, got, details):
        for token, (begin, end) in zip(row, np.asarray(detail.offsets).reshape(-1, 2).tolist()):
            if begin < 0:
                assert token["start"] is None and token["stop"] is None and token["special"]
            else:
                assert (token["start"], token["stop"]) == (begin, end) and not token["special"]
        assert row[0]["text"] == "<s>" and row[-1]["text"] == "</s>"
    # character offsets, not bytes: the emoji (4 bytes) is one character
    assert any(t["start"] is not None and t["stop"] - t["start"] == 1 and texts[0][t["start"]] == "😀" for t in got[0])


def test_get_endpoints(server):
    assert requests.get(server.url + "/health", timeout=10).json() == {"status": "ok"}
    assert requests.get(server.url + "/ready", timeout=10).status_code == 200
    models = requests.get(server.url + "/v1/models", timeout=10).json()
    assert models["data"][0]["id"] == "test-model" and models["object"] == "list"
    info = requests.get(server.url + "/info", timeout=10).json()
    assert info["dims"] == [8, 16, 32, 64] and info["hidden_size"] == 64
    assert info["max_input_length"] == encoder().max_length
    assert sorted(info["tasks"]) == sorted(["retrieval.query", "retrieval.passage", "separation", "classification",
                                            "text-matching"])


def test_metrics_parse_as_prometheus_text(server):
    requests.post(server.url + "/v1/embeddings", json={"input": ["for the counters"]}, timeout=60)
    response = requests.get(server.url + "/metrics", timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    families = {f.name: f for f in prometheus_client.parser.text_string_to_metric_families(response.text)}
    assert families["jina3_requests"].type == "counter"
    assert families["jina3_requests"].samples[0].value >= 1
    assert families["jina3_queue_depth"].type == "gauge"
    latency = families["jina3_lane_latency_us"]
    assert latency.type == "histogram"
    buckets = [s for s in latency.samples if s.name.endswith("_bucket") and s.labels["lane"] == "interactive"]
    values = [s.value for s in buckets]
    assert values == sorted(values), "buckets are cumulative"
    assert buckets[-1].labels["le"] == "+Inf"
    count = [s.value for s in latency.samples if s.name.endswith("_count") and s.labels["lane"] == "interactive"][0]
    assert buckets[-1].value == count >= 1
    assert families["jina3_http_responses"].samples  # the server's own
    assert families["jina3_ready"].samples[0].value == 1


def test_keep_alive_serves_many_requests_on_one_connection(server):
    with requests.Session() as session:
        for i in range(20):
            response = session.post(server.url + "/v1/embeddings", json={"input": f"text {i}"}, timeout=60)
            assert response.status_code == 200
    # one connection: the server counted the 20 answers, the session opened one socket
    assert "keep-alive" in response.headers.get("Connection", "keep-alive").lower()


def test_one_log_line_per_request(server):
    requests.post(server.url + "/v1/embeddings", json={"input": ["log me", "and me"], "priority": "bulk"},
                  timeout=60)
    lines = [l for l in server.log().splitlines() if "POST /v1/embeddings 200" in l and "inputs=2" in l]
    assert any("lane=bulk" in l and "tokens=" in l and "ms=" in l for l in lines), server.log()[-2000:]


def test_json_log_format():
    with running("--log-format", "json") as s:
        s.post("/v1/embeddings", {"input": "x"})
        entries = [json.loads(l) for l in s.log().splitlines() if l.startswith("{")]
        entry = [e for e in entries if e["path"] == "/v1/embeddings"][-1]
        assert entry["method"] == "POST" and entry["status"] == 200 and entry["inputs"] == 1
        assert entry["tokens"] > 0 and entry["lane"] == "interactive" and entry["ms"] >= 0


def test_default_task_applies_to_requests_without_one():
    with running("--default-task", "retrieval.query", "--quiet") as s:
        status, payload = s.post("/v1/embeddings", {"input": TEXTS[:2]})
        assert status == 200
        got = np.array([r["embedding"] for r in payload["data"]], dtype=np.float32)
        assert np.abs(got - encoder().encode(TEXTS[:2], task="retrieval.query")).max() <= TOLERANCE
        assert s.log() == ""  # --quiet
