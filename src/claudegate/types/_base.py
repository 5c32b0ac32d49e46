"""The base of every wire model, and the tagged unions that never reject an unknown ``type``.

Two promises hold for every model in ``claudegate.types``:

- Nothing is dropped: unknown fields are kept (``extra="allow"``), and a union member whose ``type``
  is not one claudegate knows parses into an ``Unknown…`` model that keeps the whole object.
- What was parsed is re-serialised unchanged: ``to_dict()`` and ``to_json()`` emit exactly the
  fields that were present in the input (known and unknown), nothing added, nothing removed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, ClassVar, TypeAlias, TypeVar

import orjson
from pydantic import BaseModel, ConfigDict, Discriminator, Tag
from pydantic_core import PydanticUndefined

__all__ = [
    "UNKNOWN",
    "TextOrBlocks",
    "UnknownContentBlock",
    "UnknownObject",
    "WireModel",
    "type_discriminator",
]

UNKNOWN = "unknown"
"""The union tag that every unrecognised ``type`` is routed to."""


class WireModel(BaseModel):
    """A JSON object of the Anthropic API that keeps unknown fields and re-serialises unchanged.

    Parsing (``model_validate``) records exactly which fields were present. Building a model by
    hand fills the fields the wire always carries (a block's ``type``, a message's ``role``), so
    ``TextBlock(text="hi").to_dict()`` is ``{"type": "text", "text": "hi"}``.
    """

    model_config = ConfigDict(extra="allow", protected_namespaces=())

    # Fields whose default is None but which the wire always carries (``stop_sequence: null``).
    _sent_nulls: ClassVar[tuple[str, ...]] = ()
    # What hand construction fills in when not given; derived per class below.
    _wire_defaults: ClassVar[dict[str, Any]] = {}

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        # A non-None default is part of the wire shape (``type``, ``role``); a None default means
        # "absent unless given". Computed once per class so construction stays a dict merge.
        defaults: dict[str, Any] = {}
        for name, field in cls.model_fields.items():
            if field.default is not None and field.default is not PydanticUndefined:
                defaults[name] = field.default
        for name in cls._sent_nulls:
            defaults[name] = None
        cls._wire_defaults = defaults

    def __init__(self, /, **data: Any) -> None:
        for name, value in self._wire_defaults.items():
            data.setdefault(name, value)
        super().__init__(**data)

    # Marks this __init__ as a plain forwarder, as pydantic's own RootModel does: model_validate()
    # then never calls it, so parsed objects keep exactly the fields they arrived with (no defaults
    # filled in) and parsing skips a Python-level call on every nested object.
    __init__.__pydantic_base_init__ = True  # type: ignore[attr-defined]

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready dict of exactly the fields that were given or parsed, unknown ones included."""
        # The serializer directly: model_dump()'s argument handling costs a third of a small event.
        data: dict[str, Any] = self.__pydantic_serializer__.to_python(self, mode="json", exclude_unset=True)
        return data

    def to_json(self) -> bytes:
        """The compact JSON encoding of ``to_dict()``."""
        return orjson.dumps(self.__pydantic_serializer__.to_python(self, mode="json", exclude_unset=True))


class UnknownObject(WireModel):
    """Base of the ``Unknown…`` models: an object whose ``type`` claudegate does not know, kept whole."""

    type: str


class UnknownContentBlock(UnknownObject):
    """A content block of a kind claudegate does not know (a newer API feature), kept whole."""


def _type_of(value: Any) -> Any:
    if isinstance(value, dict):
        return value.get("type")
    return getattr(value, "type", None)


def type_discriminator(
    *known: str,
    fallback: Callable[[str, Any], str | None] | None = None,
) -> Discriminator:
    """A pydantic discriminator that routes by ``type``, sending every unknown tag to ``UNKNOWN``.

    ``known`` are the tags of the union's typed members. ``fallback`` may claim an unknown tag for a
    generic member (all ``*_tool_result`` blocks, for instance) by returning that member's tag.
    """
    tags = frozenset(known)

    def tag_of(value: Any) -> str:
        tag = _type_of(value)
        if isinstance(tag, str):
            if tag in tags:
                return tag
            if fallback is not None:
                claimed = fallback(tag, value)
                if claimed is not None:
                    return claimed
        return UNKNOWN

    return Discriminator(tag_of)


def _text_or_blocks(value: Any) -> str | None:
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "blocks"
    return None


_Block = TypeVar("_Block")

TextOrBlocks: TypeAlias = Annotated[
    Annotated[str, Tag("string")] | Annotated[list[_Block], Tag("blocks")],
    Discriminator(
        _text_or_blocks,
        custom_error_type="text_or_blocks_type",
        custom_error_message="Input should be a string or a list of blocks",
    ),
]
"""A ``content`` that is either a plain string or a list of blocks.

Routed by the value's JSON type, so a bad block reports one error at its path
(``messages.0.content.blocks.1.image.source``) instead of one per alternative.
"""
