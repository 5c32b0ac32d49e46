"""Image blocks and where their bytes come from (inline base64 or a URL)."""

from __future__ import annotations

from typing import Annotated, Literal, TypeAlias

from pydantic import Tag

from claudegate.types._base import UNKNOWN, UnknownObject, WireModel, type_discriminator
from claudegate.types._cache_control import CacheControl

__all__ = ["Base64ImageSource", "ImageBlock", "ImageSource", "URLImageSource", "UnknownSource"]


class Base64ImageSource(WireModel):
    """An inline image: ``media_type`` (``image/png``, ``image/jpeg``, …) and base64 ``data``."""

    type: Literal["base64"] = "base64"
    media_type: str
    data: str


class URLImageSource(WireModel):
    """An image the API fetches from ``url``."""

    type: Literal["url"] = "url"
    url: str


class UnknownSource(UnknownObject):
    """A source of a kind claudegate does not know (a file reference, say), kept whole."""


ImageSource: TypeAlias = Annotated[
    Annotated[Base64ImageSource, Tag("base64")]
    | Annotated[URLImageSource, Tag("url")]
    | Annotated[UnknownSource, Tag(UNKNOWN)],
    type_discriminator("base64", "url"),
]
"""An image block's ``source``; unknown kinds parse as ``UnknownSource``."""


class ImageBlock(WireModel):
    """An image in a user turn or a tool result."""

    type: Literal["image"] = "image"
    source: ImageSource
    cache_control: CacheControl | None = None
