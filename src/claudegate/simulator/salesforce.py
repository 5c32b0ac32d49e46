"""The simulator's Salesforce mode: the Models API's token and ``chat-generations`` endpoints on loopback.

Two endpoints, shaped like Salesforce's (see ``claudegate.providers.salesforce`` for the facts):

- ``POST /services/oauth2/token``: the OAuth 2.0 client-credentials flow. The form must carry
  ``grant_type=client_credentials`` and the app's ``client_id`` and ``client_secret``; a refusal is
  HTTP 400 with ``{"error", "error_description"}`` (``unsupported_grant_type``,
  ``invalid_client_id``, ``invalid_client``). A grant answers ``access_token`` (a signed JWT whose
  ``exp`` is ``token_ttl`` seconds away), ``signature``, ``token_format: "jwt"``, ``scope``,
  ``instance_url``, ``id``, ``token_type: "Bearer"``, ``issued_at`` (milliseconds, as a string)
  and ``api_instance_url`` (this server, so a client finds the chat endpoint here).
- ``POST /einstein/platform/v1/models/{modelName}/chat-generations``: needs a bearer token this
  server issued and that has not expired (else 401), ``x-sfdc-app-context: EinsteinGPT``,
  ``x-client-feature-id: ai-platform-models-connected-app`` and a JSON body of ``messages``
  (``role`` ``system`` | ``user`` | ``assistant``, string ``content``) with optional
  ``localization`` and ``tags`` and nothing else (else 400). ``modelName`` must be one of
  Salesforce's Claude names, ``sfdc_ai__DefaultBedrockAnthropicClaude<version><family>``, for a
  model of the simulator's catalogue (``…Claude45Sonnet`` is ``claude-sonnet-4-5``,
  ``…Claude3Haiku`` ``claude-3-haiku-<date>``), else 404. The answer is the engine's reply to the
  same conversation, as ``generationDetails``.

Errors of the chat endpoint are ``{"errorCode", "messageCode", "message"}`` (the spec's ``Error``
schema) with the spec's codes: ``REQUIRED_FIELD_MISSING`` (400), ``INVALID_AUTH`` (401),
``NOT_FOUND`` (404), ``LIMIT_EXCEEDED`` (429) and ``INTERNAL_ERROR`` (500); a status the spec
gives no code for (403, 405, 415, 423 "server busy", 503) answers its HTTP name
(``SERVICE_UNAVAILABLE``). ``x-sim-fault`` status faults apply to the chat endpoint as in the
Anthropic mode (``429;times=2``, ``423``, ``500``, ``429;retry-after=3``, ``404;times=1`` for
the 404 an invalid token can get); a 429 or 423 carries ``Retry-After`` only when the fault names
one.

``app.log`` lists every request, oldest first: ``time`` (``time.monotonic()`` on arrival),
``method``, ``path``, ``kind`` (``token``, ``chat`` or ``other``), ``model``, ``fault`` and
``status``. Secrets and tokens are never logged. ``app.expire_tokens()`` ends every token issued so
far, as if their lifetime had run out.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs

import orjson

from claudegate._json import JSONDepthError, loads_bounded
from claudegate.errors import APIStatusError
from claudegate.simulator._engine import Simulator
from claudegate.translate import stop_reason_to_finish_reason

__all__ = ["TOKEN_PATH", "SalesforceSimulatorApp", "claude_model_for", "create_salesforce_app"]

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

TOKEN_PATH = "/services/oauth2/token"
_CHAT_PATH = re.compile(r"/einstein/platform/v1/models/([^/]+)/chat-generations/?")
_CLAUDE_NAME = re.compile(r"sfdc_ai__DefaultBedrockAnthropicClaude(\d)(\d?)(Opus|Sonnet|Haiku)")
_BODY_FIELDS = frozenset({"messages", "localization", "tags"})
_ROLES = frozenset({"system", "user", "assistant"})
_REQUIRED_HEADERS = {
    b"x-sfdc-app-context": "EinsteinGPT",
    b"x-client-feature-id": "ai-platform-models-connected-app",
}
_JSON = b"application/json;charset=UTF-8"


def claude_model_for(salesforce_name: str) -> str | None:
    """The Anthropic model name behind a Salesforce Claude API name (None for any other name).

    >>> claude_model_for("sfdc_ai__DefaultBedrockAnthropicClaude45Sonnet")
    'claude-sonnet-4-5'
    """
    match = _CLAUDE_NAME.fullmatch(salesforce_name)
    if match is None:
        return None
    major, minor, family = match.group(1), match.group(2), match.group(3).lower()
    if major == "3":  # the Claude 3 generation put the family last
        return f"claude-3-{minor + '-' if minor else ''}{family}"
    return f"claude-{family}-{major}" + (f"-{minor}" if minor else "")


class _Refusal(Exception):
    """An error answer: its status, JSON body and extra headers."""

    def __init__(
        self, status: int, body: dict[str, Any], headers: list[tuple[bytes, bytes]] | None = None
    ) -> None:
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = headers or []


_SPEC_CODES = {
    400: "REQUIRED_FIELD_MISSING",
    401: "INVALID_AUTH",
    404: "NOT_FOUND",
    429: "LIMIT_EXCEEDED",
    500: "INTERNAL_ERROR",
}
"""The Models API spec's ``errorCode`` for each status it gives one for."""


