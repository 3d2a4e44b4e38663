"""Threads: encode and load release the GIL; concurrent calls on one Encoder equal serial ones."""

import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

import jina3

pytest.register_assert_rewrite("encoder_support")  # before the import, so its asserts explain failures
from encoder_support import BATCH_TOLERANCE, TASK_NAMES, max_abs_diff, package_dir  # noqa: E402

pytest_plugins = ("encoder_support",)  # fixtures: encoder, reference, long_text

MIN_CALL_SECONDS = 0.3  # long enough that scheduling noise cannot pass for GIL behaviour


class Deadline:
    """Stands in for a thread that stays alive for a fixed time (to time the loop alone)."""

    def __init__(self, seconds):
        self.end = time.perf_counter() + seconds

    def is_alive(self):
        return time.perf_counter() < self.end


def spin(alive, last):
    """This thread's measuring loop: runs until alive.is_alive() is false.

    Returns (iterations, time of every 256th iteration, (from, to) of every gap over 2 ms).
    """
    iterations = 0
    checkpoints = []  # bounded memory, fine enough resolution
    stalls = []
    while alive.is_alive():
        now = time.perf_counter()
        iterations += 1
        if iterations % 256 == 0:
            checkpoints.append(now)
        if now - last > 0.002:
            stalls.append((last, now))
        last = now
    now = time.perf_counter()  # a stall that lasted until the end
    if now - last > 0.002:
        stalls.append((last, now))
    return iterations, checkpoints, stalls


def main_thread_progress(call):
    """Runs call() in a thread while this thread spins on Python code.

    Returns (seconds the call took, share of its solo loop speed this thread kept while the call
    ran, longest stall of this thread overlapping the call). With the GIL held for the whole call,
    this thread cannot run meanwhile: a share near 0 and one stall as long as the call.
    """
    solo_seconds = 0.1
    solo_iterations, _, _ = spin(Deadline(solo_seconds), time.perf_counter())
    rate = solo_iterations / solo_seconds
    window = {}

    def worker():
        window["start"] = time.perf_counter()
        call()
        window["end"] = time.perf_counter()

    thread = threading.Thread(target=worker)
    last = time.perf_counter()  # before start(): start() itself can wait on the GIL
    thread.start()
    _, checkpoints, stalls = spin(thread, last)
    thread.join()
    assert "end" in window, "the call in the thread failed"
    start, end = window["start"], window["end"]
    inside = 256 * sum(1 for t in checkpoints if start < t < end)
    longest = max((min(b, end) - max(a, start) for a, b in stalls if b > start and a < end), default=0.0)
    return end - start, inside / (rate * (end - start)), longest


def assert_gil_was_free(seconds, share, longest_stall, what):
    # Under the GIL this thread would get only a switch interval (5 ms) at the start.
    assert share >= 0.05, f"the main thread kept {share:.1%} of its speed during a {seconds:.2f} s {what}"
    assert longest_stall < 0.5 * seconds, f"the main thread stalled {longest_stall:.2f} s of a {seconds:.2f} s {what}"


def slow_batch(encoder, long_text):
    """Texts whose encoding takes at least MIN_CALL_SECONDS in one call."""
    texts = [long_text]  # hundreds of tokens: attention makes it costly
    while True:
        start = time.perf_counter()
        encoder.encode(texts)
        if time.perf_counter() - start >= MIN_CALL_SECONDS:
            return texts
        assert len(texts) < 4096, "could not make a slow enough encode call"
        texts = texts * 2


def test_encode_releases_the_gil(encoder, long_text):
    texts = slow_batch(encoder, long_text)
    seconds, share, longest_stall = main_thread_progress(lambda: encoder.encode(texts, "retrieval.passage"))
    assert seconds >= MIN_CALL_SECONDS * 0.5
    assert_gil_was_free(seconds, share, longest_stall, "encode")


def test_tokenize_releases_the_gil(encoder, long_text):
    texts = [" ".join([long_text] * 4)] * 64
    while True:
        start = time.perf_counter()
        encoder.tokenize(texts)
        if time.perf_counter() - start >= MIN_CALL_SECONDS:
            break
        assert len(texts) < 1 << 16, "could not make a slow enough tokenize call"
        texts = texts * 2
    seconds, share, longest_stall = main_thread_progress(lambda: encoder.tokenize(texts))
    assert_gil_was_free(seconds, share, longest_stall, "tokenize")


