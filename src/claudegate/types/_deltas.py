"""The deltas of a ``content_block_delta`` event: increments to the block being streamed."""

from __future__ import annotations

from typing import Annotated, Literal, TypeAlias

from pydantic import Tag

from claudegate.types._base import UNKNOWN, UnknownObject, WireModel, type_discriminator
from claudegate.types._citations import Citation

__all__ = [
    "CitationsDelta",
    "Delta",
    "InputJSONDelta",
    "SignatureDelta",
    "TextDelta",
    "ThinkingDelta",
    "UnknownDelta",
]


class TextDelta(WireModel):
    """More text for a ``text`` block."""

    type: Literal["text_delta"] = "text_delta"
    text: str


class InputJSONDelta(WireModel):
    """A fragment of a tool call's input JSON: concatenate them all, parse at the block's stop."""

    type: Literal["input_json_delta"] = "input_json_delta"
    partial_json: str


class ThinkingDelta(WireModel):
    """More reasoning for a ``thinking`` block."""

    type: Literal["thinking_delta"] = "thinking_delta"
    thinking: str


class SignatureDelta(WireModel):
    """A ``thinking`` block's signature, sent just before the block stops."""

    type: Literal["signature_delta"] = "signature_delta"
    signature: str


class CitationsDelta(WireModel):
    """One more citation for a ``text`` block."""

    type: Literal["citations_delta"] = "citations_delta"
    citation: Citation


class UnknownDelta(UnknownObject):
    """A delta of a kind claudegate does not know (``compaction_delta``, say), kept whole."""


Delta: TypeAlias = Annotated[
    Annotated[TextDelta, Tag("text_delta")]
    | Annotated[InputJSONDelta, Tag("input_json_delta")]
    | Annotated[ThinkingDelta, Tag("thinking_delta")]
    | Annotated[SignatureDelta, Tag("signature_delta")]
    | Annotated[CitationsDelta, Tag("citations_delta")]
    | Annotated[UnknownDelta, Tag(UNKNOWN)],
    type_discriminator(
        "text_delta", "input_json_delta", "thinking_delta", "signature_delta", "citations_delta"
    ),
]
"""A ``content_block_delta``'s ``delta``; unknown kinds parse as ``UnknownDelta``."""