def _error(status: int, message: str | None, headers: list[tuple[bytes, bytes]] | None = None) -> _Refusal:
    """The chat endpoint's error answer; ``message`` None says the status's phrase."""
    known = status in HTTPStatus.__members__.values()
    code = _SPEC_CODES.get(status) or (HTTPStatus(status).name if known else f"HTTP_{status}")
    if message is None:
        message = f"{HTTPStatus(status).phrase if known else 'Error'} (simulated by x-sim-fault)."
    return _Refusal(status, {"errorCode": code, "message": message, "messageCode": code}, headers)


def _oauth_error(error: str, description: str, status: int = 400) -> _Refusal:
    return _Refusal(status, {"error": error, "error_description": description})


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class SalesforceSimulatorApp:
    """A plain ASGI app answering like Salesforce's Models API, from one ``Simulator``."""

    def __init__(self, simulator: Simulator, *, client_id: str, client_secret: str, token_ttl: float) -> None:
        self.simulator = simulator
        self.client_id = client_id
        self._secret = client_secret
        self.token_ttl = token_ttl
        self.log: list[dict[str, Any]] = []
        self._tokens: dict[str, float] = {}
        self._lock = threading.Lock()
        self._key = secrets.token_bytes(32)

    def expire_tokens(self) -> None:
        """End every token issued so far: the next chat request with one of them gets 401."""
        with self._lock:
            self._tokens = dict.fromkeys(self._tokens, 0.0)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        elif scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1003})

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = await _read_body(receive)
        method, path = scope["method"], scope["path"]
        headers = {name.lower(): value for name, value in scope["headers"]}
        chat = _CHAT_PATH.fullmatch(path)
        kind = "token" if path == TOKEN_PATH else "chat" if chat else "other"
        entry: dict[str, Any] = {"time": time.monotonic(), "method": method, "path": path, "kind": kind}
        entry.update(model=chat.group(1) if chat else None, fault=None, status=None)
        self.log.append(entry)
        base_url = f"{scope.get('scheme', 'http')}://{headers.get(b'host', b'127.0.0.1').decode('latin-1')}"
        extra: list[tuple[bytes, bytes]] = []
        try:
            if kind == "token":
                status, payload = 200, self._grant(method, headers, body, base_url)
            elif chat is not None:
                status, payload = 200, self._chat(method, headers, body, chat.group(1), entry)
            else:
                raise _error(404, f"The requested resource does not exist: {method} {path}")
        except _Refusal as refusal:
            status, payload, extra = refusal.status, refusal.body, refusal.headers
        entry["status"] = status
        raw = orjson.dumps(payload)
        start = [(b"content-type", _JSON), (b"content-length", str(len(raw)).encode()), *extra]
        await send({"type": "http.response.start", "status": status, "headers": start})
        await send({"type": "http.response.body", "body": raw, "more_body": False})

    # -- the token endpoint ----------------------------------------------------------------------

    def _grant(self, method: str, headers: dict[bytes, bytes], body: bytes, base_url: str) -> dict[str, Any]:
        if method != "POST":
            raise _oauth_error("invalid_request", "must use HTTP POST", status=405)
        if not headers.get(b"content-type", b"").startswith(b"application/x-www-form-urlencoded"):
            raise _oauth_error("invalid_request", "the request must be form-encoded")
        form = {key: values[0] for key, values in parse_qs(body.decode("utf-8", "replace")).items()}
        if form.get("grant_type") != "client_credentials":
            raise _oauth_error("unsupported_grant_type", "grant type not supported")
        if form.get("client_id") != self.client_id:
            raise _oauth_error("invalid_client_id", "client identifier invalid")
        if not hmac.compare_digest(form.get("client_secret", "").encode(), self._secret.encode()):
            raise _oauth_error("invalid_client", "invalid client credentials")
        issued = time.time()
        token = self._issue(issued, base_url)
        signature = hmac.new(self._key, token.encode(), hashlib.sha256).digest()
        return {
            "access_token": token,
            "signature": base64.b64encode(signature).decode(),
            "token_format": "jwt",
            "scope": "sfap_api api",
            "instance_url": base_url,
            "id": f"{base_url}/id/00DSIMULATEDORG/005SIMULATEDUSER",
            "token_type": "Bearer",
            "issued_at": str(int(issued * 1000)),
            "api_instance_url": base_url,
        }

    def _issue(self, issued: float, base_url: str) -> str:
        expires = issued + self.token_ttl
        header = _b64(orjson.dumps({"alg": "HS256", "typ": "JWT"}))
        claims = {
            "iss": base_url,
            "sub": self.client_id,
            "scp": "sfap_api api",
            "iat": int(issued),
            "exp": int(expires),
            "jti": secrets.token_hex(8),
        }
        unsigned = f"{header}.{_b64(orjson.dumps(claims))}"
        token = f"{unsigned}.{_b64(hmac.new(self._key, unsigned.encode(), hashlib.sha256).digest())}"
        with self._lock:
            self._tokens[token] = expires
        return token

    # -- the chat-generations endpoint -----------------------------------------------------------

    def _authorize(self, headers: dict[bytes, bytes]) -> None:
        value = headers.get(b"authorization", b"").decode("latin-1")
        if value[:7].lower() != "bearer " or not value[7:].strip():
            raise _error(401, "Missing bearer token in the Authorization header.")
        with self._lock:
            expires = self._tokens.get(value[7:].strip())
        if expires is None:
            raise _error(401, "The access token is invalid.")
        if time.time() >= expires:
            raise _error(401, "The access token has expired.")

    def _fault(self, headers: dict[bytes, bytes], entry: dict[str, Any]) -> None:
        spec = headers.get(b"x-sim-fault")
        if spec is None:
            return
        try:
            fault = self.simulator.faults.select(spec.decode("latin-1"))
        except ValueError as exc:
            raise _error(400, f"x-sim-fault: {exc}") from None
        if fault is None:
            return
        entry["fault"] = fault.spec
        if fault.kind != "status":
            raise _error(
                400, "x-sim-fault: only status faults (such as 429;times=2) apply in Salesforce mode"
            )
        extra = []
        if fault.retry_after is not None:
            extra.append((b"retry-after", f"{fault.retry_after:g}".encode()))
        raise _error(fault.status, None, extra)

    def _catalogue_name(self, salesforce_name: str) -> str:
        """The simulator's name for a Salesforce Claude name: exact, or a dated id (``…-20240307``)."""
        names = self.simulator.models.names
        model = claude_model_for(salesforce_name)
        if model is not None and model not in names:
            dated = [
                name for name in names if name.startswith(model + "-") and name[len(model) + 1 :].isdigit()
            ]
            model = dated[0] if dated else None
        if model is None:
            raise _error(404, f"Model {salesforce_name} was not found or is not enabled for this org.")
        return model

    def _chat(
        self, method: str, headers: dict[bytes, bytes], body: bytes, name: str, entry: dict[str, Any]
    ) -> dict[str, Any]:
        if method != "POST":
            raise _error(405, f"{method} is not allowed here; use POST.")
        self._authorize(headers)
        for header, expected in _REQUIRED_HEADERS.items():
            if headers.get(header, b"").decode("latin-1") != expected:
                raise _error(400, f"The {header.decode()} header is required and must be {expected}.")
        if not headers.get(b"content-type", b"").startswith(b"application/json"):
            raise _error(415, "The request body must be application/json.")
        self._fault(headers, entry)
        request = _conversation(body)
        model = self._catalogue_name(name)
        request["model"] = model
        limit = self.simulator.models.names[model][1]
        request["max_tokens"] = min(self.simulator.config.openai_default_max_tokens, limit)
        try:
            message = self.simulator.create(request)
        except APIStatusError as exc:
            raise _error(exc.status_code, exc.message) from None
        return _generation_details(message)


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _conversation(body: bytes) -> dict[str, Any]:
    """The canonical request (without model and limit) for a ``chat-generations`` body."""
    try:
        payload = loads_bounded(body)
    except JSONDepthError as exc:
        raise _error(400, str(exc)) from None
    except orjson.JSONDecodeError:
        raise _error(400, "The request body is not valid JSON.") from None
    if not isinstance(payload, dict):
        raise _error(400, "The request body must be a JSON object.")
    unknown = sorted(set(payload) - _BODY_FIELDS)
    if unknown:
        raise _error(400, f'Unrecognized field "{unknown[0]}" in the request body.')
    messages = payload.get("messages")
    if not isinstance(messages, list) or not messages:
        raise _error(400, "messages: at least one message is required.")
    system: list[str] = []
    turns: list[dict[str, str]] = []
    for index, message in enumerate(messages):
        role = message.get("role") if isinstance(message, dict) else None
        content = message.get("content") if isinstance(message, dict) else None
        if role not in _ROLES or not isinstance(content, str):
            raise _error(400, f"messages[{index}]: role must be system, user or assistant, content a string.")
        if role == "system":
            system.append(content)
        else:
            turns.append({"role": role, "content": content})
    request: dict[str, Any] = {"messages": turns}
    if system:
        request["system"] = "\n\n".join(system)
    return request


