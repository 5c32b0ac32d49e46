"""The simulator's engine: requests in, Messages and stream events out; no I/O, usable in process.

>>> sim = Simulator()
>>> message = sim.create({"model": "claude-sonnet-4-5", "max_tokens": 64,
...                       "messages": [{"role": "user", "content": "hello there"}]})
>>> "hello there" in message["content"][0]["text"]
True

Every answer is deterministic for a given request (and ``SimulatorConfig.seed``): the request is
hashed, and the hash seeds the words chosen, the tool inputs, the stream chunking and the ids.
``stream``, ``max_tokens`` and ``stop_sequences`` are left out of the content's hash, so a stream
says what the JSON reply says, and a lower limit cuts the same reply shorter.
A request with a JSON schema in ``output_config.format`` (structured outputs) gets, when it calls no
tool, one text block holding JSON that satisfies the schema. A last user turn holding ``search_result``
blocks with citations enabled gets an answer whose text blocks cite them (see ``_citations``).
The one piece of state that changes answers is the simulated prompt cache (see ``_cache``).
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections.abc import Mapping
from typing import Any

from claudegate.simulator._batches import BatchStore
from claudegate.simulator._cache import PromptCache
from claudegate.simulator._citations import cited_reply, search_results_of_turn
from claudegate.simulator._config import SimulatorConfig
from claudegate.simulator._conversation import Turn, choose_tools, read_turn
from claudegate.simulator._faults import FaultBook
from claudegate.simulator._json import dumps_lenient
from claudegate.simulator._log import RequestLog
from claudegate.simulator._models import ModelCatalog
from claudegate.simulator._reply import PlannedBlock, Reply
from claudegate.simulator._schema_values import SchemaValueGenerator, value_for_schema
from claudegate.simulator._text import (
    prompt_words,
    reply_text,
    thinking_text,
    tool_preamble,
    tool_results_text,
)
from claudegate.simulator._threads import ThreadBook
from claudegate.simulator._tokens import count_input_tokens, measure_prompt
from claudegate.simulator._validate import validate_request

__all__ = ["Simulator", "base62_id"]

_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
THINKING_CHARS = 4000
_WHERE_IT_STOPS = frozenset({"stream", "max_tokens", "stop_sequences"})
# What a schema the generator cannot follow raises (a malformed one, or in process one the
# validator never saw): the caller's problem, the reply keeps its shape.
_SCHEMA_FAILURES = (TypeError, ValueError, KeyError, AttributeError, RecursionError, OverflowError, re.error)


def base62_id(prefix: str, digest: bytes) -> str:
    """An id in the live API's style (``msg_01…``, ``toolu_01…``: 22 letters and digits) from a hash."""
    mixed = hashlib.blake2b(digest, digest_size=22, person=prefix.encode()[:16]).digest()
    return prefix + "01" + "".join([_ALPHABET[byte % 62] for byte in mixed])


