"""One webhook attempt: a signed POST, answered or not, and what it means for the delivery.

2xx: delivered. 410: the endpoint is gone (disabled). Anything else (a redirect, which is never
followed, another status, a timeout, a connection failure) fails the attempt and a later one may
succeed. A URL the SSRF guard refuses is never sent.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import aiohttp
from yarl import URL

from claudegate.gateway.webhooks._guard import Refused, shown_url

__all__ = ["Outcome", "WebhookAttempt", "post"]

Outcome = Literal["delivered", "failed", "disabled", "refused"]

_READ_LIMIT = 64 * 1024  # of an answer's body: read so the connection can be reused, then dropped


@dataclass(frozen=True, slots=True)
class WebhookAttempt:
    """What one ``Webhooks.deliver`` call did."""

    outcome: Outcome
    """``delivered`` (2xx); ``failed`` (retry later: 3xx, 4xx but 410, 5xx, timeout, connection
    error); ``disabled`` (the endpoint answered 410, now or before: no request is sent any more);
    ``refused`` (the SSRF guard refused the URL, or there is no secret to sign with: no retry)."""
    status: int | None
    """The endpoint's HTTP status, when it answered."""
    error: str | None
    """Why it was not delivered, fit to show the key's owner (never a secret or a query string)."""
    started_at: datetime
    elapsed: float
    """Seconds the attempt took."""

    @property
    def retryable(self) -> bool:
        """Whether a later attempt may succeed."""
        return self.outcome == "failed"


def _refusal(exc: BaseException) -> Refused | None:
    """The guard's refusal behind ``exc`` (the HTTP client may wrap it), if that is what it is."""
    seen: BaseException | None = exc
    for _ in range(5):
        if seen is None:
            return None
        if isinstance(seen, Refused):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def _connection_error(exc: BaseException, url: URL) -> str:
    if isinstance(exc, aiohttp.ClientConnectorError):
        return f"cannot connect to {shown_url(url)}: {exc.os_error.strerror or type(exc.os_error).__name__}"
    text = str(exc).replace(str(url), shown_url(url))
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


async def post(
    session: aiohttp.ClientSession,
    url: URL,
    body: bytes,
    headers: dict[str, str],
    timeout: float,
) -> tuple[Outcome, int | None, str | None]:
    """POST ``body`` to ``url`` once, within ``timeout`` seconds, redirects not followed."""
    try:
        async with asyncio.timeout(timeout):
            async with session.post(url, data=body, headers=headers, allow_redirects=False) as response:
                status = response.status
                await response.content.read(_READ_LIMIT)
    except TimeoutError:
        return "failed", None, f"no answer from {shown_url(url)} within {timeout:g} s"
    except (aiohttp.ClientError, OSError, Refused) as exc:
        refusal = _refusal(exc)
        if refusal is not None:
            return "refused", None, str(refusal)
        return "failed", None, _connection_error(exc, url)
    if 200 <= status < 300:
        return "delivered", status, None
    if status == 410:
        return "disabled", status, "the endpoint answered 410 Gone: disabled, no further deliveries"
    if 300 <= status < 400:
        return "failed", status, f"HTTP {status}: a redirect, not followed"
    return "failed", status, f"HTTP {status}"
