"""Citations: where a piece of generated text came from, and the switch that turns them on."""

from __future__ import annotations

from typing import Annotated, Literal, TypeAlias

from pydantic import Tag

from claudegate.types._base import UNKNOWN, UnknownObject, WireModel, type_discriminator

__all__ = [
    "CharLocationCitation",
    "Citation",
    "CitationsConfig",
    "ContentBlockLocationCitation",
    "PageLocationCitation",
    "SearchResultLocationCitation",
    "UnknownCitation",
    "WebSearchResultLocationCitation",
]


class CitationsConfig(WireModel):
    """Whether a document or search result may be cited: ``{"enabled": bool}``."""

    enabled: bool | None = None


class CharLocationCitation(WireModel):
    """A citation of a character range in a plain-text document."""

    type: Literal["char_location"] = "char_location"
    cited_text: str
    document_index: int
    document_title: str | None = None
    start_char_index: int
    end_char_index: int


class PageLocationCitation(WireModel):
    """A citation of a page range in a PDF document."""

    type: Literal["page_location"] = "page_location"
    cited_text: str
    document_index: int
    document_title: str | None = None
    start_page_number: int
    end_page_number: int


class ContentBlockLocationCitation(WireModel):
    """A citation of a block range in a custom-content document."""

    type: Literal["content_block_location"] = "content_block_location"
    cited_text: str
    document_index: int
    document_title: str | None = None
    start_block_index: int
    end_block_index: int


class WebSearchResultLocationCitation(WireModel):
    """A citation of a web search result."""

    type: Literal["web_search_result_location"] = "web_search_result_location"
    cited_text: str
    encrypted_index: str
    title: str | None = None
    url: str


class SearchResultLocationCitation(WireModel):
    """A citation of a block range in a ``search_result`` block."""

    type: Literal["search_result_location"] = "search_result_location"
    cited_text: str
    search_result_index: int
    source: str
    title: str | None = None
    start_block_index: int
    end_block_index: int


class UnknownCitation(UnknownObject):
    """A citation of a kind claudegate does not know, kept whole."""


Citation: TypeAlias = Annotated[
    Annotated[CharLocationCitation, Tag("char_location")]
    | Annotated[PageLocationCitation, Tag("page_location")]
    | Annotated[ContentBlockLocationCitation, Tag("content_block_location")]
    | Annotated[WebSearchResultLocationCitation, Tag("web_search_result_location")]
    | Annotated[SearchResultLocationCitation, Tag("search_result_location")]
    | Annotated[UnknownCitation, Tag(UNKNOWN)],
    type_discriminator(
        "char_location",
        "page_location",
        "content_block_location",
        "web_search_result_location",
        "search_result_location",
    ),
]
"""Any citation, typed by its ``type``; unknown kinds parse as ``UnknownCitation``."""
