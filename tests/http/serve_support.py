"""Shared helpers of the `jina3 serve` tests (tests/http/test_*.py, ctest http.*).

ctest gives the environment: JINA3_CLI (the jina3 executable), JINA3_TEST_DATA (the tiny packages,
from the make_test_data fixture) and PYTHONPATH with build/python (the jina3 module, the reference
the server's answers are compared with). Each test file starts its own servers on free ports.
"""

import contextlib
import functools
import http.client
import json
import os
import pathlib
import signal
import socket
import subprocess
import tempfile
import time

import pytest

import jina3

TOLERANCE = 1e-6  # max |diff| between a float the server sends and the library's


def _env_path(name: str) -> pathlib.Path:
    value = os.environ.get(name)
    if not value:
        pytest.fail(f"{name} is not set: run these tests through ctest (ctest -R http)", pytrace=False)
    return pathlib.Path(value)


def cli() -> str:
    return str(_env_path("JINA3_CLI"))


def package() -> pathlib.Path:
    path = _env_path("JINA3_TEST_DATA") / "package-float32"
    if not (path / "manifest.json").is_file():
        pytest.fail(f"{path} is not a package: regenerate the test data (ctest -R make_test_data)", pytrace=False)
    return path


@functools.lru_cache(maxsize=None)
def encoder() -> "jina3.Encoder":
    return jina3.Encoder(str(package()))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A `jina3 serve` process on a free port; its log (stderr) goes to a temporary file. It serves
    package_path (default: the float32 test package) with this process's environment plus env."""

    def __init__(self, *args, ready: bool = True, timeout: float = 120, package_path=None, env=None):
        self.port = free_port()
        self.log_file = tempfile.NamedTemporaryFile(prefix="jina3-serve-", suffix=".log", delete=False)
        self.process = subprocess.Popen(
            [cli(), "serve", str(package_path or package()), "--port", str(self.port), *map(str, args)],
            stdout=subprocess.DEVNULL, stderr=self.log_file, env=dict(os.environ, **(env or {})))
        deadline = time.monotonic() + timeout
        path = "/ready" if ready else "/health"
        while True:
            if self.process.poll() is not None:
                pytest.fail(f"jina3 serve exited with {self.process.returncode}:\n{self.log()}", pytrace=False)
            try:
                status, _, _ = self.request("GET", path, timeout=2)
                if status == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                pytest.fail(f"jina3 serve did not answer {path} within {timeout} s:\n{self.log()}", pytrace=False)
            time.sleep(0.05)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        return pathlib.Path(self.log_file.name).read_text(errors="replace")

    def request(self, method: str, path: str, body=None, headers=None, timeout: float = 60):
        """One request on a fresh connection: (status, headers dict (lower-case names), body bytes)."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            if body is not None and not isinstance(body, (bytes, str)):
                body = json.dumps(body)
            all_headers = {"Content-Type": "application/json"} if body is not None else {}
            all_headers.update(headers or {})
            connection.request(method, path, body=body, headers=all_headers)
            response = connection.getresponse()
            data = response.read()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, data
        finally:
            connection.close()

    def post(self, path: str, body, headers=None, timeout: float = 60):
        """(status, parsed JSON body)."""
        status, _, data = self.request("POST", path, body, headers, timeout)
        return status, json.loads(data)

    def stats(self) -> dict:
        """The /metrics counters without labels, by name."""
        status, _, data = self.request("GET", "/metrics")
        assert status == 200
        values = {}
        for line in data.decode().splitlines():
            if line and not line.startswith("#") and "{" not in line:
                name, value = line.split(" ")
                values[name] = float(value)
        return values

    def signal(self, sig=signal.SIGTERM):
        self.process.send_signal(sig)

    def wait(self, timeout: float = 60) -> int:
        return self.process.wait(timeout)

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log_file.close()
        return self.process.returncode


@contextlib.contextmanager
def running(*args, **kwargs):
    server = Server(*args, **kwargs)
    try:
        yield server
    finally:
        server.stop()


def raw_exchange(port: int, data: bytes, timeout: float = 30, shutdown: bool = False) -> bytes:
    """Sends raw bytes on a fresh connection and reads until the server closes it or timeout."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        if shutdown:
            s.shutdown(socket.SHUT_WR)
        chunks = []
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
                if response_complete(b"".join(chunks)):
                    break
        except socket.timeout:
            pass
        return b"".join(chunks)


def response_complete(data: bytes) -> bool:
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        return False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(body) >= int(value)
    return False


def parse_raw(data: bytes):
    """(status, headers, JSON body) of one raw HTTP response."""
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        headers[name.strip().lower().decode()] = value.strip().decode()
    return status, headers, json.loads(body) if body else None