def test_loading_releases_the_gil():
    path = package_dir("float32")
    # Checksums on: loading hashes every file, the slow part, all in C++.
    seconds, share, longest_stall = main_thread_progress(lambda: jina3.Encoder(path, verify_checksums=True))
    assert seconds >= 0.05, f"loading took only {seconds:.3f} s, too short to tell"
    assert_gil_was_free(seconds, share, longest_stall, "load")


def test_concurrent_encodes_equal_serial(encoder, reference, long_text):
    # Without the long text: hundreds of calls must stay quick on a small shared machine.
    texts = [text for text in reference["texts"] if text != long_text]
    jobs = [(task, dims) for task in TASK_NAMES + [None] for dims in (None, encoder.dims[1])]
    mixed_tasks = [(TASK_NAMES + [None])[i % 6] for i in range(len(texts))]
    serial = {job: encoder.encode(texts, *job) for job in jobs}
    serial_mixed = encoder.encode(texts, mixed_tasks)
    serial_ids = encoder.tokenize(texts, "separation")
    start = threading.Barrier(8)

    def run(thread_index):
        start.wait()  # all eight threads call at once
        results = []
        for round_ in range(2):
            offset = (thread_index * 3 + round_) % len(jobs)  # each thread its own order
            for job in jobs[offset:] + jobs[:offset]:
                results.append((job, encoder.encode(texts, *job)))
            results.append(("mixed", encoder.encode(texts, mixed_tasks)))
            results.append(("ids", encoder.tokenize(texts, "separation")))
        return results

    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = [future.result() for future in [pool.submit(run, i) for i in range(8)]]
    checked = 0
    for results in outcomes:
        for job, result in results:
            if job == "ids":
                assert result == serial_ids
            elif job == "mixed":
                assert max_abs_diff(result, serial_mixed) <= BATCH_TOLERANCE
            else:
                assert max_abs_diff(result, serial[job]) <= BATCH_TOLERANCE, f"job {job}"
            checked += 1
    assert checked == 8 * 2 * (len(jobs) + 2)


def test_load_and_drop_while_another_thread_encodes(encoder, reference):
    texts = reference["texts"]
    expected = encoder.encode(texts, "classification")
    stop = threading.Event()
    results = []

    def keep_encoding():
        while not stop.is_set():
            results.append(encoder.encode(texts, "classification"))

    thread = threading.Thread(target=keep_encoding)
    thread.start()
    try:
        for _ in range(2):
            other = jina3.Encoder(package_dir("float32"), verify_checksums=False)
            assert other.encode(["x"]).shape == (1, other.hidden_size)
            del other  # freed with the GIL released while the thread keeps encoding
    finally:
        stop.set()
        thread.join(timeout=120)
    assert not thread.is_alive()
    assert results, "the encoding thread made no call"
    for result in results:
        assert max_abs_diff(result, expected) <= BATCH_TOLERANCE


EXIT_WHILE_ENCODING = r"""
import sys, threading, time
import jina3

encoder = jina3.Encoder(sys.argv[1], verify_checksums=False)
texts = [" ".join(["word"] * 600)]
while True:  # an encode call that lasts at least 0.3 s
    start = time.perf_counter()
    encoder.encode(texts)
    if time.perf_counter() - start >= 0.3:
        break
    texts = texts * 2
started = threading.Event()


def work():
    started.set()
    encoder.encode(texts)


class SlowTeardown:
    # Deleted while the interpreter finalizes: the daemon thread's encode ends meanwhile, and its
    # attempt to take the GIL back makes Python end the thread.
    def __del__(self, sleep=time.sleep):
        sleep(3)


thread = threading.Thread(target=work, daemon=True)
thread.start()
started.wait()
slow_teardown = SlowTeardown()
print("encoding at exit:", thread.is_alive(), flush=True)
"""


def test_interpreter_exit_while_a_daemon_thread_encodes(tmp_path):
    script = tmp_path / "exit_while_encoding.py"
    script.write_text(EXIT_WHILE_ENCODING)
    result = subprocess.run([sys.executable, str(script), str(package_dir("float32"))],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"exit status {result.returncode}\n{result.stdout}\n{result.stderr}"
    assert "encoding at exit: True" in result.stdout, result.stdout + result.stderr
