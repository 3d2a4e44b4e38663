"""Writes the type stub jina3/_jina3.pyi from the compiled module (run by CMake at build time).

    PYTHONPATH=<build>/python python3 python/make_stubs.py <build>/python/jina3/_jina3.pyi

pybind11-stubgen is not in Debian, so this is a small generator of our own. It imports jina3 (so
methods that jina3/__init__.py adds to the compiled classes, such as Encoder.encode_async, are
seen), then writes every public name of jina3._jina3:

* functions and methods with the signatures pybind11 puts on their docstring's first line
  (several, as @overload, for overloaded functions), or inspect.signature for Python functions;
* properties with their getter's return type (and a setter where there is one);
* exception classes with their bases, other classes with their members, enum-like values as
  ClassVar attributes; module constants with their type.

A type that is not plain Python (a name outside typing, builtins, numpy and this module) becomes
Any, and every default value becomes `...`, as in typeshed. The result is checked with ast.parse,
and tests/python/test_stubs.py checks that it names everything the module has.
"""

import argparse
import ast
import builtins
import inspect
import os
import re
import sys
import types
from typing import Dict, List, Optional, Set, Tuple

TYPING_NAMES = {"Any", "Callable", "Dict", "Iterable", "Iterator", "List", "Optional", "Sequence", "Tuple",
                "Union", "Mapping", "Set", "FrozenSet", "Awaitable", "Coroutine"}
# Dunder methods worth stating (the rest come from object).
KEPT_DUNDERS = {"__init__", "__call__", "__enter__", "__exit__", "__len__", "__iter__", "__next__",
                "__getitem__", "__contains__", "__eq__", "__ne__", "__hash__", "__int__", "__index__",
                "__str__", "__repr__", "__getstate__", "__setstate__", "__reduce__", "__bool__", "__del__"}
SIGNATURE = re.compile(r"^(?:\d+\. )?(?P<name>\w*)\((?P<args>.*)\)\s*->\s*(?P<ret>.+?)\s*$")


def split_top_level(text: str, separator: str = ",") -> List[str]:
    """Splits at separators outside brackets and quotes."""
    parts, depth, quote, current = [], 0, None, []
    for ch in text:
        if quote:
            current.append(ch)
            if ch == quote:
                quote = None
            continue
        if ch in "'\"":
            quote = ch
        elif ch in "([{<":
            depth += 1
        elif ch in ")]}>":
            depth -= 1
        elif ch == separator and depth == 0:
            parts.append("".join(current).strip())
            current = []
            continue
        current.append(ch)
    tail = "".join(current).strip()
    if tail:
        parts.append(tail)
    return parts


class Annotations:
    """Turns pybind11's type spellings into annotations a type checker accepts (else Any)."""

    def __init__(self, local_names: Set[str]):
        self.local_names = local_names

    def __call__(self, text: Optional[str]) -> str:
        if not text:
            return "Any"
        text = text.strip()
        for prefix in ("jina3._jina3.", "jina3."):
            text = text.replace(prefix, "")
        text = re.sub(r"numpy\.ndarray\[[^\]]*\]", "numpy.ndarray", text)
        text = {"object": "Any", "handle": "Any", "function": "Callable[..., Any]"}.get(text, text)
        try:
            tree = ast.parse(text, mode="eval")
        except SyntaxError:
            return "Any"
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and node.value is not None:
                return "Any"  # Literal-like spellings
            if isinstance(node, ast.Name):
                known = (node.id in TYPING_NAMES or node.id in self.local_names or node.id == "numpy"
                         or isinstance(getattr(builtins, node.id, None), type) or node.id == "None")
                if not known:
                    return "Any"
            if isinstance(node, ast.Attribute):
                root = node
                while isinstance(root, ast.Attribute):
                    root = root.value
                if not (isinstance(root, ast.Name) and root.id == "numpy"):
                    return "Any"
        # object/handle inside a compound type
        return re.sub(r"\b(object|handle)\b", "Any", text)


def parameters(arg_text: str, annotate: Annotations, is_method: bool) -> str:
    out = []
    for i, arg in enumerate(split_top_level(arg_text)):
        if arg in ("*", "/"):
            out.append(arg)
            continue
        name_part, _, default = arg.partition("=")
        name, _, kind = name_part.partition(":")
        name, default = name.strip(), default.strip()
        if i == 0 and is_method and name in ("self", "arg0"):
            out.append("self")
            continue
        entry = name if name.startswith("*") else f"{name}: {annotate(kind)}"
        if name.startswith("*") and kind.strip():
            entry = f"{name}: {annotate(kind)}"
        if default:
            entry += " = ..."
        out.append(entry)
    return ", ".join(out)


def docstring_signatures(obj, name: Optional[str]) -> List[Tuple[str, str]]:
    """(arguments, return type) of each signature pybind11 wrote on the docstring (name None:
    any name, as on property getters)."""
    doc = getattr(obj, "__doc__", None) or ""
    lines = doc.splitlines()
    found = []
    overloaded = len(lines) > 1 and lines[1].strip() == "Overloaded function."
    for line in (lines if overloaded else lines[:1]):
        m = SIGNATURE.match(line.strip())
        if m and (name is None or m.group("name") in (name, "")) and not (overloaded and not re.match(r"^\d+\. ", line.strip())):
            found.append((m.group("args"), m.group("ret")))
    return found


