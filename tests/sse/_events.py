"""Builders for Anthropic stream events, for tests that write streams by hand."""

from __future__ import annotations

from typing import Any

Event = dict[str, Any]


def start(**message: Any) -> Event:
    body: Event = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "m",
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": 5, "output_tokens": 1},
    }
    return {"type": "message_start", "message": {**body, **message}}


def block(index: int, **content_block: Any) -> Event:
    return {"type": "content_block_start", "index": index, "content_block": content_block}


def delta(index: int, **body: Any) -> Event:
    return {"type": "content_block_delta", "index": index, "delta": body}


def stop(index: int) -> Event:
    return {"type": "content_block_stop", "index": index}


def message_delta(stop_reason: str = "end_turn", usage: dict[str, Any] | None = None, **extra: Any) -> Event:
    return {
        "type": "message_delta",
        "delta": {"stop_reason": stop_reason, "stop_sequence": None},
        "usage": usage if usage is not None else {"output_tokens": 9},
        **extra,
    }


END: list[Event] = [message_delta(), {"type": "message_stop"}]
