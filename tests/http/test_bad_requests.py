"""Bad requests to `jina3 serve`: each gets its documented status and OpenAI-shaped error (never a
500, a hang or a crash), and the server goes on serving. Also keys, slow and half-open clients."""

import json
import socket
import time

import pytest

from serve_support import parse_raw, raw_exchange, running

KEY = "sk-test-key-1"
AUTH = {"Authorization": f"Bearer {KEY}"}
LONG_TEXT = "word " * 9000  # > max_length (8194) tokens of the tiny package

# (name, method, path, body (bytes, str or a JSON value), headers, status, error type, error code or None)
CASES = [
    ("malformed JSON", "POST", "/v1/embeddings", b'{"input": "x"', {}, 400, "invalid_request_error", "invalid_json"),
    ("not JSON at all", "POST", "/v1/embeddings", b"input=x", {}, 400, "invalid_request_error", "invalid_json"),
    ("empty body", "POST", "/v1/embeddings", b"", {}, 400, "invalid_request_error", "invalid_json"),
    ("a JSON array body", "POST", "/v1/embeddings", [1, 2], {}, 400, "invalid_request_error", "invalid_json"),
    ("input missing", "POST", "/v1/embeddings", {"model": "m"}, {}, 400, "invalid_request_error", "missing_field"),
    ("input a number", "POST", "/v1/embeddings", {"input": 5}, {}, 400, "invalid_request_error", "invalid_type"),
    ("input an object", "POST", "/v1/embeddings", {"input": {"a": 1}}, {}, 400, "invalid_request_error",
     "invalid_type"),
    ("mixed strings and ids", "POST", "/v1/embeddings", {"input": ["a", [1]]}, {}, 400, "invalid_request_error",
     "invalid_type"),
    ("float token id", "POST", "/v1/embeddings", {"input": [[1.5]]}, {}, 400, "invalid_request_error",
     "invalid_type"),
    ("dimensions a string", "POST", "/v1/embeddings", {"input": "x", "dimensions": "64"}, {}, 400,
     "invalid_request_error", "invalid_type"),
    ("normalized a string", "POST", "/v1/embeddings", {"input": "x", "normalized": "yes"}, {}, 400,
     "invalid_request_error", "invalid_type"),
    ("task a number", "POST", "/v1/embeddings", {"input": "x", "task": 3}, {}, 400, "invalid_request_error",
     "invalid_type"),
    ("empty input list", "POST", "/v1/embeddings", {"input": []}, {}, 422, "invalid_request_error", "invalid_value"),
    ("unknown task", "POST", "/v1/embeddings", {"input": "x", "task": "retrieval.bogus"}, {}, 422,
     "invalid_request_error", "invalid_argument"),
    ("dims not in the Matryoshka list", "POST", "/v1/embeddings", {"input": "x", "dimensions": 48}, {}, 422,
     "invalid_request_error", "invalid_argument"),
    ("dims 0", "POST", "/v1/embeddings", {"input": "x", "dimensions": 0}, {}, 422, "invalid_request_error",
     "invalid_value"),
    ("unknown encoding_format", "POST", "/v1/embeddings", {"input": "x", "encoding_format": "hex"}, {}, 422,
     "invalid_request_error", "invalid_value"),
    ("unknown embedding_type", "POST", "/v1/embeddings", {"input": "x", "embedding_type": "float16x"}, {}, 422,
     "invalid_request_error", "invalid_value"),
    ("unknown priority", "POST", "/v1/embeddings", {"input": "x", "priority": "urgent"}, {}, 422,
     "invalid_request_error", "invalid_argument"),
    ("unknown X-Priority", "POST", "/v1/embeddings", {"input": "x"}, {"X-Priority": "urgent"}, 422,
     "invalid_request_error", "invalid_argument"),
    ("too long with truncate false", "POST", "/v1/embeddings", {"input": LONG_TEXT, "truncate": False}, {}, 422,
     "invalid_request_error", "input_too_long"),
    ("token id out of the vocabulary", "POST", "/v1/embeddings", {"input": [[5, 250002]]}, {}, 422,
     "invalid_request_error", "invalid_argument"),
    ("negative token id", "POST", "/v1/embeddings", {"input": [[-1]]}, {}, 422, "invalid_request_error",
     "invalid_argument"),
    ("token id beyond int32", "POST", "/v1/embeddings", {"input": [[2 ** 40]]}, {}, 422, "invalid_request_error",
     "invalid_token_id"),
    ("late_chunking with ids", "POST", "/v1/embeddings", {"input": [[5, 6]], "late_chunking": True}, {}, 422,
     "invalid_request_error", "invalid_value"),
    ("invalid UTF-8 in a string", "POST", "/v1/embeddings", b'{"input": "caf\xe9"}', {}, 400,
     "invalid_request_error", "invalid_json"),
    ("lone surrogate escape", "POST", "/v1/embeddings", b'{"input": "\\ud800"}', {}, 400, "invalid_request_error",
     "invalid_json"),
    ("deep nesting", "POST", "/v1/embeddings", b"[" * 100000, {}, 400, "invalid_request_error", "invalid_json"),
    ("number overflow", "POST", "/v1/embeddings", b'{"input": "x", "dimensions": 1e999}', {}, 400,
     "invalid_request_error", "invalid_json"),
    ("TEI inputs missing", "POST", "/embed", {"input": "x"}, {}, 400, "invalid_request_error", "missing_field"),
    ("TEI unknown prompt_name", "POST", "/embed", {"inputs": "x", "prompt_name": "nope"}, {}, 422,
     "invalid_request_error", "invalid_argument"),
    ("tokenize token ids", "POST", "/tokenize", {"inputs": [[1, 2]]}, {}, 400, "invalid_request_error",
     "invalid_type"),
    ("unknown route", "GET", "/v2/nothing", None, {}, 404, "not_found_error", "not_found"),
    ("GET on a POST route", "GET", "/v1/embeddings", None, {}, 405, "invalid_request_error", "method_not_allowed"),
    ("POST on a GET route", "POST", "/metrics", {"x": 1}, {}, 405, "invalid_request_error", "method_not_allowed"),
]


