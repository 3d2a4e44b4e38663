"""Reading and writing the safetensors format without the safetensors package.

Layout: 8-byte little-endian header length N, N bytes of JSON, then the data region. The JSON maps
each tensor name to {"dtype", "shape", "data_offsets": [begin, end]} (offsets relative to the data
region, little-endian, row-major) plus an optional "__metadata__" of string to string.

Reading copies one tensor at a time into its own buffer, so a 2 GB checkpoint never sits in memory
twice. Writing streams: the header is computed from shapes first, then each tensor is produced,
written and dropped.
"""

import json
import math
import os
import struct
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import torch

from .errors import SafetensorsError

# safetensors dtype name -> (torch dtype, bytes per element)
DTYPES: Dict[str, Tuple[torch.dtype, int]] = {
    "BF16": (torch.bfloat16, 2),
    "F16": (torch.float16, 2),
    "F32": (torch.float32, 4),
    "F64": (torch.float64, 8),
    "I64": (torch.int64, 8),
    "I32": (torch.int32, 4),
    "I16": (torch.int16, 2),
    "I8": (torch.int8, 1),
    "U8": (torch.uint8, 1),
    "BOOL": (torch.bool, 1),
}
_NAME_OF_DTYPE = {torch_dtype: name for name, (torch_dtype, _) in DTYPES.items()}

# A header larger than this is not a real checkpoint's (the 492-tensor jina v3 header is ~50 KB).
MAX_HEADER_BYTES = 100 << 20
_HEADER_ALIGNMENT = 8

# A weight file cloned without git-lfs is a ~130-byte pointer that starts with this line.
LFS_POINTER_START = b"version https://git-lfs.github.com/spec/v1"
MAX_LFS_POINTER_BYTES = 1024
LFS_REMEDY = ("fetch the real file with `git lfs pull` in the cloned repository (after `git lfs install`), or "
              "download the repository with `huggingface-cli download jinaai/jina-embeddings-v3 --local-dir DIR`")


@dataclass(frozen=True)
class TensorInfo:
    name: str
    dtype: str  # safetensors name, e.g. "BF16"
    shape: Tuple[int, ...]
    begin: int  # byte offsets inside the data region
    end: int

    @property
    def numel(self) -> int:
        return math.prod(self.shape)


def dtype_name(dtype: torch.dtype) -> str:
    """The safetensors name of a torch dtype ("BF16", ...)."""
    try:
        return _NAME_OF_DTYPE[dtype]
    except KeyError:
        raise SafetensorsError(f"dtype {dtype} cannot be stored in safetensors by jina3") from None