def _generation_details(message: dict[str, Any]) -> dict[str, Any]:
    """The ``chat-generations`` answer carrying the engine's Message."""
    text = "".join(block.get("text", "") for block in message["content"] if block.get("type") == "text")
    usage = message["usage"]
    cached = usage.get("cache_read_input_tokens") or 0
    prompt = usage["input_tokens"] + (usage.get("cache_creation_input_tokens") or 0) + cached
    completion = usage["output_tokens"]
    seed = hashlib.blake2b(message["id"].encode(), digest_size=32).digest()
    now = time.time()
    return {
        "id": str(uuid.UUID(bytes=seed[:16])),
        "generationDetails": {
            "generations": [
                {
                    "id": str(uuid.UUID(bytes=seed[16:])),
                    "role": "assistant",
                    "content": text,
                    "timestamp": int(now * 1000),
                    "parameters": {
                        "finish_reason": stop_reason_to_finish_reason(message.get("stop_reason")),
                        "refusal": None,
                        "index": 0,
                        "logprobs": None,
                    },
                    "contentQuality": {"scanToxicity": {"isDetected": False, "categories": []}},
                }
            ],
            "parameters": {
                "created": int(now),
                "usage": {
                    "prompt_tokens": prompt,
                    "completion_tokens": completion,
                    "total_tokens": prompt + completion,
                    "prompt_tokens_details": {"cached_tokens": cached},
                    "completion_tokens_details": {"reasoning_tokens": 0},
                },
                "model": message["model"],
                "system_fingerprint": None,
                "object": "chat.completion",
            },
        },
    }


def create_salesforce_app(
    simulator: Simulator | None = None,
    *,
    client_id: str = "sim-client",
    client_secret: str = "sim-secret",
    token_ttl: float = 1800.0,
) -> SalesforceSimulatorApp:
    """The simulator in Salesforce mode as a plain ASGI app (``app.log`` is its request log).

    >>> from claudegate.testing import LiveServer
    >>> with LiveServer(create_salesforce_app()) as server:  # doctest: +SKIP
    ...     ...  # token_url = server.base_url + "/services/oauth2/token"
    """
    return SalesforceSimulatorApp(
        simulator if simulator is not None else Simulator(),
        client_id=client_id,
        client_secret=client_secret,
        token_ttl=token_ttl,
    )