def _output_schema(request: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The JSON schema the reply's text must satisfy (structured outputs), if the request sets one."""
    config = request.get("output_config")
    output_format = config.get("format") if isinstance(config, Mapping) else None
    if isinstance(output_format, Mapping) and output_format.get("type") == "json_schema":
        schema = output_format.get("schema")
        if isinstance(schema, Mapping):
            return schema
    return None


class Simulator:
    """A protocol-exact local Claude: validates like the API, answers deterministically, counts tokens.

    ``log``, ``faults``, ``cache``, ``models``, ``batches`` and ``threads`` hold the state that the HTTP
    app shares.
    """

    def __init__(self, config: SimulatorConfig | None = None) -> None:
        self.config = config if config is not None else SimulatorConfig()
        self.models = ModelCatalog(self.config.models)
        self.cache = PromptCache(self.config.cache_min_tokens)
        self.log = RequestLog(self.config.log_limit)
        self.faults = FaultBook()
        self.batches = BatchStore(self.create, delay=self.config.batch_delay)
        self.threads = ThreadBook(self.config.thread_ttl)
        self._salt = str(self.config.seed).encode() + b"\x00"

    def _digest(self, request: Mapping[str, Any]) -> bytes:
        # Where the reply stops does not change what it says: a lower max_tokens gives a prefix.
        body = {key: value for key, value in request.items() if key not in _WHERE_IT_STOPS}
        data = dumps_lenient(body, sort_keys=True)
        return hashlib.blake2b(self._salt + data, digest_size=16).digest()

    def plan(self, request: Mapping[str, Any]) -> Reply:
        """Validate a Messages request and plan the reply (raises the API's error as ``APIStatusError``)."""
        model = validate_request(
            request,
            models=self.models.names,
            verify_signatures=self.config.verify_signatures,
            exclusive_sampling=self.models.exclusive_sampling,
        )
        digest = self._digest(request)
        seed = int.from_bytes(digest, "big")
        rng = random.Random(seed)
        prompt = measure_prompt(request)
        cached = self.cache.account(model, prompt.cache_points)
        turn = read_turn(request["messages"])
        blocks = self._blocks(request, turn, rng, digest)
        stops = dumps_lenient([request["max_tokens"], request.get("stop_sequences")])
        reply = Reply(
            id=base62_id("msg_", digest + stops),
            model=model,
            blocks=blocks,
            input_tokens=prompt.total - cached.read - cached.written,
            cache_read=cached.read,
            cache_written_5m=cached.written_5m,
            cache_written_1h=cached.written_1h,
            stream_seed=seed ^ 0x5EED,
        )
        reply.finish(list(request.get("stop_sequences") or ()), request["max_tokens"])
        return reply

    def _blocks(
        self, request: Mapping[str, Any], turn: Turn, rng: random.Random, digest: bytes
    ) -> list[PlannedBlock]:
        calls = choose_tools(request, turn, rng.randrange(1 << 16))
        blocks: list[PlannedBlock] = []
        thinking = request.get("thinking")
        if isinstance(thinking, Mapping) and thinking.get("type") in ("enabled", "adaptive"):
            text = thinking_text(turn.text, [tool["name"] for tool in calls], rng)
            budget = thinking.get("budget_tokens")
            limit = min(THINKING_CHARS, budget * 4) if isinstance(budget, int) else THINKING_CHARS
            blocks.append(PlannedBlock("thinking", text[:limit]))
        if not calls:
            schema = _output_schema(request)
            cited = search_results_of_turn(request["messages"]) if schema is None else []
            if cited:
                blocks += [
                    PlannedBlock("text", text, citations=[citation] if citation else None)
                    for text, citation in cited_reply(cited, turn.text, rng)
                ]
                return blocks
            if schema is not None:
                text = self._structured_text(schema, rng, prompt_words(turn.text))
            elif turn.results:
                text = tool_results_text(turn.results, rng)
            else:
                text = reply_text(turn.text, rng)
            blocks.append(PlannedBlock("text", text))
            return blocks
        forced = (request.get("tool_choice") or {}).get("type") in ("any", "tool")
        if not forced:
            blocks.append(PlannedBlock("text", tool_preamble([tool["name"] for tool in calls])))
        words = prompt_words(turn.text)
        for position, tool in enumerate(calls):
            value = self._tool_input(tool["input_schema"], rng, words)
            tool_id = base62_id("toolu_", digest + bytes([position]))
            payload = json.dumps(value, ensure_ascii=False)
            blocks.append(PlannedBlock("tool_use", payload, name=tool["name"], id=tool_id, value=value))
        return blocks

    @staticmethod
    def _tool_input(schema: Mapping[str, Any], rng: random.Random, words: list[str]) -> dict[str, Any]:
        try:
            value = SchemaValueGenerator(schema, rng, words).generate()
        except _SCHEMA_FAILURES:
            return {}
        return value if isinstance(value, dict) else {}

    @staticmethod
    def _structured_text(schema: Mapping[str, Any], rng: random.Random, words: list[str]) -> str:
        try:
            value = value_for_schema(schema, rng=rng, words=words)
        except _SCHEMA_FAILURES:
            value = {}
        return json.dumps(value, ensure_ascii=False)

    def create(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """The full Message a non-streaming ``POST /v1/messages`` returns."""
        return self.plan(request).message()

    def events(self, request: Mapping[str, Any]) -> list[dict[str, Any]]:
        """The events a streaming ``POST /v1/messages`` sends (they accumulate to ``create``'s Message)."""
        return self.plan(request).events()

    def count_tokens(self, request: Mapping[str, Any]) -> int:
        """Input tokens of a request, by the same counter as usage (see ``_tokens``); validates first."""
        validate_request(
            request,
            models=self.models.names,
            count_only=True,
            verify_signatures=self.config.verify_signatures,
        )
        return count_input_tokens(request)
