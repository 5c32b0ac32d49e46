"""OAuth 2.0 client-credentials tokens for the Salesforce Models API: fetched once, shared, renewed.

A token is fetched on first use and kept until shortly before it expires. The Models API takes
JWT-based access tokens only (Salesforce's "Access Models API with REST" guide: the external
client app must issue JWT-based tokens), so an access token that is not a JWT is a configuration
error, reported on first use with the setting to change. Salesforce's token answer has no
``expires_in``; the expiry is the JWT's ``exp`` claim, else ``issued_at`` (milliseconds) plus
``token_ttl``. Callers that need a token while
one is being fetched wait for that fetch instead of starting their own, and a token the API
refused (401) is dropped with ``invalidate`` so that the next caller fetches a new one.

The client secret only ever goes into the form body of the token request: it is held as an
``ApiKey`` and scrubbed from any message built from the token endpoint's answer.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import orjson

from claudegate._version import __version__
from claudegate.client import ApiKey, AsyncTransport, Request, Response, Timeout
from claudegate.errors import (
    APIStatusError,
    AuthenticationError,
    StreamProtocolError,
    error_from_envelope,
)

__all__ = ["AccessToken", "TokenSource", "not_a_jwt"]

_REFUSED = (400, 401, 403)
_MAX_MARGIN = 60.0


@dataclass(frozen=True, slots=True)
class AccessToken:
    """A bearer token and what came with it (the value never shows in a ``repr``)."""

    value: str = field(repr=False)
    api_instance_url: str | None
    expires_at: float
    """When the token stops working, on the source's clock (Unix seconds by default)."""
    refresh_at: float
    """When to fetch the next one: a little before ``expires_at``."""
    serial: int = 0
    """Which fetch of its source brought it (1, 2, …): a token with a serial above
    ``TokenSource.fetched`` as read before a request is newer than the request."""


def _jwt_claims(token: str) -> dict[str, Any] | None:
    """The claims of a JWT (its signature unchecked: only the API can judge it), else None."""
    parts = token.split(".")
    if len(parts) != 3 or not all(parts[:2]):
        return None
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = orjson.loads(base64.urlsafe_b64decode(payload))
    except (binascii.Error, ValueError):
        return None
    return claims if isinstance(claims, dict) else None


def not_a_jwt(token_url: str) -> APIStatusError:
    """The configuration error for an access token that is not a JWT (never retried)."""
    message = (
        f"the Salesforce token endpoint {token_url} issued an access token that is not a JWT; the "
        "Models API accepts JWT-based access tokens only: in the external client app's OAuth "
        "settings, turn on 'Issue JSON Web Token (JWT)-based access tokens for named users'"
    )
    envelope = {"type": "error", "error": {"type": "api_error", "message": message}}
    return error_from_envelope(500, envelope, headers={"x-should-retry": "false"})


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