class SafetensorsFile:
    """One .safetensors file, header parsed and checked at open; tensors read on demand.

    Thread safety: none (one open file object, seek + read).
    """

    def __init__(self, path: Union[str, os.PathLike]):
        self.path = Path(path)
        self._scratch: Optional[bytearray] = None
        try:
            self._file = open(self.path, "rb")
        except FileNotFoundError:
            raise SafetensorsError(f"{self.path}: no such file") from None
        except OSError as exc:
            raise SafetensorsError(f"{self.path}: cannot open: {exc.strerror or exc}") from None
        try:
            self._file_size = os.fstat(self._file.fileno()).st_size
            self.metadata, self._tensors, self._data_start = self._read_header()
        except BaseException:
            self._file.close()
            raise

    def close(self) -> None:
        self._file.close()
        self._scratch = None

    def __enter__(self) -> "SafetensorsFile":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _is_lfs_pointer(self) -> bool:
        """A small text file that starts with the Git LFS spec line (a clone without git-lfs)."""
        if self._file_size > MAX_LFS_POINTER_BYTES:
            return False
        self._file.seek(0)
        start = self._file.read(len(LFS_POINTER_START))
        self._file.seek(8)
        return start == LFS_POINTER_START

    def _fail(self, message: str) -> SafetensorsError:
        return SafetensorsError(f"{self.path}: {message}")

    def _read_header(self):
        prefix = self._file.read(8)
        if len(prefix) < 8:
            raise self._fail(f"truncated: {self._file_size} bytes, too short for the 8-byte header length")
        (header_len,) = struct.unpack("<Q", prefix)
        if prefix == LFS_POINTER_START[:8] and self._is_lfs_pointer():
            raise self._fail(f"a Git LFS pointer ({self._file_size} bytes), not the weights; {LFS_REMEDY}")
        if header_len > MAX_HEADER_BYTES:
            raise self._fail(f"header length {header_len} is implausible (not a safetensors file?)")
        if 8 + header_len > self._file_size:
            raise self._fail(f"truncated: header of {header_len} bytes does not fit in a {self._file_size}-byte file")
        raw = self._file.read(header_len)
        try:
            header = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise self._fail(f"header is not valid UTF-8 JSON ({exc}); the file is corrupt") from None
        if not isinstance(header, dict):
            raise self._fail(f"header must be a JSON object, not {type(header).__name__}")

        metadata = header.pop("__metadata__", None) or {}
        if not isinstance(metadata, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
            raise self._fail("__metadata__ must map strings to strings")

        data_start = 8 + header_len
        data_size = self._file_size - data_start
        tensors: Dict[str, TensorInfo] = {}
        for name, entry in header.items():
            tensors[name] = self._check_entry(name, entry, data_size)

        # Overlapping tensors mean a corrupt or hostile file.
        spans = sorted((info.begin, info.end, info.name) for info in tensors.values() if info.end > info.begin)
        for (b0, e0, n0), (b1, e1, n1) in zip(spans, spans[1:]):
            if b1 < e0:
                raise self._fail(f"tensors {n0!r} and {n1!r} overlap in the data region")
        return metadata, tensors, data_start

    def _check_entry(self, name: str, entry, data_size: int) -> TensorInfo:
        where = f"tensor {name!r}"
        if not isinstance(entry, dict):
            raise self._fail(f"{where}: header entry must be an object")
        dtype = entry.get("dtype")
        if dtype not in DTYPES:
            raise self._fail(f"{where}: unknown or unsupported dtype {dtype!r} "
                             f"(supported: {', '.join(sorted(DTYPES))})")
        shape = entry.get("shape")
        if not isinstance(shape, list) or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0
                                                  for d in shape):
            raise self._fail(f"{where}: shape {shape!r} must be a list of non-negative integers")
        offsets = entry.get("data_offsets")
        if (not isinstance(offsets, list) or len(offsets) != 2
                or not all(isinstance(o, int) and not isinstance(o, bool) for o in offsets)):
            raise self._fail(f"{where}: data_offsets {offsets!r} must be two integers [begin, end]")
        begin, end = offsets
        if not 0 <= begin <= end:
            raise self._fail(f"{where}: bad data_offsets [{begin}, {end}]")
        expected = math.prod(shape) * DTYPES[dtype][1]
        if end - begin != expected:
            raise self._fail(f"{where}: data_offsets [{begin}, {end}] span {end - begin} bytes, but shape "
                             f"{shape} of {dtype} needs {expected}")
        if end > data_size:
            raise self._fail(f"{where}: data_offsets end {end} is past the data region ({data_size} bytes); "
                             f"the file is truncated or corrupt")
        return TensorInfo(name, dtype, tuple(shape), begin, end)

    def keys(self) -> List[str]:
        return list(self._tensors)

    def __contains__(self, name: str) -> bool:
        return name in self._tensors

    def info(self, name: str) -> TensorInfo:
        try:
            return self._tensors[name]
        except KeyError:
            raise self._fail(f"no tensor named {name!r}") from None

    def _read_bytes(self, info: TensorInfo) -> bytearray:
        buffer = bytearray(info.end - info.begin)
        self._read_exact(info, memoryview(buffer))
        return buffer

    def get_float32(self, name: str) -> np.ndarray:
        """Reads a floating-point tensor as a new float32 numpy array."""
        out = np.empty(self.info(name).shape, dtype=np.float32)
        self.read_float32_into(name, out)
        return out

    def read_float32_into(self, name: str, out: np.ndarray) -> None:
        """Reads a floating-point tensor straight into a C-contiguous float32 array of its shape.

        float32 data is read into out's memory directly; bfloat16 goes through one scratch buffer
        reused across calls and is widened by a bit shift (numpy, far faster than torch 1.13's CPU
        cast), so loading a large checkpoint touches little memory beyond the destination."""
        info = self.info(name)
        if info.dtype not in ("BF16", "F16", "F32", "F64"):
            raise self._fail(f"tensor {name!r}: dtype {info.dtype} is not a floating-point type")
        if out.dtype != np.float32 or tuple(out.shape) != info.shape or not out.flags.c_contiguous:
            raise ValueError(f"tensor {name!r}: destination must be C-contiguous float32 of shape {list(info.shape)}")
        size = info.end - info.begin
        if size == 0:
            return
        if info.dtype == "F32" and sys.byteorder == "little":
            self._read_exact(info, memoryview(out.reshape(-1).view(np.uint8)))
            return
        if self._scratch is None or len(self._scratch) < size:
            self._scratch = bytearray(size)
        view = memoryview(self._scratch)[:size]
        self._read_exact(info, view)
        if info.dtype == "BF16":
            bits = np.frombuffer(view, dtype="<u2")
            np.left_shift(bits, 16, out=out.reshape(-1).view(np.uint32), dtype=np.uint32, casting="unsafe")
        else:
            source = np.frombuffer(view, dtype={"F16": "<f2", "F32": "<f4", "F64": "<f8"}[info.dtype])
            np.copyto(out.reshape(-1), source, casting="unsafe")

    def _read_exact(self, info: TensorInfo, target: memoryview) -> None:
        self._file.seek(self._data_start + info.begin)
        done = 0
        while done < len(target):
            got = self._file.readinto(target[done:])
            if not got:
                raise self._fail(f"tensor {info.name!r}: short read ({done} of {len(target)} bytes); "
                                 "the file is truncated")
            done += got

    def get(self, name: str) -> torch.Tensor:
        """Reads one tensor into a new CPU tensor of its stored dtype."""
        info = self.info(name)
        buffer = self._read_bytes(info)
        size = len(buffer)
        torch_dtype = DTYPES[info.dtype][0]
        if size == 0:
            return torch.empty(info.shape, dtype=torch_dtype)
        # frombuffer shares the bytearray, so this is the only copy of the data.
        flat = torch.frombuffer(buffer, dtype=torch_dtype)
        if sys.byteorder == "big" and flat.element_size() > 1:
            flat = flat.view(torch.uint8).view(-1, flat.element_size()).flip(1).reshape(-1).view(torch_dtype)
        return flat.reshape(info.shape)


