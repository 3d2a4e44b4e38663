"""The official OpenAI Node client (npm `openai`, installed into tests/http/node by
scripts/install-deps.sh) against `jina3 serve`: it asks for base64 by default and decodes it;
the vectors must equal the library's."""

import json
import pathlib
import shutil
import subprocess

import numpy as np
import pytest

from serve_support import TOLERANCE, encoder, running

NODE_DIR = pathlib.Path(__file__).resolve().parent / "node"


def test_openai_node_client():
    if shutil.which("node") is None or not (NODE_DIR / "node_modules" / "openai").is_dir():
        pytest.fail("the OpenAI Node client is not installed: run scripts/install-deps.sh (npm install in "
                    f"{NODE_DIR})", pytrace=False)
    texts = ["What is the capital of France?", "Paris is the capital of France."]
    with running("--api-key", "node-key", "--default-task", "retrieval.query", "--quiet") as s:
        result = subprocess.run(["node", str(NODE_DIR / "embed.mjs"), s.url + "/v1", "node-key", *texts],
                                capture_output=True, text=True, timeout=120, cwd=NODE_DIR)
        assert result.returncode == 0, result.stderr
        payload = json.loads(result.stdout)
        got = np.array(payload["embeddings"], dtype=np.float32)
        assert got.shape == (2, 64)
        assert np.abs(got - encoder().encode(texts, task="retrieval.query")).max() <= TOLERANCE
        assert payload["indices"] == [0, 1]
        assert payload["usage"]["prompt_tokens"] == sum(len(r) for r in encoder().tokenize(texts,
                                                                                            task="retrieval.query"))
        # the key is checked: a wrong one fails in the client with 401
        wrong = subprocess.run(["node", str(NODE_DIR / "embed.mjs"), s.url + "/v1", "bad-key", "x"],
                               capture_output=True, text=True, timeout=120, cwd=NODE_DIR)
        assert wrong.returncode != 0 and "401" in wrong.stderr
