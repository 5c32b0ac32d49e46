"""Every package's public surface: exported, importable, documented, and layered one way."""

from __future__ import annotations

import ast
import importlib
import inspect
from pathlib import Path
from types import ModuleType

import pytest

PACKAGES = [
    "claudegate",
    "claudegate.client",
    "claudegate.errors",
    "claudegate.simulator",
    "claudegate.sse",
    "claudegate.store",
    "claudegate.testing",
    "claudegate.tools",
    "claudegate.translate",
    "claudegate.types",
]
SRC = Path(__file__).resolve().parents[1] / "src" / "claudegate"
# What each layer may import from the package (DESIGN.md: dependencies point downward only).
LAYERS = {
    "errors": set(),
    "types": {"types", "errors"},
    "sse": {"sse", "errors"},
    "translate": {"translate", "errors", "sse"},
    "client": {"client", "types", "sse", "errors", "_version"},
    "tools": {"tools", "client", "types", "sse", "errors"},
    "store": {"store", "errors"},
}


def own_doc(obj: object) -> str:
    doc = vars(obj).get("__doc__") if inspect.isclass(obj) else getattr(obj, "__doc__", None)
    return doc.strip() if isinstance(doc, str) else ""


@pytest.mark.parametrize("name", PACKAGES)
def test_exports_are_importable_unique_and_documented(name: str) -> None:
    module: ModuleType = importlib.import_module(name)
    exported = list(module.__all__)
    assert len(exported) == len(set(exported)), f"{name}.__all__ has duplicates"
    undocumented = []
    for attr in exported:
        obj = getattr(module, attr)
        if (inspect.isclass(obj) or inspect.isfunction(obj)) and not own_doc(obj):
            undocumented.append(attr)
    assert undocumented == [], f"{name}: undocumented public names"
    assert own_doc(module), f"{name} has no module docstring"


@pytest.mark.parametrize("layer", sorted(LAYERS))
def test_layers_point_one_way(layer: str) -> None:
    path = SRC / layer
    files = [path.with_suffix(".py")] if path.with_suffix(".py").exists() else sorted(path.rglob("*.py"))
    for file in files:
        for node in ast.walk(ast.parse(file.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("claudegate."):
                target = node.module.split(".")[1]
                assert target in LAYERS[layer], f"{file.name} imports claudegate.{target}"


def test_the_top_level_package_exposes_the_client_and_the_error_tree() -> None:
    import claudegate
    from claudegate import errors

    for name in errors.__all__:
        obj = getattr(errors, name)
        if inspect.isclass(obj) and issubclass(obj, Exception):
            assert getattr(claudegate, name) is obj
    assert claudegate.AsyncClient.__module__ == "claudegate.client._client"
