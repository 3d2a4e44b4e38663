"""The typing files beside the module: py.typed and jina3/_jina3.pyi (written at build time by
python/make_stubs.py). The stub must parse, name every public function, class, method, property
and constant of jina3._jina3 (so a new binding cannot be left out), and give each function the
parameter names the module itself reports. Runs against the build tree (ctest) and the package
that pip installed (scripts/test.sh)."""

import ast
import inspect
import pathlib
import re
import types

import pytest

import jina3
import jina3._jina3 as module

PACKAGE = pathlib.Path(jina3.__file__).parent
STUB = PACKAGE / "_jina3.pyi"


@pytest.fixture(scope="module")
def stub() -> ast.Module:
    assert STUB.is_file(), f"{STUB} is missing: the build writes it (python/make_stubs.py)"
    return ast.parse(STUB.read_text(encoding="utf-8"), filename=str(STUB))


def top_level(tree: ast.Module) -> dict:
    names = {}
    for node in tree.body:
        if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            names.setdefault(node.name, []).append(node)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.setdefault(node.target.id, []).append(node)
    return names


def members(cls_node: ast.ClassDef) -> dict:
    return top_level(ast.Module(body=cls_node.body, type_ignores=[]))


def public_names(namespace) -> list:
    return sorted(n for n in vars(namespace) if not n.startswith("_"))


def parameter_names(func_node) -> list:
    a = func_node.args
    names = [p.arg for p in a.posonlyargs + a.args]
    names += ["*" + a.vararg.arg] if a.vararg else []
    names += [p.arg for p in a.kwonlyargs]
    names += ["**" + a.kwarg.arg] if a.kwarg else []
    return names


def split_arguments(text: str) -> list:
    """Top-level comma split of a pybind11 argument list."""
    parts, depth, quote, current = [], 0, None, ""
    for ch in text:
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(current.strip())
            current = ""
            continue
        current += ch
    return parts + ([current.strip()] if current.strip() else [])


def reported_parameters(func, name: str) -> list:
    """Parameter names as the module reports them: inspect for Python functions, else the
    signature on the first line of pybind11's docstring."""
    if isinstance(func, (types.FunctionType, types.MethodType)):
        return [("*" if p.kind == p.VAR_POSITIONAL else "**" if p.kind == p.VAR_KEYWORD else "") + p.name
                for p in inspect.signature(func).parameters.values()]
    first = (func.__doc__ or "").splitlines()[0]
    match = re.match(rf"^{re.escape(name)}\((.*)\) -> ", first)
    assert match, f"{name}: no pybind11 signature on the docstring's first line: {first!r}"
    names = []
    for i, arg in enumerate(split_arguments(match.group(1))):
        if arg == "*":
            continue
        names.append(arg.split(":")[0].split("=")[0].strip())
    return names


def test_py_typed_is_installed():
    assert (PACKAGE / "py.typed").is_file()


def test_every_public_name_of_the_module_is_in_the_stub(stub):
    names = top_level(stub)
    missing = [n for n in public_names(module) if n not in names]
    assert not missing, f"{STUB.name} lacks {missing}: rebuild (python/make_stubs.py writes it)"
    assert "__version__" in names


def test_stub_names_nothing_the_module_lacks(stub):
    extra = [n for n in top_level(stub) if n != "__version__" and not hasattr(module, n)]
    assert not extra, extra


def test_every_class_member_is_in_the_stub(stub):
    names = top_level(stub)
    problems = []
    for name in public_names(module):
        cls = getattr(module, name)
        if not isinstance(cls, type) or issubclass(cls, BaseException):
            continue
        (node,) = names[name]
        assert isinstance(node, ast.ClassDef)
        stubbed = members(node)
        for member in public_names(cls):
            if member not in stubbed:
                problems.append(f"{name}.{member}")
    assert not problems, f"missing from {STUB.name}: {problems}"


def test_exceptions_keep_their_bases(stub):
    names = top_level(stub)
    for name in public_names(module):
        cls = getattr(module, name)
        if isinstance(cls, type) and issubclass(cls, BaseException):
            (node,) = names[name]
            assert [ast.unparse(b) for b in node.bases] == [b.__name__ for b in cls.__bases__], name


def test_functions_take_the_parameters_the_module_reports(stub):
    names = top_level(stub)
    checked = 0
    for name in public_names(module):
        value = getattr(module, name)
        if isinstance(value, type) and not issubclass(value, BaseException):
            stubbed = members(names[name][0])
            for member, attribute in vars(value).items():
                if member.startswith("_") and member != "__init__":
                    continue
                if isinstance(attribute, staticmethod):
                    attribute = attribute.__func__
                elif isinstance(attribute, property) or not callable(attribute) or isinstance(attribute, value):
                    continue
                if member == "__init__" and isinstance(attribute, types.WrapperDescriptorType):
                    continue
                (node,) = [n for n in stubbed[member] if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
                expected = reported_parameters(attribute, member)
                got = parameter_names(node)
                if expected and expected[0] in ("self", "arg0") and got and got[0] == "self":
                    expected, got = expected[1:], got[1:]
                assert got == expected, f"{name}.{member}: stub {got}, module {expected}"
                checked += 1
        elif callable(value) and not isinstance(value, type):
            (node,) = names[name]
            assert parameter_names(node) == reported_parameters(value, name), name
            checked += 1
    assert checked >= 10  # Encoder.__init__, encode, tokenize, ..., quantize, calibration_ranges

