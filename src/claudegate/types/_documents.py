"""Documents (PDF, plain text, URL, custom content) and search results the model can read and cite."""

from __future__ import annotations

from typing import Annotated, Literal, TypeAlias

from pydantic import Tag

from claudegate.types._base import UNKNOWN, TextOrBlocks, UnknownContentBlock, WireModel, type_discriminator
from claudegate.types._cache_control import CacheControl
from claudegate.types._citations import CitationsConfig
from claudegate.types._images import ImageBlock, UnknownSource
from claudegate.types._text import TextBlock

__all__ = [
    "Base64PDFSource",
    "ContentBlockSource",
    "DocumentBlock",
    "DocumentSource",
    "PlainTextSource",
    "SearchResultBlock",
    "SourceContentBlock",
    "URLPDFSource",
]


class Base64PDFSource(WireModel):
    """An inline PDF: ``media_type`` ``application/pdf`` and base64 ``data``."""

    type: Literal["base64"] = "base64"
    media_type: str = "application/pdf"
    data: str


class PlainTextSource(WireModel):
    """An inline plain-text document: ``media_type`` ``text/plain`` and the text as ``data``."""

    type: Literal["text"] = "text"
    media_type: str = "text/plain"
    data: str


class URLPDFSource(WireModel):
    """A PDF the API fetches from ``url``."""

    type: Literal["url"] = "url"
    url: str


SourceContentBlock: TypeAlias = Annotated[
    Annotated[TextBlock, Tag("text")]
    | Annotated[ImageBlock, Tag("image")]
    | Annotated[UnknownContentBlock, Tag(UNKNOWN)],
    type_discriminator("text", "image"),
]
"""A block inside a custom-content document or a search result."""


class ContentBlockSource(WireModel):
    """A document made of caller-chunked content: a string, or text and image blocks."""

    type: Literal["content"] = "content"
    content: TextOrBlocks[SourceContentBlock]


DocumentSource: TypeAlias = Annotated[
    Annotated[Base64PDFSource, Tag("base64")]
    | Annotated[PlainTextSource, Tag("text")]
    | Annotated[URLPDFSource, Tag("url")]
    | Annotated[ContentBlockSource, Tag("content")]
    | Annotated[UnknownSource, Tag(UNKNOWN)],
    type_discriminator("base64", "text", "url", "content"),
]
"""A document block's ``source``; unknown kinds parse as ``UnknownSource``."""


class DocumentBlock(WireModel):
    """A document for the model to read (and cite, when ``citations.enabled``)."""

    type: Literal["document"] = "document"
    source: DocumentSource
    title: str | None = None
    context: str | None = None
    citations: CitationsConfig | None = None
    cache_control: CacheControl | None = None


class SearchResultBlock(WireModel):
    """A search result supplied by the caller (directly or from a tool), citable by block range."""

    type: Literal["search_result"] = "search_result"
    source: str
    title: str
    content: list[TextBlock]
    citations: CitationsConfig | None = None
    cache_control: CacheControl | None = None
