"""Token usage of a Salesforce Models API answer, whatever names it comes under (pure).

The Models API spec types ``generationDetails.parameters`` as a free-form object, so the counts
arrive in the spelling of the model's provider:

- OpenAI's: ``usage.prompt_tokens`` / ``completion_tokens`` / ``total_tokens`` and
  ``prompt_tokens_details.cached_tokens`` (the Salesforce Mobile SDKs' response models), and the
  same in camelCase (``promptTokens``, ``completionTokens``, ``totalTokens``,
  ``promptTokensDetails.cachedTokens``);
- ``inputTokenCount`` / ``outputTokenCount`` / ``totalTokenCount`` (what Salesforce Models API
  gateways built on the API read);
- Anthropic's (``input_tokens``, ``output_tokens``, ``cache_read_input_tokens``,
  ``cache_creation_input_tokens``) and Amazon Bedrock's (``inputTokens``, ``outputTokens``,
  ``totalTokens``, ``cacheReadInputTokens``, ``cacheWriteInputTokens``), for Claude on Bedrock.

They are looked for under ``generationDetails.parameters.usage``, ``generationDetails.parameters``
itself, the generation's own ``parameters``, and the ``parameters`` / ``usage`` of the answer's top
level (the ``generations`` endpoint's shape). OpenAI-style prompt counts include cached tokens;
Anthropic- and Bedrock-style input counts do not. A side that is missing is derived from the
total when there is one; a side that cannot be known is estimated (one token per three bytes,
the gateway's upward-biased rule) and named in the result, so the caller can say so: a usage of
zeros is never reported for an answer that cost tokens.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["usage_of"]

_OPENAI_INPUT = ("prompt_tokens", "promptTokens", "inputTokenCount")
_NET_INPUT = ("input_tokens", "inputTokens")
_OUTPUT = ("completion_tokens", "completionTokens", "outputTokenCount", "output_tokens", "outputTokens")
_TOTAL = ("total_tokens", "totalTokens", "totalTokenCount")
_CACHE_READ = ("cache_read_input_tokens", "cacheReadInputTokens")
_CACHE_WRITE = ("cache_creation_input_tokens", "cacheWriteInputTokens")
_DETAILS = (("prompt_tokens_details", "cached_tokens"), ("promptTokensDetails", "cachedTokens"))
_ALL_COUNTS = frozenset(_OPENAI_INPUT + _NET_INPUT + _OUTPUT + _TOTAL)


def _count(source: Mapping[str, Any], names: Sequence[str]) -> int | None:
    for name in names:
        value = source.get(name)
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value
    return None


def _mapping(value: Any, key: str) -> Mapping[str, Any] | None:
    inner = value.get(key) if isinstance(value, Mapping) else None
    return inner if isinstance(inner, Mapping) else None


def _candidates(answer: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    details = _mapping(answer, "generationDetails")
    generations = details.get("generations") if details is not None else None
    first = generations[0] if isinstance(generations, list) and generations else None
    places = [
        _mapping(details, "parameters"),
        _mapping(first, "parameters"),
        _mapping(answer, "parameters"),
    ]
    found: list[Mapping[str, Any]] = []
    for place in places:
        if place is not None:
            found.extend(inner for inner in (_mapping(place, "usage"), place) if inner is not None)
    top = _mapping(answer, "usage")
    if top is not None:
        found.append(top)
    return found


def _usage_object(answer: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The first object holding any token count."""
    for candidate in _candidates(answer):
        if any(name in candidate for name in _ALL_COUNTS):
            return candidate
    return None


def _cached(usage: Mapping[str, Any]) -> int:
    read = _count(usage, _CACHE_READ)
    if read is not None:
        return read
    for outer, inner in _DETAILS:
        details = _mapping(usage, outer)
        if details is not None:
            value = _count(details, (inner,))
            if value is not None:
                return value
    return 0


def _estimate(size: int) -> int:
    return max(1, math.ceil(size / 3))


def _answer_text(answer: Mapping[str, Any]) -> str:
    details = _mapping(answer, "generationDetails")
    generations = details.get("generations") if details is not None else None
    first = generations[0] if isinstance(generations, list) and generations else None
    content = first.get("content") if isinstance(first, Mapping) else None
    return content if isinstance(content, str) else ""


def usage_of(answer: Any, *, request_bytes: int) -> tuple[dict[str, int], tuple[str, ...]]:
    """Canonical usage of a ``chat-generations`` answer, and the fields that had to be estimated.

    ``request_bytes`` is the size of the request body sent (the input estimate's base).

    >>> answer = {"usage": {"inputTokenCount": 9, "totalTokenCount": 13}}
    >>> usage, estimated = usage_of(answer, request_bytes=90)
    >>> usage["input_tokens"], usage["output_tokens"], estimated
    (9, 4, ())
    """
    usage = _usage_object(answer) if isinstance(answer, Mapping) else None
    source: Mapping[str, Any] = usage if usage is not None else {}
    cached, written = _cached(source), _count(source, _CACHE_WRITE) or 0
    gross = _count(source, _OPENAI_INPUT)  # cached tokens included
    net = _count(source, _NET_INPUT)
    input_tokens = max(gross - cached, 0) if gross is not None else net
    output_tokens = _count(source, _OUTPUT)
    total = _count(source, _TOTAL)
    whole_input = None if input_tokens is None else input_tokens + cached + written
    if total is not None and output_tokens is None and whole_input is not None:
        output_tokens = max(total - whole_input, 0)
    if total is not None and input_tokens is None and output_tokens is not None:
        input_tokens = max(total - output_tokens - cached - written, 0)
    estimated: list[str] = []
    if input_tokens is None:
        input_tokens = _estimate(request_bytes)
        estimated.append("input_tokens")
    if output_tokens is None:
        output_tokens = _estimate(len(_answer_text(answer).encode()) if isinstance(answer, Mapping) else 0)
        estimated.append("output_tokens")
    canonical = {
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "cache_creation_input_tokens": written,
        "cache_read_input_tokens": cached,
    }
    return canonical, tuple(estimated)
