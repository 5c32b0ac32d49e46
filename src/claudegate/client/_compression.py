"""Opt-in gzip compression of request bodies above a size threshold.

Large prompts (long documents, many tool results) compress well; small bodies are sent as they
are, since gzip would cost more time than it saves. A compressed request carries
``content-encoding: gzip``; a body that already has a content encoding is left alone. Only use
this against a server that accepts gzip-encoded requests.
"""

from __future__ import annotations

import dataclasses
import gzip
from dataclasses import dataclass

from claudegate.client._transport import Request

__all__ = ["Compression"]


@dataclass(frozen=True, slots=True)
class Compression:
    """Compress request bodies of at least ``threshold`` bytes with gzip at ``level`` (1-9).

    >>> request = Compression(threshold=4096).apply(client.build_request("POST", "/v1/messages", body))
    """

    threshold: int = 1024
    level: int = 6

    def __post_init__(self) -> None:
        if self.threshold < 0 or not 1 <= self.level <= 9:
            raise ValueError("threshold must be >= 0 and level in 1..9")

    def apply(self, request: Request) -> Request:
        """The request with its body compressed, or the request itself when below the threshold."""
        content = request.content
        if content is None or len(content) < self.threshold or "content-encoding" in request.headers:
            return request
        compressed = gzip.compress(content, compresslevel=self.level, mtime=0)
        headers = {**request.headers, "content-encoding": "gzip"}
        return dataclasses.replace(request, headers=headers, content=compressed)
