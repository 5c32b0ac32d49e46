"""API keys held as secrets: loaded from an argument, the environment or a secrets file, never shown.

The lookup order is: the ``api_key`` argument, the ``ANTHROPIC_API_KEY`` environment variable,
then a secrets file of ``KEY=value`` lines — the file named by ``CLAUDEGATE_SECRETS_FILE``, or
``secret/-secrets.sh`` in the current directory or the nearest parent that has one.

Each ``reveal()`` is counted by the secret exposure audit (``_secret_audit``). A client aimed at
the Anthropic API itself checks that its key looks like an Anthropic key (``sk-ant-``), so that a
gateway or OpenAI key sent there by mistake fails clearly before any request.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from claudegate.client._secret_audit import SECRET_AUDIT, SecretAudit
from claudegate.errors import UserError

__all__ = [
    "SECRET_HEADERS",
    "ApiKey",
    "check_anthropic_key",
    "find_secrets_file",
    "load_secrets_file",
    "redact_headers",
    "resolve_api_key",
]

SECRET_HEADERS = frozenset({"x-api-key", "authorization", "proxy-authorization", "cookie", "x-admin-key"})
"""Headers whose values are secrets: redacted wherever headers are shown."""
SECRETS_FILE_ENV = "CLAUDEGATE_SECRETS_FILE"
SECRETS_FILE_NAME = Path("secret") / "-secrets.sh"
# Printable ASCII without spaces, quotes or backslash: what a header carries safely and what a stray
# paste is not. No minimum beyond one character, because local OpenAI-compatible servers and gateways
# take placeholders such as ``any`` or ``sk-1``.
_KEY_FORMAT = re.compile(r"[!#-&(-\[\]-~]{1,512}")
ANTHROPIC_API_HOST = "api.anthropic.com"
ANTHROPIC_KEY_PREFIX = "sk-ant-"
_LINE = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$")


class ApiKey:
    """An API key that never shows itself: not in ``repr``, ``str``, f-strings or pickles.

    >>> key = ApiKey("sk-ant-api03-...")
    >>> key
    ApiKey('**********')
    >>> key.reveal("x-api-key header")     # only where the key must go on the wire

    Every ``reveal`` is recorded by ``audit`` (default: the process-wide ``SECRET_AUDIT``).
    """

    __slots__ = ("_audit", "_value")

    def __init__(self, value: str, *, audit: SecretAudit | None = None) -> None:
        if not isinstance(value, str):
            raise UserError("the API key must be a string", field="api_key")
        if not _KEY_FORMAT.fullmatch(value):
            raise UserError(
                "the API key is malformed: it must be 1 to 512 printable characters with no spaces, "
                "quotes or line breaks (check for a stray newline or quote)",
                field="api_key",
            )
        self._value = value
        self._audit = audit or SECRET_AUDIT

    def reveal(self, purpose: str = "") -> str:
        """The key itself, for the request header and nothing else; the audit records the call,
        its ``purpose`` and the caller's module, function and line."""
        frame = sys._getframe(1)
        caller = f"{frame.f_globals.get('__name__', '?')}:{frame.f_code.co_qualname}:{frame.f_lineno}"
        self._audit.record(self.fingerprint(), purpose=purpose, caller=caller)
        return self._value

    def fingerprint(self) -> str:
        """A short non-reversible tag to tell keys apart in logs."""
        return hashlib.sha256(self._value.encode()).hexdigest()[:8]

    def __repr__(self) -> str:
        return "ApiKey('**********')"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return repr(self)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ApiKey):
            return NotImplemented
        return hmac.compare_digest(self._value, other._value)

    def __hash__(self) -> int:
        return hash(("ApiKey", self._value))

    def __reduce__(self) -> str | tuple[object, ...]:
        raise TypeError("an ApiKey cannot be pickled")


def check_anthropic_key(key: ApiKey, base_url: str) -> None:
    """Refuse a key that cannot be an Anthropic key when ``base_url`` is the Anthropic API itself.

    Other base URLs (gateways, local servers, OpenAI-compatible servers) take any key format.
    The error names the key by fingerprint only.
    """
    if urlsplit(base_url).hostname != ANTHROPIC_API_HOST or key._value.startswith(ANTHROPIC_KEY_PREFIX):
        return
    raise UserError(
        f"the API key (fingerprint {key.fingerprint()}) is not an Anthropic API key: those begin "
        f"with {ANTHROPIC_KEY_PREFIX!r}, and base_url is {base_url}. Check that ANTHROPIC_API_KEY "
        "holds an Anthropic key rather than a gateway or OpenAI key; to use a gateway or a local "
        "server, set base_url to it; to send another key format to this host anyway, pass "
        "check_key_format=False.",
        field="api_key",
    )


def load_secrets_file(path: Path) -> dict[str, str]:
    """Parse ``KEY=value`` lines (``export`` prefixes, quotes and ``#`` comments allowed)."""
    values: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        match = _LINE.match(line)
        if match is None:
            continue
        name, raw = match.group(1), match.group(2)
        if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "'\"":
            raw = raw[1:-1]
        elif " #" in raw:
            raw = raw.split(" #", 1)[0].rstrip()
        values[name] = raw
    return values


def find_secrets_file(start: Path) -> Path | None:
    """The secrets file in force: ``$CLAUDEGATE_SECRETS_FILE``, or the nearest ``secret/-secrets.sh``."""
    explicit = os.environ.get(SECRETS_FILE_ENV)
    if explicit:
        path = Path(explicit)
        return path if path.is_file() else None
    for folder in (start, *start.parents):
        candidate = folder / SECRETS_FILE_NAME
        if candidate.is_file():
            return candidate
    return None


def resolve_api_key(
    api_key: str | ApiKey | None, *, env_var: str = "ANTHROPIC_API_KEY", cwd: Path | None = None
) -> ApiKey | None:
    """Find the API key by the documented order; None when there is none anywhere."""
    if isinstance(api_key, ApiKey):
        return api_key
    if api_key is not None:
        return ApiKey(api_key)
    from_env = os.environ.get(env_var)
    if from_env:
        return ApiKey(from_env.strip())
    secrets_file = find_secrets_file(cwd or Path.cwd())
    if secrets_file is not None:
        value = load_secrets_file(secrets_file).get(env_var)
        if value:
            return ApiKey(value)
    return None


def redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """A copy of ``headers`` with each secret header's value replaced by ``<redacted>``."""
    return {
        name: ("<redacted>" if name.lower() in SECRET_HEADERS else value) for name, value in headers.items()
    }
