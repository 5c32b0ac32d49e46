"""The package's public surface: exported, sorted, documented, consistent and pure."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path
from typing import Annotated, Any, get_args, get_origin

import pytest
from pydantic import BaseModel, Discriminator, Tag

import claudegate.types as types_package

PUBLIC = [getattr(types_package, name) for name in types_package.__all__]
TAGGED_UNIONS = {
    name: value
    for name, value in vars(types_package).items()
    if name in types_package.__all__ and get_origin(value) is Annotated
}
PACKAGE_DIR = Path(types_package.__file__).parent
ALLOWED_IMPORTS = {"__future__", "collections", "typing", "pydantic", "pydantic_core", "orjson", "claudegate"}


def test_all_is_sorted_unique_and_importable() -> None:
    names = types_package.__all__
    assert names == sorted(names)
    assert len(names) == len(set(names))
    for name in names:
        assert hasattr(types_package, name), name


def own_docstring(obj: Any) -> str:
    # A class without its own docstring would otherwise show pydantic's BaseModel one.
    doc = vars(obj).get("__doc__") if inspect.isclass(obj) else obj.__doc__
    return doc.strip() if isinstance(doc, str) else ""


def test_every_public_class_and_function_is_documented() -> None:
    undocumented = [
        obj.__name__
        for obj in PUBLIC
        if (inspect.isclass(obj) or inspect.isfunction(obj)) and not own_docstring(obj)
    ]
    assert undocumented == []


def test_every_public_model_can_serialise() -> None:
    for obj in PUBLIC:
        if inspect.isclass(obj) and issubclass(obj, BaseModel):
            assert issubclass(obj, types_package.WireModel), obj.__name__


def test_the_advertised_aliases_are_tagged_unions() -> None:
    for name in ("ContentBlock", "ContentBlockParam", "StreamEvent", "Delta"):
        assert name in TAGGED_UNIONS


def union_members(alias: Any) -> tuple[list[tuple[type[BaseModel], str]], Discriminator]:
    union, *metadata = get_args(alias)
    [discriminator] = [item for item in metadata if isinstance(item, Discriminator)]
    members = []
    for member in get_args(union):
        model, *tags = get_args(member)
        [tag] = [item for item in tags if isinstance(item, Tag)]
        members.append((model, tag.tag))
    return members, discriminator


@pytest.mark.parametrize("name", sorted(TAGGED_UNIONS))
def test_union_tags_match_each_member_type_and_unknowns_fall_back(name: str) -> None:
    members, discriminator = union_members(TAGGED_UNIONS[name])
    route = discriminator.discriminator
    assert callable(route)
    tags = {tag for _, tag in members}
    for model, tag in members:
        wire_type = model.model_fields["type"].default if "type" in model.model_fields else None
        if isinstance(wire_type, str):
            # A member built by hand must land on itself when parsed again.
            assert wire_type == tag, (name, model.__name__)
            assert route({"type": tag}) == tag
            assert route(model.model_construct(type=tag)) == tag
    assert route({"type": "a type no api has sent yet"}) in tags


def test_the_package_does_no_io_and_imports_nothing_above_it() -> None:
    for path in sorted(PACKAGE_DIR.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module is not None:
                modules = [node.module]
            else:
                continue
            for module in modules:
                assert module.split(".")[0] in ALLOWED_IMPORTS, (path.name, module)
                if module.startswith("claudegate"):
                    assert module.startswith("claudegate.types"), (path.name, module)


def test_modules_stay_small() -> None:
    for path in PACKAGE_DIR.glob("*.py"):
        assert len(path.read_text(encoding="utf-8").splitlines()) < 400, path.name