def python_function(name: str, func, indent: str, is_method: bool) -> List[str]:
    sig = inspect.signature(func)
    params, seen_kw_only = [], False
    previous_kind = None
    for p in sig.parameters.values():
        if p.kind == p.KEYWORD_ONLY and not seen_kw_only and previous_kind != p.VAR_POSITIONAL:
            params.append("*")
            seen_kw_only = True
        if p.kind == p.VAR_POSITIONAL:
            text = f"*{p.name}"
        elif p.kind == p.VAR_KEYWORD:
            text = f"**{p.name}: Any"
        elif is_method and not params and p.name == "self":
            text = "self"
        else:
            text = f"{p.name}: Any"
            if p.default is not p.empty:
                text += " = ..."
        if p.kind == p.POSITIONAL_ONLY:
            pass
        params.append(text)
        previous_kind = p.kind
    prefix = "async def" if inspect.iscoroutinefunction(func) else "def"
    return [f"{indent}{prefix} {name}({', '.join(params)}) -> Any: ..."]


def function_lines(name: str, func, annotate: Annotations, indent: str, is_method: bool,
                   decorator: Optional[str] = None) -> List[str]:
    if isinstance(func, (types.FunctionType, types.MethodType)):
        lines = python_function(name, func, indent, is_method)
        return ([f"{indent}@{decorator}"] if decorator else []) + lines
    signatures = docstring_signatures(func, name)
    if not signatures:
        args = "self, *args: Any, **kwargs: Any" if is_method else "*args: Any, **kwargs: Any"
        return ([f"{indent}@{decorator}"] if decorator else []) + [f"{indent}def {name}({args}) -> Any: ..."]
    lines = []
    for args, ret in signatures:
        if len(signatures) > 1:
            lines.append(f"{indent}@overload")
        if decorator:
            lines.append(f"{indent}@{decorator}")
        lines.append(f"{indent}def {name}({parameters(args, annotate, is_method)}) -> {annotate(ret)}: ...")
    return lines


def class_lines(cls, module, annotate: Annotations) -> List[str]:
    name = cls.__name__
    if issubclass(cls, BaseException):
        bases = ", ".join(b.__name__ for b in cls.__bases__)
        return [f"class {name}({bases}): ..."]
    body: List[str] = []
    for attr, value in vars(cls).items():
        if attr.startswith("_") and attr not in KEPT_DUNDERS:
            continue
        if attr == "__init__" and isinstance(value, types.WrapperDescriptorType):
            continue  # no constructor from Python
        if isinstance(value, property):
            ret = "Any"
            sigs = docstring_signatures(value.fget, None) if value.fget else []
            if sigs:
                ret = annotate(sigs[0][1])
            body.append("    @property")
            body.append(f"    def {attr}(self) -> {ret}: ...")
            if value.fset is not None:
                body.append(f"    @{attr}.setter")
                body.append(f"    def {attr}(self, value: {ret}) -> None: ...")
        elif isinstance(value, staticmethod):
            body += function_lines(attr, value.__func__, annotate, "    ", False, "staticmethod")
        elif isinstance(value, classmethod):
            body += function_lines(attr, value.__func__, annotate, "    ", True, "classmethod")
        elif callable(value) and not isinstance(value, type):
            body += function_lines(attr, value, annotate, "    ", True)
        elif isinstance(value, cls):
            body.append(f"    {attr}: ClassVar[{name}]")
        else:
            kind = type(value).__name__
            body.append(f"    {attr}: {kind if hasattr(builtins, kind) else 'Any'}")
    return [f"class {name}:"] + (body or ["    ..."])


def generate(module) -> str:
    public = sorted(n for n in vars(module) if not n.startswith("_"))
    local = {n for n in public if isinstance(getattr(module, n), type)}
    annotate = Annotations(local)
    out = [
        f"# Type stub of {module.__name__}, written by python/make_stubs.py from the compiled module at",
        "# build time (do not edit: rebuild). Default values are shown as ...; see the docstrings.",
        "from typing import Any, Callable, ClassVar, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple, Union, overload",
        "",
        "import numpy",
        "",
    ]
    version = getattr(module, "__version__", None)
    if isinstance(version, str):
        out += ["__version__: str", ""]
    # Exceptions first, bases before subclasses (the module's own order may differ).
    classes = [getattr(module, n) for n in public if isinstance(getattr(module, n), type)]
    classes.sort(key=lambda c: (not issubclass(c, BaseException), len(c.__mro__), c.__name__))
    for cls in classes:
        out += class_lines(cls, module, annotate)
        out.append("")
    for n in public:
        value = getattr(module, n)
        if isinstance(value, type):
            continue
        if callable(value):
            out += function_lines(n, value, annotate, "", False)
        else:
            kind = type(value).__name__
            out.append(f"{n}: {kind if hasattr(builtins, kind) else 'Any'}")
    text = "\n".join(out).rstrip() + "\n"
    ast.parse(text)  # a stub that does not parse fails the build
    return text


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", help="where to write the .pyi")
    parser.add_argument("--module", default="jina3._jina3")
    args = parser.parse_args(argv)
    import importlib
    # This script sits beside the source package python/jina3, which has no compiled module: import
    # from PYTHONPATH (the build tree) instead.
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != here]
    importlib.import_module(args.module.split(".")[0])  # the package first: it patches classes
    module = importlib.import_module(args.module)
    text = generate(module)
    with open(args.output, "w", encoding="utf-8") as f:
        f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
