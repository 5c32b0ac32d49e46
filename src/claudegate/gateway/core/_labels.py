"""Model names as metric labels, bounded: a client choosing names must not grow the series.

A name is its own label when the gateway knows it (a configured route, or a simulator catalogue
entry behind a wildcard route) or once an upstream has served it; at most ``limit`` names earn a
label that way. Every other name — unknown, refused, or past the limit — is counted as ``other``.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["OTHER", "ModelLabels"]

OTHER = "other"


class ModelLabels:
    """Which requested model names label the metrics (see the module docstring)."""

    __slots__ = ("_known", "_limit", "_served")

    def __init__(self, known: Iterable[str], limit: int = 256) -> None:
        self._known = frozenset(known)
        self._served: set[str] = set()
        self._limit = limit

    def label(self, model: str, served: bool) -> str:
        """The label for ``model``; ``served``: an upstream answered it (it is a real model)."""
        if model in self._known or model in self._served:
            return model
        if served and len(self._served) < self._limit:
            self._served.add(model)
            return model
        return OTHER
