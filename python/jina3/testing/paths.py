"""Where the shared XLM-R tokenizer files are: $JINA3_SHARED_DATA, else ../shared/data next to the
repository (found by walking up from this file, which also works from a build-tree copy)."""

import os
from pathlib import Path
from typing import Optional

XLMR_SUBDIR = "xlmr"


def shared_data_dir() -> Optional[Path]:
    env = os.environ.get("JINA3_SHARED_DATA")
    if env:
        return Path(env)
    for ancestor in Path(__file__).resolve().parents:
        candidate = ancestor / "shared" / "data"
        if (candidate / XLMR_SUBDIR).is_dir():
            return candidate
    return None


def _xlmr_file(name: str) -> Path:
    base = shared_data_dir()
    if base is None:
        raise FileNotFoundError(
            f"cannot find the shared XLM-R files ({XLMR_SUBDIR}/{name}): set JINA3_SHARED_DATA to the folder "
            f"holding {XLMR_SUBDIR}/ (../shared/data relative to the repository)")
    path = base / XLMR_SUBDIR / name
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing (JINA3_SHARED_DATA or ../shared/data is wrong?)")
    return path


def xlmr_tokenizer_json() -> Path:
    return _xlmr_file("tokenizer.json")


def xlmr_spm_model() -> Path:
    return _xlmr_file("sentencepiece.bpe.model")
