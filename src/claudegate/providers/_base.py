"""What every upstream provider is: a canonical (Anthropic Messages) request in, a canonical
response or stream out.

``ProviderRequest.body`` is always an Anthropic Messages request whose ``model`` is already the
upstream's name for the model. A provider that speaks Anthropic itself forwards ``raw`` (the
client's exact bytes) when it is set, and hands back the upstream's exact bytes (``raw`` on the
response, ``raw_chunks()`` on the stream), so same-dialect traffic passes through untouched.
Likewise a provider that speaks OpenAI Chat sends ``chat`` (an OpenAI client's request) when it is
set, and answers with the upstream's own OpenAI bytes, marked ``dialect = "openai"``.

Providers report failures with the error tree: ``APIStatusError`` subclasses for an upstream
error status (``body`` an Anthropic error envelope, ``headers`` carrying ``retry-after``), and
``APIConnectionError`` / ``APITimeoutError`` when no answer came. ``create`` and ``stream`` return
only once the upstream's response headers are in, so any failure before the first byte raises
there; a failure later raises from the stream's iterators.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import orjson

from claudegate.errors import BadRequestError
from claudegate.sse import SSEDecoder, encode_json_event

__all__ = [
    "Provider",
    "ProviderRequest",
    "ProviderResponse",
    "ProviderStream",
    "WireDialect",
    "invalid_request",
]

WireDialect = Literal["anthropic", "openai"]
"""The dialect of an answer's raw bytes."""


@dataclass(slots=True)
class ProviderRequest:
    """One call for an upstream."""

    body: dict[str, Any]
    """The canonical request; ``model`` is the upstream model name."""
    raw: bytes | None = None
    """The client's exact request bytes, when they may be forwarded unchanged (same dialect, same
    model name, nothing rewritten)."""
    headers: dict[str, str] = field(default_factory=dict)
    """Client headers the gateway forwards, lower-case names: ``anthropic-version`` and
    ``anthropic-beta`` (for Anthropic upstreams), ``x-sim-fault`` and ``x-sim-latency`` (for
    simulators). Each provider sends on only those its upstream understands."""
    query: str = ""
    """The client's query string (``beta=true``), forwarded to Anthropic upstreams."""
    request_id: str = ""
    """The gateway's id for this request, for upstream logs."""
    chat: bytes | None = None
    """An OpenAI Chat Completions request to send as it is (model already renamed), set only for
    providers that speak OpenAI Chat; ``body`` is then only its canonical view."""

    def content(self) -> bytes:
        """The body to send to an Anthropic upstream."""
        return self.raw if self.raw is not None else orjson.dumps(self.body)


class ProviderResponse:
    """A whole (non-streamed) answer."""

    __slots__ = ("_message", "dialect", "headers", "raw", "status_code")

    def __init__(
        self,
        *,
        message: dict[str, Any] | None = None,
        raw: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        status_code: int = 200,
        dialect: WireDialect = "anthropic",
    ) -> None:
        if message is None and raw is None:
            raise ValueError("a ProviderResponse needs a message or raw bytes")
        if dialect != "anthropic" and raw is None:
            raise ValueError("an answer in another dialect is its raw bytes")
        self._message = message
        self.raw = raw
        self.headers: Mapping[str, str] = headers or {}
        self.status_code = status_code
        self.dialect: WireDialect = dialect
        """``openai``: ``raw`` is the upstream's own OpenAI chat completion (a pass-through)."""

    @property
    def message(self) -> dict[str, Any]:
        """The canonical message (decoded from ``raw`` on first use, translated when OpenAI)."""
        if self._message is None:
            assert self.raw is not None
            decoded = orjson.loads(self.raw)
            if self.dialect == "openai":
                from claudegate.translate import chat_completion_to_message

                decoded = chat_completion_to_message(decoded)
            self._message = decoded
        return self._message

    def body(self) -> bytes:
        """The JSON body: the upstream's own bytes when it spoke the answer's ``dialect``."""
        return self.raw if self.raw is not None else orjson.dumps(self.message)


