"""One planned reply: content blocks cut by stop sequences and ``max_tokens``, as a Message or as events."""

from __future__ import annotations

import copy
import random
from dataclasses import dataclass
from typing import Any, Literal

from claudegate.simulator._text import chunk_json, chunk_words, sign_thinking
from claudegate.simulator._tokens import text_tokens
from claudegate.sse import parse_partial_json

__all__ = ["PlannedBlock", "Reply"]

BlockKind = Literal["thinking", "text", "tool_use"]


@dataclass(slots=True)
class PlannedBlock:
    """A content block as generated: ``payload`` is its text, thinking, or tool input as JSON text."""

    kind: BlockKind
    payload: str
    name: str = ""
    id: str = ""
    value: Any = None
    """The tool input (a ``tool_use`` block not cut short)."""
    cut: bool = False
    citations: list[dict[str, Any]] | None = None
    """A text block's citations (see ``_citations``)."""

    def content(self) -> dict[str, Any]:
        """The block as it appears in a Message."""
        if self.kind == "text":
            if self.citations:
                return {"type": "text", "text": self.payload, "citations": copy.deepcopy(self.citations)}
            return {"type": "text", "text": self.payload}
        if self.kind == "thinking":
            return {"type": "thinking", "thinking": self.payload, "signature": sign_thinking(self.payload)}
        if self.cut:
            try:
                partial = parse_partial_json(self.payload)
            except ValueError:  # cut before the first byte of the object
                partial = None
            tool_input = partial if isinstance(partial, dict) else {}
        else:
            tool_input = copy.deepcopy(self.value)
        return {"type": "tool_use", "id": self.id, "name": self.name, "input": tool_input}


