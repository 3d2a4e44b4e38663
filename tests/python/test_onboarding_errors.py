"""What a new user holds instead of a package gets an error that names the remedy (issue 17):

* a Hugging Face checkpoint folder (config.json + model.safetensors or pytorch_model.bin, no
  manifest.json): the export command;
* a Git LFS pointer in place of a file (a clone without git-lfs), in a package or in the checkout
  that is exported: `git lfs pull` / `huggingface-cli download`;
* a package exported with a newer torch than the runtime's LibTorch: export again with the
  PyTorch jina3 was built against.

The CLI's side (jina3 embed / info) is tests/cli/test_onboarding.py.
"""

import json
import shutil
import subprocess
import sys

import pytest
import torch

import jina3
from jina3.export import CheckpointError
from jina3.export.package import export_package

from encoder_support import data_dir, package_dir

LFS_POINTER = (b"version https://git-lfs.github.com/spec/v1\n"
               b"oid sha256:9f2ea1d8c4f0a1c4e11b0c5a3c0b5b9a1f3c7c2ad1b5e6f7a8b9c0d1e2f3a4b5\n"
               b"size 2271064456\n")
EXPORT_COMMAND = "python3 -m jina3.export"


def hf_folder(tmp_path, weights=("model.safetensors",), pointer=False):
    """A copy of the test checkpoint's config and tokenizer with the given weight files (the real
    safetensors, or LFS pointers)."""
    source = data_dir() / "checkpoint"
    folder = tmp_path / "jina-embeddings-v3"
    folder.mkdir()
    for name in ("config.json", "tokenizer.json"):
        shutil.copy(source / name, folder / name)
    for name in weights:
        if pointer:
            (folder / name).write_bytes(LFS_POINTER)
        elif name == "model.safetensors":
            shutil.copy(source / name, folder / name)
        else:
            (folder / name).write_bytes(b"\x80\x02}q\x00.")  # a stand-in: the reader never opens it
    return folder


def package_copy(tmp_path, dtype="float32"):
    copy = tmp_path / f"package-{dtype}"
    shutil.copytree(package_dir(dtype), copy)
    return copy


@pytest.mark.parametrize("weights", [("model.safetensors",), ("pytorch_model.bin",),
                                     ("model.safetensors", "pytorch_model.bin")])
def test_hugging_face_folder_names_the_export_command(tmp_path, weights):
    folder = hf_folder(tmp_path, weights)
    with pytest.raises(jina3.ModelNotFoundError) as caught:
        jina3.Encoder(str(folder))
    message = str(caught.value)
    assert "Hugging Face checkpoint" in message, message
    assert EXPORT_COMMAND in message, message
    assert weights[0] in message and str(folder) in message, message
    assert "LFS" not in message, message  # real weights: no LFS advice


def test_hugging_face_folder_with_lfs_pointer_weights_names_both_remedies(tmp_path):
    folder = hf_folder(tmp_path, pointer=True)
    with pytest.raises(jina3.ModelNotFoundError) as caught:
        jina3.Encoder(str(folder))
    message = str(caught.value)
    assert EXPORT_COMMAND in message, message
    assert "model.safetensors is only a Git LFS pointer" in message, message
    assert "git lfs pull" in message and "huggingface-cli download" in message, message


def test_folder_without_manifest_or_weights_gets_the_generic_hint(tmp_path):
    (tmp_path / "notes.txt").write_text("not a model")
    with pytest.raises(jina3.ModelNotFoundError) as caught:
        jina3.Encoder(str(tmp_path))
    message = str(caught.value)
    assert "manifest.json: missing (not a jina3 package?" in message, message
    assert EXPORT_COMMAND in message and "Hugging Face checkpoint (" not in message, message


@pytest.mark.parametrize("victim", ["backbone.pt", "tokenizer.model"])
def test_lfs_pointer_in_a_package_is_named(tmp_path, victim):
    package = package_copy(tmp_path)
    (package / victim).write_bytes(LFS_POINTER)
    with pytest.raises(jina3.ModelInvalidError) as caught:
        jina3.Encoder(str(package))
    message = str(caught.value)
    assert f"{victim}: a Git LFS pointer ({len(LFS_POINTER)} bytes)" in message, message
    assert "git lfs pull" in message and "huggingface-cli download" in message, message


def test_lfs_pointer_as_manifest_is_named(tmp_path):
    package = package_copy(tmp_path)
    (package / "manifest.json").write_bytes(LFS_POINTER)
    with pytest.raises(jina3.ModelInvalidError) as caught:
        jina3.Encoder(str(package))
    assert "manifest.json: a Git LFS pointer" in str(caught.value) and "git lfs pull" in str(caught.value)


def test_a_short_file_that_is_no_pointer_keeps_the_size_message(tmp_path):
    package = package_copy(tmp_path)
    (package / "tokenizer.model").write_bytes(b"version 2 of something else\n")
    with pytest.raises(jina3.ModelInvalidError) as caught:
        jina3.Encoder(str(package))
    message = str(caught.value)
    assert "manifest.json says" in message and "LFS" not in message, message


def test_newer_torch_package_names_the_remedy(tmp_path):
    package = package_copy(tmp_path)
    manifest = json.loads((package / "manifest.json").read_text())
    manifest["torch_version"] = "2.5.1+cu124"
    (package / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(jina3.VersionMismatchError) as caught:
        jina3.Encoder(str(package))
    message = str(caught.value)
    major, minor = (int(part) for part in torch.__version__.split(".")[:2])  # the runtime's LibTorch (Debian: same)
    assert "exported with torch 2.5.1+cu124" in message, message
    assert f"Export the checkpoint again with the PyTorch that jina3 was built against ({major}.{minor}.x)" in message
    assert EXPORT_COMMAND in message and "rebuild jina3 against torch 2.5.1+cu124" in message, message


def test_exporter_names_an_lfs_pointer_checkpoint(tmp_path):
    folder = hf_folder(tmp_path, pointer=True)
    with pytest.raises(CheckpointError) as caught:
        export_package(folder, tmp_path / "package")
    message = str(caught.value)
    assert "model.safetensors: a Git LFS pointer" in message, message
    assert "git lfs pull" in message and "huggingface-cli download" in message, message
    assert "implausible" not in message
    assert not (tmp_path / "package" / "manifest.json").exists()


def test_export_command_line_reports_the_lfs_pointer(tmp_path):
    folder = hf_folder(tmp_path, pointer=True)
    result = subprocess.run([sys.executable, "-m", "jina3.export", str(folder), str(tmp_path / "package")],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 1, result.stderr
    assert "a Git LFS pointer" in result.stderr and "git lfs pull" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