class TokenSource:
    """Client-credentials tokens from one Salesforce token endpoint, shared by every caller."""

    def __init__(
        self,
        *,
        token_url: str,
        client_id: str,
        client_secret: ApiKey,
        transport: AsyncTransport,
        timeout: Timeout,
        token_ttl: float,
        clock: Callable[[], float],
    ) -> None:
        self.token_url = token_url
        self.client_id = client_id
        self._secret = client_secret
        self._transport = transport
        self._timeout = timeout
        self._token_ttl = token_ttl
        self._clock = clock
        self.fetched = 0
        """How many tokens have been fetched so far."""
        self._token: AccessToken | None = None
        self._pending: asyncio.Future[AccessToken] | None = None

    def __repr__(self) -> str:
        return (
            f"TokenSource(token_url={self.token_url!r}, client_id={self.client_id!r}, "
            f"client_secret={self._secret!r})"
        )

    async def get(self) -> AccessToken:
        """A valid token: the cached one, or one fetched now (one fetch however many callers wait)."""
        token = self._token
        if token is not None and self._clock() < token.refresh_at:
            return token
        pending = self._pending
        if pending is None:
            pending = asyncio.ensure_future(self._fetch())
            self._pending = pending
            pending.add_done_callback(self._settle)
        # One caller giving up must not cancel the fetch the others are waiting for.
        return await asyncio.shield(pending)

    def invalidate(self, token: AccessToken) -> None:
        """Forget ``token`` (refused by the API), unless a newer one has replaced it already."""
        if self._token is token:
            self._token = None

    def _settle(self, fetch: asyncio.Future[AccessToken]) -> None:
        if self._pending is fetch:
            self._pending = None
        if not fetch.cancelled() and fetch.exception() is None:
            self._token = fetch.result()

    async def _fetch(self) -> AccessToken:
        form = urlencode(
            {
                "grant_type": "client_credentials",
                "client_id": self.client_id,
                "client_secret": self._secret.reveal(),
            }
        ).encode()
        headers = {
            "content-type": "application/x-www-form-urlencoded",
            "accept": "application/json",
            "user-agent": f"claudegate/{__version__}",
        }
        response = await self._transport.handle(Request("POST", self.token_url, headers, form, self._timeout))
        raw = await response.aread()
        if response.status_code >= 400:
            raise self._refusal(response, raw)
        try:
            answer = orjson.loads(raw)
        except orjson.JSONDecodeError:
            answer = None
        value = answer.get("access_token") if isinstance(answer, dict) else None
        if not isinstance(value, str) or not value:
            raise StreamProtocolError("the Salesforce token endpoint answered without an access_token")
        self.fetched += 1
        return self._token_from(answer, value)

    def _token_from(self, answer: Mapping[str, Any], value: str) -> AccessToken:
        now = self._clock()
        claims = _jwt_claims(value)
        if claims is None:
            raise not_a_jwt(self.token_url)
        exp = claims.get("exp")
        expires_at = float(exp) if isinstance(exp, (int, float)) and not isinstance(exp, bool) else None
        if expires_at is None:
            expires_in = _number(answer.get("expires_in"))
            issued_ms = _number(answer.get("issued_at"))
            if expires_in is not None:
                expires_at = now + expires_in
            elif issued_ms is not None:
                expires_at = issued_ms / 1000 + self._token_ttl
            else:
                expires_at = now + self._token_ttl
        # Renew a little early, so a token is never sent in its last moments.
        margin = min(_MAX_MARGIN, max(expires_at - now, 0.0) / 10)
        instance = answer.get("api_instance_url")
        return AccessToken(
            value=value,
            api_instance_url=instance if isinstance(instance, str) and instance else None,
            expires_at=expires_at,
            refresh_at=expires_at - margin,
            serial=self.fetched,
        )

    def _refusal(self, response: Response, raw: bytes) -> APIStatusError:
        try:
            answer = orjson.loads(raw) if raw else None
        except orjson.JSONDecodeError:
            answer = None
        if isinstance(answer, dict) and isinstance(answer.get("error"), str):
            reason = answer["error"]
            description = answer.get("error_description")
            if isinstance(description, str) and description:
                reason += f": {description}"
        else:
            reason = raw[:200].decode("utf-8", errors="replace") or f"HTTP {response.status_code}"
        secret = self._secret.reveal()
        reason = reason.replace(secret, "**********")
        headers = {name.lower(): value for name, value in response.headers.items()}
        status = response.status_code
        if status in _REFUSED:
            message = f"the Salesforce token endpoint refused the client credentials ({reason})"
            envelope = {"type": "error", "error": {"type": "authentication_error", "message": message}}
            return AuthenticationError(
                message, status_code=401, type="authentication_error", body=envelope, headers=headers
            )
        message = f"the Salesforce token endpoint failed with HTTP {status} ({reason})"
        error_type = "rate_limit_error" if status == 429 else "api_error"
        envelope = {"type": "error", "error": {"type": error_type, "message": message}}
        return error_from_envelope(status, envelope, headers=headers)
