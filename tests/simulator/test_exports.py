"""The package's public names are exported, sorted and documented."""

from __future__ import annotations

import inspect

import claudegate.simulator as simulator


def test_all_is_sorted_and_complete() -> None:
    assert simulator.__all__ == sorted(simulator.__all__)
    for name in simulator.__all__:
        assert hasattr(simulator, name), name


def test_every_public_callable_has_a_docstring() -> None:
    for name in simulator.__all__:
        value = getattr(simulator, name)
        if inspect.isclass(value) or inspect.isfunction(value):
            assert (value.__doc__ or "").strip(), f"{name} has no docstring"
