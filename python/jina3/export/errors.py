"""Exceptions of jina3's pure-Python tools (checkpoint reading, tokenizer conversion, export).

They are separate from the runtime's classes (jina3.Error and friends, from the compiled module),
which describe packages and encode calls. Each tool error is a ValueError where the input is to
blame, so callers can catch either.
"""

import sys


class ToolError(Exception):
    """Base class of every error raised by jina3's Python tools."""


class CheckpointError(ToolError, ValueError):
    """A Hugging Face checkpoint directory is missing a file, or a file or tensor is wrong."""


class SafetensorsError(CheckpointError):
    """A .safetensors file is truncated, corrupt or uses something this reader does not support."""


class ConfigError(CheckpointError):
    """config.json is missing a key, has a mistyped or out-of-range value, or describes another model."""


class TokenizerConversionError(ToolError, ValueError):
    """tokenizer.json cannot be turned into a sentencepiece model."""


class ProtobufError(ToolError, ValueError):
    """Malformed protobuf wire data."""


class ExportError(ToolError):
    """Exporting a package failed (bad arguments, output directory problems, self-check failures)."""


def run_tool(prog, work, errors=(ToolError, OSError)) -> int:
    """A command-line tool's exit status: 0 when work() returns, 1 when it raises one of errors,
    which is reported as "PROG: error: MESSAGE" on stderr (anything else is a bug: it propagates)."""
    try:
        work()
    except errors as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 1
    return 0
