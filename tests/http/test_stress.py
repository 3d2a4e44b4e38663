"""`jina3 serve` under stress: a full queue gives 429, a disconnect cancels the request's rows,
SIGTERM with requests in flight completes them and exits 0, 1,024 idle connections do not keep a
fresh request from being served, and a request past --timeout is cancelled with a 504."""

import concurrent.futures
import json
import signal
import socket
import time

import prometheus_client.parser
import requests

from serve_support import encoder, running

# Work that keeps the tiny model busy for a while: long texts (each distinct, no cache).
def long_texts(n, words=300, tag="t"):
    return [f"{tag} {i} " + " ".join(f"w{(i * 7 + j) % 997}" for j in range(words)) for i in range(n)]


def metric(server, name, **labels):
    text = server.request("GET", "/metrics")[2].decode()
    for family in prometheus_client.parser.text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return sample.value
    raise KeyError(name)


def test_a_full_queue_gives_429_with_retry_after():
    with running("--max-queued-requests", "1", "--max-inputs", "5000", "--quiet") as s:
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            big = pool.submit(s.request, "POST", "/v1/embeddings", {"input": long_texts(40)})
            time.sleep(0.3)
            small = [pool.submit(s.request, "POST", "/v1/embeddings", {"input": f"q{i}"}) for i in range(6)]
            answers = [f.result() for f in small]
            assert big.result()[0] == 200
        full = [(status, headers, json.loads(body)) for status, headers, body in answers if status == 429]
        assert full, [a[0] for a in answers]
        for status, headers, payload in full:
            assert headers["retry-after"] == "1"
            assert payload["error"]["type"] == "rate_limit_error" and payload["error"]["code"] == "queue_full"
        assert all(status in (200, 429) for status, _, _ in answers)
        assert s.request("POST", "/v1/embeddings", {"input": "after"})[0] == 200
        assert metric(s, "jina3_rejected_total") >= len(full)


def test_a_disconnect_cancels_the_request():
    with running("--max-inputs", "5000") as s:
        body = json.dumps({"input": long_texts(1500, tag="gone")}).encode()
        with socket.create_connection(("127.0.0.1", s.port)) as c:
            c.sendall(b"POST /v1/embeddings HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      b"Content-Length: %d\r\n\r\n" % len(body) + body)
            time.sleep(0.5)
        deadline = time.monotonic() + 30
        while metric(s, "jina3_cancelled_total") < 1:
            assert time.monotonic() < deadline, s.log()[-2000:]
            time.sleep(0.1)
        assert metric(s, "jina3_lane_cancelled_total", lane="interactive") >= 1
        assert metric(s, "jina3_lane_cancelled_rows_total", lane="interactive") >= 1
        status, _, data = s.request("POST", "/v1/embeddings", {"input": "the next one"})
        assert status == 200
        got = json.loads(data)["data"][0]["embedding"]
        assert abs(got[0] - float(encoder().encode(["the next one"])[0][0])) <= 1e-6
        assert " 499 " in s.log()  # logged as closed by the client


def test_sigterm_completes_the_requests_in_flight_and_exits_0():
    with running("--max-inputs", "5000", "--shutdown-timeout", "60") as s:
        with concurrent.futures.ThreadPoolExecutor(3) as pool:
            futures = [pool.submit(s.request, "POST", "/v1/embeddings", {"input": long_texts(20, tag=f"s{i}")}, None,
                                   120) for i in range(3)]
            time.sleep(0.5)
            s.signal(signal.SIGTERM)
            results = [f.result() for f in futures]
        assert [r[0] for r in results] == [200, 200, 200], [r[2][:200] for r in results]
        for status, _, data in results:
            assert len(json.loads(data)["data"]) == 20
        assert s.wait(60) == 0
        assert "shutting down" in s.log()
        try:
            socket.create_connection(("127.0.0.1", s.port), timeout=2).close()
            refused = False
        except OSError:
            refused = True
        assert refused


def test_shutdown_timeout_cancels_what_is_left():
    with running("--max-inputs", "5000", "--shutdown-timeout", "0.2", "--max-batch-size", "1") as s:
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            future = pool.submit(s.request, "POST", "/v1/embeddings", {"input": long_texts(2000, tag="slow")}, None, 120)
            time.sleep(0.5)
            s.signal(signal.SIGTERM)
            status, _, data = future.result()
        assert status == 503, data[:300]
        assert json.loads(data)["error"]["type"] == "service_unavailable_error"
        assert s.wait(60) == 0


def test_1024_idle_connections_and_a_fresh_request():
    with running("--quiet") as s:
        idle = []
        try:
            for _ in range(1024):
                idle.append(socket.create_connection(("127.0.0.1", s.port)))
            # half of them keep-alive after one request each
            for c in idle[:512]:
                c.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            for c in idle[:512]:
                assert c.recv(4096).startswith(b"HTTP/1.1 200")
            latencies = []
            for i in range(5):
                start = time.monotonic()
                status, _, _ = s.request("POST", "/v1/embeddings", {"input": f"fresh {i}"}, timeout=10)
                latencies.append(time.monotonic() - start)
                assert status == 200
            assert max(latencies) < 5
            assert metric(s, "jina3_http_open_connections") >= 1024
        finally:
            for c in idle:
                c.close()


def test_a_request_past_timeout_gets_504():
    with running("--timeout", "0.3", "--max-inputs", "5000", "--max-batch-size", "1", "--quiet") as s:
        status, _, data = s.request("POST", "/v1/embeddings", {"input": long_texts(1000, tag="late")})
        assert status == 504, data[:300]
        assert json.loads(data)["error"]["type"] == "timeout_error"
        assert s.request("POST", "/v1/embeddings", {"input": "quick"})[0] == 200


def test_ready_is_503_while_shutting_down():
    with running("--max-inputs", "5000", "--shutdown-timeout", "30") as s:
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            with requests.Session() as session:
                assert session.get(s.url + "/ready", timeout=10).status_code == 200
                future = pool.submit(s.request, "POST", "/v1/embeddings", {"input": long_texts(40, tag="r")}, None, 120)
                time.sleep(0.3)
                s.signal(signal.SIGTERM)
                time.sleep(0.2)
                # the keep-alive connection was idle: it is closed; a new one is not accepted
                try:
                    status = session.get(s.url + "/ready", timeout=5).status_code
                except requests.ConnectionError:
                    status = None
                assert status in (None, 503)
                assert future.result()[0] == 200
        assert s.wait(60) == 0