@dataclass(slots=True)
class Reply:
    """A reply to one request, before it is rendered as a Message or a stream."""

    id: str
    model: str
    blocks: list[PlannedBlock]
    input_tokens: int
    cache_read: int
    cache_written_5m: int
    cache_written_1h: int
    stream_seed: int
    stop_reason: str = "end_turn"
    stop_sequence: str | None = None
    output_tokens: int = 0

    def finish(self, stop_sequences: list[str], max_tokens: int) -> None:
        """Apply stop sequences to text blocks, then ``max_tokens`` to everything, and count output."""
        for position, block in enumerate(self.blocks):
            if block.kind != "text":
                continue
            hits = [(block.payload.find(stop), stop) for stop in stop_sequences if stop]
            hits = [(at, stop) for at, stop in hits if at >= 0]
            if hits:
                at, stop = min(hits, key=lambda hit: hit[0])
                block.payload = block.payload[:at]
                del self.blocks[position + 1 :]
                self.stop_reason, self.stop_sequence = "stop_sequence", stop
                break
        else:
            if any(block.kind == "tool_use" for block in self.blocks):
                self.stop_reason = "tool_use"
        remaining = max_tokens
        for position, block in enumerate(self.blocks):
            tokens = text_tokens(block.payload)
            if tokens <= remaining:
                remaining -= tokens
                continue
            block.payload = block.payload[: remaining * 4]
            block.cut = block.kind == "tool_use"
            del self.blocks[position + (1 if block.payload else 0) :]
            self.stop_reason, self.stop_sequence = "max_tokens", None
            remaining = 0
            break
        self.blocks = [block for block in self.blocks if block.payload or block.kind != "text"]
        self.output_tokens = max_tokens - remaining

    def _usage(self) -> dict[str, Any]:
        return {
            "input_tokens": self.input_tokens,
            "cache_creation_input_tokens": self.cache_written_5m + self.cache_written_1h,
            "cache_read_input_tokens": self.cache_read,
            "cache_creation": {
                "ephemeral_5m_input_tokens": self.cache_written_5m,
                "ephemeral_1h_input_tokens": self.cache_written_1h,
            },
            "output_tokens": self.output_tokens,
            "service_tier": "standard",
        }

    def message(self) -> dict[str, Any]:
        """The reply as a Message (what a non-streaming request returns)."""
        return {
            "id": self.id,
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": [block.content() for block in self.blocks],
            "stop_reason": self.stop_reason,
            "stop_sequence": self.stop_sequence,
            "stop_details": None,
            "usage": self._usage(),
        }

    def _pieces(self) -> list[list[str]]:
        """Each block's payload cut into the pieces its deltas carry (the same cut every time)."""
        rng = random.Random(self.stream_seed)
        return [
            chunk_json(block.payload, rng) if block.kind == "tool_use" else chunk_words(block.payload, rng)
            for block in self.blocks
        ]

    def event_count(self) -> int:
        """How many events ``events()`` returns, without building them."""
        count = 3 + (not self.blocks)  # message_start, message_delta, message_stop (and a lone ping)
        for index, (block, pieces) in enumerate(zip(self.blocks, self._pieces(), strict=True)):
            count += 1 + (index == 0) + len(pieces) + (block.kind == "thinking") + (not block.cut)
            count += len(block.citations or ())
        return count

    def events(self) -> list[dict[str, Any]]:
        """The reply as the live API streams it (``ping`` after the first block starts)."""
        start_usage = self._usage()
        start_usage["output_tokens"] = min(1, self.output_tokens)
        events: list[dict[str, Any]] = [
            {
                "type": "message_start",
                "message": {
                    "id": self.id,
                    "type": "message",
                    "role": "assistant",
                    "model": self.model,
                    "content": [],
                    "stop_reason": None,
                    "stop_sequence": None,
                    "stop_details": None,
                    "usage": start_usage,
                },
            }
        ]
        if not self.blocks:
            events.append({"type": "ping"})
        for index, (block, pieces) in enumerate(zip(self.blocks, self._pieces(), strict=True)):
            events.append(
                {"type": "content_block_start", "index": index, "content_block": _start_block(block)}
            )
            if index == 0:
                events.append({"type": "ping"})
            events.extend(_deltas(block, index, pieces))
            if not block.cut:
                events.append({"type": "content_block_stop", "index": index})
        events.append(
            {
                "type": "message_delta",
                "delta": {
                    "stop_reason": self.stop_reason,
                    "stop_sequence": self.stop_sequence,
                    "stop_details": None,
                },
                "usage": {
                    "input_tokens": self.input_tokens,
                    "cache_creation_input_tokens": self.cache_written_5m + self.cache_written_1h,
                    "cache_read_input_tokens": self.cache_read,
                    "output_tokens": self.output_tokens,
                },
            }
        )
        events.append({"type": "message_stop"})
        return events


def _start_block(block: PlannedBlock) -> dict[str, Any]:
    if block.kind == "text":
        # A cited block starts with an empty citations list, which its citations_delta events fill.
        return (
            {"citations": [], "type": "text", "text": ""} if block.citations else {"type": "text", "text": ""}
        )
    if block.kind == "thinking":
        return {"type": "thinking", "thinking": "", "signature": ""}
    return {"type": "tool_use", "id": block.id, "name": block.name, "input": {}}


def _deltas(block: PlannedBlock, index: int, pieces: list[str]) -> list[dict[str, Any]]:
    if block.kind == "text":
        # As the live API streams them: a block's citations first, then its text.
        cited = [
            {
                "type": "content_block_delta",
                "index": index,
                "delta": {"type": "citations_delta", "citation": copy.deepcopy(citation)},
            }
            for citation in block.citations or ()
        ]
        return cited + [
            {"type": "content_block_delta", "index": index, "delta": {"type": "text_delta", "text": piece}}
            for piece in pieces
        ]
    if block.kind == "thinking":
        deltas = [
            {
                "type": "content_block_delta",
                "index": index,
                "delta": {"type": "thinking_delta", "thinking": piece},
            }
            for piece in pieces
        ]
        signature = {"type": "signature_delta", "signature": sign_thinking(block.payload)}
        deltas.append({"type": "content_block_delta", "index": index, "delta": signature})
        return deltas
    return [
        {
            "type": "content_block_delta",
            "index": index,
            "delta": {"type": "input_json_delta", "partial_json": piece},
        }
        for piece in pieces
    ]
