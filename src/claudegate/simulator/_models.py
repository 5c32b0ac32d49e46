"""The model catalogue: what ``GET /v1/models`` lists and which names a request may use."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from claudegate.simulator._config import ModelSpec
from claudegate.simulator._errors import fail
from claudegate.simulator._paging import paginate

__all__ = ["ModelCatalog"]


class ModelCatalog:
    """Models newest first, with their aliases."""

    def __init__(self, specs: Sequence[ModelSpec]) -> None:
        self._items = [
            {"type": "model", "id": spec.id, "display_name": spec.display_name, "created_at": spec.created_at}
            for spec in specs
        ]
        self._by_name: dict[str, dict[str, Any]] = {}
        self.names: dict[str, tuple[str, int]] = {}
        """Every accepted model name to ``(id, max output tokens)``."""
        self.exclusive_sampling: frozenset[str] = frozenset(
            name for spec in specs if spec.exclusive_temperature_top_p for name in (spec.id, *spec.aliases)
        )
        """The names of models that refuse ``temperature`` and ``top_p`` together."""
        for spec, item in zip(specs, self._items, strict=True):
            for name in (spec.id, *spec.aliases):
                self._by_name[name] = item
                self.names[name] = (spec.id, spec.max_tokens)

    def page(self, *, after_id: str | None, before_id: str | None, limit: int) -> dict[str, Any]:
        """One page of ``GET /v1/models``."""
        return paginate(self._items, after_id=after_id, before_id=before_id, limit=limit)

    def get(self, name: str) -> dict[str, Any]:
        """``GET /v1/models/{name}``: aliases resolve to their model; unknown names get 404."""
        item = self._by_name.get(name)
        if item is None:
            fail(f"model: {name}", status=404, error_type="not_found_error")
        return dict(item)

    def openai_page(self) -> dict[str, Any]:
        """The list as OpenAI-dialect clients read it (``object: list``, ``created`` in Unix seconds)."""
        data = []
        for item in self._items:
            created = int(datetime.fromisoformat(item["created_at"].replace("Z", "+00:00")).timestamp())
            data.append({**item, "object": "model", "created": created, "owned_by": "anthropic"})
        return {
            "object": "list",
            "data": data,
            "has_more": False,
            "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None,
        }
