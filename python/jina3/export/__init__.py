"""jina3's exporter: turns a jina-embeddings-v3 Hugging Face checkpoint, in the original layout
(jinaai/jina-embeddings-v3) or the transformers-native one (jinaai/jina-embeddings-v3-hf), into a
jina3 package (docs/package-format.md). Pure Python, with torch; it works without the compiled module.

    python3 -m jina3.export HF_DIR OUT_DIR [--dtype float32|bfloat16|float16|int8] [--max-length N]
                                           [--kernels auto|on|off] [--overwrite]

Modules:
    package            export_package() and the command line above (FORMAT, DTYPES, file names)
    backbone           the backbone in PyTorch, the module that is scripted into backbone.pt
    checkpoint         the checkpoint's tensor names and shapes, and reading them
    layouts            the two Hugging Face layouts: detection, and the -hf one read as the original
    config             config.json: load, type-check, validate
    safetensors_io     reading and writing .safetensors files
    convert_tokenizer  tokenizer.json -> sentencepiece model (python3 -m jina3.export.convert_tokenizer)
    errors             ToolError and its subclasses, raised by all of the above
    version            the jina3 version written into manifests

export_package, main and package's constants are importable from here as well; they are loaded on
first use, so that importing a light submodule (config, errors) does not import torch or the
tokenizer converter's protobuf.
"""

from .errors import (CheckpointError, ConfigError, ExportError, ProtobufError, SafetensorsError,
                     TokenizerConversionError, ToolError)

# Names of .package that this package exposes, loaded by __getattr__ on first use.
_PACKAGE_NAMES = ("export_package", "main", "FORMAT", "FORMAT_VERSION", "DTYPES", "KERNELS", "BACKBONE_FILE",
                  "TOKENIZER_FILE", "MANIFEST_FILE")

__all__ = list(_PACKAGE_NAMES) + ["ToolError", "CheckpointError", "SafetensorsError", "ConfigError",
                                  "TokenizerConversionError", "ProtobufError", "ExportError"]


def __getattr__(name):
    if name in _PACKAGE_NAMES:
        from . import package

        return getattr(package, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_PACKAGE_NAMES))
