"""`jina3 embed` and `jina3 info` given what a new user downloads instead of a package (issue 17):
a Hugging Face checkpoint folder names the export command; a Git LFS pointer in place of a file
names `git lfs pull` / `huggingface-cli download`. Both exit with the model error code (4)."""

import shutil

import pytest

from cli_support import package, run

MODEL = 4
LFS_POINTER = (b"version https://git-lfs.github.com/spec/v1\n"
               b"oid sha256:4c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d\n"
               b"size 1135557936\n")


def stderr_of(result) -> str:
    return result.stderr.decode("utf-8", errors="replace")


def hugging_face_folder(tmp_path, weights=b"\x00" * 64):
    folder = tmp_path / "jina-embeddings-v3"
    folder.mkdir()
    (folder / "config.json").write_text('{"model_type": "xlm-roberta"}')
    (folder / "model.safetensors").write_bytes(weights)
    return folder


def command(name, target, tmp_path):
    if name == "info":
        return ("info", target)
    (tmp_path / "in.txt").write_text("hello\n")
    return ("embed", target, tmp_path / "in.txt", "-o", tmp_path / "out.npy")


@pytest.mark.parametrize("name", ["embed", "info"])
def test_hugging_face_folder_names_the_export_command(tmp_path, name):
    folder = hugging_face_folder(tmp_path)
    result = run(*command(name, folder, tmp_path))
    message = stderr_of(result)
    assert result.returncode == MODEL, message
    assert "a Hugging Face checkpoint (config.json, model.safetensors), not a jina3 package" in message
    assert "python3 -m jina3.export" in message and "LFS" not in message, message
    assert not (tmp_path / "out.npy").exists()


@pytest.mark.parametrize("name", ["embed", "info"])
def test_hugging_face_folder_of_lfs_pointers(tmp_path, name):
    folder = hugging_face_folder(tmp_path, LFS_POINTER)
    result = run(*command(name, folder, tmp_path))
    message = stderr_of(result)
    assert result.returncode == MODEL, message
    assert "python3 -m jina3.export" in message, message
    assert "model.safetensors is only a Git LFS pointer" in message, message
    assert "git lfs pull" in message and "huggingface-cli download" in message, message


@pytest.mark.parametrize("name", ["embed", "info"])
def test_package_file_that_is_an_lfs_pointer(tmp_path, name):
    copy = tmp_path / "package"
    shutil.copytree(package(), copy)
    (copy / "backbone.pt").write_bytes(LFS_POINTER)
    result = run(*command(name, copy, tmp_path))
    message = stderr_of(result)
    assert result.returncode == MODEL, message
    assert "backbone.pt: a Git LFS pointer" in message, message
    assert "git lfs pull" in message and "huggingface-cli download" in message, message
