"""The public surface of ``claudegate.translate``: exported, sorted, documented, and pure."""

from __future__ import annotations

import inspect
import subprocess
import sys

import claudegate.translate
import claudegate.translate.openai


def test_every_public_name_is_exported_sorted_and_documented() -> None:
    names = claudegate.translate.__all__
    # The order ruff enforces (RUF022): CONSTANTS, then Classes, then functions, each alphabetical.
    assert names == sorted(names, key=lambda n: (not n.isupper(), not n[0].isupper(), n))
    assert names == claudegate.translate.openai.__all__
    for name in names:
        value = getattr(claudegate.translate, name)
        assert value is getattr(claudegate.translate.openai, name)
        if inspect.isfunction(value) or inspect.isclass(value):
            assert inspect.getdoc(value), f"{name} has no docstring"
    public = {n for n in dir(claudegate.translate.openai) if not n.startswith("_") and n != "annotations"}
    assert public == set(names)


def test_the_translate_layer_imports_nothing_above_it() -> None:
    code = (
        "import sys, claudegate.translate; "
        "print(' '.join(sorted(m for m in sys.modules if m.startswith('claudegate'))))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout.split()
    allowed = {"claudegate", "claudegate._version", "claudegate.errors"}
    # sse is translate's sibling in the pure layer (its partial-JSON parser keeps cut tool input).
    same_layer = ("claudegate.translate", "claudegate.sse")
    assert [m for m in loaded if m not in allowed and not m.startswith(same_layer)] == []
    for module in ("aiohttp", "starlette", "uvicorn", "socket"):
        code = f"import sys, claudegate.translate; print({module!r} in sys.modules)"
        assert (
            subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
            == "False\n"
        )
