"""Any OpenAI-compatible upstream: canonical requests out as chat completions, answers back as Messages.

The request goes out through ``claudegate.translate`` (``messages_request_to_chat``) to
``{base_url}/chat/completions``; a JSON answer comes back through ``chat_completion_to_message``,
a streamed one through ``ChatToMessagesStream`` as the bytes arrive (its ``message_start``
carries the upstream's input count when the first chunk has one, else the request's
``estimate_input_tokens``, marked as an estimate). An upstream error status
becomes the matching ``APIStatusError`` with an Anthropic envelope and the upstream's headers
(``retry-after``, ``retry-after-ms``, ``x-should-retry``). A 2xx answer that cannot be carried
over (invalid tool arguments, a body that is not a completion) is a ``StreamProtocolError``: the
upstream broke its protocol, the client's request was fine.

A request that carries ``chat`` (an OpenAI client's own request) is a pass-through: those bytes go
out as they are, and the upstream's JSON body or SSE bytes come back untranslated, marked
``dialect = "openai"`` (a stream still offers translated ``events()``).

>>> provider = OpenAICompatProvider(
...     base_url="http://127.0.0.1:8000/v1", api_key=None, transport=AiohttpTransport()
... )
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from types import AsyncGeneratorType
from typing import Any

import orjson

from claudegate._version import __version__
from claudegate.client import SECRET_HEADERS, ApiKey, AsyncTransport, Request, Response, Timeout
from claudegate.errors import (
    APIConnectionError,
    APIStatusError,
    StreamProtocolError,
    UserError,
    error_from_envelope,
)
from claudegate.providers._base import Provider, ProviderRequest, ProviderResponse, ProviderStream
from claudegate.sse import ServerSentEvent, SSEDecoder
from claudegate.translate import (
    ChatToMessagesStream,
    chat_completion_to_message,
    estimate_input_tokens,
    messages_request_to_chat,
    openai_error_to_anthropic,
)

__all__ = ["OpenAICompatProvider"]

_DONE = "[DONE]"
_STREAM_OPTIONS = {"include_usage": True}


class OpenAICompatProvider(Provider):
    """An OpenAI Chat Completions upstream: OpenAI itself, vLLM, llama.cpp, Ollama, LM Studio, ...

    ``base_url`` includes the version segment (``https://api.openai.com/v1``); the key is optional
    (local servers often take none) and goes out as ``Authorization: Bearer``. ``default_headers``
    go on every request, and so do a request's own ``headers`` except ``anthropic-*`` ones and
    credentials.
    """

    kind = "openai"

    def __init__(
        self,
        *,
        base_url: str,
        api_key: ApiKey | str | None,
        transport: AsyncTransport,
        timeout: Timeout | None = None,
        default_headers: Mapping[str, str] | None = None,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise UserError(
                f"base_url must start with http:// or https://, not {base_url!r}", field="base_url"
            )
        self.base_url = base_url.rstrip("/")
        self._url = self.base_url + "/chat/completions"
        self._api_key = ApiKey(api_key) if isinstance(api_key, str) else api_key
        self._transport = transport
        self._timeout = timeout or Timeout()
        headers = {
            "accept": "application/json",
            "content-type": "application/json",
            "user-agent": f"claudegate/{__version__}",
        }
        headers.update({name.lower(): value for name, value in (default_headers or {}).items()})
        if self._api_key is not None:
            headers["authorization"] = f"Bearer {self._api_key.reveal()}"
        self._headers = headers
        self._stream_headers = {**headers, "accept": "text/event-stream"}

    def __repr__(self) -> str:
        return f"OpenAICompatProvider(base_url={self.base_url!r}, api_key={self._api_key!r})"

    async def create(self, request: ProviderRequest) -> ProviderResponse:
        if request.chat is not None:
            response = await self._send(request, request.chat, stream=False)
            return ProviderResponse(raw=await response.aread(), headers=response.headers, dialect="openai")
        chat = messages_request_to_chat(request.body)
        chat.pop("stream", None)
        chat.pop("stream_options", None)
        response = await self._send(request, orjson.dumps(chat), stream=False)
        raw = await response.aread()
        try:
            completion = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise StreamProtocolError(
                f"the upstream answered {response.status_code} with a body that is not JSON: {raw[:200]!r}"
            ) from None
        if not isinstance(completion, dict):
            raise StreamProtocolError("the upstream's answer is not a JSON object")
        return ProviderResponse(message=chat_completion_to_message(completion), headers=response.headers)

    async def stream(self, request: ProviderRequest) -> ProviderStream:
        if request.chat is not None:
            response = await self._send(request, request.chat, stream=True)
            content_type = response.headers.get("content-type", "")
            if not content_type.lower().startswith("text/event-stream"):
                # Relaying it would hand the client a body that is not the stream it asked for.
                await response.aclose()
                raise StreamProtocolError(
                    f"the upstream answered a stream request with content-type {content_type[:100]!r}"
                )
            return _PassthroughStream(response)
        chat = messages_request_to_chat(request.body)
        chat["stream"] = True
        chat["stream_options"] = _STREAM_OPTIONS
        response = await self._send(request, orjson.dumps(chat), stream=True)
        return _ChatStream(response, estimate_input_tokens(request.body))

    embeds = True

    async def embed(self, request: ProviderRequest) -> ProviderResponse:
        """``{base_url}/embeddings``: the request as it came (model renamed), the answer as it came
        (its upstream error object relayed, ``param`` and all)."""
        response = await self._send(
            request, orjson.dumps(request.body), stream=False, url=self.base_url + "/embeddings", relay=True
        )
        raw = await response.aread()
        try:
            answer = orjson.loads(raw)
        except orjson.JSONDecodeError:
            answer = None
        if not isinstance(answer, dict) or not isinstance(answer.get("data"), list):
            raise StreamProtocolError("the upstream's embeddings answer is not an OpenAI list of embeddings")
        return ProviderResponse(message=answer, headers=response.headers)

    async def _send(
        self,
        request: ProviderRequest,
        content: bytes,
        *,
        stream: bool,
        url: str | None = None,
        relay: bool = False,
    ) -> Response:
        headers = self._stream_headers if stream else self._headers
        if request.headers:
            # What the gateway forwards (``x-sim-fault`` ...) goes on, minus Anthropic's own headers
            # and any credential: only this deployment's key may reach the upstream.
            extra = {k.lower(): v for k, v in request.headers.items() if _forwardable(k.lower())}
            if extra:
                headers = {**extra, **headers}
        upstream = Request("POST", url or self._url, headers, content, self._timeout, stream)
        response = await self._transport.handle(upstream)
        if response.status_code >= 400:
            raise await _status_error(response, relayed=relay or request.chat is not None)
        return response


def _forwardable(name: str) -> bool:
    return not name.startswith("anthropic-") and name not in SECRET_HEADERS


async def _status_error(response: Response, *, relayed: bool) -> APIStatusError:
    """The upstream's OpenAI error answer as the matching error, with an Anthropic envelope.

    ``relayed`` (a pass-through: the caller is an OpenAI client) keeps the upstream's own error
    object beside it, as ``openai_error``, to be relayed as it came (``param``, ``code`` and all)."""
    try:
        raw = await response.aread()
    except APIConnectionError:
        raw = b""
    finally:
        await response.aclose()
    body: Any
    try:
        body = orjson.loads(raw) if raw else None
    except orjson.JSONDecodeError:
        body = raw.decode("utf-8", errors="replace")
    status = response.status_code
    request_id = response.request_id
    envelope = openai_error_to_anthropic(
        body if isinstance(body, dict) else {"error": body}, status, request_id=request_id
    )
    if relayed and isinstance(body, dict) and isinstance(body.get("error"), dict):
        envelope["openai_error"] = body["error"]
    # Lower-case names: the error's headers are a plain dict, and servers spell them every way.
    headers = {name.lower(): value for name, value in response.headers.items()}
    return error_from_envelope(status, envelope, request_id=request_id, headers=headers)


class _ChunkReader:
    """OpenAI SSE bytes in, Anthropic events out; knows when the upstream's stream is complete."""

    __slots__ = ("_decoder", "_request_id", "_translator", "done", "ended", "usage_seen")

    def __init__(self, request_id: str | None, input_tokens: int | None = None) -> None:
        self._request_id = request_id
        self._decoder = SSEDecoder()
        self._translator = ChatToMessagesStream(input_tokens=input_tokens)
        self.done = False
        """``data: [DONE]`` arrived."""
        self.ended = False
        """An error chunk ended the stream."""
        self.usage_seen = False
        """The final usage chunk (``choices: []``) arrived."""

    def feed(self, chunk: bytes) -> list[dict[str, Any]]:
        """The events the bytes so far complete."""
        return self._translate(self._decoder.feed(chunk))

    def flush(self) -> list[dict[str, Any]]:
        """The events of a last frame that lacks its closing blank line."""
        return self._translate(self._decoder.flush())

    def _translate(self, frames: list[ServerSentEvent]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for sse in frames:
            data = sse.data
            if data[:1] != "{":
                stripped = data.strip()
                if stripped == _DONE:
                    self.done = True
                    break
                if not stripped:
                    continue
            payload = _payload(data)
            events = self._translator.feed(payload)
            if payload.get("error"):
                self.ended = True
                if self._request_id is not None:
                    for event in events:
                        event.setdefault("request_id", self._request_id)
                out += events
                break
            if not payload.get("choices") and payload.get("usage"):
                self.usage_seen = True
            out += events
        return out

    @property
    def finish_seen(self) -> bool:
        """A ``finish_reason`` arrived (for choice 0: the only one translated)."""
        return self._translator.finish_reason is not None

    def finish(self) -> list[dict[str, Any]]:
        """The closing events; raises ``APIConnectionError`` when the stream was cut short."""
        # Some servers skip [DONE]; once the usage chunk (always the last) is in, nothing is missing.
        if not self.done and not self.usage_seen:
            raise APIConnectionError("the upstream stream ended before data: [DONE]")
        if not self.finish_seen:
            raise APIConnectionError("the upstream stream ended without a finish_reason")
        return self._translator.finish()


class _ChatStream(ProviderStream):
    """Anthropic events translated from an OpenAI SSE body, decoded as its bytes arrive: the events
    of one upstream read come as one batch, so a surface answers each read with one write."""

    def __init__(self, response: Response, input_tokens: int | None = None) -> None:
        self._response = response
        self._input_tokens = input_tokens
        self.headers = response.headers
        self._iterator: AsyncGenerator[list[dict[str, Any]], None] | None = None
        self._events: AsyncGenerator[dict[str, Any], None] | None = None

    def batches(self) -> AsyncIterator[list[dict[str, Any]]]:
        # One upstream body can be read once: every caller shares the one iterator.
        if self._iterator is None:
            self._iterator = self._translate()
        return self._iterator

    def events(self) -> AsyncIterator[dict[str, Any]]:
        if self._events is None:
            self._events = self._flatten()
        return self._events

    async def _flatten(self) -> AsyncGenerator[dict[str, Any], None]:
        async for batch in self.batches():
            for event in batch:
                yield event

    async def _translate(self) -> AsyncGenerator[list[dict[str, Any]], None]:
        response = self._response
        reader = _ChunkReader(response.request_id, self._input_tokens)
        try:
            async for chunk in response.aiter_bytes():
                batch = reader.feed(chunk)
                if reader.done or reader.ended:
                    if reader.done:
                        batch += reader.finish()  # the end goes out with the last read
                    if batch:
                        yield batch
                    return
                if batch:
                    yield batch
            tail = reader.flush()
        finally:
            await response.aclose()
        if not reader.ended:
            tail += reader.finish()
        if tail:
            yield tail

    async def aclose(self) -> None:
        await self._response.aclose()
        # A read under way in another task ends on its own now that the connection is closed.
        for iterator in (self._events, self._iterator):
            if isinstance(iterator, AsyncGeneratorType) and not iterator.ag_running:
                await iterator.aclose()


class _PassthroughStream(_ChatStream):
    """The upstream's own OpenAI SSE bytes (``raw_chunks()``), for an OpenAI client."""

    dialect = "openai"

    def __init__(self, response: Response) -> None:
        super().__init__(response)
        self._chunks: AsyncIterator[bytes] | None = None

    def raw_chunks(self) -> AsyncIterator[bytes]:
        if self._chunks is None:
            self._chunks = self._response.aiter_bytes()
        return self._chunks

    async def aclose(self) -> None:
        chunks = self._chunks
        if isinstance(chunks, AsyncGeneratorType) and not chunks.ag_running:
            await chunks.aclose()
        await super().aclose()


def _payload(data: str) -> dict[str, Any]:
    try:
        payload = orjson.loads(data)
    except orjson.JSONDecodeError:
        raise StreamProtocolError(f"the upstream sent a chunk that is not JSON: {data[:200]!r}") from None
    if not isinstance(payload, dict):
        raise StreamProtocolError(f"the upstream sent a chunk that is not a JSON object: {data[:200]!r}")
    return payload