class ProviderStream(ABC):
    """A streamed answer: canonical events, and the upstream's own bytes when it spoke Anthropic."""

    headers: Mapping[str, str] = {}
    native: ClassVar[bool] = False
    """True when ``raw_chunks()`` yields the upstream's own Anthropic SSE bytes."""
    dialect: ClassVar[WireDialect] = "anthropic"
    """``openai``: ``raw_chunks()`` yields the upstream's own OpenAI chat-completion chunks."""

    @abstractmethod
    def events(self) -> AsyncIterator[dict[str, Any]]:
        """The canonical Anthropic stream events, in order.

        An upstream's in-stream failure is an ``error`` event (the envelope), after which the
        iterator ends; a lost connection raises ``APIConnectionError`` / ``APITimeoutError``.
        """

    def batches(self) -> AsyncIterator[list[dict[str, Any]]]:
        """The same events grouped as they arrived (one upstream read per list), so that a surface
        can answer each upstream read with one write."""
        return self._single_batches()

    async def _single_batches(self) -> AsyncIterator[list[dict[str, Any]]]:
        async for event in self.events():
            yield [event]

    def raw_chunks(self) -> AsyncIterator[bytes]:
        """Anthropic SSE bytes: the upstream's own for a native stream, else encoded events."""
        return self._encoded()

    async def _encoded(self) -> AsyncIterator[bytes]:
        async for batch in self.batches():
            yield b"".join(encode_json_event(event) for event in batch)

    @abstractmethod
    async def aclose(self) -> None:
        """Stop reading and release the upstream connection (cancels the upstream request)."""


class NativeStream(ProviderStream):
    """A stream whose source is Anthropic SSE bytes (an Anthropic upstream, or the simulator)."""

    native: ClassVar[bool] = True

    def __init__(self, chunks: AsyncIterator[bytes], headers: Mapping[str, str] | None = None) -> None:
        self._chunks = chunks
        self.headers = headers or {}

    def raw_chunks(self) -> AsyncIterator[bytes]:
        return self._chunks

    async def events(self) -> AsyncIterator[dict[str, Any]]:
        async for batch in self.batches():
            for event in batch:
                yield event

    async def batches(self) -> AsyncIterator[list[dict[str, Any]]]:
        decoder = SSEDecoder()
        loads = orjson.loads
        async for chunk in self._chunks:
            batch = [loads(sse.data) for sse in decoder.feed(chunk) if sse.event is not None and sse.data]
            if batch:
                yield batch
        tail = [loads(sse.data) for sse in decoder.flush() if sse.event is not None and sse.data]
        if tail:
            yield tail

    async def aclose(self) -> None:
        closer = getattr(self._chunks, "aclose", None)
        if closer is not None:
            await closer()


def invalid_request(message: str, param: str | None = None) -> BadRequestError:
    """A 400 ``invalid_request_error`` of a provider's own; an OpenAI caller sees ``param`` named."""
    error = {"type": "invalid_request_error", "message": message}
    openai = {"message": message, "type": "invalid_request_error", "param": param, "code": None}
    return BadRequestError(
        message,
        type="invalid_request_error",
        body={"type": "error", "error": error, "openai_error": openai},
    )


class Provider(ABC):
    """An upstream that answers canonical requests. One instance serves one deployment."""

    kind: ClassVar[str]
    """The config name of this provider (``anthropic``, ``openai``, ``salesforce``, ``simulator``)."""

    @abstractmethod
    async def create(self, request: ProviderRequest) -> ProviderResponse:
        """A whole answer."""

    @abstractmethod
    async def stream(self, request: ProviderRequest) -> ProviderStream:
        """A streamed answer; returns once the upstream's response headers are in."""

    async def count_tokens(self, request: ProviderRequest) -> int | None:
        """The upstream's own input-token count, or None when it has no such endpoint."""
        return None

    embeds: ClassVar[bool] = False
    """Whether ``embed`` reaches an embeddings endpoint."""

    async def embed(self, request: ProviderRequest) -> ProviderResponse:
        """Embeddings: ``request.body`` is an OpenAI embeddings request (``model`` the upstream's
        name); the answer's ``message`` is OpenAI's ``list`` of embeddings, with its ``usage``.
        A provider whose upstream has no embeddings endpoint refuses with a 400."""
        raise invalid_request(f"{self.kind} deployments serve no embeddings", "model")

    async def start(self) -> None:
        """Open what the provider needs (called once, before traffic)."""
        return None

    async def aclose(self) -> None:
        """Release connections and background tasks."""
        return None
