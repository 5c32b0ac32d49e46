"""The model catalogue: ``GET /v1/models`` and ``GET /v1/models/{id}``."""

from __future__ import annotations

from typing import Literal

from claudegate.types._base import WireModel

__all__ = ["ModelInfo", "ModelPage"]


class ModelInfo(WireModel):
    """One model: ``id``, a human ``display_name`` and its release time (RFC 3339, kept as sent)."""

    type: Literal["model"] = "model"
    id: str
    display_name: str
    created_at: str


class ModelPage(WireModel):
    """A page of models; pass ``last_id`` as ``after_id`` for the next page while ``has_more``."""

    data: list[ModelInfo]
    has_more: bool
    first_id: str | None = None
    last_id: str | None = None