@pytest.fixture(scope="module")
def server():
    with running("--max-inputs", "1000", "--max-request-bytes", "1000000", "--read-timeout", "2", "--quiet") as s:
        yield s


@pytest.mark.parametrize("name,method,path,body,headers,status,error_type,code", CASES, ids=[c[0] for c in CASES])
def test_bad_request(server, name, method, path, body, headers, status, error_type, code):
    got_status, got_headers, data = server.request(method, path, body, headers)
    payload = json.loads(data)
    assert got_status == status, payload
    assert set(payload) == {"error"}
    error = payload["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == error_type and error["message"]
    if code:
        assert error["code"] == code, error
    assert server.request("GET", "/health")[0] == 200  # still serving


def test_a_huge_body_is_refused_from_its_content_length(server):
    # Only the headers are sent: the 413 comes before the body would be read.
    head = b"POST /v1/embeddings HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 50000000\r\n\r\n"
    status, _, payload = parse_raw(raw_exchange(server.port, head + b'{"input": "'))
    assert status == 413 and payload["error"]["code"] == "request_too_large"


def test_a_body_just_over_the_limit_is_refused(server):
    body = json.dumps({"input": "x" * 1000001}).encode()
    status, _, data = server.request("POST", "/v1/embeddings", body)
    assert status == 413


def test_too_many_inputs(server):
    status, _, data = server.request("POST", "/v1/embeddings", {"input": ["a"] * 1001})
    assert status == 413 and json.loads(data)["error"]["param"] == "input"
    with running("--quiet") as default:  # default --max-inputs 2048, --max-request-bytes 16 MiB
        status, _, data = default.request("POST", "/v1/embeddings", {"input": ["a"] * 100000})
        assert status == 413, data
        assert default.request("POST", "/v1/embeddings", {"input": ["ok"]})[0] == 200


def test_a_body_shorter_than_its_content_length_gets_408(server):
    start = time.monotonic()
    data = raw_exchange(server.port, b"POST /v1/embeddings HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n"
                                     b'{"input": "x"}', timeout=10)
    status, _, payload = parse_raw(data)
    assert status == 408 and payload["error"]["code"] == "request_timeout"
    assert time.monotonic() - start < 6  # --read-timeout 2


def test_a_slow_client_is_cut_off(server):
    # One header byte every 0.5 s: the whole request must arrive within --read-timeout (2 s).
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        start = time.monotonic()
        request = b"POST /v1/embeddings HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}"
        closed = False
        for byte in request:
            try:
                s.sendall(bytes([byte]))
            except OSError:
                closed = True
                break
            time.sleep(0.5)
            if time.monotonic() - start > 8:
                break
        data = b""
        if not closed:
            try:
                data = s.recv(65536)
            except OSError:
                pass
        assert time.monotonic() - start < 8
        if data:
            assert parse_raw(data)[0] == 408
    assert server.request("GET", "/health")[0] == 200


def test_a_silent_connection_does_not_hold_the_server(server):
    with socket.create_connection(("127.0.0.1", server.port)):
        assert server.request("POST", "/v1/embeddings", {"input": "x"})[0] == 200


def test_1100_half_open_connections_beside_a_fresh_request():
    with running("--read-timeout", "30", "--quiet") as s:
        sockets = []
        try:
            for _ in range(1100):
                c = socket.create_connection(("127.0.0.1", s.port))
                c.sendall(b"POST /v1/embeddings HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
                sockets.append(c)
            start = time.monotonic()
            status, _, data = s.request("POST", "/v1/embeddings", {"input": "fresh"}, timeout=10)
            assert status == 200, data
            assert time.monotonic() - start < 5
        finally:
            for c in sockets:
                c.close()


def test_api_keys():
    with running("--api-key", KEY, "--api-key", "second-key", "--quiet") as s:
        body = {"input": "x"}
        status, headers, data = s.request("POST", "/v1/embeddings", body)
        assert status == 401 and json.loads(data)["error"]["type"] == "authentication_error"
        assert headers.get("www-authenticate") == "Bearer"
        assert s.request("POST", "/v1/embeddings", body, {"Authorization": "Bearer wrong"})[0] == 401
        assert s.request("POST", "/v1/embeddings", body, {"Authorization": f"Bearer {KEY}x"})[0] == 401
        assert s.request("POST", "/v1/embeddings", body, {"Authorization": KEY})[0] == 401
        assert s.request("POST", "/v1/embeddings", body, AUTH)[0] == 200
        assert s.request("POST", "/v1/embeddings", body, {"Authorization": "Bearer second-key"})[0] == 200
        assert s.request("GET", "/metrics")[0] == 401
        assert s.request("GET", "/v1/models", None, AUTH)[0] == 200
        assert s.request("GET", "/health")[0] == 200  # open
        assert s.request("GET", "/ready")[0] == 200  # open


def test_api_key_file(tmp_path):
    keys = tmp_path / "keys"
    keys.write_text("# comment\n\n  file-key  \n")
    with running("--api-key-file", keys, "--quiet") as s:
        assert s.request("POST", "/v1/embeddings", {"input": "x"}, {"Authorization": "Bearer file-key"})[0] == 200
        assert s.request("POST", "/v1/embeddings", {"input": "x"})[0] == 401