def _header_bytes(entries: Sequence[Tuple[str, str, Tuple[int, ...]]], metadata: Optional[Mapping[str, str]]):
    header = {}
    if metadata:
        for key, value in metadata.items():
            if not isinstance(key, str) or not isinstance(value, str):
                raise SafetensorsError(f"metadata must map strings to strings, got {key!r}: {value!r}")
        header["__metadata__"] = dict(metadata)
    offset = 0
    for name, dtype, shape in entries:
        if name in header or name == "__metadata__":
            raise SafetensorsError(f"duplicate or reserved tensor name {name!r}")
        nbytes = math.prod(shape) * DTYPES[dtype][1]
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + nbytes]}
        offset += nbytes
    raw = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    # Pad with spaces so the data region starts 8-byte aligned, as the reference writer does.
    raw += b" " * (-(8 + len(raw)) % _HEADER_ALIGNMENT)
    return raw


@dataclass(frozen=True)
class LazyTensor:
    """A tensor to be written: its dtype and shape up front, its values from make() when written."""
    name: str
    dtype: torch.dtype
    shape: Tuple[int, ...]
    make: Callable[[], torch.Tensor]


def write_lazy(path: Union[str, os.PathLike], tensors: Iterable[LazyTensor],
               metadata: Optional[Mapping[str, str]] = None) -> None:
    """Writes tensors one by one; only the tensor being written is held in memory.

    The file is written under a temporary name and renamed at the end, so a failure leaves no
    partial file at path.
    """
    path = Path(path)
    tensors = list(tensors)
    entries = [(t.name, dtype_name(t.dtype), tuple(int(d) for d in t.shape)) for t in tensors]
    header = _header_bytes(entries, metadata)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as out:
            out.write(struct.pack("<Q", len(header)))
            out.write(header)
            for spec in tensors:
                value = spec.make()
                if value.dtype != spec.dtype or tuple(value.shape) != tuple(spec.shape):
                    raise SafetensorsError(f"{path}: tensor {spec.name!r} came out as {value.dtype} "
                                           f"{list(value.shape)}, declared {spec.dtype} {list(spec.shape)}")
                _write_tensor(out, value)
                del value
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _write_tensor(out, value: torch.Tensor) -> None:
    value = value.detach().to("cpu").contiguous()
    if value.numel() == 0:
        return
    # Reinterpret as bytes: numpy has no bfloat16, so go through a same-width integer view.
    width = value.element_size()
    as_int = {1: torch.uint8, 2: torch.int16, 4: torch.int32, 8: torch.int64}[width]
    array = value.view(as_int).numpy() if value.dtype != torch.bool else value.numpy()
    if sys.byteorder == "big":  # the format is little-endian
        array = array.byteswap()
    out.write(memoryview(array).cast("B"))


def save_file(tensors: Mapping[str, torch.Tensor], path: Union[str, os.PathLike],
              metadata: Optional[Mapping[str, str]] = None) -> None:
    """Writes a dict of tensors (like safetensors.torch.save_file)."""
    write_lazy(path, [LazyTensor(name, t.dtype, tuple(t.shape), (lambda t=t: t)) for name, t in tensors.items()],
               metadata)


def load_file(path: Union[str, os.PathLike]) -> Dict[str, torch.Tensor]:
    """Reads every tensor of a file (like safetensors.torch.load_file)."""
    with SafetensorsFile(path) as f:
        return {name: f.get(name) for name in f.keys()}
