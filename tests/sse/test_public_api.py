from __future__ import annotations

import inspect

import claudegate.sse


def test_all_is_sorted_and_every_name_is_exported_and_documented() -> None:
    names = claudegate.sse.__all__
    assert names == sorted(names)
    for name in names:
        obj = getattr(claudegate.sse, name)
        assert inspect.getdoc(obj), name


def test_every_public_name_of_the_package_is_in_all() -> None:
    public = {
        name
        for name, obj in vars(claudegate.sse).items()
        if not name.startswith("_") and not inspect.ismodule(obj) and name != "annotations"
    }
    assert public == set(claudegate.sse.__all__)
