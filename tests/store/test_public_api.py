from __future__ import annotations

import ast
import inspect
from pathlib import Path

import claudegate.store as store

STORE_SRC = Path(store.__file__).resolve().parent


def test_every_public_name_is_exported_once_and_documented() -> None:
    assert len(store.__all__) == len(set(store.__all__))
    for name in store.__all__:
        obj = getattr(store, name)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            assert (obj.__doc__ or "").strip(), f"{name} has no docstring"
    assert (store.__doc__ or "").strip()


def test_the_store_depends_only_on_the_error_tree() -> None:
    for file in STORE_SRC.glob("*.py"):
        for node in ast.walk(ast.parse(file.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("claudegate."):
                assert node.module.split(".")[1] in {"store", "errors"}, f"{file.name} imports {node.module}"
