"""``Webhooks``: signed deliveries of one attempt each, secrets per owner, disabled endpoints.

Example::

    webhooks = Webhooks(config.webhooks, database)   # database None: kept in memory
    await webhooks.start()
    attempt = await webhooks.deliver(
        owner=principal.owner, url="https://example.com/hooks", webhook_id="msg_2b7…",
        event_type="job.succeeded", data={"id": "job_…"},
    )
    if attempt.retryable:
        delay = webhooks.retry_delay(attempts_made)   # None: give up
    await webhooks.close()

Who signs: the owner's own secrets (a key, or a JWT subject ``jwt:<subject>``, once one is created
for it), else the gateway-wide ``webhooks.secret``. Scheduling, retrying and the delivery log are
the caller's; this class makes one attempt per call and keeps only secrets and disabled endpoints.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import aiohttp
import orjson
from aiohttp.abc import AbstractResolver

from claudegate._version import __version__
from claudegate.errors import UserError
from claudegate.gateway._config import ConfigError, WebhookSettings, resolve_text
from claudegate.gateway.core._call import ANONYMOUS, subject_owner
from claudegate.gateway.core._errors import GatewayError
from claudegate.gateway.webhooks._attempt import Outcome, WebhookAttempt, post
from claudegate.gateway.webhooks._guard import AddressPolicy, GuardedResolver, Refused, checked_url, shown_url
from claudegate.gateway.webhooks._schedule import retry_delay
from claudegate.gateway.webhooks._signing import SigningSecret, check_secret, new_secret, signature_header
from claudegate.gateway.webhooks._store import MemoryWebhookStore, SqlWebhookStore, WebhookStore

if TYPE_CHECKING:
    from claudegate.store import Database, KeyStore

__all__ = ["CreatedSecret", "UnknownOwner", "Webhooks", "secret_owner"]

log = logging.getLogger("claudegate.gateway.webhooks")


@dataclass(frozen=True, slots=True)
class CreatedSecret:
    """A secret just created: its value is shown this once (never in a repr)."""

    owner: str
    secret: str = field(repr=False)
    created_at: datetime
    previous_expires_at: datetime | None
    """Until when the secret it replaces still signs (None: it replaced none)."""


class UnknownOwner(UserError):
    """No API key has the id a secret was asked for."""


async def secret_owner(keys: KeyStore, owner: str) -> str:
    """The id a webhook secret is kept under: a live key's id, or ``jwt:<subject>`` for a JWT
    subject (any subject: tokens are not stored). ``UnknownOwner`` for no such key, ``UserError``
    for a revoked one."""
    if owner.startswith("jwt:") and len(owner) > 4:
        return subject_owner(owner.removeprefix("jwt:"))
    key = await keys.get(owner)
    if key is None:
        raise UnknownOwner(f"no API key with id {owner!r}", field="owner")
    if key.revoked_at is not None:
        raise UserError(f"API key {owner!r} is revoked", field="owner")
    return key.id


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Webhooks:
    """Makes signed webhook attempts for the gateway (see the module docstring)."""

    def __init__(
        self,
        settings: WebhookSettings,
        database: Database | None,
        *,
        resolver: AbstractResolver | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.store: WebhookStore = SqlWebhookStore(database) if database is not None else MemoryWebhookStore()
        self.policy = AddressPolicy(settings.allow_private)
        self._resolver = resolver
        """Looks names up (default: the system's); the guard checks what it answers."""
        self._clock = clock
        self._session: aiohttp.ClientSession | None = None
        self._gateway_secret: SigningSecret | None = None

    def __repr__(self) -> str:
        return f"Webhooks(store={type(self.store).__name__}, allow_private={self.settings.allow_private})"

    async def start(self) -> None:
        """Read the gateway-wide secret (``ConfigError`` if unset or malformed) and open the client."""
        if self._session is not None:
            return
        reference = self.settings.secret
        if reference is not None:
            try:
                value = check_secret(resolve_text(reference, "webhooks.secret"), "webhooks.secret")
            except UserError as exc:
                raise ConfigError(exc.message, field="webhooks.secret") from None
            self._gateway_secret = SigningSecret(value)
        connector = aiohttp.TCPConnector(
            resolver=GuardedResolver(self.policy, self._resolver), use_dns_cache=False, limit=256
        )
        # trust_env=False: no proxy (nor netrc) from the environment may carry a webhook elsewhere.
        self._session = aiohttp.ClientSession(
            connector=connector,
            trust_env=False,
            auto_decompress=False,
            headers={"user-agent": f"claudegate/{__version__}"},
        )

    async def close(self) -> None:
        """Close the HTTP client (attempts in flight fail)."""
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock(), UTC)

    def retry_delay(self, attempts_made: int) -> float | None:
        """Seconds until the next attempt after ``attempts_made`` (0: before the first); None: give up."""
        return retry_delay(self.settings, attempts_made)

    def check_url(self, url: str) -> str | None:
        """Why ``url`` can never be delivered to (scheme, host, a literal address the guard refuses),
        or None; names are checked only when an attempt connects."""
        try:
            checked_url(url, self.policy)
        except Refused as exc:
            return str(exc)
        return None

    async def signing_secrets(self, owner: str | None) -> list[SigningSecret]:
        """The secrets that sign ``owner``'s deliveries now: its own, else the gateway-wide one."""
        own = await self.store.secrets(owner or ANONYMOUS, self._now())
        if own:
            return own
        return [self._gateway_secret] if self._gateway_secret is not None else []

    async def can_sign(self, owner: str | None) -> bool:
        """Whether a delivery for ``owner`` would be signed (else ``deliver`` refuses it)."""
        if self._session is None:
            await self.start()
        return bool(await self.signing_secrets(owner))

    async def check_submission(self, url: str, owner: str | None) -> None:
        """Refuse (a 400 naming the field) a webhook that could never be delivered: a URL the SSRF
        guard refuses as written, or nothing to sign it with (no secret for ``owner``, no
        gateway-wide one). Every surface that takes a webhook checks it with this at submission."""
        refused = self.check_url(url)
        if refused is not None:
            raise GatewayError(400, "invalid_request_error", f"webhook.url: {refused}", "webhook.url")
        if not await self.can_sign(owner):
            raise GatewayError(
                400,
                "invalid_request_error",
                "webhook: no secret to sign it with; create one for the key "
                "(claudegate webhooks secret KEY_ID) or set webhooks.secret",
                "webhook",
            )

    async def create_secret(self, owner: str, overlap: float | None = None) -> CreatedSecret:
        """A new secret for ``owner``; its previous one keeps signing for ``overlap`` seconds
        (default ``webhooks.rotation_overlap``), so deliveries carry both signatures meanwhile."""
        now, secret = self._now(), new_secret()
        until = await self.store.rotate(
            owner, secret, now, self.settings.rotation_overlap if overlap is None else overlap
        )
        log.info("webhook secret created for %s", owner)
        return CreatedSecret(owner, secret, now, until)

    async def enable(self, owner: str | None, url: str) -> bool:
        """Deliver to an endpoint disabled by a 410 again; False when it was not disabled."""
        return await self.store.enable(owner or ANONYMOUS, url)

    async def disabled(self, owner: str | None, url: str) -> bool:
        """Whether ``owner``'s endpoint ``url`` answered 410 (deliveries to it are not sent)."""
        return await self.store.disabled(owner or ANONYMOUS, url)

    async def deliver(
        self,
        *,
        owner: str | None,
        url: str,
        webhook_id: str,
        event_type: str,
        data: dict[str, Any],
        timestamp: datetime | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> WebhookAttempt:
        """One signed attempt to POST ``{"type", "timestamp", "data"}`` to ``url``.

        ``webhook_id`` must stay the same across the attempts of one event (receivers deduplicate
        by it); ``timestamp`` is when the event happened (default: now); ``headers`` are sent too
        (the attempt's ``traceparent``), never in place of the signature's. Never raises for what
        the endpoint does: the outcome says it."""
        if self._session is None:
            await self.start()
        session = self._session
        assert session is not None
        account = owner or ANONYMOUS
        started_at, started = self._now(), time.monotonic()

        def attempt(outcome: Outcome, status: int | None, error: str | None) -> WebhookAttempt:
            return WebhookAttempt(outcome, status, error, started_at, time.monotonic() - started)

        if await self.store.disabled(account, url):
            return attempt("disabled", None, "the endpoint answered 410 Gone before: disabled")
        try:
            target = checked_url(url, self.policy)
        except Refused as exc:
            return attempt("refused", None, str(exc))
        secrets = await self.signing_secrets(account)
        if not secrets:
            return attempt(
                "refused",
                None,
                "no webhook secret to sign with: create one for the key "
                "(POST /admin/keys/{id}/webhook-secret) or set webhooks.secret",
            )
        payload = {"type": event_type, "timestamp": _iso(timestamp or started_at), "data": data}
        body = orjson.dumps(payload)
        sent = {
            **(headers or {}),
            "content-type": "application/json",
            "webhook-id": webhook_id,
            "webhook-timestamp": str(int(started_at.timestamp())),
            "webhook-signature": signature_header(secrets, webhook_id, started_at, body),
        }
        outcome, status, error = await post(session, target, body, sent, self.settings.timeout)
        if outcome == "disabled":
            assert status is not None
            await self.store.disable(account, url, status, self._now())
            log.warning("webhook endpoint %s of %s answered 410: disabled", shown_url(target), account)
        return attempt(outcome, status, error)
